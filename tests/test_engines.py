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


def _outputs(runner, db: str) -> list[tuple[int, str]]:
    out = []
    for cmd in [c for c in COMMANDS if c[0] in ("queue", "find", "show", "history", "report")]:
        r = runner.invoke(app, [*cmd, "--db", db], env={"DENIALKIT_RULES": str(EXAMPLES / "rules"),
                                                        "DENIALKIT_TODAY": "2026-11-27"})  # fmt: skip
        out.append((r.exit_code, r.stdout))
    return out


def test_migrate_moves_the_demo_store_and_refuses_a_second_run(tmp_path, pg_url):
    runner = CliRunner()
    env = {"DENIALKIT_RULES": str(EXAMPLES / "rules"), "DENIALKIT_TODAY": "2026-11-27"}
    db = str(tmp_path / "demo.db")
    assert runner.invoke(app, ["ingest", str(EXAMPLES), "--db", db], env=env).exit_code == 0
    r = runner.invoke(app, ["migrate", "--from", db, "--to", pg_url, "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert "counts and money totals match" in r.stderr
    with Store(db) as a, Store(pg_url) as b:
        from denialkit.store import figures

        assert figures(a) == figures(b)
        assert figures(b)["claims.rows"] == 15 and figures(b)["claims.charge_cents"] == 493000
        assert a.query("SELECT * FROM events ORDER BY id") == b.query(
            "SELECT * FROM events ORDER BY id"
        )
    assert _outputs(runner, db) == _outputs(runner, pg_url)
    again = runner.invoke(app, ["migrate", "--from", db, "--to", pg_url])
    assert again.exit_code == 1 and "already holds a denialkit store" in again.stderr
    # New work goes on in the target: ids continue after the copied ones.
    r = runner.invoke(app, ["note", "3", "moved to PostgreSQL", "--db", pg_url], env=env)
    assert r.exit_code == 0, r.stderr
    with Store(pg_url) as b:
        assert b.history(3)[-1]["detail"] == "note: moved to PostgreSQL"


@pytest.mark.slow
def test_migrate_moves_a_10000_claim_store(tmp_path, pg_url, write835):
    import datetime as dt

    from denialkit.intake import ingest_file
    from denialkit.rules import load_rules
    from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec

    rules = load_rules(EXAMPLES / "rules")
    carcs = ["16", "97", "50", "29", "4", "197", "45"]
    claims = [
        ClaimSpec(
            patient_control=f"P{i:06d}", payer_claim_id=f"ICN{i:06d}",
            patient=("DOE", f"JANE{i % 97}", f"M{i:07d}"),
            lines=[LineSpec("99213", D("120.00") + i % 50,
                            adjustments=[Adj("CO", carcs[i % len(carcs)], D("40.00") + i % 7)]),
                   LineSpec("85025", D("35.10"))],
        )
        for i in range(10_000)
    ]  # fmt: skip
    db = tmp_path / "big.db"
    with Store(db) as s:
        r = ingest_file(s, write835(RemitSpec(claims=claims)), rules, dt.date(2026, 11, 27))
        assert r.status == "ingested", r.error
    runner = CliRunner()
    r = runner.invoke(app, ["migrate", "--from", str(db), "--to", pg_url])
    assert r.exit_code == 0, r.stderr
    with Store(db) as a, Store(pg_url) as b:
        from denialkit.store import figures

        fa, fb = figures(a), figures(b)
        assert fa == fb and fb["claims.rows"] == 10_000 and fb["denials.rows"] >= 5_000
    assert _outputs(runner, str(db)) == _outputs(runner, pg_url)


def _ingest(target: str, path: str, out) -> None:
    from denialkit.intake import ingest_paths

    with Store(target) as store:
        report = ingest_paths(store, [path])
        out.put([f.status for f in report.files])


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.slow
def test_two_ingests_at_once_both_finish_with_exact_totals(db_target, engine, write835):
    import multiprocessing

    from denialkit.synthetic import ClaimSpec, D, LineSpec, RemitSpec

    def remit(trace: str, start: int) -> RemitSpec:
        return RemitSpec(trace=trace, claims=[
            ClaimSpec(patient_control=f"{trace}{i}", payer_claim_id=f"I{trace}{i}",
                      lines=[LineSpec("99213", D("100.00") + i)])
            for i in range(start, start + 1000)])  # fmt: skip

    files = [str(write835(remit("A", 0))), str(write835(remit("B", 5000)))]
    Store(db_target).close()  # the schema exists before both start
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_ingest, args=(db_target, f, out)) for f in files]
    for p in procs:
        p.start()
    statuses = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert statuses == [["ingested"], ["ingested"]]
    with Store(db_target) as store:
        t = store.totals()
        assert t["claims"] == 2000 and t["service_lines"] == 2000
        expected = sum(100 + i for i in range(1000)) + sum(100 + i for i in range(5000, 6000))
        assert t["total_charge"] == expected
        assert store.query("SELECT COUNT(DISTINCT id) AS n FROM claims") == [{"n": 2000}]


def test_837_linking_scrub_and_unanswered_print_the_same_on_both_engines(tmp_path, pg_url):
    """Submitted claims on PostgreSQL: 837 intake, linking to the remittance, ``show`` with
    the submitted claim, ``scrub`` reading the history, ``report unanswered``: the same."""
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

    def claim(pcn, **kw):
        lines = [ClaimLineSpec("97110", D("95.00"), modifiers=("GP",), line_control="1"),
                 ClaimLineSpec("97140", D("60.00"), units="2", line_control="2")]  # fmt: skip
        return SubmittedClaimSpec(pcn, lines=lines, **kw)

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.837").write_text(
        build_837(
            ClaimFileSpec(
                [claim("ACCT-1", prior_auth="AUTH77"), claim("ACCT-2")], created="20261001"
            )
        )
    )
    (inbox / "b.837").write_text(
        build_837(ClaimFileSpec([claim("ACCT-3")], created="20261120", reference="B2"))
    )
    line = LineSpec(
        "97110",
        D("95.00"),
        modifiers=("GP",),
        adjustments=[Adj("CO", "197", D("95.00"))],
        date="20261005",
    )
    (inbox / "r.835").write_text(
        build_835(
            RemitSpec(claims=[ClaimSpec("ACCT-1", payer_claim_id="ICN1", lines=[line])], trace="T1")
        )
    )
    later = tmp_path / "later.837"
    later.write_text(build_837(ClaimFileSpec([claim("ACCT-9")], reference="C3")))
    commands = [
        ["ingest", str(inbox), "--format", "json"],
        ["show", "1"],
        ["report", "unanswered"],
        ["report", "unanswered", "--days", "5", "--format", "json"],
        ["scrub", str(later), "--format", "json"],
        ["scrub", str(later)],
    ]  # fmt: skip
    env = {"DENIALKIT_TODAY": "2026-11-27", "COLUMNS": "120"}
    runner = CliRunner()
    out = {}
    for db in (str(tmp_path / "c.db"), pg_url):
        out[db] = [
            (r.exit_code, STAMP.sub("T", r.stdout))
            for r in (runner.invoke(app, [*cmd, "--db", db], env=env) for cmd in commands)
        ]
    sqlite, pg = out.values()
    for cmd, a, b in zip(commands, sqlite, pg, strict=True):
        assert a == b, cmd
    assert [code for code, _ in pg] == [0] * len(commands), pg
    assert "Submitted claim ACCT-1" in pg[1][1] and "ACCT-2" in pg[3][1]
    with Store(pg_url) as store:
        assert store.query("SELECT COUNT(*) AS n FROM claim_links") == [{"n": 1}]
