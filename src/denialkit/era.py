"""X12 835 (health care claim payment/advice) into records, streaming.

Two ways in:

* ``EraStream(path)`` yields events in file order — a ``RemittanceHeader`` once the header
  loops (1000A payer, 1000B payee) are read, then ``Claim`` and ``ProviderAdjustment`` records,
  ``RawText`` pieces of the transaction's original text, and a ``RemittanceEnd``. Memory stays
  flat however large the file; the store consumes this.
* ``parse_835(path)`` assembles each transaction into one ``Remittance`` (convenient from Python
  and in tests; holds one transaction at a time).

Real senders break the TR3 in many small ways. Those become warnings (``Issue``) and every
claim is kept; only input whose structure cannot be read raises ``X12Error``.

Element numbers in comments follow the 005010X221A1 TR3; 004010X091A1 is the same for every
element read here.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO

from .errors import X12Error
from .x12 import Segment, SegmentReader, split_composite

ZERO = Decimal(0)
CENT = Decimal("0.01")
MAX_WARNINGS_PER_FILE = 500
# Amounts are bounded so that they fit the store (integer cents) and so that any sum over them
# stays exact: |amount| < 10**11 dollars (10**13 cents). Real 835 amounts are far below it.
MAX_AMOUNT = Decimal(10) ** 11
# Digits in a number before it is even looked at (X12 R is at most 15 digits).
MAX_NUMBER_CHARS = 40
RAW_FLUSH_CHARS = 256 * 1024


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Issue:
    """A warning or error: where (file, segment ordinal) and what, never patient data."""

    file: str
    segment: int | None
    message: str
    transaction: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "segment": self.segment, "message": self.message}


@dataclass(slots=True)
class Party:
    """Payer (N1*PR, loop 1000A) or payee (N1*PE, loop 1000B)."""

    entity: str
    name: str = ""
    id_qualifier: str = ""
    id: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    refs: list[tuple[str, str]] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)

    def ref(self, qualifier: str) -> str:
        for q, v in self.refs:
            if q == qualifier:
                return v
        return ""


@dataclass(slots=True)
class Person:
    """An NM1 in loop 2100: patient (QC), insured (IL), corrected (74), rendering (82) ..."""

    entity: str
    last: str = ""
    first: str = ""
    middle: str = ""
    suffix: str = ""
    id_qualifier: str = ""
    id: str = ""


@dataclass(slots=True)
class Adjustment:
    """One CAS reason/amount/quantity triplet."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None
    segment: int


@dataclass(slots=True)
class Remark:
    """A remark code: MIA/MOA (claim level) or LQ (line level; qualifier HE = RARC)."""

    source: str
    qualifier: str
    code: str


@dataclass(slots=True)
class ServiceLine:
    segment: int
    number: int
    procedure_qualifier: str
    procedure: str
    modifiers: list[str]
    description: str
    charge: Decimal
    paid: Decimal
    revenue_code: str = ""
    units: Decimal | None = None
    original_qualifier: str = ""
    original_procedure: str = ""
    original_modifiers: list[str] = field(default_factory=list)
    original_units: Decimal | None = None
    date_from: str | None = None
    date_to: str | None = None
    line_control: str = ""
    allowed: Decimal | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)
    quantities: list[tuple[str, Decimal]] = field(default_factory=list)


@dataclass(slots=True)
class Claim:
    segment: int
    lx: str
    patient_control: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    filing_indicator: str
    payer_claim_id: str
    facility_type: str
    frequency: str
    drg: str = ""
    drg_weight: Decimal | None = None
    people: list[Person] = field(default_factory=list)
    statement_from: str | None = None
    statement_to: str | None = None
    received_date: str | None = None
    coverage_expiration: str | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)
    quantities: list[tuple[str, Decimal]] = field(default_factory=list)
    lines: list[ServiceLine] = field(default_factory=list)

    @property
    def service_date(self) -> str | None:
        """The first line's service date, else the statement start (DTM*232)."""
        return min((ln.date_from for ln in self.lines if ln.date_from), default=None) or (
            self.statement_from
        )

    def person(self, entity: str) -> Person | None:
        for p in self.people:
            if p.entity == entity:
                return p
        return None


@dataclass(slots=True)
class ProviderAdjustment:
    """One PLB reason/reference/amount pair (a provider-level, not claim-level, adjustment)."""

    segment: int
    provider_id: str
    fiscal_date: str | None
    reason: str
    reference: str
    amount: Decimal


