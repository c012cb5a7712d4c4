"""The store: one object over one database, whichever engine answers."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..claims837_store import ClaimsStore
from ..errors import NoDatabase, StoreError
from .connection import (
    BUSY_TIMEOUT_MS,
    PgConnection,
    _Connection,
    _create_private_file,
    is_postgres,
)
from .denials import DenialsMixin
from .dialect import LOCK_NIGHTLY, POSTGRESQL, SQLITE
from .queries import QueryMixin
from .reports import ReportMixin
from .schema import SchemaMixin
from .writer import IntakeMixin


class Store(SchemaMixin, IntakeMixin, DenialsMixin, QueryMixin, ReportMixin, ClaimsStore):
    """A denialkit database.

    ``Store(path)`` opens a SQLite file (creating it owner-only if needed);
    ``Store("postgresql://user@host/db")`` a PostgreSQL database (any libpq URL; the password
    from ``PGPASSWORD`` or ``~/.pgpass``, never shown); ``Store.memory()`` gives a throw-away
    in-memory store for tests and experiments. With ``create=False`` a database without the
    denialkit tables is an error instead of being set up.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        self._db: Any = None
        self._in_tx = False
        if is_postgres(path):
            self.path = None
            self.conn: Any = PgConnection(str(path))
            self.url = self.conn.url
            self.dialect = POSTGRESQL
            self._errors: tuple[type[BaseException], ...] = (self.conn.Error,)
            if not create and not self._has_tables():
                self.conn.close()
                raise NoDatabase(str(self.url), engine="postgresql")
            self.migrate()
            return
        self.dialect = SQLITE
        self._errors = (sqlite3.DatabaseError,)
        self.path = None if path is None else Path(path)
        self.url = None if self.path is None else os.fspath(self.path)
        try:
            if self.path is None:
                conn = sqlite3.connect(":memory:", isolation_level=None, factory=_Connection)
            else:
                _create_private_file(self.path)
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    factory=_Connection,
                )
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL loses at most the last commits on power loss, never
                # corrupts; FULL would fsync every file's commit.
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open database {os.fspath(path or ':memory:')}: {exc}"
            ) from None
        self.conn = conn
        self.migrate()

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.dialect.name

    def _has_tables(self) -> bool:
        return "meta" in {r[0] for r in self.conn.execute(self.dialect.tables_sql())}

    @classmethod
    def memory(cls) -> Store:
        return cls(None)

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> Store:
        """Open a database that must exist already (every command but ``ingest`` and
        ``nightly``): a mistyped path is an error, not a new empty database."""
        if is_postgres(path):
            return cls(path, create=False)
        p = Path(path)
        if not p.is_file():
            raise NoDatabase(os.fspath(p))
        return cls(p)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def durable_commits(self) -> Iterator[None]:
        """Every commit inside is on disk when it returns (``synchronous = FULL``: the WAL is
        fsynced at each commit), so a file may be moved away as soon as its rows are stored."""
        if self.path is None:
            yield
            return
        self.conn.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            self.conn.execute("PRAGMA synchronous = NORMAL")

    _LOCKS = {"nightly": LOCK_NIGHTLY}
    _grown = 0  # rows written since the planner's statistics were last refreshed
    _grown_at = 20_000  # refresh when that many (doubling: a few times per large file)

    _tx_rows = 0  # rows intake wrote in the current transaction
    # A transaction that wrote this many rows is a large load: once committed, the store is
    # settled (PostgreSQL: vacuumed and analyzed) so that the next command is fast at once.
    SETTLE_ROWS = 50_000

    def grew(self, rows: int) -> None:
        """Intake wrote ``rows`` rows: keep the planner's statistics in step."""
        self._tx_rows += rows
        self._grown += rows
        if self._grown >= self._grown_at:
            self.dialect.refresh_statistics(self.conn)
            self._grown, self._grown_at = 0, self._grown_at * 2

    def try_lock(self, what: str) -> bool:
        """A lock held by this connection until ``unlock`` (or until it ends, even by a
        crash), without waiting: PostgreSQL's advisory lock. SQLite has none (True): its
        callers lock a file beside the database instead."""
        return self.dialect.try_lock(self.conn, self._LOCKS[what])

    def unlock(self, what: str) -> None:
        self.dialect.unlock(self.conn, self._LOCKS[what])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE: take the write lock now, wait if busy)."""
        if self._in_tx:
            yield
            return
        self.conn.execute(self.dialect.begin_write)
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
            if self._tx_rows >= self.SETTLE_ROWS:
                self.dialect.settle(self.conn)
        finally:
            self._in_tx = False
            self._tx_rows = 0
