"""The same commands on both engines: every command works and prints the same on SQLite and
PostgreSQL; PostgreSQL specifics (URL handling, the nightly advisory lock)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from denialkit.cli import app
from denialkit.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# Times of day in events differ between two runs; nothing else may.
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")

COMMANDS = [
    ["queue"],
    ["queue", "--format", "json"],
    ["queue", "--status", "all", "--format", "csv"],
    ["find", "SMITH"],
    ["show", "3"],
    ["show", "3", "--format", "json"],
    ["history", "3"],
    *[["report", k] for k in ("tracking", "patterns", "team", "roi", "trend", "summary")],
    ["report", "summary", "--format", "json"],
    ["report", "summary", "--by", "practice"],
    ["report", "tracking", "--practice", "1234567893"],
    ["report", "roi", "--format", "csv"],
    ["next", "--as", "kim", "--format", "json"],
    ["release", "3", "--actor", "kim"],
    ["assign", "4", "--to", "lee"],
    ["note", "4", "called the payer", "--actor", "lee"],
    ["writeoff", "5", "--reason", "small balance", "--actor", "lee"],
    ["queue", "--assignee", "lee", "--format", "json"],
    ["report", "team", "--format", "json"],
]


def _run(runner, db: str) -> list[tuple[int, str]]:
    out = []
    for cmd in [["ingest", str(EXAMPLES)], *COMMANDS]:
        r = runner.invoke(app, [*cmd, "--db", db], env={"DENIALKIT_RULES": str(EXAMPLES / "rules"),
                                                        "DENIALKIT_TODAY": "2026-11-27"})  # fmt: skip
        out.append((r.exit_code, STAMP.sub("T", r.stdout)))
    return out


def test_every_command_prints_the_same_on_both_engines(tmp_path, pg_url):
    runner = CliRunner()
    sqlite = _run(runner, str(tmp_path / "demo.db"))
    pg = _run(runner, pg_url)
    for cmd, a, b in zip(["ingest", *map(" ".join, COMMANDS)], sqlite, pg, strict=True):
        assert a == b, cmd
    assert all(code == 0 for code, _ in pg[:-1]), pg


def test_a_missing_postgres_database_is_an_error_without_the_password(tmp_path):
    runner = CliRunner()
    url = "postgresql://someone:s3cret-pw@127.0.0.1:1/nosuchdb"
    r = runner.invoke(app, ["queue", "--db", url])
    assert r.exit_code == 1
    assert "s3cret-pw" not in r.output and "s3cret-pw" not in (r.stderr or "")
    assert "someone@127.0.0.1:1/nosuchdb" in r.stderr


def test_a_postgres_schema_without_denialkit_tables_is_refused_for_reading(pg_url):
    r = CliRunner().invoke(app, ["queue", "--db", pg_url])
    assert r.exit_code == 1 and "no denialkit database at postgresql://" in r.stderr


def test_config_show_never_prints_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_DB", "postgresql://biller:hunter2@db.example/denials")
    r = CliRunner().invoke(app, ["config", "show"])
    assert "hunter2" not in r.output
    assert "postgresql://biller@db.example/denials" in r.output


def test_nightly_on_postgres_takes_the_advisory_lock(tmp_path, pg_url):
    from denialkit import nightly
    from denialkit.rules import load_rules

    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, inbox, ignore=shutil.ignore_patterns("rules", "*.py", "*.yaml"))
    rules = load_rules(EXAMPLES / "rules")
    import datetime as dt

    today = dt.date(2026, 11, 27)
    with Store(pg_url) as holder, Store(pg_url) as store:
        assert holder.try_lock("nightly")
        with pytest.raises(nightly.Locked, match="advisory lock"):
            nightly.run(store, rules, today, inbox=inbox, reports_dir=tmp_path / "r")
        holder.unlock("nightly")
        result = nightly.run(store, rules, today, inbox=inbox, reports_dir=tmp_path / "r",
                             archive=tmp_path / "archive", practice="1234567893")  # fmt: skip
        assert result.ok and len(result.archived) == 4
        assert not (tmp_path / "r" / "denialkit.db.nightly.lock").exists()
        assert store.totals()["claims"] == 15
        assert holder.try_lock("nightly")  # released at the end of the run
        holder.unlock("nightly")
