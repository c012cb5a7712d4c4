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
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO

from .errors import X12Error
from .vocabulary import GROUPS
from .x12 import Delimiters, Segment, SegmentReader, split_composite

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


@functools.lru_cache(maxsize=4096)  # pure, and dates repeat: a file holds a few hundred
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


# --------------------------------------------------------------------------- diagnostics


class Diagnostics:
    """The warnings and errors of one file: where (file, segment ordinal) and what.

    Only repetitive warnings of a capped kind (``balance``, ``rounding``) stop at
    ``MAX_WARNINGS_PER_FILE`` per kind, the rest counted in ``suppressed`` by kind; warnings
    about data dropped or repeated are never capped.
    """

    __slots__ = ("_kind_counts", "name", "skipped", "suppressed", "transactions", "warnings")

    def __init__(self, name: str) -> None:
        self.name = name
        self.warnings: list[Issue] = []
        self.suppressed: dict[str, int] = {}
        self._kind_counts: dict[str, int] = {}
        self.transactions = 0  # 835 transactions begun so far: a warning belongs to the last
        self.skipped = 0  # transactions of other kinds (not 835) passed over

    def warn(self, segment: int | None, message: str, kind: str | None = None) -> None:
        """Record a warning; ``kind`` names a capped, repetitive kind (``balance``)."""
        if kind is not None:
            n = self._kind_counts.get(kind, 0) + 1
            self._kind_counts[kind] = n
            if n > MAX_WARNINGS_PER_FILE:
                self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
                return
        self.warnings.append(Issue(self.name, segment, message, self.transactions or None))

    def control(self, seg: Segment, opener: Segment, at: int) -> None:
        """A trailer's control number (element 2) against its opener's (element ``at``)."""
        if seg[2].strip() != opener[at].strip():
            self.warn(
                seg.ordinal,
                f"{seg.id}02 {seg[2]!r} does not match {opener.id}{at:02d} {opener[at]!r}",
            )

    def counted(self, seg: Segment, counted: int, what: str) -> None:
        """A trailer's count (element 1) against what was counted."""
        if seg[1].strip() != str(counted):
            self.warn(seg.ordinal, f"{seg.id}01 says {seg[1]!r} {what}, counted {counted}")

    def error(self, seg: Segment, message: str) -> X12Error:
        return X12Error(message, file=self.name, segment=seg.ordinal, segment_id=seg.id)


# --------------------------------------------------------------------------- element values

# The common case of an amount, taken without further checks: at most 11 integer digits (below
# MAX_AMOUNT) and at most two decimals (nothing to round). Anything else takes the slow path,
# which checks, warns and rejects exactly as before.
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,11}(?:\.[0-9]{1,2})?")
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")


def _pad(seg: Segment, n: int) -> list[str]:
    """The segment's elements up to element ``n``: missing trailing elements read as ''."""
    e = seg.elements
    if len(e) > n:
        return e
    return e + [""] * (n + 1 - len(e))


def _money(
    diag: Diagnostics, seg: Segment, e: list[str], i: int, required: bool = True
) -> Decimal | None:
    v = e[i]
    if _PLAIN_AMOUNT.fullmatch(v) is not None:
        return Decimal(v)
    if v == "" or v.isspace():
        if required:
            diag.warn(seg.ordinal, f"{seg.id}{i:02d} (amount) is missing; read as 0")
            return ZERO
        return None
    d = parse_decimal(v)
    if d is None:
        # Not a number in a money field: the amounts would no longer balance, and guessing
        # would put wrong money in the books. Reject the file (it is stored whole or not).
        raise diag.error(
            seg,
            f"{seg.id}{i:02d}: amount {v[:20]!r} is not a number "
            "(ASCII digits, an optional sign and decimal point)",
        )
    if abs(d) >= MAX_AMOUNT:
        raise diag.error(
            seg,
            f"{seg.id}{i:02d}: amount {v.strip()[:24]!r} is out of range (below "
            f"{MAX_AMOUNT:,.0f} dollars in absolute value)",
        )
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and d != d.quantize(CENT):
        diag.warn(
            seg.ordinal,
            f"{seg.id}{i:02d}: amount {v} has more than two decimals; "
            "stored rounded to the cent, half up (the raw text keeps it)",
            "rounding",
        )
    return d


