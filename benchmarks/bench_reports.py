"""Reports benchmark: every report on a store of N service lines (default 1,000,000).

    python benchmarks/bench_reports.py                 # builds the store (~2 min), then times
    python benchmarks/bench_reports.py --db big.db     # reuse a store built before (--keep)

The store is the ingest benchmark's mix (1.5 lines per claim, 53% of claims denied, one
payer, four procedures) ingested with the packaged rules. Each report runs as
`denialkit report KIND --format json` (and the summary as HTML) in a child process, end to
end; best of 3.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import claims

from denialkit.synthetic import RemitSpec, write_835


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, help="an existing store to time (skips the build)")
    ap.add_argument("--keep", action="store_true", help="keep the built store")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
           "DENIALKIT_TODAY": "2026-11-27"}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="denialkit-bench-"))
    db = args.db or work / "reports.db"
    if args.db is None:
        n_claims = args.lines * 2 // 3
        src = work / "bench.835"
        with open(src, "w") as f:
            write_835(f, [RemitSpec(claims=lambda: claims(n_claims), trace="BENCHR")])
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "denialkit", "ingest", str(src), "--db", str(db),
                        "--format", "json"], env=env, check=True, capture_output=True)  # fmt: skip
        src.unlink()
        print(f"store: {args.lines:,} service lines, {n_claims:,} claims, built in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    total = 0.0
    runs = [(k, "json") for k in ("tracking", "patterns", "team", "roi", "trend", "summary")]
    runs.append(("summary", "html"))
    for kind, fmt in runs:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "denialkit", "report", kind, "--format", fmt,
                            "--db", str(db)], env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            best = min(best, time.perf_counter() - t0)
        total += best
        print(f"report {kind:9} {fmt:5} {best:.2f} s")
    print(f"all seven: {total:.2f} s")
    if args.db is None and not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
    elif args.db is None:
        print(f"kept: {db}")


if __name__ == "__main__":
    main()
