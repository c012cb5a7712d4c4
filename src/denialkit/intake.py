"""Ingest 835 files into the store: find files, hash, parse, store whole or not at all.

``ingest_paths(store, paths)`` is what ``denialkit ingest`` runs; it never raises for a bad
file: any failure inside one file, even an exception nobody foresaw, fails that file alone
(nothing of it stored, the traceback appended to an error log) and the others go on.

A remittance is a duplicate when its content (the segments between ST and SE but the
production date DTM*405, elements stripped of white space, with the file's own delimiters
replaced) equals one stored before; the same payer, TRN02 and BPR02 with other content is
stored, with a warning.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .edi837 import parse_837
from .era import (
    ZERO,
    Claim,
    EraStream,
    Issue,
    ProviderAdjustment,
    RawText,
    RemittanceEnd,
    RemittanceHeader,
)
from .errors import DenialkitError, X12Error
from .filekinds import CLAIMS, not_a_remittance
from .files import private_open
from .linking import link_remittances, link_submissions
from .rules import Rules
from .store import ClaimWriter, Store, to_cents
from .workflow import DenialProcessor
from .x12 import SegmentReader, check_regular_file

GROUPS = ("CO", "PR", "OA", "PI", "CR")
_SNIFF_BYTES = 4096


def error_log_path(store: Store) -> Path:
    """Where tracebacks of unexpected errors go: ``<db>.errors.log`` beside the database."""
    if store.path is not None:
        return store.path.with_name(store.path.name + ".errors.log")
    return Path(tempfile.gettempdir()) / "denialkit-errors.log"


def not_x12_reason(path: Path) -> str | None:
    """Why a file found in a folder cannot be an 835 (None when it may be one).

    Says what it is instead where that is easy to tell (gzip, UTF-16, NUL bytes), so the
    office knows what to do with it; never quotes the content.
    """
    try:
        check_regular_file(path)
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except X12Error as exc:
        return exc.reason
    except OSError as exc:
        return f"cannot read file: {exc.strerror}"
    if not head:
        return "file is empty"
    if head[:2] == b"\x1f\x8b":
        return "gzip-compressed: unpack it first"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"I\x00S\x00A\x00" in head[:16]:
        return "UTF-16 text: X12 must be ASCII or UTF-8; convert it first"
    if head[:1] == b"\x00":
        return "begins with NUL bytes: not an X12 file (damaged or padded?)"
    if head[:4] == b"PK\x03\x04":
        return "a ZIP archive: unpack it first"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("ISA") or (text.startswith("ST") and text[3:6] == "835"):
        return None
    return "not an X12 file: it does not begin with ISA (or ST*835)"


def looks_like_x12(path: Path) -> bool:
    """True when the file begins with ISA (or a bare ST*835) after a BOM and white space."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return text.startswith("ISA") or (text.startswith("ST") and text[3:6] == "835")


