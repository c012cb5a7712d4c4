"""What categorization costs at intake: parse + store with and without denial work.

    python benchmarks/bench_categorize.py                 # 100,000 claims, 15% and 53% denied
    python benchmarks/bench_categorize.py --claims 20000

Two workloads, both with CAS on most lines: a typical one where 15% of claims carry a denial
(published initial denial rates are 10-15%; ../shared/DOMAIN.md section 8), and the stress mix
of ``bench_ingest.py`` where 53% do. Each is ingested in-process into a fresh store twice, once
with ``rules=None`` (parse + store only) and once with the rules (find, categorize, deadline,
triage, route, audit events); best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import claims as stress_claims  # noqa: E402

from denialkit.intake import ingest_file  # noqa: E402
from denialkit.rules import load_rules  # noqa: E402
from denialkit.store import Store  # noqa: E402
from denialkit.synthetic import Adj, ClaimSpec, LineSpec, RemitSpec, write_835  # noqa: E402

DENIALS = [("CO", "50"), ("CO", "97"), ("CO", "197"), ("CO", "16"), ("CO", "4"), ("PR", "96")]


def typical_claims(n: int, rate: float = 0.15):
    every = round(1 / rate)
    for i in range(n):
        lines = []
        for j in range(1 if i % 2 else 2):
            charge = Decimal(100 + (i * 7 + j) % 400)
            allowed_cut = Decimal((i % 40) + 5)
            adj = [Adj("CO", "45", allowed_cut), Adj("PR", "2", Decimal("10.00"))]
            if i % every == 0 and j == 0:
                adj = [Adj(*DENIALS[i % len(DENIALS)], charge)]
            lines.append(
                LineSpec(
                    procedure=("99213", "97110", "J1885", "80053")[(i + j) % 4],
                    charge=charge,
                    adjustments=adj,
                    line_control=f"{i}-{j}",
                )
            )
        yield ClaimSpec(
            patient_control=f"PCN{i:08d}",
            payer_claim_id=f"ICN{i:010d}",
            lines=lines,
            patient=("PATIENT", f"P{i % 997}", f"M{i:09d}"),
        )


def timed(path: Path, rules, work: Path) -> tuple[float, int]:
    db = work / "b.db"
    for p in work.glob("b.db*"):
        p.unlink()
    store = Store(db)
    t0 = time.perf_counter()
    result = ingest_file(store, path, rules, dt.date(2026, 11, 27))
    seconds = time.perf_counter() - t0
    store.close()
    return seconds, result.denials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rules = load_rules()
    with tempfile.TemporaryDirectory(prefix="denialkit-bench-") as tmp:
        work = Path(tmp)
        for name, gen in (("typical", typical_claims), ("stress", stress_claims)):
            src = work / f"{name}.835"
            with open(src, "w") as f:
                write_835(f, [RemitSpec(claims=lambda gen=gen: gen(args.claims), trace=name)])
            plain = min(timed(src, None, work)[0] for _ in range(args.repeat))
            runs = [timed(src, rules, work) for _ in range(args.repeat)]
            with_rules = min(s for s, _ in runs)
            denials = runs[0][1]
            print(
                f"{name:8} {args.claims:,} claims, {denials:,} denials "
                f"({denials / args.claims:.0%} of claims): parse+store {plain:.2f} s, "
                f"with categorization {with_rules:.2f} s -> +{with_rules / plain - 1:.0%}"
            )


if __name__ == "__main__":
    main()
