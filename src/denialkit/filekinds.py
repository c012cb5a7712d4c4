"""What kind of X12 file this is, before it is read as a remittance.

An X12 interchange names its transactions in ST01 (and its functional group in GS01): a file
of 837 claims, 999 acknowledgments or 277 claim statuses begins with ISA just like an 835.
This is the one place that tells them apart; intake refuses anything that holds no 835, and
says what it is instead (``837 claim file: not a remittance; nothing stored``). When other
transactions get their own intake, this is where a file is routed to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REMITTANCE = "835"
CLAIMS = "837 claim file"
KINDS = {
    "835": "835 remittance",
    "837": "837 claim file",
    "999": "999 acknowledgment",
    "997": "997 acknowledgment",
    "277": "277 claim status file",
    "276": "276 claim status request",
    "270": "270 eligibility inquiry",
    "271": "271 eligibility response",
    "278": "278 authorization request",
    "834": "834 enrollment file",
    "820": "820 premium payment",
}
HEAD = 256 * 1024  # ST follows ISA and GS at once; a quarter megabyte is more than enough
_ISA = re.compile(rb"ISA(.)")


def transaction_sets(head: bytes) -> list[str]:
    """ST01 of every transaction that begins in ``head`` (the start of a file)."""
    m = _ISA.search(head[:1024])
    if m is None:
        return []
    sep = re.escape(m.group(1))
    return [x.decode("ascii") for x in re.findall(rb"(?:^|[^A-Z0-9])ST" + sep + rb"(\w{3})", head)]


def describe(path: str | os.PathLike[str]) -> str | None:
    """ "837 claim file", "835 remittance" ...; None when the file shows no ST segment."""
    with open(path, "rb") as f:
        sets = transaction_sets(f.read(HEAD))
    if not sets:
        return None
    if REMITTANCE in sets:
        return KINDS[REMITTANCE]
    return KINDS.get(sets[0], f"X12 {sets[0]} file")


def not_a_remittance(path: str | os.PathLike[str]) -> str | None:
    """What the file is when it is an X12 file with transactions but none of them an 835;
    None for a remittance, or for anything the parser should judge (no envelope found)."""
    kind = describe(Path(path))
    if kind is None or kind == KINDS[REMITTANCE]:
        return None
    return kind
