"""Judgments a billing office has to trust: payer classes, a deadline for each next step
(computed here by hand), appeal levels, follow-up dates; and counting: one denial per denied
line, later payments matched only to the right claim, coordination of benefits, what is not a
denial, tiers that separate."""

from __future__ import annotations

import datetime as dt
import random
import textwrap
from decimal import Decimal

import pytest

from denialkit import detection, lifecycle, views, worklist
from denialkit.intake import ingest_file
from denialkit.rules import check_rules, load_rules
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec
from denialkit.triage import score

TODAY = dt.date(2026, 11, 27)
PAID_ON = "20261102"  # the remittance date used below: 2026-11-02


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def denied(carc, amount="100.00", group="CO", proc="99213", remarks=(), **kw):
    return LineSpec(
        proc, D(amount), adjustments=[Adj(group, carc, D(amount))], remarks=tuple(remarks), **kw
    )


def ingest(store, write835, rules, claims, **kw):
    kw.setdefault("payment_date", PAID_ON)
    r = ingest_file(store, write835(RemitSpec(claims=claims, **kw)), rules, TODAY)
    assert r.status == "ingested", r.error
    return worklist.queue(store, TODAY, status="all", action="all", limit=None)


# -- payer classes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,filing,expected",
    [
        ("MEDICARE PART B EXAMPLE", "MB", "medicare"),
        ("AARP MEDICARE COMPLETE", "HM", "medicare_advantage"),
        ("AETNA MEDICARE", "CI", "medicare_advantage"),
        ("UNITEDHEALTHCARE MEDICARE SOLUTIONS", "HM", "medicare_advantage"),
        ("HUMANA GOLD PLUS HMO", "HM", "medicare_advantage"),
        ("ANY PLAN", "16", "medicare_advantage"),
        ("MERIDIAN STATE MEDICAID", "MC", "medicaid"),
        ("MOLINA HEALTHCARE MEDICAID", "MC", "medicaid_managed"),
        ("TRICARE EAST", "CH", "tricare"),
        ("VETERANS AFFAIRS CCN", "VA", "va"),
        ("STATE FUND", "WC", "workers_comp"),
        ("MUTUAL AUTO", "AM", "auto"),
        ("UNITEDHEALTHCARE", "CI", "commercial"),
        ("BLUE MEDICARE SUPPLEMENT", "CI", "commercial"),
    ],
)
def test_payer_class(store, write835, rules, name, filing, expected):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator=filing, lines=[denied("50")])],
        payer_name=name,
    )  # fmt: skip
    assert d["payer_class"] == expected
    basis = views.show(store, rules, d["id"], TODAY)["denial"]["class_basis"]
    assert basis  # says which rule decided


def test_medicare_advantage_by_name_gets_60_days_and_can_appeal_29(store, write835, rules):
    rows = ingest(
        store, write835, rules,
        [ClaimSpec("A", filing_indicator="HM", lines=[denied("50")]),
         ClaimSpec("B", filing_indicator="HM", lines=[denied("29", proc="99214")])],
        payer_name="AARP MEDICARE COMPLETE",
    )  # fmt: skip
    by = {r["claim"]: r for r in rows}
    assert by["A"]["deadline"] == "2027-01-01"  # 2026-11-02 + 60, no receipt days
    assert by["B"]["action"] == "appeal"  # CO-29 "no appeal rights" is traditional Medicare's


def test_medicare_advantage_by_filing_indicator_16(store, write835, rules):
    [d] = ingest(store, write835, rules, [ClaimSpec(filing_indicator="16", lines=[denied("50")])])
    assert (d["payer_class"], d["deadline"]) == ("medicare_advantage", "2027-01-01")


def test_tricare_is_90_days(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="CH", lines=[denied("50")])],
        payer_name="TRICARE EAST REGION",
    )  # fmt: skip
    assert d["deadline"] == "2027-01-31"  # + 90


