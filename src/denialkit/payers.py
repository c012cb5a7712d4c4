"""Who the payer is, and what follows from it: the payer class, the appeal levels, and the
deadline of each next step. Pure functions over the rules in ``payers.yaml``.

Every decision carries its reason (``basis``): a deadline a biller cannot check is a deadline
nobody trusts.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from .rules import Appeals, ClassRule, Level, PayerRule, PayersFile, Rules
from .vocabulary import money_grouped

# Claim filing indicators that name a class (CLP06); the others (HM, 12-15, CI, BL, ZZ ...)
# say "HMO" or "commercial" and leave the decision to the payer id and name.


@dataclass(frozen=True)
class PayerPolicy:
    """A payer's class and the rules that apply to it (class settings + its own entry)."""

    payer_class: str
    class_basis: str  # which rule decided the class
    name: str  # the entry that applies: the payer's own, else the class label
    receipt_days: int
    timely_filing_days: int | None
    timely_filing_months: int | None
    timely_filing_source: str
    reopen_days: int
    reopen_source: str
    review_days: int
    other_payer_days: int
    levels: tuple[Level, ...]
    actions: dict[str, str]
    member_id_label: str
    appeals: Appeals | None

    def level(self, n: int) -> Level | None:
        return self.levels[n - 1] if 1 <= n <= len(self.levels) else None


@dataclass(frozen=True)
class Step:
    """When the next step is due, and why."""

    deadline: dt.date | None
    basis: str
    follow_up: dt.date | None = None


def classify(
    payers: PayersFile, payer_ids: list[str], payer_name: str, filing: str
) -> tuple[str, str]:
    """(class, basis): CLP06 first, then the payer id, then the name patterns."""
    name = payer_name or ""
    found = payers.filing_indicators.get(filing or "")
    if found is not None:
        for p in payers.names:
            if found in p.over and re.search(p.pattern, name, re.IGNORECASE):
                return p.payer_class, f"CLP06 {filing} refined by the payer name ({p.pattern!r})"
        return found, f"claim filing indicator CLP06 {filing}"
    for ident in payer_ids:
        if ident and ident in payers.payer_ids:
            return payers.payer_ids[ident], f"payer id {ident}"
    for p in payers.names:
        if re.search(p.pattern, name, re.IGNORECASE):
            via = f", CLP06 {filing}" if filing else ""
            return p.payer_class, f"payer name matches {p.pattern!r}{via}"
    return "commercial", "default (no CLP06, payer id or name rule matched)"


def _entry(
    payers: PayersFile, payer_ids: list[str], name: str, filing: str, payer_class: str
) -> PayerRule | None:
    for rule in payers.payers:
        if not rule.matches(payer_ids, name, filing):
            continue
        if rule.payer_class is not None or not rule.classes or payer_class in rule.classes:
            return rule
    return None


def policy_for(
    payers: PayersFile, payer_ids: list[str], payer_name: str, filing: str
) -> PayerPolicy:
    payer_class, basis = classify(payers, payer_ids, payer_name, filing)
    entry = _entry(payers, payer_ids, payer_name or "", filing or "", payer_class)
    if entry is not None and entry.payer_class is not None:
        payer_class, basis = entry.payer_class, f"payers.yaml entry {entry.name!r}"
    base: ClassRule = payers.classes[payer_class]  # type: ignore[index]
    levels = list(base.levels)
    tf_days, tf_months = base.timely_filing_days, base.timely_filing_months
    tf_source = base.timely_filing_source
    receipt, reopen, review = base.receipt_days, base.reopen_days, base.review_days
    actions: dict[str, str] = dict(base.actions)
    appeals = None
    name = base.label
    if entry is not None:
        name = entry.name
        if entry.levels is not None:
            levels = list(entry.levels)
        if entry.window_days is not None:
            levels[0] = levels[0].model_copy(update={"window_days": entry.window_days})
        if entry.timely_filing_days is not None or entry.timely_filing_months is not None:
            tf_days, tf_months = entry.timely_filing_days, entry.timely_filing_months
            tf_source = f"payers.yaml entry {entry.name!r}"
        receipt = entry.receipt_days if entry.receipt_days is not None else receipt
        reopen = entry.reopen_days if entry.reopen_days is not None else reopen
        review = entry.review_days if entry.review_days is not None else review
        actions.update(entry.actions)
        appeals = entry.appeals
    return PayerPolicy(
        payer_class=payer_class,
        class_basis=basis,
        name=name,
        receipt_days=receipt,
        timely_filing_days=tf_days,
        timely_filing_months=tf_months,
        timely_filing_source=tf_source,
        reopen_days=reopen,
        reopen_source=base.reopen_source,
        review_days=review,
        other_payer_days=payers.other_payer_timely_filing_days,
        levels=tuple(levels),
        actions=actions,
        member_id_label=base.member_id_label,
        appeals=appeals,
    )


