"""The life of a denial after intake: statuses, the moves between them, and who made each.

Every change is one row in the append-only ``events`` table (time, actor, old and new status,
detail, source). Changes made by staff come through the functions here; changes made by a later
remittance come through ``resolve_from_payment``, called at intake. Each check-and-move runs in
one ``BEGIN IMMEDIATE`` transaction, so two people (or a person and a nightly ingest) changing
the same denial are serialized and neither change nor event is lost.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidTransition, UsageError
from .store import Store, from_cents, to_cents

# What staff can move a denial to, from each status. A remittance that pays the claim can
# additionally overturn it from any status but 'overturned' (see PAYABLE).
MOVES: dict[str, dict[str, str]] = {
    # status: {new status: the command that makes the move}
    "new": {
        "assigned": "assign",
        "appeal_drafted": "appeal",
        "appealed": "submit",
        "written_off": "writeoff",
        "expired": "retriage",
    },
    "assigned": {
        "appeal_drafted": "appeal",
        "appealed": "submit",
        "written_off": "writeoff",
        "expired": "retriage",
    },
    "appeal_drafted": {"appealed": "submit", "written_off": "writeoff", "expired": "retriage"},
    "appealed": {
        "overturned": "outcome --overturned",
        "partially_overturned": "outcome --partial",
        "upheld": "outcome --upheld",
        "written_off": "writeoff",
    },
    # The next appeal level (Medicare reconsideration, a second commercial level) or give up.
    "upheld": {"appealed": "submit", "written_off": "writeoff"},
    "partially_overturned": {"appealed": "submit", "written_off": "writeoff"},
    # A late appeal with good cause (Medicare 42 CFR 405.942(b)), or give up.
    "expired": {"appealed": "submit", "written_off": "writeoff"},
    "overturned": {},
    "written_off": {},
    "reversed": {},
}
STATUSES = tuple(MOVES)
# Statuses a later payment can resolve: money that arrives is recovered whatever the paperwork
# said (an expired or written-off denial paid on reprocessing is still revenue recovered).
PAYABLE = (
    "new",
    "assigned",
    "appeal_drafted",
    "appealed",
    "upheld",
    "partially_overturned",
    "expired",
    "written_off",
    "reversed",
)
OUTCOMES = ("overturned", "partially_overturned", "upheld")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def check_move(denial_id: int, old: str, new: str) -> None:
    """Raise ``InvalidTransition`` with what is allowed instead, if ``old → new`` is illegal."""
    allowed = MOVES.get(old, {})
    if new in allowed:
        return
    if allowed:
        options = ", ".join(f"{s} ({cmd})" for s, cmd in allowed.items())
        hint = f"from {old!r} it can move to: {options}"
    else:
        hint = f"{old!r} is final"
    raise InvalidTransition(f"denial {denial_id} is {old!r}; it cannot become {new!r}: {hint}")


_AMOUNT = re.compile(r"[+-]?[0-9]{1,11}(\.[0-9]{0,2})?|[+-]?\.[0-9]{1,2}", re.ASCII)


def parse_amount(text: str) -> Decimal:
    """A typed amount ("125.40", "$1,250") as Decimal, or a usage error.

    ASCII digits with at most two decimals and below 10**11 dollars: ``1e30``, ``NaN`` and other
    scripts' digits (``١٢٣``) are refused rather than read.
    """
    plain = text.replace(",", "").replace("$", "").strip()
    if not _AMOUNT.fullmatch(plain):
        raise UsageError(
            f"{text[:40]!r} is not an amount in dollars and cents (e.g. 125.40, at most "
            "11 digits before the point)"
        )
    try:
        return Decimal(plain)
    except InvalidOperation:  # pragma: no cover - excluded by the pattern
        raise UsageError(f"{text[:40]!r} is not an amount") from None


def _date(value: str | dt.date | None, today: dt.date, what: str) -> str:
    if value is None:
        return today.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _move(
    store: Store,
    denial_id: int,
    new: str,
    *,
    actor: str,
    detail: str,
    source: str,
    check=None,
    **fields: Any,
) -> dict[str, Any]:
    """Check and move in one write transaction; ``check(state)`` may refuse (raise) or add
    fields; ``detail`` may use them (``{recovered}`` is filled in as money)."""
    with store.transaction():
        state = store.denial_state(denial_id)
        check_move(denial_id, state["status"], new)
        if check is not None:
            fields.update(check(state) or {})
        cents = fields.get("recovered_cents")
        store.set_status(
            denial_id,
            state["status"],
            new,
            actor=actor,
            detail=detail.replace("{recovered}", f"{from_cents(cents or 0):.2f}"),
            source=source,
            at=now_iso(),
            **fields,
        )
    return {**state, **fields, "old_status": state["status"], "status": new}


def mark_drafted(store: Store, denial_id: int, template: str, actor: str) -> bool:
    """A finished letter was rendered: new/assigned → appeal_drafted. Later statuses keep
    theirs (re-rendering a letter for an appealed denial changes nothing); returns moved."""
    with store.transaction():
        status = store.denial_state(denial_id)["status"]
        if status not in ("new", "assigned"):
            return False
        store.set_status(
            denial_id,
            status,
            "appeal_drafted",
            actor=actor,
            detail=f"appeal letter drafted from template {template}",
            source="appeal",
            at=now_iso(),
        )
    return True


def submit(
    store: Store,
    denial_id: int,
    *,
    actor: str,
    on: str | dt.date | None = None,
    today: dt.date,
    reference: str = "",
) -> dict[str, Any]:
    """The appeal was sent (``on``, default today)."""
    day = _date(on, today, "submit date")

    def check(state: dict[str, Any]) -> None:
        if day < state["received"]:
            raise UsageError(
                f"submit date {day} is before the denial was received ({state['received']})"
            )

    detail = f"appeal submitted on {day}" + (f" (reference {reference})" if reference else "")
    return _move(
        store,
        denial_id,
        "appealed",
        actor=actor,
        detail=detail,
        source="submit",
        check=check,
        appealed_on=day,
    )


def outcome(
    store: Store,
    denial_id: int,
    result: str,
    *,
    actor: str,
    recovered: Decimal | None = None,
    on: str | dt.date | None = None,
    today: dt.date,
    force: bool = False,
) -> dict[str, Any]:
    """The payer decided the appeal: ``overturned``, ``partially_overturned`` or ``upheld``.

    Overturned without an amount recovers the amount at risk; a partial overturn needs the
    amount (more than zero, less than the amount at risk); upheld recovers nothing. More than
    the amount at risk (interest paid with it) only with ``force``, which the history records.
    """
    if result not in OUTCOMES:
        raise UsageError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if recovered is not None and recovered < 0:
        raise UsageError("recovered amount cannot be negative")
    day = _date(on, today, "outcome date")

    def check(state: dict[str, Any]) -> dict[str, Any]:
        at_risk = state["amount_cents"]
        if result == "upheld":
            if recovered:
                raise UsageError("an upheld appeal recovers nothing; use --partial")
            cents = 0
        elif result == "overturned":
            cents = at_risk if recovered is None else to_cents(recovered)
            if cents > at_risk and not force:
                raise UsageError(
                    f"recovered {recovered} is more than the amount at risk "
                    f"({from_cents(at_risk):.2f}); --force records it anyway"
                )
        else:
            if recovered is None:
                raise UsageError("a partial overturn needs --recovered AMOUNT")
            cents = to_cents(recovered)
            if not 0 < cents < at_risk:
                raise UsageError(
                    f"a partial overturn recovers more than 0 and less than the amount at risk "
                    f"({from_cents(at_risk):.2f}); got {recovered}"
                )
        if state["appealed_on"] and day < state["appealed_on"]:
            raise UsageError(f"outcome date {day} is before the appeal ({state['appealed_on']})")
        return {"recovered_cents": cents, "outcome_date": day}

    money = "" if result == "upheld" else ", recovered {recovered}"
    if force and recovered is not None:
        money += " (--force: may exceed the amount at risk)"
    return _move(
        store,
        denial_id,
        result,
        actor=actor,
        detail=f"appeal {result.replace('_', ' ')} on {day}{money}",
        source="outcome",
        check=check,
    )


def writeoff(
    store: Store, denial_id: int, reason: str, *, actor: str, today: dt.date
) -> dict[str, Any]:
    if not reason.strip():
        raise UsageError("a write-off needs a reason (--reason TEXT)")
    return _move(
        store,
        denial_id,
        "written_off",
        actor=actor,
        detail=f"written off: {reason.strip()}",
        source="writeoff",
        outcome_date=today.isoformat(),
    )


def note(store: Store, denial_id: int, text: str, *, actor: str) -> None:
    if not text.strip():
        raise UsageError("a note needs some text")
    store.add_note(denial_id, text.strip(), actor, now_iso())


def history(store: Store, denial_id: int) -> list[dict[str, Any]]:
    store.denial_state(denial_id)  # NotFound for an unknown id
    return store.history(denial_id)


# -- closing the loop from remittances -------------------------------------------------------

# CLP02 statuses that adjudicate a payment (processed as primary/secondary/tertiary, and the
# same forwarded to another payer).
PAID = ("1", "2", "3", "19", "20", "21")


@dataclass(slots=True)
class PaidBatch:
    """Claims just stored for one remittance (ids ``first``..``last``), and which of their
    lines and claims carry a denial themselves."""

    remittance_id: int
    received: str
    source: str
    first: int
    last: int
    denied_lines: set[int]
    denied_claims: set[int]


def _matches(denial: dict[str, Any], line: dict[str, Any]) -> bool:
    # REF*6R line control numbers identify the line when both sides have one; otherwise the
    # procedure and service date must agree (a resubmission may renumber its lines).
    if denial["line_control"] and line["line_control"]:
        return denial["line_control"] == line["line_control"]
    if denial["procedure"] != line["procedure"]:
        return False
    return not (denial["service_date"] and line["date_from"]) or (
        denial["service_date"] == line["date_from"]
    )


def resolve_from_payment(store: Store, batch: PaidBatch) -> int:
    """Overturn the denials that the claims of this batch paid; returns how many changed.

    Matching runs in SQL on the claims just stored (payer + CLP01, or payer + CLP07), so the
    many paid claims that never had a denial cost nothing here. The recovered amount is what
    the later remittance pays on the denied line (or claim) beyond what the first one paid,
    capped at the amount at risk. A line paid with no denial left on it is ``overturned`` (a
    contractual reduction may remain); one still carrying a denial is
    ``partially_overturned``. A line paid nothing more is a repeat, not a resolution.
    """
    matches = store.payment_matches(
        batch.first, batch.last, batch.remittance_id, batch.received, PAID, PAYABLE
    )
    if not matches:
        return 0
    lines: dict[int, list[dict[str, Any]]] = {}
    for ln in store.lines_of([m["paid_claim_id"] for m in matches]):
        lines.setdefault(ln["claim_id"], []).append(ln)
    changed = 0
    at = now_iso()
    done: dict[int, int] = {}  # denial id -> recovered cents so far in this batch
    for m in matches:
        if m["line_id"] is None:
            paid, before = m["paid_claim_cents"] or 0, m["claim_paid_cents"] or 0
            still_denied = m["paid_claim_id"] in batch.denied_claims
        else:
            line = next((ln for ln in lines.get(m["paid_claim_id"], []) if _matches(m, ln)), None)
            if line is None:
                continue
            paid, before = line["paid_cents"] or 0, m["line_paid_cents"] or 0
            still_denied = line["id"] in batch.denied_lines
        recovered = min(max(paid - before, 0), m["amount_cents"])
        if recovered <= done.get(m["id"], m["recovered_cents"] or 0):
            continue
        new = "partially_overturned" if still_denied else "overturned"
        with store.transaction():
            state = store.denial_state(m["id"])
            if state["status"] not in PAYABLE:
                continue
            store.set_status(
                m["id"],
                state["status"],
                new,
                actor="denialkit",
                detail=(
                    f"paid {from_cents(paid):.2f} on a later remittance dated "
                    f"{batch.received}: recovered {from_cents(recovered):.2f} of "
                    f"{from_cents(m['amount_cents']):.2f}"
                ),
                source=batch.source,
                at=at,
                recovered_cents=recovered,
                outcome_date=batch.received,
            )
        done[m["id"]] = recovered
        changed += 1
    return changed
