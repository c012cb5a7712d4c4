"""The work queue and finding denials: read-only views of the stored denials, in the JSON shape
``denialkit queue`` prints.

Kept apart from ``detection`` (which finds and triages denials with the rules) so that reading
the queue loads neither the rules nor pydantic: ``denialkit queue`` starts in a fraction of a
second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypedDict, overload

from . import choices
from .errors import UsageError
from .store import Store
from .vocabulary import Action, Status
from .vocabulary import money_cents_or_none as _money

QUEUE_ACTIONS = tuple(a for a in Action.ALL if a != Action.BILL_PATIENT)


class QueueRow(TypedDict):
    """One denial as ``denialkit queue --format json`` prints it (the documented shape)."""

    id: int
    claim: str
    payer_claim_id: str | None
    payer: str | None
    patient: str
    service_date: str | None
    procedure: str | None
    modifiers: list[str]
    carc: str
    group: str
    rarc: list[str]
    category: str
    amount_at_risk: str | None
    received: str
    deadline: str | None
    deadline_basis: str | None
    follow_up: str | None
    next_date: str | None
    days_left: int | None
    due: bool
    payer_class: str | None
    level: int
    likelihood: float | None
    score: float | None
    tier: str | None
    status: str
    team: str | None
    assignee: str | None
    recovered: str | None
    outcome_date: str | None
    action: str
    note: str


# Its columns in order, for CSV (one definition: the type above).
QUEUE_COLUMNS = list(QueueRow.__annotations__)


def _filters(
    today: dt.date,
    status: str | None,
    tier: str | None,
    category: str | None,
    due_within: int | None,
    find: dict[str, Any],
) -> dict[str, Any]:
    """Checked store filters: every enumerated word is one the store knows (abbreviations as
    the table prints them, ``admin``, are read as the word), never a silent empty queue."""
    status = choices.status(status)
    if status in (None, "open"):
        statuses: Sequence[str] = Status.OPEN
    elif status == "all":
        statuses = Status.ALL
    else:
        statuses = (status,)
    for key in ("patient", "member", "claim", "carc", "procedure", "action", "text", "practice"):
        value = find.get(key)
        if value is not None and not str(value).strip():
            raise UsageError(f"{key} needs a value", parameter=key)
    if find.get("carc") is not None:
        find["carc"] = find["carc"].strip().upper().split("-")[-1]  # CO-197 → 197
    # The default queue leaves out the patient's responsibility (bill_patient); "all" is all.
    act = choices.action(find.get("action")) if find.get("action") is not None else None
    find["action"] = QUEUE_ACTIONS if act is None else None if act == "all" else act
    if find.get("procedure") is not None:
        find["procedure"] = find["procedure"].strip().upper()
    due_by = (today + dt.timedelta(days=due_within)).isoformat() if due_within is not None else None
    return {
        "statuses": statuses,
        "tier": choices.tier(tier),
        "category": choices.category(category),
        "due_by": due_by,
        **{k: v for k, v in find.items() if v is not None},
    }


@overload
def queue(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    sort: str | None = None,
    stream: Literal[False] = False,
    **find: str | None,
) -> list[QueueRow]: ...


@overload
def queue(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    sort: str | None = None,
    stream: Literal[True],
    **find: str | None,
) -> Iterator[QueueRow]: ...


def queue(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    sort: str | None = None,
    stream: bool = False,
    **find: str | None,
) -> list[QueueRow] | Iterator[QueueRow]:
    """Rows of the work queue in the documented JSON shape (a list; with ``stream``, an
    iterator that reads rows as it is consumed, for exports in flat memory).

    ``find`` narrows it: ``patient`` (words of the name), ``member`` (member id), ``claim``
    (CLP01 or CLP07), ``carc``, ``procedure``, ``text`` (any of these, or the denial id).
    ``sort``: None (most urgent first), ``deadline``, ``amount``, ``score`` or ``received``.
    """
    filters = _filters(today, status, tier, category, due_within, find)
    if offset < 0:
        raise UsageError("offset cannot be negative", parameter="offset")
    rows = store.queue(
        team=team,
        assignee=assignee,
        payer=payer,
        limit=limit,
        offset=offset,
        sort=choices.sort(sort),
        stream=stream,
        **filters,
    )
    if stream:
        return (_queue_row(r, today) for r in rows)
    return [_queue_row(r, today) for r in rows]


def queue_total(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    **find: str | None,
) -> int:
    """How many denials ``queue`` lists with the same filters and no limit."""
    filters = _filters(today, status, tier, category, due_within, find)
    return store.queue_count(team=team, assignee=assignee, payer=payer, **filters)


def find(
    store: Store,
    today: dt.date,
    text: str,
    *,
    limit: int | None = None,
    offset: int = 0,
    practice: str | None = None,
) -> list[QueueRow]:
    """Denials of any status whose patient name, member id, claim number (CLP01 or CLP07) or
    denial id matches ``text`` (the phone call: "I am calling about my bill"), most urgent
    first; rows in the queue's JSON shape. ``practice`` narrows to one client practice."""
    return queue(
        store,
        today,
        status="all",
        action="all",
        text=text,
        limit=limit,
        offset=offset,
        practice=practice,
    )


