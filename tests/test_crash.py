"""kill -9 of ``denialkit nightly`` at random moments: every inbox file is either stored (and
archived, or still in the inbox) or still in the inbox; never archived without its rows, never
half stored. (A power cut is the durability test in test_hardening: the commit is fsynced,
synchronous = FULL, before the file moves.)"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec, build_835

KILLS = 5
CLAIMS = 200


def _file(round_: int, i: int) -> str:
    claims = [
        ClaimSpec(
            f"R{round_}F{i}C{c}",
            payer_claim_id=f"ICN{round_}-{i}-{c}",
            patient=("PATIENT", f"N{round_}{i}{c}", f"M{round_}-{i}-{c}"),
            lines=[LineSpec("99213", D("120.00"), adjustments=[Adj("CO", "50", D("120.00"))])],
        )
        for c in range(CLAIMS)
    ]
    return build_835(RemitSpec(claims=claims, trace=f"T{round_}-{i}"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check(db: Path, inbox: Path, archive: Path, made: dict[str, str]) -> None:
    """Every file made is in the inbox or the archive; an archived one is stored whole."""
    stored: dict[str, tuple[int, int]] = {}
    if db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'files'").fetchone():
                for sha, want, have in conn.execute(
                    "SELECT f.sha256, f.claims, (SELECT COUNT(*) FROM claims c JOIN remittances "
                    "r ON r.id = c.remittance_id WHERE r.file_id = f.id) FROM files f"
                ):
                    stored[sha] = (want, have)
    for sha, (want, have) in stored.items():
        assert want == have == CLAIMS, f"file {sha[:8]} half stored: {have} of {want} claims"
    archived = {p.name: p for p in archive.rglob("*.835")}
    waiting = {p.name: p for p in inbox.rglob("*.835")}
    for name, sha in made.items():
        assert name in archived or name in waiting, f"{name} lost"
        if name in archived:
            assert _sha(archived[name]) == sha
            assert sha in stored, f"{name} archived without its rows"


def test_kill_nightly_at_random_moments(tmp_path):
    rng = random.Random(os.environ.get("DENIALKIT_CRASH_SEED", "11"))
    inbox, archive, reports = tmp_path / "inbox", tmp_path / "archive", tmp_path / "reports"
    inbox.mkdir()
    db = tmp_path / "d.db"
    made: dict[str, str] = {}
    cmd = [sys.executable, "-m", "denialkit", "nightly", "--inbox", str(inbox), "--archive",
           str(archive), "--reports", str(reports), "--db", str(db)]  # fmt: skip
    env = {**os.environ, "DENIALKIT_TODAY": "2026-11-27"}
    killed = round_ = 0
    # Until KILLS runs were killed part-way (a run that finished first does not count).
    while killed < KILLS and round_ < 3 * KILLS:
        round_ += 1
        for i in range(3):
            p = inbox / f"r{round_}-{i}.835"
            p.write_text(_file(round_, i))
            made[p.name] = _sha(p)
        log = reports / "nightly.log"
        start = log.stat().st_size if log.exists() else 0
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait for the run to start (its first log line), then kill at a random moment of it:
        # ingesting, archiving, retriaging or writing the reports.
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and log.stat().st_size > start:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.35))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
        _check(db, inbox, archive, made)
    assert killed >= KILLS, "runs finished before the kill: make the files bigger"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _check(db, inbox, archive, made)
    assert not list(inbox.rglob("*.835")), "after a full run every file is archived"
