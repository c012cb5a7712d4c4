"""The life of a denial after intake: statuses, the moves between them, and who made each.

Every change is one row in the append-only ``events`` table (time, actor, old and new status,
detail, source). Changes made by staff come through the functions here; changes made by a later
remittance come through ``resolve_from_payment``, called at intake. Each check-and-move runs in
one ``BEGIN IMMEDIATE`` transaction, so two people (or a person and a nightly ingest) changing
the same denial are serialized and neither change nor event is lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import DenialkitError, InvalidTransition, UsageError
from .payers import PayerPolicy, follow_up, next_step, policy
from .rules import Rules, load_rules
from .store import Store, from_cents, to_cents
from .vocabulary import Status, money_cents, now_iso


def check_move(denial_id: int, old: str, new: str) -> None:
    """Raise ``InvalidTransition`` with what is allowed instead, if ``old → new`` is illegal."""
    allowed = Status.MOVES.get(old, {})
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
        day = value
    else:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None
    if day > today:
        raise UsageError(
            f"{what} {day.isoformat()} is in the future (today is {today.isoformat()})"
        )
    return day.isoformat()


def _not_before(day: str, earliest: str | None, what: str, of: str) -> None:
    if earliest and day < earliest:
        raise UsageError(f"{what} {day} is before {of} ({earliest})")


@functools.cache
def _packaged_rules() -> Rules:
    return load_rules()


def denial_policy(store: Store, rules: Rules | None, denial_id: int) -> PayerPolicy:
    """The payer rules for this denial (the packaged rules when none are given)."""
    rules = rules or _packaged_rules()
    r = store.denials_to_triage([denial_id])
    if not r:
        store.denial_state(denial_id)  # NotFound
    row = r[0]
    return policy(
        rules,
        [row["payer_identifier"], row["ref_2u"], row["trace_originator"]],
        row["payer_name"] or "",
        row["filing_indicator"] or "",
    )


def _move(
    store: Store,
    denial_id: int,
    new: Any,
    *,
    actor: str,
    detail: str,
    source: str,
    check: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    describe: Callable[[dict[str, Any], dict[str, Any], str], str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Check and move in one write transaction; ``check(state)`` may refuse (raise) or add
    fields; ``new`` may be a callable decided by the check (upheld or exhausted);
    ``describe(state, fields, status)`` words the event when ``detail`` cannot."""
    with store.transaction():
        state = store.denial_state(denial_id)
        if callable(new):
            extra = (check(state) or {}) if check is not None else {}
            status = new()
            check_move(denial_id, state["status"], status)
        else:
            status = new
            check_move(denial_id, state["status"], status)
            extra = (check(state) or {}) if check is not None else {}
        fields.update(extra)
        if describe is not None:
            text = describe(state, fields, status)
        else:
            text = detail.replace("{day}", str(fields.get("appealed_on", ""))).replace(
                "{recovered}", money_cents(fields.get("recovered_cents") or 0)
            )
        store.set_status(
            denial_id,
            state["status"],
            status,
            actor=actor,
            detail=text,
            source=source,
            at=now_iso(),
            **fields,
        )
    return {**state, **fields, "old_status": state["status"], "status": status}


