"""837 properties: built claims read back the same with any delimiters and layout; mutated 837
files end stored whole or as a clear ``DenialkitError`` (nothing stored), never a traceback."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from denialkit.edi837 import parse_837
from denialkit.errors import DenialkitError
from denialkit.intake import ingest_file
from denialkit.store import Store
from denialkit.synthetic import ClaimFileSpec, ClaimLineSpec, Layout, SubmittedClaimSpec, build_837

from .mutations import OPERATIONS, apply

pytestmark = pytest.mark.slow  # hypothesis: generated 837 claims


@pytest.fixture
def engine():
    """837 intake, linking and scrub store their claims with SQLite-only SQL (claims837_store):
    on SQLite only, until that SQL goes through the store's dialect."""
    return "sqlite"


code = st.text("ABCDEFGHJKLMNPRSTVWXYZ0123456789", min_size=3, max_size=7)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
line = st.builds(
    ClaimLineSpec,
    procedure=st.sampled_from(["99213", "97110", "72148", "J3301", "G0439"]),
    charge=money,
    modifiers=st.lists(st.sampled_from(["GP", "25", "59", "LT", "RT", "KX"]), max_size=4).map(
        tuple
    ),
    units=st.sampled_from(["1", "2", "0.5", "12"]),
    date=st.sampled_from(["20260105", "20261231", "20250228"]),
    pointers=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple),
    line_control=st.one_of(st.none(), code),
)
claim = st.builds(
    SubmittedClaimSpec,
    patient_control=code,
    lines=st.lists(line, min_size=1, max_size=4),
    frequency=st.sampled_from(["1", "7", "8"]),
    prior_auth=st.one_of(st.none(), code),
    diagnoses=st.lists(code, min_size=4, max_size=6).map(tuple),
    subscriber=st.tuples(st.just("DOE"), st.just("JO"), code),
)
layouts = st.sampled_from(
    [
        Layout(),
        Layout(element="|", component=">", repetition="^", segment="~", newline=""),
        Layout(element="^", component=":", repetition="!", segment="\n", newline=""),
        Layout(bom=True, compress_isa=True, newline="\r\n"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(claim, min_size=1, max_size=3), st.sampled_from(["P", "I"]), layouts)
def test_built_837_reads_back(claims, kind, layout):
    if kind == "I":
        for c in claims:
            for ln in c.lines:
                ln.revenue_code = "0450"
    text = build_837(ClaimFileSpec(claims, kind=kind), layout)
    parsed = parse_837(io.BytesIO(text.encode()), "built.837")
    got = list(parsed.claims)
    assert [c.patient_control for c in got] == [c.patient_control for c in claims]
    for spec, c in zip(claims, got, strict=True):
        assert c.charge == spec.charge_amount() and c.frequency == spec.frequency
        assert c.prior_auth == (spec.prior_auth or "")
        assert c.diagnoses == list(spec.diagnoses) and c.member_id == spec.subscriber[2]
        for ls, ln in zip(spec.lines, c.lines, strict=True):
            assert (ln.procedure, ln.modifiers, ln.charge, ln.units) == (
                ls.procedure, list(ls.modifiers), ls.charge, Decimal(ls.units),
            )  # fmt: skip
            assert ln.line_control == (ls.line_control or "")
            if kind == "P":
                assert ln.pointers == list(ls.pointers)
    assert parsed.warnings == []


SEED = build_837(
    ClaimFileSpec(
        [
            SubmittedClaimSpec(
                "PCN1",
                prior_auth="A1",
                diagnoses=("M545", "Z00"),
                lines=[
                    ClaimLineSpec("97110", Decimal("60"), modifiers=("GP",), pointers=(1, 2)),
                    ClaimLineSpec("99213", Decimal("95.10"), line_control="7"),
                ],
            ),  # fmt: skip
            SubmittedClaimSpec(
                "PCN2", patient=("DOE", "KIM", "20100101"), lines=[ClaimLineSpec()]
            ),  # fmt: skip
        ]
    )
)
STORE = Store.memory()
step = st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1 << 20), st.integers(0, 1 << 16))


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(step, min_size=1, max_size=5))
def test_mutated_837_is_stored_whole_or_refused_clearly(tmp_path_factory, steps):
    data = apply(SEED, steps)
    try:
        parse_837(io.BytesIO(data), "fuzz.837")
    except DenialkitError:
        pass
    path = tmp_path_factory.mktemp("f") / "fuzz.837"
    path.write_bytes(data)
    tables = ("files", "submissions", "submitted_claims", "submitted_lines")
    before = {t: STORE.count(t) for t in tables}
    result = ingest_file(STORE, path)
    assert result.status in ("ingested", "failed", "duplicate")
    if result.status != "ingested":
        assert {t: STORE.count(t) for t in tables} == before
    if result.error is not None:
        assert "unexpected error" not in result.error.message, result.error.message