def _soft(diag: Diagnostics, seg: Segment, e: list[str], i: int) -> Decimal | None:
    """A number that does not drive the money (units, rates): bad values only warn."""
    v = e[i]
    if v == "":
        return None
    if _PLAIN_NUMBER.fullmatch(v) is not None:
        return Decimal(v)
    d = parse_decimal(v)
    if d is None:
        diag.warn(seg.ordinal, f"{seg.id}{i:02d}: {v[:20]!r} is not a number; ignored")
    return d


def _date(diag: Diagnostics, seg: Segment, e: list[str], i: int) -> str | None:
    v = e[i]
    if not v:
        return None
    d = parse_date(v)
    if d is None:
        diag.warn(seg.ordinal, f"{seg.id}{i:02d} is not a valid date; ignored")
    return d


# --------------------------------------------------------------------------- the walk

_ENVELOPE = {"ISA", "IEA", "GS", "GE", "ST", "SE"}
_MIA_REMARKS = (5, 20, 21, 22, 23)
_MIA_QUANTITIES = (1, 3, 15)
_MIA_AMOUNTS = tuple(i for i in range(2, 25) if i not in _MIA_REMARKS + _MIA_QUANTITIES)
_MOA_REMARKS = (3, 4, 5, 6, 7)


class _File:
    """What one file's walk knows beyond a transaction: the envelope (ISA/GS nesting and
    counts), the delimiters, the events ready to hand out and the transaction open now."""

    __slots__ = (
        "component",
        "diag",
        "element",
        "envelope",
        "gs",
        "gs_count",
        "isa",
        "name",
        "out",
        "skipping",
        "st_count",
        "term",
        "tx",
        "warned_composite",
    )

    def __init__(self, diag: Diagnostics, reader: SegmentReader) -> None:
        self.diag = diag
        self.name = diag.name
        self.component = reader.delimiters.component
        self.element = reader.delimiters.element
        self.term = reader.delimiters.segment
        self.envelope = reader.has_envelope
        self.out: list[Event] = []
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.gs_count = 0
        self.st_count = 0
        self.skipping: Segment | None = None  # the ST of a transaction that is not an 835
        self.tx: Transaction | None = None
        self.warned_composite = False


class Transaction:
    """One 835 (ST…SE) being read: a fresh one per ST, so nothing carries over between them.

    ``loop`` is the loop the last segment was read in; ``route`` is that loop's row of
    ``_ROUTES`` (segment id -> what to do).
    """

    __slots__ = (
        "claim",
        "claims",
        "diag",
        "file",
        "header",
        "header_sent",
        "line",
        "line_number",
        "loop",
        "lx",
        "out",
        "party",
        "plb_total",
        "raw",
        "raw_len",
        "route",
        "seg_count",
        "st",
        "total_charge",
        "total_paid",
    )

    def __init__(self, file: _File, st: Segment, header: RemittanceHeader) -> None:
        self.file = file
        self.diag = file.diag
        self.out = file.out
        self.st = st
        self.header = header
        self.header_sent = False
        self.seg_count = 1
        self.raw = [st.raw]
        self.raw_len = len(st.raw)
        self.loop = "header"
        self.route = _ROUTES["header"]
        self.party: Party | None = None
        self.lx = ""
        self.claim: Claim | None = None
        self.line: ServiceLine | None = None
        self.line_number = 0
        self.claims = 0
        self.total_charge = ZERO
        self.total_paid = ZERO
        self.plb_total = ZERO

    def enter(self, loop: str) -> None:
        self.loop = loop
        self.route = _ROUTES[loop]

    def count(self, seg: Segment) -> None:
        self.seg_count += 1
        self.raw.append(seg.raw)
        self.raw_len += len(seg.raw) + 1
        if self.raw_len > RAW_FLUSH_CHARS and self.header_sent:
            self.flush_raw()

    def flush_raw(self) -> None:
        if self.raw:
            term = self.file.term
            self.out.append(RawText(term.join(self.raw) + term))
            self.raw = []
            self.raw_len = 0

    def send_header(self) -> None:
        if self.header_sent:
            return
        h = self.header
        if not h.payer.name and not h.payer.id:
            self.diag.warn(h.segment, "transaction has no payer (N1*PR, loop 1000A)")
        self.header_sent = True
        self.out.append(h)


Handler = Callable[[Transaction, Segment], None]
Close = Callable[[Transaction], None]


