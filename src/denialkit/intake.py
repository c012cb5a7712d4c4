"""Ingest 835 files into the store: find files, hash, parse, store whole or not at all.

``ingest_paths(store, paths)`` is what ``denialkit ingest`` runs; it never raises for a bad
file: any failure inside one file, even an exception nobody foresaw, fails that file alone
(nothing of it stored, the traceback appended to an error log) and the others go on. With
``jobs`` > 1 on SQLite, worker processes parse the files into scratch files
(``parse_in_worker``) and this process copies them in (``_store_parsed``): the same rows as
``_Sink`` writes when it parses here.

A remittance is a duplicate when its content (the segments between ST and SE but the
production date DTM*405, elements stripped of white space, with the file's own delimiters
replaced) equals one stored before; the same payer, TRN02 and BPR02 with other content is
stored, with a warning.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import gc
import hashlib
import io
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .denials import REVERSAL, Candidate, ClaimFacts, claim_facts, find_denials
from .detection import DenialProcessor
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
from .store import ClaimRows, ClaimWriter, Scratch, Store, TxRows, to_cents
from .vocabulary import GROUP_CODES as GROUPS
from .vocabulary import money
from .x12 import CHUNK_SIZE, MAX_SEGMENT_CHARS, Delimiters, SegmentReader, check_regular_file

_SNIFF_BYTES = 4096
MAX_JOBS = 8


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
        self._f = open(path, "rb")  # closed in close()
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


def transaction_digests(path: Path, name: str, chunk_size: int = CHUNK_SIZE) -> dict[int, str]:
    """The content hash of each transaction in the file, by the ordinal of its ST segment
    (the parser's ``RemittanceHeader.segment``; see the module doc).

    Envelope control numbers (ST02, SE01, SE02), the production date (DTM*405) and white space
    around elements do not count; the delimiters are replaced by fixed ones, so the same
    remittance sent with other delimiters matches.
    """
    digests = _plain_digests(path, name, chunk_size)
    return digests if digests is not None else _segment_digests(path, name)


# Characters the digest joins with (and the BOM the tokenizer strips from a segment id): a
# file that uses them as delimiters is read segment by segment.
_DIGEST_MARKS = "\x1c\x1d\x1e\x1f\ufeff"
# White space in ASCII text other than the space and line breaks: rare in an 835, so a block
# that has any is read segment by segment rather than searched for it at every edge.
_ODD_SPACE = "\t\x0b\x0c\x1c\x1d\x1e\x1f"


def _plain_digests(path: Path, name: str, chunk_size: int = CHUNK_SIZE) -> dict[int, str] | None:
    """``transaction_digests`` read from the text in blocks, without making a segment of each
    (a tenth of the time), for a plainly delimited ASCII file: no white space at an element's
    or a segment's edge, no empty segment, one element separator throughout, no ST inside an
    open transaction. None for any other file: ``_segment_digests`` reads it then.

    The same bytes are hashed: with no white space at the edges, stripping and re-joining the
    elements is replacing the delimiters, done for a whole transaction at once; the searches
    all begin with a literal terminator, which ``re`` and ``str`` find at memory speed.
    """
    with SegmentReader(path, name, chunk_size) as reader:
        d = reader.delimiters
        if any(
            c in _DIGEST_MARKS or c in _ODD_SPACE for c in (d.element, d.segment, d.component or "")
        ):
            return None
        walk = _PlainWalk(d)
        for block in reader.blocks():
            if not block.endswith(walk.term):
                if len(block) > MAX_SEGMENT_CHARS:
                    return None
                if not block.strip():
                    break  # white space after the last terminator: no segment
                block += walk.term  # the last segment, its terminator missing
            if not walk.block(walk.term + block):  # each segment after a terminator
                return None
        return walk.digests if walk.h is None else None


class _PlainWalk:
    """``_plain_digests``'s walk over the blocks: the transaction open, its hash so far."""

    def __init__(self, d: Delimiters) -> None:
        self.d = d
        self.term = term = "\n" if d.segment in "\r\n" else d.segment
        t, e = re.escape(term), re.escape(d.element)
        self.marks = re.compile(rf"{t}(?:ST{e}|SE{e}|ISA)")
        self.production = re.compile(rf"{t}DTM{e}405(?:{e}[^{t}]*)?(?={t}|$)")
        self.segment_edges = (term + term, " " + term, term + " ")
        self.element_edges = (" " + d.element, d.element + " ")
        self.digests: dict[int, str] = {}
        self.h: Any = None
        self.st = 0
        self.before = 0  # segments in the blocks before this one

    def block(self, text: str) -> bool:
        """One block, its terminators each followed by a segment; False: not plain."""
        term = self.term
        if (
            not text.isascii()
            or any(c in text for c in _ODD_SPACE)
            or any(edge in text for edge in self.segment_edges)
            or self.long_segment(text)
        ):
            return False
        start = 0  # the terminator before the open transaction's next segment
        counted, at = 0, 0  # terminators in text[:at]
        for m in self.marks.finditer(text):
            p = m.start()
            counted += text.count(term, at, p)
            at = p
            sid = text[p + 1 : p + 3]
            if sid == "IS":  # a later interchange may change the element separator
                if text[p + 4 : p + 5] != self.d.element or self.h is not None:
                    return False
            elif sid == "ST":
                if self.h is not None:
                    return False
                self.h, self.st = hashlib.sha256(), self.before + counted + 1
                start = text.index(term, p + 1)
            elif self.h is not None:  # SE
                if not self.hash(text[start:p]):
                    return False
                self.digests[self.st] = self.h.hexdigest()
                self.h = None
        # The block's last terminator comes back as the next block's first character.
        if self.h is not None and not self.hash(text[start:-1]):
            return False
        self.before += text.count(term) - 1
        return True

    def long_segment(self, text: str) -> bool:
        """True when a segment may be longer than the tokenizer reads (it raises there): a
        segment that long spans a whole window of half that length with no terminator in it,
        and windows are few (a search each, in C) where segments are many."""
        half = MAX_SEGMENT_CHARS // 2
        windows = range(0, len(text) - half + 1, half)
        return any(text.find(self.term, i, i + half) < 0 for i in windows)

    def hash(self, text: str) -> bool:
        """Segments, each after its terminator, hashed as ``_hash_piece`` hashes them one by
        one; False (nothing hashed) when an element has white space at its edge."""
        if not text:
            return True
        if any(edge in text for edge in self.element_edges):
            return False
        term, d = self.term, self.d
        text = (self.production.sub("", text) + term)[1:]
        text = text.replace(d.element, "\x1f").replace(term, "\x1e")
        if d.component:
            text = text.replace(d.component, "\x1d")
        self.h.update(text.encode("utf-8", "surrogatepass"))
        return True


def _segment_digests(path: Path, name: str) -> dict[int, str]:
    """``transaction_digests`` segment by segment: the definition, for any file."""
    digests: dict[int, str] = {}
    with SegmentReader(path, name) as reader:
        component = reader.delimiters.component
        h = None
        st = 0
        # Segments are hashed in pieces of many (one update per piece, not per segment): the
        # same bytes, in bounded memory.
        piece: list[str] = []
        for seg in reader:
            sid = seg.id
            if sid == "ST":
                h, st = hashlib.sha256(), seg.ordinal
                continue
            if h is None:
                continue
            if sid == "SE":
                _hash_piece(h, piece, component)
                digests[st] = h.hexdigest()
                h = None
                continue
            if sid == "DTM" and seg[1].strip() == "405":
                continue  # the production date: a file made again later is the same remittance
            piece.append("\x1f".join(map(str.strip, seg.elements)))
            if len(piece) >= 4096:
                _hash_piece(h, piece, component)
    return digests


def _hash_piece(h: Any, piece: list[str], component: str | None) -> None:
    """Each segment's text, its component separators made \\x1d, then \\x1e."""
    if not piece:
        return
    if component == "\x1e":  # would also replace the segment marks: one by one
        piece[:] = [text.replace(component, "\x1d") for text in piece]
        component = None
    text = "\x1e".join(piece) + "\x1e"
    if component:
        text = text.replace(component, "\x1d")
    h.update(text.encode("utf-8", "surrogatepass"))
    piece.clear()


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


@dataclass
class Prepared:
    """What can be read of a file before the store is asked anything: its size, kind and
    hash, then (for a remittance read in a worker process) its transactions' content hashes.
    ``error``: the file cannot be read at all."""

    size: int = 0
    kind: str | None = None
    digest: str = ""
    error: Issue | None = None
    contents: dict[int, str] | None = None
    contents_failure: _Failure | None = None


def prepare(path: str | os.PathLike[str]) -> Prepared:
    """Size, kind and hash of a file (errors as ``Prepared.error``, never raised)."""
    p, name = Path(path), os.fspath(path)
    try:
        size = check_regular_file(p, name).st_size
        return Prepared(size, not_a_remittance(p), sha256_of(p))
    except X12Error as exc:
        return Prepared(error=Issue(name, exc.segment, exc.reason))
    except OSError as exc:
        return Prepared(error=Issue(name, None, f"cannot read file: {exc.strerror}"))


def read_in_worker(path: str | os.PathLike[str]) -> Prepared:
    """``prepare`` and, for a remittance, the content hash of each transaction: the pass over
    the file the store does not take part in. Runs in a worker process; failures come back as
    data, raised again where the store would have met them.

    For a PostgreSQL store (``parse_in_worker`` is for SQLite): the parse stays with the
    storing process there, since sending a parsed file between processes (pickling its
    records, then rebuilding them) measured costlier than parsing it."""
    with collector_paused():
        pre = prepare(path)
        if pre.error is not None or pre.kind is not None:
            return pre
        try:
            pre.contents = transaction_digests(Path(path), os.fspath(path))
        except Exception as exc:  # raised again in the storing process, in its place
            pre.contents_failure = _Failure.of(exc)
        return pre


@dataclass
class ParsedTransaction:
    """One transaction of a file parsed in a worker: what the storing process needs to store
    it as ``_Sink`` would have (its rows wait in the scratch file)."""

    header: RemittanceHeader
    content: str | None
    warn_at: int  # the file's warnings when its header came: a duplicate's warning goes there
    rows: TxRows
    totals: Totals = field(default_factory=Totals)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    end: RemittanceEnd | None = None


@dataclass
class Parsed:
    """A file read in a worker process: ``prepared``, then for a remittance its transactions
    (rows in the ``scratch`` file), warnings and any failure, raised again where the store
    would have met it."""

    prepared: Prepared
    scratches: list[str] = field(default_factory=list)  # one per share, in share order
    transactions: list[ParsedTransaction] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)
    failure: _Failure | None = None
    segment: int | None = None  # the last segment read, for an unforeseen failure
    skipped: bool = False  # a share with no transaction to keep: the file was not read


