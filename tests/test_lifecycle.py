"""The denial lifecycle: every legal and illegal move, outcomes and amounts, the audit trail,
automatic resolution from later remittances, and concurrent changes from two processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from decimal import Decimal

import pytest

from denialkit import lifecycle, worklist
from denialkit.errors import InvalidTransition, UsageError
from denialkit.intake import ingest_file
from denialkit.rules import load_rules
from denialkit.store import Store
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec
from denialkit.vocabulary import Status

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def denied(pcn="A1", carc="50", amount="200.00", control="L1", proc="99213", **kw):
    return ClaimSpec(
        pcn,
        payer_claim_id=f"ICN-{pcn}",
        lines=[
            LineSpec(
                proc, D(amount), adjustments=[Adj("CO", carc, D(amount))], line_control=control
            )
        ],
        **kw,
    )


def put(store, write835, rules, claims, trace, date="20261102"):
    r = ingest_file(
        store, write835(RemitSpec(claims=claims, trace=trace, payment_date=date)), rules, TODAY
    )
    assert r.status == "ingested", r.error
    return r


def rows(store):
    return {r["id"]: r for r in worklist.queue(store, TODAY, status="all", limit=None)}


@pytest.fixture
def one(store, write835, rules):
    put(store, write835, rules, [denied()], "T1")
    [d] = rows(store).values()
    return d["id"]


def force(store, denial_id, status):
    store.conn.execute("UPDATE denials SET status = ? WHERE id = ?", (status, denial_id))


# -- moves ------------------------------------------------------------------------------------

ACTIONS = {
    "appealed": lambda s, i: lifecycle.submit(s, i, actor="t", today=TODAY),
    "overturned": lambda s, i: lifecycle.outcome(s, i, "overturned", actor="t", today=TODAY),
    "partially_overturned": lambda s, i: lifecycle.outcome(
        s, i, "partially_overturned", actor="t", recovered=Decimal("50"), today=TODAY
    ),
    "upheld": lambda s, i: lifecycle.outcome(s, i, "upheld", actor="t", today=TODAY),
    "written_off": lambda s, i: lifecycle.writeoff(s, i, "too small", actor="t", today=TODAY),
}


@pytest.mark.parametrize("target", sorted(ACTIONS))
@pytest.mark.parametrize("start", Status.ALL)
def test_every_move_is_allowed_or_refused_by_the_table(store, one, start, target):
    force(store, one, start)
    before = len(store.history(one))
    if target in Status.MOVES[start]:
        ACTIONS[target](store, one)
        assert store.denial(one)["status"] == target
        [event] = store.history(one)[before:]
        assert (event["old_status"], event["new_status"], event["actor"]) == (start, target, "t")
    else:
        with pytest.raises(InvalidTransition) as err:
            ACTIONS[target](store, one)
        assert repr(start) in str(err.value) and repr(target) in str(err.value)
        assert store.denial(one)["status"] == start
        assert len(store.history(one)) == before  # a refused move leaves no event


def test_overturned_recovers_amount_at_risk_and_partial_needs_an_amount(store, one):
    lifecycle.submit(store, one, actor="t", on="2026-11-20", today=TODAY)
    with pytest.raises(UsageError, match="needs the amount recovered"):
        lifecycle.outcome(store, one, "partially_overturned", actor="t", today=TODAY)
    with pytest.raises(UsageError, match="less than the amount at risk"):
        lifecycle.outcome(
            store, one, "partially_overturned", actor="t", recovered=D("200.00"), today=TODAY
        )
    with pytest.raises(UsageError, match="before the appeal"):
        lifecycle.outcome(store, one, "overturned", actor="t", on="2026-11-19", today=TODAY)
    lifecycle.outcome(store, one, "overturned", actor="t", on="2026-11-25", today=TODAY)
    row = rows(store)[one]
    assert (row["status"], row["recovered"], row["outcome_date"]) == (
        "overturned",
        "200.00",
        "2026-11-25",
    )
    assert "recovered 200.00" in store.history(one)[-1]["detail"]


def test_partial_outcome_records_exact_cents(store, one):
    lifecycle.submit(store, one, actor="t", today=TODAY)
    lifecycle.outcome(
        store, one, "partially_overturned", actor="t", recovered=D("80.05"), today=TODAY
    )
    assert rows(store)[one]["recovered"] == "80.05"


def test_bad_dates_and_amounts_are_usage_errors(store, one):
    with pytest.raises(UsageError, match="ISO date"):
        lifecycle.submit(store, one, actor="t", on="03/01/2026", today=TODAY)
    with pytest.raises(UsageError, match="before the remittance"):
        lifecycle.submit(store, one, actor="t", on="2020-01-01", today=TODAY)
    with pytest.raises(UsageError, match="in the future"):
        lifecycle.submit(store, one, actor="t", on="2031-01-01", today=TODAY)
    lifecycle.submit(store, one, actor="t", today=TODAY)
    with pytest.raises(UsageError, match="in the future"):
        lifecycle.outcome(store, one, "upheld", actor="t", on="2026-12-01", today=TODAY)
    with pytest.raises(UsageError):
        lifecycle.parse_amount("12.345")
    assert lifecycle.parse_amount("$1,250.5") == D("1250.5")


def test_note_and_writeoff_are_on_the_history_with_actor(store, one):
    lifecycle.note(store, one, "called payer, ref 8841", actor="maria")
    lifecycle.writeoff(store, one, "below threshold", actor="devon", today=TODAY)
    h = lifecycle.history(store, one)
    assert [(e["actor"], e["detail"]) for e in h[-2:]] == [
        ("maria", "note: called payer, ref 8841"),
        ("devon", "written off: below threshold"),
    ]
    assert h[-1]["source"] == "writeoff"


def test_queue_status_all_lists_resolved_denials(store, one):
    lifecycle.writeoff(store, one, "x", actor="t", today=TODAY)
    assert worklist.queue(store, TODAY) == []
    [row] = worklist.queue(store, TODAY, status="all")
    assert row["status"] == "written_off" and "recovered" in row and "outcome_date" in row


# -- closing the loop from remittances -------------------------------------------------------


def paid(pcn="A1", amount="200.00", paid_amount=None, adj=(), control="L1", **kw):
    return ClaimSpec(
        pcn,
        payer_claim_id=kw.pop("icn", f"ICN-{pcn}-2"),
        lines=[
            LineSpec(
                "99213",
                D(amount),
                paid=None if paid_amount is None else D(paid_amount),
                adjustments=list(adj),
                line_control=control,
            )
        ],
        **kw,
    )


def test_later_payment_in_full_overturns_even_without_a_recorded_appeal(
    store, write835, rules, one
):
    put(store, write835, rules, [paid(adj=[Adj("CO", "45", D("30.00"))])], "T2", "20261120")
    row = rows(store)[one]
    assert (row["status"], row["recovered"], row["outcome_date"]) == (
        "overturned",
        "170.00",
        "2026-11-20",
    )
    event = store.history(one)[-1]
    assert event["source"].startswith("remittance") and event["actor"] == "denialkit"


def test_later_partial_payment_is_partially_overturned(store, write835, rules, one):
    lifecycle.submit(store, one, actor="t", today=TODAY)
    put(
        store,
        write835,
        rules,
        [paid(adj=[Adj("CO", "50", D("120.00"))])],
        "T2",
        "20261120",
    )
    found = rows(store)
    assert (found[one]["status"], found[one]["recovered"]) == ("partially_overturned", "80.00")
    # What is still denied is a live denial of its own, with its own deadline.
    [rest] = [r for i, r in found.items() if i != one]
    assert (rest["status"], rest["amount_at_risk"]) == ("new", "120.00")


def test_denial_repeated_on_the_later_remittance_stays_open(store, write835, rules, one):
    lifecycle.submit(store, one, actor="t", today=TODAY)
    put(store, write835, rules, [denied()], "T2", "20261120")
    found = rows(store)
    assert list(found) == [one] and found[one]["status"] == "appealed"
    assert "denied again" in store.history(one)[-1]["detail"]


def test_reversal_then_payment_overturns(store, write835, rules, one):
    reversal = ClaimSpec(
        "A1",
        "22",
        payer_claim_id="ICN-A1",
        charge=D(-200),
        lines=[LineSpec("99213", D(-200), adjustments=[Adj("CO", "50", D(-200))])],
    )
    put(store, write835, rules, [reversal, paid(icn="ICN-A1")], "T2", "20261120")
    assert rows(store)[one]["status"] == "overturned"


def test_payment_matched_by_payer_claim_number_when_the_account_number_changed(
    store, write835, rules, one
):
    put(store, write835, rules, [paid(pcn="NEW-ACCT", icn="ICN-A1")], "T2", "20261120")
    assert rows(store)[one]["status"] == "overturned"


def test_payment_for_another_line_or_an_earlier_date_does_not_resolve(store, write835, rules, one):
    put(store, write835, rules, [paid(control="L2")], "T2", "20261120")
    put(store, write835, rules, [paid()], "T3", "20261001")  # dated before the denial
    assert rows(store)[one]["status"] == "new"


def test_paid_line_beside_a_denied_line_on_the_same_remittance_resolves_nothing(
    store, write835, rules
):
    claim = ClaimSpec(
        "B1",
        lines=[
            LineSpec("99213", D(100), line_control="1"),
            LineSpec("99213", D(100), adjustments=[Adj("CO", "50", D(100))], line_control="2"),
        ],
    )
    put(store, write835, rules, [claim], "T1")
    [row] = rows(store).values()
    assert row["status"] == "new"


# -- concurrency ------------------------------------------------------------------------------


def _worker(path: str, denial_id: int, who: str, n: int) -> None:
    s = Store(path)
    for i in range(n):
        lifecycle.note(s, denial_id, f"{who} {i}", actor=who)
    if who == "a":
        lifecycle.submit(s, denial_id, actor=who, today=TODAY)
    s.close()


def test_concurrent_changes_from_two_processes_lose_no_event(db_target, write835, rules):
    path = db_target
    s = Store(path)
    put(s, write835, rules, [denied()], "T1")
    [denial_id] = rows(s)
    s.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(path), denial_id, w, 40)) for w in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    s = Store(path)
    h = s.history(denial_id)
    assert sum(e["detail"].startswith("note: a") for e in h) == 40
    assert sum(e["detail"].startswith("note: b") for e in h) == 40
    assert s.denial(denial_id)["status"] == "appealed"
    # Each event's old status is the status left by the event before it: no lost update.
    for before, after in zip(h, h[1:], strict=False):
        assert after["old_status"] == before["new_status"]
