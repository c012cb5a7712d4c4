"""The HTML summary reads at a glance (issue 12): round ticks, no one-bar chart, whole labels
with the group code, thousands separators, flags as the thresholds define them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from denialkit.cli import app
from denialkit.reports import (
    nice_ticks,
    pattern_label,
    short_dollars,
    shorten,
    svg_hbars,
    svg_stacked_months,
)

from .conftest import ROOT


@pytest.mark.parametrize(
    "top,labels",
    [
        ("89603545", ["$0", "$25M", "$50M", "$75M", "$100M"]),
        ("3900", ["$0", "$1k", "$2k", "$3k", "$4k"]),
        ("1500", ["$0", "$500", "$1k", "$1.5k"]),
        ("100", ["$0", "$25", "$50", "$75", "$100"]),
    ],
)
def test_axis_ticks_are_round(top, labels):
    ticks = nice_ticks(Decimal(top))
    assert ticks[-1] >= Decimal(top) and [short_dollars(t) for t in ticks] == labels


def _month(month, amount, category="clinical"):
    return {"month": month, "category": category, "amount": amount}


def test_monthly_chart_needs_two_months():
    one = str(svg_stacked_months([_month("2026-11", "89603545.10")]))
    assert "<svg" not in one and "received in 2026-11" in one and "$89,603,545.10" in one
    two = str(svg_stacked_months([_month("2026-10", "89603545.10"), _month("2026-11", "5.00")]))
    assert "<svg" in two
    ticks = re.findall(r'font-size="10">(\$[^<]*)</text>', two)
    assert ticks == ["$0", "$25M", "$50M", "$75M", "$100M"]


def test_bar_labels_keep_codes_whole_and_cut_names_at_words():
    p = {"payer": "BLUESTONE COMMERCIAL HEALTH PLAN OF THE MIDWEST", "procedure": "70553",
         "group": "CO", "carc": "197"}  # fmt: skip
    label = pattern_label(p)
    assert label.endswith(" 70553 CO-197") and len(label) <= 42
    assert label.startswith("BLUESTONE COMMERCIAL HEALTH… ")  # cut between words
    assert shorten("ALPHA BETA GAMMA", 12) == "ALPHA BETA…"
    svg = str(svg_hbars([(label, Decimal("1234567.00"), True)]))
    assert "CO-197" in svg and "$1,234,567.00" in svg and "#d62728" in svg


def test_summary_page_on_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", "2026-11-27")
    monkeypatch.setenv("DENIALKIT_RULES", str(ROOT / "examples" / "rules"))
    runner = CliRunner()
    db = tmp_path / "demo.db"
    assert runner.invoke(app, ["ingest", str(ROOT / "examples"), "--db", str(db)]).exit_code == 0
    page = runner.invoke(app, ["report", "summary", "--format", "html", "--db", str(db)]).stdout
    assert "The monthly chart needs two months or more" in page  # the demo is one month
    assert "70553 CO-197" in page  # the group code with the reason
    # 11 patterns: PR-96 is the patient's to pay, not a denial
    assert re.search(r"Flagged \(red bars, highlighted rows\): 0 of 11 patterns", page)
    assert "unlikely by chance" in page
    assert "$3,820.00" in page  # denied: the PR-96 ($80.00) is the patient's


def test_counts_have_thousands_separators_in_the_page(store):
    import datetime as dt

    from denialkit.reports import render_html

    data = {"report": "summary", "as_of": "2026-11-27", "period": {"since": None, "until": None},
            "payer": None, "headline": {"open_denials": 40078, "open_amount": "1.00",
            "high_tier_open": 1234, "high_tier_amount": "0.00", "due_within_7_days": 0,
            "past_deadline": 0, "past_deadline_amount": "0.00", "recovered": "0.00",
            "denied": "0.00", "recovery_rate": None, "overturn_rate": None,
            "flagged_patterns": 2, "unassigned": 1000, "follow_up_due": 0},
            "sections": {}}  # fmt: skip
    page = render_html(data, store, dt.date(2026, 11, 27))
    assert "<b>40,078</b>open denials" in page and "<b>1,234</b>" in page
    assert "<b>1,000</b>unassigned" in page
