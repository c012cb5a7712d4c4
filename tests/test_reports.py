"""Reports against hand-computed figures on a fixture store; HTML; the nightly run end to end."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import shutil
import subprocess
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from denialkit import assignment, lifecycle, nightly, reports, worklist
from denialkit.cli import app
from denialkit.intake import ingest_file
from denialkit.rules import PatternFlags, load_rules
from denialkit.store import OPEN_STATUSES, Store
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec, build_835

from .conftest import pg_schema

TODAY = dt.date(2026, 11, 27)
SINCE, UNTIL = "2026-09-01", "2026-11-27"
A, B = "1111111111", "2222222222"  # rendering NPIs


@pytest.fixture(scope="module")
def rules():
    r = load_rules()
    # The fixture is small: let a provider with 5+ lines be compared with the average.
    r.triage = r.triage.model_copy(update={"patterns": PatternFlags(provider_min_lines=5)})
    return r


def claim(
    pcn, proc="99213", carc=None, amount="100.00", npi=B, patient=("DOE", "JANE", "M1"),
    date="20261005",
):  # fmt: skip
    adj = [Adj("CO", carc, D(amount))] if carc else []
    return ClaimSpec(
        pcn,
        payer_claim_id=f"ICN-{pcn}",
        rendering_npi=npi,
        patient=patient,
        lines=[LineSpec(proc, D(amount), adjustments=adj, line_control="1", date=date)],
    )


def remits():
    """Hand-made history (ACME HEALTH PLAN, commercial: 180 days from the remittance date):

    2025-01-02  1 x 80053 CO-16 $40 (resubmit) -> expired at intake (DOS 2024-12-01 + 90 days)
    2026-08-15  2 x 99213 CO-197 $100         -> the previous period for patterns
    2026-11-02  6 x 99213 CO-197 $100 (NPI A), 4 x 99213 paid (NPI B), 1 x 97110 CO-50 $250 (B)
    """
    return [
        RemitSpec(claims=[claim("OLD1", "80053", "16", "40.00", patient=("ROE", "RITA", "M9"),
                                date="20241201")],
                  trace="R0", payment_date="20250102", production_date=None),
        RemitSpec(claims=[claim(f"AUG{i}", carc="197", date="20260801") for i in range(2)],
                  trace="R1",
                  payment_date="20260815", production_date=None),
        RemitSpec(
            claims=[claim(f"NOV{i}", carc="197", npi=A) for i in range(6)]
            + [claim(f"PAID{i}") for i in range(4)]
            + [claim("PT1", "97110", "50", "250.00")],
            trace="R2", payment_date="20261102", production_date=None,
        ),
    ]  # fmt: skip


def fill(store, tmp_path, rules):
    for i, spec in enumerate(remits()):
        path = tmp_path / f"r{i}.835"
        path.write_text(build_835([spec]))
        assert ingest_file(store, path, rules, TODAY).status == "ingested"
    ids = {r["claim"]: r["id"] for r in worklist.queue(store, TODAY, status="all", limit=None)}
    assignment.assign(store, [ids["NOV0"], ids["NOV1"]], "maria", "lead")
    lifecycle.submit(store, ids["NOV0"], actor="maria", on="2026-11-10", today=TODAY)
    lifecycle.outcome(store, ids["NOV0"], "overturned", actor="maria", on="2026-11-20", today=TODAY)
    lifecycle.submit(store, ids["NOV1"], actor="maria", on="2026-11-16", today=TODAY)
    lifecycle.writeoff(store, ids["AUG0"], "no authorization obtained", actor="kim", today=TODAY)
    return ids


@pytest.fixture
def filled(store, tmp_path, rules):
    return fill(store, tmp_path, rules)


def test_tracking_figures(store, filled):
    t = reports.tracking(store, TODAY)
    # Open: NOV1 appealed; NOV2-5 new; AUG1 new; PT1 new = 7 denials, 6 x 100 + 250.
    assert t["open"] == {"count": 7, "amount": "850.00"}
    assert {r["status"]: r["count"] for r in t["by_status"]} == {"new": 6, "appealed": 1}
    assert {r["category"]: r["amount"] for r in t["by_category"]} == {
        "administrative": "600.00", "clinical": "250.00"}  # fmt: skip
    # AUG1 is due 2027-02-11, the November ones 2027-05-01: nothing within 30 days.
    assert [d["count"] for d in t["due"]] == [0, 0, 0]
    past = t["past_deadline"]
    assert (past["count"], past["amount"]) == (1, "40.00")
    [late] = past["denials"]
    assert (late["claim"], late["deadline"], late["status"], late["patient"]) == (
        "OLD1", "2025-03-01", "expired", "RITA ROE")  # fmt: skip
    assert t["unassigned"] == {"count": 6, "amount": "750.00"}


def test_redact_removes_patient_names_and_member_ids(store, filled):
    [late] = reports.tracking(store, TODAY, redact=True)["past_deadline"]["denials"]
    assert late["patient"] is None and late["member_id"] is None
    text = json.dumps(reports.build("summary", store, load_rules(), TODAY, redact=True))
    assert "RITA" not in text and "M9" not in text


def test_patterns_rate_trend_flags_and_providers(store, filled, rules):
    p = reports.patterns(store, rules, TODAY, since=SINCE, until=UNTIL)
    assert p["previous_period"] == {"since": "2026-06-05", "until": "2026-08-31"}
    top, second = p["patterns"]
    assert (top["payer"], top["procedure"], top["carc"]) == ("ACME HEALTH PLAN", "99213", "197")
    # 6 denied of 10 lines of 99213 billed to ACME; 2 in the previous 88 days: +200%.
    assert (top["count"], top["amount"], top["lines_billed"], top["denial_rate"]) == (
        6, "600.00", 10, 0.6)  # fmt: skip
    assert (top["previous_count"], top["trend"], top["flagged"]) == (2, 2.0, True)
    assert "authorization" in top["prevention"].lower()
    assert (second["carc"], second["count"], second["denial_rate"], second["flagged"]) == (
        "50", 1, 1.0, False)  # fmt: skip
    # Practice: 7 denied of 11 lines. NPI A: 6 of 6 (above 1.5 x average); NPI B: 1 of 5.
    assert p["practice_denial_rate"] == round(7 / 11, 4)
    prov = {x["npi"]: x for x in p["providers"]}
    assert (prov[A]["denial_rate"], prov[A]["flagged"]) == (1.0, True)
    assert (prov[B]["denial_rate"], prov[B]["flagged"]) == (0.2, False)
    assert p["authorization_by_month"] == [
        {"month": "2026-08", "count": 2, "amount": "200.00"},
        {"month": "2026-11", "count": 6, "amount": "600.00"},
    ]


def test_team_figures(store, filled):
    rows = {r["assignee"]: r for r in reports.team(store, TODAY)["team"]}
    maria = rows["maria"]
    assert (maria["open"], maria["appeals_submitted"], maria["decided"]) == (1, 2, 1)
    assert (maria["overturn_rate"], maria["recovered"]) == (1.0, "100.00")
    assert maria["median_days_to_appeal"] == 11  # 8 and 14 days after 2026-11-02
    assert rows["(unassigned)"]["overdue"] == 1  # the expired OLD1


def test_roi_figures(store, filled):
    r = reports.roi(store)
    assert [(m["month"], m["denials"], m["denied"]) for m in r["months"]] == [
        ("2025-01", 1, "40.00"), ("2026-08", 2, "200.00"), ("2026-11", 7, "850.00")]  # fmt: skip
    # Two appeals sent in November at 45 minutes x $35.00/hour = $26.25 each; one won $100.
    assert r["total"] == {
        "denials": 10, "denied": "1090.00", "appealed": "200.00", "appeals": 2,
        "appeals_sent": 2, "recovered": "100.00", "recovered_by_appeal": "100.00",
        "recovered_without_appeal": "0.00", "written_off": "100.00", "expired": "40.00",
        "recovery_rate": round(100 / 1090, 4), "cost": "52.50", "net": "47.50"}  # fmt: skip
    assert r["cost_per_appeal"] == "26.25" and r["overturn_rate"] == 1.0
    assert [(m["month"], m["cost"]) for m in r["months"]][-1] == ("2026-11", "52.50")
    assert r["overturn_by_category"] == [{"category": "administrative", "decided": 1,
        "overturned": 1, "overturn_rate": 1.0, "recovered": "100.00"}]  # fmt: skip


def test_summary_and_filters(store, filled, rules):
    s = reports.build("summary", store, rules, TODAY)
    h = s["headline"]
    assert (h["open_denials"], h["past_deadline"], h["recovered"], h["flagged_patterns"]) == (
        7, 1, "100.00", 1)  # fmt: skip
    assert reports.roi(store, since="2026-11-01")["total"]["denied"] == "850.00"
    assert reports.tracking(store, TODAY, payer="NOBODY")["open"]["count"] == 0


def test_empty_store_and_empty_period_give_empty_reports(store, rules):
    for kind in reports.KINDS:
        data = reports.build(kind, store, rules, TODAY)
        assert data["report"] == kind
        reports.render_html(data, store, TODAY)
    assert reports.roi(store)["months"] == [] and reports.team(store, TODAY)["team"] == []


def test_html_is_self_contained_and_escaped(store, tmp_path, rules):
    spec = RemitSpec(claims=[claim("X<1>", "80053", "16", "40.00",
                                   patient=("<SCRIPT>", "A&B", "M1"), date="20241201")],
                     trace="R0", payment_date="20250102", production_date=None)  # fmt: skip
    path = tmp_path / "x.835"
    path.write_text(build_835([spec]))
    ingest_file(store, path, rules, TODAY)
    page = reports.render_html(reports.build("summary", store, rules, TODAY), store, TODAY)
    assert "<svg" in page and "<style>" in page
    assert "<script" not in page.lower().replace("&lt;script&gt;", "")
    assert "&lt;SCRIPT&gt;" in page and "A&amp;B" in page and "X&lt;1&gt;" in page
    for fetch in ("http://", "https://", "src=", "<link", "@import"):
        assert fetch not in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
@pytest.mark.browser
def test_html_report_renders_in_headless_chromium(store, filled, rules, tmp_path):
    page = tmp_path / "summary.html"
    page.write_text(
        reports.render_html(reports.build("summary", store, rules, TODAY), store, TODAY)
    )
    shot = tmp_path / "summary.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1800",
         f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# -- CLI and nightly ----------------------------------------------------------------------------


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def _filled_sqlite(tmp_path_factory):
    """The filled store as a SQLite file, built once per run (each test gets a copy)."""
    where = tmp_path_factory.mktemp("reports")
    with Store(where / "filled.db") as s:
        fill(s, where, load_rules())
    return where / "filled.db"


@pytest.fixture(scope="module")
def _filled_pg(tmp_path_factory):
    """The filled store in a PostgreSQL schema, built once for this module's report commands,
    which only read it."""
    with pg_schema() as url:
        with Store(url) as s:
            fill(s, tmp_path_factory.mktemp("reports-pg"), load_rules())
        yield url


@pytest.fixture
def db(engine, tmp_path, request):
    """The filled store on each engine: a copy of the SQLite file, or the PostgreSQL URL."""
    if engine == "postgresql":
        return request.getfixturevalue("_filled_pg")
    path = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("_filled_sqlite"), path)
    return str(path)


@pytest.mark.parametrize("kind", reports.KINDS)
@pytest.mark.parametrize("fmt", ["table", "csv", "json", "html"])
def test_cli_report_every_kind_and_format(db, kind, fmt, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    r = cli("report", kind, "--format", fmt, "--db", db)
    assert r.exit_code == 0, r.stderr
    if fmt == "json":
        assert json.loads(r.stdout)["report"] == kind
    elif fmt == "csv":
        assert r.stdout.count("\n") >= 2
    elif fmt == "table":
        # One row each kind must show, hand-computed from the fixture (see remits()).
        assert KIND_ROW[kind] in [line.split() for line in r.stdout.splitlines()], r.stdout
    else:
        assert r.stdout.startswith("<!DOCTYPE html>") and r.stdout.rstrip().endswith("</html>")
        assert f"<h1>Denial management: {kind}</h1>" in r.stdout
        assert KIND_HTML[kind] in r.stdout


KIND_ROW = {
    "tracking": ["open", "all", "7", "850.00"],
    "patterns": "ACME HEALTH PLAN 99213 197 6 600.00 60.0% 200.0% FLAG".split(),
    "team": ["maria", "1", "0", "2", "1", "100.0%", "100.00"],
    "roi": ["total", "10", "1090.00", "2", "100.00", "0.00", "52.50"],
    "trend": ["2026-11", "11", "7", "63.6%", "63.6%", "1250.00", "850.00"],
    "summary": ["open", "amount", "850.00"],
}
KIND_HTML = {
    "tracking": "<h2>Open denials against their deadlines</h2>",
    "patterns": "<h2>Top denial patterns (payer × procedure × reason), 2026-08-30 to 2026-11-27</h2>",
    "team": "<h2>Team</h2>",
    "roi": "<h2>Return on appeals, by month</h2>",
    "trend": "<h2>Initial denial rate by month (each claim once, at its first adjudication)</h2>",
    "summary": "<h2>Denied dollars per month, by category</h2>",
}


def test_cli_report_csv_patterns_and_out_file(db, tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    out = tmp_path / "p.csv"
    r = cli("report", "patterns", "--since", SINCE, "--format", "csv", "--out", out, "--db", db)
    assert r.exit_code == 0
    header, first = out.read_text().splitlines()[:2]
    assert header.startswith("payer,procedure,carc,category,count,amount,lines_billed")
    assert first.startswith("ACME HEALTH PLAN,99213,197,administrative,6,600.00,10,0.6")
    assert cli("report", "roi", "--since", "yesterday", "--db", db).exit_code == 2


def _inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.835").write_text(build_835([RemitSpec(claims=[claim("N1", carc="50")])]))
    (inbox / "bad.835").write_text(build_835([RemitSpec(claims=[claim("N2")])]).replace(
        "CLP*N2*1*100*100", "CLP*N2*1*ten*100"))  # fmt: skip
    return inbox


def test_nightly_end_to_end_with_a_bad_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_TODAY", TODAY.isoformat())
    inbox = _inbox(tmp_path)
    db, out, archive = tmp_path / "n.db", tmp_path / "reports", tmp_path / "archive"
    args = ["nightly", "--inbox", inbox, "--archive", archive, "--reports", out, "--db", db]
    r = cli(*args)
    assert r.exit_code == 1  # one file failed
    assert sorted(p.name for p in inbox.iterdir()) == ["bad.835"]  # failed file stays
    assert (archive / "2026-11-27" / "good.835").exists()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2026-11-27-patterns.json", "2026-11-27-roi.json", "2026-11-27-summary.html",
                     "2026-11-27-summary.json", "2026-11-27-team.json",
                     "2026-11-27-tracking.json", "2026-11-27-trend.json", "nightly.log"]  # fmt: skip
    log = (out / "nightly.log").read_text()
    assert "FAILED" in log and "bad.835" in log and "segment" in log
    summary = json.loads((out / "2026-11-27-summary.json").read_text())
    assert summary["headline"]["open_denials"] == 1
    (inbox / "bad.835").unlink()
    assert cli(*args).exit_code == 0  # the next night: nothing failed


def _hold_lock(path, ready, release):
    with nightly.run_lock(path):
        ready.set()
        release.wait(30)


def test_overlapping_nightly_run_is_refused(tmp_path, monkeypatch):
    inbox = _inbox(tmp_path)
    db = tmp_path / "n.db"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path / "n.db.nightly.lock", ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        r = cli("nightly", "--inbox", inbox, "--reports", tmp_path / "rep", "--db", db)
        assert r.exit_code == 1 and "in progress" in r.stderr
        assert sorted(p.name for p in inbox.iterdir()) == ["bad.835", "good.835"]  # untouched
    finally:
        release.set()
        holder.join(30)


# -- money balances to the cent, whatever happened ----------------------------------------------

cents = st.integers(min_value=1, max_value=500_00)
denied_line = st.builds(
    lambda carc, c, proc: (carc, c, proc),
    st.sampled_from(["50", "97", "197", "16", "29", "ZZ1"]),
    cents,
    st.sampled_from(["99213", "97110", "J1885"]),
)
actions = st.lists(
    st.tuples(st.sampled_from(["submit", "overturn", "partial", "uphold", "writeoff"]),
              st.integers(0, 40), st.integers(1, 99)),
    max_size=30,
)  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(denied_line, min_size=1, max_size=25), ops=actions,
       month=st.sampled_from(["20260815", "20261002", "20261102"]))  # fmt: skip
@pytest.mark.slow
def test_report_money_balances_to_the_cent(tmp_path, rules, lines, ops, month):
    store = Store.memory()
    claims = [claim(f"P{i}", proc, carc, f"{Decimal(c) / 100:.2f}")
              for i, (carc, c, proc) in enumerate(lines)]  # fmt: skip
    path = tmp_path / f"p{month}.835"
    path.write_text(build_835([RemitSpec(claims=claims, payment_date=month, production_date=None)]))
    ingest_file(store, path, rules, TODAY)
    rows = worklist.queue(store, TODAY, status="all", limit=None)
    for op, pick, share in ops:
        d = rows[pick % len(rows)]
        try:
            if op == "submit":
                lifecycle.submit(store, d["id"], actor="t", today=TODAY)
            elif op == "writeoff":
                lifecycle.writeoff(store, d["id"], "x", actor="t", today=TODAY)
            elif op == "uphold":
                lifecycle.outcome(store, d["id"], "upheld", actor="t", today=TODAY)
            elif op == "overturn":
                lifecycle.outcome(store, d["id"], "overturned", actor="t", today=TODAY)
            else:
                part = (Decimal(d["amount_at_risk"]) * share / 100).quantize(Decimal("0.01"))
                lifecycle.outcome(store, d["id"], "partially_overturned", actor="t",
                                  recovered=part, today=TODAY)  # fmt: skip
        except (lifecycle.InvalidTransition, lifecycle.UsageError):
            pass
    rows = worklist.queue(store, TODAY, status="all", limit=None)

    def total(key, where=lambda r: True):
        return sum((Decimal(r[key] or "0") for r in rows if where(r)), Decimal(0))

    roi = reports.roi(store)
    assert Decimal(roi["total"]["denied"]) == total("amount_at_risk")
    assert Decimal(roi["total"]["recovered"]) == total("recovered")
    assert Decimal(roi["total"]["written_off"]) == total(
        "amount_at_risk", lambda r: r["status"] == "written_off"
    )
    assert sum(Decimal(m["denied"]) for m in roi["months"]) == Decimal(roi["total"]["denied"])
    assert Decimal(roi["total"]["recovered"]) <= Decimal(roi["total"]["denied"])
    t = reports.tracking(store, TODAY)
    assert Decimal(t["open"]["amount"]) == total(
        "amount_at_risk", lambda r: r["status"] in OPEN_STATUSES
    )
    for key in ("by_status", "by_tier", "by_category", "by_team"):
        assert sum(Decimal(x["amount"]) for x in t[key]) == Decimal(t["open"]["amount"])
    p = reports.patterns(store, rules, TODAY, since="2026-01-01", until="2026-12-31", limit=0)
    assert sum(Decimal(x["amount"]) for x in p["patterns"]) == Decimal(roi["total"]["denied"])
    team = reports.team(store, TODAY)["team"]
    assert sum(Decimal(x["recovered"]) for x in team) == Decimal(roi["total"]["recovered"])
    store.close()
