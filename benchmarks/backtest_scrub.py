"""Back-test of `denialkit scrub`: does scrubbing a month's claims against six months of this
practice's own history flag the lines its payers go on to deny?

    python benchmarks/backtest_scrub.py            # default seed 7, ~400 claims a month
    python benchmarks/backtest_scrub.py --seed 3 --claims 600 --json

A practice bills three payers. The payers follow hidden policies, which the scrubber never
sees; it only sees the 837s and 835s they produced:

* authorization: ACME wants a prior authorization (REF*G1) for 72148 and 20610, BETA for
  72148 (CO-197 without one); the front desk gets one 60% of the time;
* modifier: ACME and GAMMA deny 97110 and 97140 without GP (CO-4); 75% of lines carry it;
* diagnosis: BETA denies 20610 with principal diagnosis M545 and 93000 with Z0000 (CO-50);
* eligibility: 6% of members lose their coverage at some month; every later claim is CO-27;
* the policies are applied to 90% of the lines they cover (payers are not consistent);
* noise: 4% of the other lines are denied for a random reason (CO-16, CO-96, CO-252).

Months one to six (March to August 2026) are built with the fixture builder and ingested,
837 then 835, so the remittances link to the claims. Month seven's 837 is scrubbed (today =
2026-10-01) before its 835 is known; then the flags are compared with month seven's actual
denials. Recall counts a policy-driven denied line as found when any flag is on it; noise
denials are not counted as misses. Precision counts a flagged line as right when it was
denied. Targets: recall >= 0.7 at precision >= 0.6.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from denialkit.edi837 import parse_837
from denialkit.intake import ingest_paths
from denialkit.rules import load_rules
from denialkit.scrub import Scrubber
from denialkit.store import Store
from denialkit.synthetic import (
    Adj,
    ClaimFileSpec,
    ClaimLineSpec,
    ClaimSpec,
    D,
    LineSpec,
    RemitSpec,
    SubmittedClaimSpec,
    build_835,
    build_837,
)

PAYERS = {"ACME1": "ACME HEALTH PLAN", "BETA2": "BETA CARE", "GAMMA3": "GAMMA MUTUAL"}
PROCEDURES = {
    "99213": ("95.00", ["I10", "E119", "J069", "M545"]),
    "99214": ("140.00", ["I10", "E119", "J449"]),
    "97110": ("60.00", ["M545", "M1711", "S83511A"]),
    "97140": ("55.00", ["M545", "M1711"]),
    "72148": ("900.00", ["M545", "M5416"]),
    "20610": ("180.00", ["M1711", "M545", "M170"]),
    "93000": ("45.00", ["Z0000", "I10", "R079"]),
    "36415": ("12.00", ["E119", "Z0000"]),
}
AUTH = {("ACME1", "72148"), ("ACME1", "20610"), ("BETA2", "72148")}
NEEDS_GP = {("ACME1", "97110"), ("ACME1", "97140"), ("GAMMA3", "97110"), ("GAMMA3", "97140")}
DIAGNOSIS = {("BETA2", "20610", "M545"), ("BETA2", "93000", "Z0000")}
NOISE = ("16", "96", "252")
MONTHS = [(2026, m) for m in range(3, 10)]  # six of history, the seventh scrubbed
KINDS = ("authorization", "modifier", "diagnosis", "eligibility")


def build_month(rng, month, members, gaps, claims_per_month, first_pcn):
    """(837 spec, 835 spec per payer, truth: (pcn, line no.) -> kind or None)."""
    year, mon = month
    subs, remits, truth = [], {p: [] for p in PAYERS}, {}
    for i in range(claims_per_month):
        member, payer = rng.choice(members)
        pcn = f"P{first_pcn + i:06d}"
        day = dt.date(year, mon, rng.randint(1, 28)).strftime("%Y%m%d")
        procs = rng.sample(sorted(PROCEDURES), rng.choice((1, 1, 2)))
        dx = rng.choice(PROCEDURES[procs[0]][1])
        needs_auth = any((payer, p) in AUTH for p in procs)
        auth = f"AUTH{pcn}" if needs_auth and rng.random() < 0.6 else None
        lines, rlines = [], []
        for n, proc in enumerate(procs, 1):
            charge = D(PROCEDURES[proc][0])
            mods = ("GP",) if proc in ("97110", "97140") and rng.random() < 0.75 else ()
            lines.append(ClaimLineSpec(proc, charge, modifiers=mods, date=day))
            kind = None
            # Payers apply their policies inconsistently: 10% of the lines a policy would deny
            # are paid anyway.
            enforced = rng.random() < 0.9
            if gaps.get(member, 99) <= mon:
                kind, carc = "eligibility", "27"
            elif (payer, proc) in AUTH and not auth and enforced:
                kind, carc = "authorization", "197"
            elif (payer, proc, dx) in DIAGNOSIS and enforced:
                kind, carc = "diagnosis", "50"
            elif (payer, proc) in NEEDS_GP and "GP" not in mods and enforced:
                kind, carc = "modifier", "4"
            elif rng.random() < 0.04:
                kind, carc = "noise", rng.choice(NOISE)
            adjs = [Adj("CO", carc, charge)] if kind else [Adj("CO", "45", D("5.00"))]
            rlines.append(LineSpec(proc, charge, modifiers=mods, date=day, adjustments=adjs))
            truth[(pcn, n)] = kind
        subs.append(
            SubmittedClaimSpec(
                pcn, lines=lines, prior_auth=auth, diagnoses=(dx,),
                subscriber=("PATIENT", member, member), payer_id=payer, payer_name=PAYERS[payer],
            )
        )  # fmt: skip
        remits[payer].append(
            ClaimSpec(
                pcn, lines=rlines, patient=("PATIENT", member, member), payer_claim_id=f"ICN{pcn}"
            )  # fmt: skip
        )
    created = dt.date(year, mon, 28).strftime("%Y%m%d")
    claim_file = ClaimFileSpec(subs, created=created, reference=f"B{year}{mon:02d}")
    paid_on = (dt.date(year, mon, 28) + dt.timedelta(days=20)).strftime("%Y%m%d")
    remit_specs = [
        RemitSpec(
            claims=c,
            payer_id=p,
            payer_name=PAYERS[p],
            trace=f"T{year}{mon:02d}{p}",
            payment_date=paid_on,
            production_date=paid_on,
        )  # fmt: skip
        for p, c in remits.items()
        if c
    ]
    return claim_file, remit_specs, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--claims", type=int, default=400, help="claims a month")
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the history database and files")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    members = [(f"MBR{i:05d}", rng.choice(sorted(PAYERS))) for i in range(args.members)]
    gaps = {m: rng.randint(4, 9) for m, _ in members if rng.random() < 0.06}
    rules = load_rules()
    work = Path(tempfile.mkdtemp(prefix="denialkit-backtest-"))
    store = Store(work / "history.db")
    started = time.perf_counter()
    pcn = 1
    for month in MONTHS[:-1]:
        claim_file, remit_specs, _ = build_month(rng, month, members, gaps, args.claims, pcn)
        pcn += args.claims
        a = work / f"{month[0]}-{month[1]:02d}.837"
        a.write_text(build_837(claim_file))
        b = work / f"{month[0]}-{month[1]:02d}.835"
        b.write_text(build_835(remit_specs))
        today = dt.date(month[0], month[1], 28) + dt.timedelta(days=21)
        report = ingest_paths(store, [a, b], rules=rules, today=today)
        assert not report.failed, [f.error for f in report.files]
    built = time.perf_counter() - started
    claim_file, _, truth = build_month(rng, MONTHS[-1], members, gaps, args.claims, pcn)
    scrub_path = work / "month7.837"
    scrub_path.write_text(build_837(claim_file))
    started = time.perf_counter()
    result = Scrubber(store, rules, dt.date(2026, 10, 1)).scrub(parse_837(scrub_path))
    scrub_seconds = time.perf_counter() - started
    store.close()
    if args.keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work)

    flagged: dict[tuple[str, int], set[str]] = {}
    for f in result.flags:
        flagged.setdefault((f.claim, f.line), set()).add(f.rule)
    by_kind = {}
    for kind in KINDS:
        lines = [k for k, v in truth.items() if v == kind]
        found = sum(1 for k in lines if k in flagged)
        by_kind[kind] = {"denied": len(lines), "flagged": found,
                         "recall": round(found / len(lines), 3) if lines else None}  # fmt: skip
    policy = [k for k, v in truth.items() if v in KINDS]
    recall = sum(1 for k in policy if k in flagged) / len(policy)
    right = sum(1 for k in flagged if truth.get(k))
    precision = right / len(flagged) if flagged else 0.0
    by_rule = {}
    rule_lines = Counter(r for rules_ in flagged.values() for r in rules_)
    for rule in sorted(rule_lines):
        keys = [k for k, v in flagged.items() if rule in v]
        ok = sum(1 for k in keys if truth.get(k))
        by_rule[rule] = {"flagged_lines": len(keys), "denied": ok,
                         "precision": round(ok / len(keys), 3)}  # fmt: skip
    out = {
        "seed": args.seed,
        "history_claims": args.claims * 6,
        "scrubbed": {"claims": result.claims, "lines": result.lines},
        "month7_denied_lines": sum(1 for v in truth.values() if v),
        "month7_policy_denied_lines": len(policy),
        "noise_denied_lines": sum(1 for v in truth.values() if v == "noise"),
        "flagged_lines": len(flagged),
        "recall": round(recall, 3),
        "precision": round(precision, 3),
        "recall_by_kind": by_kind,
        "precision_by_rule": by_rule,
        "seconds": {"build_and_ingest_history": round(built, 1), "scrub": round(scrub_seconds, 2)},
        "targets_met": recall >= 0.7 and precision >= 0.6,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"scrubbed {result.claims} claims, {result.lines} lines (history: 6 months)")
    print(f"policy-driven denials in month 7: {len(policy)}; noise: {out['noise_denied_lines']}")
    print(f"flagged lines: {len(flagged)}  recall {recall:.3f}  precision {precision:.3f}")
    for kind, v in by_kind.items():
        print(f"  recall {kind:<14} {v['flagged']:>4} of {v['denied']:>4}  {v['recall']}")
    for rule, v in by_rule.items():
        print(f"  precision {rule:<16} {v['denied']:>4} of {v['flagged_lines']:>4}  "
              f"{v['precision']}")  # fmt: skip
    print(f"history built and ingested in {built:.1f} s; scrub took {scrub_seconds:.2f} s")
    print("targets met" if out["targets_met"] else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