def elsewhere(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    **find: str | None,
) -> dict[str, int]:
    """Denials matching the same filters in the statuses the queue did not show, per status
    (for "the queue is empty: 40,078 denials are expired")."""
    shown = set(_filters(today, status, None, None, None, {})["statuses"])
    filters = _filters(today, "all", tier, category, due_within, dict(find))
    counts = store.queue_by_status(team=team, assignee=assignee, payer=payer, **filters)
    out = {s: counts[s] for s in Status.ALL if counts.get(s) and s not in shown}
    if find.get("action") is None:  # the default queue hides the patient's to pay: say so
        mine = _filters(
            today, status, tier, category, due_within, {**find, "action": "bill_patient"}
        )
        n = store.queue_count(team=team, assignee=assignee, payer=payer, **mine)
        if n:
            out["bill_patient"] = n
    return out


def _queue_row(r: dict[str, Any], today: dt.date) -> QueueRow:
    patient = ", ".join(x for x in (r["patient_last"], r["patient_first"]) if x)
    due = r["deadline"]
    # Once appealed, the date that matters is when the payer's decision is due.
    nxt = r["follow_up"] if r["follow_up"] and r["status"] == "appealed" else due
    nxt = nxt or r["follow_up"]
    return {
        "id": r["id"],
        "claim": r["claim"],
        "payer_claim_id": r["payer_claim_id"],
        "payer": r["payer"],
        "patient": patient,
        "service_date": r["service_date"],
        "procedure": r["procedure"],
        "modifiers": [m for m in (r["modifiers"] or "").split(",") if m],
        "carc": r["carc"],
        "group": r["group_code"],
        "rarc": [m for m in (r["rarcs"] or "").split(",") if m],
        "category": r["category"],
        "amount_at_risk": _money(r["amount_cents"]),
        "received": r["received"],
        "deadline": due,
        "deadline_basis": r["deadline_basis"],
        "follow_up": r["follow_up"],
        "next_date": nxt,
        "days_left": (dt.date.fromisoformat(nxt) - today).days if nxt else None,
        "due": bool(r["follow_up"] and r["follow_up"] <= today.isoformat()),
        "payer_class": r["payer_class"],
        "level": r["level"] or 1,
        "likelihood": round(r["likelihood"], 3) if r["likelihood"] is not None else None,
        "score": round(r["score"], 3) if r["score"] is not None else None,
        "tier": r["tier"],
        "status": r["status"],
        "team": r["team"],
        "assignee": r["assignee"],
        "recovered": _money(r["recovered_cents"]),
        "outcome_date": r["outcome_date"],
        "action": r["action"] or "appeal",
        "note": r["note"] or "",
    }
