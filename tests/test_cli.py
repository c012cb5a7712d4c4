from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from denialkit.cli import app
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec, build_835

from .conftest import ROOT


@pytest.fixture
def runner():
    return CliRunner()


def test_ingest_json_is_one_object_on_stdout(runner, tmp_path):
    db = tmp_path / "x.db"
    result = runner.invoke(
        app, ["ingest", str(ROOT / "examples"), "--db", str(db), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {
        "files",
        "transactions",
        "claims",
        "service_lines",
        "total_charge",
        "total_paid",
        "payment_total",
        "plb_total",
        "adjustments_by_group",
        "claims_by_status",
        "denials",
        "claims_submitted",
        "submitted_lines",
        "submitted_charge",
        "claims_linked",
        "denials_resubmitted",
        "errors",
        "warnings",
        "suppressed_warnings",
    }
    assert data["files"] == {"ingested": 4, "duplicate": 0, "failed": 0}
    assert data["claims"] == 15 and data["service_lines"] == 22
    assert data["total_charge"] == "4930.00" and data["plb_total"] == "134.33"
    assert data["adjustments_by_group"]["CO"] == "2778.42"
    assert set(data["adjustments_by_group"]) == {"CO", "PR", "OA", "PI", "CR"}
    assert data["claims_by_status"] == {"1": 13, "22": 1, "4": 1}
    again = runner.invoke(
        app, ["ingest", str(ROOT / "examples"), "--db", str(db), "--format", "json"]
    )
    assert json.loads(again.stdout)["files"] == {"ingested": 0, "duplicate": 4, "failed": 0}
    assert json.loads(again.stdout)["claims"] == 0


def test_ingest_table_and_exit_1_when_a_file_fails(runner, tmp_path):
    good = tmp_path / "good.835"
    good.write_text(build_835(RemitSpec(claims=[ClaimSpec(lines=[LineSpec()])])))
    bad = tmp_path / "bad.835"
    bad.write_text(
        build_835(
            RemitSpec(
                trace="B", claims=[ClaimSpec(lines=[LineSpec(adjustments=[Adj("CO", "45", D(1))])])]
            )
        ).replace("CAS*CO*45*1", "CAS*CO*45*x")
    )
    result = runner.invoke(app, ["ingest", str(good), str(bad), "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 1
    assert "Ingest summary" in result.stdout and "files failed" in result.stdout
    assert "error: " in result.stderr and "bad.835: segment" in result.stderr
    assert "CAS03: amount 'x' is not a number" in result.stderr
    assert "DOE" not in result.stderr  # no patient names in messages


def test_usage_errors_exit_2(runner, tmp_path):
    assert runner.invoke(app, ["ingest", str(tmp_path / "missing.835")]).exit_code == 2
    assert runner.invoke(app, ["ingest"]).exit_code == 2
    assert runner.invoke(app, ["ingest", str(tmp_path), "--format", "xml"]).exit_code == 2


def test_db_from_environment(runner, tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("DENIALKIT_DB", str(db))
    result = runner.invoke(app, ["ingest", str(ROOT / "examples" / "plb-recoupments.835")])
    assert result.exit_code == 0 and db.exists()


def test_default_db_in_current_directory(runner, tmp_path):
    result = runner.invoke(app, ["ingest", str(ROOT / "examples" / "plb-recoupments.835")])
    assert result.exit_code == 0 and (tmp_path / "denialkit.db").exists()


def _commands(group, prefix=()):
    import typer.main

    cmd = typer.main.get_command(group)
    out = []
    for name, sub in getattr(cmd, "commands", {}).items():
        out.append((*prefix, name))
        out.extend((*prefix, name, s) for s in getattr(sub, "commands", {}))
    return out


def test_every_command_has_help(runner):
    commands = _commands(app)
    assert ("ingest",) in commands
    for cmd in commands:
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, cmd
        assert len(result.stdout.strip().splitlines()) > 3, cmd


@pytest.fixture
def demo_db(demo_store):
    """The demo store, on each engine (a SQLite file, or a PostgreSQL URL)."""
    return demo_store


def test_queue_formats(runner, demo_db):
    data = json.loads(
        runner.invoke(app, ["queue", "--db", str(demo_db), "--format", "json"]).stdout
    )
    # 12 denials: one overturned by a later payment, PR-96 is the patient's (bill_patient).
    assert len(data) == 10 and all(r["status"] == "assigned" for r in data)
    assert [r["tier"] for r in data] == sorted(
        (r["tier"] for r in data), key=["high", "standard", "low"].index
    )
    csv_out = runner.invoke(app, ["queue", "--db", str(demo_db), "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("id,claim,payer_claim_id,payer,patient")
    assert len(csv_out.splitlines()) == 11
    table = runner.invoke(
        app, ["queue", "--db", str(demo_db), "--tier", "low"], env={"COLUMNS": "80"}
    )
    assert table.exit_code == 0 and "CO-29" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    filtered = json.loads(
        runner.invoke(
            app, ["queue", "--db", str(demo_db), "--team", "coding", "--format", "json"]
        ).stdout
    )
    assert filtered and {r["team"] for r in filtered} == {"coding"}
    every = json.loads(
        runner.invoke(
            app, ["queue", "--db", str(demo_db), "--status", "all", "--format", "json"]
        ).stdout
    )
    # Denial 1 was overturned by a later payment; 6 (PR-96) is the patient's, not listed.
    assert {r["id"]: r["status"] for r in every} == {
        1: "overturned",
        **dict.fromkeys((2, 3, 4, 5, 7, 8, 9, 10, 11, 12), "assigned"),
    }


def test_queue_bad_status_is_a_usage_error(runner, demo_db):
    result = runner.invoke(app, ["queue", "--db", str(demo_db), "--status", "nope"])
    assert result.exit_code == 2 and "unknown status" in result.stderr


def test_show_assign_route_retriage(runner, demo_db):
    shown = runner.invoke(app, ["show", "2", "--db", str(demo_db)])
    assert shown.exit_code == 0 and "CO-4" in shown.stdout and "History" in shown.stdout
    detail = json.loads(
        runner.invoke(app, ["show", "2", "--db", str(demo_db), "--format", "json"]).stdout
    )
    assert detail["denial"]["carc_description"].startswith("Procedure code does not agree")
    assert runner.invoke(app, ["show", "999", "--db", str(demo_db)]).exit_code == 1
    assigned = runner.invoke(
        app, ["assign", "2", "3", "--to", "sam", "--db", str(demo_db), "--actor", "boss"]
    )
    assert assigned.exit_code == 0 and "assigned 2 denials to sam" in assigned.stderr
    assert (
        runner.invoke(app, ["assign", "4040", "--to", "sam", "--db", str(demo_db)]).exit_code == 1
    )
    routed = runner.invoke(app, ["route", "--db", str(demo_db)])
    # The intake routed every denial already: nothing is left unassigned.
    assert routed.exit_code == 0 and routed.stderr == "routed 0 denials\n"
    result = runner.invoke(app, ["retriage", "--db", str(demo_db)])
    assert result.exit_code == 0 and "retriaged 11 open denials" in result.stderr


def test_rules_check_and_ingest_refuses_invalid_rules(runner, tmp_path):
    ok = runner.invoke(app, ["rules", "check"])
    assert ok.exit_code == 0 and "rules OK" in ok.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "routing.yaml").write_text(
        "categories: {technical: coding}\nteams: {coding: []}\nextra: 1\n"
    )
    result = runner.invoke(app, ["rules", "check", str(bad)])
    assert result.exit_code == 1 and "routing.yaml:3: extra: unknown key" in result.stderr
    ingest = runner.invoke(
        app, ["ingest", str(ROOT / "examples"), "--rules", str(bad), "--db", str(tmp_path / "x.db")]
    )
    assert ingest.exit_code == 1 and "invalid rules" in ingest.stderr
    assert not (tmp_path / "x.db").exists()


def test_readme_appeal_walkthrough_on_the_demo_database(runner, demo_db, tmp_path, monkeypatch):
    for key, value in (("practice.phone", "(555) 010-2000"), ("practice.contact", "Dana Reyes")):
        assert runner.invoke(app, ["config", "set", key, value]).exit_code == 0
    fields = ROOT / "examples" / "appeal-9.yaml"
    out = tmp_path / "appeal-9.md"
    r = runner.invoke(app, ["appeal", "9", "--fields", str(fields), "--out", str(out),
                            "--db", str(demo_db)])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    text = out.read_text()
    assert "Request for Redetermination" in text and "LCD L34049" in text and "[[" not in text
    assert "Medicare number (MBI)" in text and "Medicare Administrative Contractor" in text
    letters = tmp_path / "letters"
    r = runner.invoke(app, ["appeal", "--tier", "low", "--draft", "--out", str(letters),
                            "--db", str(demo_db)])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "skipped: denial 10" in r.stderr and "resubmit" in r.stderr  # MA130: no appeal
    assert len(list(letters.iterdir())) == 5  # 7 low: 5 appeals, 2 resubmits (10, 12)


def test_queue_table_says_which_denials_are_not_worked_by_appeal(runner, demo_db):
    r = runner.invoke(app, ["queue", "--db", str(demo_db)])
    assert r.exit_code == 0
    # Demo denial 10 is Medicare CO-16 with MA130: unprocessable, corrected and resubmitted.
    assert "correct and resubmit the claim (not an appeal): 2, 5, 12, 10" in r.stderr


def test_every_command_closes_the_store_it_opened(runner, demo_db, monkeypatch):
    from denialkit.store import Store

    closed: list[int] = []
    real_close = Store.close

    def close(self):
        closed.append(id(self))
        real_close(self)

    monkeypatch.setattr(Store, "close", close)
    assert runner.invoke(app, ["queue", "--db", str(demo_db)]).exit_code == 0
    assert len(closed) == 1
    # Also when the command fails: the session is the typer context's resource.
    assert runner.invoke(app, ["show", "999", "--db", str(demo_db)]).exit_code == 1
    assert len(closed) == 2
    # A command that needs no store opens none.
    assert runner.invoke(app, ["rules", "check"]).exit_code == 0
    assert len(closed) == 2