def find_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named directly, and X12 files found (by content) under directories."""
    seen: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            candidates: Iterable[Path] = (
                c for c in sorted(p.rglob("*")) if c.is_file() and looks_like_x12(c)
            )
        else:
            candidates = [p]
        for c in candidates:
            key = c.resolve()
            if key not in seen:
                seen.add(key)
                yield c


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Totals:
    """What a run (or one file) newly stored. Money as Decimal."""

    transactions: int = 0
    claims: int = 0
    service_lines: int = 0
    total_charge: Decimal = ZERO
    total_paid: Decimal = ZERO
    payment_total: Decimal = ZERO
    plb_total: Decimal = ZERO
    adjustments_by_group: dict[str, Decimal] = field(
        default_factory=lambda: {g: ZERO for g in GROUPS}
    )
    claims_by_status: dict[str, int] = field(default_factory=dict)
    # Submitted claims (837), counted apart from the remittances' claims.
    claims_submitted: int = 0
    submitted_lines: int = 0
    submitted_charge: Decimal = ZERO
    linked: int = 0
    resubmitted: int = 0

    def add_claim(self, c: Claim) -> None:
        self.claims += 1
        self.service_lines += len(c.lines)
        self.total_charge += c.charge
        self.total_paid += c.paid
        self.claims_by_status[c.status] = self.claims_by_status.get(c.status, 0) + 1
        by_group = self.adjustments_by_group
        for a in c.adjustments:
            by_group[a.group] = by_group.get(a.group, ZERO) + a.amount
        for line in c.lines:
            for a in line.adjustments:
                by_group[a.group] = by_group.get(a.group, ZERO) + a.amount

    def merge(self, other: Totals) -> None:
        self.transactions += other.transactions
        self.claims += other.claims
        self.service_lines += other.service_lines
        self.total_charge += other.total_charge
        self.total_paid += other.total_paid
        self.payment_total += other.payment_total
        self.plb_total += other.plb_total
        for k, v in other.adjustments_by_group.items():
            self.adjustments_by_group[k] = self.adjustments_by_group.get(k, ZERO) + v
        for k, n in other.claims_by_status.items():
            self.claims_by_status[k] = self.claims_by_status.get(k, 0) + n
        self.claims_submitted += other.claims_submitted
        self.submitted_lines += other.submitted_lines
        self.submitted_charge += other.submitted_charge
        self.linked += other.linked
        self.resubmitted += other.resubmitted


@dataclass
class FileResult:
    path: str
    status: str  # "ingested" | "duplicate" | "failed"
    totals: Totals = field(default_factory=Totals)
    warnings: list[Issue] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)
    error: Issue | None = None
    duplicate_of: str | None = None
    duplicate_transactions: int = 0
    file_id: int | None = None
    denials: int = 0


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def totals(self) -> Totals:
        t = Totals()
        for f in self.files:
            if f.status == "ingested":
                t.merge(f.totals)
        return t

    @property
    def denials(self) -> int:
        return sum(f.denials for f in self.files if f.status == "ingested")

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def failed(self) -> bool:
        return any(f.status == "failed" for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape of ``denialkit ingest --format json``."""
        t = self.totals

        def money(d: Decimal) -> str:
            return f"{d:.2f}"

        return {
            "files": {
                "ingested": self.count("ingested"),
                "duplicate": self.count("duplicate"),
                "failed": self.count("failed"),
            },
            "transactions": t.transactions,
            "claims": t.claims,
            "service_lines": t.service_lines,
            "total_charge": money(t.total_charge),
            "total_paid": money(t.total_paid),
            "payment_total": money(t.payment_total),
            "plb_total": money(t.plb_total),
            "adjustments_by_group": {
                g: money(t.adjustments_by_group.get(g, ZERO))
                for g in sorted(set(GROUPS) | set(t.adjustments_by_group))
            },
            "claims_by_status": {k: v for k, v in sorted(t.claims_by_status.items())},
            "denials": self.denials,
            "claims_submitted": t.claims_submitted,
            "submitted_lines": t.submitted_lines,
            "submitted_charge": money(t.submitted_charge),
            "claims_linked": t.linked,
            "denials_resubmitted": t.resubmitted,
            "errors": [f.error.as_dict() for f in self.files if f.error is not None],
            "warnings": [
                w.as_dict() for f in self.files if f.status != "duplicate" for w in f.warnings
            ],
            "suppressed_warnings": self.suppressed(),
        }

    def suppressed(self) -> dict[str, int]:
        """Capped (repetitive) warnings left out, by kind (``balance``, ``rounding``)."""
        out: dict[str, int] = {}
        for f in self.files:
            for k, n in f.suppressed.items():
                out[k] = out.get(k, 0) + n
        return dict(sorted(out.items()))


class _AllDuplicate(Exception):
    """Every transaction in the file was stored before: roll back, report a duplicate."""


