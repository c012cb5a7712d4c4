"""Property tests: whatever the delimiters and layout, a balanced file parses back exactly;
whatever the damage, the parser answers with data or an X12Error, never a traceback."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from denialkit.era import EraStream, parse_835
from denialkit.errors import X12Error
from denialkit.intake import _DIGEST_MARKS as DIGEST_MARKS
from denialkit.intake import _plain_digests, _segment_digests, transaction_digests
from denialkit.synthetic import Adj, ClaimSpec, Layout, LineSpec, PLBSpec, RemitSpec, build_835

pytestmark = pytest.mark.slow  # hypothesis: generated remittances

DELIMS = list("*|^~:>!&@#$%+=/`\x1c\x1d\x1e\x1f")
money = st.integers(min_value=0, max_value=10_000_00).map(lambda c: Decimal(c) / 100)
signed = st.integers(min_value=-5_000_00, max_value=5_000_00).map(lambda c: Decimal(c) / 100)
adjustment = st.builds(
    Adj,
    st.sampled_from(["CO", "PR", "OA", "PI"]),
    st.sampled_from(["45", "1", "2", "50", "97", "16", "B15"]),
    signed,
)
line = st.builds(
    LineSpec,
    procedure=st.sampled_from(["99213", "J1885", "0450"]),
    charge=money,
    adjustments=st.lists(adjustment, max_size=8),
    modifiers=st.lists(st.sampled_from(["25", "59", "GP"]), max_size=4).map(tuple),
    remarks=st.lists(st.sampled_from(["N115", "M15"]), max_size=2).map(tuple),
)
claim = st.builds(
    ClaimSpec,
    patient_control=st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True),
    status=st.sampled_from(["1", "2", "4", "22"]),
    lines=st.lists(line, max_size=4),
    adjustments=st.lists(adjustment, max_size=3),
)
remit = st.builds(
    RemitSpec,
    claims=st.lists(claim, max_size=5),
    trace=st.from_regex(r"[A-Z0-9]{4,10}", fullmatch=True),
    plb=st.lists(st.builds(PLBSpec, st.sampled_from(["WO", "L6", "FB"]), signed), max_size=7),
)


@st.composite
def layouts(draw):
    element, component, repetition, segment = draw(
        st.lists(st.sampled_from(DELIMS), min_size=4, max_size=4, unique=True)
    )
    newline_term = draw(st.booleans()) and draw(st.booleans())
    if newline_term:
        return Layout(
            element,
            component,
            repetition,
            "\n",
            newline="",
            bom=draw(st.booleans()),
            compress_isa=draw(st.booleans()),
            version=draw(st.sampled_from(["5010", "4010"])),
        )
    return Layout(
        element,
        component,
        repetition,
        segment,
        newline=draw(st.sampled_from(["", "\n", "\r\n"])),
        newline_before=draw(st.booleans()),
        wrap=draw(st.one_of(st.none(), st.integers(20, 120))),
        bom=draw(st.booleans()),
        compress_isa=draw(st.booleans()),
        version=draw(st.sampled_from(["5010", "4010"])),
    )


def _cas_total(claims, group):
    return sum(
        (
            a.amount
            for c in claims
            for a in c.adjustments + [a for ln in c.lines for a in ln.adjustments]
            if a.group == group
        ),
        Decimal(0),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(remit, min_size=1, max_size=3), layouts(), st.integers(1, 3))
def test_balanced_files_parse_back_exactly(specs, layout, per_group):
    text = build_835(specs, layout, per_group=per_group)
    stream = EraStream(io.BytesIO(text.encode("utf-8")), "gen.835")
    remits = list(parse_835(io.BytesIO(text.encode("utf-8")), "gen.835"))
    list(stream)
    assert len(remits) == len(specs)
    for spec, r in zip(specs, remits, strict=True):
        claims = list(spec.claim_iter())
        assert len(r.claims) == len(claims)
        assert r.header.trace_number == spec.trace
        assert r.header.payment_amount == spec.payment_amount()
        assert r.total_charge == sum((c.charge_amount() for c in claims), Decimal(0))
        assert r.total_paid == sum((c.paid_amount() for c in claims), Decimal(0))
        assert sum(len(c.lines) for c in r.claims) == sum(len(c.lines) for c in claims)
        for g in ("CO", "PR", "OA", "PI"):
            assert _cas_total(r.claims, g) == _cas_total(claims, g)
        assert sum((p.amount for p in r.provider_adjustments), Decimal(0)) == sum(
            (p.amount for p in spec.plb), Decimal(0)
        )
        for got, want in zip(r.claims, claims, strict=True):
            assert got.patient_control == want.patient_control
            for gl, wl in zip(got.lines, want.lines, strict=True):
                assert (gl.procedure, tuple(gl.modifiers)) == (wl.procedure, wl.modifiers)
                assert [m.code for m in gl.remarks] == list(wl.remarks)
    # Generated files balance, so the only warnings allowed are not about money.
    assert not [w for w in stream.warnings if "balance" in w.message]


@settings(max_examples=200, deadline=None)
@given(remit, st.data())
def test_mangled_input_never_raises_anything_but_x12error(spec, data):
    text = build_835(spec)
    ops = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["delete", "insert", "truncate", "dup"]),
                st.integers(0, max(0, len(text) - 1)),
                st.text(alphabet="*~:^ABC19.-\n", max_size=5),
            ),
            min_size=1,
            max_size=4,
        )
    )
    for op, pos, junk in ops:
        if op == "delete":
            text = text[:pos] + text[pos + 5 :]
        elif op == "insert":
            text = text[:pos] + junk + text[pos:]
        elif op == "truncate":
            text = text[:pos]
        else:
            text = text[:pos] + text[pos : pos + 40] + text[pos:]
    try:
        for _ in parse_835(io.BytesIO(text.encode("utf-8")), "mangled.835"):
            pass
    except X12Error as exc:
        assert str(exc).startswith("mangled.835")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(remit, min_size=1, max_size=3),
    layouts(),
    st.data(),
    st.sampled_from([64, 257, 4096]),
)
def test_transaction_digests_read_plainly_equal_the_definition(
    tmp_path, specs, layout, data, chunk_size
):
    """The block-wise digest (``_plain_digests``) hashes what the segment-by-segment one
    does, or declines; it never declines a plain file, mangled or not as a sender would."""
    text = build_835(specs, layout)
    used = {layout.element, layout.segment, layout.component, layout.repetition}
    plain = not (used & set(DIGEST_MARKS))  # the ISA carries the repetition separator too
    mangle = data.draw(st.sampled_from(["none", "space", "tab", "empty", "accent", "dtm"]))
    e, t = layout.element, layout.segment
    if mangle == "space":  # white space at an element's edge (stripped by the definition)
        text = text.replace(f"{e}CLP{e}", f"{e} CLP{e}", 1).replace(f"CLP{e}", f"CLP{e} ", 1)
    elif mangle == "tab":
        text = text.replace(f"NM1{e}", f"NM1{e}\t", 1)
    elif mangle == "empty" and t not in "\r\n":
        text = text.replace(f"{t}LX", f"{t}{t}LX", 1)
    elif mangle == "accent":
        text = text.replace("PATIENT", "PATIENTÉ", 1)
    elif mangle == "dtm":  # production dates with and without more elements
        text = text.replace(f"{t}BPR{e}", f"{t}DTM{e}405{t}DTM{e}4050{e}X{t}BPR{e}", 1)
    path = tmp_path / "digests.835"
    path.write_bytes(text.encode("utf-8"))
    want = _segment_digests(path, "gen.835")
    got = _plain_digests(path, "gen.835", chunk_size)
    assert len(want) == len(specs)
    if got is not None:
        assert got == want
    assert transaction_digests(path, "gen.835", chunk_size) == want
    if plain and mangle in ("none", "dtm"):
        assert got is not None, "a plain file must take the fast path"
