"""X12 837 claims (professional 005010X222A1, institutional 005010X223A2) into records.

The practice's own outgoing claims: what was billed, for whom, with which diagnoses and
authorization, before any payer saw it. Read on the same tokenizer as the 835, with the same
manners: what real senders get wrong becomes a warning (``Issue``) and the claim is kept; only
what cannot be read (no CLM01, a charge that is not a number, segments outside a transaction)
raises ``X12Error`` naming the file and the segment, and then nothing of the file is stored.

Loops are a table (``_LOOP_STARTS``): HL with HL03 20/22/23 opens the billing provider,
subscriber and patient levels, CLM opens 2300, LX opens 2400. Element numbers in comments are
the TR3's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from .era import MAX_AMOUNT, ZERO, Issue, parse_date, parse_decimal
from .errors import X12Error
from .x12 import Segment, SegmentReader, split_composite

PROFESSIONAL = "005010X222A1"
INSTITUTIONAL = "005010X223A2"
# HI qualifiers of ICD-10-CM (ABK principal, ABF other, ABJ admitting, APR reason for visit)
# and of ICD-9-CM (BK, BF, BJ, PR): the diagnosis codes a line can point at.
_DIAGNOSIS_QUALIFIERS = {"ABK", "ABF", "BK", "BF"}
_ENVELOPE = {"ISA", "IEA", "GS", "GE", "ST", "SE"}


@dataclass(slots=True)
class SubmittedLine:
    """One service line (loop 2400): SV1 (837P) or SV2 (837I)."""

    segment: int
    number: int  # 1-based position in the claim (LX01, else the count)
    procedure_qualifier: str
    procedure: str
    modifiers: list[str]
    charge: Decimal
    units: Decimal | None = None
    revenue_code: str = ""
    date_from: str | None = None
    date_to: str | None = None
    pointers: list[int] = field(default_factory=list)  # SV107: 1-based into the claim's HI
    line_control: str = ""  # REF*6R
    prior_auth: str = ""  # REF*G1 in loop 2400: an authorization for this line only
    rendering_npi: str = ""


@dataclass(slots=True)
class SubmittedClaim:
    """One claim (loop 2300) with its billing provider, subscriber, patient and payer."""

    segment: int
    kind: str  # "professional" | "institutional"
    patient_control: str  # CLM01
    charge: Decimal
    facility_code: str = ""  # CLM05-1: place of service (837P) or facility type (837I)
    frequency: str = "1"  # CLM05-3
    original_ref: str = ""  # REF*F8: the payer's control number of the claim replaced
    prior_auth: str = ""  # REF*G1
    referral: str = ""  # REF*9F
    diagnoses: list[str] = field(default_factory=list)  # principal first
    billing_npi: str = ""
    billing_name: str = ""
    rendering_npi: str = ""
    referring_npi: str = ""
    payer_name: str = ""
    payer_id: str = ""
    filing_indicator: str = ""  # SBR09
    subscriber_last: str = ""
    subscriber_first: str = ""
    member_id: str = ""
    subscriber_dob: str | None = None
    patient_last: str = ""
    patient_first: str = ""
    patient_dob: str | None = None
    statement_from: str | None = None
    statement_to: str | None = None
    created: str | None = None  # BHT04: when the batch was made (the submission date)
    lines: list[SubmittedLine] = field(default_factory=list)

    @property
    def payer_key(self) -> str:
        """The same identity as an 835's payer (``RemittanceHeader.payer_key``)."""
        if self.payer_id:
            return f"id:{self.payer_id.strip()}"
        return f"name:{' '.join(self.payer_name.upper().split())}"

    @property
    def dos_from(self) -> str | None:
        dates = [ln.date_from for ln in self.lines if ln.date_from]
        return min(dates) if dates else self.statement_from

    @property
    def dos_to(self) -> str | None:
        dates = [ln.date_to or ln.date_from for ln in self.lines if ln.date_from]
        return max(dates) if dates else (self.statement_to or self.statement_from)

    @property
    def dob(self) -> str | None:
        """The patient's date of birth: the patient's (2010CA), else the subscriber's."""
        return self.patient_dob or self.subscriber_dob


@dataclass(slots=True)
class ClaimTransaction:
    """One 837 transaction (ST…SE)."""

    transaction: int
    segment: int
    implementation: str
    reference: str = ""  # BHT03
    created: str | None = None
    claims: list[SubmittedClaim] = field(default_factory=list)