@dataclass(slots=True)
class RemittanceHeader:
    file: str
    transaction: int  # 1-based ordinal of this 835 within the file
    segment: int  # ordinal of its ST
    st_control: str = ""
    implementation: str = ""
    isa_sender: str = ""
    isa_receiver: str = ""
    isa_date: str | None = None
    isa_control: str = ""
    isa_version: str = ""
    usage: str = ""
    gs_sender: str = ""
    gs_receiver: str = ""
    gs_date: str | None = None
    gs_control: str = ""
    gs_version: str = ""
    handling_code: str = ""
    payment_amount: Decimal = ZERO
    credit_debit: str = ""
    payment_method: str = ""
    payment_format: str = ""
    payment_date: str | None = None
    trace_type: str = ""
    trace_number: str = ""
    trace_originator: str = ""
    trace_reference: str = ""
    production_date: str | None = None
    currency: str = ""
    refs: list[tuple[str, str]] = field(default_factory=list)
    payer: Party = field(default_factory=lambda: Party("PR"))
    payee: Party = field(default_factory=lambda: Party("PE"))

    @property
    def notice_date(self) -> str | None:
        """The date of the remittance notice: DTM*405, else BPR16, else GS04, else ISA09."""
        return self.production_date or self.payment_date or self.gs_date or self.isa_date

    @property
    def payer_key(self) -> str:
        """A stable identity for the payer: its id (N1*PR04, REF*2U, TRN03), else its name."""
        p = self.payer
        ident = p.id or p.ref("2U") or self.trace_originator
        if ident:
            return f"id:{ident.strip()}"
        return f"name:{' '.join(p.name.upper().split())}"


@dataclass(slots=True)
class RawText:
    """A piece of the transaction's original segments, terminator-separated."""

    text: str


@dataclass(slots=True)
class RemittanceEnd:
    header: RemittanceHeader
    segment_count: int
    claim_count: int
    total_charge: Decimal
    total_paid: Decimal
    plb_total: Decimal


@dataclass(slots=True)
class Remittance:
    """One whole 835 transaction (ST…SE)."""

    header: RemittanceHeader
    claims: list[Claim]
    provider_adjustments: list[ProviderAdjustment]
    warnings: list[Issue]
    raw: str

    @property
    def total_charge(self) -> Decimal:
        return sum((c.charge for c in self.claims), ZERO)

    @property
    def total_paid(self) -> Decimal:
        return sum((c.paid for c in self.claims), ZERO)


Event = RemittanceHeader | Claim | ProviderAdjustment | RawText | RemittanceEnd


# --------------------------------------------------------------------------- values


def parse_decimal(value: str) -> Decimal | None:
    """An X12 R/N value as Decimal; None when it is not a plain decimal number."""
    v = value.strip()
    body = v[1:] if v[:1] in "-+" else v
    # ASCII digits only: str.isdigit() also accepts Arabic-Indic and other scripts' digits.
    if (
        not body
        or len(body) > MAX_NUMBER_CHARS
        or not body.isascii()
        or not body.replace(".", "", 1).isdigit()
    ):
        return None
    try:
        return Decimal(v)
    except InvalidOperation:  # pragma: no cover - excluded by the check above
        return None


def parse_date(value: str) -> str | None:
    """CCYYMMDD (or YYMMDD) to an ISO date; None when it is not a real date."""
    v = value.strip()
    if not (v.isascii() and v.isdigit()):
        return None
    if len(v) == 6:  # ISA09 and some 4010 senders: YYMMDD; X12 windows the century at 50
        year = int(v[:2])
        v = f"{2000 + year if year < 50 else 1900 + year}{v[2:]}"
    if len(v) != 8:
        return None
    try:
        return dt.date(int(v[:4]), int(v[4:6]), int(v[6:8])).isoformat()
    except ValueError:
        return None


# --------------------------------------------------------------------------- parser

_PARTY_SEGMENTS = {"N3", "N4", "REF", "PER", "RDM"}
_HEADER_ONLY = {"BPR", "TRN", "CUR"}
_ENVELOPE = {"ISA", "IEA", "GS", "GE", "ST", "SE"}
_MIA_REMARKS = (5, 20, 21, 22, 23)
_MIA_QUANTITIES = (1, 3, 15)
_MOA_REMARKS = (3, 4, 5, 6, 7)


