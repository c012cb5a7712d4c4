"""X12 tokenizer: delimiters, segments and their ordinal numbers. Knows nothing of the 835.

Delimiters are read from the envelope of each file, never assumed. The ISA segment is fixed
width in the standard (106 characters), but real senders compress it, so the component
separator is found after the sixteenth element separator rather than at offset 104.

The reader streams: it holds one chunk of text plus one partial segment, so memory does not
grow with the file.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from .errors import X12Error

CHUNK_SIZE = 1 << 20
# The longest segment read. The longest real 835 segments (PER with a URL, NTE) are a few
# hundred characters; the limit only stops a file with no terminator from filling memory.
MAX_SEGMENT_CHARS = 64 * 1024
# A segment id is two or three letters or digits (TR3 Appendix A); anything else means the
# element separator is not the one the ISA declared.
_SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}")
_WHITESPACE = " \t\r\n\x0b\x0c"
# Characters that cannot be delimiters: X12 delimiters must not occur in data, and senders
# use punctuation for them.
_NOT_DELIMITER = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ")


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    segment: str
    component: str | None
    repetition: str | None = None

    def describe(self) -> str:
        def show(c: str | None) -> str:
            return {None: "none", "\n": "newline", "\r": "CR"}.get(c, repr(c))

        return (
            f"element {show(self.element)}, component {show(self.component)}, "
            f"repetition {show(self.repetition)}, segment {show(self.segment)}"
        )


class Segment:
    """One segment: its 1-based ordinal in the file, its id and its elements.

    ``elements[0]`` is the segment id, so ``seg[1]`` is element 01 as the TR3 numbers it.
    """

    __slots__ = ("ordinal", "elements", "raw")

    def __init__(self, ordinal: int, elements: list[str], raw: str) -> None:
        self.ordinal = ordinal
        self.elements = elements
        self.raw = raw

    @property
    def id(self) -> str:
        return self.elements[0]

    def __getitem__(self, i: int) -> str:
        """Element ``i`` (1-based as in the TR3), or '' when the segment is shorter."""
        e = self.elements
        return e[i] if i < len(e) else ""

    def __len__(self) -> int:
        return len(self.elements) - 1

    def __repr__(self) -> str:
        return f"Segment({self.ordinal}, {self.id})"


def check_regular_file(path: str | os.PathLike[str], name: str = "") -> os.stat_result:
    """``os.stat`` of a file that may be read: a FIFO, socket or device would block or never
    end, so it is refused with an ``X12Error``."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(st.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device or other special file"
        )
        raise X12Error(f"not a regular file ({kind}); not read", file=name or os.fspath(path))
    return st


def _bad_separator(text: str, sep: str) -> str:
    """The message for a segment whose id is not an id, without the segment's content."""
    used = next((c for c in text[:4] if not c.isalnum()), None)
    found = f"; it seems to use {used!r}" if used and used != sep else ""
    return (
        f"segment id is not 2-3 letters or digits: the element separator {sep!r} declared in "
        f"the ISA is not used{found} (content not shown)"
    )