def mark_drafted(store: Store, denial_id: int, template: str, actor: str) -> bool:
    """A finished letter was rendered: new/assigned → appeal_drafted. Later statuses keep
    theirs (re-rendering a letter for an appealed denial changes nothing); returns moved."""
    with store.transaction():
        status = store.denial_state(denial_id)["status"]
        if status not in Status.DRAFTABLE:
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
    rules: Rules | None = None,
    on: str | dt.date | None = None,
    today: dt.date,
    reference: str = "",
) -> dict[str, Any]:
    """The appeal was sent (``on``, default today; never in the future, never before the
    remittance or the decision it answers). Sets the follow-up date: the day the payer's
    decision is due at this level."""
    day = _date(on, today, "submit date")
    p = denial_policy(store, rules, denial_id)

    def check(state: dict[str, Any]) -> dict[str, Any]:
        _not_before(day, state["received"], "submit date", "the remittance")
        level = state["level"] or 1
        if level > 1:
            _not_before(day, state["level_date"], "submit date", f"the level {level - 1} decision")
        due, _ = follow_up(p, level, dt.date.fromisoformat(day))
        return {"appealed_on": state["appealed_on"] or day, "follow_up": due.isoformat()}

    def describe(state: dict[str, Any], fields: dict[str, Any], status: str) -> str:
        level = state["level"] or 1
        lvl = p.level(level)
        text = f"appeal submitted on {day}, level {level}" + (f" ({lvl.name})" if lvl else "")
        text += f"; follow up by {fields['follow_up']}"
        return text + (f" (reference {reference})" if reference else "")

    return _move(
        store,
        denial_id,
        "appealed",
        actor=actor,
        detail="",
        source="submit",
        check=check,
        describe=describe,
    )


def outcome(
    store: Store,
    denial_id: int,
    result: str,
    *,
    actor: str,
    rules: Rules | None = None,
    recovered: Decimal | None = None,
    on: str | dt.date | None = None,
    today: dt.date,
    force: bool = False,
) -> dict[str, Any]:
    """The payer decided the appeal: ``overturned``, ``partially_overturned`` or ``upheld``.

    Overturned without an amount recovers the amount at risk; a partial overturn needs the
    amount (more than zero, less than the amount at risk); upheld recovers nothing and opens
    the next appeal level, its deadline counted from this decision (``exhausted`` when there
    is no next level). More than the amount at risk (interest paid with it) only with
    ``force``, which the history records.
    """
    if result not in Status.OUTCOMES:
        raise UsageError(f"outcome must be one of {', '.join(Status.OUTCOMES)}")
    if recovered is not None and recovered < 0:
        raise UsageError("recovered amount cannot be negative")
    day = _date(on, today, "outcome date")
    p = denial_policy(store, rules, denial_id)
    new = result

    def check(state: dict[str, Any]) -> dict[str, Any]:
        nonlocal new
        _not_before(day, state["received"], "outcome date", "the remittance")
        _not_before(day, state["appealed_on"], "outcome date", "the appeal")
        at_risk = state["amount_cents"]
        level = state["level"] or 1
        if result == "upheld":
            if recovered:
                raise UsageError("an upheld appeal recovers nothing", remedy="partial")
            nxt = level + 1
            if p.level(nxt) is None:
                new = "exhausted"
                return {
                    "recovered_cents": 0,
                    "outcome_date": day,
                    "follow_up": None,
                    "deadline": None,
                    "deadline_basis": f"appeals exhausted: upheld at level {level}",
                }
            step = next_step(
                p,
                "appeal",
                level=nxt,
                notice=dt.date.fromisoformat(day),
                service_date=None,
                amount=from_cents(at_risk),
            )
            return {
                "recovered_cents": 0,
                "outcome_date": day,
                "level": nxt,
                "level_date": day,
                "deadline": step.deadline.isoformat() if step.deadline else None,
                "deadline_basis": step.basis,
                "follow_up": None,
            }
        if result == "overturned":
            cents = at_risk if recovered is None else to_cents(recovered) or 0
            if cents > at_risk and not force:
                raise UsageError(
                    f"recovered {recovered} is more than the amount at risk "
                    f"({money_cents(at_risk)})",
                    remedy="force_record",
                )
        else:
            if recovered is None:
                raise UsageError(
                    "a partial overturn needs the amount recovered", parameter="recovered"
                )
            cents = to_cents(recovered) or 0
            if not 0 < cents < at_risk:
                raise UsageError(
                    f"a partial overturn recovers more than 0 and less than the amount at risk "
                    f"({money_cents(at_risk)}); got {recovered}"
                )
        return {"recovered_cents": cents, "outcome_date": day, "follow_up": None}

    return _move(
        store,
        denial_id,
        lambda: new,
        actor=actor,
        detail="",
        source="outcome",
        check=check,
        describe=lambda state, fields, status: (
            _outcome_text(p, state, fields, status, day)
            + (
                " (forced: may exceed the amount at risk)"
                if force and recovered is not None
                else ""
            )
        ),
    )