@dataclass(frozen=True, slots=True)
class Loop:
    """One loop of the 835: what opens it, where it sits, the segments it takes, what happens
    when it closes. A loop marked ``optional`` may be left out by the sender: its children
    then open right under its parent (a CLP with no LX before it)."""

    name: str
    label: str  # as warnings name it
    parent: str | None
    opened_by: str | None  # the segment id that opens it (None: entered by a handler)
    open: Handler | None
    segments: dict[str, Handler]
    close: Close | None = None
    optional: bool = False


# -- header loops ------------------------------------------------------------------------


def _h_bpr(tx: Transaction, seg: Segment) -> None:
    h, d, e = tx.header, tx.diag, _pad(seg, 16)
    h.handling_code = e[1]
    h.payment_amount = _money(d, seg, e, 2) or ZERO
    h.credit_debit = e[3]
    h.payment_method = e[4]
    h.payment_format = e[5]
    if e[16]:
        h.payment_date = _date(d, seg, e, 16)
    elif len(seg) == 15 and parse_date(e[15]):
        # Seen in a TR3 example: one empty element too few, so the date lands in BPR15.
        d.warn(seg.ordinal, "BPR has 15 elements; the payment date was read from BPR15")
        h.payment_date = parse_date(e[15])
    else:
        d.warn(seg.ordinal, "BPR16 (payment date) is missing")


def _h_trn(tx: Transaction, seg: Segment) -> None:
    h, e = tx.header, _pad(seg, 4)
    h.trace_type = e[1]
    h.trace_number = e[2].strip()
    h.trace_originator = e[3].strip()
    h.trace_reference = e[4].strip()


def _h_cur(tx: Transaction, seg: Segment) -> None:
    tx.header.currency = seg[2]


def _h_ref(tx: Transaction, seg: Segment) -> None:
    tx.header.refs.append((seg[1], seg[2]))


def _h_dtm(tx: Transaction, seg: Segment) -> None:
    if seg[1] == "405":
        tx.header.production_date = _date(tx.diag, seg, _pad(seg, 2), 2)


def _open_party(tx: Transaction, seg: Segment) -> None:
    h, d, e = tx.header, tx.diag, _pad(seg, 4)
    if tx.header_sent:
        # Header loops repeated after the claims began: keep the first, keep going.
        d.warn(seg.ordinal, f"N1*{e[1]} after the claims began; ignored")
        tx.enter("ignored")
        return
    if e[1] == "PR":
        party = h.payer
    elif e[1] == "PE":
        party = h.payee
    else:
        d.warn(seg.ordinal, f"N1 with entity {e[1]!r} (not PR or PE); ignored")
        tx.enter("ignored")
        return
    if party.name or party.id:
        d.warn(seg.ordinal, f"N1*{e[1]} appears twice; the first is kept")
        tx.enter("ignored")
        return
    party.name = e[2]
    party.id_qualifier = e[3]
    party.id = e[4].strip()
    tx.party = party


def _party(tx: Transaction) -> Party:
    assert tx.party is not None  # the party loop is entered only once N1 has set it
    return tx.party


def _p_n3(tx: Transaction, seg: Segment) -> None:
    _party(tx).address = " ".join(x for x in (seg[1], seg[2]) if x)


def _p_n4(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 3)
    p = _party(tx)
    p.city, p.state, p.postal_code = e[1], e[2], e[3]


def _p_ref(tx: Transaction, seg: Segment) -> None:
    _party(tx).refs.append((seg[1], seg[2].strip()))


def _p_per(tx: Transaction, seg: Segment) -> None:
    _party(tx).contacts.append(tx.file.element.join(seg.elements[1:]))


def _ignore(tx: Transaction, seg: Segment) -> None:
    """Informational segments (TS3/TS2 summaries, claim contacts, repeated parties): the raw
    text keeps them."""


# -- claims -------------------------------------------------------------------------------


def _open_lx(tx: Transaction, seg: Segment) -> None:
    tx.send_header()
    tx.lx = seg[1]


def _open_claim(tx: Transaction, seg: Segment) -> None:
    tx.send_header()
    d, e = tx.diag, _pad(seg, 12)
    status = e[2].strip()
    if not status:
        d.warn(seg.ordinal, "CLP02 (claim status) is missing")
    charge = _money(d, seg, e, 3) or ZERO
    paid = _money(d, seg, e, 4) or ZERO
    patient_control = e[1].strip()
    tx.claim = Claim(
        segment=seg.ordinal,
        lx=tx.lx,
        patient_control=patient_control,
        status=status,
        charge=charge,
        paid=paid,
        patient_responsibility=_money(d, seg, e, 5, required=False),
        filing_indicator=e[6],
        payer_claim_id=e[7].strip(),
        facility_type=e[8],
        frequency=e[9],
        drg=e[11],
        drg_weight=_soft(d, seg, e, 12),
    )
    if patient_control == "":
        d.warn(seg.ordinal, "CLP01 (patient control number) is missing")
    tx.line = None
    tx.line_number = 0


