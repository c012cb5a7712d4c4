"""The cron entry point: ingest the inbox, archive what was stored, retriage, write reports.

One run at a time: a lock file beside the database (``<db>.nightly.lock``, an OS file lock that
is released if the process dies) makes an overlapping run stop at once with an error instead of
ingesting the same inbox twice.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import reports
from .errors import DenialkitError
from .intake import FileResult, find_files, ingest_paths
from .lifecycle import now_iso
from .rules import Rules
from .store import Store
from .workflow import triage


class Locked(DenialkitError):
    """Another nightly run holds the lock."""


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(
                f"another nightly run is in progress (lock {path}); not starting"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {now_iso()}\n".encode())
        yield
    finally:
        os.close(fd)


@dataclass
class NightlyResult:
    files: list[FileResult] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    triaged: int = 0
    reports: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def as_dict(self) -> dict[str, object]:
        count = {s: sum(1 for f in self.files if f.status == s) for s in
                 ("ingested", "duplicate", "failed")}  # fmt: skip
        return {
            "files": count,
            "denials_found": sum(f.denials for f in self.files),
            "failed": [f.error.as_dict() for f in self.failed if f.error],
            "archived": self.archived,
            "retriaged": self.triaged,
            "reports": self.reports,
        }


def _archive(path: Path, inbox: Path, archive: Path, today: dt.date) -> Path:
    rel = path.relative_to(inbox) if path.is_relative_to(inbox) else Path(path.name)
    dest = archive / today.isoformat() / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while dest.exists():  # never overwrite an archived file
        dest = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        n += 1
    shutil.move(str(path), dest)
    return dest


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a report


def run(
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    inbox: Path,
    reports_dir: Path,
    archive: Path | None = None,
    lock: Path,
    redact: bool = False,
    log: Callable[[str], None] = lambda _: None,
    progress: Callable[[FileResult], None] | None = None,
) -> NightlyResult:
    """Ingest every file in ``inbox`` (stored and duplicate files move to
    ``archive/<date>/``; failed ones stay, their error logged), recompute deadlines and tiers,
    expire what is overdue, and write ``<date>-summary.html`` and ``<date>-<kind>.json``."""
    result = NightlyResult()
    with run_lock(lock):
        reports_dir.mkdir(parents=True, exist_ok=True)
        files = list(find_files([inbox]))
        log(f"nightly {today.isoformat()}: {len(files)} file(s) in {inbox}")
        report = ingest_paths(store, files, progress=progress, rules=rules, today=today)
        result.files = report.files
        for f in report.files:
            if f.status == "failed":
                e = f.error
                where = f"{e.file}: segment {e.segment}" if e and e.segment else f.path
                log(f"FAILED {where}: {e.message if e else 'unknown error'} (left in the inbox)")
                continue
            log(f"{f.status} {Path(f.path).name} ({f.denials} denials)")
            if archive is not None:
                result.archived.append(str(_archive(Path(f.path), inbox, archive, today)))
        with store.transaction():
            result.triaged = triage(store, rules, today)
        stamp = today.isoformat()
        sections = {
            kind: reports.build(kind, store, rules, today, redact=redact)
            for kind in reports.KINDS
            if kind != "summary"
        }
        sections["summary"] = reports.summary(dict(sections), today, None, None, None)
        for kind, data in sections.items():
            path = reports_dir / f"{stamp}-{kind}.json"
            _write(path, json.dumps(data, indent=2) + "\n")
            result.reports.append(str(path))
        page = reports_dir / f"{stamp}-summary.html"
        _write(page, reports.render_html(sections["summary"], store, today))
        result.reports.append(str(page))
        log(f"retriaged {result.triaged}; reports in {reports_dir}; "
            f"{len(result.failed)} file(s) failed")  # fmt: skip
    return result
