"""PostgreSQL against SQLite: ingest, the queue and `next` on many denials, every report.

    python benchmarks/bench_pg.py                      # 100,000 claims; 1,000,000 denials
    python benchmarks/bench_pg.py --claims 20000 --denials 100000
    python benchmarks/bench_pg.py --pg postgresql://user@host/db   # default: $DENIALKIT_TEST_PG,
                                                                   # else postgres@127.0.0.1/test

1. The ingest benchmark's file (``bench_ingest.py``: 1.5 lines per claim, 53% of claims
   denied) ingested with the packaged rules by `denialkit ingest`, end to end in a child
   process, into a new SQLite file and into an empty PostgreSQL schema, one after the other.
2. A PostgreSQL store of N denials (the queue benchmark's file: every line denied), then
   `denialkit queue` and `denialkit next` end to end, best of 3, and every report
   (`report KIND --format json`), best of 3.

Every PostgreSQL run uses its own schema (``search_path`` in the URL), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import claims as ingest_claims
from bench_queue import claims as denied_claims

from denialkit.synthetic import RemitSpec, write_835

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DENIALKIT_TODAY": "2026-11-27"}
DK = [sys.executable, "-m", "denialkit"]


def schema_url(server: str) -> tuple[str, str]:
    import psycopg

    name = f"dk_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in server else "?"
    return name, f"{server}{sep}options=-csearch_path%3D{name}"


def drop_schema(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - t0


def best(cmd: list[str], n: int = 3) -> float:
    return min(run(cmd) for _ in range(n))


def ingest(server: str, n: int, work: Path) -> None:
    src = work / "ingest.835"
    with open(src, "w") as f:
        write_835(f, [RemitSpec(claims=lambda: ingest_claims(n))])
    sq = run([*DK, "ingest", str(src), "--db", str(work / "i.db"), "--format", "json"])
    name, url = schema_url(server)
    try:
        pg = run([*DK, "ingest", str(src), "--db", url, "--format", "json"])
    finally:
        drop_schema(server, name)
    print(f"ingest {n:,} claims ({src.stat().st_size / 1e6:.1f} MB), end to end:")
    print(f"  SQLite      {sq:6.1f} s  {n / sq:8,.0f} claims/s")
    print(f"  PostgreSQL  {pg:6.1f} s  {n / pg:8,.0f} claims/s  ({100 * sq / pg:.0f}% of SQLite)")


def timings(url: str) -> None:
    for label, extra in (
        ("queue (top 50)", ["queue"]),
        ("queue --tier high", ["queue", "--tier", "high"]),
        ("queue --due-within 14", ["queue", "--due-within", "14"]),
        ("queue --payer ACME --format json", ["queue", "--payer", "ACME", "--format", "json"]),
        ("next --as bench", ["next", "--as", "bench", "--format", "json"]),
    ):
        print(f"  {label + ':':<36}{best([*DK, *extra, '--db', url]):.2f} s (best of 3)")
    # A different taker each time: each run really takes one more denial.
    takes = [run([*DK, "next", "--as", f"b{uuid.uuid4().hex[:6]}", "--format", "json", "--db", url])
             for _ in range(3)]  # fmt: skip
    print(f"  {'next (3 new takers):':<36}{min(takes):.2f} s (best of 3)")
    for kind in ("tracking", "patterns", "team", "roi", "trend", "summary"):
        t = best([*DK, "report", kind, "--format", "json", "--db", url])
        print(f"  report {kind:<29}{t:.2f} s (best of 3)")


def big_store(server: str, denials: int, work: Path) -> None:
    n_claims = denials * 2 // 3
    src, per = work / "q.835", 50_000
    specs = [
        RemitSpec(trace=f"Q{k}", payment_date="20261101",
                  claims=(lambda k=k: denied_claims(k * per, min(per, n_claims - k * per))))
        for k in range((n_claims + per - 1) // per)
    ]  # fmt: skip
    with open(src, "w") as f:
        write_835(f, specs, per_group=5)
    name, url = schema_url(server)
    try:
        built = run([*DK, "ingest", str(src), "--db", url, "--format", "json"])
        print(
            f"PostgreSQL store: {denials:,} denials from {n_claims:,} claims, built in {built:.0f} s"
        )
        print("right after the load:")
        timings(url)
        # What autovacuum does within a minute or two of a large load.
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"SET search_path = {name}")
            conn.execute("VACUUM ANALYZE")
        print("after VACUUM ANALYZE:")
        timings(url)
    finally:
        drop_schema(server, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=100_000)
    ap.add_argument("--denials", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("DENIALKIT_TEST_PG")
                    or "postgresql://postgres@127.0.0.1:5432/test")  # fmt: skip
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--store", help="time queue/next/reports on this existing store (a URL)")
    args = ap.parse_args()
    if args.store:
        timings(args.store)
        return
    with tempfile.TemporaryDirectory(prefix="denialkit-pg-") as tmp:
        work = Path(tmp)
        if not args.skip_ingest:
            ingest(args.pg, args.claims, work)
        if args.denials:
            big_store(args.pg, args.denials, work)


if __name__ == "__main__":
    main()