def _close_claim(tx: Transaction) -> None:
    c = tx.claim
    if c is None:
        return
    _close_line(tx)
    total = ZERO
    for a in c.adjustments:
        total += a.amount
    for line in c.lines:
        for a in line.adjustments:
            total += a.amount
    if c.charge - c.paid != total:
        tx.diag.warn(
            c.segment,
            f"claim does not balance: CLP03 {c.charge} - CLP04 {c.paid} "
            f"= {c.charge - c.paid}, but claim and line CAS total {total}",
            "balance",
        )
    tx.claims += 1
    tx.total_charge += c.charge
    tx.total_paid += c.paid
    tx.out.append(c)
    tx.claim = None


def _claim(tx: Transaction) -> Claim:
    assert tx.claim is not None  # the claim loops are entered only by a CLP
    return tx.claim


def _cas(tx: Transaction, seg: Segment) -> list[Adjustment]:
    d, e = tx.diag, _pad(seg, 19)
    group = e[1].strip()
    if group not in GROUPS:
        d.warn(seg.ordinal, f"CAS01 group code {group!r} is not CO, PR, OA, PI or CR")
    out = []
    # Up to six reason/amount/quantity triplets: CAS02-04, 05-07, ... 17-19.
    for i in range(2, min(len(seg.elements), 20), 3):
        reason = e[i].strip()
        if not reason:
            if e[i + 1]:
                raise d.error(seg, f"CAS{i + 1:02d} has an amount but CAS{i:02d} no reason code")
            continue
        amount = _money(d, seg, e, i + 1) or ZERO
        out.append(Adjustment(group, reason, amount, _soft(d, seg, e, i + 2), seg.ordinal))
    if not out:
        d.warn(seg.ordinal, "CAS without any reason code; ignored")
    return out


def _claim_cas(tx: Transaction, seg: Segment) -> None:
    _claim(tx).adjustments.extend(_cas(tx, seg))


def _claim_nm1(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 9)
    _claim(tx).people.append(Person(e[1], e[3], e[4], e[5], e[7], e[8], e[9].strip()))


def _claim_mia(tx: Transaction, seg: Segment) -> None:
    c, d, e = _claim(tx), tx.diag, _pad(seg, 24)
    for i in _MIA_REMARKS:
        if e[i].strip():
            c.remarks.append(Remark("MIA", "HE", e[i].strip()))
    for i in _MIA_AMOUNTS:
        if e[i]:
            v = _soft(d, seg, e, i)
            if v is not None:
                c.amounts.append((f"MIA{i:02d}", v))
    for i in _MIA_QUANTITIES:
        v = _soft(d, seg, e, i)
        if v is not None:
            c.quantities.append((f"MIA{i:02d}", v))


def _claim_moa(tx: Transaction, seg: Segment) -> None:
    c, d, e = _claim(tx), tx.diag, _pad(seg, 9)
    for i in _MOA_REMARKS:
        if e[i].strip():
            c.remarks.append(Remark("MOA", "HE", e[i].strip()))
    for i in (1, 2, 8, 9):
        v = _soft(d, seg, e, i)
        if v is not None:
            c.amounts.append((f"MOA{i:02d}", v))


def _claim_ref(tx: Transaction, seg: Segment) -> None:
    _claim(tx).refs.append((seg[1], seg[2].strip()))


def _claim_dtm(tx: Transaction, seg: Segment) -> None:
    c, d, e = _claim(tx), tx.diag, _pad(seg, 2)
    q = e[1]
    if q == "232":
        c.statement_from = _date(d, seg, e, 2)
    elif q == "233":
        c.statement_to = _date(d, seg, e, 2)
    elif q == "050":
        c.received_date = _date(d, seg, e, 2)
    elif q == "036":
        c.coverage_expiration = _date(d, seg, e, 2)
    else:
        v = _date(d, seg, e, 2)
        if v:
            c.refs.append((f"DTM{q}", v))