# Set in each worker process by ``_start_worker``: the rules the denials are found with, and
# the private folder scratch files go in.
_WORKER: dict[str, Any] = {}


def parse_in_worker(path: str | os.PathLike[str], share: tuple[int, int] = (0, 1)) -> Parsed:
    """``prepare`` the file and, for a remittance, parse it: its claim rows go to a scratch
    file, the rest comes back. Runs in a worker process; never raises.

    ``share`` (k, n): a large file is parsed by n workers at once, each storing the rows of
    every n-th transaction (the k-th, the k+n-th, …). Each parses the whole file, so segment
    numbers, warnings, envelope checks and failures are the same in every share; only the
    rows, the denials found and the scratch file are its own (``combine`` joins them). A
    share left with no transaction (the file has fewer than n) reads no further."""
    with collector_paused():
        parsed = Parsed(prepare(path))
        pre = parsed.prepared
        if pre.error is not None or pre.kind is not None:
            return parsed
        p, name = Path(path), os.fspath(path)
        folder = _WORKER.get("folder") or tempfile.gettempdir()
        scratch_path = Path(folder) / f"{pre.digest}-{os.getpid()}-{time.time_ns()}.db"
        parsed.scratches = [os.fspath(scratch_path)]
        stream = EraStream(p, name)
        try:
            contents = transaction_digests(p, name)
            if share[0] and share[0] >= len(contents):  # fewer transactions than shares
                parsed.scratches = []
                parsed.skipped = True
                return parsed
            scratch = Scratch(scratch_path)
            try:
                _ScratchSink(stream, scratch, parsed, _WORKER.get("rules"), share).drain(contents)
            finally:
                scratch.close()
        except Exception as exc:  # raised again in the storing process, in its place
            parsed.failure = _Failure.of(exc)
            parsed.segment = stream.segment or None
            parsed.transactions = []
            scratch_path.unlink(missing_ok=True)
            parsed.scratches = []
        parsed.warnings = list(stream.warnings)
        parsed.suppressed = dict(stream.suppressed)
        return parsed