class EraStream:
    """Stream the events of every 835 transaction in one file.

    ``warnings`` fills as the stream is consumed. Only repetitive warnings of a capped kind
    (``balance``: amounts that do not add up, ``rounding``) stop at ``MAX_WARNINGS_PER_FILE``
    per kind, the rest counted in ``suppressed`` by kind; warnings about data dropped or
    repeated are never capped. Errors raise ``X12Error`` naming the file and the
    segment.
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes], name: str | None = None):
        self.name = name or (
            os.fspath(source)
            if isinstance(source, str | os.PathLike)
            else getattr(source, "name", "<input>")
        )
        self._source = source
        self.warnings: list[Issue] = []
        self.suppressed: dict[str, int] = {}
        self._kind_counts: dict[str, int] = {}
        self.segment = 0  # the last segment read, for errors nobody foresaw
        self.transactions = 0
        self.skipped_transactions = 0
        self.delimiters = None

    # -- warnings and errors ------------------------------------------------------------

    @property
    def suppressed_warnings(self) -> int:
        return sum(self.suppressed.values())

    def warn(self, segment: int | None, message: str, kind: str | None = None) -> None:
        """Record a warning; ``kind`` names a capped, repetitive kind (``balance``)."""
        if kind is not None:
            n = self._kind_counts.get(kind, 0) + 1
            self._kind_counts[kind] = n
            if n > MAX_WARNINGS_PER_FILE:
                self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
                return
        self.warnings.append(Issue(self.name, segment, message, self.transactions or None))

    def error(self, seg: Segment, message: str) -> X12Error:
        return X12Error(message, file=self.name, segment=seg.ordinal, segment_id=seg.id)

    def money(self, seg: Segment, i: int, *, required: bool = True) -> Decimal | None:
        v = seg[i]
        if v == "" or v.isspace():
            if required:
                self.warn(seg.ordinal, f"{seg.id}{i:02d} (amount) is missing; read as 0")
                return ZERO
            return None
        d = parse_decimal(v)
        if d is None:
            # Not a number in a money field: the amounts would no longer balance, and guessing
            # would put wrong money in the books. Reject the file (it is stored whole or not).
            raise self.error(
                seg,
                f"{seg.id}{i:02d}: amount {v[:20]!r} is not a number "
                "(ASCII digits, an optional sign and decimal point)",
            )
        if abs(d) >= MAX_AMOUNT:
            raise self.error(
                seg,
                f"{seg.id}{i:02d}: amount {v.strip()[:24]!r} is out of range (below "
                f"{MAX_AMOUNT:,.0f} dollars in absolute value)",
            )
        if d.as_tuple().exponent < -2 and d != d.quantize(CENT):  # type: ignore[operator]
            self.warn(
                seg.ordinal,
                f"{seg.id}{i:02d}: amount {v} has more than two decimals; "
                "stored rounded to the cent, half up (the raw text keeps it)",
                "rounding",
            )
        return d

    def soft_number(self, seg: Segment, i: int) -> Decimal | None:
        """A number that does not drive the money (units, rates): bad values only warn."""
        v = seg[i]
        if v == "":
            return None
        d = parse_decimal(v)
        if d is None:
            self.warn(seg.ordinal, f"{seg.id}{i:02d}: {v[:20]!r} is not a number; ignored")
        return d

    def date(self, seg: Segment, i: int) -> str | None:
        v = seg[i]
        if not v:
            return None
        d = parse_date(v)
        if d is None:
            self.warn(seg.ordinal, f"{seg.id}{i:02d} is not a valid date; ignored")
        return d

    # -- the stream ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        try:
            reader = SegmentReader(self._source, self.name)
        except X12Error as exc:
            raise exc.with_file(self.name) from None
        except OSError as exc:
            raise X12Error(f"cannot read file: {exc.strerror}", file=self.name) from None
        self.delimiters = reader.delimiters
        try:
            yield from self._events(reader)
        finally:
            for ordinal, message in reader.warnings:
                self.warn(ordinal, message)
            reader.close()

    def _events(self, reader: SegmentReader) -> Iterator[Event]:
        state = _State(self, reader)
        if not reader.has_envelope:
            self.warn(
                1,
                "no ISA/GS envelope: transaction read without one; delimiters "
                f"inferred ({reader.delimiters.describe()})",
            )
        last: Segment | None = None
        for seg in reader:
            last = seg
            self.segment = seg.ordinal
            state.feed(seg)
            if state.out:
                yield from state.out
                state.out.clear()
        state.finish(last)
        if state.out:
            yield from state.out
            state.out.clear()


class _State:
    """The loop state machine for one file. Loop starts are a table (``_LOOP_STARTS``)."""

    def __init__(self, stream: EraStream, reader: SegmentReader) -> None:
        self.s = stream
        self.reader = reader
        self.component = reader.delimiters.component
        self.term = reader.delimiters.segment
        self.out: list[Event] = []
        self.envelope = reader.has_envelope
        # envelope
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.gs_count = 0
        self.st_count = 0
        # transaction
        self.in_st = False
        self.skipping: Segment | None = None
        self.st: Segment | None = None
        self.seg_count = 0
        self.header: RemittanceHeader | None = None
        self.header_sent = False
        self.loop = "header"
        self.party: Party | None = None
        self.lx = ""
        self.claim: Claim | None = None
        self.line: ServiceLine | None = None
        self.line_number = 0
        self.raw: list[str] = []
        self.raw_len = 0
        self.claims = 0
        self.total_charge = ZERO
        self.total_paid = ZERO
        self.plb_total = ZERO
        self.warned_composite = False

    # -- dispatch -----------------------------------------------------------------------

    def feed(self, seg: Segment) -> None:
        sid = seg.id
        if sid in _ENVELOPE:
            getattr(self, f"env_{sid}")(seg)
            return
        if self.skipping is not None:
            return
        if not self.in_st:
            raise self.s.error(seg, f"{sid} segment outside a transaction (no ST before it)")
        self.count(seg)
        handler = _HANDLERS.get((self.loop, sid)) or _HANDLERS.get(("*", sid))
        if handler is None:
            self.s.warn(
                seg.ordinal,
                f"unexpected segment {sid} in loop {_LOOP_NAMES[self.loop]};"
                " ignored (kept in the raw text)",
            )
            return
        handler(self, seg)

    def count(self, seg: Segment) -> None:
        self.seg_count += 1
        self.raw.append(seg.raw)
        self.raw_len += len(seg.raw) + 1
        if self.raw_len > RAW_FLUSH_CHARS and self.header_sent:
            self.flush_raw()

    def flush_raw(self) -> None:
        if self.raw:
            self.out.append(RawText(self.term.join(self.raw) + self.term))
            self.raw = []
            self.raw_len = 0

    # -- envelope -----------------------------------------------------------------------

    def env_ISA(self, seg: Segment) -> None:
        if self.in_st or self.skipping is not None:
            raise self.s.error(seg, "ISA inside an open transaction (the previous one has no SE)")
        if self.isa is not None:
            raise self.s.error(seg, "ISA before the previous interchange was closed by IEA")
        if len(seg) < 16:
            self.s.warn(seg.ordinal, f"ISA has {len(seg)} elements, expected 16")
        self.isa = seg
        self.envelope = True
        self.gs_count = 0
        comp = seg[16][:1]
        if comp:
            self.component = comp

    def env_IEA(self, seg: Segment) -> None:
        if self.isa is None:
            raise self.s.error(seg, "IEA without an ISA")
        if self.gs is not None:
            raise self.s.error(seg, "IEA before the functional group was closed by GE")
        if seg[2].strip() != self.isa[13].strip():
            self.s.warn(seg.ordinal, f"IEA02 {seg[2]!r} does not match ISA13 {self.isa[13]!r}")
        if seg[1].strip() != str(self.gs_count):
            self.s.warn(seg.ordinal, f"IEA01 says {seg[1]!r} groups, counted {self.gs_count}")
        self.isa = None

    def env_GS(self, seg: Segment) -> None:
        if self.in_st or self.skipping is not None:
            raise self.s.error(seg, "GS inside an open transaction (the previous one has no SE)")
        if self.gs is not None:
            raise self.s.error(seg, "GS before the previous functional group was closed by GE")
        if self.isa is None and self.envelope:
            raise self.s.error(seg, "GS outside an interchange (no ISA before it)")
        self.gs = seg
        self.gs_count += 1
        self.st_count = 0
        if seg[1] and seg[1] != "HP":
            self.s.warn(seg.ordinal, f"GS01 is {seg[1]!r}; an 835 group is 'HP'")

    def env_GE(self, seg: Segment) -> None:
        if self.in_st or self.skipping is not None:
            raise self.s.error(seg, "GE inside an open transaction (the transaction has no SE)")
        if self.gs is None:
            raise self.s.error(seg, "GE without a GS")
        if seg[2].strip() != self.gs[6].strip():
            self.s.warn(seg.ordinal, f"GE02 {seg[2]!r} does not match GS06 {self.gs[6]!r}")
        if seg[1].strip() != str(self.st_count):
            self.s.warn(seg.ordinal, f"GE01 says {seg[1]!r} transactions, counted {self.st_count}")
        self.gs = None

    def env_ST(self, seg: Segment) -> None:
        if self.in_st or self.skipping is not None:
            raise self.s.error(seg, "ST inside an open transaction (the previous one has no SE)")
        if self.envelope and self.gs is None:
            raise self.s.error(seg, "ST outside a functional group (no GS before it)")
        self.st_count += 1
        if seg[1] != "835":
            self.skipping = seg
            self.s.skipped_transactions += 1
            self.s.warn(seg.ordinal, f"transaction set {seg[1]!r} is not an 835; skipped")
            return
        self.s.transactions += 1
        self.in_st = True
        self.st = seg
        self.seg_count = 1
        self.raw = [seg.raw]
        self.raw_len = len(seg.raw)
        self.header = self.new_header(seg)
        self.header_sent = False
        self.loop = "header"
        self.party = None
        self.lx = ""
        self.claim = None
        self.line = None
        self.claims = 0
        self.total_charge = ZERO
        self.total_paid = ZERO
        self.plb_total = ZERO

    def new_header(self, st: Segment) -> RemittanceHeader:
        h = RemittanceHeader(
            file=self.s.name,
            transaction=self.s.transactions,
            segment=st.ordinal,
            st_control=st[2].strip(),
            implementation=st[3].strip(),
        )
        if self.isa is not None:
            i = self.isa
            h.isa_sender = i[6].strip()
            h.isa_receiver = i[8].strip()
            h.isa_date = self.s.date(i, 9)
            h.isa_control = i[13].strip()
            h.isa_version = i[12].strip()
            h.usage = i[15].strip()
        if self.gs is not None:
            g = self.gs
            h.gs_sender = g[2].strip()
            h.gs_receiver = g[3].strip()
            h.gs_date = self.s.date(g, 4)
            h.gs_control = g[6].strip()
            h.gs_version = g[8].strip()
        return h

    def env_SE(self, seg: Segment) -> None:
        if self.skipping is not None:
            self.skipping = None
            return
        if not self.in_st or self.header is None or self.st is None:
            raise self.s.error(seg, "SE without an ST")
        self.count(seg)
        self.close_claim()
        self.send_header()
        h = self.header
        if seg[1].strip() != str(self.seg_count):
            self.s.warn(seg.ordinal, f"SE01 says {seg[1]!r} segments, counted {self.seg_count}")
        if seg[2].strip() != self.st[2].strip():
            self.s.warn(seg.ordinal, f"SE02 {seg[2]!r} does not match ST02 {self.st[2]!r}")
        expected = self.total_paid - self.plb_total
        if h.payment_amount != expected:
            self.s.warn(
                seg.ordinal,
                f"BPR02 {h.payment_amount} does not balance: sum of CLP04 "
                f"{self.total_paid} minus PLB {self.plb_total} is {expected}",
                "balance",
            )
        self.flush_raw()
        self.out.append(
            RemittanceEnd(
                h, self.seg_count, self.claims, self.total_charge, self.total_paid, self.plb_total
            )
        )
        self.in_st = False
        self.header = None
        self.st = None

    def finish(self, last: Segment | None) -> None:
        where = last.ordinal if last else None
        if self.in_st or self.skipping is not None:
            raise X12Error(
                "file ends inside a transaction (no SE): truncated", file=self.s.name, segment=where
            )
        if self.gs is not None:
            raise X12Error(
                "file ends inside a functional group (no GE): truncated",
                file=self.s.name,
                segment=where,
            )
        if self.isa is not None:
            raise X12Error(
                "file ends inside an interchange (no IEA): truncated",
                file=self.s.name,
                segment=where,
            )
        if self.s.transactions == 0 and self.s.skipped_transactions == 0:
            raise X12Error("file holds no transaction (no ST…SE)", file=self.s.name, segment=where)

    # -- header loops -------------------------------------------------------------------

    def send_header(self) -> None:
        if self.header_sent or self.header is None:
            return
        h = self.header
        if not h.payer.name and not h.payer.id:
            self.s.warn(h.segment, "transaction has no payer (N1*PR, loop 1000A)")
        self.header_sent = True
        self.out.append(h)

    def h_BPR(self, seg: Segment) -> None:
        h = self.header
        assert h is not None
        h.handling_code = seg[1]
        h.payment_amount = self.s.money(seg, 2) or ZERO
        h.credit_debit = seg[3]
        h.payment_method = seg[4]
        h.payment_format = seg[5]
        if seg[16]:
            h.payment_date = self.s.date(seg, 16)
        elif len(seg) == 15 and parse_date(seg[15]):
            # Seen in a TR3 example: one empty element too few, so the date lands in BPR15.
            self.s.warn(seg.ordinal, "BPR has 15 elements; the payment date was read from BPR15")
            h.payment_date = parse_date(seg[15])
        else:
            self.s.warn(seg.ordinal, "BPR16 (payment date) is missing")

    def h_TRN(self, seg: Segment) -> None:
        h = self.header
        assert h is not None
        h.trace_type = seg[1]
        h.trace_number = seg[2].strip()
        h.trace_originator = seg[3].strip()
        h.trace_reference = seg[4].strip()

    def h_CUR(self, seg: Segment) -> None:
        assert self.header is not None
        self.header.currency = seg[2]

    def h_REF(self, seg: Segment) -> None:
        assert self.header is not None
        self.header.refs.append((seg[1], seg[2]))

    def h_DTM(self, seg: Segment) -> None:
        assert self.header is not None
        if seg[1] == "405":
            self.header.production_date = self.s.date(seg, 2)

    def h_N1(self, seg: Segment) -> None:
        h = self.header
        assert h is not None
        if self.header_sent:
            # Header loops repeated after claims began: keep the first, keep going.
            self.s.warn(seg.ordinal, f"N1*{seg[1]} after the claims began; ignored")
            self.loop = "ignored"
            return
        if seg[1] == "PR":
            party = h.payer
        elif seg[1] == "PE":
            party = h.payee
        else:
            self.s.warn(seg.ordinal, f"N1 with entity {seg[1]!r} (not PR or PE); ignored")
            self.loop = "ignored"
            return
        if party.name or party.id:
            self.s.warn(seg.ordinal, f"N1*{seg[1]} appears twice; the first is kept")
            self.loop = "ignored"
            return
        party.name = seg[2]
        party.id_qualifier = seg[3]
        party.id = seg[4].strip()
        self.party = party
        self.loop = "party"

    def p_N3(self, seg: Segment) -> None:
        assert self.party is not None
        self.party.address = " ".join(x for x in (seg[1], seg[2]) if x)

    def p_N4(self, seg: Segment) -> None:
        assert self.party is not None
        self.party.city, self.party.state, self.party.postal_code = seg[1], seg[2], seg[3]

    def p_REF(self, seg: Segment) -> None:
        assert self.party is not None
        self.party.refs.append((seg[1], seg[2].strip()))

    def p_PER(self, seg: Segment) -> None:
        assert self.party is not None
        self.party.contacts.append(self.reader.delimiters.element.join(seg.elements[1:]))

    def p_ignore(self, seg: Segment) -> None:
        pass

    # -- claims -------------------------------------------------------------------------

    def lx_LX(self, seg: Segment) -> None:
        self.close_claim()
        self.send_header()
        self.lx = seg[1]
        self.loop = "lx"

    def lx_TS(self, seg: Segment) -> None:
        pass  # TS3/TS2 provider summaries: informational, kept in the raw text

    def c_CLP(self, seg: Segment) -> None:
        self.close_claim()
        self.send_header()
        s = self.s
        status = seg[2].strip()
        if not status:
            s.warn(seg.ordinal, "CLP02 (claim status) is missing")
        charge = s.money(seg, 3) or ZERO
        paid = s.money(seg, 4) or ZERO
        self.claim = Claim(
            segment=seg.ordinal,
            lx=self.lx,
            patient_control=seg[1].strip(),
            status=status,
            charge=charge,
            paid=paid,
            patient_responsibility=s.money(seg, 5, required=False),
            filing_indicator=seg[6],
            payer_claim_id=seg[7].strip(),
            facility_type=seg[8],
            frequency=seg[9],
            drg=seg[11],
            drg_weight=s.soft_number(seg, 12),
        )
        if seg[1].strip() == "":
            s.warn(seg.ordinal, "CLP01 (patient control number) is missing")
        self.line = None
        self.line_number = 0
        self.loop = "claim"

    def close_claim(self) -> None:
        c = self.claim
        if c is None:
            return
        self.close_line()
        total = ZERO
        for a in c.adjustments:
            total += a.amount
        for line in c.lines:
            for a in line.adjustments:
                total += a.amount
        if c.charge - c.paid != total:
            self.s.warn(
                c.segment,
                f"claim does not balance: CLP03 {c.charge} - CLP04 {c.paid} "
                f"= {c.charge - c.paid}, but claim and line CAS total {total}",
                "balance",
            )
        self.claims += 1
        self.total_charge += c.charge
        self.total_paid += c.paid
        self.out.append(c)
        self.claim = None
        self.loop = "lx"

    def claim_CAS(self, seg: Segment) -> None:
        assert self.claim is not None
        self.claim.adjustments.extend(self.cas(seg))

    def cas(self, seg: Segment) -> list[Adjustment]:
        group = seg[1].strip()
        if group not in ("CO", "PR", "OA", "PI", "CR"):
            self.s.warn(seg.ordinal, f"CAS01 group code {group!r} is not CO, PR, OA, PI or CR")
        out = []
        # Up to six reason/amount/quantity triplets: CAS02-04, 05-07, ... 17-19.
        for i in range(2, 20, 3):
            reason = seg[i].strip()
            if not reason:
                if seg[i + 1]:
                    raise self.s.error(
                        seg, f"CAS{i + 1:02d} has an amount but CAS{i:02d} no reason code"
                    )
                continue
            amount = self.s.money(seg, i + 1) or ZERO
            out.append(
                Adjustment(group, reason, amount, self.s.soft_number(seg, i + 2), seg.ordinal)
            )
        if not out:
            self.s.warn(seg.ordinal, "CAS without any reason code; ignored")
        return out

    def claim_NM1(self, seg: Segment) -> None:
        assert self.claim is not None
        self.claim.people.append(
            Person(seg[1], seg[3], seg[4], seg[5], seg[7], seg[8], seg[9].strip())
        )

    def claim_MIA(self, seg: Segment) -> None:
        c = self.claim
        assert c is not None
        for i in _MIA_REMARKS:
            if seg[i].strip():
                c.remarks.append(Remark("MIA", "HE", seg[i].strip()))
        for i in range(2, 25):
            if i in _MIA_REMARKS or i in _MIA_QUANTITIES or not seg[i]:
                continue
            v = self.s.soft_number(seg, i)
            if v is not None:
                c.amounts.append((f"MIA{i:02d}", v))
        for i in _MIA_QUANTITIES:
            v = self.s.soft_number(seg, i)
            if v is not None:
                c.quantities.append((f"MIA{i:02d}", v))

    def claim_MOA(self, seg: Segment) -> None:
        c = self.claim
        assert c is not None
        for i in _MOA_REMARKS:
            if seg[i].strip():
                c.remarks.append(Remark("MOA", "HE", seg[i].strip()))
        for i in (1, 2, 8, 9):
            v = self.s.soft_number(seg, i)
            if v is not None:
                c.amounts.append((f"MOA{i:02d}", v))

    def claim_REF(self, seg: Segment) -> None:
        assert self.claim is not None
        self.claim.refs.append((seg[1], seg[2].strip()))

    def claim_DTM(self, seg: Segment) -> None:
        c = self.claim
        assert c is not None
        q = seg[1]
        if q == "232":
            c.statement_from = self.s.date(seg, 2)
        elif q == "233":
            c.statement_to = self.s.date(seg, 2)
        elif q == "050":
            c.received_date = self.s.date(seg, 2)
        elif q == "036":
            c.coverage_expiration = self.s.date(seg, 2)
        else:
            d = self.s.date(seg, 2)
            if d:
                c.refs.append((f"DTM{q}", d))

    def claim_PER(self, seg: Segment) -> None:
        pass  # claim contact: informational, kept in the raw text

    def claim_AMT(self, seg: Segment) -> None:
        assert self.claim is not None
        v = self.s.money(seg, 2)
        if v is not None:
            self.claim.amounts.append((seg[1], v))

    def claim_QTY(self, seg: Segment) -> None:
        assert self.claim is not None
        v = self.s.soft_number(seg, 2)
        if v is not None:
            self.claim.quantities.append((seg[1], v))

    # -- service lines ------------------------------------------------------------------

    def composite(self, seg: Segment, i: int) -> list[str]:
        parts, used = split_composite(seg[i], self.component)
        if used is not None and self.component is not None and not self.warned_composite:
            self.warned_composite = True
            self.s.warn(
                seg.ordinal,
                f"{seg.id}{i:02d} uses {used!r} as the component separator"
                f" but ISA16 declares {self.component!r}; read with {used!r}",
            )
        return parts

    def l_SVC(self, seg: Segment) -> None:
        c = self.claim
        assert c is not None
        self.close_line()
        s = self.s
        proc = self.composite(seg, 1)
        self.line_number += 1
        line = ServiceLine(
            segment=seg.ordinal,
            number=self.line_number,
            procedure_qualifier=proc[0].strip(),
            procedure=proc[1].strip() if len(proc) > 1 else "",
            modifiers=[m.strip() for m in proc[2:6] if m.strip()],
            description=proc[6] if len(proc) > 6 else "",
            charge=s.money(seg, 2) or ZERO,
            paid=s.money(seg, 3) or ZERO,
            revenue_code=seg[4].strip(),
            units=s.soft_number(seg, 5),
        )
        if seg[6]:
            orig = self.composite(seg, 6)
            line.original_qualifier = orig[0].strip()
            line.original_procedure = orig[1].strip() if len(orig) > 1 else ""
            line.original_modifiers = [m.strip() for m in orig[2:6] if m.strip()]
        line.original_units = s.soft_number(seg, 7)
        if not line.procedure:
            s.warn(seg.ordinal, "SVC01 has no procedure code")
        c.lines.append(line)
        self.line = line
        self.loop = "line"

    def close_line(self) -> None:
        line = self.line
        if line is None:
            return
        total = ZERO
        for a in line.adjustments:
            total += a.amount
        if line.charge - line.paid != total:
            self.s.warn(
                line.segment,
                f"service line does not balance: SVC02 {line.charge} - "
                f"SVC03 {line.paid} = {line.charge - line.paid}, but its "
                f"CAS total {total}",
                "balance",
            )
        self.line = None

    def line_DTM(self, seg: Segment) -> None:
        line = self.line
        assert line is not None
        q = seg[1]
        if q == "472":
            line.date_from = line.date_to = self.s.date(seg, 2)
        elif q == "150":
            line.date_from = self.s.date(seg, 2)
        elif q == "151":
            line.date_to = self.s.date(seg, 2)
        else:
            d = self.s.date(seg, 2)
            if d:
                line.refs.append((f"DTM{q}", d))

    def line_CAS(self, seg: Segment) -> None:
        assert self.line is not None
        self.line.adjustments.extend(self.cas(seg))

    def line_REF(self, seg: Segment) -> None:
        line = self.line
        assert line is not None
        value = seg[2].strip()
        line.refs.append((seg[1], value))
        if seg[1] == "6R" and not line.line_control:
            line.line_control = value

    def line_AMT(self, seg: Segment) -> None:
        line = self.line
        assert line is not None
        v = self.s.money(seg, 2)
        if v is None:
            return
        line.amounts.append((seg[1], v))
        if seg[1] == "B6":
            line.allowed = v

    def line_QTY(self, seg: Segment) -> None:
        assert self.line is not None
        v = self.s.soft_number(seg, 2)
        if v is not None:
            self.line.quantities.append((seg[1], v))

    def line_LQ(self, seg: Segment) -> None:
        assert self.line is not None
        if seg[2].strip():
            self.line.remarks.append(Remark("LQ", seg[1].strip(), seg[2].strip()))

    # -- provider-level adjustments -----------------------------------------------------

    def s_PLB(self, seg: Segment) -> None:
        self.close_claim()
        self.send_header()
        self.loop = "summary"
        s = self.s
        provider = seg[1].strip()
        fiscal = s.date(seg, 2)
        found = False
        # Up to six reason/amount pairs: PLB03-04 ... PLB13-14.
        for i in range(3, 15, 2):
            if not seg[i] and not seg[i + 1]:
                continue
            parts = self.composite(seg, i)
            amount = s.money(seg, i + 1) or ZERO
            adj = ProviderAdjustment(
                seg.ordinal,
                provider,
                fiscal,
                parts[0].strip(),
                parts[1].strip() if len(parts) > 1 else "",
                amount,
            )
            self.plb_total += amount
            self.out.append(adj)
            found = True
        if not found:
            s.warn(seg.ordinal, "PLB without any adjustment; ignored")


def _sub(loop: str, pairs: dict[str, Callable[[_State, Segment], None]]):
    return {(loop, k): v for k, v in pairs.items()}


# Loop starts and the segments each loop may hold. '*' entries apply in every loop: they open
# a new loop (LX opens 2000, CLP opens 2100, SVC opens 2110, PLB the summary).
_HANDLERS: dict[tuple[str, str], Callable[[_State, Segment], None]] = {
    ("*", "LX"): _State.lx_LX,
    ("*", "CLP"): _State.c_CLP,
    ("*", "PLB"): _State.s_PLB,
    ("*", "N1"): _State.h_N1,
    **_sub(
        "header",
        {
            "BPR": _State.h_BPR,
            "TRN": _State.h_TRN,
            "CUR": _State.h_CUR,
            "REF": _State.h_REF,
            "DTM": _State.h_DTM,
        },
    ),
    **_sub(
        "party",
        {
            "N3": _State.p_N3,
            "N4": _State.p_N4,
            "REF": _State.p_REF,
            "PER": _State.p_PER,
            "RDM": _State.p_ignore,
        },
    ),
    **_sub("ignored", {k: _State.p_ignore for k in _PARTY_SEGMENTS}),
    **_sub("lx", {"TS3": _State.lx_TS, "TS2": _State.lx_TS}),
    **_sub(
        "claim",
        {
            "CAS": _State.claim_CAS,
            "NM1": _State.claim_NM1,
            "MIA": _State.claim_MIA,
            "MOA": _State.claim_MOA,
            "REF": _State.claim_REF,
            "DTM": _State.claim_DTM,
            "PER": _State.claim_PER,
            "AMT": _State.claim_AMT,
            "QTY": _State.claim_QTY,
            "SVC": _State.l_SVC,
        },
    ),
    **_sub(
        "line",
        {
            "SVC": _State.l_SVC,
            "DTM": _State.line_DTM,
            "CAS": _State.line_CAS,
            "REF": _State.line_REF,
            "AMT": _State.line_AMT,
            "QTY": _State.line_QTY,
            "LQ": _State.line_LQ,
        },
    ),
}
# In the header a party's own segments also arrive before any N1 in odd files; BPR/TRN after
# the header are errors of order but harmless: read them where they are.
for _k in _HEADER_ONLY:
    _HANDLERS.setdefault(("party", _k), _HANDLERS[("header", _k)])
_HANDLERS.setdefault(("party", "DTM"), _HANDLERS[("header", "DTM")])

_LOOP_NAMES = {
    "header": "header",
    "party": "1000 (payer/payee)",
    "ignored": "1000 (repeated)",
    "lx": "2000",
    "claim": "2100 (claim)",
    "line": "2110 (service line)",
    "summary": "summary (PLB)",
}


# --------------------------------------------------------------------------- convenience


def parse_835(
    source: str | os.PathLike[str] | IO[bytes], name: str | None = None
) -> Iterator[Remittance]:
    """Yield each 835 transaction in a file as one ``Remittance``.

    Warnings are attached to the remittance they belong to; file-level warnings (envelope,
    skipped transactions) go to the last remittance. Raises ``X12Error`` on unreadable input.
    """
    stream = EraStream(source, name)
    claims: list[Claim] = []
    plbs: list[ProviderAdjustment] = []
    raw: list[str] = []
    seen = 0
    for event in stream:
        if isinstance(event, Claim):
            claims.append(event)
        elif isinstance(event, ProviderAdjustment):
            plbs.append(event)
        elif isinstance(event, RawText):
            raw.append(event.text)
        elif isinstance(event, RemittanceEnd):
            mine = stream.warnings[seen:]
            seen = len(stream.warnings)
            yield Remittance(event.header, claims, plbs, mine, "".join(raw))
            claims, plbs, raw = [], [], []