def _outcome_text(
    p: PayerPolicy, state: dict[str, Any], fields: dict[str, Any], status: str, day: str
) -> str:
    level = state["level"] or 1
    lvl = p.level(level)
    name = f"level {level}" + (f" ({lvl.name})" if lvl else "")
    if status == "exhausted":
        return f"appeal upheld at {name} on {day}: no further level; appeals exhausted"
    if status == "upheld":
        nxt = p.level(fields["level"])
        return (
            f"appeal upheld at {name} on {day}; level {fields['level']} "
            f"({nxt.name if nxt else '?'}) due by {fields['deadline']}"
        )
    money = money_cents(fields["recovered_cents"] or 0)
    return f"appeal {status.replace('_', ' ')} at {name} on {day}, recovered {money}"


def writeoff(
    store: Store,
    denial_id: int,
    reason: str,
    *,
    actor: str,
    today: dt.date,
    on: str | dt.date | None = None,
) -> dict[str, Any]:
    """Stop pursuing the denial (``on``, default today), with the reason on its history."""
    if not reason.strip():
        raise UsageError("a write-off needs a reason", parameter="reason")
    return _move(
        store,
        denial_id,
        "written_off",
        actor=actor,
        detail=f"written off: {reason.strip()}",
        source="writeoff",
        outcome_date=_date(on, today, "write-off date"),
    )


def note(store: Store, denial_id: int, text: str, *, actor: str) -> None:
    if not text.strip():
        raise UsageError("a note needs some text")
    store.add_note(denial_id, text.strip(), actor, now_iso())


@dataclass(slots=True)
class Each:
    """One denial of a batch (``submit 12 13 14``): what the move returned, or why not."""

    denial_id: int
    result: Any = None
    error: DenialkitError | None = None


def each(ids: Sequence[int], move: Callable[[int], Any]) -> list[Each]:
    """Apply ``move`` to every id in turn, each in its own transaction: one denial that cannot
    move (already appealed, unknown id) is reported and the others still move. Ids named twice
    are done once."""
    done: list[Each] = []
    for denial_id in dict.fromkeys(ids):
        try:
            done.append(Each(denial_id, move(denial_id)))
        except DenialkitError as exc:
            done.append(Each(denial_id, error=exc))
    return done


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


def same_patient(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any], by_id: bool = True) -> bool:
    """(member id, last, first): the same member id (one payer's ids), else the same name.
    Unknown on either side is not the same: a false match is worse than a missed one."""
    if by_id and a[0] and b[0]:
        return str(a[0]).strip().upper() == str(b[0]).strip().upper()
    if a[1] and b[1]:
        return (str(a[1]).strip().upper(), str(a[2] or "").strip().upper()) == (
            str(b[1]).strip().upper(),
            str(b[2] or "").strip().upper(),
        )
    return False


