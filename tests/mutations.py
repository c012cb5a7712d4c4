"""Damage for fuzzing: seeds (valid 835 files) and mutations of them.

Shared by the hypothesis fuzz test (tests/test_fuzz.py) and the atheris harness under ``fuzz/``; a
mutation is a list of (operation, position, value) steps, so both can drive it.
"""

from __future__ import annotations

import random
from decimal import Decimal

from denialkit.synthetic import Adj, ClaimSpec, Layout, LineSpec, PLBSpec, RemitSpec, build_835

# Values that broke or nearly broke intake: huge, foreign, not-a-number, too precise.
NASTY_VALUES = [
    "99999999999999999999",
    "1234567890123456789012345678901.55",
    "90000000000000000",
    "99999999999.99",
    "100000000000",
    "-99999999999.99",
    "1e30",
    "NaN",
    "Infinity",
    "١٢٣",
    "１２３",
    "1.005",
    ".5",
    "5.",
    "+1",
    "-0",
    "",
    " ",
    "1" * 400,
    "\x00",
    "KOWALSKI",
    "~",
    "*",
    ":",
    "\n",
]
OPERATIONS = ("flip", "insert", "delete", "dup_segment", "drop_segment", "swap", "nasty", "cut")


def _claim(i: int, carc: str = "50") -> ClaimSpec:
    amount = Decimal(100 + i) + Decimal("0.15")
    return ClaimSpec(
        f"PCN{i}",
        payer_claim_id=f"ICN{i}",
        patient=("KOWALSKI", "ELI", f"MBR{i:06d}"),
        lines=[
            LineSpec("99213", amount, adjustments=[Adj("CO", carc, amount)], line_control=f"{i}"),
            LineSpec("97110", Decimal("80"), modifiers=("GP",)),
        ],
        adjustments=[Adj("OA", "94", Decimal("0.01"))],
    )


def seeds() -> list[str]:
    """A few valid files: one and several transactions, PLB, other delimiters, no envelope."""
    one = RemitSpec(claims=[_claim(0), _claim(1, "197")], trace="S1")
    plb = RemitSpec(
        claims=[_claim(2)], trace="S2", plb=[PLBSpec("WO", Decimal("10")), PLBSpec("L6", -1)]
    )
    other = RemitSpec(claims=[_claim(3, "16")], trace="S1", payer_name="OTHER PLAN")
    return [
        build_835(one),
        build_835([one, plb, other]),
        build_835([plb], Layout(element="|", component=">", segment="\n", newline="")),
        build_835([one], Layout(newline_before=True, bom=True)),
        build_835([other], Layout(envelope=False)),
    ]


def apply(text: str, steps: list[tuple[str, int, int]]) -> bytes:
    """Apply mutation steps (operation, position, value) to a seed; returns the bytes."""
    data = bytearray(text.encode("utf-8"))
    for op, pos, value in steps:
        if not data:
            break
        i = pos % len(data)
        if op == "flip":
            data[i] = value % 256
        elif op == "insert":
            data[i:i] = bytes([value % 256]) * (1 + value % 3)
        elif op == "delete":
            del data[i : i + 1 + value % 8]
        elif op == "cut":
            del data[i:]
        elif op in ("dup_segment", "drop_segment", "swap", "nasty"):
            segs = bytes(data).split(b"~")
            j = pos % len(segs)
            if op == "dup_segment":
                segs.insert(j, segs[j])
            elif op == "drop_segment":
                del segs[j]
            elif op == "swap":
                k = value % len(segs)
                segs[j], segs[k] = segs[k], segs[j]
            else:
                elements = segs[j].split(b"*")
                if len(elements) > 1:
                    e = 1 + value % (len(elements) - 1)
                    elements[e] = NASTY_VALUES[value % len(NASTY_VALUES)].encode("utf-8")
                    segs[j] = b"*".join(elements)
            data = bytearray(b"~".join(segs))
    return bytes(data)


def random_steps(rng: random.Random, n: int) -> list[tuple[str, int, int]]:
    return [
        (rng.choice(OPERATIONS), rng.randrange(1 << 20), rng.randrange(1 << 16)) for _ in range(n)
    ]


# -- the property every input must satisfy ----------------------------------------------------


def check_one(data: bytes, store, path) -> str:
    """Feed ``data`` through the tokenizer, the parser and ``ingest_file``; returns the
    status. Raises AssertionError when the contract breaks: any exception but a
    ``DenialkitError``, an "unexpected error" result, or rows left by a failed file."""
    import io

    from denialkit.era import parse_835
    from denialkit.errors import DenialkitError
    from denialkit.intake import ingest_file
    from denialkit.x12 import SegmentReader

    try:
        with SegmentReader(io.BytesIO(data), "fuzz.835") as reader:
            for _ in reader:
                pass
    except DenialkitError:
        pass
    try:
        for _ in parse_835(io.BytesIO(data), "fuzz.835"):
            pass
    except DenialkitError:
        pass
    path.write_bytes(data)
    tables = ("files", "remittances", "claims", "service_lines", "adjustments", "denials")
    before = {t: store.count(t) for t in tables}
    result = ingest_file(store, path)
    after = {t: store.count(t) for t in tables}
    if result.status == "failed":
        assert result.error is not None
        assert "unexpected error" not in result.error.message, result.error.message
        assert after == before, "a failed file left rows"
    elif result.status == "duplicate":
        assert after == before
    else:
        assert result.status == "ingested"
        assert after["files"] == before["files"] + 1
        assert after["claims"] == before["claims"] + result.totals.claims
    return result.status
