"""Ingest benchmark: build a synthetic 835 of N claims and time `denialkit ingest` on it.

    python benchmarks/bench_ingest.py                  # 100,000 claims
    python benchmarks/bench_ingest.py --claims 400000  # memory must stay flat as files grow

About 3 service lines per 2 claims, CAS on most lines, in one transaction (the worst case for
memory). The ingest runs as a child process: claims/s is end to end (start-up, hashing,
parsing, storing, committing); peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from denialkit.synthetic import Adj, ClaimSpec, LineSpec, RemitSpec, write_835  # noqa: E402

CARCS = [("CO", "45"), ("CO", "50"), ("CO", "97"), ("PR", "2"), ("CO", "16"), ("OA", "23")]


def stress_adjustments(i: int, j: int, charge: Decimal) -> list[Adj]:
    """CAS on 80% of lines, cycling through denials and non-denials (53% of claims denied)."""
    if (i + j) % 5 == 0:
        return []
    return [Adj(*CARCS[(i + j) % len(CARCS)], Decimal((i % 90) + 1) / 2)]


def claims(n: int, adjustments=stress_adjustments):
    """N claims of 1.5 lines on average; ``adjustments(i, j, charge)`` gives each line's CAS."""
    for i in range(n):
        lines = []
        for j in range(1 if i % 2 else 2):  # 1.5 lines per claim
            charge = Decimal(100 + (i * 7 + j) % 400)
            lines.append(
                LineSpec(
                    procedure=("99213", "97110", "J1885", "80053")[(i + j) % 4],
                    charge=charge,
                    adjustments=adjustments(i, j, charge),
                    line_control=f"{i}-{j}",
                )
            )
        yield ClaimSpec(
            patient_control=f"PCN{i:08d}",
            payer_claim_id=f"ICN{i:010d}",
            lines=lines,
            patient=("PATIENT", f"P{i % 997}", f"M{i:09d}"),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated file and db")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="denialkit-bench-"))
    src = work / "bench.835"
    db = work / "bench.db"
    t0 = time.perf_counter()
    spec = RemitSpec(claims=lambda: claims(args.claims), trace="BENCH1")
    with open(src, "w") as f:
        write_835(f, [spec])
    build_s = time.perf_counter() - t0
    size_mb = src.stat().st_size / 1e6
    cmd = [
        sys.executable,
        "-m",
        "denialkit",
        "ingest",
        str(src),
        "--db",
        str(db),
        "--format",
        "json",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"ingest failed: {proc.stderr}")
    summary = json.loads(proc.stdout)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"file:        {args.claims:,} claims, {summary['service_lines']:,} service lines, "
        f"{size_mb:.1f} MB (built in {build_s:.1f} s)"
    )
    print(f"ingest:      {seconds:.2f} s end to end -> {args.claims / seconds:,.0f} claims/s")
    print(f"peak memory: {peak_mb:.0f} MB (max RSS of the ingest process)")
    print(
        f"stored:      {summary['claims']:,} claims, total charge {summary['total_charge']}, "
        f"warnings {len(summary['warnings'])}"
    )
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
    else:
        print(f"kept:        {work}")


if __name__ == "__main__":
    main()
