"""Ingest 835 files into the store: find files, hash, parse, store whole or not at all.

``ingest_paths(store, paths)`` is what ``denialkit ingest`` runs; it never raises for a bad
file (the file is reported as failed and the others go on).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from .errors import X12Error
from .filekinds import not_a_remittance
from .rules import Rules
from .store import ClaimWriter, Store, to_cents
from .workflow import DenialProcessor

GROUPS = ("CO", "PR", "OA", "PI", "CR")
_SNIFF_BYTES = 4096


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


@dataclass
class FileResult:
    path: str
    status: str  # "ingested" | "duplicate" | "failed"
    totals: Totals = field(default_factory=Totals)
    warnings: list[Issue] = field(default_factory=list)
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
            "errors": [f.error.as_dict() for f in self.files if f.error is not None],
            "warnings": [
                w.as_dict() for f in self.files if f.status != "duplicate" for w in f.warnings
            ],
        }


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
        size = p.stat().st_size
        kind = not_a_remittance(p)
        digest = sha256_of(p)
    except OSError as exc:
        result.error = Issue(name, None, f"cannot read file: {exc.strerror}")
        return result
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
            file_id = store.add_file(p.name, os.path.abspath(p), size, digest)
            denials = DenialProcessor(store, rules, today or dt.date.today()) if rules else None
            remittance_ids = _store_events(store, stream, result, denials, file_id)
            if denials is not None:
                result.denials = denials.created
            result.warnings = list(stream.warnings)
            if stream.suppressed_warnings:
                result.warnings.append(
                    Issue(name, None, f"{stream.suppressed_warnings} more warnings not shown")
                )
            if result.duplicate_transactions and not remittance_ids:
                raise _AllDuplicate
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
        result.duplicate_of = "the same remittances (payer, TRN02 and BPR02) stored earlier"
        result.totals = Totals()
    except X12Error as exc:
        result.status = "failed"
        result.totals = Totals()
        result.warnings = list(stream.warnings)
        result.error = Issue(name, exc.segment, exc.reason)
    except OSError as exc:
        result.status = "failed"
        result.totals = Totals()
        result.error = Issue(name, None, f"cannot read file: {exc.strerror}")
    finally:
        if source is not p:
            source.close()  # the parser closes only the files it opened itself
    return result


def _store_events(
    store: Store,
    stream: EraStream,
    result: FileResult,
    denials: DenialProcessor | None,
    file_id: int,
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
            earlier = store.find_remittance(
                payer_id, event.trace_number, to_cents(event.payment_amount) or 0
            )
            skip = earlier is not None
            chunk = 0
            if skip:
                result.duplicate_transactions += 1
                stream.warn(
                    event.segment,
                    f"transaction {event.transaction} repeats a "
                    "remittance already stored (same payer, TRN02 and "
                    "BPR02); skipped",
                )
                writer = None
                continue
            rid = store.add_remittance(file_id, event, payer_id, store.payee_id(event))
            remittance_ids[event.transaction] = rid
            writer = store.claim_writer(rid, payer_id)
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