def combine(shares: list[Parsed]) -> Parsed:
    """One file's shares (``parse_in_worker``), as if one worker had parsed it: the
    transactions of all, in order; warnings, suppressed counts and any failure from the
    first that has one (every share reads the whole file, so they agree); every scratch file,
    in share order, for the store to attach (and delete) together."""
    if len(shares) == 1:
        return shares[0]
    first = shares[0]
    failed = next((s for s in shares if s.failure is not None), None)
    out = Parsed(first.prepared, [], [], first.warnings, first.suppressed)
    for share in shares:
        for tx in share.transactions:  # which of the attached files holds its rows
            tx.rows.source = len(out.scratches)
        out.scratches.extend(share.scratches)
        out.transactions.extend(share.transactions)
    out.transactions.sort(key=lambda t: t.header.transaction)
    if failed is not None:
        out.failure, out.segment, out.transactions = failed.failure, failed.segment, []
        out.warnings = failed.warnings
    return out


class _ScratchSink:
    """A worker's ``_Sink``: the same events, into a scratch file and ``Parsed``; the denials
    are found here (rules only), the rest of the denial work waits for the store."""

    def __init__(
        self,
        stream: EraStream,
        scratch: Scratch,
        parsed: Parsed,
        rules: Rules | None,
        share: tuple[int, int],
    ):
        self.share = share
        self.stream = stream
        self.scratch = scratch
        self.parsed = parsed
        self.rules = rules
        self.rows = ClaimRows(0, 0)
        self.tx: ParsedTransaction | None = None
        self.since: dict[str, int] = {}
        self.facts: list[tuple[int, ClaimFacts, list[Candidate]]] = []
        self.seq = 0
        self.chunk = 0

    def drain(self, contents: dict[int, str]) -> None:
        k, n = self.share
        for event in self.stream:
            if isinstance(event, RemittanceHeader):
                if (event.transaction - 1) % n != k:  # another share's: read, not kept
                    self.tx = None
                    continue
                rows = TxRows((self.rows.claim_id, self.rows.line_id, self.rows.adj_id), {}, k)
                self.since = self.scratch.mark()
                self.tx = ParsedTransaction(
                    event, contents.get(event.segment), len(self.stream.warnings), rows
                )
                self.parsed.transactions.append(self.tx)
                self.seq = self.chunk = 0
            elif self.tx is None:
                continue
            elif isinstance(event, Claim):
                self.claim(event)
            elif isinstance(event, RawText):
                self.scratch.raw_text(self.tx.header.transaction, self.chunk, event.text)
                self.chunk += 1
            elif isinstance(event, ProviderAdjustment):
                self.tx.provider_adjustments.append(event)
            elif isinstance(event, RemittanceEnd):
                self.flush()
                self.tx.end = event
                self.tx.rows.ranges = self.scratch.ranges(self.since)

    def claim(self, c: Claim) -> None:
        assert self.tx is not None
        cid, line_ids = self.rows.add(c)
        self.tx.totals.add_claim(c)
        if self.rules is not None:
            found = [] if c.status == REVERSAL else find_denials(c, self.rules, cid, line_ids)
            self.facts.append((cid, claim_facts(c), found))
        if self.rows.full:
            self.flush()

    def flush(self) -> None:
        """A batch: its rows, and its denial inputs as one piece (the storing process does
        its denial work batch by batch, as ``_Sink`` does)."""
        assert self.tx is not None
        self.scratch.write(self.rows.rows)
        self.rows.pending = 0
        if self.rules is not None:
            self.scratch.facts(self.tx.header.transaction, self.seq, self.facts)
            self.seq += 1
            self.facts = []


