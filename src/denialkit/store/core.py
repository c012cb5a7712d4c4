"""The store: one object over one database, whichever engine answers."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .connection import BUSY_TIMEOUT_MS, _Connection, _create_private_file
from .denials import DenialsMixin
from .queries import QueryMixin
from .reports import ReportMixin
from .schema import SchemaMixin
from .writer import IntakeMixin


class Store(SchemaMixin, IntakeMixin, DenialsMixin, QueryMixin, ReportMixin):
    """A denialkit database.

    ``Store(path)`` opens (creating it owner-only if needed); ``Store.memory()`` gives a
    throw-away in-memory store for tests and experiments.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
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
        self._db: Any = None
        self._in_tx = False
        self.migrate()

    @classmethod
    def memory(cls) -> Store:
        return cls(None)

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> Store:
        """Open a database that must exist already (every command but ``ingest`` and
        ``nightly``): a mistyped path is an error, not a new empty database."""
        p = Path(path)
        if not p.is_file():
            raise StoreError(
                f"no denialkit database at {os.fspath(p)} (run 'denialkit ingest' first, "
                "or set --db / DENIALKIT_DB / db in config)"
            )
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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE: take the write lock now, wait if busy)."""
        if self._in_tx:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_tx = False
