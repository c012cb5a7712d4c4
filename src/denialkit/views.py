"""One denial as ``denialkit show`` presents it: the denial, its claim, lines,
adjustments and remarks described, deadline, score breakdown, history and the submitted 837."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypedDict

from .payers import policy
from .rules import Rules
from .store import Store
from .vocabulary import money_cents_or_none as _money


class Code(TypedDict):
    code: str
    description: str


class Reason(TypedDict):
    group: str
    carc: str
    amount: str
    description: str


class DenialFacts(TypedDict):
    """The denial itself: its reason, money, deadline, triage and where it stands."""

    id: int
    status: str
    category: str
    tier: str | None
    score: float | None
    team: str | None
    assignee: str | None
    carc: str
    group: str
    carc_description: str
    rarc: list[Code]
    reasons: list[Reason]
    amount_at_risk: str | None
    received: str
    deadline: str | None
    deadline_basis: str | None
    days_left: int | None
    follow_up: str | None
    due: bool
    level: int
    level_name: str | None
    payer_class: str | None
    class_basis: str | None
    note: str
    payer_rule: str | None
    prior: float | None
    likelihood: float | None
    breakdown: dict[str, Any]  # Score.breakdown(), as stored
    template: str | None
    procedure: str | None
    line_control: str | None
    appealed_on: str | None
    action: str
    recovered: str | None
    outcome_date: str | None


class ClaimFacts(TypedDict):
    patient_control: str
    payer_claim_id: str | None
    payer: str | None
    status: str | None
    charge: str | None
    paid: str | None
    patient: str
    member_id: str | None
    filing_indicator: str | None
    remittance: dict[str, str | None]  # trace, date, file


class LineFacts(TypedDict):
    id: int
    procedure: str | None
    modifiers: list[str]
    charge: str | None
    paid: str | None
    service_date: str | None
    line_control: str | None
    denied: bool


class AdjustmentFacts(TypedDict):
    line_id: int | None
    group: str
    carc: str
    amount: str | None
    description: str
    category: str


class RemarkFacts(TypedDict):
    line_id: int | None
    source: str
    code: str
    description: str


class DenialView(TypedDict):
    """One denial as ``denialkit show --format json`` prints it (the documented shape)."""

    denial: DenialFacts
    claim: ClaimFacts
    lines: list[LineFacts]
    adjustments: list[AdjustmentFacts]
    remarks: list[RemarkFacts]
    history: list[dict[str, Any]]  # the events, as the store keeps them
    submitted: dict[str, Any] | None  # the linked 837 claim (``submitted_claim``)


def show(store: Store, rules: Rules, denial_id: int, today: dt.date) -> DenialView:
    """Everything about one denial: claim, lines, adjustments and remarks described,
    deadline, score breakdown, history."""
    d = store.denial(denial_id)
    detail = store.claim_detail(d["claim_id"])
    return {
        "denial": {
            "id": d["id"],
            "status": d["status"],
            "category": d["category"],
            "tier": d["tier"],
            "score": d["score"],
            "team": d["team"],
            "assignee": d["assignee"],
            "carc": d["carc"],
            "group": d["group_code"],
            "carc_description": rules.carc_description(d["carc"]),
            "rarc": [
                {"code": c, "description": rules.rarc_description(c)}
                for c in (d["rarcs"] or "").split(",")
                if c
            ],
            "reasons": [
                {"group": g, "carc": c, "amount": a, "description": rules.carc_description(c)}
                for g, c, a in json.loads(d["reasons"] or "[]")
            ],
            "amount_at_risk": _money(d["amount_cents"]),
            "received": d["received"],
            "deadline": d["deadline"],
            "deadline_basis": d["deadline_basis"],
            "days_left": (dt.date.fromisoformat(d["deadline"]) - today).days
            if d["deadline"]
            else None,
            "follow_up": d["follow_up"],
            "due": bool(d["follow_up"] and d["follow_up"] <= today.isoformat()),
            "level": d["level"] or 1,
            "level_name": _level_name(rules, d),
            "payer_class": d["payer_class"],
            "class_basis": d["class_basis"],
            "note": d["note"] or "",
            "payer_rule": d["payer_rule"],
            "prior": d["prior"],
            "likelihood": d["likelihood"],
            "breakdown": json.loads(d["breakdown"] or "{}"),
            "template": d["template"],
            "procedure": d["procedure"],
            "line_control": d["line_control"],
            "appealed_on": d["appealed_on"],
            "action": d["action"] or "appeal",
            "recovered": _money(d["recovered_cents"]),
            "outcome_date": d["outcome_date"],
        },
        "claim": {
            "patient_control": d["patient_control"],
            "payer_claim_id": d["payer_claim_id"],
            "payer": d["payer_name"],
            "status": d["claim_status"],
            "charge": _money(d["claim_charge_cents"]),
            "paid": _money(d["claim_paid_cents"]),
            "patient": ", ".join(x for x in (d["patient_last"], d["patient_first"]) if x),
            "member_id": d["patient_id"],
            "filing_indicator": d["filing_indicator"],
            "remittance": {
                "trace": d["trace_number"],
                "date": d["payment_date"],
                "file": d["file_name"],
            },
        },
        "lines": [
            {
                "id": ln["id"],
                "procedure": ln["procedure"],
                "modifiers": [m for m in (ln["modifiers"] or "").split(",") if m],
                "charge": _money(ln["charge_cents"]),
                "paid": _money(ln["paid_cents"]),
                "service_date": ln["date_from"],
                "line_control": ln["line_control"],
                "denied": ln["id"] == d["line_id"],
            }
            for ln in detail["lines"]
        ],
        "adjustments": [
            {
                "line_id": a["line_id"],
                "group": a["group_code"],
                "carc": a["reason"],
                "amount": _money(a["amount_cents"]),
                "description": rules.carc_description(a["reason"]),
                "category": rules.resolve(a["group_code"], a["reason"]).category,
            }
            for a in detail["adjustments"]
        ],
        "remarks": [
            {
                "line_id": m["line_id"],
                "source": m["source"],
                "code": m["code"],
                "description": rules.rarc_description(m["code"]),
            }
            for m in detail["remarks"]
        ],
        "history": store.history(denial_id),
        "submitted": submitted_claim(store, d["claim_id"]),
    }


def submitted_claim(store: Store, claim_id: int) -> dict[str, Any] | None:
    """The 837 claim a remittance claim is linked to (None when none was ingested)."""
    s = store.submitted_for_claim(claim_id)
    if s is None:
        return None
    diagnoses = [x for x in (s["diagnoses"] or "").split(",") if x]
    return {
        "patient_control": s["patient_control"],
        "kind": s["kind"],
        "submitted": s["created"],
        "frequency": s["frequency"],
        "original_ref": s["original_ref"] or "",
        "charge": _money(s["charge_cents"]),
        "billing_npi": s["billing_npi"] or "",
        "rendering_npi": s["rendering_npi"] or "",
        "referring_npi": s["referring_npi"] or "",
        "member_id": s["member_id"] or "",
        "date_of_birth": s["patient_dob"],
        "prior_authorization": s["prior_auth"] or "",
        "referral": s["referral"] or "",
        "diagnoses": diagnoses,
        "lines": [
            {
                "line": ln["line_no"],
                "procedure": ln["procedure"],
                "modifiers": [m for m in (ln["modifiers"] or "").split(",") if m],
                "units": ln["units"],
                "charge": _money(ln["charge_cents"]),
                "date": ln["date_from"],
                "diagnoses": [
                    diagnoses[int(p) - 1]
                    for p in (ln["pointers"] or "").split(",")
                    if p and int(p) <= len(diagnoses)
                ],
                "line_control": ln["line_control"] or "",
            }
            for ln in s["lines"]
        ],
    }


def _level_name(rules: Rules, d: dict[str, Any]) -> str | None:
    p = policy(
        rules,
        [d["payer_identifier"], d["ref_2u"], d["trace_originator"]],
        d["payer_name"] or "",
        d["filing_indicator"] or "",
    )
    lvl = p.level(d["level"] or 1)
    return lvl.name if lvl else None
