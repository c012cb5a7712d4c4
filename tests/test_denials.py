"""Denials at intake: categories, non-denials, claim/line level, reversals, unknown codes,
deadlines, triage, routing, rules overrides and validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import textwrap
from decimal import Decimal

import pytest

from denialkit import assignment, detection, views, worklist
from denialkit.errors import RulesError
from denialkit.intake import ingest_file
from denialkit.payers import next_step, policy
from denialkit.rules import check_rules, load_rules
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec
from denialkit.triage import blend_likelihood, score

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def staffed(tmp_path):
    d = tmp_path / "myrules"
    d.mkdir()
    (d / "routing.yaml").write_text(
        textwrap.dedent("""\
        categories: {administrative: billing, technical: coding, clinical: clinical,
                     uncategorized: billing}
        teams: {billing: [maria, devon], coding: [priya], clinical: [kim]}
        """)
    )
    return d


def line(carc, amount="100.00", group="CO", proc="99213", remarks=(), **kw):
    return LineSpec(
        proc, D(amount), adjustments=[Adj(group, carc, D(amount))], remarks=tuple(remarks), **kw
    )


def ingest(store, write835, rules, claims, **kw):
    spec = RemitSpec(claims=claims, **kw)
    r = ingest_file(store, write835(spec), rules, TODAY)
    assert r.status == "ingested", r.error
    return worklist.queue(store, TODAY, status="all", limit=None)


@pytest.mark.parametrize(
    "carc,remarks,category",
    [
        ("197", (), "administrative"),
        ("29", (), "administrative"),
        ("27", (), "administrative"),
        ("4", (), "technical"),
        ("97", (), "technical"),
        ("11", (), "technical"),
        ("50", (), "clinical"),
        ("55", (), "clinical"),
        ("16", ("M51",), "technical"),
        ("16", ("N54",), "administrative"),
        ("96", ("N115",), "clinical"),
        ("A1", (), "uncategorized"),
        ("A1", ("N54",), "administrative"),
    ],
)
def test_each_category(store, write835, rules, carc, remarks, category):
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[line(carc, remarks=remarks)])])
    assert (d["carc"], d["category"]) == (carc, category)
    assert d["amount_at_risk"] == "100.00" and d["rarc"] == list(remarks)


@pytest.mark.parametrize(
    "group,carc",
    [
        ("CO", "45"),
        ("PR", "1"),
        ("PR", "2"),
        ("PR", "3"),
        ("OA", "23"),
        ("CO", "253"),
        ("PR", "45"),
        ("OA", "133"),
    ],
)
def test_contractual_cost_sharing_and_pending_are_not_denials(store, write835, rules, group, carc):
    # Part of the charge: a full CO-45 with nothing paid is a zero-allowed review item.
    partial = LineSpec("99213", D("150.00"), adjustments=[Adj(group, carc, D("100.00"))])
    assert ingest(store, write835, rules, [ClaimSpec(lines=[partial])]) == []


def test_amount_at_risk_counts_only_denial_adjustments_and_keeps_all(store, write835, rules):
    ln = LineSpec(
        "97110",
        D("300.00"),
        adjustments=[
            Adj("CO", "45", D("40.00")),
            Adj("PR", "2", D("20.00")),
            Adj("CO", "50", D("150.00")),
            Adj("CO", "97", D("60.00")),
        ],
    )
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[ln])])
    assert d["amount_at_risk"] == "210.00" and d["carc"] == "50"  # largest denial reason
    detail = views.show(store, rules, d["id"], TODAY)
    assert [(r["carc"], r["amount"]) for r in detail["denial"]["reasons"]] == [
        ("50", "150.00"),
        ("97", "60.00"),
    ]


def test_claim_level_and_line_level_denials(store, write835, rules):
    claim = ClaimSpec(
        lines=[line("4", "80.00"), LineSpec("99213", D("50.00"))],
        adjustments=[Adj("CO", "16", D("30.00"))],
        remarks=("N54",),
    )
    rows = ingest(store, write835, rules, [claim])
    assert sorted((r["carc"], r["amount_at_risk"]) for r in rows) == [
        ("16", "30.00"),
        ("4", "80.00"),
    ]
    claim_level = next(r for r in rows if r["carc"] == "16")
    assert claim_level["category"] == "administrative"  # N54 from the claim's MOA


def test_denied_claim_paid_zero_with_status_1_is_found(store, write835, rules):
    [d] = ingest(store, write835, rules, [ClaimSpec(status="1", lines=[line("50", "500")])])
    assert d["amount_at_risk"] == "500.00"


def test_status_4_without_any_adjustment_is_kept_uncategorized(store, write835, rules):
    claim = ClaimSpec(status="4", paid=D(0), lines=[LineSpec("99213", D(100), paid=D(0))])
    [d] = ingest(store, write835, rules, [claim])
    assert (d["category"], d["amount_at_risk"]) == ("uncategorized", "100.00")


def test_zero_allowed_line_is_a_review_item(store, write835, rules):
    claim = ClaimSpec(
        status="4", lines=[LineSpec("99213", D(100), adjustments=[Adj("CO", "45", D(100))])]
    )
    [d] = ingest(store, write835, rules, [claim])
    assert (d["action"], d["carc"], d["amount_at_risk"]) == ("review", "45", "100.00")
    assert d["deadline"] is None and d["follow_up"] == "2026-11-16"  # remittance + 14 days
    assert [r["id"] for r in worklist.queue(store, TODAY)] == [d["id"]]


def test_unknown_carc_is_uncategorized_not_dropped(store, write835, rules):
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[line("Z99")])])
    assert d["category"] == "uncategorized" and d["team"] == "billing"


def test_reversal_and_correction_is_judged_by_the_correction(store, write835, rules):
    original = ClaimSpec("A1", payer_claim_id="ICN1", lines=[line("197", "400")])
    ingest(store, write835, rules, [original], trace="T1")
    reversal = ClaimSpec(
        "A1",
        "22",
        payer_claim_id="ICN1",
        charge=D(-400),
        lines=[LineSpec("99213", D(-400), adjustments=[Adj("CO", "197", D(-400))])],
    )
    paid = ClaimSpec("A1", "1", payer_claim_id="ICN2", lines=[LineSpec("99213", D(400))])
    rows = ingest(store, write835, rules, [reversal, paid], trace="T2")
    # The payer withdrew the denial and paid the corrected claim: recovered, not just reversed.
    assert [(r["status"], r["recovered"]) for r in rows] == [("overturned", "400.00")]
    assert worklist.queue(store, TODAY) == []
    history = store.history(rows[0]["id"])
    assert [h["new_status"] for h in history[-2:]] == ["reversed", "overturned"]
    assert history[-1]["source"].startswith("remittance")


def test_reversal_with_corrected_claim_denied_again_counts_once(store, write835, rules):
    ingest(store, write835, rules, [ClaimSpec("B1", lines=[line("50", "200")])], trace="T1")
    reversal = ClaimSpec(
        "B1",
        "22",
        charge=D(-200),
        lines=[LineSpec("99213", D(-200), adjustments=[Adj("CO", "50", D(-200))])],
    )
    corrected = ClaimSpec("B1", "1", lines=[line("50", "200")])
    ingest(store, write835, rules, [reversal, corrected], trace="T2")
    open_rows = worklist.queue(store, TODAY)
    assert len(open_rows) == 1 and open_rows[0]["amount_at_risk"] == "200.00"


def test_denial_repeated_on_a_later_remittance_stays_one_denial(store, write835, rules):
    ingest(
        store, write835, rules, [ClaimSpec("C1", lines=[line("97", line_control="L1")])], trace="T1"
    )
    ingest(
        store, write835, rules, [ClaimSpec("C1", lines=[line("97", line_control="L1")])], trace="T2"
    )
    [d] = worklist.queue(store, TODAY)
    assert "denied again" in store.history(d["id"])[-1]["detail"]


@pytest.mark.parametrize(
    "received,days,expected",
    [
        ("2026-01-31", 30, "2026-03-02"),
        ("2024-02-28", 1, "2024-02-29"),
        ("2023-02-28", 1, "2023-03-01"),
        ("2024-12-31", 60, "2025-03-01"),
    ],
)
def test_deadline_arithmetic_across_month_ends_and_leap_years(rules, received, days, expected):
    p = policy(rules, [], "ACME HEALTH PLAN", "CI")
    p = dataclasses.replace(p, levels=(p.levels[0].model_copy(update={"window_days": days}),))
    step = next_step(
        p, "appeal", level=1, notice=dt.date.fromisoformat(received), service_date=None
    )
    assert step.deadline.isoformat() == expected


def test_medicare_deadline_adds_five_days_receipt_and_120(store, write835, rules):
    [d] = ingest(
        store,
        write835,
        rules,
        [ClaimSpec(filing_indicator="MB", lines=[line("50")])],
        payer_name="MEDICARE PART B EXAMPLE",
        payment_date="20261102",
    )
    assert d["received"] == "2026-11-02" and d["deadline"] == "2027-03-07"
    assert d["days_left"] == (dt.date(2027, 3, 7) - TODAY).days


def test_commercial_default_window_from_payment_date(store, write835, rules):
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[line("50")])], payment_date="20260610")
    assert d["deadline"] == "2026-12-07"  # 180 days


def test_past_deadline_becomes_expired_and_leaves_the_queue(store, write835, rules):
    [d] = ingest(
        store,
        write835,
        rules,
        [ClaimSpec(lines=[line("50")])],
        payment_date="20250101",
        production_date="20250101",
    )
    assert d["status"] == "expired"
    assert worklist.queue(store, TODAY) == []
    assert store.history(d["id"])[-1]["detail"] == "appeal deadline passed"


def test_score_formula_and_tiers(rules):
    policy = rules.triage
    s = score(Decimal("50000"), 0.5, 10, 0, policy)
    assert s.value == pytest.approx(1.0) and s.urgency == 1.0
    assert s.score == pytest.approx(0.55 + 0.2 * 0.5 + 0.15) and s.tier == "high"
    small = score(Decimal("20"), 0.2, 200, 0, policy)
    assert small.tier == "low"
    recurring = score(Decimal("20"), 0.2, 200, 5, policy)
    assert recurring.strategic == 1.0 and recurring.tier == "standard"  # pattern raises it
    near = score(Decimal("20"), 0.2, 10, 0, policy)
    assert near.tier == "standard"  # small but about to expire
    mid = score(Decimal("20"), 0.2, 67, 0, policy)
    assert mid.urgency == pytest.approx(1 - (67 - 14) / (90 - 14))
    assert score(Decimal("900"), 1.0, 3, 9, policy).tier == "standard"  # never high under $1,000
    assert score(Decimal("9000"), 0.9, 3, 0, policy, "none").tier == "low"  # no appeal rights


def test_recurring_pattern_raises_small_denials(store, write835, rules):
    claims = [ClaimSpec(f"P{i}", lines=[line("97", "15.00", proc="99211")]) for i in range(5)]
    rows = ingest(store, write835, rules, claims)
    assert len(rows) == 5 and {r["tier"] for r in rows} == {"standard"}
    only = RemitSpec(trace="T9", claims=[ClaimSpec("Q", lines=[line("97", "15.00", proc="99999")])])
    ingest_file(store, write835(only), rules, TODAY)
    lone = [r for r in worklist.queue(store, TODAY) if r["procedure"] == "99999"]
    assert lone[0]["tier"] == "low"


def test_likelihood_learns_from_outcomes(store, write835, rules):
    assert blend_likelihood(0.4, 0, 0, 5) == 0.4
    assert blend_likelihood(0.4, 3, 3, 5) == pytest.approx((2 + 3) / 8)
    rows = ingest(
        store, write835, rules, [ClaimSpec(f"P{i}", lines=[line("50")]) for i in range(4)]
    )
    ids = [r["id"] for r in rows]
    for i in ids[:3]:  # three overturned appeals for this payer and CARC
        store.conn.execute(
            "UPDATE denials SET status = 'overturned', appealed_on = received WHERE id = ?", (i,)
        )
    detection.triage(store, rules, TODAY)
    [left] = worklist.queue(store, TODAY)
    assert left["likelihood"] == pytest.approx((0.45 * 5 + 3) / 8, abs=1e-3)


def test_routing_picks_the_least_loaded_member(store, write835, staffed):
    rules = load_rules(staffed)
    rows = ingest(
        store,
        write835,
        rules,
        [ClaimSpec(f"P{i}", lines=[line("29", proc=f"9{i}")]) for i in range(3)]
        + [ClaimSpec("T", lines=[line("4", date="20261015")])],  # resubmit: within 90 days
    )
    by_claim = {r["claim"]: r for r in rows}
    assert [by_claim[f"P{i}"]["assignee"] for i in range(3)] == ["maria", "devon", "maria"]
    assert by_claim["T"]["assignee"] == "priya" and by_claim["T"]["team"] == "coding"
    assert {r["status"] for r in rows} == {"assigned"}


def test_route_and_assign_commands_record_events(store, write835, rules, staffed):
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[line("50")])])
    assert d["assignee"] is None and d["status"] == "new"
    with store.transaction():
        assert assignment.route(store, load_rules(staffed)) == 1
    assignment.assign(store, [d["id"]], "dr.lee", "manager")
    [after] = worklist.queue(store, TODAY)
    assert after["assignee"] == "dr.lee"
    last = store.history(d["id"])[-1]
    assert (last["actor"], last["detail"]) == ("manager", "assigned to dr.lee (was kim)")


def test_user_rules_override_packaged_rules_code_by_code(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "carc.yaml").write_text(
        'codes:\n  "45": {category: technical, description: "we fight these", likelihood: 0.9}\n'
    )
    rules = load_rules(d)
    assert rules.resolve("CO", "45").category == "technical"
    assert rules.resolve("CO", "50").category == "clinical"  # the packaged rule still there


def test_invalid_rules_report_file_line_and_field(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "triage.yaml").write_text(
        textwrap.dedent("""\
        weights: {value: 0.3, likelihood: 0.3, urgency: 0.2, strategic: 0.2}
        value_cap: 5000
        urgent_days: 14
        horizon_days: 120
        prior_weight: 5
        tiers: {high: 1.5, standard: 0.3}
        strategic: {min_count: 5, window_days: 90, min_tier: urgent}
        colour: blue
        """)
    )
    (d / "carc.yaml").write_text('codes:\n  "50":\n    category: clinicall\n    description: x\n')
    rules, problems = check_rules(d)
    assert rules is None
    text = [str(p) for p in problems]
    assert any(t.startswith(f"{d / 'triage.yaml'}:6: tiers.high") for t in text), text
    assert any(t.startswith(f"{d / 'triage.yaml'}:7: strategic.min_tier") for t in text)
    assert any(t.startswith(f"{d / 'triage.yaml'}:8: colour: unknown key") for t in text)
    assert any(t.startswith(f"{d / 'carc.yaml'}:3: codes.50.category") for t in text), text
    with pytest.raises(RulesError, match="invalid rules"):
        load_rules(d)


def test_yaml_syntax_error_names_the_line(tmp_path):
    d = tmp_path / "syntax"
    d.mkdir()
    (d / "payers.yaml").write_text("payers:\n  - name: x\n    window_days: [\n")
    _, problems = check_rules(d)
    assert problems and problems[0].file.endswith("payers.yaml") and problems[0].line


def test_every_active_carc_has_a_rule(rules):
    import csv

    from .conftest import SHARED

    tsv = SHARED / "reference" / "carc.tsv"
    if not tsv.exists():
        pytest.skip("../shared/reference not present")
    with open(tsv, newline="") as f:
        active = {r["code"] for r in csv.DictReader(f, delimiter="\t") if r["status"] == "active"}
    assert active <= set(rules.carc)


def test_queue_json_shape(store, write835, rules):
    [d] = ingest(
        store,
        write835,
        rules,
        [ClaimSpec(lines=[line("50", remarks=("N115",), modifiers=("GP",))])],
    )
    assert list(d) == [
        "id",
        "claim",
        "payer_claim_id",
        "payer",
        "patient",
        "service_date",
        "procedure",
        "modifiers",
        "carc",
        "group",
        "rarc",
        "category",
        "amount_at_risk",
        "received",
        "deadline",
        "deadline_basis",
        "follow_up",
        "next_date",
        "days_left",
        "due",
        "payer_class",
        "level",
        "likelihood",
        "score",
        "tier",
        "status",
        "team",
        "assignee",
        "recovered",
        "outcome_date",
        "action",
        "note",
    ]
    assert d["patient"] == "DOE, JANE" and d["modifiers"] == ["GP"] and d["rarc"] == ["N115"]
    assert 0 <= d["likelihood"] <= 1 and json.dumps(d)


def test_breakdown_rounds_to_four_places_and_names_the_tier(rules):
    s = score(D("12.34"), 0.123456, 30, 0, rules.triage)
    b = s.breakdown()
    assert b["likelihood"] == 0.1235 and b["tier"] == s.tier and b["pattern_count"] == 0
    assert set(b) == {"value", "likelihood", "urgency", "strategic", "pattern_count", "score",
                      "tier"}  # fmt: skip


def test_never_denial_only_for_codes_remarks_cannot_change(rules):
    assert rules.never_denial("CO", "45") and rules.never_denial("PR", "2")
    assert not rules.never_denial("CO", "50")  # a denial
    assert not rules.never_denial("CO", "16")  # remarks decide
    assert not rules.never_denial("CO", "ZZZ")  # unknown: uncategorized, kept


@pytest.mark.parametrize(
    "payer,carc,remarks,action,tier",
    [
        ("MEDICARE PART B", "29", (), "none", "low"),  # not an initial determination
        ("MEDICARE PART B", "18", (), "reopen", None),  # clerical: a reopening
        ("MEDICARE PART B", "16", ("MA130",), "resubmit", None),  # unprocessable
        ("ACME HEALTH PLAN", "29", (), "appeal", None),  # commercial: appeal with proof
        ("ACME HEALTH PLAN", "50", (), "appeal", None),
    ],
)
def test_action_says_when_there_is_nothing_to_appeal(
    store, write835, rules, payer, carc, remarks, action, tier
):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(lines=[line(carc, "900.00", remarks=remarks)])],
        payer_name=payer,
    )  # fmt: skip
    assert d["action"] == action
    if tier:
        assert d["tier"] == tier
    detection.triage(store, rules, TODAY)  # retriage keeps the payer's action
    assert worklist.queue(store, TODAY, status="all")[0]["action"] == action