@dataclass
class _Failure:
    """An exception raised in a worker, as data (exceptions do not all survive pickling)."""

    kind: str  # "x12" | "os" | the exception's class name
    reason: str
    segment: int | None = None
    traceback: str = ""

    @classmethod
    def of(cls, exc: Exception) -> _Failure:
        if isinstance(exc, X12Error):
            return cls("x12", exc.reason, exc.segment)
        if isinstance(exc, OSError):
            return cls("os", exc.strerror or str(exc))
        return cls(type(exc).__name__, str(exc), None, "".join(traceback.format_exception(exc)))

    def exception(self, name: str) -> Exception:
        if self.kind == "x12":
            return X12Error(self.reason, file=name, segment=self.segment)
        if self.kind == "os":
            return OSError(0, self.reason)
        return WorkerError(self.kind, self.traceback)


class WorkerError(Exception):
    """An unexpected exception in a worker process, with the worker's traceback."""

    def __init__(self, kind: str, worker_traceback: str) -> None:
        super().__init__(f"{kind} in a worker process:\n{worker_traceback}")
        self.kind = kind


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one file. Intake makes millions of small objects
    and frees them by reference counting (they hold no cycles); the collector's passes over
    the heap they make cost as much as the parse itself (measured: a worker's parse 2.2 s
    with it, 0.9 s without). Restored after the file, as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def ingest_file(
    store: Store,
    path: str | os.PathLike[str],
    rules: Rules | None = None,
    today: dt.date | None = None,
    read_progress: ReadProgress | None = None,
    prepared: Prepared | Parsed | None = None,
) -> FileResult:
    """Store one file whole, or nothing. Never raises for bad input: see ``FileResult``.

    With ``rules``, the denials in it are found, triaged and routed in the same transaction.
    ``read_progress(bytes_read, claims)`` is called as the file is read. ``prepared``: what a
    worker process read of it (``read_in_worker``) or parsed (``parse_in_worker``, its scratch
    file deleted here): the same result, sooner.
    """
    with collector_paused():
        return _ingest_file(store, path, rules, today, read_progress, prepared)


