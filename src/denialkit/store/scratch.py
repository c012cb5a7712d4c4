"""Scratch files: one 835 file's claim rows, written by the worker process that parsed it, for
the storing process to copy into the store in SQL (``INSERT … SELECT``) instead of row by row.

Why: binding a million rows from Python costs the storing process more than parsing them does
(measured on the rich benchmark file, 100,000 claims: ``executemany`` 4.4 s, the same rows
copied from an attached file 1.3 s). Workers parse and write in parallel; the one process that
may write the store only copies. Ids in a scratch file are the worker's own, from 1; the copy
adds each table's offset and sets the remittance, the payer and what needs the store (the claim
key holds the payer's id; the first adjudication looks at claims stored before).

A scratch file holds PHI: it is created owner-only in a private folder and deleted as soon as
it is copied (or the file fails).
"""

from __future__ import annotations

import functools
import os
import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connection import _create_private_file
from .schema import _TABLES
from .sql import _insert_sql

# The tables intake writes claims into, with their columns in the order rows are built.
CLAIM_TABLES = (
    "claims",
    "claim_names",
    "service_lines",
    "adjustments",
    "remarks",
    "refs",
    "amounts",
    "quantities",
)
_INSERT_COLUMNS = {t: list(_TABLES[t]["columns"]) for t in CLAIM_TABLES}

# Claim rows as the store has them, then the raw text and the denial inputs of each batch.
_EXTRA = {"raw_text": ["tx", "chunk", "text"], "facts": ["tx", "seq", "data"]}
TABLES = [*_INSERT_COLUMNS, *_EXTRA]


@dataclass
class TxRows:
    """Where one transaction's rows are in a scratch file: its first ids (claim, line,
    adjustment) and, per table, the rowids from and to (rows are only ever appended).
    ``source``: which of the attached scratch files (a large file's transactions are shared
    among several workers, each writing its own)."""

    first_ids: tuple[int, int, int]
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    source: int = 0

    @property
    def schema(self) -> str:
        return scratch_schema(self.source)


def scratch_schema(source: int) -> str:
    """The name a scratch file is attached under (ours: safe to put in SQL)."""
    return f"scratch{int(source)}"


class Scratch:
    """A scratch file being written (in the worker). Nothing is synced: a worker that dies
    leaves a file nobody reads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        _create_private_file(self.path)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("BEGIN")
        self.sql: dict[str, str] = {}
        for table, columns in {**_INSERT_COLUMNS, **_EXTRA}.items():
            cols = ", ".join(f"[{c}]" for c in columns)
            self.conn.execute(f"CREATE TABLE [{table}] ({cols})")
            self.sql[table] = _insert_sql(table, columns)
        self.counts = dict.fromkeys(TABLES, 0)

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        """Append rows (table -> tuples in the store's column order); the lists are emptied."""
        for table, batch in rows.items():
            if batch:
                self.conn.executemany(self.sql[table], batch)
                self.counts[table] += len(batch)
                batch.clear()

    def raw_text(self, tx: int, chunk: int, text: str) -> None:
        self.write({"raw_text": [(tx, chunk, text)]})

    def facts(self, tx: int, seq: int, data: object) -> None:
        """One batch's denial inputs, pickled (read back only by ``scratch_facts``)."""
        self.write({"facts": [(tx, seq, pickle.dumps(data, pickle.HIGHEST_PROTOCOL))]})

    def mark(self) -> dict[str, int]:
        """Rows written so far, per table: where the next transaction's rows begin."""
        return dict(self.counts)

    def ranges(self, since: dict[str, int]) -> dict[str, tuple[int, int]]:
        """Rowids written after ``mark()`` returned ``since``, per table."""
        return {t: (since[t] + 1, self.counts[t]) for t in TABLES if self.counts[t] > since[t]}

    def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


def scratch_facts(conn: Any, tx: int, rows: TxRows) -> Iterator[Any]:
    """The denial inputs of one transaction, batch by batch, from its attached scratch file.
    Unpickling is safe here: the file was written by our own worker, in a folder only this
    user can open, and it never outlives the run."""
    sql = f"SELECT data FROM {rows.schema}.facts WHERE tx = ? ORDER BY seq"  # noqa: S608
    for (data,) in conn.execute(sql, (tx,)):
        yield pickle.loads(data)


# What a copied row's columns become: an offset added (ids), or the store's own value.
_OFFSET = {"claim_id": "claim", "line_id": "line"}
_OWN_ID = {"claims": "claim", "service_lines": "line", "adjustments": "adj"}


@functools.cache
def copy_sql(table: str, schema: str) -> tuple[str, list[str]]:
    """``INSERT … SELECT`` for one table from the attached scratch file, and the names of its
    parameters in order (offsets ``claim``, ``line``, ``adj``; ``remittance_id``, ``payer_id``;
    the rowids ``from`` and ``to``). Claims join the temporary ``scratch_keys`` for their key
    and first-adjudication mark."""
    columns = _INSERT_COLUMNS[table]
    exprs: list[str] = []
    params: list[str] = []
    for c in columns:
        if c == "id":
            exprs.append("s.[id] + ?")
            params.append(_OWN_ID[table])
        elif c in _OFFSET:
            exprs.append(f"s.[{c}] + ?")
            params.append(_OFFSET[c])
        elif table == "claims" and c in ("remittance_id", "payer_id"):
            exprs.append("?")
            params.append(c)
        elif table == "claims" and c in ("claim_key", "first_adj"):
            exprs.append(f"k.[{c}]")
        else:
            exprs.append(f"s.[{c}]")
    join = " JOIN temp.scratch_keys k ON k.id = s.id" if table == "claims" else ""
    cols = ", ".join(f"[{c}]" for c in columns)
    sql = (
        f"INSERT INTO main.[{table}] ({cols}) SELECT {', '.join(exprs)} "  # noqa: S608
        f"FROM {schema}.[{table}] s{join} WHERE s.rowid BETWEEN ? AND ? ORDER BY s.rowid"
    )
    return sql, [*params, "from", "to"]
