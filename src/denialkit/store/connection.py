"""Opening a database: the SQLite connection whose sums cannot overflow, the
owner-only file."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..settings import redact

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

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._i = self._rows[self._i :], len(self._rows)
        return rows

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self._rows[self._i : self._i + size]
        self._i += len(rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
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

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        if "SUM(" not in sql.upper():
            return super().execute(sql, parameters)
        try:
            return _Rows(super().execute(sql, parameters))
        except sqlite3.OperationalError as exc:
            if "integer overflow" not in str(exc):
                raise
        self.create_aggregate("SUM", 1, _ExactSum)
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


def is_postgres(target: object) -> bool:
    """A libpq URL (``postgresql://`` or ``postgres://``) names a PostgreSQL database."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class _PgCursor:
    """A psycopg cursor that answers like sqlite3's (``lastrowid`` is None: use RETURNING)."""

    lastrowid = None

    def __init__(self, cursor: Any) -> None:
        self._cur = cursor

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchmany(self, size: int = 1) -> list[Any]:
        return list(self._cur.fetchmany(size))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)


class PgConnection:
    """A psycopg 3 connection in autocommit mode (the store says BEGIN and COMMIT itself, as
    with SQLite), taking the store's SQL in SQLite's spelling (see ``dialect.translate``)."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from psycopg.adapt import Loader
        except ImportError:
            raise StoreError(
                "a postgresql:// database needs psycopg: pip install 'denialkit[pg]'"
            ) from None

        from .dialect import POSTGRESQL

        class _Numeric(Loader):
            # SUM over BIGINT is NUMERIC in PostgreSQL: whole numbers come back as int, as
            # SQLite gives them (money is cents); others as Decimal (never float).
            def load(self, data: Any) -> Any:
                text = bytes(data).decode()
                if "." in text or "e" in text.lower() or text in ("NaN", "Infinity", "-Infinity"):
                    from decimal import Decimal

                    return Decimal(text)
                return int(text)

        self.dialect = POSTGRESQL
        self.url = redact(url)
        try:
            self.raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            # libpq's message names host and user, never the password.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to {self.url}: {first}") from None
        self.raw.adapters.register_loader("numeric", _Numeric)
        self.Error = psycopg.Error
        # No JIT compilation: the reports' aggregates over a million rows cross its cost
        # threshold and each spent about 0.1 s compiling, more than it saved (the summary on
        # a million denials: 4.87-5.02 s -> 4.58-4.73 s in process, alternate runs); nothing
        # else here runs long enough to gain from it.
        try:
            self.raw.execute("SET jit = off")
        except psycopg.Error:  # a server from before JIT (PostgreSQL 10) has no such setting
            pass

    def execute(self, sql: str, parameters: Any = ()) -> _PgCursor:
        cur = self.raw.cursor()
        cur.execute(self.dialect.translate(sql), parameters if parameters is not None else ())
        return _PgCursor(cur)

    def executemany(self, sql: str, seq: Any) -> _PgCursor:
        cur = self.raw.cursor()
        rows = list(seq)
        if rows:
            cur.executemany(self.dialect.translate(sql), rows)
        return _PgCursor(cur)

    def copy_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Bulk load with COPY (inside the current transaction)."""
        cols = ", ".join(f'"{c}"' for c in columns)
        with self.raw.cursor() as cur:
            with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)

    def close(self) -> None:
        self.raw.close()
