from __future__ import annotations

import io
from decimal import Decimal

import pytest

from denialkit.era import EraStream, parse_835, parse_date, parse_decimal
from denialkit.errors import X12Error
from denialkit.synthetic import Adj, ClaimSpec, D, Layout, LineSpec, RemitSpec, build_835

# Every segment the intake issue asks to capture, written by hand (fictional data).
KITCHEN_SINK = """\
ISA*00*          *00*          *ZZ*PAYERSEND      *ZZ*PRACTICE       *261105*0930*^*00501*000000777*0*P*:~
GS*HP*PAYERSEND*PRACTICE*20261105*0930*77*X*005010X221A1~
ST*835*0001*005010X221A1~
BPR*I*390.50*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20261106~
TRN*1*TRC555*1512345678*ORIG9~
REF*EV*PRACTICE~
DTM*405*20261104~
N1*PR*GREAT LAKES HEALTH*XV*GLH77~
N3*1 LAKE SHORE DR*SUITE 9~
N4*CHICAGO*IL*60601~
REF*2U*GLH77~
PER*BL*PROVIDER LINE*TE*8005550199~
N1*PE*NORTH CLINIC*XX*1999999984~
N3*5 ELM ST~
N4*EVANSTON*IL*60201~
REF*TJ*361234567~
LX*1~
TS3*1999999984*11*20261231*2*900~
CLP*ACCT-1*1*600*390.5*20*CI*PCC-900*11*1~
CAS*OA*94*5*1*A1*1~
NM1*QC*1*DOE*JANE*Q***MI*M123~
NM1*IL*1*DOE*JOHN****MI*M000~
NM1*74*1*DOE*JANIE****C*M124~
NM1*82*1*SMITH*ALEX****XX*1234567893~
NM1*TT*2*SECOND PAYER*****CI*SP01~
MOA*80*12.5*MA01*N1**N2*N3~
MIA*2*10.5*0*100*MA02***************MA03*MA04*MA05*MA06*7.25~
REF*1L*GRP77~
DTM*232*20261001~
DTM*233*20261002~
DTM*050*20261010~
DTM*036*20271231~
AMT*AU*580~
QTY*CA*2~
SVC*HC:99214:25:59:XS:GT:OFFICE VISIT*400*300.5*0510*1**1~
DTM*472*20261001~
CAS*CO*45*50*1*97*10*1*253*4.5**B15*5**16*4**4*6*1~
CAS*PR*1*20~
REF*6R*LINE-1~
REF*LU*11~
AMT*B6*320.5~
QTY*ZL*1~
LQ*HE*N130~
LQ*RX*75~
SVC*NU:0450*200*90***HC:99283~
DTM*150*20261001~
DTM*151*20261002~
CAS*CO*50*104~
LQ*HE*N115~
PLB*1999999984*20261231*WO:PCC-100*10*L6*-10.5*FB>ABC*0.5~
SE*52*0001~
GE*1*77~
IEA*1*000000777~
"""


def parse_text(text: str, name: str = "sink.835"):
    stream = EraStream(io.BytesIO(text.encode()), name)
    return stream, list(stream)


