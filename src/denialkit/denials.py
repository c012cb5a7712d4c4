"""Finding the denials in a claim. Pure: a parsed ``Claim`` and the rules in, candidates out.

A denial is one service line (or, for claim-level adjustments, the claim) of one adjudication
on which the payer withheld money for a reason the rules classify as a denial category: two
identical lines on one claim are two denials, told apart by their position among the lines
with the same procedure, modifiers and date. Contractual write-offs (CO-45), capitation
(CO-24), patient cost sharing (PR-1/2/3), prior-payer effects (OA-23) and pending codes are not
denials. A line whose contractual adjustment takes the whole charge with nothing paid (zero
allowed) is a `review` item: the payer allowed nothing, and someone has to look. The amount at
risk is the sum of the denial adjustments only; the primary reason is the largest of them, and
all of them are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from .era import ZERO, Adjustment, Claim, Remark, ServiceLine
from .rules import Resolved, Rules
from .vocabulary import Category

REVERSAL = "22"
DENIED = "4"


@dataclass(slots=True)
class Candidate:
    claim_id: int
    line_id: int | None
    procedure: str
    modifiers: str
    line_control: str
    service_date: str | None
    carc: str
    group: str
    rarcs: list[str]
    category: str
    amount: Decimal
    reasons: list[tuple[str, str, Decimal]] = field(default_factory=list)
    prior: float = 0.4
    template: str = Category.UNCATEGORIZED
    action: str = "appeal"  # before the payer's own rules (see detection)
    note: str = ""
    position: int = 1  # among the claim's lines with the same procedure, modifiers and date
    claim_date: str | None = None  # the claim's date of service (first line, else CLP/DTM)


# The contractual reason that, taking the whole charge with nothing paid, means zero allowed.
ZERO_ALLOWED_GROUP, ZERO_ALLOWED_CARC = "CO", "45"
ZERO_ALLOWED_NOTE = "zero allowed: the contractual adjustment took the whole charge"


def _remark_codes(remarks: list[Remark]) -> tuple[str, ...]:
    return tuple(r.code for r in remarks if r.qualifier == "HE")


def _collect(
    rules: Rules,
    adjustments: list[Adjustment],
    remarks: tuple[str, ...],
    modifiers: tuple[str, ...] | list[str] = (),
) -> list[tuple[Adjustment, Resolved]]:
    found: list[tuple[Adjustment, Resolved]] = []
    for a in adjustments:
        if a.amount <= ZERO:
            continue  # negative CAS amounts are increases, not money withheld
        resolved = rules.resolve(a.group, a.reason, remarks, modifiers)
        if resolved.is_denial:
            found.append((a, resolved))
    return found


def _zero_allowed(charge: Decimal, paid: Decimal, adjustments: list[Adjustment]) -> bool:
    if charge <= ZERO or paid != ZERO:
        return False
    took = sum(
        (
            a.amount
            for a in adjustments
            if a.group == ZERO_ALLOWED_GROUP and a.reason == ZERO_ALLOWED_CARC
        ),
        ZERO,
    )
    return took >= charge


def _where(line: ServiceLine | None, first: ServiceLine | None, date: str | None) -> dict[str, Any]:
    """The line a denial names (a claim-level one shows the claim's first line's procedure)."""
    shown = line or first
    return {
        "procedure": shown.procedure if shown else "",
        "modifiers": ",".join(shown.modifiers) if shown else "",
        "line_control": line.line_control if line else "",
        "service_date": (line.date_from if line else None) or date,
    }


def _candidate(
    claim_id: int,
    line: ServiceLine | None,
    found: list[tuple[Adjustment, Resolved]],
    remarks: tuple[str, ...],
    service_date: str | None,
    first_line: ServiceLine | None,
) -> Candidate:
    primary, resolved = max(found, key=lambda pair: pair[0].amount)
    return Candidate(
        claim_id=claim_id,
        line_id=None,
        **_where(line, first_line, service_date),
        carc=primary.reason,
        group=primary.group,
        rarcs=list(remarks),
        category=resolved.category,
        amount=sum((a.amount for a, _ in found), ZERO),
        reasons=[(a.group, a.reason, a.amount) for a, _ in found],
        prior=resolved.likelihood,
        template=resolved.template,
        action=resolved.action,
        note=resolved.note,
    )


def _review(
    claim_id: int,
    line: ServiceLine | None,
    adjustments: list[Adjustment],
    remarks: tuple[str, ...],
    date: str | None,
    first: ServiceLine | None,
) -> Candidate:
    """A zero-allowed line (or claim): not a denial the payer named, but money not paid."""
    return Candidate(
        claim_id=claim_id,
        line_id=None,
        **_where(line, first, date),
        carc=ZERO_ALLOWED_CARC,
        group=ZERO_ALLOWED_GROUP,
        rarcs=list(remarks),
        category=Category.ADMINISTRATIVE,
        amount=sum((a.amount for a in adjustments if a.reason == ZERO_ALLOWED_CARC), ZERO),
        reasons=[(a.group, a.reason, a.amount) for a in adjustments if a.amount > ZERO],
        prior=0.3,
        template="default",
        action="review",
        note=ZERO_ALLOWED_NOTE,
    )


def _may_deny(rules: Rules, adjustments: list[Adjustment]) -> bool:
    """Cheap pre-check: could any of these adjustments be a denial? (Most are CO-45/PR-2.)"""
    never = rules.never_denial
    for a in adjustments:
        if a.amount > ZERO and not never(a.group, a.reason):
            return True
    return False


def claim_date(claim: Claim) -> str | None:
    """The claim's date of service: its first line's, else the claim's own (DTM*232/472)."""
    dates = [ln.date_from for ln in claim.lines if ln.date_from]
    return min(dates) if dates else (claim.service_date or claim.statement_from)