# Bytes read → (bytes read so far, claims stored so far): a progress bar for a large file.
ReadProgress = Callable[[int, int], None]


class _CountingReader(io.RawIOBase):
    """A file that reports how far it has been read (the parser reads 1 MB at a time)."""

    def __init__(self, path: Path, report: Callable[[int], None]) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._report = report
        self._done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._f.readinto(buffer)
        self._done += n or 0
        self._report(self._done)
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def transaction_digests(path: Path, name: str) -> dict[int, str]:
    """The content hash of each transaction in the file, by the ordinal of its ST segment
    (the parser's ``RemittanceHeader.segment``; see the module doc).

    Envelope control numbers (ST02, SE01, SE02), the production date (DTM*405) and white space
    around elements do not count; the delimiters are replaced by fixed ones, so the same
    remittance sent with other delimiters matches.
    """
    digests: dict[int, str] = {}
    with SegmentReader(path, name) as reader:
        component = reader.delimiters.component
        h = None
        st = 0
        for seg in reader:
            sid = seg.id
            if sid == "ST":
                h, st = hashlib.sha256(), seg.ordinal
                continue
            if h is None:
                continue
            if sid == "SE":
                digests[st] = h.hexdigest()
                h = None
                continue
            if sid == "DTM" and seg[1].strip() == "405":
                continue  # the production date: a file made again later is the same remittance
            text = "\x1f".join(map(str.strip, seg.elements))
            if component:
                text = text.replace(component, "\x1d")
            h.update(text.encode("utf-8", "surrogatepass"))
            h.update(b"\x1e")
    return digests


def log_traceback(store: Store, name: str, exc: BaseException) -> Path | None:
    """Append the traceback to the error log (owner-only); None when even that fails."""
    path = error_log_path(store)
    try:
        with private_open(path, "a") as f:
            stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
            f.write(f"--- {stamp} {name}\n")
            f.write("".join(traceback.format_exception(exc)))
    except (OSError, DenialkitError):
        return None
    return path


def ingest_file(
    store: Store,
    path: str | os.PathLike[str],
    rules: Rules | None = None,
    today: dt.date | None = None,
    read_progress: ReadProgress | None = None,
) -> FileResult:
    """Store one file whole, or nothing. Never raises for bad input: see ``FileResult``.

    With ``rules``, the denials in it are found, triaged and routed in the same transaction.
    ``read_progress(bytes_read, claims)`` is called as the file is read.
    """
    p = Path(path)
    name = os.fspath(path)
    result = FileResult(name, "failed")
    try:
        size = check_regular_file(p, name).st_size
        kind = not_a_remittance(p)
        digest = sha256_of(p)
    except X12Error as exc:
        result.error = Issue(name, exc.segment, exc.reason)
        return result
    except OSError as exc:
        result.error = Issue(name, None, f"cannot read file: {exc.strerror}")
        return result
    if kind == CLAIMS:
        return _ingest_claims(store, p, name, size, digest, result)
    if kind is not None:
        result.error = Issue(name, None, f"{kind}: not a remittance; nothing stored")
        return result
    source: Any = p
    if read_progress is not None:
        source = io.BufferedReader(
            _CountingReader(p, lambda done: read_progress(done, result.totals.claims))
        )
    stream = EraStream(source, name)
    try:
        with store.transaction():
            earlier = store.file_by_sha256(digest)
            if earlier is not None:
                result.status = "duplicate"
                result.duplicate_of = earlier["name"]
                return result
            contents = transaction_digests(p, name)
            file_id = store.add_file(p.name, os.path.abspath(p), size, digest)
            denials = DenialProcessor(store, rules, today or dt.date.today()) if rules else None
            remittance_ids = _store_events(store, stream, result, denials, file_id, contents)
            if denials is not None:
                result.denials = denials.created
            result.warnings = list(stream.warnings)
            result.suppressed = dict(stream.suppressed)
            for what, n in sorted(stream.suppressed.items()):
                result.warnings.append(Issue(name, None, f"{n} more {what} warnings not shown"))
            if result.duplicate_transactions and not remittance_ids:
                raise _AllDuplicate
            result.totals.linked += link_remittances(store, list(remittance_ids.values()))
            store.finish_file(
                file_id,
                result.totals.transactions,
                result.totals.claims,
                result.warnings,
                remittance_ids,
            )
            result.file_id = file_id
            result.status = "ingested"
    except _AllDuplicate:
        result.status = "duplicate"
        result.duplicate_of = "remittances with the same content stored earlier"
        result.totals = Totals()
    except Exception as exc:  # noqa: BLE001 - one file never stops the run
        _failed(store, result, name, exc, stream.segment or None, stream.warnings)
    finally:
        if source is not p:
            source.close()  # the parser closes only the files it opened itself
    return result


