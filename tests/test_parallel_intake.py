"""Parallel intake (``ingest -j N``): on SQLite, worker processes parse the files into scratch
files and one process copies their rows in and does the denial work, in file order; on
PostgreSQL, workers read ahead (hash, kind, content digests) and one process parses and stores.
The store must end up exactly as with one process."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from denialkit import intake
from denialkit.intake import ingest_paths, parse_in_worker, read_in_worker
from denialkit.rules import load_rules
from denialkit.store import Store
from denialkit.store.schema import _TABLES
from denialkit.synthetic import RemitSpec, build_835

from .conftest import remit_spec

TODAY = dt.date(2026, 11, 27)
# Columns that say when a run happened or where its files were, not what it stored.
_WHEN = {"ingested_at", "created_at", "path", "at"}


def _spec(trace: str, first: int, n: int = 4) -> RemitSpec:
    return remit_spec(trace, n, first=first)


@pytest.fixture
def mixed(tmp_path):
    """A folder of good files, a copy of one, a file repeating a stored transaction, and
    files that fail (an amount that is not a number; a truncated file)."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.835").write_text(build_835([_spec("A1", 0), _spec("A2", 10)]), newline="")
    (d / "b.835").write_text(build_835(_spec("B1", 20)), newline="")
    shutil.copy(d / "a.835", d / "c-copy-of-a.835")
    # One transaction already stored (A2), one new: stored, with a warning.
    (d / "d.835").write_text(build_835([_spec("A2", 10), _spec("D1", 30)]), newline="")
    bad = build_835(_spec("E1", 40)).replace("CAS*CO*50*80", "CAS*CO*50*8O", 1)
    assert bad != build_835(_spec("E1", 40))
    (d / "e-bad-amount.835").write_text(bad, newline="")
    good = build_835(_spec("F1", 50))
    (d / "f-truncated.835").write_text(good[: len(good) // 2], newline="")
    (d / "g.835").write_text(build_835(_spec("G1", 60, n=30)), newline="")
    return d


def _content(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the run's timestamps and the ids (PostgreSQL's sequences
    skip the ids of a file rolled back; SQLite's do not), sorted."""
    out = {}
    for table, spec in _TABLES.items():
        if table == "meta":
            continue
        cols = [
            c for c in spec["columns"] if c not in _WHEN and c != "id" and not c.endswith("_id")
        ]
        rows = store.conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()  # noqa: S608
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_four_jobs_store_exactly_what_one_does(mixed, tmp_path, store):
    rules = load_rules()
    one = Store(tmp_path / "one.db")
    r1 = ingest_paths(one, [mixed], rules=rules, today=TODAY, jobs=1)
    r4 = ingest_paths(store, [mixed], rules=rules, today=TODAY, jobs=4)
    assert r4.as_dict() == r1.as_dict()
    assert [(f.path, f.status) for f in r4.files] == [(f.path, f.status) for f in r1.files]
    statuses = {f.path.rsplit("/", 1)[1]: f.status for f in r4.files}
    assert statuses == {
        "a.835": "ingested",
        "b.835": "ingested",
        "c-copy-of-a.835": "duplicate",
        "d.835": "ingested",
        "e-bad-amount.835": "failed",
        "f-truncated.835": "failed",
        "g.835": "ingested",
    }
    assert r4.denials > 0 and r4.totals.claims == 4 + 4 + 4 + 4 + 30
    assert _content(store) == _content(one)
    one.close()


def test_a_file_failing_in_a_worker_stores_nothing_of_it(mixed, store):
    """The worker's pass fails on a segment too long to be one (no terminator): that file
    fails alone, with the reader's message, and nothing of it is stored."""
    good = build_835(_spec("H1", 70))
    long_ref = "REF*6R*" + "9" * 70_000
    (mixed / "h-unreadable.835").write_text(good.replace("REF*6R*70-1", long_ref, 1), newline="")
    assert read_in_worker(mixed / "h-unreadable.835").contents_failure is not None
    report = ingest_paths(store, [mixed / "h-unreadable.835", mixed / "b.835"], jobs=2)
    bad, ok = report.files
    assert bad.status == "failed" and ok.status == "ingested"
    assert bad.error is not None and "longer than" in bad.error.message and bad.error.segment
    assert bad.totals.claims == 0
    assert store.count("files") == 1 and store.count("remittances") == 1
    assert store.count("claims") == 4


def test_what_a_worker_reads_ahead(mixed):
    """Hashes and kind only: the parse stays with the storing process."""
    pre = read_in_worker(mixed / "a.835")
    assert pre.error is None and pre.kind is None and len(pre.digest) == 64
    assert pre.contents is not None and len(pre.contents) == 2
    (mixed / "ack.999").write_text(
        build_835(_spec("Z", 0)).replace("ST*835", "ST*999", 1), newline=""
    )
    other = read_in_worker(mixed / "ack.999")
    assert other.kind is not None and other.contents is None


def test_default_jobs_start_workers_only_for_enough_input(tmp_path, monkeypatch):
    import os

    from denialkit import intake

    small = [tmp_path / "a.835", tmp_path / "b.835"]
    for p in small:
        p.write_text(build_835(_spec("S1", 1)), newline="")
    assert intake.default_jobs(small) == 1  # a few KB: starting workers costs more
    monkeypatch.setattr(intake, "AUTO_JOBS_MIN_BYTES", sum(p.stat().st_size for p in small))
    assert intake.default_jobs(small) == max(1, min(os.cpu_count() or 1, intake.MAX_JOBS))
    assert intake.default_jobs() == max(1, min(os.cpu_count() or 1, intake.MAX_JOBS))


def _rows(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ids and all, but when and where a run happened."""
    out = {}
    for table, spec in _TABLES.items():
        cols = [c for c in spec["columns"] if c not in _WHEN]
        rows = store.conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()  # noqa: S608
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


@pytest.mark.parametrize("split", [False, True], ids=["file-a-worker", "files-shared"])
def test_rows_copied_from_workers_are_the_rows_one_process_writes(
    mixed, tmp_path, monkeypatch, split
):
    """SQLite gives the same ids either way: every row, every id and every link between them
    (a line's claim, an adjustment's line, a denial's claim and line) is the same; the claim
    keys and first-adjudication marks the copy computes too. Files stored twice in a row (a
    reversal and a correction of stored claims) exercise the marks against stored claims.
    ``files-shared``: every file is parsed by all four workers, each keeping every fourth
    transaction (most files have fewer: some shares keep none)."""
    if split:
        monkeypatch.setattr(intake, "SPLIT_MIN_BYTES", 0)
    later = tmp_path / "later"
    later.mkdir()
    again = _spec("A9", 0)
    for c in again.claims[:2]:
        c.status = "22"
    (later / "h.835").write_text(build_835([again, _spec("H1", 20)]), newline="")
    (later / "i.835").write_text(build_835(_spec("I1", 60, n=30)), newline="")
    many = [_spec(f"J{i}", 100 + 10 * i, n=3) for i in range(9)]
    many[4] = _spec("A1", 0)  # a transaction stored before, amid others: skipped, warned
    (later / "j-nine-transactions.835").write_text(build_835(many), newline="")
    rules = load_rules()
    one, four = Store(tmp_path / "one.db"), Store(tmp_path / "four.db")
    for folder in (mixed, later):
        r1 = ingest_paths(one, [folder], rules=rules, today=TODAY, jobs=1)
        r4 = ingest_paths(four, [folder], rules=rules, today=TODAY, jobs=4)
        assert r4.as_dict() == r1.as_dict()
    assert one.count("denials") > 0 and one.count("claims") > 40
    assert _rows(four) == _rows(one)
    one.close()
    four.close()


def test_scratch_files_are_private_and_gone_after_the_run(mixed, tmp_path, monkeypatch):
    """A worker's scratch file holds PHI: owner-only, in a folder of its own, removed when
    its rows are copied; the folder goes at the end of the run, failures or not."""
    folder = tmp_path / "scratch"
    folder.mkdir(mode=0o700)
    monkeypatch.setitem(intake._WORKER, "folder", str(folder))
    monkeypatch.setitem(intake._WORKER, "rules", load_rules())
    parsed = parse_in_worker(mixed / "a.835")
    assert parsed.failure is None and len(parsed.scratches) == 1
    scratch = Path(parsed.scratches[0])
    assert scratch.parent == folder and scratch.stat().st_mode & 0o777 == 0o600
    assert [tx.header.trace_number for tx in parsed.transactions] == ["A1", "A2"]
    failed = parse_in_worker(mixed / "e-bad-amount.835")
    assert failed.failure is not None and failed.scratches == []
    assert list(folder.iterdir()) == [scratch]  # the failed file left nothing
    idle = parse_in_worker(mixed / "a.835", (3, 4))  # two transactions, a fourth share
    assert idle.skipped and idle.scratches == [] and idle.transactions == []
    assert list(folder.iterdir()) == [scratch]

    runs = tmp_path / "tmp"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    report = ingest_paths(Store.memory(), [mixed], rules=load_rules(), today=TODAY, jobs=2)
    assert report.count("failed") == 2 and report.count("ingested") == 4
    assert list(runs.iterdir()) == []
    # With a database file: beside it (where its rows are going), hidden, gone after the run.
    home = tmp_path / "office"
    seen: list[str] = []
    combine = intake.combine

    def spy(shares):  # runs in the storing process, as each parsed file arrives
        seen.extend(p.name for p in home.iterdir() if p.is_dir())
        return combine(shares)

    monkeypatch.setattr(intake, "combine", spy)
    with Store(home / "denials.db") as store:
        report = ingest_paths(store, [mixed], rules=load_rules(), today=TODAY, jobs=2)
    assert report.count("ingested") == 4
    assert seen and all(name.startswith(".denialkit-intake-") for name in seen)
    assert not [p for p in home.iterdir() if p.is_dir()]


def test_postgresql_workers_read_ahead_and_parse_nothing(mixed, pg_pooled, monkeypatch):
    """A scratch file would reach PostgreSQL row by row through Python: there the workers only
    read ahead, and the result is the same."""
    seen: list[bool] = []
    original = intake._read_ahead

    def spy(files, jobs, rules, parse, beside=None):
        seen.append(parse)
        return original(files, jobs, rules, parse, beside)

    monkeypatch.setattr(intake, "_read_ahead", spy)
    store = Store(pg_pooled)
    try:
        r = ingest_paths(store, [mixed], rules=load_rules(), today=TODAY, jobs=2)
    finally:
        store.close()
    assert seen == [False] and r.count("ingested") == 4


def test_a_large_file_is_shared_by_as_many_workers_as_it_has_transactions(tmp_path, monkeypatch):
    """Counted in the bytes, with the file's own separator, across block edges; a file of one
    transaction stays one worker's (the others would read it for nothing)."""
    from denialkit.synthetic import Layout

    specs = [_spec(f"K{i}", 10 * i, n=2) for i in range(5)]
    one = tmp_path / "one.835"
    one.write_text(build_835(specs[:1]), newline="")
    five = tmp_path / "five.835"
    five.write_text("\ufeff" + build_835(specs, Layout(element="|", newline="\r\n")), newline="")
    monkeypatch.setattr(intake, "SPLIT_MIN_BYTES", 0)
    assert intake._count_835(one) == 1 and intake._count_835(five) == 5
    assert {intake._count_835(five, size) for size in (1, 5, 6, 7, 64)} == {5}
    assert intake._shares(one, 4, True) == 1
    assert intake._shares(five, 4, True) == 4 and intake._shares(five, 8, True) == 5
    assert intake._shares(five, 4, False) == 1  # PostgreSQL: read ahead, not shared
    monkeypatch.setattr(intake, "SPLIT_MIN_BYTES", five.stat().st_size + 1)
    assert intake._shares(five, 4, True) == 1


def test_progress_moves_a_whole_file_at_a_time_when_workers_parse(mixed):
    """The storing process reads nothing itself then: the bar moves as each file is stored,
    to its size, with its claims."""
    seen: list[tuple[str, int, int]] = []
    ingest_paths(
        Store.memory(),
        [mixed / "a.835", mixed / "g.835"],
        read_progress=lambda p, done, claims: seen.append((p.name, done, claims)),
        jobs=2,
    )
    assert seen == [
        ("a.835", (mixed / "a.835").stat().st_size, 8),
        ("g.835", (mixed / "g.835").stat().st_size, 30),
    ]


def test_a_killed_runs_scratch_folder_is_removed_by_the_next(mixed, tmp_path):
    """kill -9 leaves the folder of scratch files (PHI) beside the database; the next
    parallel run removes it when the process that made it is gone, never a live one's."""
    import subprocess
    import sys

    home = tmp_path / "office"
    home.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = home / f".denialkit-intake-{gone}-abc123"
    stale.mkdir(mode=0o700)
    (stale / "rows.db").write_bytes(b"PHI")
    live = home / f".denialkit-intake-{os.getpid()}-def456"
    live.mkdir(mode=0o700)
    other = home / ".denialkit-intake-notapid"
    other.mkdir()
    with Store(home / "denials.db") as store:
        ingest_paths(store, [mixed / "a.835", mixed / "b.835"], jobs=2)
    assert not stale.exists() and live.exists() and other.exists()