def _after_whitespace(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _terminator_at(text: str, i: int, name: str) -> str:
    """The segment terminator, given the index of the first character after the header.

    Three real layouts: ``~`` right after the header; a newline as the terminator itself; and a
    newline *before* each ``~`` (lines that start with ``~``).
    """
    if i >= len(text):
        raise X12Error("file ends inside the envelope header", file=name, segment=1)
    c = text[i]
    if c in "\r\n":
        j = _after_whitespace(text, i)
        if j < len(text) and text[j].isalpha():
            return "\n"
        if j < len(text):
            return text[j]
        return "\n"
    if c in _NOT_DELIMITER:
        raise X12Error(
            f"cannot find the segment terminator (found {c!r} where it should be)",
            file=name,
            segment=1,
        )
    return c


def detect_delimiters(head: str, name: str = "") -> tuple[Delimiters, bool]:
    """Find the delimiters from the start of a file; returns them and whether it has an ISA.

    ``head`` must begin with the first segment (BOM and leading white space removed).
    """
    if head.startswith("ISA") and len(head) > 3:
        return _isa_delimiters(head, name), True
    for start in ("ST", "GS"):
        if head.startswith(start) and len(head) > 2 and head[2] not in _NOT_DELIMITER:
            sep = head[2]
            i = 3
            while i < len(head) and (head[i] in _NOT_DELIMITER or head[i] == sep):
                i += 1
            terminator = _terminator_at(head, i, name)
            return Delimiters(sep, terminator, None, None), False
    raise X12Error(
        "not an X12 file: it does not begin with an ISA (or ST) segment", file=name, segment=1
    )


def _isa_error(message: str, name: str) -> X12Error:
    return X12Error(message, file=name, segment=1, segment_id="ISA")


def _isa_delimiters(head: str, name: str) -> Delimiters:
    sep = head[3]
    if sep in _NOT_DELIMITER or sep in _WHITESPACE:
        raise _isa_error(f"ISA is not followed by an element separator ({sep!r})", name)
    # Walk to the 16th separator; do not trust fixed offsets (compressed ISA), and step
    # over line breaks (files wrapped at a fixed width break the ISA too).
    count, i = 1, 4
    while count < 16 and i < len(head):
        if head[i] == sep:
            count += 1
        i += 1
    while i < len(head) and head[i] in "\r\n":
        i += 1
    if count < 16 or i >= len(head):
        raise _isa_error("ISA header has fewer than 16 elements", name)
    component = head[i]
    terminator = _terminator_at(head, i + 1, name)
    fields = head[:i].replace("\r", "").replace("\n", "").split(sep)
    repetition = None
    # ISA11 became the repetition separator in 5010 (ISA12 >= 00501); in 4010 it is 'U'.
    if len(fields) > 12 and fields[12].strip() >= "00501":
        r = fields[11]
        if len(r) == 1 and r not in _NOT_DELIMITER:
            repetition = r
    if component in (sep, terminator):
        raise _isa_error("ISA16 component separator equals another delimiter", name)
    return Delimiters(sep, terminator, component, repetition)


class SegmentReader:
    """Iterate over the segments of one X12 file, streaming.

    ``delimiters`` and ``has_envelope`` are known after construction. ``warnings`` collects
    problems the tokenizer noticed but could read past, as (segment ordinal, message).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        name: str | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if isinstance(source, str | os.PathLike):
            self.name = name or os.fspath(source)
            check_regular_file(source, self.name)
            raw: IO[bytes] = open(source, "rb")  # closed in close()
            self._owns = True
        else:
            self.name = name or str(getattr(source, "name", "<input>"))
            raw = source
            self._owns = False
        self._raw = raw
        # utf-8-sig drops a BOM; 'replace' keeps going on stray bytes, which we report.
        self._text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        self._chunk_size = chunk_size
        self.warnings: list[tuple[int, str]] = []
        first = self._text.read(chunk_size)
        while first and len(first.lstrip(_WHITESPACE + "\ufeff")) < 200:
            more = self._text.read(chunk_size)
            if not more:
                break
            first += more
        self._first = first.lstrip(_WHITESPACE + "\ufeff")
        if not self._first:
            self.close()
            raise X12Error("file is empty", file=self.name)
        try:
            self.delimiters, self.has_envelope = detect_delimiters(self._first, self.name)
        except X12Error:
            self.close()
            raise

    def close(self) -> None:
        if self._owns:
            self._raw.close()

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _chunks(self) -> Iterator[str]:
        yield self._first
        while True:
            chunk = self._text.read(self._chunk_size)
            if not chunk:
                return
            yield chunk

    def blocks(self) -> Iterator[str]:
        """The file's text in blocks of whole segments, each block ending with the segment
        terminator (the last may not: a file's final terminator is often missing), line breaks
        handled as ``__iter__`` handles them. For a pass that needs the text, not the segments:
        the caller finds what it wants in C (``re``, ``str.count``) instead of segment by
        segment. Nothing is checked here that ``__iter__`` checks (ids, the ISA's separator,
        empty segments, a segment longer than ``MAX_SEGMENT_CHARS``, given as a block of its
        own): such a pass must tell a regular text from one it cannot read so."""
        term = self.delimiters.segment
        newline_term = term in "\r\n"
        if newline_term:
            term = "\n"
        buffer = ""
        for chunk in self._chunks():
            if newline_term:
                chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
            else:
                chunk = chunk.replace("\r", "").replace("\n", "")
            buffer += chunk
            cut = buffer.rfind(term) + 1
            if cut:
                yield buffer[:cut]
                buffer = buffer[cut:]
            if len(buffer) > MAX_SEGMENT_CHARS:  # no terminator: given as it is, not held
                yield buffer
                buffer = ""
        if buffer:
            yield buffer

    def __iter__(self) -> Iterator[Segment]:
        d = self.delimiters
        term = d.segment
        sep = d.element
        newline_term = term in "\r\n"
        if newline_term:
            term = "\n"
        buffer = ""
        ordinal = 0
        warned_replacement = False
        # Segment ids already checked: the same few dozen recur, so each is checked once.
        # ISA is checked every time (a later interchange may change the separator).
        known: set[str] = set()
        for chunk in self._chunks():
            if not warned_replacement and "\ufffd" in chunk:
                warned_replacement = True
                self.warnings.append(
                    (ordinal + 1, "file is not valid UTF-8; unreadable bytes were replaced")
                )
            if newline_term:
                chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
            else:
                # Line breaks are never data when the terminator is not a newline: they are
                # either cosmetic (after or before the terminator) or wrapping at a fixed width.
                chunk = chunk.replace("\r", "").replace("\n", "")
            buffer += chunk
            parts = buffer.split(term)
            buffer = parts.pop()
            for part in parts:
                text = part.strip(_WHITESPACE)
                if not text:
                    continue
                ordinal += 1
                if len(text) > MAX_SEGMENT_CHARS:
                    self._check_length(text, ordinal)
                elements = text.split(sep)
                if elements[0] in known:
                    yield Segment(ordinal, elements, text)
                    continue
                if elements[0] == "ISA" and len(text) > 3 and text[3] != sep:
                    # A later interchange with different delimiters.
                    sep = text[3]
                    elements = text.split(sep)
                    self.warnings.append(
                        (ordinal, f"interchange changes the element separator to {sep!r}")
                    )
                seg = self._segment(ordinal, elements, text, sep)
                if seg.id != "ISA":
                    known.add(seg.id)
                yield seg
            self._check_length(buffer, ordinal + 1)
        tail = buffer.strip(_WHITESPACE)
        if tail:
            ordinal += 1
            # A missing final terminator is common (and harmless) at the very end of a file.
            yield self._segment(ordinal, tail.split(sep), tail, sep)

    def _check_length(self, text: str, ordinal: int) -> None:
        if len(text) > MAX_SEGMENT_CHARS:
            raise X12Error(
                f"segment is longer than {MAX_SEGMENT_CHARS:,} characters (no segment "
                f"terminator {self.delimiters.segment!r}?); not read further",
                file=self.name,
                segment=ordinal,
            )

    def _segment(self, ordinal: int, elements: list[str], text: str, sep: str) -> Segment:
        elements[0] = elements[0].strip(_WHITESPACE + "\ufeff")
        if not _SEGMENT_ID.fullmatch(elements[0]):
            raise X12Error(_bad_separator(elements[0], sep), file=self.name, segment=ordinal)
        return Segment(ordinal, elements, text)


def split_composite(value: str, component: str | None) -> tuple[list[str], str | None]:
    """Split a composite element such as ``HC:99213:25``.

    Returns the parts and, when the declared component separator was not used but another
    punctuation character sits right after a two-character qualifier (a known sender defect:
    ISA16 ``:`` with ``HC>99213`` in SVC01), the separator actually used, so the caller can warn.
    """
    if component and component in value:
        return value.split(component), None
    if len(value) > 3 and value[:2].isalnum() and value[2] not in _NOT_DELIMITER:
        used = value[2]
        if used != component:
            return value.split(used), used
    return [value], None