def _ingest_claims(
    store: Store, p: Path, name: str, size: int, digest: str, result: FileResult
) -> FileResult:
    """Store an 837 file whole, or nothing: its claims, their links to remittances already
    stored, and the ``resubmit`` denials they answer. The same duplicate rules as an 835: the
    same file, or a transaction with the same content (envelope control numbers aside)."""
    try:
        parsed = parse_837(p, name)
        with store.transaction():
            earlier = store.file_by_sha256(digest)
            if earlier is not None:
                result.status = "duplicate"
                result.duplicate_of = earlier["name"]
                return result
            contents = transaction_digests(p, name)
            file_id = store.add_file(p.name, os.path.abspath(p), size, digest)
            totals = result.totals
            warnings = list(parsed.warnings)
            stored: list[tuple[int, int, str, str, str | None, str]] = []
            transactions = 0  # 837 transactions: not counted with the remittances
            for tx in parsed.transactions:
                content = contents.get(tx.segment)
                if content is not None and store.find_submission(content) is not None:
                    result.duplicate_transactions += 1
                    warnings.append(
                        Issue(
                            name,
                            tx.segment,
                            f"transaction {tx.transaction} repeats claims already stored; skipped",
                        )
                    )
                    continue
                sub = store.add_submission(
                    file_id, tx.transaction, tx.segment, tx.implementation, tx.reference,
                    tx.created, content, len(tx.claims),
                )  # fmt: skip
                transactions += 1
                for c in tx.claims:
                    sid = store.add_submitted_claim(sub, c)
                    payer = store.submitted_payer_id(c)
                    stored.append(
                        (sid, payer, c.patient_control, c.original_ref, c.dos_from, c.frequency)
                    )
                    totals.claims_submitted += 1
                    totals.submitted_lines += len(c.lines)
                    totals.submitted_charge += c.charge
            if not stored and result.duplicate_transactions:
                raise _AllDuplicate
            counts = link_submissions(store, stored)
            totals.linked += counts["linked"]
            totals.resubmitted += counts["resubmitted"]
            result.warnings = warnings
            store.finish_file(file_id, transactions, len(stored), warnings, {})
            result.file_id = file_id
            result.status = "ingested"
    except _AllDuplicate:
        result.status = "duplicate"
        result.duplicate_of = "claims with the same content stored earlier"
        result.totals = Totals()
    except Exception as exc:  # noqa: BLE001 - one file never stops the run
        _failed(store, result, name, exc)
    return result


def _failed(
    store: Store,
    result: FileResult,
    name: str,
    exc: Exception,
    segment: int | None = None,
    warnings: Any = (),
) -> None:
    """A file that failed: nothing of it was stored (its transaction rolled back). Bad X12
    says where; an unreadable file says why; anything else is a bug or a fault (disk full, a
    lock held too long): this file alone fails, and its traceback goes to the log, not the
    terminal (it may be long)."""
    result.status = "failed"
    result.totals = Totals()
    if isinstance(exc, OSError):
        result.error = Issue(name, None, f"cannot read file: {exc.strerror}")
        return
    result.warnings = list(warnings)
    if isinstance(exc, X12Error):
        result.error = Issue(name, exc.segment, exc.reason)
        return
    logged = log_traceback(store, name, exc)
    where = f"; traceback in {logged}" if logged else ""
    result.error = Issue(
        name,
        segment,
        f"unexpected error ({type(exc).__name__}); nothing of this file was stored{where}",
    )


