from __future__ import annotations

import os
import stat
import subprocess
import sys
from decimal import Decimal

import pytest

from denialkit.intake import find_files, ingest_file, ingest_paths
from denialkit.store import Store
from denialkit.synthetic import (
    Adj,
    D,
    Layout,
    build_835,
)

from .conftest import ROOT
from .conftest import remit_spec as spec


def test_ingest_stores_everything_exactly(store, write835):
    r = ingest_file(store, write835(spec()))
    assert r.status == "ingested" and r.error is None and r.warnings == []
    t = r.totals
    assert (t.transactions, t.claims, t.service_lines) == (1, 3, 6)
    assert t.total_charge == Decimal("690.00")
    assert t.total_paid == Decimal("235.41")  # 3 * (98.10 - 19.62 ... see below)
    assert t.payment_total == Decimal("226.66")
    assert t.adjustments_by_group["CO"] == Decimal("395.70")
    rows = store.query("SELECT charge_cents, paid_cents, patient_resp_cents, status FROM claims")
    assert rows[0] == {
        "charge_cents": 23000,
        "paid_cents": 7847,
        "patient_resp_cents": 1962,
        "status": "1",
    }
    assert store.count("service_lines") == 6
    assert store.count("adjustments") == 3 * (1 + 3)
    assert store.query("SELECT DISTINCT code FROM remarks") == [{"code": "N130"}]
    lines = store.query(
        "SELECT procedure, modifiers, allowed_cents, line_control, date_from "
        "FROM service_lines ORDER BY id LIMIT 2"
    )
    assert lines == [
        {
            "procedure": "99213",
            "modifiers": "",
            "allowed_cents": 9810,
            "line_control": "0-1",
            "date_from": "2026-10-05",
        },
        {
            "procedure": "97110",
            "modifiers": "GP",
            "allowed_cents": None,
            "line_control": "",
            "date_from": "2026-10-05",
        },
    ]
    plb = store.query("SELECT reason, reference, amount_cents FROM provider_adjustments")
    assert plb == [
        {"reason": "WO", "reference": "X1", "amount_cents": 1000},
        {"reason": "L6", "reference": "", "amount_cents": -125},
    ]
    rem = store.query("SELECT * FROM remittances")[0]
    assert rem["payment_cents"] == 22666 and rem["notice_date"] == "2026-11-01"
    assert rem["trace_number"] == "T1" and rem["claim_count"] == 3
    raw = store.raw_text(rem["id"])
    assert raw.startswith("ST*835*0001") and raw.rstrip().endswith("SE*58*0001~")


def test_money_never_becomes_float(store, write835):
    s = spec(n=1)
    s.claims[0].lines[0].charge = D("0.10")
    s.claims[0].lines[0].adjustments = [Adj("CO", "45", D("0.07"))]
    ingest_file(store, write835(s))
    if store.engine == "sqlite":  # PostgreSQL's columns are BIGINT by declaration
        [(typ,)] = store.conn.execute("SELECT DISTINCT typeof(charge_cents) FROM claims").fetchall()
        assert typ == "integer"
    assert isinstance(store.query("SELECT charge_cents FROM claims")[0]["charge_cents"], int)
    assert store.query("SELECT paid_cents FROM service_lines ORDER BY id LIMIT 1") == [
        {"paid_cents": 3}
    ]


def test_same_file_twice_adds_nothing(store, write835):
    path = write835(spec())
    assert ingest_file(store, path).status == "ingested"
    before = store.totals()
    again = ingest_file(store, path)
    assert again.status == "duplicate" and again.totals.claims == 0
    assert store.totals() == before


def test_same_remittance_in_another_file_is_a_duplicate(store, write835):
    ingest_file(store, write835(spec()))
    other = write835(spec(), layout=Layout(element="|", newline=""))  # same TRN/BPR/payer
    r = ingest_file(store, other)
    assert r.status == "duplicate"
    assert store.count("claims") == 3


def test_file_with_one_new_and_one_known_remittance_stores_only_the_new(store, write835):
    ingest_file(store, write835(spec("A")))
    r = ingest_file(store, write835([spec("A"), spec("B", n=2)]))
    assert r.status == "ingested" and r.totals.claims == 2 and r.duplicate_transactions == 1
    assert any("repeats a remittance already stored" in w.message for w in r.warnings)
    assert store.count("remittances") == 2


def test_bad_file_stores_nothing_and_others_go_on(store, write835, tmp_path):
    good = write835(spec("G"), name="a-good.835")
    bad = tmp_path / "b-bad.835"
    bad.write_text(build_835(spec("X")).replace("CLP*PCN2*1*230", "CLP*PCN2*1*2x0"))
    report = ingest_paths(store, [tmp_path])
    statuses = {os.path.basename(f.path): f.status for f in report.files}
    assert statuses == {"a-good.835": "ingested", "b-bad.835": "failed"}
    [failed] = [f for f in report.files if f.status == "failed"]
    assert failed.error.segment is not None and "CLP03" in failed.error.message
    # Nothing of the bad file: its first two claims were parsed before the error.
    assert store.query("SELECT COUNT(*) AS n FROM remittances WHERE trace_number = 'X'") == [
        {"n": 0}
    ]
    assert report.failed and report.as_dict()["files"] == {
        "ingested": 1,
        "duplicate": 0,
        "failed": 1,
    }
    assert good.exists()


def test_find_files_sniffs_content_not_extension(tmp_path, write835):
    write835(spec(), name="remit.txt")
    (tmp_path / "notes.835").write_text("not an edi file")
    (tmp_path / "sub").mkdir()
    write835(spec(), name="sub/era.dat")
    names = sorted(p.name for p in find_files([tmp_path]))
    assert names == ["era.dat", "remit.txt"]


def test_database_is_owner_only_and_in_wal_mode(tmp_path, write835):
    path = tmp_path / "private" / "d.db"
    s = Store(path)
    ingest_file(s, write835(spec()))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    wal = path.with_name("d.db-wal")
    assert not wal.exists() or stat.S_IMODE(os.stat(wal).st_mode) == 0o600
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


@pytest.mark.slow
def test_two_ingests_at_once_both_finish(tmp_path, write835):
    db = tmp_path / "shared.db"
    Store(db).close()
    a = write835([spec(f"A{i}", n=200) for i in range(5)], name="a.835")
    b = write835([spec(f"B{i}", n=200) for i in range(5)], name="b.835")
    cmd = [sys.executable, "-m", "denialkit", "ingest", "--db", str(db), "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen([*cmd, str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for p in (a, b)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    s = Store(db)
    assert s.count("claims") == 2000 and s.count("remittances") == 10
    s.close()