def _claim_amt(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 2)
    v = _money(tx.diag, seg, e, 2)
    if v is not None:
        _claim(tx).amounts.append((e[1], v))


def _claim_qty(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 2)
    v = _soft(tx.diag, seg, e, 2)
    if v is not None:
        _claim(tx).quantities.append((e[1], v))


# -- service lines -------------------------------------------------------------------------


def _composite(tx: Transaction, seg: Segment, e: list[str], i: int) -> list[str]:
    f = tx.file
    parts, used = split_composite(e[i], f.component)
    if used is not None and f.component is not None and not f.warned_composite:
        f.warned_composite = True
        tx.diag.warn(
            seg.ordinal,
            f"{seg.id}{i:02d} uses {used!r} as the component separator"
            f" but ISA16 declares {f.component!r}; read with {used!r}",
        )
    return parts


def _open_line(tx: Transaction, seg: Segment) -> None:
    c, d, e = _claim(tx), tx.diag, _pad(seg, 7)
    proc = _composite(tx, seg, e, 1)
    tx.line_number += 1
    line = ServiceLine(
        segment=seg.ordinal,
        number=tx.line_number,
        procedure_qualifier=proc[0].strip(),
        procedure=proc[1].strip() if len(proc) > 1 else "",
        modifiers=[m.strip() for m in proc[2:6] if m.strip()],
        description=proc[6] if len(proc) > 6 else "",
        charge=_money(d, seg, e, 2) or ZERO,
        paid=_money(d, seg, e, 3) or ZERO,
        revenue_code=e[4].strip(),
        units=_soft(d, seg, e, 5),
    )
    if e[6]:
        orig = _composite(tx, seg, e, 6)
        line.original_qualifier = orig[0].strip()
        line.original_procedure = orig[1].strip() if len(orig) > 1 else ""
        line.original_modifiers = [m.strip() for m in orig[2:6] if m.strip()]
    line.original_units = _soft(d, seg, e, 7)
    if not line.procedure:
        d.warn(seg.ordinal, "SVC01 has no procedure code")
    c.lines.append(line)
    tx.line = line


def _close_line(tx: Transaction) -> None:
    line = tx.line
    if line is None:
        return
    total = ZERO
    for a in line.adjustments:
        total += a.amount
    if line.charge - line.paid != total:
        tx.diag.warn(
            line.segment,
            f"service line does not balance: SVC02 {line.charge} - "
            f"SVC03 {line.paid} = {line.charge - line.paid}, but its "
            f"CAS total {total}",
            "balance",
        )
    tx.line = None


def _line(tx: Transaction) -> ServiceLine:
    assert tx.line is not None  # the line loop is entered only by an SVC
    return tx.line


def _line_dtm(tx: Transaction, seg: Segment) -> None:
    line, d, e = _line(tx), tx.diag, _pad(seg, 2)
    q = e[1]
    if q == "472":
        line.date_from = line.date_to = _date(d, seg, e, 2)
    elif q == "150":
        line.date_from = _date(d, seg, e, 2)
    elif q == "151":
        line.date_to = _date(d, seg, e, 2)
    else:
        v = _date(d, seg, e, 2)
        if v:
            line.refs.append((f"DTM{q}", v))


def _line_cas(tx: Transaction, seg: Segment) -> None:
    _line(tx).adjustments.extend(_cas(tx, seg))


def _line_ref(tx: Transaction, seg: Segment) -> None:
    line, e = _line(tx), _pad(seg, 2)
    value = e[2].strip()
    line.refs.append((e[1], value))
    if e[1] == "6R" and not line.line_control:
        line.line_control = value


def _line_amt(tx: Transaction, seg: Segment) -> None:
    line, e = _line(tx), _pad(seg, 2)
    v = _money(tx.diag, seg, e, 2)
    if v is None:
        return
    line.amounts.append((e[1], v))
    if e[1] == "B6":
        line.allowed = v


def _line_qty(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 2)
    v = _soft(tx.diag, seg, e, 2)
    if v is not None:
        _line(tx).quantities.append((e[1], v))


def _line_lq(tx: Transaction, seg: Segment) -> None:
    e = _pad(seg, 2)
    if e[2].strip():
        _line(tx).remarks.append(Remark("LQ", e[1].strip(), e[2].strip()))


# -- provider-level adjustments ------------------------------------------------------------


def _open_plb(tx: Transaction, seg: Segment) -> None:
    tx.send_header()
    d, e = tx.diag, _pad(seg, 14)
    provider = e[1].strip()
    fiscal = _date(d, seg, e, 2)
    found = False
    # Up to six reason/amount pairs: PLB03-04 ... PLB13-14.
    for i in range(3, 15, 2):
        if not e[i] and not e[i + 1]:
            continue
        parts = _composite(tx, seg, e, i)
        amount = _money(d, seg, e, i + 1) or ZERO
        adj = ProviderAdjustment(
            seg.ordinal,
            provider,
            fiscal,
            parts[0].strip(),
            parts[1].strip() if len(parts) > 1 else "",
            amount,
        )
        tx.plb_total += amount
        tx.out.append(adj)
        found = True
    if not found:
        d.warn(seg.ordinal, "PLB without any adjustment; ignored")


# -- the loops -----------------------------------------------------------------------------

_HEADER_SEGMENTS: dict[str, Handler] = {
    "BPR": _h_bpr,
    "TRN": _h_trn,
    "CUR": _h_cur,
    "REF": _h_ref,
    "DTM": _h_dtm,
}
LOOPS: tuple[Loop, ...] = (
    Loop("header", "header", None, None, None, _HEADER_SEGMENTS),
    # In odd files the header's own segments come after an N1: read them where they are.
    Loop(
        "party",
        "1000 (payer/payee)",
        "header",
        "N1",
        _open_party,
        {
            "N3": _p_n3,
            "N4": _p_n4,
            "REF": _p_ref,
            "PER": _p_per,
            "RDM": _ignore,
            "BPR": _h_bpr,
            "TRN": _h_trn,
            "CUR": _h_cur,
            "DTM": _h_dtm,
        },
    ),
    # A repeated or unknown N1: its party segments are read past (entered by _open_party).
    Loop(
        "ignored",
        "1000 (repeated)",
        "header",
        None,
        None,
        {k: _ignore for k in ("N3", "N4", "REF", "PER", "RDM")},
    ),
    Loop("lx", "2000", "header", "LX", _open_lx, {"TS3": _ignore, "TS2": _ignore}, optional=True),
    Loop(
        "claim",
        "2100 (claim)",
        "lx",
        "CLP",
        _open_claim,
        {
            "CAS": _claim_cas,
            "NM1": _claim_nm1,
            "MIA": _claim_mia,
            "MOA": _claim_moa,
            "REF": _claim_ref,
            "DTM": _claim_dtm,
            "PER": _ignore,
            "AMT": _claim_amt,
            "QTY": _claim_qty,
        },
        close=_close_claim,
    ),
    Loop(
        "line",
        "2110 (service line)",
        "claim",
        "SVC",
        _open_line,
        {
            "DTM": _line_dtm,
            "CAS": _line_cas,
            "REF": _line_ref,
            "AMT": _line_amt,
            "QTY": _line_qty,
            "LQ": _line_lq,
        },
        close=_close_line,
    ),
    Loop("summary", "summary (PLB)", "header", "PLB", _open_plb, {}),
)
_LOOPS = {loop.name: loop for loop in LOOPS}

# What to do with a segment: its handler, the loops it closes first (innermost first), and
# the loop it opens (None: it stays in the current loop).
Step = tuple[Handler, tuple[Close, ...], str | None]


def _openers(loop: Loop) -> dict[str, Loop]:
    """Segment id -> the loop it opens directly inside ``loop`` (through optional loops)."""
    found: dict[str, Loop] = {}
    for child in LOOPS:
        if child.parent != loop.name:
            continue
        if child.opened_by is not None:
            found.setdefault(child.opened_by, child)
        if child.optional:
            for sid, grandchild in _openers(child).items():
                found.setdefault(sid, grandchild)
    return found


def walk(loop: str, sid: str) -> Step | None:
    """Where a segment goes when read in ``loop``: a segment of the loop itself; else one that
    opens a loop inside it or inside one of its parents, closing the loops left on the way up.
    None: the segment has no place here (warned, kept in the raw text)."""
    here = _LOOPS[loop]
    handler = here.segments.get(sid)
    if handler is not None:
        return handler, (), None
    closes: list[Close] = []
    node: Loop | None = here
    while node is not None:
        opened = _openers(node).get(sid)
        if opened is not None:
            assert opened.open is not None
            return opened.open, tuple(closes), opened.name
        if node.close is not None:
            closes.append(node.close)
        node = _LOOPS[node.parent] if node.parent is not None else None
    return None