def _store_events(
    store: Store,
    stream: EraStream,
    result: FileResult,
    denials: DenialProcessor | None,
    file_id: int,
    contents: dict[int, str],
) -> dict[int, int]:
    """Consume the parser's events into the store; returns transaction no. → remittance id."""
    totals = result.totals
    remittance_ids: dict[int, int] = {}
    writer: ClaimWriter | None = None
    header: RemittanceHeader | None = None
    skip = False
    chunk = 0
    for event in stream:
        if isinstance(event, Claim):
            if not skip:
                assert writer is not None and header is not None
                cid, line_ids = writer.add(event)
                totals.add_claim(event)
                if denials is not None:
                    denials.claim(
                        header, writer.payer_id, writer.remittance_id, event, cid, line_ids
                    )
                if writer.full:
                    writer.flush()
                    if denials is not None:
                        denials.flush()
        elif isinstance(event, RawText):
            if not skip:
                assert header is not None
                store.add_raw_text(remittance_ids[header.transaction], chunk, event.text)
                chunk += 1
        elif isinstance(event, ProviderAdjustment):
            if not skip:
                assert header is not None
                store.add_provider_adjustment(remittance_ids[header.transaction], event)
                totals.plb_total += event.amount
        elif isinstance(event, RemittanceHeader):
            header = event
            payer_id = store.payer_id(event)
            n = event.transaction
            content = contents.get(event.segment)
            earlier = store.find_remittance(
                payer_id, event.trace_number, to_cents(event.payment_amount) or 0, content
            )
            skip = earlier is not None and earlier[1] is not None
            chunk = 0
            if skip:
                assert earlier is not None
                result.duplicate_transactions += 1
                stream.warn(
                    event.segment,
                    f"transaction {n} repeats a remittance already stored ({earlier[1]}); "
                    "skipped: its claims are not stored again",
                )
                writer = None
                continue
            if earlier is not None:
                stream.warn(
                    event.segment,
                    f"transaction {n} has the same payer, TRN02 and BPR02 as a remittance "
                    "already stored but different content: a separate remittance, not a duplicate",
                )
            rid = store.add_remittance(file_id, event, payer_id, store.payee_id(event), content)
            remittance_ids[event.transaction] = rid
            writer = store.claim_writer(rid, payer_id, event.payment_date or event.production_date)
            totals.transactions += 1
            totals.payment_total += event.payment_amount
        elif isinstance(event, RemittanceEnd):
            if not skip:
                assert writer is not None
                writer.flush()
                if denials is not None:
                    denials.flush()
                store.finish_remittance(remittance_ids[event.header.transaction], event)
            skip = False
    return remittance_ids


def ingest_paths(
    store: Store,
    paths: Iterable[str | os.PathLike[str]],
    progress: Callable[[FileResult], None] | None = None,
    rules: Rules | None = None,
    today: dt.date | None = None,
    read_progress: Callable[[Path, int, int], None] | None = None,
) -> IngestReport:
    """Ingest every file found; one bad file never stops the others.

    With ``rules``, denials are found, triaged and routed at intake. ``progress(result)``
    follows each file done; ``read_progress(path, bytes_read, claims)`` each file as it is read.
    """
    report = IngestReport()
    for path in find_files(paths):
        each = None
        if read_progress is not None:
            each = functools.partial(read_progress, path)
        r = ingest_file(store, path, rules, today, each)
        report.files.append(r)
        if progress is not None:
            progress(r)
    return report
