"""The queue and finding, from Python (no CLI): filters, totals, pages, other statuses."""

from __future__ import annotations

import datetime as dt

import pytest

from denialkit import worklist
from denialkit.errors import UsageError
from denialkit.intake import ingest_paths
from denialkit.rules import load_rules

from .conftest import ROOT

TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def demo(store):
    rules = load_rules(ROOT / "examples" / "rules")
    ingest_paths(store, [ROOT / "examples"], rules=rules, today=TODAY)
    return store


def test_find_searches_every_status(demo):
    assert [r["id"] for r in worklist.find(demo, TODAY, "nguyen")] == [1]  # overturned
    assert worklist.find(demo, TODAY, "nguyen")[0]["status"] == "overturned"
    assert worklist.queue(demo, TODAY, patient="nguyen") == []  # the open queue has it not
    assert [r["id"] for r in worklist.find(demo, TODAY, "MB-24002")] == [9]
    assert worklist.find(demo, TODAY, "no such person") == []


def test_totals_pages_and_other_statuses(demo):
    # 12 denials: one overturned, PR-96 the patient's (out of the default queue)
    assert worklist.queue_total(demo, TODAY) == 10
    assert worklist.queue_total(demo, TODAY, status="all") == 11
    assert worklist.queue_total(demo, TODAY, status="all", action="all") == 12
    page = worklist.queue(demo, TODAY, limit=4, offset=8)
    assert len(page) == 2
    assert worklist.elsewhere(demo, TODAY) == {"overturned": 1, "bill_patient": 1}
    assert worklist.elsewhere(demo, TODAY, patient="nguyen") == {"overturned": 1}
    assert worklist.elsewhere(demo, TODAY, status="all") == {"bill_patient": 1}
    assert worklist.elsewhere(demo, TODAY, status="all", action="all") == {}


def test_filters_are_checked(demo):
    with pytest.raises(UsageError, match="unknown sort order"):
        worklist.queue(demo, TODAY, sort="payer")
    # The library names the argument at fault; the CLI words it as its option (cli.worded).
    with pytest.raises(UsageError, match="^patient needs a value$") as err:
        worklist.queue(demo, TODAY, patient="  ")
    assert err.value.parameter == "patient"
    with pytest.raises(UsageError, match="^offset cannot be negative$") as err:
        worklist.queue(demo, TODAY, offset=-1)
    assert err.value.parameter == "offset"
    from denialkit.cli import worded

    assert worded(err.value) == "offset cannot be negative (--offset)"
    assert worklist.queue(demo, TODAY, category="tech") == worklist.queue(
        demo, TODAY, category="technical"
    )
