"""Issue 11, one test per numbered failure, with its input: nothing lost, nothing leaked,
nothing stops the nightly run."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import stat
import threading
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from denialkit import appeals, letter_context, letters, lifecycle, nightly, reports, worklist
from denialkit.cli import app
from denialkit.errors import TemplateError, UsageError
from denialkit.intake import ingest_file, ingest_paths
from denialkit.rules import load_rules
from denialkit.store import Store
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec, build_835

from .test_reports import TODAY, fill

PHI = ("KOWALSKI", "ELI", "MBR978264")


def cli(*args, **kw):
    return CliRunner().invoke(app, [str(a) for a in args], **kw)


def claim(pcn, amount="334.15", carc="50", patient=("DOE", "JANE", "M1")):
    return ClaimSpec(
        pcn,
        payer_claim_id=f"ICN-{pcn}",
        patient=patient,
        lines=[LineSpec("99213", D(amount), adjustments=[Adj("CO", carc, D(amount))])],
    )


def good_text(trace="G1", pcn="GOOD1", **kw):
    return build_835([RemitSpec(claims=[claim(pcn)], trace=trace, **kw)])


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- 1. a huge amount fails its file alone ---------------------------------------------------


@pytest.mark.parametrize(
    "amount, element",
    [
        ("99999999999999999999", "CLP03"),
        ("1234567890123456789012345678901.55", "CLP03"),
        ("100000000000", "CLP03"),  # exactly 10**11 dollars: out of range
        ("١٢٣", "CLP03"),  # Arabic-Indic digits are not X12 digits
        ("1e30", "CLP03"),
    ],
)
def test_huge_or_foreign_amount_fails_the_file_naming_the_element(store, tmp_path, amount, element):
    good = tmp_path / "a.835"
    good.write_text(good_text())
    bad = tmp_path / "b.835"
    bad.write_text(good_text("B1", "BAD1").replace("CLP*BAD1*1*334.15", f"CLP*BAD1*1*{amount}"))
    report = ingest_paths(store, [good, bad])
    assert [f.status for f in report.files] == ["ingested", "failed"]
    err = report.files[1].error
    assert element in err.message and err.segment is not None
    assert store.query("SELECT COUNT(*) AS n FROM claims") == [{"n": 1}]
    json.dumps(report.as_dict())  # the JSON can always be written


def test_largest_amount_in_range_is_stored_exactly(store, tmp_path):
    p = tmp_path / "x.835"
    p.write_text(good_text().replace("CLP*GOOD1*1*334.15", "CLP*GOOD1*1*99999999999.99"))
    r = ingest_file(store, p)
    assert r.status == "ingested"
    assert store.query("SELECT charge_cents FROM claims") == [{"charge_cents": 9999999999999}]


def test_huge_cas_amount_in_the_inbox_does_not_stop_nightly(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-huge.835").write_text(
        good_text("H1", "HUGE1").replace("CAS*CO*50*334.15", "CAS*CO*50*90000000000000000")
    )
    (inbox / "b-good.835").write_text(good_text())
    out = tmp_path / "reports"
    r = cli("nightly", "--inbox", inbox, "--reports", out, "--db", tmp_path / "n.db")
    assert r.exit_code == 1
    log = (out / "nightly.log").read_text()
    assert "FAILED" in log and "a-huge.835" in log and "CAS03" in log
    assert "ingested b-good.835" in log
    assert (out / f"{TODAY}-summary.html").exists() and (out / f"{TODAY}-summary.json").exists()


def test_unexpected_exception_fails_one_file_with_its_traceback_in_the_log(
    tmp_path, monkeypatch, capsys
):
    db = tmp_path / "d.db"
    store = Store(db)
    calls = {"n": 0}
    real = Store.add_provider_adjustment

    def boom(self, *a, **kw):
        calls["n"] += 1
        raise ZeroDivisionError("nobody foresaw this")

    monkeypatch.setattr(Store, "add_provider_adjustment", boom)
    from denialkit.synthetic import PLBSpec

    bad = tmp_path / "a.835"
    bad.write_text(build_835([RemitSpec(claims=[claim("P1")], plb=[PLBSpec("WO", D("1.00"))])]))
    good = tmp_path / "b.835"
    good.write_text(good_text())
    report = ingest_paths(store, [bad, good])
    assert [f.status for f in report.files] == ["failed", "ingested"]
    err = report.files[0].error
    assert "ZeroDivisionError" in err.message and err.segment
    assert "Traceback" not in capsys.readouterr().err
    log = db.with_name("d.db.errors.log")
    assert "nobody foresaw this" in log.read_text() and mode(log) == 0o600
    assert store.query("SELECT COUNT(*) AS n FROM claims") == [{"n": 1}]  # none of the bad file
    monkeypatch.setattr(Store, "add_provider_adjustment", real)


# -- 2. stored amounts can never break a report ---------------------------------------------


def test_report_sums_cannot_overflow(tmp_path, rules, monkeypatch):
    db = tmp_path / "d.db"
    with Store(db) as s:
        fill(s, tmp_path, rules)
        # As an older version could store them: far beyond what intake accepts now.
        s.conn.execute("UPDATE denials SET amount_cents = 9000000000000000000")
        for kind in reports.KINDS:
            reports.build(kind, s, rules, TODAY)
        data = reports.build("tracking", s, rules, TODAY)
        n = data["open"]["count"]
        assert Decimal(data["open"]["amount"]) == Decimal(90000000000000000) * n
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    for kind in ("summary", "patterns"):
        assert cli("report", kind, "--db", db).exit_code == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    r = cli("nightly", "--inbox", inbox, "--reports", tmp_path / "rep", "--db", db)
    assert r.exit_code == 0, r.stderr


# -- 3. remittances with the same trace but other claims are all stored ----------------------


def six_transactions():
    """Transactions 4-6 share payer, TRN02 and BPR02 with 1-3 but carry other claims."""
    specs = []
    for t in range(3):
        specs.append(RemitSpec(claims=[claim(f"A{t}-{i}") for i in range(5)], trace=f"TR{t}"))
    for t in range(3):
        specs.append(RemitSpec(claims=[claim(f"B{t}-{i}") for i in range(5)], trace=f"TR{t}"))
    return build_835(specs)


def test_same_trace_different_content_is_stored_with_a_warning(db_target, tmp_path):
    p = tmp_path / "six.835"
    p.write_text(six_transactions())
    db = db_target
    r = cli("ingest", p, "--db", db, "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["claims"] == 30 and data["transactions"] == 6
    same = [w for w in data["warnings"] if "different content" in w["message"]]
    assert len(same) == 3
    # The same file again is a duplicate; the same remittances in another envelope too.
    again = tmp_path / "again.835"
    again.write_text(six_transactions().replace("*000000001*", "*000000777*"))
    r = cli("ingest", again, "--db", db, "--format", "json")
    assert json.loads(r.stdout)["files"]["duplicate"] == 1
    with Store(db) as s:
        assert s.count("claims") == 30


def test_small_hand_made_file_keeps_all_ten_claims(store, tmp_path):
    specs = [
        RemitSpec(claims=[claim(f"X{i}") for i in range(5)], trace="SAME"),
        RemitSpec(claims=[claim(f"Y{i}") for i in range(5)], trace="SAME"),
    ]
    p = tmp_path / "ten.835"
    p.write_text(build_835(specs))
    r = ingest_file(store, p)
    assert r.status == "ingested" and r.totals.claims == 10
    assert store.count("claims") == 10


def test_duplicate_warnings_are_never_capped_and_suppressed_counts_are_reported(store, tmp_path):
    first = RemitSpec(claims=[claim("D0")], trace="DUP")
    unbalanced = RemitSpec(claims=[claim(f"U{i}") for i in range(600)], trace="NOISE")
    text = build_835([first, unbalanced, first])
    # Every claim of the second transaction fails to balance: 600 balancing warnings.
    text = text.replace("CAS*CO*50*334.15~", "CAS*CO*50*300~")
    p = tmp_path / "noisy.835"
    p.write_text(text)
    r = ingest_file(store, p)
    assert r.status == "ingested"
    assert any("repeats a remittance already stored" in w.message for w in r.warnings)
    assert r.suppressed.get("balance", 0) > 0
    from denialkit.intake import IngestReport

    d = IngestReport([r]).as_dict()
    assert d["suppressed_warnings"]["balance"] == r.suppressed["balance"]
    assert any("repeats" in w["message"] for w in d["warnings"])
    stored = store.query("SELECT message FROM warnings")
    assert any("repeats" in w["message"] for w in stored)


# -- 4. nightly lists every file it did not ingest ------------------------------------------


def test_nightly_lists_unreadable_and_foreign_files_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = good_text()
    (inbox / "good.835").write_text(text)
    (inbox / "utf16.835").write_bytes(good_text("U1", "U16").encode("utf-16"))
    (inbox / "zipped.835").write_bytes(gzip.compress(good_text("Z1", "GZ").encode()))
    (inbox / "nul.835").write_bytes(b"\x00" * 64 + good_text("N1", "NUL").encode())
    os.mkfifo(inbox / "pipe.835")
    locked = inbox / "locked.835"
    locked.write_text(good_text("L1", "LOCKED"))
    locked.chmod(0)
    out = tmp_path / "rep"
    r = cli("nightly", "--inbox", inbox, "--reports", out, "--db", tmp_path / "n.db")
    assert r.exit_code == 1
    log = (out / "nightly.log").read_text()
    for name, reason in [
        ("utf16.835", "UTF-16"),
        ("zipped.835", "gzip"),
        ("nul.835", "NUL"),
        ("pipe.835", "FIFO"),
    ]:
        line = next(x for x in log.splitlines() if name in x)
        assert "FAILED" in line and reason in line, line
    if os.geteuid() != 0:  # root reads a mode-000 file
        line = next(x for x in log.splitlines() if "locked.835" in x)
        assert "FAILED" in line and "cannot read" in line
    assert "ingested good.835" in log


# -- 5. a file is archived only after its rows are on disk -----------------------------------


def test_nightly_ingests_with_synchronous_full(tmp_path, rules):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.835").write_text(good_text())
    seen = []
    with Store(tmp_path / "d.db") as s:
        nightly.run(
            s, rules, TODAY, inbox=inbox, reports_dir=tmp_path / "rep",
            archive=tmp_path / "arch", lock=tmp_path / "lock",
            progress=lambda f: seen.append(s.conn.execute("PRAGMA synchronous").fetchone()[0]),
        )  # fmt: skip
        assert seen == [2]  # FULL: the commit was fsynced before the file moved
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again


# -- 6. every file denialkit writes is owner-only -------------------------------------------


def test_written_files_are_0600_and_folders_0700_under_umask_022(
    tmp_path, monkeypatch, umask022, rules
):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    db = tmp_path / "d.db"
    with Store(db) as s:
        ids = fill(s, tmp_path, rules)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.835").write_text(good_text())
    out, arch = tmp_path / "new" / "rep", tmp_path / "new" / "arch"
    cli("nightly", "--inbox", inbox, "--reports", out, "--archive", arch, "--db", db)
    written = list(out.iterdir())
    assert len(written) == 8  # six JSON reports (trend too), the HTML summary, the log
    assert all(mode(p) == 0o600 for p in written)
    assert mode(out) == 0o700 and mode(out.parent) == 0o700 and mode(arch / str(TODAY)) == 0o700
    assert mode(arch / str(TODAY) / "a.835") == 0o600
    for fmt in ("json", "csv", "html", "table"):
        target = tmp_path / "exports" / f"t.{fmt}"
        assert (
            cli("report", "tracking", "--format", fmt, "--out", target, "--db", db).exit_code == 0
        )
        assert mode(target) == 0o600 and mode(target.parent) == 0o700
    letter = tmp_path / "letters" / "one.md"
    r = cli("appeal", ids["PT1"], "--draft", "--out", letter, "--db", db)
    assert r.exit_code == 0, r.stderr
    assert mode(letter) == 0o600
    r = cli("appeal", ids["NOV2"], ids["NOV3"], "--draft", "--out", tmp_path / "batch",
            "--db", db)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    batch = list((tmp_path / "batch").iterdir())
    assert len(batch) == 2 and all(mode(p) == 0o600 for p in batch)
    assert mode(tmp_path / "batch") == 0o700
    assert cli("config", "set", "practice.name", "Riverside").exit_code == 0
    cfg = tmp_path / "config.yaml"
    assert mode(cfg) == 0o600


# -- 7. --redact covers the patient account number ------------------------------------------


def test_redact_covers_clp01_in_every_format(db_target, tmp_path, rules, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    db = db_target
    with Store(db) as s:
        fill(s, tmp_path, rules)
        late = reports.build("tracking", s, rules, TODAY)["past_deadline"]["denials"]
        assert late and late[0]["claim"] == "OLD1"  # the fixture has one, unredacted
        red = reports.build("tracking", s, rules, TODAY, redact=True)["past_deadline"]["denials"]
        assert all(r["claim"] is None and r["patient"] is None for r in red)
    for fmt in ("json", "html", "table", "csv"):
        r = cli("report", "tracking", "--redact", "--format", fmt, "--db", db)
        assert r.exit_code == 0
        for secret in ("OLD1", "ROE", "RITA", "M9"):
            assert secret not in r.stdout, (fmt, secret)


# -- 8. CSV formula injection ---------------------------------------------------------------


def test_csv_cells_that_start_a_formula_are_neutralised(db_target, tmp_path, rules, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    evil = '=HYPERLINK("http://example.invalid","PAYER")'
    p = tmp_path / "evil.835"
    p.write_text(
        build_835(
            RemitSpec(claims=[claim("@SUM(A1)", patient=("+CMD", "-X", "M1"))], payer_name=evil)
        )
    )
    db = db_target
    with Store(db) as s:
        assert ingest_file(s, p, rules, TODAY).status == "ingested"
    r = cli("queue", "--format", "csv", "--limit", "0", "--db", db)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    cells = [c for row in rows[1:] for c in row]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert "'" + evil in cells and "'@SUM(A1)" in cells
    r = cli("report", "patterns", "--format", "csv", "--since", "2026-01-01", "--db", db)
    cells = [c for row in csv.reader(io.StringIO(r.stdout)) for c in row]
    assert "'" + evil in cells and evil not in cells


def test_negative_amounts_stay_numbers_in_csv():
    from denialkit.output import csv_cell

    assert csv_cell("-12.50") == "-12.50"
    assert csv_cell("-1+2") == "'-1+2"
    assert csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx"


# -- 9. a segment without the element separator; a line without a terminator ---------------


def test_segment_without_the_separator_is_an_error_without_its_content(db_target, tmp_path):
    text = good_text().replace(
        "NM1*QC*1*DOE*JANE****MI*M1", "NM1|QC|1|KOWALSKI|ELI||||MI|MBR978264"
    )
    assert "KOWALSKI" in text
    p = tmp_path / "sep.835"
    p.write_text(text)
    db = db_target
    r = cli("ingest", p, "--db", db, "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["errors"][0]["segment"] is not None
    assert "'|'" in data["errors"][0]["message"]
    everything = r.stdout + r.stderr
    with Store(db) as s:
        everything += json.dumps(s.query("SELECT * FROM warnings"))
        assert s.count("claims") == 0
    for secret in PHI:
        assert secret not in everything


def test_a_long_line_without_terminator_is_refused_quickly(store, tmp_path):
    p = tmp_path / "long.835"
    head = good_text().split("LX*1~")[0]
    with open(p, "w") as f:
        f.write(head + "LX*1~NTE*" + "A" * (8 << 20))  # 8 MB with no terminator
    r = ingest_file(store, p)
    assert r.status == "failed"
    assert "longer than 65,536" in r.error.message and len(r.error.message) < 300
    assert r.error.segment is not None


# -- 10. manual outcome amounts --------------------------------------------------------------


def appealed(tmp_path, rules):
    db = tmp_path / "d.db"
    p = tmp_path / "o.835"
    p.write_text(good_text())
    with Store(db) as s:
        ingest_file(s, p, rules, TODAY)
        [row] = worklist.queue(s, TODAY)
        lifecycle.submit(s, row["id"], actor="t", on="2026-11-20", today=TODAY)
    return db, row["id"]


def test_recovered_is_bounded_by_the_amount_at_risk_unless_forced(tmp_path, rules, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    db, i = appealed(tmp_path, rules)
    r = cli("outcome", i, "--overturned", "--recovered", "999999.99", "--db", db)
    # refused for this id (the batch commands report each id: exit 1)
    assert r.exit_code == 1 and "334.15" in r.stderr and "--force" in r.stderr
    for garbage in ("1e30", "NaN", "١٢٣", "Infinity", "1" * 40):
        r = cli("outcome", i, "--overturned", "--recovered", garbage, "--db", db)
        assert r.exit_code == 2 and "not an amount" in r.stderr, garbage
    r = cli("outcome", i, "--overturned", "--recovered", "340.00", "--force", "--db", db)
    assert r.exit_code == 0, r.stderr
    with Store(db) as s:
        assert "(forced: may exceed the amount at risk)" in s.history(i)[-1]["detail"]


def test_parse_amount_accepts_ordinary_amounts():
    assert lifecycle.parse_amount("$1,250.5") == Decimal("1250.5")
    with pytest.raises(UsageError):
        lifecycle.parse_amount("1.005")


# -- 11. paths -------------------------------------------------------------------------------


def test_out_paths(tmp_path, rules, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    db = tmp_path / "d.db"
    with Store(db) as s:
        ids = fill(s, tmp_path, rules)
    target = tmp_path / "nope" / "deeper" / "x.json"
    assert cli("report", "summary", "--format", "json", "--out", target, "--db", db).exit_code == 0
    assert json.loads(target.read_text())["report"] == "summary"
    r = cli("report", "summary", "--format", "json", "--out", target, "--db", db)
    assert r.exit_code == 2 and "--force" in r.stderr
    r = cli("report", "summary", "--format", "json", "--out", target, "--force", "--db", db)
    assert r.exit_code == 0
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("report", "summary", "--out", blocker / "x.json", "--db", db)
    assert r.exit_code == 2 and "is a file" in r.stderr
    folder = tmp_path / "letters"
    folder.mkdir()
    r = cli("appeal", ids["PT1"], "--draft", "--out", folder, "--db", db)
    assert r.exit_code == 0, r.stderr
    [written] = folder.iterdir()
    assert written.name.startswith(f"denial-{ids['PT1']}-")
    r = cli("appeal", ids["PT1"], "--draft", "--out", written, "--db", db)
    assert r.exit_code == 2 and "exists" in r.stderr
    r = cli("appeal", "--tier", "standard", "--draft", "--out", blocker, "--db", db)
    assert r.exit_code == 2 and "Traceback" not in r.stderr


def test_nightly_refuses_overlapping_inbox_and_archive(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.835").write_text(good_text())
    for archive in (inbox, inbox / "archive"):
        r = cli("nightly", "--inbox", inbox, "--archive", archive, "--reports", tmp_path / "r",
                "--db", tmp_path / "d.db")  # fmt: skip
        assert r.exit_code == 2 and "overlap" in r.stderr
    r = cli("nightly", "--inbox", inbox / "..", "--archive", tmp_path, "--reports",
            tmp_path / "r", "--db", tmp_path / "d.db")  # fmt: skip
    assert r.exit_code == 2
    assert (inbox / "a.835").exists()


# -- 12. a FIFO is refused, not read ---------------------------------------------------------


def test_fifo_is_refused_without_blocking(store, tmp_path):
    fifo = tmp_path / "pipe.835"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(ingest_file(store, fifo)), daemon=True)
    t.start()
    t.join(10)
    if not done:  # unblock the reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("ingest blocked on a FIFO")
    assert done[0].status == "failed" and "FIFO" in done[0].error.message


# -- 13. letters, digits, templates, streaming ------------------------------------------------


def test_markdown_letter_escapes_835_data(tmp_path, rules):
    from .test_letters import CONFIG

    p = tmp_path / "x.835"
    p.write_text(
        build_835(RemitSpec(claims=[claim("P1")], payer_name="<script>alert(1)</script> [x](y)"))
    )
    with Store(tmp_path / "d.db") as s:
        ingest_file(s, p, rules, TODAY)
        [row] = worklist.queue(s, TODAY)
        writer = letters.LetterWriter()
        result = appeals.appeal(
            s, rules, CONFIG, writer, row["id"], draft=True, today=TODAY, actor="t"
        )
    assert "<script>" not in result.letter.text and "[x](y)" not in result.letter.text
    assert r"\<script\>" in result.letter.text


@pytest.mark.parametrize(
    "body", ["{% for i in range(10**9) %}x{% endfor %}", "{{ 'a' * 200000000 }}", "{{ 1/0 }}"]
)
def test_user_template_limits_are_clear_errors(tmp_path, rules, body):
    user = tmp_path / "tpl" / "letters"
    user.mkdir(parents=True)
    (user / "default.md.j2").write_text(body)
    writer = letters.LetterWriter(tmp_path / "tpl")
    with pytest.raises(TemplateError, match="default.md.j2"):
        writer.render(letter_context.sample_context(rules), draft=True, template="default.md.j2")


def test_queue_csv_and_json_stream(db_target, tmp_path, rules, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    db = db_target
    with Store(db) as s:
        fill(s, tmp_path, rules)
        rows = worklist.queue(s, TODAY, status="all", stream=True)
        assert iter(rows) is rows  # a generator: rows are read as they are written
        listed = worklist.queue(s, TODAY, status="all")
    r = cli("queue", "--status", "all", "--limit", "0", "--format", "json", "--db", db)
    assert json.loads(r.stdout) == json.loads(json.dumps(listed))
    r = cli("queue", "--status", "all", "--limit", "0", "--format", "csv", "--db", db)
    assert r.stdout.count("\n") == len(listed) + 1
    r = cli("queue", "--status", "expired", "--tier", "high", "--format", "json", "--db", db)
    assert json.loads(r.stdout) == []


def test_arabic_indic_dates_are_not_dates():
    from denialkit.era import parse_date, parse_decimal

    assert parse_date("٢٠٢٦٠١٠٥") is None
    assert parse_decimal("١٢٣") is None and parse_decimal("123") == 123


def test_tracking_json_from_nightly_with_redact_has_no_account_numbers(db_target, tmp_path, rules):
    with Store(db_target) as s:
        fill(s, tmp_path, rules)
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        nightly.run(s, rules, TODAY, inbox=inbox, reports_dir=tmp_path / "rep",
                    lock=tmp_path / "lock", redact=True)  # fmt: skip
    text = (tmp_path / "rep" / f"{TODAY}-tracking.json").read_text()
    assert "OLD1" not in text and "ROE" not in text


def _double_denials(store, times):
    for _ in range(times):
        store.conn.execute("DROP TABLE IF EXISTS temp.copy")
        store.conn.execute("CREATE TEMP TABLE copy AS SELECT * FROM denials")
        store.conn.execute("UPDATE temp.copy SET id = id + (SELECT MAX(id) FROM denials)")
        store.conn.execute("INSERT INTO denials SELECT * FROM temp.copy")


def _export_peak(store, fmt, monkeypatch):
    import sys
    import tracemalloc

    from denialkit import output

    monkeypatch.setattr(sys, "stdout", open(os.devnull, "w"))
    tracemalloc.start()
    try:
        output.queue(worklist.queue(store, TODAY, status="all", stream=True), fmt)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        sys.stdout.close()
        monkeypatch.undo()


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.slow
def test_queue_export_memory_is_flat(tmp_path, rules, monkeypatch, fmt):
    with Store(tmp_path / "d.db") as s:
        fill(s, tmp_path, rules)
        _double_denials(s, 6)  # ~800 rows
        small = _export_peak(s, fmt, monkeypatch)
        _double_denials(s, 4)  # 16 times as many
        n = s.count("denials")
        large = _export_peak(s, fmt, monkeypatch)
    assert n > 10_000
    assert large < small * 3, (small, large)


def test_same_remittance_made_again_later_is_a_duplicate(store, tmp_path):
    first = tmp_path / "a.835"
    first.write_text(good_text(production_date="20261101"))
    again = tmp_path / "b.835"
    text = good_text(production_date="20261105").replace("*000000001*", "*000000002*")
    again.write_text(text.replace("~", "~\n").replace("\n\n", "\n"))
    assert ingest_file(store, first).status == "ingested"
    assert ingest_file(store, again).status == "duplicate"
    assert store.count("claims") == 1
