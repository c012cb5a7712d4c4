"""Scrub: every rule fires on the history that should trigger it and stays quiet where it
must not; the JSON shape; the exit codes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from denialkit.cli import app
from denialkit.edi837 import parse_837
from denialkit.intake import ingest_paths
from denialkit.rules import load_rules
from denialkit.scrub import Scrubber
from denialkit.synthetic import (
    Adj,
    ClaimFileSpec,
    ClaimLineSpec,
    ClaimSpec,
    D,
    LineSpec,
    RemitSpec,
    SubmittedClaimSpec,
    build_835,
    build_837,
)

from .conftest import ROOT

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


class History:
    """Claims submitted and adjudicated: each entry an 837 claim and what the payer did."""

    def __init__(self, store, tmp_path, rules):
        self.store, self.tmp, self.rules = store, tmp_path, rules
        self.n = 0

    def add(self, procedure="97110", modifiers=(), carc=None, date="20261005", member="M1",
            diagnoses=("M545",), auth=None, times=1, paid=True):  # fmt: skip
        subs, remits = [], []
        for _ in range(times):
            self.n += 1
            pcn = f"H{self.n}"
            subs.append(SubmittedClaimSpec(
                pcn, diagnoses=diagnoses, prior_auth=auth, subscriber=("DOE", "JO", member),
                lines=[ClaimLineSpec(procedure, D("100"), modifiers=modifiers, date=date)],
            ))  # fmt: skip
            adjs = [Adj("CO", carc, D("100"))] if carc else []
            line = LineSpec(procedure, D("100"), modifiers=modifiers, date=date,
                            adjustments=adjs, paid=None if paid or carc else D(0))  # fmt: skip
            remits.append(ClaimSpec(pcn, patient=("DOE", "JO", member), lines=[line],
                                    payer_claim_id=f"ICN{self.n}"))  # fmt: skip
        a = self.tmp / f"h{self.n}.837"
        a.write_text(build_837(ClaimFileSpec(subs, reference=f"R{self.n}", created="20261010")))
        b = self.tmp / f"h{self.n}.835"
        b.write_text(build_835(RemitSpec(claims=remits, trace=f"T{self.n}")))
        report = ingest_paths(self.store, [a, b], rules=self.rules, today=TODAY)
        assert not report.failed


@pytest.fixture
def history(store, tmp_path, rules):
    return History(store, tmp_path, rules)


def scrub(store, rules, tmp_path, *claims, today=TODAY):
    path = tmp_path / "new.837"
    path.write_text(build_837(ClaimFileSpec(list(claims), reference="NEW", created="20261126")))
    return Scrubber(store, rules, today).scrub(parse_837(path))


def new(procedure="97110", modifiers=(), date="20261120", member="M1", diagnoses=("M545",),
        auth=None, pcn="NEW1", **kw):  # fmt: skip
    return SubmittedClaimSpec(
        pcn, diagnoses=diagnoses, prior_auth=auth, subscriber=("DOE", "JO", member),
        lines=[ClaimLineSpec(procedure, D("100"), modifiers=modifiers, date=date)], **kw,
    )  # fmt: skip


def rules_of(result):
    return sorted({f.rule for f in result.flags})


def test_payer_procedure_rate_fires_and_not_for_other_modifiers(store, rules, tmp_path, history):
    history.add("97530", carc="96", times=4)
    history.add("97530", times=2)
    r = scrub(store, rules, tmp_path, new("97530", member="M9"))
    (f,) = [f for f in r.flags if f.rule == "payer_procedure"]
    assert (f.denied, f.of, f.carc, f.since) == (4, 6, "CO-96", "2026-10-05")
    assert f.tier == "high" and f.risk == pytest.approx(4 / 6)
    assert "97530 without modifiers 4 of 6 times since Oct 2026" in f.detail
    assert f.hint  # the prevention text of CO-96 in carc.yaml
    other = scrub(store, rules, tmp_path, new("97530", modifiers=("59",), member="M9"))
    assert "payer_procedure" not in rules_of(other)


def test_rate_needs_enough_evidence(store, rules, tmp_path, history):
    history.add("97530", carc="96", times=2)
    assert "payer_procedure" not in rules_of(scrub(store, rules, tmp_path, new("97530")))


def test_authorization_fires_without_ref_g1_and_not_with_it(store, rules, tmp_path, history):
    history.add("72148", carc="197", times=3, member="M2")
    history.add("72148", auth="A1", times=3, member="M3")
    r = scrub(store, rules, tmp_path, new("72148", member="M4"))
    (f,) = [f for f in r.flags if f.rule == "authorization"]
    assert (f.denied, f.of, f.carc) == (3, 3, "CO-197")
    assert "payer_procedure" not in rules_of(r)  # left to the specific rule
    assert "authorization" not in rules_of(
        scrub(store, rules, tmp_path, new("72148", member="M4", auth="AUTH9"))
    )
    # An authorization on the line (loop 2400 REF*G1) counts too.
    path = tmp_path / "line-auth.837"
    text = build_837(ClaimFileSpec([new("72148", member="M4")], created="20261126"))
    path.write_text(text.replace("DTP*472*D8*20261120~", "DTP*472*D8*20261120~REF*G1*L77~"))
    line_auth = Scrubber(store, rules, TODAY).scrub(parse_837(path))
    assert "authorization" not in rules_of(line_auth)


def test_diagnosis_fires_for_that_principal_diagnosis_only(store, rules, tmp_path, history):
    history.add("97110", modifiers=("GP",), carc="50", diagnoses=("M545",), times=3)
    history.add("97110", modifiers=("GP",), diagnoses=("M1711",), times=3)
    r = scrub(store, rules, tmp_path, new(modifiers=("GP",), diagnoses=("M545", "Z00")))
    (f,) = [f for f in r.flags if f.rule == "diagnosis"]
    assert (f.denied, f.of, f.carc) == (3, 3, "CO-50")
    assert "diagnosis" not in rules_of(
        scrub(store, rules, tmp_path, new(modifiers=("GP",), diagnoses=("M1711",)))
    )


def test_modifiers_fires_when_paid_lines_carried_one_this_line_lacks(
    store, rules, tmp_path, history
):
    history.add("97110", modifiers=("GP",), times=6)
    history.add("97110", carc="4", times=2)
    r = scrub(store, rules, tmp_path, new())
    (f,) = [f for f in r.flags if f.rule == "modifiers"]
    assert (f.denied, f.of, f.carc) == (2, 2, "CO-4") and "modifier GP" in f.detail
    assert "payer_procedure" not in rules_of(r)  # the same CO-4, said better by the modifier
    assert "modifiers" not in rules_of(scrub(store, rules, tmp_path, new(modifiers=("GP",))))


def test_duplicate_fires_for_same_member_procedure_date(store, rules, tmp_path, history):
    history.add("99213", date="20261105", member="M5")
    r = scrub(store, rules, tmp_path, new("99213", date="20261105", member="M5"))
    (f,) = [f for f in r.flags if f.rule == "duplicate"]
    assert (f.denied, f.of, f.carc, f.tier) == (1, 2, "CO-18", "high")
    assert "duplicate" not in rules_of(
        scrub(store, rules, tmp_path, new("99213", date="20261106", member="M5"))
    )
    # A corrected claim repeats the original on purpose.
    assert "duplicate" not in rules_of(
        scrub(
            store,
            rules,
            tmp_path,
            new("99213", date="20261105", member="M5", frequency="7", original_ref="ICN1"),
        )  # fmt: skip
    )


def test_duplicate_inside_the_file(store, rules, tmp_path):
    r = scrub(store, rules, tmp_path, new("99213", pcn="A"), new("99213", pcn="B"))
    assert [f.claim for f in r.flags if f.rule == "duplicate"] == ["A", "B"]


def test_eligibility_fires_until_coverage_is_shown_again(store, rules, tmp_path, history):
    history.add("99213", carc="27", date="20261002", member="M6")
    r = scrub(store, rules, tmp_path, new("99213", date="20261115", member="M6"))
    (f,) = [f for f in r.flags if f.rule == "eligibility"]
    assert (f.carc, f.denied, f.since) == ("CO-27", 1, "2026-10-02")
    assert "eligibility" not in rules_of(
        scrub(store, rules, tmp_path, new("99213", date="20261115", member="M7"))
    )
    history.add("99214", date="20261010", member="M6")  # paid after the denial: covered again
    assert "eligibility" not in rules_of(
        scrub(store, rules, tmp_path, new("99213", date="20261115", member="M6"))
    )


def test_timely_filing_past_and_near_and_not(store, rules, tmp_path):
    past = scrub(store, rules, tmp_path, new(date="20240105"))
    (f,) = [f for f in past.flags if f.rule == "timely_filing"]
    assert (f.tier, f.risk, f.carc) == ("high", 1.0, "CO-29")
    assert "timely_filing" not in rules_of(scrub(store, rules, tmp_path, new(date="20261120")))


def test_thresholds_come_from_triage_yaml(store, tmp_path, history, rules):
    user = tmp_path / "rules"
    user.mkdir()
    text = (ROOT / "rules" / "triage.yaml").read_text()
    (user / "triage.yaml").write_text(text.replace("  min_denied: 3\n", "  min_denied: 10\n"))
    strict = load_rules(user)
    history.add("97530", carc="96", times=4)
    history.add("97530", times=2)
    assert "payer_procedure" in rules_of(scrub(store, rules, tmp_path, new("97530")))
    assert "payer_procedure" not in rules_of(scrub(store, strict, tmp_path, new("97530")))


def test_bad_scrub_settings_are_refused(tmp_path):
    from denialkit.rules import check_rules

    user = tmp_path / "rules"
    user.mkdir()
    text = (ROOT / "rules" / "triage.yaml").read_text()
    (user / "triage.yaml").write_text(text.replace("  min_rate: 0.30\n", "  min_rat: 0.30\n"))
    found, problems = check_rules(user)
    assert found is None and any("min_rat" in str(p) for p in problems)


# -- the command -------------------------------------------------------------------------------


@pytest.fixture
def db(db_target, tmp_path, rules):
    """A store with history on each engine (a SQLite file, or a PostgreSQL URL)."""
    path = db_target
    from denialkit.store import Store

    with Store(path) as s:
        History(s, tmp_path, rules).add("72148", carc="197", times=3, member="M2")
    return path


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"DENIALKIT_TODAY": "2026-11-27",
                                                               "COLUMNS": "160"})  # fmt: skip


def test_cli_json_shape_and_exit_codes(db, tmp_path):
    risky = tmp_path / "risky.837"
    risky.write_text(build_837(ClaimFileSpec([new("72148", member="M4")], created="20261126")))
    clean = tmp_path / "clean.837"
    clean.write_text(build_837(ClaimFileSpec([new("99213", member="M8")], created="20261126")))
    r = run("scrub", risky, "--db", db, "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["claims"], data["lines"]) == (1, 1)
    (flag,) = data["flags"]
    assert set(flag) == {"claim", "line", "procedure", "modifiers", "date_of_service", "payer",
                         "risk", "tier", "rule", "carc", "evidence", "hint"}  # fmt: skip
    assert flag["claim"] == "NEW1" and flag["line"] == 1 and flag["rule"] == "authorization"
    assert flag["evidence"] == {"denied": 3, "of": 3, "since": "2026-10-05"}
    assert flag["date_of_service"] == "2026-11-20" and 0 <= flag["risk"] <= 1
    assert run("scrub", risky, "--db", db, "--fail-on", "high").exit_code == 1
    assert run("scrub", risky, "--db", db, "--fail-on", "standard").exit_code == 1
    assert run("scrub", clean, "--db", db, "--fail-on", "standard").exit_code == 0
    assert run("scrub", risky, "--db", db, "--fail-on", "low").exit_code == 2
    table = run("scrub", risky, "--db", db)
    assert table.exit_code == 0 and "authorization" in table.stdout and "72148" in table.stdout
    csv = run("scrub", risky, "--db", db, "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("claim,line,procedure,modifiers")
    bad = tmp_path / "bad.837"
    bad.write_text(risky.read_text().replace("SV1*HC:72148*100", "SV1*HC:72148*1X0"))
    r = run("scrub", bad, "--db", db)
    assert r.exit_code == 1 and "SV102" in r.stderr and "segment" in r.stderr
    # Nothing was stored by scrubbing.
    from denialkit.store import Store

    with Store(db) as s:
        assert s.query("SELECT COUNT(*) AS n FROM submitted_claims")[0]["n"] == 3


def test_a_file_scrubbed_after_it_was_ingested_is_not_its_own_duplicate(store, rules, tmp_path):
    from denialkit.intake import ingest_file
    from denialkit.scrub import scrub_file

    path = tmp_path / "sent.837"
    path.write_text(build_837(ClaimFileSpec([new("99213")], created="20261126")))
    assert ingest_file(store, path).status == "ingested"
    result = scrub_file(store, rules, path, TODAY)
    assert "duplicate" not in rules_of(result)
    assert any("ingested already" in w for w in result.warnings)
    other = tmp_path / "again.837"
    other.write_text(build_837(ClaimFileSpec([new("99213", pcn="NEW2")], reference="X")))
    assert "duplicate" in rules_of(scrub_file(store, rules, other, TODAY))


def test_history_older_than_history_days_is_not_read(store, rules, tmp_path, history):
    history.add("72148", carc="197", times=3, member="M2", date="20250105")
    assert "authorization" not in rules_of(scrub(store, rules, tmp_path, new("72148")))


@pytest.mark.slow
def test_backtest_meets_its_targets():
    import subprocess
    import sys

    script = ROOT / "benchmarks" / "backtest_scrub.py"
    out = subprocess.run(
        [sys.executable, str(script), "--claims", "250", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["recall"] >= 0.7 and data["precision"] >= 0.6, data
