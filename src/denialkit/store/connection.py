"""Opening a database: the SQLite connection whose sums cannot overflow, the
owner-only file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 10 * 60 * 1000  # a large file holds the write lock for minutes

_BIG_SUM = "\x00denialkit-sum:"


class _ExactSum:
    """SUM in Python integers: never overflows. Loaded only after SQLite's SUM overflowed.

    SQLite's SUM fails with "integer overflow" past 2**63; a result that large comes back as
    marked text, turned into a Python int by ``_Connection`` before anyone sees it.
    """

    def __init__(self) -> None:
        self.total: int | float = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is None:
            return
        self.seen = True
        if isinstance(value, int | float):
            self.total += value
        else:
            try:
                self.total += float(value)
            except (TypeError, ValueError):
                pass

    def finalize(self) -> Any:
        if not self.seen:
            return None
        t = self.total
        if isinstance(t, int) and not -(2**63) <= t < 2**63:
            return _BIG_SUM + str(t)
        return t


class _Rows:
    """A SUM query's rows, fetched at once (so an overflow anywhere in them is caught in
    ``execute``), standing in for the cursor."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self._rows = [tuple(map(_unmark, row)) for row in cursor.fetchall()]
        self._i = 0

    def fetchone(self) -> tuple | None:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._i = self._rows[self._i :], len(self._rows)
        return rows

    def fetchmany(self, size: int = 1) -> list[tuple]:
        rows = self._rows[self._i : self._i + size]
        self._i += len(rows)
        return rows

    def __iter__(self) -> Iterator[tuple]:
        while (row := self.fetchone()) is not None:
            yield row


def _unmark(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_BIG_SUM):
        return int(value[len(_BIG_SUM) :])
    return value


class _Connection(sqlite3.Connection):
    """A connection whose report sums cannot overflow.

    Amounts are bounded at intake, but a store written by an older version may hold larger
    ones: a query whose SUM overflows is run again with an exact SUM in Python integers.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        if "SUM(" not in sql.upper():
            return super().execute(sql, parameters)
        try:
            return _Rows(super().execute(sql, parameters))
        except sqlite3.OperationalError as exc:
            if "integer overflow" not in str(exc):
                raise
        self.create_aggregate("SUM", 1, _ExactSum)  # type: ignore[arg-type]
        return _Rows(super().execute(sql, parameters))


def _create_private_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
