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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import claims, stress_adjustments

from denialkit.intake import ingest_file
from denialkit.rules import load_rules
from denialkit.store import Store
from denialkit.synthetic import Adj, RemitSpec, write_835

DENIALS = [("CO", "50"), ("CO", "97"), ("CO", "197"), ("CO", "16"), ("CO", "4"), ("PR", "96")]


def typical_adjustments(i: int, j: int, charge: Decimal) -> list[Adj]:
    """A contractual write-off and a copay on every line; one claim in seven denied."""
    if i % 7 == 0 and j == 0:
        return [Adj(*DENIALS[i % len(DENIALS)], charge)]
    return [Adj("CO", "45", Decimal((i % 40) + 5)), Adj("PR", "2", Decimal("10.00"))]


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
        for name, adjust in (("typical", typical_adjustments), ("stress", stress_adjustments)):
            src = work / f"{name}.835"
            with open(src, "w") as f:
                write_835(f, [RemitSpec(claims=partial(claims, args.claims, adjust), trace=name)])
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
