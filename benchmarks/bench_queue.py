"""Queue benchmark: a store with N denials (default 1,000,000), then time `denialkit queue`.

    python benchmarks/bench_queue.py [--denials N]

The store is built by ingesting a synthetic 835 in which every service line is denied (one
transaction per 50,000 claims), so the denials are real: categorized, triaged and routed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from denialkit.synthetic import Adj, ClaimSpec, LineSpec, RemitSpec, write_835

DENIALS = [("CO", "50"), ("CO", "97"), ("CO", "197"), ("CO", "4"), ("CO", "29"), ("CO", "16")]


def claims(start: int, n: int):
    for i in range(start, start + n):
        lines = []
        for j in range(1 if i % 2 else 2):
            charge = Decimal(50 + (i * 13 + j) % 900)
            lines.append(
                LineSpec(
                    procedure=f"9{(i + j) % 40:04d}",
                    charge=charge,
                    adjustments=[Adj(*DENIALS[(i + j) % 6], charge)],
                    line_control=f"{i}-{j}",
                )
            )
        yield ClaimSpec(patient_control=f"PCN{i:08d}", payer_claim_id=f"ICN{i:010d}", lines=lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--denials", type=int, default=1_000_000)
    args = ap.parse_args()
    n_claims = args.denials * 2 // 3
    work = Path(tempfile.mkdtemp(prefix="denialkit-queue-"))
    src, db = work / "q.835", work / "q.db"
    per = 50_000
    specs = [
        RemitSpec(
            trace=f"Q{k}",
            payment_date="20261101",
            claims=(lambda k=k: claims(k * per, min(per, n_claims - k * per))),
        )
        for k in range((n_claims + per - 1) // per)
    ]
    with open(src, "w") as f:
        write_835(f, specs, per_group=5)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        "DENIALKIT_TODAY": "2026-11-27",
    }
    dk = [sys.executable, "-m", "denialkit"]
    t0 = time.perf_counter()
    subprocess.run(
        [*dk, "ingest", str(src), "--db", str(db), "--format", "json"],
        env=env,
        check=True,
        capture_output=True,
    )
    print(
        f"store:  {args.denials:,} denials from {n_claims:,} claims, built in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    for label, extra in (
        ("queue (top 50)", []),
        ("queue --tier high", ["--tier", "high"]),
        ("queue --due-within 14", ["--due-within", "14"]),
        ("queue --payer ACME --format json", ["--payer", "ACME", "--format", "json"]),
    ):
        best = min(_timed([*dk, "queue", "--db", str(db), *extra], env) for _ in range(3))
        print(f"{label + ':':<38}{best:.2f} s end to end (best of 3)")
    for p in list(work.iterdir()):
        p.unlink()
    work.rmdir()


def _timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