def same_line(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """(REF*6R, procedure, modifiers, date, position): the control number when both sides have
    one, else procedure + modifiers + date of service + position among identical lines."""
    if a[0] and b[0]:
        return bool(a[0] == b[0])
    return (a[1], a[2] or "", a[3], a[4] or 1) == (b[1], b[2] or "", b[3], b[4] or 1)


def _positions(lines: list[dict[str, Any]]) -> None:
    seen: dict[tuple[Any, ...], int] = {}
    for ln in lines:
        sig = (ln["procedure"], ln["modifiers"] or "", ln["date_from"])
        ln["position"] = seen[sig] = seen.get(sig, 0) + 1


def _claim_date(m: dict[str, Any], lines: list[dict[str, Any]]) -> str | None:
    dates = [ln["date_from"] for ln in lines if ln["date_from"]]
    if dates:
        return str(min(dates))
    when: str | None = m["paid_service_date"] or m["paid_statement_from"]
    return when


def _same_claim(m: dict[str, Any], lines: list[dict[str, Any]]) -> bool:
    """The paid claim is the denied one: CLP07, or CLP01 with the patient and date of service
    (another payer: CLP01 with the patient's name and the date of service)."""
    other_payer = m["denial_payer_id"] != m["paid_payer_id"]
    if not other_payer and m["payer_claim_id"] and m["payer_claim_id"] == m["paid_payer_claim_id"]:
        return True
    if m["claim_date"] is None or m["claim_date"] != _claim_date(m, lines):
        return False
    return same_patient(
        (m["patient_id"], m["patient_last"], m["patient_first"]),
        (m["paid_patient_id"], m["paid_patient_last"], m["paid_patient_first"]),
        by_id=not other_payer,  # member ids differ from payer to payer
    )


def resolve_from_payment(store: Store, batch: PaidBatch) -> int:
    """Resolve the earlier denials that the claims of this batch paid; returns how many changed.

    Candidates come from SQL on the claims just stored (so the many paid claims that never had
    a denial cost nothing here); ``_same_claim`` and ``same_line`` decide. The recovered amount
    is what the later remittance pays on the denied line (or claim) beyond what the first one
    paid, capped at the amount at risk. A line paid with no denial left on it is
    ``overturned``; one still carrying a denial is ``partially_overturned``; a denial that
    said "bill the other payer", paid by another payer, is ``paid_by_other_payer``. A line
    paid nothing more is a repeat, not a resolution. Unmatched stays unmatched.
    """
    matches = store.payment_matches(
        batch.first, batch.last, batch.remittance_id, batch.received, PAID, Status.PAYABLE
    )
    if not matches:
        return 0
    lines: dict[int, list[dict[str, Any]]] = {}
    for ln in store.lines_of([m["paid_claim_id"] for m in matches]):
        lines.setdefault(ln["claim_id"], []).append(ln)
    for claim_lines in lines.values():
        _positions(claim_lines)
    changed = 0
    at = now_iso()
    done: dict[int, int] = {}  # denial id -> recovered cents so far in this batch
    for m in matches:
        paid_lines = lines.get(m["paid_claim_id"], [])
        if not _same_claim(m, paid_lines):
            continue
        cross = m["denial_payer_id"] != m["paid_payer_id"]  # coordination of benefits
        if m["line_id"] is None:
            paid, before = m["paid_claim_cents"] or 0, m["claim_paid_cents"] or 0
            still_denied = m["paid_claim_id"] in batch.denied_claims
        else:
            key = (
                m["line_control"],
                m["procedure"],
                m["modifiers"],
                m["service_date"],
                m["position"],
            )
            line = next(
                (
                    ln
                    for ln in paid_lines
                    if same_line(
                        key,
                        (
                            ln["line_control"],
                            ln["procedure"],
                            ln["modifiers"],
                            ln["date_from"],
                            ln["position"],
                        ),
                    )
                ),
                None,
            )
            if line is None:
                continue
            paid, before = line["paid_cents"] or 0, m["line_paid_cents"] or 0
            still_denied = line["id"] in batch.denied_lines
        if cross:
            before = 0  # the other payer's payment is all new money
        recovered = min(max(paid - before, 0), m["amount_cents"])
        if recovered <= done.get(m["id"], m["recovered_cents"] or 0):
            continue
        if cross:
            new = "paid_by_other_payer"
        else:
            new = "partially_overturned" if still_denied else "overturned"
        with store.transaction():
            state = store.denial_state(m["id"])
            if state["status"] not in Status.PAYABLE:
                continue
            who = "another payer" if cross else "a later remittance"
            store.set_status(
                m["id"],
                state["status"],
                new,
                actor="denialkit",
                detail=(
                    f"paid {money_cents(paid)} by {who} dated {batch.received} "
                    f"({batch.source}): recovered {money_cents(recovered)} of "
                    f"{money_cents(m['amount_cents'])}"
                ),
                source=batch.source,
                at=at,
                recovered_cents=recovered,
                outcome_date=batch.received,
                follow_up=None,
            )
        done[m["id"]] = recovered
        changed += 1
    return changed