def test_medicaid_and_commercial_default(store, write835, rules):
    [m] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MC", lines=[denied("50")])],
        payer_name="MERIDIAN STATE MEDICAID", trace="T1",
    )  # fmt: skip
    assert m["deadline"] == "2027-01-31"  # + 90
    rows = ingest(
        store, write835, rules, [ClaimSpec("C", payer_claim_id="ICN-C", lines=[denied("50")])],
        trace="T2", payer_id="ACME2",
    )  # fmt: skip
    [c] = [r for r in rows if r["claim"] == "C"]
    assert (c["payer_class"], c["deadline"]) == ("commercial", "2027-05-01")  # + 180


def test_traditional_medicare_redetermination(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MB", lines=[denied("50")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    assert d["deadline"] == "2027-03-07"  # 2026-11-02 + 5 receipt days + 120
    assert "405.942" in d["deadline_basis"] and "redetermination" in d["deadline_basis"]


def test_user_payers_yaml_entry_wins(tmp_path, store, write835):
    d = tmp_path / "myrules"
    d.mkdir()
    from denialkit.settings import packaged_rules_dir

    text = (packaged_rules_dir() / "payers.yaml").read_text()
    # First in the list: the first entry that matches applies.
    text = text.replace(
        "payers:\n",
        "payers:\n"
        + textwrap.indent(
            textwrap.dedent("""\
        - name: Acme contract
          name_pattern: "acme"
          class: commercial
          window_days: 45
          timely_filing_days: 120
          appeals: {address: "PO Box 9\\nAppeal City ST 00001", fax: "555-0100"}
        """),
            "  ",
        ),
        1,
    )
    (d / "payers.yaml").write_text(text)
    rules = load_rules(d)
    rows = ingest(
        store, write835, rules,
        [ClaimSpec("A", lines=[denied("50")]), ClaimSpec("B", lines=[denied("4", proc="99214")])],
        payer_name="ACME MEDICARE PLAN",
    )  # fmt: skip
    by = {r["claim"]: r for r in rows}
    assert by["A"]["payer_class"] == "commercial"  # the entry forces it over the name
    assert by["A"]["deadline"] == "2026-12-17"  # + 45
    assert by["B"]["deadline"] == "2027-02-02"  # resubmit: DOS 2026-10-05 + 120 days
    shown = views.show(store, rules, by["A"]["id"], TODAY)["denial"]
    assert shown["class_basis"] == "payers.yaml entry 'Acme contract'"


# -- a deadline for each next step -----------------------------------------------------------


def test_medicare_ma130_resubmit_by_date_of_service_plus_one_year(store, write835, rules):
    [d] = ingest(
        store, write835, rules,
        [ClaimSpec(filing_indicator="MB",
                   lines=[denied("16", remarks=("MA130",), date="20260215")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    assert d["action"] == "resubmit"
    assert d["deadline"] == "2027-02-15"  # one calendar year after the date of service
    assert "424.44" in d["deadline_basis"]


def test_old_date_of_service_resubmit_is_already_expired(store, write835, rules):
    [d] = ingest(
        store, write835, rules,
        [ClaimSpec(filing_indicator="MB",
                   lines=[denied("16", remarks=("MA130",), date="20251020")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    assert (d["deadline"], d["status"]) == ("2026-10-20", "expired")


def test_medicare_co18_reopen_within_a_year(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MB", lines=[denied("18")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    assert (d["action"], d["deadline"]) == ("reopen", "2027-11-02")  # + 365
    assert "405.980" in d["deadline_basis"]


@pytest.mark.parametrize(
    "line,payer,action",
    [
        (denied("4"), "ACME", "resubmit"),
        (denied("11"), "ACME", "resubmit"),
        (denied("11", remarks=("N115",)), "ACME", "appeal"),
        (denied("16"), "ACME", "resubmit"),
        (denied("146"), "ACME", "resubmit"),
        (denied("22", remarks=("MA04",)), "ACME", "bill_other_payer"),
        (denied("109"), "ACME", "bill_other_payer"),
        (denied("B11"), "ACME", "bill_other_payer"),
        (denied("96", group="PR"), "ACME", "bill_patient"),
        (denied("204", group="PR"), "ACME", "bill_patient"),
        (denied("50", group="PR", modifiers=("GA",)), "ACME", "bill_patient"),
        (denied("50", group="PR"), "ACME", "appeal"),  # no ABN: the practice's loss to fight
        (denied("96", remarks=("N425",)), "ACME", "none"),
        (denied("27"), "ACME", "bill_other_payer"),
        (denied("31"), "ACME", "resubmit"),
        (denied("185"), "ACME", "resubmit"),
        (denied("B9"), "ACME", "bill_other_payer"),
        (denied("29"), "MEDICARE PART B", "none"),
        (denied("29"), "ACME", "appeal"),
    ],
)
def test_action_for_each_code(store, write835, rules, line, payer, action):
    filing = "MB" if payer.startswith("MEDICARE") else "CI"
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator=filing, lines=[line])],
        payer_name=payer,
    )  # fmt: skip
    assert d["action"] == action
    if action in ("bill_patient", "none"):
        assert d["deadline"] is None and d["tier"] == "low"


def test_authorization_remark_decides_over_generic_one_in_any_order(rules):
    for remarks in (("M51", "N54"), ("N54", "M51")):
        assert rules.resolve("CO", "16", remarks).category == "administrative"


def test_bill_patient_is_out_of_the_default_queue(store, write835, rules):
    ingest(store, write835, rules, [ClaimSpec(lines=[denied("96", group="PR")])])
    assert worklist.queue(store, TODAY) == []
    [d] = worklist.queue(store, TODAY, action="bill_patient")
    assert d["action"] == "bill_patient"


# -- appeal levels and follow-up --------------------------------------------------------------


def test_upheld_at_level_1_opens_medicare_reconsideration(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MB", lines=[denied("50")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    r = lifecycle.submit(store, d["id"], actor="t", on="2026-11-10", today=TODAY, rules=rules)
    assert r["follow_up"] == "2027-01-09"  # + 60 days for the MAC's decision
    [q] = worklist.queue(store, TODAY)
    assert (q["status"], q["follow_up"], q["next_date"], q["days_left"], q["due"]) == (
        "appealed", "2027-01-09", "2027-01-09", 43, False)  # fmt: skip
    r = lifecycle.outcome(store, d["id"], "upheld", actor="t", on="2026-11-20", today=TODAY,
                          rules=rules)  # fmt: skip
    assert (r["status"], r["level"]) == ("upheld", 2)
    [q] = worklist.queue(store, TODAY)  # still open work, at level 2
    assert (q["level"], q["deadline"], q["follow_up"]) == (2, "2027-05-24", None)
    assert "reconsideration" in q["deadline_basis"] and "405.962" in q["deadline_basis"]
    # 2026-11-20 + 5 + 180 = 2027-05-24
    again = lifecycle.submit(store, d["id"], actor="t", on="2026-11-25", today=TODAY, rules=rules)
    assert again["follow_up"] == "2027-01-24"
    assert store.denial(d["id"])["appealed_on"] == "2026-11-10"  # the first appeal's date stays


def test_level_3_shows_the_amount_in_controversy_minimum(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MB", lines=[denied("50", "95.00")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    for day in ("2026-11-05", "2026-11-10", "2026-11-15", "2026-11-20"):
        if store.denial(d["id"])["status"] == "appealed":
            lifecycle.outcome(store, d["id"], "upheld", actor="t", on=day, today=TODAY,
                              rules=rules)  # fmt: skip
        else:
            lifecycle.submit(store, d["id"], actor="t", on=day, today=TODAY, rules=rules)
    row = store.denial(d["id"])
    assert row["level"] == 3 and "ALJ" in row["deadline_basis"]
    assert "below this level's $200.00 minimum" in row["deadline_basis"]


def test_last_level_upheld_is_exhausted(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="VA", lines=[denied("50")])],
        payer_name="VETERANS AFFAIRS",
    )  # fmt: skip
    lifecycle.submit(store, d["id"], actor="t", on="2026-11-05", today=TODAY, rules=rules)
    r = lifecycle.outcome(store, d["id"], "upheld", actor="t", on="2026-11-20", today=TODAY,
                          rules=rules)  # fmt: skip
    assert r["status"] == "exhausted"
    assert worklist.queue(store, TODAY) == []
    lifecycle.writeoff(store, d["id"], "appeals exhausted", actor="t", today=TODAY)


def test_past_follow_up_is_due_work(store, write835, rules):
    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[denied("50")])])
    lifecycle.submit(store, d["id"], actor="t", on="2026-11-03", today=TODAY, rules=rules)
    later = TODAY + dt.timedelta(days=30)  # commercial decision due in 30 days: 2026-12-03
    [q] = worklist.queue(store, later)
    assert (q["follow_up"], q["due"], q["days_left"]) == ("2026-12-03", True, -24)


def test_rules_check_validates_new_keys(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "carc.yaml").write_text('codes:\n  "50":\n    category: clinical\n'
                                 '    description: x\n    action: apeal\n')  # fmt: skip
    from denialkit.settings import packaged_rules_dir

    text = (packaged_rules_dir() / "payers.yaml").read_text()
    (d / "payers.yaml").write_text(text + "  - name: x\n    name_pattern: x\n    window_days: -3\n")
    _, problems = check_rules(d)
    text = "\n".join(map(str, problems))
    assert "carc.yaml:5: codes.50.action" in text
    assert "payers.yaml" in text and "window_days" in text


# -- counting ---------------------------------------------------------------------------------


def test_two_identical_lines_are_two_denials(store, write835, rules):
    lines = [denied("16", "1200.00", proc="J9035"), denied("16", "800.00", proc="J9035")]
    rows = ingest(store, write835, rules, [ClaimSpec(lines=lines)])
    assert sorted(r["amount_at_risk"] for r in rows) == ["1200.00", "800.00"]


def test_reused_claim_number_is_no_false_overturn(store, write835, rules):
    sept = ClaimSpec("ACCT7", payer_claim_id="ICN-SEP", lines=[denied("197", "80.00",
                     line_control="1", date="20260905")])  # fmt: skip
    ingest(store, write835, rules, [sept], trace="T1", payment_date="20261001")
    octo = ClaimSpec(
        "ACCT7",
        payer_claim_id="ICN-OCT",
        lines=[LineSpec("99213", D("80.00"), line_control="1", date="20261010")],
    )
    ingest(store, write835, rules, [octo], trace="T2", payment_date="20261101")
    [d] = worklist.queue(store, TODAY)
    assert d["status"] == "new" and d["recovered"] is None


def test_new_denial_on_reused_claim_number_is_its_own(store, write835, rules):
    sept = ClaimSpec(
        "ACCT7", payer_claim_id="ICN-SEP", lines=[denied("16", line_control="1", date="20260905")]
    )
    octo = ClaimSpec(
        "ACCT7", payer_claim_id="ICN-OCT", lines=[denied("16", line_control="1", date="20261010")]
    )
    ingest(store, write835, rules, [sept], trace="T1", payment_date="20261001")
    rows = ingest(store, write835, rules, [octo], trace="T2", payment_date="20261101")
    assert len(rows) == 2 and {r["service_date"] for r in rows} == {"2026-09-05", "2026-10-10"}


def test_same_claim_denied_again_stays_one_denial(store, write835, rules):
    first = ClaimSpec("ACCT8", payer_claim_id="ICN-1", lines=[denied("16", line_control="1")])
    again = ClaimSpec("ACCT8", payer_claim_id="ICN-2", lines=[denied("16", line_control="1")])
    ingest(store, write835, rules, [first], trace="T1", payment_date="20261101")
    [d] = ingest(store, write835, rules, [again], trace="T2", payment_date="20261102")
    assert "denied again" in store.history(d["id"])[-1]["detail"]


def test_claim_level_denial_not_overturned_by_an_unrelated_paid_claim(store, write835, rules):
    c27 = ClaimSpec(
        "ACCT9",
        payer_claim_id="ICN-A",
        adjustments=[Adj("CO", "27", D("100.00"))],
        lines=[LineSpec("99213", D("100.00"), paid=D(0), date="20260901")],
    )
    ingest(store, write835, rules, [c27], trace="T1", payment_date="20261001")
    other = ClaimSpec(
        "ACCT9", payer_claim_id="ICN-B", lines=[LineSpec("99213", D("100.00"), date="20261020")]
    )
    ingest(store, write835, rules, [other], trace="T2", payment_date="20261101")
    [d] = worklist.queue(store, TODAY)
    assert d["status"] == "new"


def test_paid_by_the_other_payer_resolves_cob(store, write835, rules):
    acme = ClaimSpec("ACCT5", payer_claim_id="A-1", lines=[denied("22", "150.00")])
    ingest(store, write835, rules, [acme], trace="T1", payment_date="20261020")
    blue = ClaimSpec("ACCT5", payer_claim_id="B-1", lines=[LineSpec("99213", D("150.00"))])
    ingest(store, write835, rules, [blue], trace="T2", payer_name="BLUE STATE",
           payer_id="B0002")  # fmt: skip
    [d] = worklist.queue(store, TODAY, status="all", action="all")
    assert (d["status"], d["recovered"]) == ("paid_by_other_payer", "150.00")
    assert "another payer" in store.history(d["id"])[-1]["detail"]


@pytest.mark.parametrize("adj", [Adj("CO", "24", D("100.00")), Adj("OA", "23", D("100.00"))])
def test_capitation_and_prior_payer_alone_are_not_denials(store, write835, rules, adj):
    claim = ClaimSpec(status="4", adjustments=[adj],
                      lines=[LineSpec("99213", D("100.00"), paid=D(0))])  # fmt: skip
    assert ingest(store, write835, rules, [claim]) == []


def test_tiers_separate_and_dollars_dominate(store, write835, rules):
    rng = random.Random(7)
    claims = []
    for i in range(120):
        # Most denials under $300, a tail of large ones (lognormal, median about $150).
        amount = Decimal(str(round(min(rng.lognormvariate(5.0, 1.0), 20000), 2))).quantize(
            Decimal("0.01")
        )
        carc = rng.choice(["50", "197", "97", "4", "16", "27", "11", "29"])
        claims.append(ClaimSpec(f"P{i}", lines=[denied(carc, f"{amount:.2f}",
                                                        proc=f"9{i % 40:04d}")]))  # fmt: skip
    claims.append(ClaimSpec("BIG", lines=[denied("50", "50000.00", proc="27447")]))
    ingest(store, write835, rules, claims)
    q = worklist.queue(store, TODAY, limit=None)
    shares = {t: sum(r["tier"] == t for r in q) / len(q) for t in ("high", "standard", "low")}
    assert max(shares.values()) <= 0.60, shares
    big = next(i for i, r in enumerate(q) if r["claim"] == "BIG")
    assert q[big]["tier"] == "high"
    assert all(i > big for i, r in enumerate(q) if Decimal(r["amount_at_risk"]) < 1000)


def test_fifty_thousand_with_150_days_is_high(rules):
    s = score(Decimal("50000"), 0.45, 150, 0, rules.triage)
    assert s.tier == "high"
    assert score(Decimal("5000"), 0.3, 30, 0, rules.triage).tier == "high"
    assert score(Decimal("99"), 0.9, 60, 0, rules.triage).tier == "low"


# -- the denial rate over time ----------------------------------------------------------------


def test_trend_counts_each_claim_once_at_first_adjudication(store, write835, rules):
    from denialkit import reports

    def paid(proc="99213", amount="100.00"):
        return LineSpec(proc, D(amount), line_control="1")

    sept = [
        ClaimSpec("S1", payer_claim_id="I-S1", lines=[denied("50", "100.00"), paid("99214")]),
        ClaimSpec("S2", payer_claim_id="I-S2", lines=[paid()]),
        ClaimSpec("S3", payer_claim_id="I-S3", adjustments=[Adj("CO", "27", D("200.00"))],
                  lines=[LineSpec("99213", D("100.00"), paid=D(0)),
                         LineSpec("99214", D("100.00"), paid=D(0))]),
    ]  # fmt: skip
    ingest(store, write835, rules, sept, trace="T9", payment_date="20260915")
    octo = [
        # S1 reversed and re-adjudicated (paid): neither adds a claim to October.
        ClaimSpec("S1", "22", payer_claim_id="I-S1", charge=D("-200.00"),
                  lines=[LineSpec("99213", D("-100.00"), adjustments=[Adj("CO", "50", D("-100.00"))]),
                         LineSpec("99214", D("-100.00"))]),
        ClaimSpec("S1", payer_claim_id="I-S1B", lines=[paid(), paid("99214")]),
        ClaimSpec("O1", payer_claim_id="I-O1", lines=[paid()]),
        ClaimSpec("O2", payer_claim_id="I-O2", lines=[denied("96", "50.00", group="PR")]),
    ]  # fmt: skip
    ingest(store, write835, rules, octo, trace="T10", payment_date="20261015")
    nov = [
        ClaimSpec("O3", payer_claim_id="I-O3", lines=[denied("197", "300.00")]),
        # S3 adjudicated again and denied again: the same claim, not a new one.
        ClaimSpec("S3", payer_claim_id="I-S3B", adjustments=[Adj("CO", "27", D("200.00"))],
                  lines=[LineSpec("99213", D("100.00"), paid=D(0)),
                         LineSpec("99214", D("100.00"), paid=D(0))]),
    ]  # fmt: skip
    ingest(store, write835, rules, nov, trace="T11", payment_date="20261102")
    t = reports.trend(store)
    got = [(m["month"], m["claims"], m["denied_claims"], m["lines"], m["denied_lines"],
            m["billed"], m["denied_amount"]) for m in t["months"]]  # fmt: skip
    assert got == [
        ("2026-09", 3, 2, 5, 3, "500.00", "300.00"),  # S1 line 1; S3 whole claim (2 lines)
        ("2026-10", 2, 0, 2, 0, "150.00", "0.00"),  # O1, O2 (PR-96 is the patient's)
        ("2026-11", 1, 1, 1, 1, "300.00", "300.00"),  # O3; S3 again is not a new claim
    ]
    sep = t["months"][0]
    assert (sep["claim_denial_rate"], sep["line_denial_rate"], sep["dollar_denial_rate"]) == (
        0.6667, 0.6, 0.6)  # fmt: skip
    cats = {(r["month"], r["category"]): (r["denied_claims"], r["denied_lines"], r["claims"])
            for r in t["by_category"]}  # fmt: skip
    assert cats == {("2026-09", "clinical"): (1, 1, 3), ("2026-09", "administrative"): (1, 2, 3),
                    ("2026-11", "administrative"): (1, 1, 1)}  # fmt: skip
    assert {r["payer"] for r in t["by_payer"]} == {"ACME HEALTH PLAN"}
    assert reports.trend(store, since="2026-10-01")["months"][0]["month"] == "2026-10"


# -- letters that match the payer and the level -----------------------------------------------


def _letter(store, rules, denial_id, config=None):
    from denialkit import letter_context, letters
    from denialkit.config import Config, Practice, Signer

    config = config or Config(
        practice=Practice(name="Riverside", address="12 Main St", npi="1234567893",
                          phone="555-0100", contact="Dana Reyes"),
        signer=Signer(name="Dana Reyes", credentials="CPC", title="Billing Manager"),
    )  # fmt: skip
    ctx = letter_context.letter_context(store, rules, config, denial_id, TODAY)
    return letters.LetterWriter().render(ctx, draft=True).text


def test_medicare_letters_by_level(store, write835, rules):
    [d] = ingest(
        store, write835, rules,
        [ClaimSpec(filing_indicator="MB", lines=[denied("29")]),
         ClaimSpec("B", filing_indicator="MB", lines=[denied("50", proc="99214")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )[-1:]  # fmt: skip
    d = next(r for r in worklist.queue(store, TODAY, action="all") if r["carc"] == "50")
    text = _letter(store, rules, d["id"])
    assert "# Request for Redetermination" in text
    assert "**Medicare number (MBI):** MEMBER001" in text and "**Beneficiary:** JANE DOE" in text
    assert "Medicare Administrative Contractor" in text and "Dana Reyes, CPC" in text
    assert "**Requested by:** Riverside (the provider), Dana Reyes" in text  # 405.944(b)
    lifecycle.submit(store, d["id"], actor="t", on="2026-11-05", today=TODAY, rules=rules)
    lifecycle.outcome(store, d["id"], "upheld", actor="t", on="2026-11-20", today=TODAY,
                      rules=rules)  # fmt: skip
    text = _letter(store, rules, d["id"])
    assert "# Request for Reconsideration" in text and "Qualified Independent Contractor" in text
    assert "made the redetermination on 2026-11-20" in text
    assert "The redetermination decision dated 2026-11-20" in text


def test_commercial_letters_cite_no_medicare_only_rules(store, write835, rules):
    rows = ingest(
        store, write835, rules,
        [ClaimSpec("A", lines=[denied("29")]), ClaimSpec("B", lines=[denied("197", proc="70553")])],
    )  # fmt: skip
    for r in rows:
        text = _letter(store, rules, r["id"])
        assert "424.44" not in text and "422.138" not in text and "Medicare" not in text
        assert "**Member ID:**" in text


def test_medicare_advantage_letter_is_a_plan_reconsideration(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="HM", lines=[denied("197")])],
        payer_name="AARP MEDICARE COMPLETE",
    )  # fmt: skip
    text = _letter(store, rules, d["id"])
    assert "# Request for Reconsideration" in text and "the Medicare Advantage plan" in text
    assert "422.138" in text and "405.944" not in text


def test_appeals_address_from_payers_yaml(tmp_path, store, write835):
    from denialkit.settings import packaged_rules_dir

    d = tmp_path / "r"
    d.mkdir()
    text = (
        (packaged_rules_dir() / "payers.yaml")
        .read_text()
        .replace(
            "payers:\n",
            "payers:\n  - name: Acme\n    name_pattern: acme\n    appeals: {attention: Provider "
            'Disputes, address: "PO Box 9\\nAppeal City ST 00001", fax: 555-0199}\n',
            1,
        )
    )
    (d / "payers.yaml").write_text(text)
    rules = load_rules(d)
    [row] = ingest(store, write835, rules, [ClaimSpec(lines=[denied("50")])])
    letter = _letter(store, rules, row["id"])
    assert "Attn: Provider Disputes" in letter and "PO Box 9" in letter
    assert "Fax 555-0199" in letter


def test_retriage_keeps_the_level_and_its_deadline(store, write835, rules):
    [d] = ingest(
        store, write835, rules, [ClaimSpec(filing_indicator="MB", lines=[denied("50")])],
        payer_name="MEDICARE PART B EXAMPLE",
    )  # fmt: skip
    lifecycle.submit(store, d["id"], actor="t", on="2026-11-05", today=TODAY, rules=rules)
    lifecycle.outcome(store, d["id"], "upheld", actor="t", on="2026-11-20", today=TODAY,
                      rules=rules)  # fmt: skip
    before = store.denial(d["id"])
    detection.triage(store, rules, TODAY)
    after = store.denial(d["id"])
    assert (after["level"], after["deadline"], after["deadline_basis"]) == (
        before["level"], before["deadline"], before["deadline_basis"])  # fmt: skip


def test_upgrade_from_schema_3_fills_levels_and_claim_dates(tmp_path, write835, rules):
    from denialkit.store import Store

    db = tmp_path / "old.db"
    with Store(db) as store:
        ingest(store, write835, rules, [ClaimSpec(lines=[denied("50"), LineSpec("99214")])])
        # What a schema-3 database holds: none of the new columns filled.
        store.conn.execute(
            "UPDATE claims SET dos = NULL, line_count = NULL, claim_key = NULL, first_adj = NULL"
        )
        store.conn.execute("UPDATE denials SET level = NULL, level_date = NULL, claim_date = NULL")
        store.conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        store.conn.execute("DROP TABLE migrations")  # recorded from schema 5 on
    with Store(db) as store:
        [c] = store.query("SELECT dos, line_count, claim_key, first_adj FROM claims")
        assert (c["dos"], c["line_count"], c["first_adj"]) == ("2026-10-05", 2, 1)
        assert c["claim_key"] is not None
        [d] = store.query("SELECT level, level_date, received, claim_date FROM denials")
        assert (d["level"], d["level_date"], d["claim_date"]) == (1, d["received"], "2026-10-05")


def test_an_older_remittance_stored_later_becomes_the_first_adjudication(store, write835, rules):
    from denialkit import reports

    claim = ClaimSpec("Z1", payer_claim_id="I-Z1", lines=[denied("50")])
    ingest(store, write835, rules, [claim], trace="T2", payment_date="20261102")
    ingest(store, write835, rules, [claim], trace="T1", payment_date="20260915")  # backfill
    months = [(m["month"], m["claims"]) for m in reports.trend(store)["months"]]
    assert months == [("2026-09", 1)]


def test_rate_chart_has_round_ticks_and_needs_two_months():
    import re

    from denialkit.reports import svg_rate_line

    months = [{"month": f"2026-0{i + 1}", "claims": 9, "claim_denial_rate": v}
              for i, v in enumerate([0.153, 0.12, 0.09])]  # fmt: skip
    assert re.findall(r">(\d+%)<", str(svg_rate_line(months))) == ["0%", "5%", "10%", "15%", "20%"]
    assert "One month so far" in str(svg_rate_line(months[:1]))


@pytest.mark.parametrize("line,letter", [
    (denied("50"), True),
    (denied("22"), False),  # bill the other payer
    (denied("96", group="PR"), False),  # the patient's
    (LineSpec("99213", D("100.00"), adjustments=[Adj("CO", "45", D("100.00"))]), False),  # review
])  # fmt: skip
def test_letters_only_for_appeals_and_reopenings(store, write835, rules, line, letter):
    from denialkit import appeals, letters
    from denialkit.config import Config, Practice
    from denialkit.errors import InvalidTransition

    [d] = ingest(store, write835, rules, [ClaimSpec(lines=[line])])
    config = Config(practice=Practice(name="R", address="A", npi="1", phone="5", contact="D"))
    writer = letters.LetterWriter()
    if letter:
        appeals.appeal(store, rules, config, writer, d["id"], draft=True, today=TODAY, actor="t")
    else:
        with pytest.raises(InvalidTransition) as refused:
            appeals.appeal(store, rules, config, writer, d["id"], draft=True, today=TODAY,
                           actor="t")  # fmt: skip
        assert refused.value.remedy == "force_letter"  # the CLI says: --force writes it anyway