def test_kitchen_sink_captures_every_field():
    [r] = list(parse_835(io.BytesIO(KITCHEN_SINK.encode()), "sink.835"))
    h = r.header
    assert (h.handling_code, h.payment_amount, h.credit_debit, h.payment_method) == (
        "I",
        Decimal("390.50"),
        "C",
        "ACH",
    )
    assert h.payment_date == "2026-11-06" and h.production_date == "2026-11-04"
    assert h.notice_date == "2026-11-04"
    assert (h.trace_number, h.trace_originator, h.trace_reference) == (
        "TRC555",
        "1512345678",
        "ORIG9",
    )
    assert (h.isa_control, h.gs_control, h.st_control, h.gs_version) == (
        "000000777",
        "77",
        "0001",
        "005010X221A1",
    )
    assert h.payer.name == "GREAT LAKES HEALTH" and h.payer.ref("2U") == "GLH77"
    assert h.payer.city == "CHICAGO" and h.payer.contacts
    assert h.payee.id == "1999999984" and h.payee.ref("TJ") == "361234567"
    assert h.payer_key == "id:GLH77"

    [c] = r.claims
    assert (c.patient_control, c.status, c.charge, c.paid, c.patient_responsibility) == (
        "ACCT-1",
        "1",
        Decimal(600),
        Decimal("390.5"),
        Decimal(20),
    )
    assert (c.filing_indicator, c.payer_claim_id, c.facility_type, c.frequency) == (
        "CI",
        "PCC-900",
        "11",
        "1",
    )
    assert [p.entity for p in c.people] == ["QC", "IL", "74", "82", "TT"]
    assert c.person("QC").id == "M123" and c.person("82").id == "1234567893"
    assert (c.statement_from, c.statement_to, c.received_date, c.coverage_expiration) == (
        "2026-10-01",
        "2026-10-02",
        "2026-10-10",
        "2027-12-31",
    )
    assert [(a.group, a.reason, a.amount) for a in c.adjustments] == [
        ("OA", "94", Decimal(5)),
        ("OA", "A1", Decimal(1)),
    ]
    assert [(m.source, m.code) for m in c.remarks] == [
        ("MOA", "MA01"),
        ("MOA", "N1"),
        ("MOA", "N2"),
        ("MOA", "N3"),
        ("MIA", "MA02"),
        ("MIA", "MA03"),
        ("MIA", "MA04"),
        ("MIA", "MA05"),
        ("MIA", "MA06"),
    ]
    assert ("AU", Decimal(580)) in c.amounts and ("MIA24", Decimal("7.25")) in c.amounts
    assert ("CA", Decimal(2)) in c.quantities

    first, second = c.lines
    assert (first.procedure_qualifier, first.procedure, first.modifiers, first.description) == (
        "HC",
        "99214",
        ["25", "59", "XS", "GT"],
        "OFFICE VISIT",
    )
    assert (first.charge, first.paid, first.revenue_code, first.units) == (
        Decimal(400),
        Decimal("300.5"),
        "0510",
        Decimal(1),
    )
    assert first.date_from == first.date_to == "2026-10-01"
    assert first.line_control == "LINE-1" and first.allowed == Decimal("320.5")
    # One CAS segment with all six triplets, then a second group.
    assert [(a.group, a.reason, a.amount) for a in first.adjustments] == [
        ("CO", "45", Decimal(50)),
        ("CO", "97", Decimal(10)),
        ("CO", "253", Decimal("4.5")),
        ("CO", "B15", Decimal(5)),
        ("CO", "16", Decimal(4)),
        ("CO", "4", Decimal(6)),
        ("PR", "1", Decimal(20)),
    ]
    assert [(m.qualifier, m.code) for m in first.remarks] == [("HE", "N130"), ("RX", "75")]
    assert (second.procedure_qualifier, second.procedure) == ("NU", "0450")
    assert (second.original_qualifier, second.original_procedure) == ("HC", "99283")
    assert (second.date_from, second.date_to) == ("2026-10-01", "2026-10-02")

    assert [(p.reason, p.reference, p.amount) for p in r.provider_adjustments] == [
        ("WO", "PCC-100", Decimal(10)),
        ("L6", "", Decimal("-10.5")),
        ("FB", "ABC", Decimal("0.5")),
    ]
    assert r.provider_adjustments[0].fiscal_date == "2026-12-31"
    # FB>ABC: the declared component separator is ':'; '>' is read with a warning.
    assert any("component separator" in w.message for w in r.warnings)
    assert "CLP*ACCT-1*1*600" in r.raw and r.raw.startswith("ST*835*0001")


def test_kitchen_sink_balancing_is_checked():
    stream, _ = parse_text(KITCHEN_SINK)
    messages = [w.message for w in stream.warnings]
    # line 1: 400 - 300.5 = 99.5 = 50+10+4.5+5+4+6+20; line 2: 200-90 = 110 != 104
    assert any(m.startswith("service line does not balance: SVC02 200") for m in messages)
    assert not any("SVC02 400" in m for m in messages)
    assert not any("BPR02" in m for m in messages)  # 390.5 - (10 - 10.5 + 0.5)
    stream, _ = parse_text(KITCHEN_SINK.replace("BPR*I*390.50", "BPR*I*400"))
    assert any(
        "BPR02 400 does not balance: sum of CLP04 390.5 minus PLB 0.0 is 390.5" in w.message
        for w in stream.warnings
    )


def test_envelope_checks_are_warnings_not_errors():
    bad = (
        KITCHEN_SINK.replace("SE*52*0001", "SE*99*0002")
        .replace("GE*1*77", "GE*2*78")
        .replace("IEA*1*000000777", "IEA*1*000000778")
    )
    stream, events = parse_text(bad)
    text = "\n".join(w.message for w in stream.warnings)
    for expected in (
        "SE01 says '99'",
        "SE02 '0002' does not match ST02",
        "GE02 '78' does not match GS06",
        "GE01 says '2' transactions",
        "IEA02 '000000778' does not match ISA13",
    ):
        assert expected in text
    assert sum(1 for e in events if type(e).__name__ == "Claim") == 1


def test_segment_ordinals_in_warnings_point_at_the_segment():
    stream, _ = parse_text(KITCHEN_SINK.replace("DTM*036*20271231", "DTM*036*20271331"))
    [w] = [w for w in stream.warnings if "valid date" in w.message]
    assert w.segment == 32 and w.message == "DTM02 is not a valid date; ignored"


