"""A biller's day through the command line: safe defaults, tables that never cut money,
finding a denial from a phone call, batch work, checked options (issue 12)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from denialkit.cli import app
from denialkit.store import Store
from denialkit.worklist import QUEUE_COLUMNS

from .conftest import ROOT


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def demo_db(demo_store):
    """The demo store, on each engine (a SQLite file, or a PostgreSQL URL)."""
    return demo_store


def run(runner, *args, columns=100, **kw):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)}, **kw)


def ids(result) -> list[int]:
    return [r["id"] for r in json.loads(result.stdout)]


# -- never create a database by accident -------------------------------------------------------

READ_ONLY = [
    ["queue"],
    ["find", "SMITH"],
    ["show", "1"],
    ["history", "1"],
    ["report", "summary"],
    ["report", "tracking", "--format", "html"],
    ["appeal", "1", "--draft"],
    ["submit", "1"],
    ["outcome", "1", "--upheld"],
    ["writeoff", "1", "--reason", "x"],
    ["note", "1", "called"],
    ["assign", "1", "--to", "sam"],
    ["route"],
    ["retriage"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_on_a_missing_database_leave_no_file(runner, tmp_path, args):
    typo = tmp_path / "nosuch.db"
    result = run(runner, *args, "--db", typo)
    assert result.exit_code == 1, result.output
    assert f"no denialkit database at {typo}" in result.stderr
    assert "run 'denialkit ingest' first" in result.stderr
    assert list(tmp_path.glob("nosuch.db*")) == []


def test_default_database_is_not_created_by_queue(runner, tmp_path):
    result = run(runner, "queue")
    assert result.exit_code == 1 and "no denialkit database at denialkit.db" in result.stderr
    assert not (tmp_path / "denialkit.db").exists()


# -- configuration order -----------------------------------------------------------------------


def test_db_and_rules_from_config_with_flag_env_config_default_order(
    runner, demo_db, tmp_path, monkeypatch
):
    monkeypatch.delenv("DENIALKIT_RULES")
    shown = run(runner, "config", "show")
    assert "db: denialkit.db (from default)" in shown.stdout
    assert "rules: packaged rules only (from default)" in shown.stdout

    assert run(runner, "config", "set", "db", demo_db).exit_code == 0
    assert run(runner, "config", "set", "rules", ROOT / "examples" / "rules").exit_code == 0
    shown = run(runner, "config", "show")
    assert f"db: {demo_db} (from config" in shown.stdout
    assert f"rules: {ROOT / 'examples' / 'rules'} (from config" in shown.stdout
    assert len(ids(run(runner, "queue", "--format", "json"))) == 10  # no --db: the config's

    other = tmp_path / "other.db"
    monkeypatch.setenv("DENIALKIT_DB", str(other))
    assert "db: " + str(other) + " (from $DENIALKIT_DB)" in run(runner, "config", "show").stdout
    assert run(runner, "queue").exit_code == 1  # the environment wins over the config
    assert "from --db" in run(runner, "config", "show", "--db", demo_db).stdout
    assert run(runner, "queue", "--db", demo_db).exit_code == 0  # the flag wins over both

    assert run(runner, "config", "set", "db", "").exit_code == 0  # empty removes the key
    assert "db:" not in (tmp_path / "config.yaml").read_text()


def test_config_set_rules_must_be_a_directory(runner, tmp_path):
    result = run(runner, "config", "set", "rules", tmp_path / "missing")
    assert result.exit_code == 2 and "does not exist" in result.stderr


# -- tables that never cut money, dates, codes or ids ------------------------------------------


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_queue_table_fits_and_never_cuts_amounts_or_codes(runner, demo_db, columns):
    result = run(runner, "queue", "--status", "all", "--db", demo_db, columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    table = result.stdout
    # Every amount and reason is whole: the overturned CO-197 for 2,400.00 and the others.
    assert "2,400.00" in table and "CO-197" in table and "CO-B7" in table
    assert not re.search(r"\d…|CO-…|…\d", table)
    header = lines[0].split()
    assert header[:2] == ["ID", "Status"]  # --status is not open: the status is shown
    assert "overturned" in table
    if columns >= 120:
        assert "Patient" in header and "Claim" in header and "CHEN, WEI" in table
    if columns == 60:
        assert "not shown at this width" in result.stderr


def test_queue_open_has_no_status_column(runner, demo_db):
    header = run(runner, "queue", "--db", demo_db).stdout.splitlines()[0].split()
    assert "Status" not in header and header[0] == "ID"


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_report_tables_never_wrap_money_or_headers(runner, demo_db, columns):
    for kind in ("summary", "team", "tracking", "patterns", "roi"):
        result = run(runner, "report", kind, "--db", demo_db, columns=columns)
        assert result.exit_code == 0, result.stderr
        text = result.stdout
        assert max(len(line.rstrip()) for line in text.splitlines()) <= columns
        assert not re.search(r"\d…|…\d", text)
        assert "assigne\n" not in text  # a header is never broken over two lines
    assert "2400.00" in run(runner, "report", "patterns", "--db", demo_db, columns=60).stdout


def test_show_tables_keep_amounts_whole_at_60_columns(runner, demo_db):
    result = run(runner, "show", "1", "--db", demo_db, columns=60)
    assert result.exit_code == 0, result.stderr
    assert "2,400.00" in result.stdout and "CO-197" in result.stdout


def test_footer_counts_what_is_not_shown(runner, demo_db):
    result = run(runner, "queue", "--limit", "5", "--db", demo_db)
    assert "5 of 10 shown (use --limit/--offset)" in result.stderr
    page2 = run(runner, "queue", "--limit", "5", "--offset", "5", "--db", demo_db)
    assert "5 of 10 shown, from #6 (use --limit/--offset)" in page2.stderr
    first = ids(run(runner, "queue", "--limit", "5", "--format", "json", "--db", demo_db))
    second = ids(run(runner, "queue", "--limit", "5", "--offset", "5", "--format", "json",
                     "--db", demo_db))  # fmt: skip
    every = ids(run(runner, "queue", "--format", "json", "--db", demo_db))
    assert first + second == every[:10]
    assert "10 denials shown" in run(runner, "queue", "--db", demo_db).stderr


def test_empty_queue_says_where_the_denials_are(runner, demo_db):
    open_ids = ids(run(runner, "queue", "--format", "json", "--db", demo_db))
    assert run(runner, "writeoff", *open_ids, "--reason", "old", "--db", demo_db).exit_code == 0
    result = run(runner, "queue", "--db", demo_db)
    assert result.exit_code == 0 and "the queue is empty" in result.stderr
    assert "11 denials in other statuses (overturned 1, written_off 10)" in result.stderr
    assert "1 denial is the patient's to pay: see them with --action bill_patient" in result.stderr
    assert "--status all" in result.stderr
    beyond = run(runner, "queue", "--status", "all", "--offset", "50", "--db", demo_db)
    assert "--offset 50 is past them" in beyond.stderr


# -- finding a denial --------------------------------------------------------------------------


def test_queue_finding_options(runner, demo_db):
    def found(*args):
        result = run(runner, "queue", "--status", "all", "--format", "json", "--db", demo_db,
                     *args)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        return sorted(ids(result))

    assert found("--patient", "smith oli") == [7]  # 6 is PR-96: the patient's to pay
    assert found("--patient", "smith oli", "--action", "all") == [6, 7]
    assert found("--patient", "Smith, Olivia", "--action", "all") == [6, 7]
    assert found("--patient", "chen") == [9]
    assert found("--member", "BSW880011202") == [2]
    assert found("--claim", "CM-5102") == [2]  # CLP01
    payer_claim = json.loads(run(runner, "show", "2", "--format", "json", "--db", demo_db)
                             .stdout)["claim"]["payer_claim_id"]  # fmt: skip
    assert found("--claim", payer_claim) == [2]  # CLP07
    assert found("--carc", "CO-29") == found("--carc", "29") == [3, 4]
    assert found("--procedure", "90707") == [12]
    assert found("--action", "resubmit") == [2, 5, 10, 12]  # coding defects, MA130, B7
    assert found("--action", "bill_patient") == [6]
    amounts = [
        float(r["amount_at_risk"])
        for r in json.loads(
            run(runner, "queue", "--sort", "amount", "--format", "json", "--db", demo_db).stdout
        )  # fmt: skip
    ]
    assert amounts == sorted(amounts, reverse=True)
    received = [r["received"] for r in json.loads(run(runner, "queue", "--sort", "received",
                "--format", "json", "--db", demo_db).stdout)]  # fmt: skip
    assert received == sorted(received, reverse=True)


def test_find_by_name_member_claim_and_id(runner, demo_db):
    table = run(runner, "find", "smith", "--db", demo_db, columns=80)
    assert table.exit_code == 0, table.stderr
    assert "SMITH, OLIVIA" in table.stdout and "Status" in table.stdout
    data = json.loads(run(runner, "find", "BSW880011202", "--format", "json", "--db", demo_db)
                      .stdout)  # fmt: skip
    assert [r["id"] for r in data] == [2] and list(data[0]) == QUEUE_COLUMNS
    assert ids(run(runner, "find", "CM-5102", "--format", "json", "--db", demo_db)) == [2]
    assert ids(run(runner, "find", "1", "--format", "json", "--db", demo_db)) == [1]  # overturned
    csv_out = run(runner, "find", "smith", "--format", "csv", "--db", demo_db).stdout
    assert csv_out.startswith("id,claim,payer_claim_id") and len(csv_out.splitlines()) == 3
    none = run(runner, "find", "nobody-at-all", "--db", demo_db)
    assert none.exit_code == 1 and "no denial matches" in none.stderr
    assert "nobody-at-all" not in none.stderr  # what was typed may be a patient's name


# -- batch work --------------------------------------------------------------------------------


def test_submit_outcome_writeoff_note_take_several_ids(runner, demo_db):
    r = run(runner, "submit", 2, 3, "--date", "2026-11-20", "--db", demo_db)
    assert r.exit_code == 0, r.stderr
    assert "denial 2: appealed" in r.stderr and "denial 3: appealed" in r.stderr
    r = run(runner, "outcome", 2, 3, "--overturned", "--db", demo_db)
    assert r.exit_code == 0 and "denial 3: overturned, recovered 45.00" in r.stderr
    r = run(runner, "note", 4, 5, "called payer", "--db", demo_db)
    assert r.exit_code == 0 and "denial 5: note added" in r.stderr
    r = run(runner, "writeoff", 4, 999, 5, "--reason", "small", "--db", demo_db)
    assert r.exit_code == 1  # one unknown id: reported, the others still written off
    assert "denial 999: no denial with id 999" in r.stderr and "denial 5: written off" in r.stderr
    statuses = {
        row["id"]: row["status"]
        for row in json.loads(
            run(runner, "queue", "--status", "all", "--format", "json", "--db", demo_db).stdout
        )  # fmt: skip
    }
    assert statuses[2] == statuses[3] == "overturned"
    assert statuses[4] == statuses[5] == "written_off"


def test_future_dates_are_refused(runner, demo_db):
    for args in (
        ["submit", "2", "--date", "2031-01-01"],
        ["writeoff", "2", "--reason", "x", "--date", "2031-01-01"],
    ):
        r = run(runner, *args, "--db", demo_db)
        assert r.exit_code == 1 and "2031-01-01 is in the future" in r.stderr
    assert run(runner, "submit", "2", "--db", demo_db).exit_code == 0
    r = run(runner, "outcome", "2", "--upheld", "--date", "2027-01-01", "--db", demo_db)
    assert r.exit_code == 1 and "in the future" in r.stderr


# -- checked options ---------------------------------------------------------------------------


def test_category_abbreviations_as_the_table_prints_them(runner, demo_db):
    full = ids(run(runner, "queue", "--category", "administrative", "--format", "json",
                   "--db", demo_db))  # fmt: skip
    short = ids(run(runner, "queue", "--category", "admin", "--format", "json", "--db", demo_db))
    assert full == short and full


@pytest.mark.parametrize(
    "args,word",
    [
        (["--category", "admn"], "unknown category 'admn'"),
        (["--tier", "hihg"], "unknown tier 'hihg'"),
        (["--status", "closed"], "unknown status 'closed'"),
        (["--sort", "payer"], "unknown sort order 'payer'"),
        (["--action", "appel"], "unknown action 'appel'"),
    ],
)
def test_unknown_words_are_usage_errors(runner, demo_db, args, word):
    r = run(runner, "queue", *args, "--db", demo_db)
    assert r.exit_code == 2 and word in r.stderr and "one of" in r.stderr


def test_appeal_set_rejects_names_the_template_does_not_use(runner, demo_db):
    r = run(runner, "appeal", "9", "--draft", "--set", "explantion=typo", "--db", demo_db)
    assert r.exit_code == 2
    assert "explantion: not a field of template medical-necessity.md.j2" in r.stderr
    assert "clinical_summary" in r.stderr  # the names it does use
    ok = run(runner, "appeal", "9", "--draft", "--set", "clinical_summary=ok", "--db", demo_db)
    assert ok.exit_code == 0, ok.stderr


# -- intake ------------------------------------------------------------------------------------


def test_ingest_refuses_an_837_without_claims_saying_what_it_is(runner, tmp_path):
    claim = tmp_path / "claims.837"
    claim.write_text(
        "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *261127*1200*^*"
        "00501*000000001*0*P*:~GS*HC*SUB*REC*20261127*1200*1*X*005010X222A1~"
        "ST*837*0001*005010X222A1~BHT*0019*00*1*20261127*1200*CH~SE*3*0001~GE*1*1~"
        "IEA*1*000000001~"
    )
    db = tmp_path / "d.db"
    r = run(runner, "ingest", claim, "--db", db)
    assert r.exit_code == 1
    assert "837 claim file holds no claim (no CLM segment); nothing stored" in r.stderr
    with Store(db) as store:
        assert store.count("files") == 0 and store.count("claims") == 0


def test_ingest_of_an_empty_folder_is_an_error(runner, tmp_path):
    empty = tmp_path / "inbox"
    empty.mkdir()
    r = run(runner, "ingest", empty, "--db", tmp_path / "d.db")
    assert r.exit_code == 1 and "no 835 files found" in r.stderr
    assert r.stdout == "" and not (tmp_path / "d.db").exists()


def test_ingest_draws_no_progress_bar_off_a_terminal(runner, tmp_path):
    r = run(runner, "ingest", ROOT / "examples", "--db", tmp_path / "d.db")
    assert r.exit_code == 0 and "Ingesting" not in r.stderr


# -- version, completion, help -----------------------------------------------------------------


def test_version(runner):
    from denialkit import __version__

    r = run(runner, "--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"denialkit {__version__}"


def test_shell_completion_is_offered(runner):
    assert "--install-completion" in run(runner, "--help").stdout


def _commands():
    from .test_cli import _commands as commands

    return commands(app)


def test_help_has_no_type_placeholders_and_an_example_everywhere(runner):
    for cmd in _commands():
        text = run(runner, *cmd, "--help", columns=200).stdout
        for placeholder in (
            "<str>",
            "<bool>",
            "<int>",
            "<list",
            "<file>",
            "<dir>",
            "{",
            "<path",
            "....",
        ):
            assert placeholder not in text, (cmd, placeholder)
        assert "Example" in text, cmd


def test_help_paragraphs_are_not_wrapped_mid_sentence(runner):
    text = run(runner, "show", "--help", columns=200).stdout
    line = next(x for x in text.splitlines() if "Everything about one denial" in x)
    assert "score, history." in line  # one paragraph, one line at 200 columns


def test_history_keeps_what_happened_at_60_columns(runner, demo_db):
    result = run(runner, "history", "1", "--db", demo_db, columns=60)
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header == ["at", "new", "status", "detail"]  # actor, old status, source give way
    assert "overturned" in result.stdout and "1400.00" in result.stdout  # the detail wraps
    assert max(len(line.rstrip()) for line in result.stdout.splitlines()) <= 60
    wide = run(runner, "history", "1", "--db", demo_db, columns=120).stdout
    assert "remittance" in wide and "…" not in wide.split("source")[0]


def test_completion_offers_the_words_an_option_takes():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("denialkit")
    if not script.exists():
        pytest.skip("denialkit is not installed as a command in this environment")
    env = {**os.environ, "_DENIALKIT_COMPLETE": "complete_bash",
           "COMP_WORDS": "denialkit queue --category a", "COMP_CWORD": "3"}  # fmt: skip
    out = subprocess.run([str(script)], env=env, capture_output=True, text=True).stdout
    assert out.split() == ["administrative", "admin"]