@dataclass(slots=True)
class ClaimFile:
    name: str
    transactions: list[ClaimTransaction] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def claims(self) -> Iterator[SubmittedClaim]:
        for t in self.transactions:
            yield from t.claims


class _Parser:
    def __init__(self, name: str, reader: SegmentReader) -> None:
        self.name = name
        self.reader = reader
        self.component = reader.delimiters.component
        self.out = ClaimFile(name)
        self.tx: ClaimTransaction | None = None
        self.in_group = False
        self.billing = ("", "")
        self.subscriber: dict[str, str | None] = {}
        self.patient: dict[str, str | None] = {}
        self.level = ""  # "20" | "22" | "23" from HL03
        self.claim: SubmittedClaim | None = None
        self.line: SubmittedLine | None = None
        self.entity = ""  # the NM1 loop we are in (85, IL, PR, QC, 82 ...)
        self.seg_count = 0
        self.warned_composite = False

    def warn(self, seg: Segment | int | None, message: str) -> None:
        ordinal = seg.ordinal if isinstance(seg, Segment) else seg
        self.out.warnings.append(Issue(self.name, ordinal, message))

    def error(self, seg: Segment, message: str) -> X12Error:
        return X12Error(message, file=self.name, segment=seg.ordinal, segment_id=seg.id)

    def money(self, seg: Segment, i: int) -> Decimal:
        v = seg[i]
        if not v.strip():
            self.warn(seg, f"{seg.id}{i:02d} (amount) is missing; read as 0")
            return ZERO
        d = parse_decimal(v)
        if d is None:
            raise self.error(seg, f"{seg.id}{i:02d}: amount {v[:20]!r} is not a number")
        if abs(d) >= MAX_AMOUNT:
            raise self.error(seg, f"{seg.id}{i:02d}: amount is out of range")
        return d

    def date(self, seg: Segment, value: str, what: str) -> str | None:
        if not value:
            return None
        d = parse_date(value)
        if d is None:
            self.warn(seg, f"{seg.id}: {what} is not a valid date; ignored")
        return d

    def split(self, seg: Segment, value: str) -> list[str]:
        parts, used = split_composite(value, self.component)
        if used is not None and not self.warned_composite:
            self.warned_composite = True
            self.warn(seg, f"composite uses {used!r}, not the declared component separator")
        return parts

    # -- dispatch -----------------------------------------------------------------------

    def feed(self, seg: Segment) -> None:
        sid = seg.id
        if sid in _ENVELOPE:
            getattr(self, f"env_{sid}")(seg)
            return
        if self.tx is None:
            raise self.error(seg, f"{sid} segment outside a transaction (no ST before it)")
        self.seg_count += 1
        handler = getattr(self, f"seg_{sid}", None)
        if handler is not None:
            handler(seg)

    def env_ISA(self, seg: Segment) -> None:
        comp = seg[16][:1]
        if comp:
            self.component = comp

    def env_IEA(self, seg: Segment) -> None:
        pass

    def env_GS(self, seg: Segment) -> None:
        if seg[1] and seg[1] != "HC":
            self.warn(seg, f"GS01 is {seg[1]!r}; an 837 group is 'HC'")

    def env_GE(self, seg: Segment) -> None:
        pass

    def env_ST(self, seg: Segment) -> None:
        if self.tx is not None:
            raise self.error(seg, "ST inside an open transaction (the previous one has no SE)")
        if seg[1] != "837":
            raise self.error(seg, f"transaction set {seg[1]!r} in an 837 file")
        impl = seg[3].strip()
        # Errata and addenda (X222A2, X223A3) read the same for every element used here.
        if impl and not impl.startswith((PROFESSIONAL[:10], INSTITUTIONAL[:10])):
            self.warn(seg, f"ST03 {impl!r} is not 837P {PROFESSIONAL} or 837I {INSTITUTIONAL}")
        n = len(self.out.transactions) + 1
        self.tx = ClaimTransaction(n, seg.ordinal, impl)
        self.seg_count = 1
        self.level = ""
        self.claim = self.line = None

    def env_SE(self, seg: Segment) -> None:
        if self.tx is None:
            raise self.error(seg, "SE without an ST")
        self.seg_count += 1
        if seg[1].strip() != str(self.seg_count):
            self.warn(seg, f"SE01 says {seg[1]!r} segments, counted {self.seg_count}")
        self.close_claim()
        self.out.transactions.append(self.tx)
        self.tx = None

    # -- segments -----------------------------------------------------------------------

    def seg_BHT(self, seg: Segment) -> None:
        assert self.tx is not None
        self.tx.reference = seg[3]
        self.tx.created = self.date(seg, seg[4], "BHT04")

    def seg_HL(self, seg: Segment) -> None:
        self.close_claim()
        self.level = seg[3]
        self.entity = ""
        if self.level == "20":
            self.billing = ("", "")
        elif self.level == "22":
            self.subscriber = {}
            self.patient = {}
        elif self.level == "23":
            self.patient = {}
        else:
            self.warn(seg, f"HL03 {seg[3]!r} is not 20, 22 or 23; read as the level before")

    def seg_SBR(self, seg: Segment) -> None:
        self.subscriber["filing"] = seg[9]

    def seg_NM1(self, seg: Segment) -> None:
        self.entity = seg[1]
        ident = seg[9].strip()
        if self.claim is None:
            if seg[1] == "85":
                self.billing = (seg[3], ident)
            elif seg[1] == "IL":
                self.subscriber.update(last=seg[3], first=seg[4], member=ident)
            elif seg[1] == "PR":
                self.subscriber.update(payer_name=seg[3], payer_id=ident)
            elif seg[1] == "QC":
                self.patient.update(last=seg[3], first=seg[4])
            return
        # In the claim (2310x) or a line (2420x): providers.
        if self.line is not None:
            if seg[1] == "82":
                self.line.rendering_npi = ident
            return
        if seg[1] == "82":
            self.claim.rendering_npi = ident
        elif seg[1] == "DN":
            self.claim.referring_npi = ident

    def seg_DMG(self, seg: Segment) -> None:
        if self.claim is not None:
            return
        dob = self.date(seg, seg[2], "DMG02 (date of birth)") if seg[1] in ("D8", "") else None
        if self.entity == "QC" or self.level == "23":
            self.patient["dob"] = dob
        else:
            self.subscriber["dob"] = dob

    def seg_CLM(self, seg: Segment) -> None:
        assert self.tx is not None
        self.close_claim()
        pcn = seg[1].strip()
        if not pcn:
            raise self.error(seg, "CLM01 (patient control number) is missing")
        if not self.subscriber.get("payer_id") and not self.subscriber.get("payer_name"):
            self.warn(seg, "claim without a payer (no NM1*PR before CLM)")
        impl = self.tx.implementation
        kind = "institutional" if impl.startswith(INSTITUTIONAL[:10]) else "professional"
        parts = self.split(seg, seg[5]) if seg[5] else []
        sub, pat = self.subscriber, self.patient
        claim = SubmittedClaim(
            segment=seg.ordinal,
            kind=kind,
            patient_control=pcn,
            charge=self.money(seg, 2),
            facility_code=parts[0] if parts else "",
            frequency=(parts[2] if len(parts) > 2 else "") or "1",
            billing_name=self.billing[0],
            billing_npi=self.billing[1],
            payer_name=str(sub.get("payer_name") or ""),
            payer_id=str(sub.get("payer_id") or ""),
            filing_indicator=str(sub.get("filing") or ""),
            subscriber_last=str(sub.get("last") or ""),
            subscriber_first=str(sub.get("first") or ""),
            member_id=str(sub.get("member") or ""),
            subscriber_dob=sub.get("dob"),
            patient_last=str(pat.get("last") or sub.get("last") or ""),
            patient_first=str(pat.get("first") or sub.get("first") or ""),
            patient_dob=pat.get("dob") or sub.get("dob"),
            created=self.tx.created,
        )
        if claim.frequency not in ("1", "7", "8"):
            self.warn(seg, f"CLM05-3 frequency {claim.frequency!r} is not 1, 7 or 8")
        self.claim = claim
        self.line = None

    def seg_REF(self, seg: Segment) -> None:
        if self.claim is None:
            return
        q, v = seg[1], seg[2].strip()
        if self.line is not None:
            if q == "6R":
                self.line.line_control = v
            elif q == "G1":
                self.line.prior_auth = v
            return
        if q == "F8":
            self.claim.original_ref = v
        elif q == "G1":
            self.claim.prior_auth = v
        elif q == "9F":
            self.claim.referral = v

    def seg_HI(self, seg: Segment) -> None:
        if self.claim is None:
            self.warn(seg, "HI outside a claim; ignored")
            return
        for i in range(1, len(seg) + 1):
            if not seg[i]:
                continue
            parts = self.split(seg, seg[i])
            if len(parts) >= 2 and parts[0] in _DIAGNOSIS_QUALIFIERS and parts[1]:
                self.claim.diagnoses.append(parts[1].strip().replace(".", ""))

    def seg_DTP(self, seg: Segment) -> None:
        if self.claim is None:
            return
        value = seg[3]
        first, _, last = value.partition("-")
        if self.line is not None and seg[1] == "472":
            self.line.date_from = self.date(seg, first, "DTP03 (date of service)")
            self.line.date_to = self.date(seg, last, "DTP03 (date of service)") if last else None
        elif self.line is None and seg[1] in ("434", "472"):
            self.claim.statement_from = self.date(seg, first, "DTP03")
            self.claim.statement_to = self.date(seg, last or first, "DTP03")

    def seg_LX(self, seg: Segment) -> None:
        if self.claim is None:
            raise self.error(seg, "LX outside a claim (no CLM before it)")
        self.close_line()

    def _line(self, seg: Segment, composite: str) -> SubmittedLine:
        if self.claim is None:
            raise self.error(seg, f"{seg.id} outside a claim (no CLM before it)")
        self.close_line()
        parts = self.split(seg, composite) if composite else []
        if len(parts) < 2 or not parts[1].strip():
            raise self.error(seg, f"{seg.id}: the procedure code is missing")
        return SubmittedLine(
            segment=seg.ordinal,
            number=len(self.claim.lines) + 1,
            procedure_qualifier=parts[0],
            procedure=parts[1].strip(),
            modifiers=[m.strip() for m in parts[2:6] if m.strip()],
            charge=ZERO,
        )

    def seg_SV1(self, seg: Segment) -> None:
        line = self._line(seg, seg[1])
        line.charge = self.money(seg, 2)
        line.units = self.number(seg, 4)
        for p in self.split(seg, seg[7]) if seg[7] else []:
            if p.strip().isdigit() and 1 <= int(p) <= 12:
                line.pointers.append(int(p))
            elif p.strip():
                self.warn(seg, "SV107: a diagnosis pointer is not 1-12; ignored")
        self.line = line

    def seg_SV2(self, seg: Segment) -> None:
        line = self._line(seg, seg[2])
        line.revenue_code = seg[1].strip()
        line.charge = self.money(seg, 3)
        line.units = self.number(seg, 5)
        self.line = line

    def number(self, seg: Segment, i: int) -> Decimal | None:
        if not seg[i]:
            return None
        d = parse_decimal(seg[i])
        if d is None:
            self.warn(seg, f"{seg.id}{i:02d}: not a number; ignored")
        return d

    def close_line(self) -> None:
        if self.line is not None and self.claim is not None:
            self.claim.lines.append(self.line)
        self.line = None

    def close_claim(self) -> None:
        self.close_line()
        if self.claim is not None and self.tx is not None:
            c = self.claim
            total = sum((ln.charge for ln in c.lines), ZERO)
            if c.lines and total != c.charge:
                self.warn(c.segment, f"CLM02 {c.charge} differs from the lines' total {total}")
            for ln in c.lines:
                if c.diagnoses and any(p > len(c.diagnoses) for p in ln.pointers):
                    self.warn(ln.segment, "SV107 points past the claim's diagnosis codes")
            self.tx.claims.append(c)
        self.claim = None


def parse_837(source: str | os.PathLike[str] | IO[bytes], name: str | None = None) -> ClaimFile:
    """Read a whole 837 file (every transaction); raises ``X12Error`` when it cannot be read."""
    label = name or (os.fspath(source) if isinstance(source, str | os.PathLike) else "<input>")
    try:
        reader = SegmentReader(source, label)
    except X12Error as exc:
        raise exc.with_file(label) from None
    except OSError as exc:
        raise X12Error(f"cannot read file: {exc.strerror}", file=label) from None
    parser = _Parser(label, reader)
    try:
        if not reader.has_envelope:
            parser.warn(1, "no ISA/GS envelope: transaction read without one")
        last: Segment | None = None
        for seg in reader:
            last = seg
            parser.feed(seg)
        if parser.tx is not None:
            raise X12Error(
                "file ends inside a transaction (no SE)",
                file=label,
                segment=last.ordinal if last else None,
            )
        for ordinal, message in reader.warnings:
            parser.warn(ordinal, message)
    finally:
        reader.close()
    if not any(t.claims for t in parser.out.transactions):
        raise X12Error("837 claim file holds no claim (no CLM segment); nothing stored", file=label)
    return parser.out
