"""Finding the denials in a claim. Pure: a parsed ``Claim`` and the rules in, candidates out.

A denial is a service line (or, for claim-level adjustments, the claim) on which the payer
withheld money for a reason the rules classify as a denial category. Contractual write-offs
(CO-45), patient cost sharing (PR-1/2/3), prior-payer effects (OA-23) and pending codes are not
denials. The amount at risk is the sum of the denial adjustments only; the primary reason is
the largest of them, and all of them are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .era import ZERO, Adjustment, Claim, ServiceLine
from .rules import UNCATEGORIZED, Rules

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
    template: str = UNCATEGORIZED
    action: str = "appeal"  # before the payer's own rules (see triage)

    @property
    def line_key(self) -> str:
        """What identifies the line across remittances: its control number, else procedure."""
        if self.line_id is None:
            return "claim"
        return self.line_control or f"{self.procedure}:{self.modifiers}:{self.service_date}"


def _remark_codes(remarks) -> tuple[str, ...]:
    return tuple(r.code for r in remarks if r.qualifier == "HE")


def _collect(
    rules: Rules, adjustments: list[Adjustment], remarks: tuple[str, ...]
) -> list[tuple[Adjustment, object]]:
    found = []
    for a in adjustments:
        if a.amount <= ZERO:
            continue  # negative CAS amounts are increases, not money withheld
        resolved = rules.resolve(a.group, a.reason, remarks)
        if resolved.is_denial:
            found.append((a, resolved))
    return found


def _candidate(
    claim_id: int,
    line: ServiceLine | None,
    found,
    remarks: tuple[str, ...],
    service_date: str | None,
    first_line: ServiceLine | None,
) -> Candidate:
    primary, resolved = max(found, key=lambda pair: pair[0].amount)
    shown = line or first_line
    return Candidate(
        claim_id=claim_id,
        line_id=None,
        procedure=shown.procedure if shown else "",
        modifiers=",".join(shown.modifiers) if shown else "",
        line_control=line.line_control if line else "",
        service_date=(line.date_from if line else None) or service_date,
        carc=primary.reason,
        group=primary.group,
        rarcs=list(remarks),
        category=resolved.category,
        amount=sum((a.amount for a, _ in found), ZERO),
        reasons=[(a.group, a.reason, a.amount) for a, _ in found],
        prior=resolved.likelihood,
        template=resolved.template,
        action=resolved.action,
    )


def _may_deny(rules: Rules, adjustments: list[Adjustment]) -> bool:
    """Cheap pre-check: could any of these adjustments be a denial? (Most are CO-45/PR-2.)"""
    never = rules.never_denial
    for a in adjustments:
        if a.amount > ZERO and not never(a.group, a.reason):
            return True
    return False


def find_denials(claim: Claim, rules: Rules, claim_id: int, line_ids: list[int]) -> list[Candidate]:
    """The denials in one claim (none for a reversal: it negates an earlier claim)."""
    if claim.status == REVERSAL:
        return []
    out: list[Candidate] = []
    claim_remarks: tuple[str, ...] | None = None
    service_date = None
    first_line = claim.lines[0] if claim.lines else None
    for line, line_id in zip(claim.lines, line_ids, strict=True):
        if not _may_deny(rules, line.adjustments):
            continue
        if claim_remarks is None:
            claim_remarks, service_date = _remark_codes(claim.remarks), claim.service_date
        remarks = tuple(dict.fromkeys(_remark_codes(line.remarks) + claim_remarks))
        found = _collect(rules, line.adjustments, remarks)
        if found:
            c = _candidate(claim_id, line, found, remarks, service_date, first_line)
            c.line_id = line_id
            out.append(c)
    if _may_deny(rules, claim.adjustments):
        if claim_remarks is None:
            claim_remarks, service_date = _remark_codes(claim.remarks), claim.service_date
        found = _collect(rules, claim.adjustments, claim_remarks)
        if found:
            out.append(_candidate(claim_id, None, found, claim_remarks, service_date, first_line))
    if not out and claim.status == DENIED and claim.charge - claim.paid > ZERO:
        claim_remarks, service_date = _remark_codes(claim.remarks), claim.service_date
        # Denied as a whole, but no adjustment the rules call a denial: keep it, uncategorized
        # unless its largest adjustment says otherwise.
        adjustments = claim.adjustments + [a for ln in claim.lines for a in ln.adjustments]
        largest = max(adjustments, key=lambda a: a.amount, default=None)
        resolved = rules.resolve(largest.group, largest.reason, claim_remarks) if largest else None
        category = resolved.category if resolved and resolved.is_denial else UNCATEGORIZED
        out.append(
            Candidate(
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
                template=resolved.template if resolved and resolved.is_denial else UNCATEGORIZED,
                action=resolved.action if resolved and resolved.is_denial else "appeal",
            )
        )
    return out
