"""Working one queue together: ``next`` takes atomically, ``release`` gives back; client
practices (the payee, N1*PE) filter the queue; on both engines."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os

import pytest

from denialkit import assignment, lifecycle, worklist
from denialkit.intake import ingest_file
from denialkit.rules import load_rules
from denialkit.store import Store
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def _claims(n: int, start: int = 0) -> list[ClaimSpec]:
    return [
        ClaimSpec(
            patient_control=f"C{start + i:06d}",
            payer_claim_id=f"ICN{start + i:06d}",
            lines=[LineSpec("99213", D("100.00"), adjustments=[Adj("CO", "16", D("100.00"))])],
        )
        for i in range(n)
    ]


def _fill(store, write835, rules, n, start=0, **kw):
    spec = RemitSpec(claims=_claims(n, start), payment_date="20261102", **kw)
    r = ingest_file(store, write835(spec), rules, TODAY)
    assert r.status == "ingested", r.error
    return r


def test_next_takes_the_most_urgent_once_and_records_it(store, write835, rules):
    _fill(store, write835, rules, 3)
    queue = worklist.queue(store, TODAY, limit=None)
    assert all(r["assignee"] is None for r in queue)  # the packaged rules route to nobody
    first = assignment.take_next(store, "maria")
    assert first == queue[0]["id"]
    d = store.denial(first)
    assert (d["assignee"], d["status"]) == ("maria", "assigned")
    assert store.history(first)[-1]["source"] == "next"
    # Already yours: taken again (the work in hand) until it is done or given back.
    assert assignment.take_next(store, "maria") == first
    # Somebody else gets the next one.
    second = assignment.take_next(store, "devon")
    assert second == queue[1]["id"]
    assert assignment.release(store, first, "maria") == "maria"
    assert store.denial(first)["status"] == "new" and store.denial(first)["assignee"] is None
    assert assignment.release(store, first, "maria") is None
    assert assignment.take_next(store, "priya") == first
    third = queue[2]["id"]
    assert assignment.take_next(store, "lee") == third
    assert assignment.take_next(store, "kim") is None


def test_next_filters_by_category_team_and_practice(store, write835, rules):
    _fill(store, write835, rules, 2)
    _fill(store, write835, rules, 2, start=100, trace="T2", payee_name="HILLTOP CLINIC",
          payee_npi="1999999984", payee_tin="987654321")  # fmt: skip
    hilltop = assignment.take_next(store, "maria", practice="987654321")
    assert store.letter_facts(hilltop)["payee"]["name"] == "HILLTOP CLINIC"
    assert assignment.take_next(store, "devon", practice="hilltop") != hilltop
    assert assignment.take_next(store, "lee", practice="hilltop") is None
    assert assignment.take_next(store, "lee", category="clinical") is None
    assert assignment.take_next(store, "lee", team="nosuchteam") is None
    rows = worklist.queue(store, TODAY, limit=None, practice="1234567893")
    assert len(rows) == 2
    assert len(worklist.find(store, TODAY, "DOE", practice="RIVERSIDE")) == 2


def _worker(target: str, name: str, out, start) -> None:
    taken = []
    with Store(target) as store:
        # All open their store, then all start: on a loaded machine the first process could
        # otherwise empty a small queue before the last has started.
        start.wait(timeout=120)
        while (denial_id := assignment.take_next(store, name)) is not None:
            taken.append(denial_id)
            # Done with it: written off, so it leaves the work (a guarded lifecycle move).
            lifecycle.writeoff(store, denial_id, "test", actor=name, today=TODAY)
    out.put((name, taken))


def _race(target: str, workers: int) -> dict[str, list[int]]:
    ctx = multiprocessing.get_context("spawn" if os.name != "posix" else "fork")
    out = ctx.Queue()
    start = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_worker, args=(target, f"w{i}", out, start)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.slow
def test_several_processes_take_every_denial_exactly_once(db_target, engine, write835, rules):
    n = 2000 if engine == "postgresql" else 300
    with Store(db_target) as store:
        _fill(store, write835, rules, n)
        assert store.count("denials") == n
    results = _race(db_target, 8)
    taken = [i for ids in results.values() for i in ids]
    assert len(taken) == n and len(set(taken)) == n  # every denial, each exactly once
    assert sum(1 for ids in results.values() if ids) >= 2  # they really worked side by side
    with Store(db_target) as store:
        events = store.query(
            "SELECT denial_id, actor, COUNT(*) AS n FROM events WHERE source = 'next' "
            "GROUP BY denial_id, actor"
        )
        assert len(events) == n and all(e["n"] == 1 for e in events)
        by_worker = {name: set(ids) for name, ids in results.items()}
        assert all(e["denial_id"] in by_worker[e["actor"]] for e in events)
        assert store.queue_count(statuses=("new", "assigned")) == 0