def _ingest_file(
    store: Store,
    path: str | os.PathLike[str],
    rules: Rules | None,
    today: dt.date | None,
    read_progress: ReadProgress | None,
    prepared: Prepared | Parsed | None,
) -> FileResult:
    p = Path(path)
    name = os.fspath(path)
    result = FileResult(name, "failed")
    parsed: Parsed | None = None
    if isinstance(prepared, Parsed):
        parsed, pre = prepared, prepared.prepared
    else:
        pre = prepared if prepared is not None else prepare(p)
    if pre.error is not None:
        result.error = pre.error
        return result
    if pre.kind == CLAIMS:
        return _ingest_claims(store, p, name, pre.size, pre.digest, result)
    if pre.kind is not None:
        result.error = Issue(name, None, f"{pre.kind}: not a remittance; nothing stored")
        return result
    if parsed is not None:
        _ingest_parsed(store, p, parsed, result, rules, today)
        if read_progress is not None:  # read elsewhere: the whole file at once
            read_progress(pre.size, result.totals.claims)
        return result
    source: Any = p
    if read_progress is not None:
        source = io.BufferedReader(
            _CountingReader(p, lambda done: read_progress(done, result.totals.claims))
        )
    stream = EraStream(source, name)
    try:
        with store.transaction():
            _store_file(store, p, pre, stream, result, rules, today)
    except _AllDuplicate:
        _all_duplicate(result)
    except Exception as exc:  # one file never stops the run
        _failed(store, result, name, exc, stream.segment or None, stream.warnings)
    finally:
        if source is not p:
            source.close()  # the parser closes only the files it opened itself
    return result


def _ingest_parsed(
    store: Store,
    p: Path,
    parsed: Parsed,
    result: FileResult,
    rules: Rules | None,
    today: dt.date | None,
) -> FileResult:
    """``_ingest_file`` for a remittance a worker parsed: its scratch file attached for the
    copy, then deleted, whatever happens."""
    try:
        with contextlib.ExitStack() as stack:
            if parsed.failure is None:
                stack.enter_context(store.scratch_attached(parsed.scratches))
            with store.transaction():
                _store_parsed(store, p, parsed, result, rules, today)
    except _AllDuplicate:
        _all_duplicate(result)
    except Exception as exc:  # one file never stops the run
        _failed(store, result, result.path, exc, parsed.segment, parsed.warnings)
    finally:
        for scratch in parsed.scratches:
            Path(scratch).unlink(missing_ok=True)
    return result


def _all_duplicate(result: FileResult) -> None:
    result.status = "duplicate"
    result.duplicate_of = "remittances with the same content stored earlier"
    result.totals = Totals()


def _store_file(
    store: Store,
    p: Path,
    pre: Prepared,
    stream: EraStream,
    result: FileResult,
    rules: Rules | None,
    today: dt.date | None,
) -> None:
    """The body of a remittance file's write transaction (raises to roll it back)."""
    begun = _begin_file(store, p, pre, result, pre.contents_failure, rules, today)
    if begun is None:
        return
    file_id, denials = begun
    contents = pre.contents if pre.contents is not None else transaction_digests(p, result.path)
    remittance_ids = _Sink(store, stream, result, denials, file_id, contents).drain()
    _finish_file(
        store, result, file_id, remittance_ids, denials, stream.warnings, stream.suppressed
    )


def _begin_file(
    store: Store,
    p: Path,
    pre: Prepared,
    result: FileResult,
    failure: _Failure | None,
    rules: Rules | None,
    today: dt.date | None,
) -> tuple[int, DenialProcessor | None] | None:
    """The start of a remittance file's transaction: None for a file stored before (``result``
    says so); a failure met while reading it raised; else the file's id and its denial work."""
    earlier = store.file_by_sha256(pre.digest)
    if earlier is not None:
        result.status = "duplicate"
        result.duplicate_of = earlier["name"]
        return None
    if failure is not None:
        raise failure.exception(result.path)
    file_id = store.add_file(p.name, os.path.abspath(p), pre.size, pre.digest)
    return file_id, DenialProcessor(store, rules, today or dt.date.today()) if rules else None