def policy(rules: Rules, payer_ids: list[str], payer_name: str, filing: str) -> PayerPolicy:
    """``policy_for`` with the rules' cache (one payer, one answer per run)."""
    key = (tuple(payer_ids), payer_name or "", filing or "")
    hit = rules.policies.get(key)
    if hit is None:
        hit = rules.policies[key] = policy_for(rules.payers, payer_ids, payer_name, filing)
    return hit


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the last day of a shorter month: Feb 29 -> Feb 28)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _days(day: dt.date, n: int) -> dt.date:
    return day + dt.timedelta(days=n)


def next_step(
    p: PayerPolicy,
    action: str,
    *,
    level: int,
    notice: dt.date,
    service_date: dt.date | None,
    amount: Decimal | None = None,
) -> Step:
    """The deadline of ``action`` for a denial of this payer.

    ``notice`` is the date of the decision being answered: the remittance for level 1 (and for
    resubmit/reopen/review), the decision that upheld the previous level for level 2 and up.
    """
    if action == "appeal":
        lvl = p.level(level)
        if lvl is None:
            return Step(None, f"no appeal level {level} for {p.name}: appeals exhausted")
        receipt = lvl.receipt_days if lvl.receipt_days is not None else p.receipt_days
        start = "remittance" if level == 1 else f"level {level - 1} decision"
        basis = (
            f"appeal level {level} ({lvl.name}"
            + (f", {lvl.decided_by}" if lvl.decided_by else "")
            + f"): {start} {notice.isoformat()}"
            + (f" + {receipt} days presumed receipt" if receipt else "")
            + f" + {lvl.window_days} days"
            + (f" ({lvl.source})" if lvl.source else "")
        )
        if lvl.min_amount is not None and amount is not None and amount < lvl.min_amount:
            basis += (
                f"; the amount in controversy ${money_grouped(amount)} is below this level's "
                f"${money_grouped(lvl.min_amount)} minimum"
            )
        return Step(_days(notice, receipt + lvl.window_days), basis)
    if action == "resubmit":
        base, what = (service_date, "date of service") if service_date else (notice, "remittance")
        if p.timely_filing_months is not None:
            due = add_months(base, p.timely_filing_months)
            span = f"{p.timely_filing_months} months"
        else:
            due = _days(base, p.timely_filing_days or 0)
            span = f"{p.timely_filing_days} days"
        source = f" ({p.timely_filing_source})" if p.timely_filing_source else ""
        missing = "" if service_date else " (no date of service on the claim)"
        return Step(
            due,
            f"resubmit within timely filing: {what} {base.isoformat()} + {span}{source}{missing}",
        )
    if action == "reopen":
        source = f" ({p.reopen_source})" if p.reopen_source else ""
        return Step(
            _days(notice, p.reopen_days),
            f"reopening: initial determination {notice.isoformat()} + {p.reopen_days} days"
            + source,
        )
    if action == "bill_other_payer":
        base, what = (service_date, "date of service") if service_date else (notice, "remittance")
        return Step(
            _days(base, p.other_payer_days),
            f"bill the other payer: {what} {base.isoformat()} + {p.other_payer_days} days "
            "(default timely filing for another payer: other_payer_timely_filing_days)",
        )
    if action == "review":
        follow = _days(notice, p.review_days)
        return Step(
            None,
            f"review: no payer deadline; follow up by {follow.isoformat()} "
            f"(remittance + {p.review_days} days)",
            follow,
        )
    if action == "bill_patient":
        return Step(None, "bill the patient: no payer deadline")
    return Step(None, "no appeal rights: no payer deadline")


def follow_up(p: PayerPolicy, level: int, submitted: dt.date) -> tuple[dt.date, str]:
    """When to chase the payer for a decision on an appeal submitted on ``submitted``."""
    lvl = p.level(level) or p.levels[-1]
    return (
        _days(submitted, lvl.decision_days),
        f"{lvl.name} decision expected within {lvl.decision_days} days of {submitted.isoformat()}",
    )
