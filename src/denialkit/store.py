"""The SQLite store: the only module that speaks SQL.

Money is stored as integer cents (sqlite-utils would turn ``Decimal`` into REAL) and converted
at this boundary; quantities and other exact numbers as decimal text; dates as ISO text. Every
statement is parameterized.

A file is stored in one ``BEGIN IMMEDIATE`` transaction: whole or not at all, and two ingests
started at once take turns (WAL mode, busy timeout) instead of failing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .claims837_store import ClaimsStore
from .errors import NotFound, StoreError

if TYPE_CHECKING:  # names for annotations only: reading the queue does not load the parser
    from .era import Claim, Issue, Party, ProviderAdjustment, RemittanceEnd, RemittanceHeader

# 4: denial judgments (payer class, levels, deadline basis, follow-up), claim keys, dates of
# service and line counts, remittances.content_sha256 (duplicates by content)
SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 10 * 60 * 1000  # a large file holds the write lock for minutes
BATCH_CLAIMS = 2000


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


_TABLES: dict[str, dict[str, Any]] = {
    "meta": {"columns": {"key": str, "value": str}, "pk": "key"},
    "files": {
        "columns": {
            "id": int,
            "name": str,
            "path": str,
            "size": int,
            "sha256": str,
            "ingested_at": str,
            "transactions": int,
            "claims": int,
            "warnings": int,
        },
        "pk": "id",
    },
    "payers": {
        "columns": {
            "id": int,
            "key": str,
            "name": str,
            "id_qualifier": str,
            "identifier": str,
            "ref_2u": str,
            "address": str,
            "city": str,
            "state": str,
            "postal_code": str,
            "contacts": str,
        },
        "pk": "id",
    },
    "payees": {
        "columns": {
            "id": int,
            "key": str,
            "name": str,
            "id_qualifier": str,
            "identifier": str,
            "tax_id": str,
            "address": str,
            "city": str,
            "state": str,
            "postal_code": str,
            "refs": str,
        },
        "pk": "id",
    },
    "remittances": {
        "columns": {
            "id": int,
            "file_id": int,
            "transaction_no": int,
            "segment": int,
            "payer_id": int,
            "payee_id": int,
            "st_control": str,
            "implementation": str,
            "isa_sender": str,
            "isa_receiver": str,
            "isa_date": str,
            "isa_control": str,
            "isa_version": str,
            "usage": str,
            "gs_sender": str,
            "gs_receiver": str,
            "gs_date": str,
            "gs_control": str,
            "gs_version": str,
            "handling_code": str,
            "payment_cents": int,
            "credit_debit": str,
            "payment_method": str,
            "payment_format": str,
            "payment_date": str,
            "trace_type": str,
            "trace_number": str,
            "trace_originator": str,
            "trace_reference": str,
            "production_date": str,
            "notice_date": str,
            "currency": str,
            "refs": str,
            "segment_count": int,
            "claim_count": int,
            "total_charge_cents": int,
            "total_paid_cents": int,
            "plb_total_cents": int,
            "content_sha256": str,
        },
        "pk": "id",
    },
    "raw_text": {
        "columns": {"remittance_id": int, "chunk": int, "text": str},
        "pk": ("remittance_id", "chunk"),
    },
    "claims": {
        "columns": {
            "id": int,
            "remittance_id": int,
            "payer_id": int,
            "segment": int,
            "lx": str,
            "patient_control": str,
            "status": str,
            "charge_cents": int,
            "paid_cents": int,
            "patient_resp_cents": int,
            "filing_indicator": str,
            "payer_claim_id": str,
            "facility_type": str,
            "frequency": str,
            "drg": str,
            "drg_weight": str,
            "patient_last": str,
            "patient_first": str,
            "patient_id": str,
            "insured_last": str,
            "insured_first": str,
            "insured_id": str,
            "rendering_name": str,
            "rendering_id": str,
            "statement_from": str,
            "statement_to": str,
            "received_date": str,
            "coverage_expiration": str,
            "service_date": str,
            # The claim's date of service (its first line's, else the claim's own) and its
            # number of lines: what the initial denial rate counts, kept at intake.
            "dos": str,
            "line_count": int,
            # Which claim this is, across adjudications: payer, CLP01, patient, date of service
            # (``claim_key``); the first adjudication is the one the denial rate counts.
            "claim_key": int,
            "first_adj": int,  # 1: this claim's first adjudication (not a reversal)
        },
        "pk": "id",
    },
    "claim_names": {
        "columns": {
            "claim_id": int,
            "entity": str,
            "last": str,
            "first": str,
            "middle": str,
            "suffix": str,
            "id_qualifier": str,
            "identifier": str,
        }
    },
    "service_lines": {
        "columns": {
            "id": int,
            "claim_id": int,
            "segment": int,
            "line_no": int,
            "procedure_qualifier": str,
            "procedure": str,
            "modifiers": str,
            "description": str,
            "charge_cents": int,
            "paid_cents": int,
            "revenue_code": str,
            "units": str,
            "original_qualifier": str,
            "original_procedure": str,
            "original_modifiers": str,
            "original_units": str,
            "date_from": str,
            "date_to": str,
            "line_control": str,
            "allowed_cents": int,
        },
        "pk": "id",
    },
    "adjustments": {
        "columns": {
            "id": int,
            "claim_id": int,
            "line_id": int,
            "group_code": str,
            "reason": str,
            "amount_cents": int,
            "quantity": str,
            "segment": int,
        },
        "pk": "id",
    },
    "remarks": {
        "columns": {"claim_id": int, "line_id": int, "source": str, "qualifier": str, "code": str}
    },
    "refs": {"columns": {"claim_id": int, "line_id": int, "qualifier": str, "value": str}},
    "amounts": {"columns": {"claim_id": int, "line_id": int, "qualifier": str, "value": str}},
    "quantities": {"columns": {"claim_id": int, "line_id": int, "qualifier": str, "value": str}},
    "provider_adjustments": {
        "columns": {
            "id": int,
            "remittance_id": int,
            "segment": int,
            "provider_id": str,
            "fiscal_date": str,
            "reason": str,
            "reference": str,
            "amount_cents": int,
        },
        "pk": "id",
    },
    "warnings": {
        "columns": {
            "id": int,
            "file_id": int,
            "remittance_id": int,
            "segment": int,
            "message": str,
        },
        "pk": "id",
    },
    "denials": {
        "columns": {
            "id": int,
            "key": str,
            "claim_id": int,
            "line_id": int,
            "remittance_id": int,
            "payer_id": int,
            "patient_control": str,
            "payer_claim_id": str,
            "procedure": str,
            "modifiers": str,
            "line_control": str,
            "service_date": str,
            "carc": str,
            "group_code": str,
            "rarcs": str,
            "reasons": str,
            "category": str,
            "amount_cents": int,
            "received": str,
            "deadline": str,
            "payer_rule": str,
            "prior": float,
            "likelihood": float,
            "score": float,
            "tier": str,
            "breakdown": str,
            "status": str,
            "team": str,
            "assignee": str,
            "template": str,
            "created_at": str,
            "recovered_cents": int,
            "outcome_date": str,
            "tier_order": int,
            "ev_cents": int,
            "appealed_on": str,
            "action": str,
            # Judgments (issue: payer classes, deadlines per action, levels)
            "payer_class": str,
            "class_basis": str,
            "deadline_basis": str,
            "follow_up": str,
            "level": int,
            "level_date": str,
            "note": str,
            # Identity: the claim's date of service and the line's position among the claim's
            # lines with the same procedure, modifiers and date.
            "claim_date": str,
            "position": int,
        },
        "pk": "id",
    },
    # The audit trail: append-only, one row per change of a denial.
    "events": {
        "columns": {
            "id": int,
            "denial_id": int,
            "at": str,
            "actor": str,
            "old_status": str,
            "new_status": str,
            "detail": str,
            "source": str,
        },
        "pk": "id",
    },
}

_INDEXES: list[tuple[str, Sequence[str], bool]] = [
    ("files", ["sha256"], True),
    ("payers", ["key"], True),
    ("payees", ["key"], True),
    ("remittances", ["trace_number", "payer_id"], False),
    ("remittances", ["file_id"], False),
    ("remittances", ["content_sha256"], False),
    ("claims", ["payer_id", "patient_control"], False),
    ("claims", ["payer_claim_id"], False),
    ("claims", ["remittance_id"], False),
    ("claims", ["claim_key"], False),
    ("claim_names", ["claim_id"], False),
    ("service_lines", ["claim_id"], False),
    ("service_lines", ["procedure"], False),
    ("adjustments", ["claim_id"], False),
    ("adjustments", ["line_id"], False),
    ("remarks", ["claim_id"], False),
    ("refs", ["claim_id"], False),
    ("amounts", ["claim_id"], False),
    ("quantities", ["claim_id"], False),
    ("provider_adjustments", ["remittance_id"], False),
    ("warnings", ["file_id"], False),
    ("denials", ["key", "status"], False),
    ("denials", ["payer_id", "procedure", "carc", "received"], False),
    ("denials", ["payer_id", "patient_control"], False),
    ("denials", ["assignee", "status"], False),
    ("denials", ["payer_id", "payer_claim_id"], False),
    ("events", ["denial_id"], False),
]

# Insert statements for the hot path (executemany). Column order = the tuple order below.
_INSERT_COLUMNS = {
    "claims": list(_TABLES["claims"]["columns"]),
    "claim_names": list(_TABLES["claim_names"]["columns"]),
    "service_lines": list(_TABLES["service_lines"]["columns"]),
    "adjustments": list(_TABLES["adjustments"]["columns"]),
    "remarks": list(_TABLES["remarks"]["columns"]),
    "refs": list(_TABLES["refs"]["columns"]),
    "amounts": list(_TABLES["amounts"]["columns"]),
    "quantities": list(_TABLES["quantities"]["columns"]),
}


# 'upheld' is open: upheld at one level, the next level's deadline runs ('exhausted' when
# there is no next level).
OPEN_STATUSES = ("new", "assigned", "appeal_drafted", "appealed", "upheld")
WAITING_STATUSES = ("new", "assigned", "appeal_drafted", "upheld")  # nothing filed yet
DECIDED_STATUSES = ("overturned", "partially_overturned", "upheld", "exhausted")
QUEUE_ORDER = "d.tier_order, COALESCE(d.follow_up, d.deadline, '9999-12-31'), d.ev_cents DESC, d.id"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _chunks(values: Sequence[Any], size: int = 400) -> Iterator[list[Any]]:
    """Pieces small enough for one ``IN (...)`` (SQLite limits bound parameters)."""
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


# How a user names a payer on the command line: part of its name, its id, or its REF*2U.
_PAYER_MATCH = "name LIKE ? OR identifier = ? OR ref_2u = ?"


def _payer_params(payer: str) -> list[str]:
    return [f"%{payer}%", payer, payer]


# The queue's orders; None is the work order (most urgent first). Ties by id: stable pages.
_QUEUE_ORDER = {
    None: QUEUE_ORDER,
    "deadline": "COALESCE(d.follow_up, d.deadline, '9999-12-31'), d.tier_order, d.id",
    "amount": "d.amount_cents DESC, d.id",
    "score": "d.score DESC, d.id",
    "received": "d.received DESC, d.id",
}


def _queue_where(
    statuses: Sequence[str],
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_by: str | None = None,
    *,
    patient: str | None = None,
    member: str | None = None,
    claim: str | None = None,
    carc: str | None = None,
    procedure: str | None = None,
    action: str | Sequence[str] | None = None,
    text: str | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``denials d``, ``payers p``, ``claims c``) of the queue and its
    count. ``patient``: every word in the patient's last or first name (part of it; "smith
    jo" and "Smith, Jo" both find JOHN SMITH). ``member``: the patient's or the insured's
    member id. ``claim``: our claim number (CLP01) or the payer's (CLP07). ``text``: any of
    those, or the denial id. ``action``: one action, or several (the default queue: every
    action but bill_patient)."""
    where = [f"d.status IN ({_marks(statuses)})"]
    params: list[Any] = list(statuses)
    for column, value in (
        ("d.tier", tier),
        ("d.category", category),
        ("d.team", team),
        ("d.assignee", assignee),
        ("d.carc", carc),
        ("d.procedure", procedure),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if payer is not None:
        where.append(f"p.id IN (SELECT id FROM payers WHERE {_PAYER_MATCH})")  # noqa: S608
        params += _payer_params(payer)
    if due_by is not None:
        where.append("COALESCE(d.follow_up, d.deadline) <= ?")
        params.append(due_by)
    if patient is not None:
        name, name_params = _name_match(patient)
        where.append(name)
        params += name_params
    if action is not None:
        actions = [action] if isinstance(action, str) else list(action)
        # Rows from before actions were recorded are appeals.
        where.append(f"COALESCE(d.action, 'appeal') IN ({_marks(actions)})")  # noqa: S608
        params += actions
    if member is not None:
        where.append("(c.patient_id = ? OR c.insured_id = ?)")
        params += [member.strip()] * 2
    if claim is not None:
        where.append("(d.patient_control = ? OR d.payer_claim_id = ?)")
        params += [claim.strip()] * 2
    if text is not None:
        value = text.strip()
        name, name_params = _name_match(value)
        anyof = [name, "c.patient_id = ?", "c.insured_id = ?", "d.patient_control = ?",
                 "d.payer_claim_id = ?"]  # fmt: skip
        params += [*name_params, value, value, value, value]
        if value.isdigit():
            anyof.append("d.id = ?")
            params.append(int(value))
        where.append("(" + " OR ".join(anyof) + ")")
    return " AND ".join(where), params


def _name_match(text: str) -> tuple[str, list[str]]:
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        return "0", []
    # LIKE is case-insensitive for ASCII, as names arrive in NM1 (mostly upper case).
    like = ["%" + w.replace("%", "").replace("_", "") + "%" for w in words]
    sql = " AND ".join("(c.patient_last LIKE ? OR c.patient_first LIKE ?)" for _ in words)
    return f"({sql})", [p for w in like for p in (w, w)]


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(f"[{c}]" for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO [{table}] ({cols}) VALUES ({marks})"  # noqa: S608 - names are ours


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


class Store(ClaimsStore):
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

    # -- schema ---------------------------------------------------------------------------

    @property
    def db(self) -> Any:
        """The sqlite-utils view of the connection, for schema work; imported on first use
        (it costs a tenth of a second, and reading the queue never needs it)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def migrate(self) -> None:
        try:
            existing = {
                r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"not a denialkit database: {exc}") from None
        if existing and "meta" not in existing:
            raise StoreError("not a denialkit database (it has tables but no 'meta' table)")
        if "files" in existing:
            self._upgrade()
            if "submitted_claims" not in existing:
                with self.transaction():
                    self.create_claim_tables()  # submitted (837) claims: new tables only
            return
        with self.transaction():
            for name, spec in _TABLES.items():
                self.db[name].create(spec["columns"], pk=spec.get("pk"), if_not_exists=True)
            for table, cols, unique in _INDEXES:
                self.db[table].create_index(cols, unique=unique, if_not_exists=True)
            # The work queue's order (tier, deadline, expected value) read straight off an index.
            self._queue_index()
            self.create_claim_tables()
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                ("schema_version", str(SCHEMA_VERSION)),
            )

    def _queue_index(self) -> None:
        # The work queue's order (tier, next date, expected value) read straight off an index.
        self.conn.execute("DROP INDEX IF EXISTS idx_denials_queue")
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS idx_denials_next ON denials "
            "(tier_order, COALESCE(follow_up, deadline, '9999-12-31'), ev_cents DESC)"
        )

    def _upgrade(self) -> None:
        """Bring an older database up to this schema: new columns and indexes only (additive)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row and int(row[0]) >= SCHEMA_VERSION:
            return
        with self.transaction():
            for name, spec in _TABLES.items():
                table = self.db[name]
                have = set(table.columns_dict)
                for column, kind in spec["columns"].items():
                    if column not in have:
                        table.add_column(column, kind)
            for table, cols, unique in _INDEXES:
                self.db[table].create_index(cols, unique=unique, if_not_exists=True)
            # Schema 4: denials from before appeal levels are at level 1, noticed on receipt;
            # claims get their date of service and line count.
            self.conn.execute(
                "UPDATE denials SET level = 1, level_date = received WHERE level IS NULL"
            )
            self.conn.execute(
                "UPDATE claims SET line_count = (SELECT COUNT(*) FROM service_lines l "
                "WHERE l.claim_id = claims.id), dos = COALESCE((SELECT MIN(l.date_from) "
                "FROM service_lines l WHERE l.claim_id = claims.id), service_date, "
                "statement_from) WHERE line_count IS NULL"
            )
            self.conn.execute(
                "UPDATE denials SET claim_date = (SELECT dos FROM claims c "
                "WHERE c.id = denials.claim_id) WHERE claim_date IS NULL"
            )
            self.conn.create_function("claim_key", 6, claim_key, deterministic=True)
            self.conn.execute(
                "UPDATE claims SET claim_key = claim_key(payer_id, patient_control, patient_id, "
                "patient_last, patient_first, dos) WHERE claim_key IS NULL"
            )
            self.conn.execute(
                "UPDATE claims SET first_adj = CASE WHEN status = '22' THEN 0 "
                "WHEN EXISTS (SELECT 1 FROM claims b JOIN remittances rb "
                "ON rb.id = b.remittance_id JOIN remittances r ON r.id = claims.remittance_id "
                "WHERE b.claim_key = claims.claim_key AND b.status != '22' AND b.id != claims.id "
                "AND (COALESCE(rb.payment_date, rb.production_date) < "
                "COALESCE(r.payment_date, r.production_date) OR (COALESCE(rb.payment_date, "
                "rb.production_date) = COALESCE(r.payment_date, r.production_date) "
                "AND b.id < claims.id))) THEN 0 ELSE 1 END WHERE first_adj IS NULL"
            )
            self._queue_index()
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                ("schema_version", str(SCHEMA_VERSION)),
            )

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

    # -- intake ---------------------------------------------------------------------------

    def file_by_sha256(self, sha256: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, name, ingested_at FROM files WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return None if row is None else {"id": row[0], "name": row[1], "ingested_at": row[2]}

    def add_file(self, name: str, path: str, size: int, sha256: str) -> int:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        cur = self.conn.execute(
            "INSERT INTO files (name, path, size, sha256, ingested_at, transactions, claims, "
            "warnings) VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
            (name, path, size, sha256, now),
        )
        return int(cur.lastrowid or 0)

    def finish_file(
        self,
        file_id: int,
        transactions: int,
        claims: int,
        warnings: Sequence[Issue],
        remittance_ids: dict[int, int],
    ) -> None:
        self.conn.executemany(
            "INSERT INTO warnings (file_id, remittance_id, segment, message) VALUES (?,?,?,?)",
            [
                (file_id, remittance_ids.get(w.transaction or 0), w.segment, w.message)
                for w in warnings
            ],
        )
        self.conn.execute(
            "UPDATE files SET transactions = ?, claims = ?, warnings = ? WHERE id = ?",
            (transactions, claims, len(warnings), file_id),
        )

    def _party_id(self, table: str, key: str, values: dict[str, Any]) -> int:
        row = self.conn.execute(
            f"SELECT id FROM [{table}] WHERE key = ?",  # noqa: S608
            (key,),
        ).fetchone()
        if row:
            return int(row[0])
        cols = ["key", *values]
        cur = self.conn.execute(_insert_sql(table, cols), (key, *values.values()))
        return int(cur.lastrowid or 0)

    def payer_id(self, header: RemittanceHeader) -> int:
        p: Party = header.payer
        return self._party_id(
            "payers",
            header.payer_key,
            {
                "name": p.name,
                "id_qualifier": p.id_qualifier,
                "identifier": p.id,
                "ref_2u": p.ref("2U"),
                "address": p.address,
                "city": p.city,
                "state": p.state,
                "postal_code": p.postal_code,
                "contacts": json.dumps(p.contacts),
            },
        )

    def payee_id(self, header: RemittanceHeader) -> int:
        p = header.payee
        key = f"{p.id_qualifier}:{p.id}" if p.id else f"name:{' '.join(p.name.upper().split())}"
        return self._party_id(
            "payees",
            key,
            {
                "name": p.name,
                "id_qualifier": p.id_qualifier,
                "identifier": p.id,
                "tax_id": p.ref("TJ"),
                "address": p.address,
                "city": p.city,
                "state": p.state,
                "postal_code": p.postal_code,
                "refs": json.dumps(p.refs),
            },
        )

    def find_remittance(
        self,
        payer_id: int,
        trace_number: str,
        payment_cents: int,
        content_sha256: str | None = None,
    ) -> tuple[int, str | None] | None:
        """An earlier remittance this one may repeat: ``(id, why it is a duplicate)``.

        With ``content_sha256``, a remittance with the same content is a duplicate. Otherwise an
        earlier one with the same payer, TRN02 and BPR02 is returned: a duplicate when it was
        stored before content was recorded (schema 3: it cannot be compared, so the old rule
        holds), else ``(id, None)``: a different remittance, to store with a warning.
        """
        if content_sha256:
            row = self.conn.execute(
                "SELECT id FROM remittances WHERE content_sha256 = ? LIMIT 1", (content_sha256,)
            ).fetchone()
            if row is not None:
                return int(row[0]), "same content"
        if not trace_number:
            return None
        row = self.conn.execute(
            "SELECT id, content_sha256 IS NULL FROM remittances WHERE trace_number = ? AND "
            "payer_id = ? AND payment_cents = ? ORDER BY content_sha256 IS NULL DESC LIMIT 1",
            (trace_number, payer_id, payment_cents),
        ).fetchone()
        if row is None:
            return None
        legacy = "same payer, TRN02 and BPR02; stored before content was compared"
        return int(row[0]), legacy if row[1] else None

    def add_remittance(
        self,
        file_id: int,
        header: RemittanceHeader,
        payer_id: int,
        payee_id: int,
        content_sha256: str | None = None,
    ) -> int:
        h = header
        values = {
            "content_sha256": content_sha256,
            "file_id": file_id,
            "transaction_no": h.transaction,
            "segment": h.segment,
            "payer_id": payer_id,
            "payee_id": payee_id,
            "st_control": h.st_control,
            "implementation": h.implementation,
            "isa_sender": h.isa_sender,
            "isa_receiver": h.isa_receiver,
            "isa_date": h.isa_date,
            "isa_control": h.isa_control,
            "isa_version": h.isa_version,
            "usage": h.usage,
            "gs_sender": h.gs_sender,
            "gs_receiver": h.gs_receiver,
            "gs_date": h.gs_date,
            "gs_control": h.gs_control,
            "gs_version": h.gs_version,
            "handling_code": h.handling_code,
            "payment_cents": to_cents(h.payment_amount),
            "credit_debit": h.credit_debit,
            "payment_method": h.payment_method,
            "payment_format": h.payment_format,
            "payment_date": h.payment_date,
            "trace_type": h.trace_type,
            "trace_number": h.trace_number,
            "trace_originator": h.trace_originator,
            "trace_reference": h.trace_reference,
            "production_date": h.production_date,
            "notice_date": h.notice_date,
            "currency": h.currency,
            "refs": json.dumps(h.refs),
        }
        cur = self.conn.execute(_insert_sql("remittances", list(values)), tuple(values.values()))
        return int(cur.lastrowid or 0)

    def finish_remittance(self, remittance_id: int, end: RemittanceEnd) -> None:
        self.conn.execute(
            "UPDATE remittances SET segment_count = ?, claim_count = ?, total_charge_cents = ?,"
            " total_paid_cents = ?, plb_total_cents = ? WHERE id = ?",
            (
                end.segment_count,
                end.claim_count,
                to_cents(end.total_charge),
                to_cents(end.total_paid),
                to_cents(end.plb_total),
                remittance_id,
            ),
        )

    def add_raw_text(self, remittance_id: int, chunk: int, text: str) -> None:
        self.conn.execute(
            "INSERT INTO raw_text (remittance_id, chunk, text) VALUES (?, ?, ?)",
            (remittance_id, chunk, text),
        )

    def add_provider_adjustment(self, remittance_id: int, adj: ProviderAdjustment) -> None:
        self.conn.execute(
            "INSERT INTO provider_adjustments (remittance_id, segment, provider_id, "
            "fiscal_date, reason, reference, amount_cents) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                remittance_id,
                adj.segment,
                adj.provider_id,
                adj.fiscal_date,
                adj.reason,
                adj.reference,
                to_cents(adj.amount),
            ),
        )

    def next_ids(self) -> tuple[int, int, int]:
        """The next free claim, line and adjustment ids (inside the write transaction)."""
        q = "SELECT COALESCE(MAX(id), 0) + 1 FROM [{}]"
        return tuple(  # type: ignore[return-value]
            int(self.conn.execute(q.format(t)).fetchone()[0])
            for t in ("claims", "service_lines", "adjustments")
        )

    def claim_writer(
        self, remittance_id: int, payer_id: int, date: str | None = None
    ) -> ClaimWriter:
        return ClaimWriter(self, remittance_id, payer_id, date)

    def first_adjudications(self, keys: set[int]) -> dict[int, tuple[int, str]]:
        """Claims marked as the first adjudication of these claim keys: key -> (id, date)."""
        out: dict[int, tuple[int, str]] = {}
        for part in _chunks(sorted(keys)):
            for key, cid, date in self.conn.execute(
                "SELECT c.claim_key, c.id, COALESCE(r.payment_date, r.production_date, "  # noqa: S608
                "'9999-12-31') FROM claims c JOIN remittances r ON r.id = c.remittance_id "
                f"WHERE c.claim_key IN ({_marks(part)}) AND c.first_adj = 1",
                part,
            ):
                out[key] = (cid, date)
        return out

    # -- reading --------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict]:
        """Rows as dicts. For the store's own modules and tests; keep SQL here."""
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def iter_query(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> Iterator[dict[str, Any]]:
        """Rows as dicts, one at a time (flat memory for exports of any size)."""
        cur = self.conn.execute(sql, params)
        cols = [c[0] for c in cur.description]
        for row in cur:
            yield dict(zip(cols, row, strict=True))

    def count(self, table: str) -> int:
        return self.db[table].count

    def raw_text(self, remittance_id: int) -> str:
        rows = self.conn.execute(
            "SELECT text FROM raw_text WHERE remittance_id = ? ORDER BY chunk", (remittance_id,)
        ).fetchall()
        return "".join(r[0] for r in rows)

    def totals(self) -> dict[str, Any]:
        """Whole-store totals (exact), for checks and the README."""
        one = self.conn.execute
        return {
            "files": one("SELECT COUNT(*) FROM files").fetchone()[0],
            "remittances": one("SELECT COUNT(*) FROM remittances").fetchone()[0],
            "claims": one("SELECT COUNT(*) FROM claims").fetchone()[0],
            "service_lines": one("SELECT COUNT(*) FROM service_lines").fetchone()[0],
            "total_charge": from_cents(
                one("SELECT COALESCE(SUM(charge_cents), 0) FROM claims").fetchone()[0]
            ),
            "total_paid": from_cents(
                one("SELECT COALESCE(SUM(paid_cents), 0) FROM claims").fetchone()[0]
            ),
        }

    # -- denials --------------------------------------------------------------------------

    def reverse_open_denials(
        self, payer_id: int, patient_control: str, payer_claim_id: str, source: str, at: str
    ) -> int:
        """A CLP02=22 reversal: the payer withdrew the earlier adjudication of this claim, so
        its open denials leave the queue (the corrected claim is judged on its own)."""
        params: list[Any] = [payer_id, patient_control, *OPEN_STATUSES]
        sql = (
            "SELECT id, status FROM denials WHERE payer_id = ? AND patient_control = ? "  # noqa: S608
            f"AND status IN ({_marks(OPEN_STATUSES)})"
        )
        if payer_claim_id:
            sql += " AND payer_claim_id = ?"
            params.append(payer_claim_id)
        rows = self.conn.execute(sql, params).fetchall()
        for denial_id, status in rows:
            self._event(
                denial_id,
                at,
                "denialkit",
                status,
                "reversed",
                "payer reversed the claim (CLP02=22)",
                source,
            )
        self.conn.executemany(
            "UPDATE denials SET status = 'reversed' WHERE id = ?", [(r[0],) for r in rows]
        )
        return len(rows)

    def open_denials_like(
        self, payer_id: int, payer_claim_ids: Sequence[str], patient_controls: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Open denials of this payer whose claim has one of these CLP07s or CLP01s, with what
        identity matching needs (the caller decides; CLP01 alone never matches)."""
        out: dict[int, dict[str, Any]] = {}
        cols = (
            "SELECT d.id, d.status, d.remittance_id, d.payer_claim_id, d.patient_control, "
            "d.claim_date, d.line_id, d.line_control, d.procedure, d.modifiers, "
            "d.service_date, d.position, c.patient_id, c.patient_last, c.patient_first "
            "FROM denials d JOIN claims c ON c.id = d.claim_id "
        )
        for column, values in (
            ("d.payer_claim_id", [v for v in dict.fromkeys(payer_claim_ids) if v]),
            ("d.patient_control", [v for v in dict.fromkeys(patient_controls) if v]),
        ):
            for part in _chunks(values):
                for r in self.query(
                    f"{cols}WHERE d.payer_id = ? AND {column} IN ({_marks(part)}) "  # noqa: S608
                    f"AND d.status IN ({_marks(OPEN_STATUSES)})",
                    [payer_id, *part, *OPEN_STATUSES],
                ):
                    out[r["id"]] = r
        return [out[k] for k in sorted(out)]

    def note_repeat(self, denial_id: int, at: str, source: str, detail: str = "") -> None:
        status = self.conn.execute(
            "SELECT status FROM denials WHERE id = ?", (denial_id,)
        ).fetchone()[0]
        text = "denied again on a later remittance" + (f": {detail}" if detail else "")
        self._event(denial_id, at, "denialkit", status, status, text, source)

    def insert_denials(self, rows: list[dict[str, Any]], at: str, source: str) -> list[int]:
        if not rows:
            return []
        first = int(self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM denials").fetchone()[0])
        cols = list(rows[0])
        self.conn.executemany(
            _insert_sql("denials", ["id", *cols]),
            [(first + i, *r.values()) for i, r in enumerate(rows)],
        )
        ids = list(range(first, first + len(rows)))
        self.conn.executemany(
            "INSERT INTO events (denial_id, at, actor, old_status, new_status, detail, source) "
            "VALUES (?, ?, 'denialkit', NULL, ?, ?, ?)",
            [
                (
                    i,
                    at,
                    "new",
                    f"found at intake: {r['group_code']}-{r['carc']} ({r['category']})",
                    source,
                )
                for i, r in zip(ids, rows, strict=True)
            ],
        )
        expired = [(i, at) for i, r in zip(ids, rows, strict=True) if r["status"] == "expired"]
        self.conn.executemany(
            "INSERT INTO events (denial_id, at, actor, old_status, new_status, detail, source) "
            "VALUES (?, ?, 'denialkit', 'new', 'expired', 'appeal deadline passed', 'deadline')",
            expired,
        )
        return ids

    def pattern_count(self, payer_id: int, procedure: str, carc: str, since: str) -> int:
        """Denials with this payer, procedure and CARC received on or after ``since``."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM denials WHERE payer_id = ? AND procedure = ? AND carc = ? "
                "AND received >= ? AND status != 'reversed'",
                (payer_id, procedure, carc, since),
            ).fetchone()[0]
        )

    def outcome_stats(self) -> dict[tuple[int, str], tuple[float, int]]:
        """Per payer and CARC: (overturned, decided); a partial overturn counts half. Only
        appeals count: money paid on reprocessing without an appeal says nothing about them."""
        rows = self.conn.execute(
            "SELECT payer_id, carc, SUM(CASE status WHEN 'overturned' THEN 1.0 "  # noqa: S608
            "WHEN 'partially_overturned' THEN 0.5 ELSE 0 END), COUNT(*) FROM denials "
            f"WHERE status IN ({_marks(DECIDED_STATUSES)}) AND appealed_on IS NOT NULL "
            "GROUP BY payer_id, carc",
            DECIDED_STATUSES,
        ).fetchall()
        return {(p, c): (float(o), int(n)) for p, c, o, n in rows}

    def open_counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            f"SELECT assignee, COUNT(*) FROM denials WHERE assignee IS NOT NULL "  # noqa: S608
            f"AND status IN ({_marks(OPEN_STATUSES)}) GROUP BY assignee",
            OPEN_STATUSES,
        ).fetchall()
        return {a: n for a, n in rows}

    def denials_to_triage(self, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Open denials (or these ones) with what triage needs."""
        base = (
            "SELECT d.id, d.payer_id, d.procedure, d.carc, d.amount_cents, d.received, "
            "d.prior, d.status, d.category, d.team, d.assignee, d.patient_control, "
            "d.group_code, d.rarcs, d.modifiers, d.service_date, d.claim_date, d.level, "
            "d.level_date, d.action, d.note, p.name AS payer_name, p.identifier AS payer_identifier, "
            "p.ref_2u, c.filing_indicator, r.trace_originator FROM denials d "
            "JOIN payers p ON p.id = d.payer_id JOIN claims c ON c.id = d.claim_id "
            "JOIN remittances r ON r.id = d.remittance_id "
        )
        if ids is None:
            return self.query(base + f"WHERE d.status IN ({_marks(OPEN_STATUSES)})", OPEN_STATUSES)
        out: list[dict[str, Any]] = []
        for part in _chunks(ids):
            out += self.query(base + f"WHERE d.id IN ({_marks(part)})", part)
        return out

    TRIAGE_FIELDS = (
        "deadline", "deadline_basis", "payer_rule", "payer_class", "class_basis", "likelihood",
        "score", "tier", "tier_order", "ev_cents", "breakdown", "action", "note",
    )  # fmt: skip

    def update_triage(self, rows: Sequence[dict[str, Any]]) -> None:
        """rows: dicts with ``id``, ``follow_up`` and ``TRIAGE_FIELDS``. An appealed denial
        keeps its follow-up date (set when it was submitted)."""
        sets = ", ".join(f"{f} = ?" for f in self.TRIAGE_FIELDS)
        self.conn.executemany(
            f"UPDATE denials SET {sets}, "  # noqa: S608 - names are ours
            "follow_up = CASE WHEN status = 'appealed' THEN follow_up ELSE ? END WHERE id = ?",
            [(*(r[f] for f in self.TRIAGE_FIELDS), r["follow_up"], r["id"]) for r in rows],
        )

    def set_assignment(
        self,
        denial_id: int,
        team: str | None,
        assignee: str | None,
        actor: str,
        source: str,
        at: str,
    ) -> None:
        row = self.conn.execute(
            "SELECT status, assignee FROM denials WHERE id = ?", (denial_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no denial with id {denial_id}")
        status, before = row
        new_status = "assigned" if (assignee and status == "new") else status
        self.conn.execute(
            "UPDATE denials SET team = COALESCE(?, team), assignee = ?, status = ? WHERE id = ?",
            (team, assignee, new_status, denial_id),
        )
        detail = f"assigned to {assignee}" if assignee else "unassigned"
        if before:
            detail += f" (was {before})"
        self._event(denial_id, at, actor, status, new_status, detail, source)

    def expire_overdue(self, today: str, at: str) -> int:
        """Open denials past their deadline, not yet appealed, become 'expired'."""
        waiting = WAITING_STATUSES
        rows = self.conn.execute(
            f"SELECT id, status FROM denials WHERE status IN ({_marks(waiting)}) "  # noqa: S608
            "AND deadline < ?",
            [*waiting, today],
        ).fetchall()
        for denial_id, status in rows:
            self._event(
                denial_id, at, "denialkit", status, "expired", "appeal deadline passed", "deadline"
            )
        self.conn.executemany(
            "UPDATE denials SET status = 'expired' WHERE id = ?", [(r[0],) for r in rows]
        )
        return len(rows)

    def _event(
        self,
        denial_id: int,
        at: str,
        actor: str,
        old: str | None,
        new: str | None,
        detail: str,
        source: str,
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (denial_id, at, actor, old_status, new_status, detail, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (denial_id, at, actor, old, new, detail, source),
        )

    # -- lifecycle ------------------------------------------------------------------------

    def denial_state(self, denial_id: int) -> dict[str, Any]:
        """Status and money of one denial; read inside ``transaction()`` before changing it."""
        keys = (
            "status", "amount_cents", "recovered_cents", "appealed_on", "received", "level",
            "level_date", "outcome_date", "action",
        )  # fmt: skip
        row = self.conn.execute(
            f"SELECT {', '.join(keys)} FROM denials WHERE id = ?",  # noqa: S608
            (denial_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no denial with id {denial_id}")
        return dict(zip(keys, row, strict=True))

    _STATUS_FIELDS = (
        "appealed_on", "recovered_cents", "outcome_date", "level", "level_date", "deadline",
        "deadline_basis", "follow_up", "tier", "tier_order",
    )  # fmt: skip

    def set_status(
        self,
        denial_id: int,
        old: str,
        new: str,
        *,
        actor: str,
        detail: str,
        source: str,
        at: str,
        **fields: Any,
    ) -> None:
        """Move one denial from ``old`` to ``new`` and append the event, atomically.

        The ``WHERE status = old`` guard makes a move decided on a stale read fail loudly
        instead of overwriting another process's change.
        """
        unknown = set(fields) - set(self._STATUS_FIELDS)
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)} with a status change")
        sets = ", ".join(["status = ?", *(f"{k} = ?" for k in fields)])
        with self.transaction():
            cur = self.conn.execute(
                f"UPDATE denials SET {sets} WHERE id = ? AND status = ?",  # noqa: S608
                [new, *fields.values(), denial_id, old],
            )
            if cur.rowcount != 1:
                raise StoreError(f"denial {denial_id} changed while it was being updated")
            self._event(denial_id, at, actor, old, new, detail, source)

    def add_note(self, denial_id: int, text: str, actor: str, at: str) -> None:
        with self.transaction():
            status = self.denial_state(denial_id)["status"]
            self._event(denial_id, at, actor, status, status, f"note: {text}", "note")

    def payment_matches(
        self,
        first: int,
        last: int,
        remittance_id: int,
        received: str,
        paid_statuses: Sequence[str],
        statuses: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Earlier denials of the same payer whose claim (by CLP01, or by CLP07) is among the
        paid claims ``first``..``last`` of this remittance, with what the denied line and claim
        were originally paid."""
        cols = (
            "SELECT d.id, d.status, d.line_id, d.line_control, d.procedure, d.service_date, "
            "d.modifiers, d.position, d.claim_date, d.payer_claim_id, d.patient_control, "
            "d.amount_cents, d.recovered_cents, COALESCE(l.paid_cents, 0) AS line_paid_cents, "
            "c0.paid_cents AS claim_paid_cents, c0.patient_id, c0.patient_last, "
            "c0.patient_first, c.id AS paid_claim_id, c.paid_cents AS paid_claim_cents, "
            "c.payer_claim_id AS paid_payer_claim_id, c.patient_id AS paid_patient_id, "
            "c.patient_last AS paid_patient_last, c.patient_first AS paid_patient_first, "
            "c.service_date AS paid_service_date, c.statement_from AS paid_statement_from, "
            "d.action, d.payer_id AS denial_payer_id, c.payer_id AS paid_payer_id "
            "FROM claims c "
        )
        tail = (
            "JOIN claims c0 ON c0.id = d.claim_id LEFT JOIN service_lines l ON l.id = d.line_id "
            f"WHERE c.id BETWEEN ? AND ? AND c.remittance_id = ? "  # noqa: S608
            f"AND c.status IN ({_marks(paid_statuses)}) AND d.status IN ({_marks(statuses)}) "
            "AND d.remittance_id != ? AND d.received <= ?"
        )
        params = [first, last, remittance_id, *paid_statuses, *statuses, remittance_id, received]
        found: dict[tuple[int, int], dict[str, Any]] = {}
        # Candidates only: the same claim is decided by the caller (CLP07, or CLP01 with the
        # patient and the date of service; never CLP01 alone). Another payer paying a claim
        # whose denial says "bill the other payer" is a candidate too (coordination of benefits).
        for on in (
            # CLP01 only ever matches with the same date of service (checked again, with the
            # patient, in lifecycle): a reused account number brings no crowd of candidates.
            "d.payer_id = c.payer_id AND d.patient_control = c.patient_control "
            "AND d.claim_date = c.dos",
            "d.payer_id = c.payer_id AND d.payer_claim_id = c.payer_claim_id "
            "AND c.payer_claim_id != ''",
            "d.payer_id != c.payer_id AND d.patient_control = c.patient_control "
            "AND d.claim_date = c.dos AND d.action = 'bill_other_payer'",
        ):
            for r in self.query(f"{cols}JOIN denials d ON {on} {tail}", params):
                found[(r["paid_claim_id"], r["id"])] = r
        return [found[k] for k in sorted(found)]

    def lines_of(self, claim_ids: Sequence[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in _chunks(sorted(set(claim_ids))):
            out += self.query(
                "SELECT id, claim_id, line_control, procedure, modifiers, date_from, "  # noqa: S608
                "paid_cents "
                f"FROM service_lines WHERE claim_id IN ({_marks(part)}) ORDER BY id",
                part,
            )
        return out

    def letter_facts(self, denial_id: int) -> dict[str, Any]:
        """What an appeal letter says about a denial beyond ``denial()``: payer and payee
        addresses, and the claim's people (patient, insured, rendering provider)."""
        d = self.denial(denial_id)
        payer = self.query(
            "SELECT name, identifier, ref_2u, address, city, state, postal_code "
            "FROM payers WHERE id = ?",
            (d["payer_id"],),
        )[0]
        payee = self.query(
            "SELECT y.name, y.id_qualifier, y.identifier, y.tax_id, y.address, y.city, "
            "y.state, y.postal_code FROM remittances r JOIN payees y ON y.id = r.payee_id "
            "WHERE r.id = ?",
            (d["remittance_id"],),
        )
        names = self.query(
            "SELECT entity, last, first, middle, suffix, id_qualifier, identifier "
            "FROM claim_names WHERE claim_id = ?",
            (d["claim_id"],),
        )
        return {"payer": payer, "payee": payee[0] if payee else {}, "names": names}

    # -- reports (aggregates only: the report code never sees one row per denial) -----------

    @staticmethod
    def _filter(
        base: str,
        date: str,
        payer_column: str,
        since: str | None,
        until: str | None,
        payer: str | None,
    ) -> tuple[str, list[Any]]:
        """A WHERE clause: ``base``, ``date`` within [since, until], and the payer (part of
        its name, its id or its REF*2U) when given."""
        where, params = [base], []
        if since:
            where.append(f"{date} >= ?")
            params.append(since)
        if until:
            where.append(f"{date} <= ?")
            params.append(until)
        if payer:
            # Column names are ours; the values are bound parameters.
            where.append(f"{payer_column} IN (SELECT id FROM payers WHERE {_PAYER_MATCH})")  # noqa: S608
            params += _payer_params(payer)
        return " AND ".join(where), params

    def _denial_filter(
        self, since: str | None, until: str | None, payer: str | None, column: str = "d.received"
    ) -> tuple[str, list[Any]]:
        # Patient responsibility (bill_patient) is kept but is not a denial in any report.
        return self._filter(
            "d.status != 'reversed' AND COALESCE(d.action, '') != 'bill_patient'",
            column,
            "d.payer_id",
            since,
            until,
            payer,
        )

    def open_breakdown(self, payer: str | None) -> list[dict[str, Any]]:
        """Open denials counted by status, tier, category, team and whether assigned."""
        where, params = self._denial_filter(None, None, payer)
        return self.query(
            "SELECT d.status, d.tier, d.category, COALESCE(d.team, '') AS team, "  # noqa: S608
            "d.assignee IS NULL AS unassigned, COUNT(*) AS n, SUM(d.amount_cents) AS cents "
            f"FROM denials d WHERE {where} AND d.status IN ({_marks(OPEN_STATUSES)}) "
            "GROUP BY 1, 2, 3, 4, 5",
            [*params, *OPEN_STATUSES],
        )

    def due_between(self, first: str, last: str, payer: str | None) -> dict[str, int]:
        """Denials still waiting for an appeal whose deadline falls in [first, last]."""
        where, params = self._denial_filter(None, None, payer)
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(d.amount_cents), 0) FROM denials d "  # noqa: S608
            f"WHERE {where} AND d.status IN ('new', 'assigned', 'appeal_drafted', 'upheld') "
            "AND d.deadline BETWEEN ? AND ?",
            [*params, first, last],
        ).fetchone()
        return {"n": row[0], "cents": row[1]}

    def follow_up_due(self, today: str, payer: str | None) -> dict[str, int]:
        """Appealed denials whose decision is overdue (follow-up date reached): call the payer."""
        where, params = self._denial_filter(None, None, payer)
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(d.amount_cents), 0) FROM denials d "  # noqa: S608
            f"WHERE {where} AND d.status = 'appealed' AND d.follow_up <= ?",
            [*params, today],
        ).fetchone()
        return {"n": row[0], "cents": row[1]}

    def past_deadline(
        self, today: str, since: str | None, until: str | None, payer: str | None, limit: int
    ) -> tuple[int, int, list[dict[str, Any]]]:
        """Denials whose deadline passed with no appeal: still open, or already expired."""
        where, params = self._denial_filter(since, until, payer)
        cond = (
            f"{where} AND d.deadline < ? AND d.status IN "
            "('new', 'assigned', 'appeal_drafted', 'upheld', 'expired')"
        )
        n, cents = self.conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(d.amount_cents), 0) FROM denials d WHERE {cond}",  # noqa: S608
            [*params, today],
        ).fetchone()
        rows = self.query(
            "SELECT d.id, d.patient_control AS claim, p.name AS payer, "  # noqa: S608
            "c.patient_last, c.patient_first, c.patient_id, d.procedure, d.carc, "
            "d.group_code, d.amount_cents, d.received, d.deadline, d.status, d.assignee "
            "FROM denials d JOIN payers p ON p.id = d.payer_id JOIN claims c ON c.id = d.claim_id "
            f"WHERE {cond} ORDER BY d.deadline, d.id LIMIT ?",
            [*params, today, limit],
        )
        return n, cents, rows

    def pattern_counts(
        self, since: str | None, until: str | None, payer: str | None
    ) -> list[dict[str, Any]]:
        """Denials by payer x procedure x CARC in a period."""
        where, params = self._denial_filter(since, until, payer)
        return self.query(
            "SELECT d.payer_id, p.name AS payer, d.procedure, d.carc, "  # noqa: S608
            "MIN(d.group_code) AS group_code, MIN(d.category) AS category, COUNT(*) AS n, "
            "SUM(d.amount_cents) AS cents "
            f"FROM denials d JOIN payers p ON p.id = d.payer_id WHERE {where} "
            "GROUP BY d.payer_id, d.procedure, d.carc",
            params,
        )

    def _line_filter(
        self, since: str | None, until: str | None, payer: str | None
    ) -> tuple[str, list[Any]]:
        # Lines billed in the period: by remittance date, reversals (CLP02=22) excluded.
        date = "COALESCE(r.payment_date, r.production_date)"
        return self._filter("c.status != '22'", date, "c.payer_id", since, until, payer)

    def lines_billed(
        self, since: str | None, until: str | None, payer: str | None
    ) -> list[dict[str, Any]]:
        """Service lines by payer x procedure, and by rendering provider, in a period."""
        where, params = self._line_filter(since, until, payer)
        return self.query(
            "SELECT c.payer_id, l.procedure, COALESCE(c.rendering_id, '') AS rendering, "  # noqa: S608
            "COUNT(*) AS n FROM service_lines l JOIN claims c ON c.id = l.claim_id "
            f"JOIN remittances r ON r.id = c.remittance_id WHERE {where} GROUP BY 1, 2, 3",
            params,
        )

    def denials_by_provider(
        self, since: str | None, until: str | None, payer: str | None
    ) -> list[dict[str, Any]]:
        where, params = self._denial_filter(since, until, payer)
        return self.query(
            "SELECT COALESCE(c.rendering_id, '') AS rendering, COUNT(*) AS n, "  # noqa: S608
            "SUM(d.amount_cents) AS cents FROM denials d JOIN claims c ON c.id = d.claim_id "
            f"WHERE {where} GROUP BY 1",
            params,
        )

    def provider_names(self, ids: Sequence[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for part in _chunks([i for i in ids if i]):
            for ident, last, first in self.conn.execute(
                "SELECT identifier, MAX(last), MAX(first) FROM claim_names "  # noqa: S608
                f"WHERE entity = '82' AND identifier IN ({_marks(part)}) GROUP BY identifier",
                part,
            ):
                names[ident] = " ".join(x for x in (first, last) if x)
        return names

    def monthly(
        self, since: str | None, until: str | None, payer: str | None, carcs: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Per month of receipt and category: denied, appealed, recovered, written off and
        expired money (``carcs`` narrows to those reason codes)."""
        where, params = self._denial_filter(since, until, payer)
        if carcs:
            where += f" AND d.carc IN ({_marks(carcs)})"
            params = [*params, *carcs]
        return self.query(
            "SELECT substr(d.received, 1, 7) AS month, d.category, COUNT(*) AS n, "  # noqa: S608
            "SUM(d.amount_cents) AS denied, "
            "SUM(CASE WHEN d.appealed_on IS NOT NULL THEN d.amount_cents ELSE 0 END) AS appealed, "
            "SUM(d.appealed_on IS NOT NULL) AS n_appealed, "
            "COALESCE(SUM(d.recovered_cents), 0) AS recovered, "
            "COALESCE(SUM(CASE WHEN d.appealed_on IS NULL THEN d.recovered_cents END), 0) "
            "AS recovered_without_appeal, "
            "SUM(CASE WHEN d.status = 'written_off' THEN d.amount_cents ELSE 0 END) AS written_off, "
            "SUM(CASE WHEN d.status = 'expired' THEN d.amount_cents ELSE 0 END) AS expired "
            f"FROM denials d WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        )

    def decided(
        self, since: str | None, until: str | None, payer: str | None
    ) -> list[dict[str, Any]]:
        """Appeal decisions (overturned, partial, upheld) by category and payer."""
        where, params = self._denial_filter(since, until, payer)
        return self.query(
            "SELECT d.category, p.name AS payer, d.status, COUNT(*) AS n, "  # noqa: S608
            "COALESCE(SUM(d.recovered_cents), 0) AS recovered FROM denials d "
            f"JOIN payers p ON p.id = d.payer_id WHERE {where} AND d.status IN "
            "('overturned', 'partially_overturned', 'upheld', 'exhausted') "
            "AND d.appealed_on IS NOT NULL GROUP BY 1, 2, 3",
            params,
        )

    # A claim is counted once, at its first adjudication (HFMA initial denial rate): the same
    # payer, patient account number (CLP01), patient and date of service is the same claim;
    # reversals (CLP02=22) and later re-adjudications do not add to the denominator.
    # A claim is counted once, at its first adjudication (HFMA initial denial rate): the same
    # payer, patient account number (CLP01), patient and date of service (``claim_key``) is the
    # same claim; reversals (CLP02=22) and later re-adjudications add nothing to the
    # denominator. First = no earlier remittance date (then no lower id) with the same key.
    # A claim is counted once, at its first adjudication (HFMA initial denial rate): the same
    # payer, patient account number (CLP01), patient and date of service (``claim_key``) is the
    # same claim; reversals (CLP02=22) and later re-adjudications add nothing to the
    # denominator. Intake marks the first one (``first_adj``, ClaimWriter).
    _INITIAL_CLAIMS = (
        "WITH init AS (SELECT c.id, c.payer_id, c.charge_cents, c.line_count, "
        "substr(COALESCE(r.payment_date, r.production_date), 1, 7) AS month "
        "FROM claims c JOIN remittances r ON r.id = c.remittance_id WHERE c.first_adj = 1) "
        "SELECT * FROM init WHERE month >= ? AND month <= ?{payer}"
    )

    def _initial(self, since: str | None, until: str | None, payer: str | None):
        params: list[Any] = [(since or "0000-00")[:7], (until or "9999-12")[:7]]
        extra = ""
        if payer:
            extra = f" AND init.payer_id IN (SELECT id FROM payers WHERE {_PAYER_MATCH})"  # noqa: S608
            params += _payer_params(payer)
        return self._INITIAL_CLAIMS.replace("{payer}", extra), params

    def initial_rates(
        self, since: str | None, until: str | None, payer: str | None
    ) -> dict[str, list[dict[str, Any]]]:
        """The initial denial rate's counts, per month of first adjudication and payer:
        ``claims`` (claims, lines, billed cents), ``denied`` (claims with a denial, lines
        denied — every line of a claim denied at claim level — and cents denied) and
        ``by_category`` (the same per category). Patient responsibility (bill_patient) is not
        a denial. The first adjudications are found once, into a temporary table."""
        head, params = self._initial(since, until, payer)
        self.conn.execute("DROP TABLE IF EXISTS temp.initial_claims")
        self.conn.execute("DROP TABLE IF EXISTS temp.initial_denials")
        try:
            self.conn.execute(
                "CREATE TEMP TABLE initial_claims AS " + head,  # noqa: S608 - values bound
                params,
            )
            self.conn.execute("CREATE UNIQUE INDEX temp.initial_claims_id ON initial_claims (id)")
            # Per claim and category, once: lines denied and cents; "whole" when denied at
            # claim level. The aggregates below read this small table, not the denials again.
            self.conn.execute(
                "CREATE TEMP TABLE initial_denials AS SELECT d.claim_id, d.category, "
                "COUNT(DISTINCT d.line_id) AS ld, MAX(d.line_id IS NULL) AS whole, "
                "SUM(d.amount_cents) AS cents FROM denials d "
                "JOIN temp.initial_claims i ON i.id = d.claim_id "
                "WHERE COALESCE(d.action, '') != 'bill_patient' GROUP BY 1, 2"
            )
            return {
                "claims": self.query(
                    "SELECT i.month, i.payer_id, p.name AS payer, COUNT(*) AS claims, "
                    "SUM(i.line_count) AS lines, SUM(i.charge_cents) AS billed "
                    "FROM temp.initial_claims i JOIN payers p ON p.id = i.payer_id "
                    "GROUP BY 1, 2, 3"
                ),
                "by_category": self.query(
                    "SELECT i.month, i.payer_id, dn.category, COUNT(*) AS claims, "
                    "SUM(CASE WHEN dn.whole THEN i.line_count ELSE dn.ld END) AS lines, "
                    "SUM(dn.cents) AS cents FROM temp.initial_denials dn "
                    "JOIN temp.initial_claims i ON i.id = dn.claim_id GROUP BY 1, 2, 3"
                ),
                "denied": self.query(
                    "WITH pc AS (SELECT claim_id, MAX(whole) AS whole, SUM(ld) AS ld, "
                    "SUM(cents) AS cents FROM temp.initial_denials GROUP BY 1) "
                    "SELECT i.month, i.payer_id, COUNT(*) AS claims, "
                    "SUM(CASE WHEN pc.whole THEN i.line_count ELSE MIN(pc.ld, i.line_count) END) "
                    "AS lines, SUM(pc.cents) AS cents FROM pc JOIN temp.initial_claims i "
                    "ON i.id = pc.claim_id GROUP BY 1, 2"
                ),
            }
        finally:
            self.conn.execute("DROP TABLE IF EXISTS temp.initial_denials")
            self.conn.execute("DROP TABLE IF EXISTS temp.initial_claims")

    def appeals_by_month(
        self, since: str | None, until: str | None, payer: str | None
    ) -> dict[str, int]:
        """Appeals submitted per month (every level counts: each costs staff time)."""
        where, params = self._denial_filter(None, None, payer)
        lo, hi = since or "0000-00-00", until or "9999-12-31"
        # The submit event's detail starts "appeal submitted on YYYY-MM-DD" (lifecycle.submit):
        # the day it was sent, not the day it was recorded.
        rows = self.conn.execute(
            "SELECT substr(e.detail, 21, 7), COUNT(*) FROM events e "  # noqa: S608
            f"JOIN denials d ON d.id = e.denial_id WHERE {where} AND e.source = 'submit' "
            "AND e.new_status = 'appealed' AND substr(e.detail, 21, 10) BETWEEN ? AND ? "
            "GROUP BY 1",
            [*params, lo, hi],
        ).fetchall()
        return {m: n for m, n in rows}

    def team_activity(
        self, today: str, since: str | None, until: str | None, payer: str | None
    ) -> list[dict[str, Any]]:
        """Per assignee: open and overdue now; appeals and decisions dated in the period."""
        where, params = self._denial_filter(None, None, payer)
        lo, hi = since or "0000-00-00", until or "9999-12-31"
        waiting = f"d.status IN ({', '.join(repr(x) for x in WAITING_STATUSES)})"
        return self.query(
            "SELECT COALESCE(d.assignee, '') AS assignee, "  # noqa: S608
            f"SUM(d.status IN ({_marks(OPEN_STATUSES)})) AS open, "
            f"SUM(({waiting} AND d.deadline < ?) OR d.status = 'expired') AS overdue, "
            "SUM(d.appealed_on BETWEEN ? AND ?) AS submitted, "
            "SUM(d.status IN ('overturned', 'partially_overturned', 'upheld', 'exhausted') "
            "AND d.appealed_on IS NOT NULL AND d.outcome_date BETWEEN ? AND ?) AS decided, "
            "SUM(d.status IN ('overturned', 'partially_overturned') "
            "AND d.appealed_on IS NOT NULL AND d.outcome_date BETWEEN ? AND ?) AS won, "
            "COALESCE(SUM(CASE WHEN d.outcome_date BETWEEN ? AND ? THEN d.recovered_cents END), 0) "
            "AS recovered "
            f"FROM denials d WHERE {where} GROUP BY 1 ORDER BY 1",
            [*OPEN_STATUSES, today, lo, hi, lo, hi, lo, hi, lo, hi, *params],
        )

    def days_to_appeal(
        self, since: str | None, until: str | None, payer: str | None
    ) -> list[tuple[str, int]]:
        """(assignee, days from receipt to appeal) for appeals submitted in the period."""
        where, params = self._denial_filter(since, until, payer, column="d.appealed_on")
        return [
            (a, int(n))
            for a, n in self.conn.execute(
                "SELECT COALESCE(d.assignee, ''), "  # noqa: S608
                "julianday(d.appealed_on) - julianday(d.received) FROM denials d "
                f"WHERE {where} AND d.appealed_on IS NOT NULL",
                params,
            )
        ]

    def queue(
        self,
        *,
        statuses: Sequence[str],
        tier: str | None = None,
        category: str | None = None,
        team: str | None = None,
        assignee: str | None = None,
        payer: str | None = None,
        due_by: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        sort: str | None = None,
        stream: bool = False,
        **find: Any,
    ) -> Any:
        """The work queue, most urgent first: tier, then the next date, then expected value (or
        in a ``sort`` order: deadline, amount, score, received). ``find`` narrows it:
        ``patient``, ``member``, ``claim``, ``carc``, ``procedure``, ``action``, ``text`` (see
        ``_queue_where``). A list; with ``stream``, an iterator of rows read as they are
        consumed (exports in flat memory)."""
        where, params = _queue_where(statuses, tier, category, team, assignee, payer, due_by,
                                     **find)  # fmt: skip
        order = _QUEUE_ORDER[sort]
        if sort is None and any(find.get(k) for k in ("patient", "member", "claim", "text")):
            # A search matches a few rows: sort those, rather than walk the whole queue index
            # looking for them (0.05 s instead of 0.25 s on 50,000 denials).
            order = "+" + order
        sql = (
            "SELECT d.id, d.patient_control AS claim, d.payer_claim_id, p.name AS payer, "  # noqa: S608
            "c.patient_last, c.patient_first, d.service_date, d.procedure, d.modifiers, "
            "d.carc, d.group_code, d.rarcs, d.category, d.amount_cents, d.received, "
            "d.deadline, d.likelihood, d.score, d.tier, d.status, d.team, d.assignee, "
            "d.recovered_cents, d.outcome_date, d.action, d.payer_class, d.class_basis, "
            "d.level, d.deadline_basis, d.follow_up, d.note FROM denials d "
            "JOIN payers p ON p.id = d.payer_id JOIN claims c ON c.id = d.claim_id "
            f"WHERE {where} ORDER BY {order}"
        )
        if limit or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [limit or -1, offset]
        return self.iter_query(sql, params) if stream else self.query(sql, params)

    def queue_count(
        self,
        *,
        statuses: Sequence[str],
        tier: str | None = None,
        category: str | None = None,
        team: str | None = None,
        assignee: str | None = None,
        payer: str | None = None,
        due_by: str | None = None,
        **find: Any,
    ) -> int:
        """How many denials ``queue`` would list without a limit."""
        where, params = _queue_where(statuses, tier, category, team, assignee, payer, due_by,
                                     **find)  # fmt: skip
        # Join only what the filters read: counting a million open denials stays an index scan.
        joins = "JOIN payers p ON p.id = d.payer_id " if "p." in where else ""
        joins += "JOIN claims c ON c.id = d.claim_id " if "c." in where else ""
        sql = f"SELECT count(*) FROM denials d {joins}WHERE {where}"  # noqa: S608
        return int(self.conn.execute(sql, params).fetchone()[0])

    def queue_by_status(
        self,
        *,
        statuses: Sequence[str],
        tier: str | None = None,
        category: str | None = None,
        team: str | None = None,
        assignee: str | None = None,
        payer: str | None = None,
        due_by: str | None = None,
        **find: Any,
    ) -> dict[str, int]:
        """``queue_count`` per status (statuses with none left out)."""
        where, params = _queue_where(statuses, tier, category, team, assignee, payer, due_by,
                                     **find)  # fmt: skip
        sql = (
            "SELECT d.status, count(*) FROM denials d JOIN payers p ON p.id = d.payer_id "  # noqa: S608
            f"JOIN claims c ON c.id = d.claim_id WHERE {where} GROUP BY d.status"
        )
        return {r[0]: r[1] for r in self.conn.execute(sql, params)}

    def denial(self, denial_id: int) -> dict[str, Any]:
        rows = self.query(
            "SELECT d.*, p.name AS payer_name, p.identifier AS payer_identifier, "
            "p.ref_2u, r.trace_originator, c.status AS claim_status, c.charge_cents AS claim_charge_cents, "
            "c.paid_cents AS claim_paid_cents, c.patient_last, c.patient_first, c.patient_id, "
            "c.filing_indicator, c.statement_from, c.statement_to, r.trace_number, "
            "r.payment_date, f.name AS file_name FROM denials d "
            "JOIN payers p ON p.id = d.payer_id JOIN claims c ON c.id = d.claim_id "
            "JOIN remittances r ON r.id = d.remittance_id JOIN files f ON f.id = r.file_id "
            "WHERE d.id = ?",
            (denial_id,),
        )
        if not rows:
            raise NotFound(f"no denial with id {denial_id}")
        return rows[0]

    def claim_detail(self, claim_id: int) -> dict[str, list[dict[str, Any]]]:
        return {
            "lines": self.query(
                "SELECT * FROM service_lines WHERE claim_id = ? ORDER BY id", (claim_id,)
            ),
            "adjustments": self.query(
                "SELECT * FROM adjustments WHERE claim_id = ? ORDER BY id", (claim_id,)
            ),
            "remarks": self.query("SELECT * FROM remarks WHERE claim_id = ?", (claim_id,)),
        }

    def history(self, denial_id: int) -> list[dict[str, Any]]:
        return self.query(
            "SELECT at, actor, old_status, new_status, detail, source "
            "FROM events WHERE denial_id = ? ORDER BY id",
            (denial_id,),
        )

    def denial_ids(self, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` that exist."""
        found: list[int] = []
        for part in _chunks(ids):
            found += [
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM denials WHERE id IN ({_marks(part)})",  # noqa: S608
                    part,
                )
            ]
        return found

    def open_denial_ids(self) -> list[int]:
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM denials WHERE status IN ({_marks(OPEN_STATUSES)}) "  # noqa: S608
                "ORDER BY id",
                OPEN_STATUSES,
            )
        ]

    def unassigned_open(self, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Open denials with nobody assigned (of ``ids`` when given), most urgent first."""
        base = (
            "SELECT id, category, team FROM denials WHERE assignee IS NULL "  # noqa: S608
            f"AND status IN ({_marks(OPEN_STATUSES)})"
        )
        order = " ORDER BY tier_order, deadline, id"
        if ids is None:
            return self.query(base + order, OPEN_STATUSES)
        out: list[dict[str, Any]] = []
        for part in _chunks(ids):
            out += self.query(f"{base} AND id IN ({_marks(part)}){order}", [*OPEN_STATUSES, *part])
        return out


def claim_key(*parts: Any) -> int:
    """A signed 64-bit key for (payer id, CLP01, member id, last, first, date of service): the
    same claim across its adjudications (stable across processes, unlike ``hash``)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


def _claim_dos(c: Claim) -> str | None:
    """The claim's date of service: its first line's, else the claim's own (same as
    ``denials.claim_date``, which this module does not import: reading the queue stays light)."""
    dates = [ln.date_from for ln in c.lines if ln.date_from]
    return min(dates) if dates else (c.service_date or c.statement_from)


class ClaimWriter:
    """Buffers claims of one remittance and writes them in batches (executemany).

    Ids are assigned here rather than by SQLite so that lines and adjustments can point at
    their claim without a round trip per row; the file's write transaction makes that safe.
    """

    def __init__(
        self, store: Store, remittance_id: int, payer_id: int, date: str | None = None
    ) -> None:
        self.store = store
        self.remittance_id = remittance_id
        self.payer_id = payer_id
        self.date = date or "9999-12-31"  # the remittance date: which adjudication came first
        self.claim_id, self.line_id, self.adj_id = store.next_ids()
        self.rows: dict[str, list[tuple]] = {t: [] for t in _INSERT_COLUMNS}
        self.pending = 0

    def add(self, c: Claim) -> tuple[int, list[int]]:
        """Buffer one claim; returns its id and its lines' ids."""
        cid = self.claim_id
        line_ids: list[int] = []
        self.claim_id += 1
        rows = self.rows
        patient = c.person("QC")
        insured = c.person("IL")
        rendering = c.person("82")
        dos = _claim_dos(c)
        rows["claims"].append(
            (
                cid,
                self.remittance_id,
                self.payer_id,
                c.segment,
                c.lx,
                c.patient_control,
                c.status,
                to_cents(c.charge),
                to_cents(c.paid),
                to_cents(c.patient_responsibility),
                c.filing_indicator,
                c.payer_claim_id,
                c.facility_type,
                c.frequency,
                c.drg,
                _num(c.drg_weight),
                patient.last if patient else None,
                patient.first if patient else None,
                patient.id if patient else None,
                insured.last if insured else None,
                insured.first if insured else None,
                insured.id if insured else None,
                (
                    " ".join(x for x in (rendering.first, rendering.last) if x)
                    if rendering
                    else None
                ),
                rendering.id if rendering else None,
                c.statement_from,
                c.statement_to,
                c.received_date,
                c.coverage_expiration,
                c.service_date,
                dos,
                len(c.lines),
                claim_key(
                    self.payer_id,
                    c.patient_control,
                    patient.id if patient else None,
                    patient.last if patient else None,
                    patient.first if patient else None,
                    dos,
                ),
                c.status,  # replaced by first_adj in flush()
            )
        )
        for p in c.people:
            rows["claim_names"].append(
                (cid, p.entity, p.last, p.first, p.middle, p.suffix, p.id_qualifier, p.id)
            )
        self._details(cid, None, c.adjustments, c.remarks, c.refs, c.amounts, c.quantities)
        for ln in c.lines:
            lid = self.line_id
            self.line_id += 1
            line_ids.append(lid)
            rows["service_lines"].append(
                (
                    lid,
                    cid,
                    ln.segment,
                    ln.number,
                    ln.procedure_qualifier,
                    ln.procedure,
                    ",".join(ln.modifiers),
                    ln.description,
                    to_cents(ln.charge),
                    to_cents(ln.paid),
                    ln.revenue_code,
                    _num(ln.units),
                    ln.original_qualifier,
                    ln.original_procedure,
                    ",".join(ln.original_modifiers),
                    _num(ln.original_units),
                    ln.date_from,
                    ln.date_to,
                    ln.line_control,
                    to_cents(ln.allowed),
                )
            )
            self._details(cid, lid, ln.adjustments, ln.remarks, ln.refs, ln.amounts, ln.quantities)
        self.pending += 1
        return cid, line_ids

    @property
    def full(self) -> bool:
        return self.pending >= BATCH_CLAIMS

    def _first_adjudications(self) -> None:
        """Mark each buffered claim's ``first_adj``: 1 when no claim with the same key was
        adjudicated earlier (by remittance date, then id), 0 for re-adjudications and
        reversals. A claim from an older remittance stored later takes the mark over."""
        rows = self.rows["claims"]
        if not rows:
            return
        key_at, status_at = len(rows[0]) - 2, len(rows[0]) - 1
        keys = {r[key_at] for r in rows if r[status_at] != "22"}
        first = self.store.first_adjudications(keys)  # key -> (claim id, date)
        flags: dict[int, int] = {}
        for r in rows:
            cid, key = r[0], r[key_at]
            if r[status_at] == "22":
                flags[cid] = 0
                continue
            earlier = first.get(key)
            if earlier is not None and earlier[1] <= self.date:
                flags[cid] = 0
                continue
            if earlier is not None:  # an older adjudication arrives after a newer one
                if earlier[0] in flags:
                    flags[earlier[0]] = 0
                else:
                    self.store.conn.execute(
                        "UPDATE claims SET first_adj = 0 WHERE id = ?", (earlier[0],)
                    )
            flags[cid] = 1
            first[key] = (cid, self.date)
        self.rows["claims"] = [(*r[:status_at], flags[r[0]]) for r in rows]

    def _details(
        self, cid: int, lid: int | None, adjustments, remarks, refs, amounts, quantities
    ) -> None:
        rows = self.rows
        for a in adjustments:
            rows["adjustments"].append(
                (
                    self.adj_id,
                    cid,
                    lid,
                    a.group,
                    a.reason,
                    to_cents(a.amount),
                    _num(a.quantity),
                    a.segment,
                )
            )
            self.adj_id += 1
        for r in remarks:
            rows["remarks"].append((cid, lid, r.source, r.qualifier, r.code))
        for q, v in refs:
            rows["refs"].append((cid, lid, q, v))
        for q, v in amounts:
            rows["amounts"].append((cid, lid, q, str(v)))
        for q, v in quantities:
            rows["quantities"].append((cid, lid, q, str(v)))

    def flush(self) -> None:
        conn = self.store.conn
        self._first_adjudications()
        for table, rows in self.rows.items():
            if rows:
                conn.executemany(_insert_sql(table, _INSERT_COLUMNS[table]), rows)
                rows.clear()
        self.pending = 0
