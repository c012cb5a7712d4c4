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
        "errors",
        "warnings",
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
