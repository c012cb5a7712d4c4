"""What every part of the store shares: money in cents, the status words its SQL
builds ``IN (...)`` lists from, placeholders and chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..vocabulary import Status


def to_cents(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int | None) -> Decimal | None:
    if cents is None:
        return None
    return Decimal(cents) / 100


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# The status sets the SQL builds its IN (...) lists from (defined in ``vocabulary.Status``).
OPEN_STATUSES = Status.OPEN
WAITING_STATUSES = Status.WAITING
DECIDED_STATUSES = Status.DECIDED
QUEUE_ORDER = "d.tier_order, COALESCE(d.follow_up, d.deadline, '9999-12-31'), d.ev_cents DESC, d.id"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _words(values: Sequence[str]) -> str:
    """Vocabulary words (``Status.WAITING`` ...) as SQL literals for an ``IN (...)`` list
    whose parameters are already numbered; only ever our own lower-case words."""
    assert all(v.replace("_", "").isalpha() and v.islower() for v in values), values
    return ", ".join(f"'{v}'" for v in values)


def _chunks(values: Sequence[Any], size: int = 400) -> Iterator[list[Any]]:
    """Pieces small enough for one ``IN (...)`` (SQLite limits bound parameters)."""
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


# How a user names a payer on the command line: part of its name, its id, or its REF*2U.
_PAYER_MATCH = "name LIKE ? OR identifier = ? OR ref_2u = ?"


# How a user names a client practice (the payee, N1*PE): its NPI or other N104 id, its tax id
# (REF*TJ), or part of its name.
_PRACTICE_MATCH = "identifier = ? OR tax_id = ? OR name LIKE ?"


def _practice_params(practice: str) -> list[str]:
    value = practice.strip()
    return [value, value, f"%{value}%"]


def _payer_params(payer: str) -> list[str]:
    return [f"%{payer}%", payer, payer]


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(f"[{c}]" for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO [{table}] ({cols}) VALUES ({marks})"  # noqa: S608 - names are ours


def claim_key(*parts: Any) -> int:
    """A signed 64-bit key for (payer id, CLP01, member id, last, first, date of service): the
    same claim across its adjudications (stable across processes, unlike ``hash``)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )
