"""Build X12 835 text for any scenario: the one fixture builder for tests, benchmarks and
examples.

Specs describe remittances; ``build_835`` renders them with any delimiters, layout (one
segment per line, single line, newline before the terminator, wrapped at a fixed width),
and any number of interchanges, groups and transactions. Amounts left as ``None`` are derived
so that the file balances (line paid = charge - CAS, claim totals = sum of lines, BPR02 = sum
of CLP04 - sum of PLB).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

ZERO = Decimal(0)


def D(value: str | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass
class Adj:
    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass
class LineSpec:
    procedure: str = "99213"
    charge: Decimal = Decimal("100.00")
    paid: Decimal | None = None  # None: charge - sum(adjustments)
    adjustments: list[Adj] = field(default_factory=list)
    modifiers: tuple[str, ...] = ()
    qualifier: str = "HC"
    units: str = "1"
    date: str = "20261005"
    line_control: str | None = None
    allowed: Decimal | None = None
    remarks: tuple[str, ...] = ()
    revenue_code: str = ""

    def paid_amount(self) -> Decimal:
        if self.paid is not None:
            return self.paid
        return self.charge - sum((a.amount for a in self.adjustments), ZERO)


@dataclass
class ClaimSpec:
    patient_control: str = "PCN0001"
    status: str = "1"
    lines: list[LineSpec] = field(default_factory=list)
    adjustments: list[Adj] = field(default_factory=list)  # claim-level CAS
    charge: Decimal | None = None
    paid: Decimal | None = None
    patient_responsibility: Decimal | None = None
    filing_indicator: str = "CI"
    payer_claim_id: str = "ICN0001"
    facility_type: str = "11"
    frequency: str = "1"
    patient: tuple[str, str, str] = ("DOE", "JANE", "MEMBER001")
    rendering_npi: str | None = "1234567893"
    remarks: tuple[str, ...] = ()  # claim-level RARCs in MOA
    statement_from: str | None = None
    statement_to: str | None = None
    received: str | None = None

    def charge_amount(self) -> Decimal:
        if self.charge is not None:
            return self.charge
        return sum((ln.charge for ln in self.lines), ZERO)

    def paid_amount(self) -> Decimal:
        if self.paid is not None:
            return self.paid
        if self.lines:
            lines = sum((ln.paid_amount() for ln in self.lines), ZERO)
        else:
            lines = self.charge_amount()
        return lines - sum((a.amount for a in self.adjustments), ZERO)

    def pr_amount(self) -> Decimal:
        if self.patient_responsibility is not None:
            return self.patient_responsibility
        adjs = list(self.adjustments) + [a for ln in self.lines for a in ln.adjustments]
        return sum((a.amount for a in adjs if a.group == "PR"), ZERO)


@dataclass
class PLBSpec:
    reason: str
    amount: Decimal
    reference: str = ""
    provider: str = "1234567893"
    fiscal_date: str = "20261231"


@dataclass
class RemitSpec:
    claims: list[ClaimSpec] | Callable[[], Iterable[ClaimSpec]] = field(default_factory=list)
    payer_name: str = "ACME HEALTH PLAN"
    payer_id: str = "ACME1"
    payee_name: str = "RIVERSIDE FAMILY PRACTICE"
    payee_npi: str = "1234567893"
    payee_tin: str = "123456789"
    trace: str = "TRACE0001"
    payment_date: str = "20261102"
    production_date: str | None = "20261101"
    payment: Decimal | None = None  # None: sum CLP04 - sum PLB
    plb: list[PLBSpec] = field(default_factory=list)
    handling: str = "I"
    method: str = "ACH"

    def claim_iter(self) -> Iterable[ClaimSpec]:
        return self.claims() if callable(self.claims) else self.claims

    def payment_amount(self) -> Decimal:
        if self.payment is not None:
            return self.payment
        paid = sum((c.paid_amount() for c in self.claim_iter()), ZERO)
        return paid - sum((p.amount for p in self.plb), ZERO)


def _m(d: Decimal) -> str:
    """Money as senders write it: no trailing zeros needed, but exact."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


def _trim(elements: list[str]) -> list[str]:
    while len(elements) > 1 and elements[-1] == "":
        elements.pop()
    return elements


def transaction_segments(
    r: RemitSpec, control: str, c: str, version: str = "5010"
) -> Iterator[list[str]]:
    """The segments of one 835 transaction (ST…SE) as element lists; ``c`` = component sep."""
    count = 0
    for els in itertools.chain(
        _remit_header(r, control, version), _remit_claims(r, c), _remit_plb(r, c)
    ):
        count += 1
        yield _trim(els)
    yield ["SE", str(count + 1), control]


def _remit_header(r: RemitSpec, control: str, version: str) -> Iterator[list[str]]:
    impl = "005010X221A1" if version == "5010" else "004010X091A1"
    yield ["ST", "835", control, impl if version == "5010" else ""]
    yield [
        "BPR",
        r.handling,
        _m(r.payment_amount()),
        "C",
        r.method,
        "CCP",
        "01",
        "999999992",
        "DA",
        "123456",
        "1512345678",
        "",
        "01",
        "999988880",
        "DA",
        "98765",
        r.payment_date,
    ]
    yield ["TRN", "1", r.trace, "1" + r.payer_id[:9]]
    if r.production_date:
        yield ["DTM", "405", r.production_date]
    yield ["N1", "PR", r.payer_name]
    yield ["N3", "100 PAYER WAY"]
    yield ["N4", "SPRINGFIELD", "IL", "62701"]
    yield ["REF", "2U", r.payer_id]
    yield ["PER", "BL", "PROVIDER SERVICES", "TE", "8005550100"]
    yield ["N1", "PE", r.payee_name, "XX", r.payee_npi]
    yield ["N3", "200 MAIN ST"]
    yield ["N4", "SPRINGFIELD", "IL", "62704"]
    yield ["REF", "TJ", r.payee_tin]


def _remit_claims(r: RemitSpec, c: str) -> Iterator[list[str]]:
    lx = 0
    for claim in r.claim_iter():
        if lx == 0:
            lx = 1
            yield ["LX", "1"]
        yield [
            "CLP",
            claim.patient_control,
            claim.status,
            _m(claim.charge_amount()),
            _m(claim.paid_amount()),
            _m(claim.pr_amount()),
            claim.filing_indicator,
            claim.payer_claim_id,
            claim.facility_type,
            claim.frequency,
        ]
        yield from _cas(claim.adjustments)
        last, first, member = claim.patient
        yield ["NM1", "QC", "1", last, first, "", "", "", "MI", member]
        if claim.rendering_npi:
            yield ["NM1", "82", "1", "SMITH", "ALEX", "", "", "", "XX", claim.rendering_npi]
        if claim.remarks:
            yield ["MOA", "", "", *claim.remarks[:5]]
        for qualifier, date in (
            ("232", claim.statement_from),
            ("233", claim.statement_to),
            ("050", claim.received),
        ):
            if date:
                yield ["DTM", qualifier, date]
        for ln in claim.lines:
            yield from _remit_line(ln, c)


def _remit_line(ln: LineSpec, c: str) -> Iterator[list[str]]:
    proc = c.join([ln.qualifier, ln.procedure, *ln.modifiers])
    yield ["SVC", proc, _m(ln.charge), _m(ln.paid_amount()), ln.revenue_code, ln.units]
    yield ["DTM", "472", ln.date]
    yield from _cas(ln.adjustments)
    if ln.line_control:
        yield ["REF", "6R", ln.line_control]
    if ln.allowed is not None:
        yield ["AMT", "B6", _m(ln.allowed)]
    for code in ln.remarks:
        yield ["LQ", "HE", code]


def _remit_plb(r: RemitSpec, c: str) -> Iterator[list[str]]:
    for i in range(0, len(r.plb), 6):
        els = ["PLB", r.plb[i].provider, r.plb[i].fiscal_date]
        for p in r.plb[i : i + 6]:
            els += [c.join([p.reason, p.reference]) if p.reference else p.reason, _m(p.amount)]
        yield els


def _cas(adjustments: list[Adj]) -> Iterator[list[str]]:
    by_group: dict[str, list[Adj]] = {}
    for a in adjustments:
        by_group.setdefault(a.group, []).append(a)
    for group, adjs in by_group.items():
        for i in range(0, len(adjs), 6):
            els = ["CAS", group]
            for a in adjs[i : i + 6]:
                els += [a.reason, _m(a.amount), "" if a.quantity is None else _m(a.quantity)]
            yield _trim(els)


@dataclass
class Layout:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    newline: str = "\n"  # written after each terminator ("" = single line)
    newline_before: bool = False  # newline before each terminator (lines start with '~')
    wrap: int | None = None  # wrap the whole text at this width
    bom: bool = False
    compress_isa: bool = False  # do not pad ISA fields
    version: str = "5010"
    envelope: bool = True


def _isa(layout: Layout, control: int) -> list[str]:
    def pad(v: str, n: int) -> str:
        return v if layout.compress_isa else v.ljust(n)

    rep = layout.repetition if layout.version == "5010" else "U"
    ver = "00501" if layout.version == "5010" else "00401"
    return [
        "ISA",
        "00",
        pad("", 10),
        "00",
        pad("", 10),
        "ZZ",
        pad("ACMEPAYER", 15),
        "ZZ",
        pad("RIVERSIDE", 15),
        "261102",
        "1200",
        rep,
        ver,
        f"{control:09d}",
        "0",
        "P",
        layout.component,
    ]


def envelope_segments(
    remits: list[RemitSpec],
    layout: Layout,
    per_group: int = 50,
    groups_per_interchange: int = 10,
    extra_999: bool = False,
) -> Iterator[list[str]]:
    """Segments of a whole file: interchanges of groups of transactions."""
    if not layout.envelope:
        for i, r in enumerate(remits, 1):
            yield from transaction_segments(r, f"{i:04d}", layout.component, layout.version)
        return
    groups = [remits[i : i + per_group] for i in range(0, len(remits), per_group)] or [[]]
    interchanges = [
        groups[i : i + groups_per_interchange]
        for i in range(0, len(groups), groups_per_interchange)
    ]
    st = 0
    gs_control = 0
    for n, ic in enumerate(interchanges, 1):
        yield _isa(layout, n)
        for group in ic:
            gs_control += 1
            gs_ver = "005010X221A1" if layout.version == "5010" else "004010X091A1"
            yield [
                "GS",
                "HP",
                "ACMEPAYER",
                "RIVERSIDE",
                "20261102",
                "1200",
                str(gs_control),
                "X",
                gs_ver,
            ]
            count = 0
            if extra_999:
                count += 1
                yield ["ST", "999", "9001", "005010X231A1"]
                yield ["AK1", "HC", "1", "005010X222A1"]
                yield ["AK9", "A", "1", "1", "1"]
                yield ["SE", "4", "9001"]
            for r in group:
                st += 1
                count += 1
                yield from transaction_segments(r, f"{st:04d}", layout.component, layout.version)
            yield ["GE", str(count), str(gs_control)]
        yield ["IEA", str(len(ic)), f"{n:09d}"]


def write_835(
    out: IO[str], remits: list[RemitSpec], layout: Layout | None = None, **kwargs: int | bool
) -> None:
    """Write a whole file to ``out``, streaming (a benchmark file never sits in memory)."""
    lay = layout or Layout()
    if lay.bom:
        out.write("\ufeff")
    column = 0
    for i, els in enumerate(envelope_segments(remits, lay, **kwargs)):  # type: ignore[arg-type]
        text = lay.element.join(els)
        if lay.newline_before:
            # Lines start with the previous segment's terminator: "ISA…\n~GS…\n~ST…".
            chunk = ("" if i == 0 else lay.segment) + text + "\n"
        else:
            chunk = text + lay.segment + lay.newline
        if lay.wrap:
            # Wrapping puts a newline every `wrap` characters, in the middle of segments too.
            pending = chunk.replace("\n", "")
            while pending:
                room = lay.wrap - column
                out.write(pending[:room])
                column += len(pending[:room])
                pending = pending[room:]
                if column >= lay.wrap:
                    out.write("\n")
                    column = 0
        else:
            out.write(chunk)
    if lay.newline_before:
        out.write(lay.segment + "\n")


def build_835(
    remits: list[RemitSpec] | RemitSpec, layout: Layout | None = None, **kwargs: int | bool
) -> str:
    import io

    buf = io.StringIO()
    write_835(buf, [remits] if isinstance(remits, RemitSpec) else remits, layout, **kwargs)
    return buf.getvalue()


# --------------------------------------------------------------------------- 837 claims


@dataclass
class ClaimLineSpec:
    """One service line of a submitted claim (837P SV1, or 837I SV2 when ``revenue_code``)."""

    procedure: str = "99213"
    charge: Decimal = Decimal("100.00")
    modifiers: tuple[str, ...] = ()
    units: str = "1"
    date: str = "20261005"
    pointers: tuple[int, ...] = (1,)
    line_control: str | None = None
    revenue_code: str = ""


@dataclass
class SubmittedClaimSpec:
    """One claim (2300 loop) with its subscriber/patient and payer (2000B/2010BB)."""

    patient_control: str = "PCN0001"
    lines: list[ClaimLineSpec] = field(default_factory=list)
    charge: Decimal | None = None  # None: sum of the lines
    frequency: str = "1"
    original_ref: str | None = None  # REF*F8
    prior_auth: str | None = None  # REF*G1
    referral: str | None = None  # REF*9F
    diagnoses: tuple[str, ...] = ("J449",)
    facility: str = "11"  # place of service (837P) or facility type (837I)
    subscriber: tuple[str, str, str] = ("DOE", "JANE", "MEMBER001")
    subscriber_dob: str = "19800101"
    # None: the patient is the subscriber (no 2000C loop); else (last, first, dob)
    patient: tuple[str, str, str] | None = None
    payer_name: str = "ACME HEALTH PLAN"
    payer_id: str = "ACME1"
    filing_indicator: str = "CI"
    rendering_npi: str | None = "1234567893"
    referring_npi: str | None = None
    statement_from: str | None = None  # 837I DTP*434
    statement_to: str | None = None

    def charge_amount(self) -> Decimal:
        if self.charge is not None:
            return self.charge
        return sum((ln.charge for ln in self.lines), ZERO)


@dataclass
class ClaimFileSpec:
    """One 837 transaction: a billing provider and its claims. ``kind``: "P" or "I"."""

    claims: list[SubmittedClaimSpec] = field(default_factory=list)
    kind: str = "P"
    billing_name: str = "RIVERSIDE FAMILY PRACTICE"
    billing_npi: str = "1234567893"
    billing_tin: str = "123456789"
    created: str = "20261010"
    reference: str = "BATCH0001"


def claim_transaction_segments(
    f: ClaimFileSpec, control: str, c: str, r: str = "^"
) -> Iterator[list[str]]:
    """The segments of one 837 transaction (ST…SE); ``c`` = component, ``r`` = repetition."""
    impl = "005010X222A1" if f.kind == "P" else "005010X223A2"
    count = 0

    def seg(*els: str) -> list[str]:
        nonlocal count
        count += 1
        return _trim(list(els))

    yield seg("ST", "837", control, impl)
    yield seg("BHT", "0019", "00", f.reference, f.created, "1200", "CH")
    yield seg("NM1", "41", "2", f.billing_name, "", "", "", "", "46", "SUBMIT01")
    yield seg("PER", "IC", "BILLING OFFICE", "TE", "5555550100")
    yield seg("NM1", "40", "2", "CLEARINGHOUSE", "", "", "", "", "46", "RECV01")
    hl = 0
    hl += 1
    billing_hl = hl
    yield seg("HL", str(hl), "", "20", "1")
    yield seg("NM1", "85", "2", f.billing_name, "", "", "", "", "XX", f.billing_npi)
    yield seg("N3", "200 MAIN ST")
    yield seg("N4", "SPRINGFIELD", "IL", "62704")
    yield seg("REF", "EI", f.billing_tin)
    for claim in f.claims:
        hl += 1
        sub_hl = hl
        yield seg("HL", str(hl), str(billing_hl), "22", "0" if claim.patient is None else "1")
        yield seg("SBR", "P", "18" if claim.patient is None else "", "", "", "", "", "", "",
                  claim.filing_indicator)  # fmt: skip
        last, first, member = claim.subscriber
        yield seg("NM1", "IL", "1", last, first, "", "", "", "MI", member)
        yield seg("N3", "1 ELM ST")
        yield seg("N4", "SPRINGFIELD", "IL", "62704")
        yield seg("DMG", "D8", claim.subscriber_dob, "F")
        yield seg("NM1", "PR", "2", claim.payer_name, "", "", "", "", "PI", claim.payer_id)
        if claim.patient is not None:
            hl += 1
            yield seg("HL", str(hl), str(sub_hl), "23", "0")
            yield seg("PAT", "19")
            plast, pfirst, pdob = claim.patient
            yield seg("NM1", "QC", "1", plast, pfirst)
            yield seg("N3", "1 ELM ST")
            yield seg("N4", "SPRINGFIELD", "IL", "62704")
            yield seg("DMG", "D8", pdob, "M")
        qualifier = "B" if f.kind == "P" else "A"
        yield seg("CLM", claim.patient_control, _m(claim.charge_amount()), "", "",
                  c.join([claim.facility, qualifier, claim.frequency]), "Y", "A", "Y", "Y")  # fmt: skip
        if f.kind == "I" and claim.statement_from:
            yield seg(
                "DTP",
                "434",
                "RD8",
                f"{claim.statement_from}-{claim.statement_to or claim.statement_from}",
            )
        for qualifier, ref in (
            ("G1", claim.prior_auth),
            ("9F", claim.referral),
            ("F8", claim.original_ref),
        ):
            if ref:
                yield seg("REF", qualifier, ref)
        if claim.diagnoses:
            principal = "ABK"
            other = "ABF"
            codes = [c.join([principal, claim.diagnoses[0]])]
            codes += [c.join([other, d]) for d in claim.diagnoses[1:12]]
            yield seg("HI", *codes)
        for entity, last, first, npi in (
            ("DN", "JONES", "PAT", claim.referring_npi),
            ("82", "SMITH", "ALEX", claim.rendering_npi),
        ):
            if npi:
                yield seg("NM1", entity, "1", last, first, "", "", "", "XX", npi)
        for n, ln in enumerate(claim.lines, 1):
            for els in _claim_line(f.kind, n, ln, c):
                yield seg(*els)
    count += 1
    yield ["SE", str(count), control]


def _claim_line(kind: str, n: int, ln: ClaimLineSpec, c: str) -> Iterator[list[str]]:
    yield ["LX", str(n)]
    proc = c.join(["HC", ln.procedure, *ln.modifiers])
    if kind == "P":
        yield ["SV1", proc, _m(ln.charge), "UN", ln.units, "", "",
               c.join(str(p) for p in ln.pointers)]  # fmt: skip
    else:
        yield ["SV2", ln.revenue_code or "0450", proc, _m(ln.charge), "UN", ln.units]
    yield ["DTP", "472", "D8", ln.date]
    if ln.line_control:
        yield ["REF", "6R", ln.line_control]


def write_837(out: IO[str], files: list[ClaimFileSpec], layout: Layout | None = None) -> None:
    """Write an 837 interchange (one GS*HC group per kind of claim file) to ``out``."""
    lay = layout or Layout()
    segs: list[list[str]] = []
    if lay.envelope:
        isa = _isa(lay, 1)
        isa[6], isa[8] = "RIVERSIDE".ljust(len(isa[6])), "CLEARINGHOUSE".ljust(len(isa[8]))
        segs.append(isa)
    for n, f in enumerate(files, 1):
        impl = "005010X222A1" if f.kind == "P" else "005010X223A2"
        if lay.envelope:
            segs.append(["GS", "HC", "RIVERSIDE", "RECV01", f.created, "1200", str(n), "X", impl])
        segs.extend(claim_transaction_segments(f, f"{n:04d}", lay.component, lay.repetition))
        if lay.envelope:
            segs.append(["GE", "1", str(n)])
    if lay.envelope:
        segs.append(["IEA", str(len(files)), f"{1:09d}"])
    if lay.bom:
        out.write("\ufeff")
    for els in segs:
        out.write(lay.element.join(els) + lay.segment + lay.newline)


def build_837(files: list[ClaimFileSpec] | ClaimFileSpec, layout: Layout | None = None) -> str:
    import io

    buf = io.StringIO()
    write_837(buf, [files] if isinstance(files, ClaimFileSpec) else files, layout)
    return buf.getvalue()
