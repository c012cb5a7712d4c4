"""The facts an appeal letter is built from (documented in templates/README): one builder,
``build_context``, fed from a stored denial (``letter_context``) or from a made-up one
(``sample_context``, for ``templates check``), so both always have the same shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .config import Config, Practice, Signer
from .letters import Required
from .payers import policy
from .rules import Rules
from .store import Store
from .vocabulary import GROUPS, money, money_cents


def _practice(config: Config, payee: dict[str, Any]) -> dict[str, Any]:
    """Practice details from the config; what is not configured comes from the 835's payee
    (N1*PE name and NPI, N3/N4 address, REF*TJ tax id); what neither has is Required."""
    p = config.practice
    address = ", ".join(
        x for x in (payee.get("address"), payee.get("city"), payee.get("state")) if x
    )
    if address and payee.get("postal_code"):
        address += f" {payee['postal_code']}"
    fallback = {
        "name": payee.get("name") or "",
        "address": address,
        "npi": payee.get("identifier") if payee.get("id_qualifier") == "XX" else "",
        "tin": payee.get("tax_id") or "",
    }
    out: dict[str, Any] = {}
    for key in ("name", "address", "npi", "tin", "phone", "fax", "email", "contact"):
        value = getattr(p, key) or fallback.get(key) or ""
        required = key in ("name", "address", "npi", "phone", "contact")
        if value:
            out[key] = value
        elif required:
            out[key] = Required(f"practice.{key}", f"denialkit config set practice.{key} ...")
        else:
            out[key] = None
    out["address_lines"] = (
        out["address"].splitlines() if isinstance(out["address"], str) else [out["address"]]
    )
    return out


def _person(names: list[dict[str, Any]], entity: str) -> dict[str, str] | None:
    for n in names:
        if n["entity"] == entity:
            full = " ".join(x for x in (n["first"], n["middle"], n["last"], n["suffix"]) if x)
            return {
                "name": full,
                "last": n["last"] or "",
                "first": n["first"] or "",
                "id": n["identifier"] or "",
            }
    return None


@dataclass(frozen=True)
class LetterFacts:
    """What a letter is built from, in the store's shapes (``facts_of`` reads them)."""

    denial: dict[str, Any]  # Store.denial()
    payer: dict[str, Any]  # and payee, names: Store.letter_facts()
    payee: dict[str, Any]
    names: list[dict[str, Any]]
    line: dict[str, Any] | None  # the denied line (None: a claim-level denial)
    submitted: dict[str, Any] | None  # the 837 claim, when it was ingested


def facts_of(store: Store, denial_id: int) -> LetterFacts:
    d = store.denial(denial_id)
    facts = store.letter_facts(denial_id)
    detail = store.claim_detail(d["claim_id"])
    line = next((ln for ln in detail["lines"] if ln["id"] == d["line_id"]), None)
    return LetterFacts(
        d,
        facts["payer"],
        facts["payee"],
        facts["names"],
        line,
        store.submitted_for_claim(d["claim_id"]),
    )


def letter_context(
    store: Store, rules: Rules, config: Config, denial_id: int, today: dt.date
) -> dict[str, Any]:
    """Everything a template can use, for one stored denial (documented in templates/README)."""
    return build_context(facts_of(store, denial_id), rules, config, today)