# The walk for every loop and every segment id any loop knows, worked out once at import: per
# segment, reading the file costs one dictionary look-up.
_SEGMENT_IDS = {sid for lp in LOOPS for sid in lp.segments} | {
    lp.opened_by for lp in LOOPS if lp.opened_by is not None
}
_ROUTES: dict[str, dict[str, Step]] = {
    lp.name: {sid: step for sid in sorted(_SEGMENT_IDS) if (step := walk(lp.name, sid)) is not None}
    for lp in LOOPS
}


# -- the envelope ---------------------------------------------------------------------------


def _env_isa(f: _File, seg: Segment) -> None:
    d = f.diag
    if f.tx is not None or f.skipping is not None:
        raise d.error(seg, "ISA inside an open transaction (the previous one has no SE)")
    if f.isa is not None:
        raise d.error(seg, "ISA before the previous interchange was closed by IEA")
    if len(seg) < 16:
        d.warn(seg.ordinal, f"ISA has {len(seg)} elements, expected 16")
    f.isa = seg
    f.envelope = True
    f.gs_count = 0
    comp = seg[16][:1]
    if comp:
        f.component = comp


def _env_iea(f: _File, seg: Segment) -> None:
    d = f.diag
    if f.isa is None:
        raise d.error(seg, "IEA without an ISA")
    if f.gs is not None:
        raise d.error(seg, "IEA before the functional group was closed by GE")
    d.control(seg, f.isa, 13)
    d.counted(seg, f.gs_count, "groups")
    f.isa = None


def _env_gs(f: _File, seg: Segment) -> None:
    d = f.diag
    if f.tx is not None or f.skipping is not None:
        raise d.error(seg, "GS inside an open transaction (the previous one has no SE)")
    if f.gs is not None:
        raise d.error(seg, "GS before the previous functional group was closed by GE")
    if f.isa is None and f.envelope:
        raise d.error(seg, "GS outside an interchange (no ISA before it)")
    f.gs = seg
    f.gs_count += 1
    f.st_count = 0
    if seg[1] and seg[1] != "HP":
        d.warn(seg.ordinal, f"GS01 is {seg[1]!r}; an 835 group is 'HP'")


def _env_ge(f: _File, seg: Segment) -> None:
    d = f.diag
    if f.tx is not None or f.skipping is not None:
        raise d.error(seg, "GE inside an open transaction (the transaction has no SE)")
    if f.gs is None:
        raise d.error(seg, "GE without a GS")
    d.control(seg, f.gs, 6)
    d.counted(seg, f.st_count, "transactions")
    f.gs = None


def _env_st(f: _File, seg: Segment) -> None:
    d = f.diag
    if f.tx is not None or f.skipping is not None:
        raise d.error(seg, "ST inside an open transaction (the previous one has no SE)")
    if f.envelope and f.gs is None:
        raise d.error(seg, "ST outside a functional group (no GS before it)")
    f.st_count += 1
    if seg[1] != "835":
        f.skipping = seg
        d.skipped += 1
        d.warn(seg.ordinal, f"transaction set {seg[1]!r} is not an 835; skipped")
        return
    d.transactions += 1
    f.tx = Transaction(f, seg, _new_header(f, seg))


def _new_header(f: _File, st: Segment) -> RemittanceHeader:
    d = f.diag
    h = RemittanceHeader(
        file=f.name,
        transaction=d.transactions,
        segment=st.ordinal,
        st_control=st[2].strip(),
        implementation=st[3].strip(),
    )
    if f.isa is not None:
        i = f.isa
        h.isa_sender = i[6].strip()
        h.isa_receiver = i[8].strip()
        h.isa_date = _date(d, i, _pad(i, 9), 9)
        h.isa_control = i[13].strip()
        h.isa_version = i[12].strip()
        h.usage = i[15].strip()
    if f.gs is not None:
        g = f.gs
        h.gs_sender = g[2].strip()
        h.gs_receiver = g[3].strip()
        h.gs_date = _date(d, g, _pad(g, 4), 4)
        h.gs_control = g[6].strip()
        h.gs_version = g[8].strip()
    return h