def _store_parsed(
    store: Store,
    p: Path,
    parsed: Parsed,
    result: FileResult,
    rules: Rules | None,
    today: dt.date | None,
) -> None:
    """``_store_file`` for a file a worker parsed: the same rows, warnings and denial work,
    the rows copied from its scratch file (attached) instead of written one by one."""
    name = result.path
    begun = _begin_file(store, p, parsed.prepared, result, parsed.failure, rules, today)
    if begun is None:
        return
    file_id, denials = begun
    warnings = list(parsed.warnings)
    remittance_ids: dict[int, int] = {}
    for tx in parsed.transactions:
        h, n = tx.header, tx.header.transaction
        payer_id = store.payer_id(h)
        skip, message = _earlier_remittance(store, h, payer_id, tx.content)
        if message is not None:  # where the parse would have put it: before what followed
            at = tx.warn_at + len(warnings) - len(parsed.warnings)
            warnings.insert(at, Issue(name, h.segment, message, n))
        if skip:
            result.duplicate_transactions += 1
            continue
        rid = store.add_remittance(file_id, h, payer_id, store.payee_id(h), tx.content)
        remittance_ids[n] = rid
        result.totals.transactions += 1
        result.totals.payment_total += h.payment_amount
        claim_off, line_off = store.copy_scratch(
            tx.rows, rid, payer_id, h.payment_date or h.production_date
        )
        result.totals.merge(tx.totals)
        for adj in tx.provider_adjustments:
            store.add_provider_adjustment(rid, adj)
            result.totals.plb_total += adj.amount
        if denials is not None:
            for batch in store.scratch_facts(n, tx.rows):
                for cid, facts, found in batch:
                    for c in found:
                        c.claim_id += claim_off
                        if c.line_id is not None:
                            c.line_id += line_off
                    denials.found(h, payer_id, rid, facts, found, cid + claim_off)
                denials.flush()
        assert tx.end is not None
        store.finish_remittance(rid, tx.end)
    _finish_file(store, result, file_id, remittance_ids, denials, warnings, parsed.suppressed)


def _finish_file(
    store: Store,
    result: FileResult,
    file_id: int,
    remittance_ids: dict[int, int],
    denials: DenialProcessor | None,
    warnings: Iterable[Issue],
    suppressed: dict[str, int],
) -> None:
    """The end of a remittance file's transaction: its warnings, links and counts."""
    name = result.path
    if denials is not None:
        result.denials = denials.created
    result.warnings = list(warnings)
    result.suppressed = dict(suppressed)
    for what, n in sorted(suppressed.items()):
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
    except Exception as exc:  # one file never stops the run
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
    kind = exc.kind if isinstance(exc, WorkerError) else type(exc).__name__
    result.error = Issue(
        name, segment, f"unexpected error ({kind}); nothing of this file was stored{where}"
    )


def _earlier_remittance(
    store: Store, header: RemittanceHeader, payer_id: int, content: str | None
) -> tuple[bool, str | None]:
    """Whether a transaction repeats a remittance stored before (skip it), and the warning
    to give: a duplicate, or the same payer, TRN02 and BPR02 with other content."""
    n = header.transaction
    earlier = store.find_remittance(
        payer_id, header.trace_number, to_cents(header.payment_amount) or 0, content
    )
    if earlier is None:
        return False, None
    if earlier[1] is not None:
        return True, (
            f"transaction {n} repeats a remittance already stored ({earlier[1]}); "
            "skipped: its claims are not stored again"
        )
    return False, (
        f"transaction {n} has the same payer, TRN02 and BPR02 as a remittance already stored "
        "but different content: a separate remittance, not a duplicate"
    )