def build_context(
    facts: LetterFacts, rules: Rules, config: Config, today: dt.date
) -> dict[str, Any]:
    """The template context: every field, whatever the facts lack marked ``Required``."""
    d = facts.denial
    patient = _person(facts.names, "QC") or {"name": "", "last": "", "first": "", "id": ""}
    insured = _person(facts.names, "IL")
    rendering = _person(facts.names, "82")
    member_id = patient["id"] or (insured["id"] if insured else "")
    payer = facts.payer
    pol = policy(
        rules,
        [payer["identifier"], payer["ref_2u"], d["trace_originator"]],
        payer["name"] or "",
        d["filing_indicator"] or "",
    )
    level = d["level"] or 1
    lvl = pol.level(level) or pol.levels[-1]
    appeals = pol.appeals
    rarcs = [r for r in (d["rarcs"] or "").split(",") if r]
    line, sub = facts.line, facts.submitted
    diagnoses = [x for x in ((sub or {}).get("diagnoses") or "").split(",") if x]
    auth = (sub or {}).get("prior_auth") or (sub or {}).get("referral") or ""
    return {
        "today": today.isoformat(),
        # From the 837 when it was ingested: fills the letter's fields of the same name.
        "from_claim": {
            "diagnoses": ", ".join(diagnoses),
            "authorization_number": auth,
        },
        "practice": _practice(config, facts.payee),
        "payer": {
            "name": payer["name"] or "",
            "id": payer["identifier"] or "",
            "ref_2u": payer["ref_2u"] or "",
            "class": pol.payer_class,
            "class_label": pol.name,
            "member_id_label": pol.member_id_label,
            # payers.yaml `appeals:` (where appeals go) wins over the 835's payer address.
            "attention": (appeals.attention if appeals else "")
            or "Appeals / Claim Reconsideration",
            "fax": appeals.fax if appeals else "",
            "portal": appeals.portal if appeals else "",
            "address_lines": appeals.address.splitlines()
            if appeals and appeals.address
            else [
                x
                for x in (
                    payer["address"],
                    " ".join(y for y in (payer["city"], payer["state"], payer["postal_code"]) if y),
                )
                if x
            ],
        },
        "patient": {
            "name": patient["name"] or Required("patient.name", "patient name"),
            "first": patient["first"],
            "last": patient["last"],
            "member_id": member_id
            or (sub or {}).get("member_id")
            or Required("patient.member_id", "member id / MBI"),
            "date_of_birth": (sub or {}).get("patient_dob") or "",
        },
        "insured": insured,
        "rendering": rendering,
        "claim": {
            "id": d["patient_control"] or "",
            "payer_claim_id": d["payer_claim_id"] or "",
            "charge": money_cents(d["claim_charge_cents"]),
            "paid": money_cents(d["claim_paid_cents"]),
            "filing_indicator": d["filing_indicator"] or "",
            "statement_from": d["statement_from"],
            "statement_to": d["statement_to"],
            "diagnoses": diagnoses,
            "prior_authorization": (sub or {}).get("prior_auth") or "",
            "referral": (sub or {}).get("referral") or "",
        },
        "service": {
            "date": d["service_date"] or "",
            "procedure": d["procedure"] or "",
            "modifiers": [m for m in (d["modifiers"] or "").split(",") if m],
            "line_control": d["line_control"] or "",
            "charge": money_cents(line["charge_cents"]) if line else None,
            "level": "line" if d["line_id"] else "claim",
        },
        "denial": {
            "id": d["id"],
            "date": d["received"],
            "deadline": d["deadline"],
            "amount": money_cents(d["amount_cents"]),
            "group": d["group_code"],
            "group_description": GROUPS.get(d["group_code"], ""),
            "carc": d["carc"],
            "carc_description": rules.carc_description(d["carc"]),
            "rarcs": [{"code": r, "description": rules.rarc_description(r)} for r in rarcs],
            "category": d["category"],
            "template": d["template"] or d["category"],
            "payer_rule": d["payer_rule"] or "",
            "trace_number": d["trace_number"] or "",
            "action": d["action"] or "appeal",
            "level": level,
            "appeal_level": lvl.name,
            "level_title": lvl.title,
            "decided_by": lvl.decided_by,
            "level_source": lvl.source,
            # The decision this level answers (level 2 and up): enclosed with the request.
            "previous_decision": d["level_date"] if level > 1 else None,
            "previous_level": pol.levels[level - 2].name if level > 1 else None,
            "min_amount": money(lvl.min_amount) if lvl.min_amount is not None else None,
        },
        "signer": _signer(config),
    }


def _signer(config: Config) -> dict[str, Any]:
    """Who signs: ``signer.name`` and ``signer.credentials`` from config, else the contact."""
    s = config.signer
    name = s.name or config.practice.contact
    return {
        "name": name or Required("signer.name", "denialkit config set signer.name ..."),
        "credentials": s.credentials or "",
        "title": s.title or "",
    }


def sample_context(rules: Rules, carc: str = "50", category: str | None = None) -> dict[str, Any]:
    """A made-up denial for ``templates check``, through the same builder as a stored one."""
    resolved = rules.resolve("CO", carc, ())
    denial = {
        "id": 0,
        "patient_control": "PCN0",
        "payer_claim_id": "ICN0",
        "claim_charge_cents": 10000,
        "claim_paid_cents": 0,
        "filing_indicator": "CI",
        "trace_originator": None,
        "trace_number": "SAMPLE",
        "statement_from": "2026-01-05",
        "statement_to": "2026-01-05",
        "service_date": "2026-01-05",
        "procedure": "99213",
        "modifiers": "25",
        "line_control": "1",
        "line_id": 1,
        "received": "2026-02-01",
        "deadline": "2026-07-31",
        "amount_cents": 10000,
        "group_code": "CO",
        "carc": carc,
        "rarcs": "N115",
        "category": category or resolved.category,
        "template": resolved.template,
        "payer_rule": "commercial default",
        "action": "appeal",
        "level": 1,
        "level_date": "2026-02-01",
    }
    person = {"middle": None, "suffix": None, "id_qualifier": None}
    facts = LetterFacts(
        denial=denial,
        payer={
            "name": "Sample Health Plan",
            "identifier": "00000",
            "ref_2u": "",
            "address": "PO Box 1",
            "city": "Sample City",
            "state": "ST",
            "postal_code": "00000",
        },
        payee={},
        names=[
            {**person, "entity": "QC", "last": "Sample", "first": "Pat", "identifier": "M0"},
            {**person, "entity": "82", "last": "Sample", "first": "Dr", "identifier": "1234567893"},
        ],
        line={"id": 1, "charge_cents": 10000},
        submitted={
            "diagnoses": "J449",
            "prior_auth": "",
            "referral": "",
            "member_id": "M0",
            "patient_dob": "1980-01-01",
        },
    )
    return build_context(facts, rules, SAMPLE_CONFIG, dt.date(2026, 3, 2))


SAMPLE_CONFIG = Config(
    practice=Practice(
        name="Sample Family Practice",
        address="1 Sample Way\nSpringfield, ST 00000",
        npi="1234567893",
        tin="00-0000000",
        phone="(555) 010-0000",
        contact="Sample Biller",
    ),
    signer=Signer(name="Sample Biller", credentials="CPC", title="Billing Manager"),
)