def _env_se(f: _File, seg: Segment) -> None:
    if f.skipping is not None:
        f.skipping = None
        return
    tx, d = f.tx, f.diag
    if tx is None:
        raise d.error(seg, "SE without an ST")
    tx.count(seg)
    _close_claim(tx)
    tx.send_header()
    h = tx.header
    d.counted(seg, tx.seg_count, "segments")
    d.control(seg, tx.st, 2)
    expected = tx.total_paid - tx.plb_total
    if h.payment_amount != expected:
        d.warn(
            seg.ordinal,
            f"BPR02 {h.payment_amount} does not balance: sum of CLP04 "
            f"{tx.total_paid} minus PLB {tx.plb_total} is {expected}",
            "balance",
        )
    tx.flush_raw()
    tx.out.append(
        RemittanceEnd(h, tx.seg_count, tx.claims, tx.total_charge, tx.total_paid, tx.plb_total)
    )
    f.tx = None


_ENVELOPE_HANDLERS: dict[str, Callable[[_File, Segment], None]] = {
    "ISA": _env_isa,
    "IEA": _env_iea,
    "GS": _env_gs,
    "GE": _env_ge,
    "ST": _env_st,
    "SE": _env_se,
}


def _finish(f: _File, last: Segment | None) -> None:
    where = last.ordinal if last else None
    if f.tx is not None or f.skipping is not None:
        raise X12Error(
            "file ends inside a transaction (no SE): truncated", file=f.name, segment=where
        )
    if f.gs is not None:
        raise X12Error(
            "file ends inside a functional group (no GE): truncated", file=f.name, segment=where
        )
    if f.isa is not None:
        raise X12Error(
            "file ends inside an interchange (no IEA): truncated", file=f.name, segment=where
        )
    if f.diag.transactions == 0 and f.diag.skipped == 0:
        raise X12Error("file holds no transaction (no ST…SE)", file=f.name, segment=where)


# --------------------------------------------------------------------------- the stream


class EraStream:
    """Stream the events of every 835 transaction in one file.

    ``warnings`` fills as the stream is consumed (see ``Diagnostics`` for which are capped);
    errors raise ``X12Error`` naming the file and the segment.
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes], name: str | None = None) -> None:
        self.name: str = name or (
            os.fspath(source)
            if isinstance(source, str | os.PathLike)
            else str(getattr(source, "name", "<input>"))
        )
        self._source = source
        self.diagnostics = Diagnostics(self.name)
        self.warnings = self.diagnostics.warnings
        self.suppressed = self.diagnostics.suppressed
        self.segment = 0  # the last segment read, for errors nobody foresaw
        self.delimiters: Delimiters | None = None

    @property
    def transactions(self) -> int:
        return self.diagnostics.transactions

    @property
    def skipped_transactions(self) -> int:
        return self.diagnostics.skipped

    @property
    def suppressed_warnings(self) -> int:
        return sum(self.suppressed.values())

    def warn(self, segment: int | None, message: str, kind: str | None = None) -> None:
        self.diagnostics.warn(segment, message, kind)

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
        """The walk: envelope segments go to their handlers; every other segment, inside a
        transaction, to the step its loop's route names."""
        diag = self.diagnostics
        f = _File(diag, reader)
        out = f.out
        if not reader.has_envelope:
            diag.warn(
                1,
                "no ISA/GS envelope: transaction read without one; delimiters "
                f"inferred ({reader.delimiters.describe()})",
            )
        envelope = _ENVELOPE_HANDLERS
        last: Segment | None = None
        for seg in reader:
            last = seg
            self.segment = seg.ordinal
            sid = seg.elements[0]
            tx = f.tx
            if sid in envelope:
                envelope[sid](f, seg)
            elif f.skipping is not None:
                continue
            elif tx is None:
                raise diag.error(seg, f"{sid} segment outside a transaction (no ST before it)")
            else:
                tx.seg_count += 1
                raw = seg.raw
                tx.raw.append(raw)
                tx.raw_len += len(raw) + 1
                if tx.raw_len > RAW_FLUSH_CHARS and tx.header_sent:
                    tx.flush_raw()
                step = tx.route.get(sid)
                if step is None:
                    diag.warn(
                        seg.ordinal,
                        f"unexpected segment {sid} in loop {_LOOPS[tx.loop].label};"
                        " ignored (kept in the raw text)",
                    )
                else:
                    handler, closes, opens = step
                    for close in closes:
                        close(tx)
                    if opens is not None:
                        tx.enter(opens)
                    handler(tx, seg)
            if out:
                yield from out
                out.clear()
        _finish(f, last)
        if out:
            yield from out
            out.clear()


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