class _Sink:
    """Where one file's events go: the transaction being stored (``writer`` is None while a
    duplicate transaction is passed over) and the denial work on its claims."""

    def __init__(
        self,
        store: Store,
        stream: EraStream,
        result: FileResult,
        denials: DenialProcessor | None,
        file_id: int,
        contents: dict[int, str],
    ) -> None:
        self.store = store
        self.stream = stream
        self.result = result
        self.denials = denials
        self.file_id = file_id
        self.contents = contents
        self.remittance_ids: dict[int, int] = {}
        self.writer: ClaimWriter | None = None
        self.current: RemittanceHeader | None = None
        self.remittance_id = 0
        self.chunk = 0

    def drain(self) -> dict[int, int]:
        """Consume the parser's events into the store; returns transaction no. -> remittance
        id."""
        store, result = self.store, self.result
        for event in self.stream:
            if isinstance(event, Claim):
                if self.writer is not None:
                    self.claim(event)
            elif isinstance(event, RawText):
                if self.writer is not None:
                    store.add_raw_text(self.remittance_id, self.chunk, event.text)
                    self.chunk += 1
            elif isinstance(event, ProviderAdjustment):
                if self.writer is not None:
                    store.add_provider_adjustment(self.remittance_id, event)
                    result.totals.plb_total += event.amount
            elif isinstance(event, RemittanceHeader):
                self.header(event)
            elif isinstance(event, RemittanceEnd):
                self.end(event)
        return self.remittance_ids

    def claim(self, event: Claim) -> None:
        writer, header = self.writer, self.current
        assert writer is not None and header is not None
        cid, line_ids = writer.add(event)
        self.result.totals.add_claim(event)
        if self.denials is not None:
            self.denials.claim(header, writer.payer_id, writer.remittance_id, event, cid, line_ids)
        if writer.full:
            writer.flush()
            if self.denials is not None:
                self.denials.flush()

    def header(self, event: RemittanceHeader) -> None:
        store, result = self.store, self.result
        self.current = event
        self.writer = None
        self.chunk = 0
        payer_id = store.payer_id(event)
        n = event.transaction
        content = self.contents.get(event.segment)
        skip, message = _earlier_remittance(store, event, payer_id, content)
        if message is not None:
            self.stream.warn(event.segment, message)
        if skip:
            result.duplicate_transactions += 1
            return
        rid = store.add_remittance(self.file_id, event, payer_id, store.payee_id(event), content)
        self.remittance_ids[n] = rid
        self.remittance_id = rid
        self.writer = store.claim_writer(rid, payer_id, event.payment_date or event.production_date)
        result.totals.transactions += 1
        result.totals.payment_total += event.payment_amount

    def end(self, event: RemittanceEnd) -> None:
        if self.writer is None:
            return
        self.writer.flush()
        if self.denials is not None:
            self.denials.flush()
        self.store.finish_remittance(self.remittance_ids[event.header.transaction], event)
        self.writer = None


# Below this much input, workers cost more than they save: starting them takes about 0.3 s
# (with 2 cores, parsing in them made 20 rich files of 10,000 claims 1.66x as fast; a few small
# files gain less than the start costs). Not measured finely: a round figure, on the safe side.
AUTO_JOBS_MIN_BYTES = 16 * 1024 * 1024


def default_jobs(files: Sequence[Path] | None = None) -> int:
    """Worker processes for intake: one per core, at most ``MAX_JOBS``; one (no workers) for
    ``files`` too small together to repay starting them."""
    if files is not None and sum(_size(p) for p in files) < AUTO_JOBS_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_JOBS))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # reported when the file itself is read
        return 0


def ingest_paths(
    store: Store,
    paths: Iterable[str | os.PathLike[str]],
    progress: Callable[[FileResult], None] | None = None,
    rules: Rules | None = None,
    today: dt.date | None = None,
    read_progress: Callable[[Path, int, int], None] | None = None,
    jobs: int | None = 1,
) -> IngestReport:
    """Ingest every file found; one bad file never stops the others.

    With ``rules``, denials are found, triaged and routed at intake. ``progress(result)``
    follows each file done; ``read_progress(path, bytes_read, claims)`` each file as it is read.
    With ``jobs`` > 1, worker processes read and parse the files ahead while this process
    stores them, one at a time and in order: the same rows, duplicates and denials as with one
    (call it under ``if __name__ == "__main__":`` then, as multiprocessing requires). ``None``:
    ``default_jobs`` for the files found.
    """
    report = IngestReport()
    files = list(find_files(paths))
    if jobs is None:
        jobs = default_jobs(files)
    # SQLite: workers parse, this process copies their rows in. PostgreSQL: workers read
    # ahead (hashes), this process parses: a copy from a SQLite scratch file into PostgreSQL
    # would go through Python row by row, what the scratch file is there to avoid.
    parse = store.engine == "sqlite"
    # Scratch files go beside the database: where there is room for the rows they hold (the
    # database grows by as much), under the same protection as the PHI already there.
    beside = store.path.parent if store.path is not None else None
    for path, ahead in _read_ahead(files, jobs, rules if parse else None, parse, beside):
        each = None
        if read_progress is not None:
            each = functools.partial(read_progress, path)
        r = ingest_file(store, path, rules, today, each, ahead)
        report.files.append(r)
        if progress is not None:
            progress(r)
    return report