class ClaimFacts(NamedTuple):
    """What the denial work needs of a claim beyond its candidates (a worker process sends
    these, not the claim)."""

    status: str
    patient_control: str
    payer_claim_id: str
    filing_indicator: str
    patient: tuple[str | None, str | None, str | None]  # member id, last, first


def claim_facts(claim: Claim) -> ClaimFacts:
    p = claim.person("QC")  # what the store keeps as the claim's patient
    return ClaimFacts(
        claim.status,
        claim.patient_control,
        claim.payer_claim_id,
        claim.filing_indicator,
        (p.id, p.last, p.first) if p else (None, None, None),
    )


def find_denials(claim: Claim, rules: Rules, claim_id: int, line_ids: list[int]) -> list[Candidate]:
    """The denials in one claim (none for a reversal: it negates an earlier claim)."""
    if claim.status == REVERSAL:
        return []
    first_line = claim.lines[0] if claim.lines else None
    out = _line_denials(claim, rules, claim_id, line_ids, first_line)
    if claim.adjustments and (_may_deny(rules, claim.adjustments) or not claim.lines):
        found = _claim_level_denial(claim, rules, claim_id, first_line)
        if found is not None:
            out.append(found)
    if not out and claim.status == DENIED and claim.charge - claim.paid > ZERO:
        found = _unexplained_denial(claim, rules, claim_id, first_line)
        if found is not None:
            out.append(found)
    when = claim_date(claim)
    for c in out:
        c.claim_date = when
    return out


def _line_denials(
    claim: Claim, rules: Rules, claim_id: int, line_ids: list[int], first_line: ServiceLine | None
) -> list[Candidate]:
    out: list[Candidate] = []
    claim_remarks: tuple[str, ...] | None = None  # read once, only if a line needs them
    seen: dict[tuple[str, tuple[str, ...], str | None], int] = {}
    for line, line_id in zip(claim.lines, line_ids, strict=True):
        # Position among identical lines (two J9035 on one date): part of the line's identity.
        sig = (line.procedure, tuple(line.modifiers), line.date_from)
        position = seen[sig] = seen.get(sig, 0) + 1
        may_deny = _may_deny(rules, line.adjustments)
        if not may_deny and line.paid != ZERO:  # the usual paid line: nothing more to look at
            continue
        if claim_remarks is None:
            claim_remarks = _remark_codes(claim.remarks)
        remarks = tuple(dict.fromkeys(_remark_codes(line.remarks) + claim_remarks))
        found = _collect(rules, line.adjustments, remarks, line.modifiers) if may_deny else []
        if found:
            c = _candidate(claim_id, line, found, remarks, claim.service_date, first_line)
        elif _zero_allowed(line.charge, line.paid, line.adjustments):
            c = _review(claim_id, line, line.adjustments, remarks, claim.service_date, first_line)
        else:
            continue
        c.line_id = line_id
        c.position = position
        out.append(c)
    return out


def _claim_level_denial(
    claim: Claim, rules: Rules, claim_id: int, first_line: ServiceLine | None
) -> Candidate | None:
    remarks = _remark_codes(claim.remarks)
    found = _collect(rules, claim.adjustments, remarks)
    if found:
        return _candidate(claim_id, None, found, remarks, claim.service_date, first_line)
    if not claim.lines and _zero_allowed(claim.charge, claim.paid, claim.adjustments):
        return _review(claim_id, None, claim.adjustments, remarks, claim.service_date, None)
    return None


def _unexplained_denial(
    claim: Claim, rules: Rules, claim_id: int, first_line: ServiceLine | None
) -> Candidate | None:
    """Denied as a whole, but no adjustment the rules call a denial. When every adjustment is
    a known non-denial (capitation CO-24, prior payer OA-23, PR-1/2/3), the payer explained
    the money: nothing to work. Otherwise keep it, uncategorized."""
    adjustments = claim.adjustments + [a for ln in claim.lines for a in ln.adjustments]
    explained = adjustments and all(
        a.amount <= ZERO
        or (a.reason in rules.carc and not rules.resolve(a.group, a.reason).is_denial)
        for a in adjustments
    )
    if explained:
        return None
    return _whole_claim(
        claim,
        claim_id,
        rules,
        adjustments,
        _remark_codes(claim.remarks),
        claim.service_date,
        first_line,
    )


def _whole_claim(
    claim: Claim,
    claim_id: int,
    rules: Rules,
    adjustments: list[Adjustment],
    claim_remarks: tuple[str, ...],
    service_date: str | None,
    first_line: ServiceLine | None,
) -> Candidate:
    largest = max(adjustments, key=lambda a: a.amount, default=None)
    resolved = rules.resolve(largest.group, largest.reason, claim_remarks) if largest else None
    category = resolved.category if resolved and resolved.is_denial else Category.UNCATEGORIZED
    return Candidate(
        claim_id=claim_id,
        line_id=None,
        procedure=first_line.procedure if first_line else "",
        modifiers=",".join(first_line.modifiers) if first_line else "",
        line_control="",
        service_date=service_date,
        carc=largest.reason if largest else "",
        group=largest.group if largest else "",
        rarcs=list(claim_remarks),
        category=category,
        amount=claim.charge - claim.paid,
        reasons=[(a.group, a.reason, a.amount) for a in adjustments if a.amount > ZERO],
        prior=resolved.likelihood if resolved and resolved.is_denial else 0.3,
        template=resolved.template if resolved and resolved.is_denial else Category.UNCATEGORIZED,
        action=resolved.action if resolved and resolved.is_denial else "appeal",
        note=resolved.note if resolved and resolved.is_denial else "",
    )
