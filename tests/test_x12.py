from __future__ import annotations

import io

import pytest

from denialkit.errors import X12Error
from denialkit.x12 import SegmentReader, detect_delimiters, split_composite

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261102*1200*^*"
    "00501*000000001*0*P*:"
)


def read(text: str, **kw):
    r = SegmentReader(io.BytesIO(text.encode("utf-8")), name="t.835", **kw)
    return r, list(r)


def test_delimiters_from_padded_isa():
    d, env = detect_delimiters(ISA + "~GS*HP")
    assert env and (d.element, d.component, d.repetition, d.segment) == ("*", ":", "^", "~")


def test_compressed_isa_is_walked_not_offset():
    d, _ = detect_delimiters("ISA*00**00**ZZ*S*ZZ*R*261102*1200*^*00501*1*0*P*>~GS")
    assert (d.component, d.segment) == (">", "~")


def test_4010_has_no_repetition_separator():
    d, _ = detect_delimiters(ISA.replace("*^*00501", "*U*00401") + "~")
    assert d.repetition is None


@pytest.mark.parametrize(
    "tail,term", [("\nGS*HP", "\n"), ("\r\nGS*HP", "\n"), ("\n~GS*HP", "~"), ("~\nGS", "~")]
)
def test_terminator_layouts(tail, term):
    d, _ = detect_delimiters(ISA + tail)
    assert d.segment == term


def test_bare_st_infers_delimiters():
    d, env = detect_delimiters("ST*835*0001~BPR*I")
    assert not env and d.element == "*" and d.segment == "~" and d.component is None


def test_not_x12_is_an_error_naming_the_file():
    with pytest.raises(X12Error, match=r"t\.835: segment 1: not an X12 file"):
        read("hello world, this is not an 835")


def test_empty_file():
    with pytest.raises(X12Error, match="empty"):
        read("\ufeff  \n")


def test_bom_indentation_crlf_and_wrapping_are_read():
    body = ISA + "~\r\n  GS*HP*A*B*20261102*1200*1*X*005010X221A1~\r\n\tST*835*0001~"
    text = "\ufeff\n" + body
    _, segs = read(text)
    assert [s.id for s in segs] == ["ISA", "GS", "ST"]
    wrapped = "\n".join(body[i : i + 7] for i in range(0, len(body), 7))
    _, segs2 = read(wrapped)
    assert [s.elements for s in segs2] == [s.elements for s in segs]


def test_segments_split_across_chunks_and_ordinals():
    text = ISA + "~" + "".join(f"REF*X*{i}~" for i in range(500))
    _, segs = read(text, chunk_size=7)
    assert len(segs) == 501
    assert segs[-1].ordinal == 501 and segs[-1][2] == "499"


def test_segment_access_is_one_based_and_forgiving():
    _, segs = read(ISA + "~CLP*A*1~")
    clp = segs[1]
    assert clp.id == "CLP" and clp[1] == "A" and clp[9] == ""


def test_split_composite_declared_and_fallback():
    assert split_composite("HC:99213:25", ":") == (["HC", "99213", "25"], None)
    assert split_composite("HC>99213", ":") == (["HC", "99213"], ">")
    assert split_composite("HC:99213", None) == (["HC", "99213"], ":")
    assert split_composite("WO", ":") == (["WO"], None)