def _read_ahead(
    files: list[Path],
    jobs: int,
    rules: Rules | None,
    parse: bool,
    beside: Path | None = None,
) -> Iterator[tuple[Path, Prepared | Parsed | None]]:
    """Each file with what a worker read of it ahead (None: everything is read here): parsed
    into scratch files (``parse``; a file of ``SPLIT_MIN_BYTES`` or more by ``jobs`` workers
    at once, see ``parse_in_worker``), else its hashes only.

    At most ``jobs`` + 1 pieces of work are ahead, so memory stays flat however large the files
    (a parsed file comes back as its transactions' headers and totals; its rows wait on
    disk, in a private folder removed at the end: a hidden one in ``beside`` when given, else
    in the temporary directory).
    """
    shares = {p: _shares(p, jobs, parse) for p in files}
    if jobs <= 1 or (len(files) < 2 and not any(n > 1 for n in shares.values())):
        for path in files:
            yield path, None
        return
    _remove_stale_scratch(beside)
    with (
        tempfile.TemporaryDirectory(
            prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-", dir=beside
        ) as folder,
        _worker_pool(jobs, rules, folder) as pool,
    ):

        def submit(path: Path) -> list[Future[Any]]:
            if not parse:
                return [pool.submit(read_in_worker, path)]
            n = shares[path]
            return [pool.submit(parse_in_worker, path, (k, n)) for k in range(n)]

        ahead: collections.deque[tuple[Path, list[Future[Any]]]] = collections.deque()
        todo = iter(files)
        queued = 0
        try:
            for path in todo:
                ahead.append((path, submit(path)))
                queued += len(ahead[-1][1])
                if queued > jobs:
                    break
            while ahead:
                path, futures = ahead.popleft()
                queued -= len(futures)
                while queued <= jobs:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    ahead.append((nxt, submit(nxt)))
                    queued += len(ahead[-1][1])
                results = [f.result() for f in futures]
                yield path, combine(results) if parse else results[0]
        finally:  # a run stopped early: nothing more is parsed
            for future in (f for _, futures in ahead for f in futures):
                future.cancel()


def _worker_pool(jobs: int, rules: Rules | None, folder: str) -> ProcessPoolExecutor:
    """Workers start from a clean process (forkserver), not as forks of this one: a fork would
    inherit this process's open files, the nightly run lock among them, and a worker outliving
    a killed run would hold it. (Like spawn, it imports the main module again: a script
    calling ``ingest_paths`` needs the ``if __name__ == "__main__":`` guard.)"""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["denialkit.intake"])
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(), rules, folder),
    )


_SCRATCH_PREFIX = ".denialkit-intake-"


def _remove_stale_scratch(beside: Path | None) -> None:
    """Scratch folders a killed run left (kill -9 runs no clean-up): their rows are PHI. A
    folder is named after the process that made it; one whose process is gone is removed."""
    if beside is None:
        return
    for folder in beside.glob(f"{_SCRATCH_PREFIX}*"):
        pid = folder.name[len(_SCRATCH_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours, not gone
        return True
    return True


# A file this large is parsed by every worker at once, each keeping a share of its
# transactions (below it, one worker a file keeps them busy with less work in all).
SPLIT_MIN_BYTES = 16 * 1024 * 1024


def _shares(path: Path, jobs: int, parse: bool) -> int:
    """How many workers parse this file: one per 835 transaction in it, at most ``jobs`` (and
    10: scratch files attach 10 at most). A file of one transaction is one worker's, since
    the others would read it for nothing."""
    if not parse or jobs <= 1 or _size(path) < SPLIT_MIN_BYTES:
        return 1
    return max(1, min(jobs, 10, _count_835(path)))


def _count_835(path: Path, block_size: int = 1 << 20) -> int:
    """How many ``ST*835`` the file holds (with its own element separator), counted in the
    bytes a block at a time: a few milliseconds for a large file, and never more than a
    block in memory. 0 when the file cannot be read or its separator found."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
            if head[:3] == b"ISA" and len(head) > 3:
                sep = head[3:4]
            elif head[:2] == b"ST" and len(head) > 2:
                sep = head[2:3]
            else:
                return 0
            mark = b"ST" + sep + b"835"
            f.seek(0)
            count, tail = 0, b""
            for block in iter(lambda: f.read(block_size), b""):
                text = tail + block
                count += text.count(mark)
                tail = text[-(len(mark) - 1) :]
            return count
    except OSError:
        return 0


def _start_worker(storer: int, rules: Rules | None, folder: str) -> None:
    """In a worker: what ``parse_in_worker`` uses, and a watch on the storing process."""
    _WORKER["rules"] = rules
    _WORKER["folder"] = folder
    _watch(storer)


def _watch(storer: int) -> None:
    """In a worker: exit when the storing process is gone. A worker waits on a queue it also
    holds the writing end of, so a storing process killed (kill -9 of a nightly run) would
    otherwise leave its workers waiting for ever."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(storer, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the id was reused by someone else's process: gone
                os._exit(1)

    threading.Thread(target=watch, name="denialkit-watch", daemon=True).start()
