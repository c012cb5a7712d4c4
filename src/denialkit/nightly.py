"""The cron entry point: ingest the inbox, archive what was stored, retriage, write reports.

One run at a time: a lock file beside the database (``<db>.nightly.lock``, an OS file lock that
is released if the process dies), or on PostgreSQL an advisory lock held by the run's connection
(released when it ends), makes an overlapping run stop at once with an error instead of
ingesting the same inbox twice.

Nothing stops the run: every file in the inbox gets an answer (stored, duplicate, or failed with
the reason, including files that cannot be read or are not X12), the reports and the log are
always written, and a file moves to the archive only after its rows are durably on disk
(``synchronous = FULL`` while ingesting), so a crash or power cut at any moment leaves each file
either stored or still in the inbox.
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
from .detection import triage
from .era import Issue
from .errors import DenialkitError, UsageError
from .files import FILE_MODE, private_dir, write_private
from .intake import FileResult, ingest_paths, log_traceback, not_x12_reason
from .rules import Rules
from .store import Store
from .vocabulary import now_iso


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


@contextmanager
def one_run(store: Store, lock: Path | None) -> Iterator[None]:
    """The nightly run's lock: PostgreSQL's advisory lock (any machine running nightly against
    the same database), else the lock file."""
    if store.engine == "postgresql":
        if not store.try_lock("nightly"):
            raise Locked(
                "another nightly run is in progress (PostgreSQL advisory lock); not starting"
            )
        try:
            yield
        finally:
            store.unlock("nightly")
        return
    if lock is None:
        raise UsageError("a SQLite nightly run needs a lock file")
    with run_lock(lock):
        yield


@dataclass
class NightlyResult:
    files: list[FileResult] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    triaged: int = 0
    reports: list[str] = field(default_factory=list)
    report_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """No file failed and every report was written (the exit status is 0)."""
        return not self.failed and not self.report_errors

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
            "report_errors": self.report_errors,
        }


def check_folders(inbox: Path, archive: Path | None, reports_dir: Path) -> None:
    """Refuse an archive (or reports folder) inside the inbox, or an inbox inside either: the
    run would read its own output back as input, nesting deeper every night."""
    i = inbox.resolve()
    for name, other in (("archive", archive), ("reports", reports_dir)):
        if other is None:
            continue
        o = other.resolve()
        if o == i or o.is_relative_to(i) or i.is_relative_to(o):
            raise UsageError(
                f"the {name} folder {other} and the inbox {inbox} overlap (one is inside the "
                "other); give separate folders",
                parameter=name,
            )


def scan_inbox(inbox: Path) -> tuple[list[Path], list[FileResult]]:
    """Every file in the inbox (names starting with '.' excepted): those that may be 835s,
    and a failed result, with the reason, for each one that cannot be read or is not X12."""
    candidates: list[Path] = []
    rejected: list[FileResult] = []

    def unreadable(exc: OSError) -> None:
        where = exc.filename or str(inbox)
        rejected.append(
            FileResult(
                where, "failed", error=Issue(where, None, f"cannot read folder: {exc.strerror}")
            )  # fmt: skip
        )

    for folder, dirs, names in os.walk(inbox, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if n.startswith("."):
                continue
            path = Path(folder) / n
            reason = not_x12_reason(path)
            if reason is None:
                candidates.append(path)
            else:
                rejected.append(
                    FileResult(str(path), "failed", error=Issue(str(path), None, reason))
                )
    return candidates, rejected


def _archive(path: Path, inbox: Path, archive: Path, today: dt.date) -> Path:
    rel = path.relative_to(inbox) if path.is_relative_to(inbox) else Path(path.name)
    dest = archive / today.isoformat() / rel
    private_dir(dest.parent)
    n = 1
    while dest.exists():  # never overwrite an archived file
        dest = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        n += 1
    shutil.move(str(path), dest)
    os.chmod(dest, FILE_MODE)  # it holds patient data: owner-only in the archive too
    return dest


def _write(path: Path, text: str) -> None:
    write_private(path, text)  # owner-only; a reader never sees half a report


def run(
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    inbox: Path,
    reports_dir: Path,
    archive: Path | None = None,
    lock: Path | None = None,
    redact: bool = False,
    practice: str | None = None,
    log: Callable[[str], None] = lambda _: None,
    progress: Callable[[FileResult], None] | None = None,
    jobs: int | None = None,
) -> NightlyResult:
    """Ingest every file in ``inbox`` (stored and duplicate files move to
    ``archive/<date>/``; failed ones stay, their error logged), recompute deadlines and tiers,
    expire what is overdue, and write ``<date>-summary.html`` and ``<date>-<kind>.json``
    (of one client practice with ``practice``). ``lock``: the lock file (SQLite only)."""
    result = NightlyResult()
    check_folders(inbox, archive, reports_dir)
    with one_run(store, lock):
        private_dir(reports_dir)
        files, rejected = scan_inbox(inbox)
        log(f"nightly {today.isoformat()}: {len(files) + len(rejected)} file(s) in {inbox}")
        # Each file's commit is fsynced before it returns: only then may the file be archived.
        with store.durable_commits():
            report = ingest_paths(
                store,
                files,
                progress=progress,
                rules=rules,
                today=today,
                jobs=jobs,
            )
        result.files = rejected + report.files
        for f in result.files:
            if f.status == "failed":
                e = f.error
                where = f"{e.file}: segment {e.segment}" if e and e.segment else f.path
                log(f"FAILED {where}: {e.message if e else 'unknown error'} (left in the inbox)")
                continue
            log(f"{f.status} {Path(f.path).name} ({f.denials} denials)")
            if archive is not None:
                result.archived.append(str(_archive(Path(f.path), inbox, archive, today)))
        try:
            with store.transaction():
                result.triaged = triage(store, rules, today)
        except Exception as exc:  # the reports are still written
            _report_error(store, result, "retriage", exc, log)
        stamp = today.isoformat()

        def failed(kind: str, exc: Exception) -> reports.FailedReport:
            # One broken report never stops the rest.
            _report_error(store, result, kind, exc, log)
            return {"report": kind, "error": f"{type(exc).__name__}"}

        # Each report computed once: its own file, and the summary's section.
        parts = reports.sections(store, rules, today, redact=redact, practice=practice,
                                 failed=failed)  # fmt: skip
        sections: dict[str, reports.Report | reports.FailedReport] = dict(parts)
        try:
            # as_sections refuses a summary missing a part that failed (logged above).
            sections["summary"] = reports.summary(
                reports.as_sections(parts), today, None, None, None
            )
        except Exception as exc:  # the rest is still written
            sections["summary"] = failed("summary", exc)
        if practice is not None:  # each file names it (copies: the summary holds the parts)
            for kind, data in list(sections.items()):
                stamped = data.copy()
                stamped["practice"] = practice
                sections[kind] = stamped
        for kind, data in sections.items():
            path = reports_dir / f"{stamp}-{kind}.json"
            _write(path, json.dumps(data, indent=2) + "\n")
            result.reports.append(str(path))
        page = reports_dir / f"{stamp}-summary.html"
        try:
            html = reports.render_html(sections["summary"], store, today)
        except Exception as exc:  # the rest is still written
            _report_error(store, result, "summary.html", exc, log)
            html = "<!doctype html><title>denialkit</title><p>The summary page failed; see the log."
        _write(page, html)
        result.reports.append(str(page))
        log(f"retriaged {result.triaged}; reports in {reports_dir}; "
            f"{len(result.failed)} file(s) failed")  # fmt: skip
    return result


def _report_error(
    store: Store, result: NightlyResult, what: str, exc: Exception, log: Callable[[str], None]
) -> None:
    """Log a failed step (its traceback to the error log, not the terminal) and carry on."""
    result.report_errors.append(what)
    logged = log_traceback(store, f"nightly {what}", exc)
    where = f"; traceback in {logged}" if logged else ""
    log(f"ERROR {what}: unexpected {type(exc).__name__}{where}; the run goes on")