@pytest.mark.parametrize(
    "mutate,pattern",
    [
        (
            lambda t: t.replace("CLP*ACCT-1*1*600", "CLP*ACCT-1*1*6x0"),
            r"segment 19 \(CLP\): CLP03: amount '6x0' is not a number",
        ),
        (lambda t: t[: t.index("SE*52")], r"file ends inside a transaction \(no SE\)"),
        (lambda t: t.replace("IEA*1*000000777~\n", ""), r"file ends inside an interchange"),
        (lambda t: t.replace("CAS*PR*1*20", "CAS*PR**20"), r"CAS03 has an amount but CAS02"),
        (lambda t: "GARBAGE" + t, r"not an X12 file"),
    ],
)
def test_structural_errors_name_file_segment_and_problem(mutate, pattern):
    with pytest.raises(X12Error, match=pattern) as exc:
        parse_text(mutate(KITCHEN_SINK))
    assert str(exc.value).startswith("sink.835")


def test_clp_before_any_st_is_an_error():
    text = KITCHEN_SINK.replace("ST*835*0001*005010X221A1~\n", "")
    with pytest.raises(X12Error, match=r"segment 3 \(BPR\): BPR segment outside a transaction"):
        parse_text(text)


def test_errors_do_not_leak_patient_data():
    with pytest.raises(X12Error) as exc:
        parse_text(KITCHEN_SINK.replace("*600*390.5*", "*600*oops*"))
    assert "DOE" not in str(exc.value) and "ACCT-1" not in str(exc.value)
    stream, _ = parse_text(KITCHEN_SINK.replace("DTM*232*20261001", "DTM*232*20261099"))
    assert all("20261099" not in w.message for w in stream.warnings)


def test_non_835_transactions_are_skipped_with_a_warning():
    text = build_835(RemitSpec(claims=[ClaimSpec(lines=[LineSpec()])]), extra_999=True)
    stream, events = parse_text(text)
    assert any("'999' is not an 835; skipped" in w.message for w in stream.warnings)
    assert sum(1 for e in events if type(e).__name__ == "Claim") == 1


def test_bare_transaction_without_envelope_is_read_with_a_warning():
    text = build_835(RemitSpec(claims=[ClaimSpec(lines=[LineSpec()])]), Layout(envelope=False))
    stream, events = parse_text(text)
    assert "no ISA/GS envelope" in stream.warnings[0].message
    assert sum(1 for e in events if type(e).__name__ == "Claim") == 1


def test_4010_file_parses():
    spec = RemitSpec(claims=[ClaimSpec(lines=[LineSpec(adjustments=[Adj("CR", "45", D(10))])])])
    [r] = list(parse_835(io.BytesIO(build_835(spec, Layout(version="4010")).encode()), "x"))
    assert r.header.isa_version == "00401" and r.header.gs_version == "004010X091A1"
    assert r.claims[0].lines[0].adjustments[0].group == "CR"


def test_several_interchanges_groups_and_transactions():
    specs = [
        RemitSpec(trace=f"T{i}", claims=[ClaimSpec(f"P{i}", lines=[LineSpec()])]) for i in range(7)
    ]
    text = build_835(specs, per_group=2, groups_per_interchange=2)
    remits = list(parse_835(io.BytesIO(text.encode()), "multi"))
    assert [r.header.trace_number for r in remits] == [f"T{i}" for i in range(7)]
    assert len({r.header.isa_control for r in remits}) == 2
    assert len({r.header.gs_control for r in remits}) == 4


def test_reversal_keeps_negative_amounts():
    spec = RemitSpec(
        claims=[
            ClaimSpec(
                "A",
                "22",
                charge=D(-100),
                lines=[LineSpec(charge=D(-100), adjustments=[Adj("CO", "45", D(-20))])],
            ),
            ClaimSpec(
                "A", "1", lines=[LineSpec(charge=D(100), adjustments=[Adj("CO", "45", D(30))])]
            ),
        ]
    )
    [r] = list(parse_835(io.BytesIO(build_835(spec).encode()), "rev"))
    assert [(c.status, c.charge, c.paid) for c in r.claims] == [
        ("22", D(-100), D(-80)),
        ("1", D(100), D(70)),
    ]
    assert r.total_paid == D(-10)


def test_more_than_two_decimals_warns():
    text = KITCHEN_SINK.replace("AMT*AU*580", "AMT*AU*580.125")
    stream, _ = parse_text(text)
    assert any("more than two decimals" in w.message for w in stream.warnings)


def test_value_parsers():
    assert parse_decimal("-12.30") == Decimal("-12.30")
    assert parse_decimal("1e5") is None and parse_decimal("NaN") is None
    assert parse_decimal("") is None and parse_decimal("1.2.3") is None
    assert parse_date("20240229") == "2024-02-29" and parse_date("20230229") is None
    assert parse_date("261102") == "2026-11-02" and parse_date("20002316") is None
