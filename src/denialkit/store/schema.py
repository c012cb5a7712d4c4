"""The tables, their indexes, and the migrations that bring any earlier store up to them."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import StoreError
from .base import StoreBase
from .dialect import LOCK_SCHEMA
from .sql import claim_key

# 4: denial judgments (payer class, levels, deadline basis, follow-up), claim keys, dates of
# service and line counts, remittances.content_sha256 (duplicates by content)
# 5: migrations recorded by name (table ``migrations``); denials.payee_id (client practices),
# an index for coordination of benefits
# 7: an index for the queue's filters and counts (migration 0006)
# 8: covering indexes for the reports (migration 0007)
SCHEMA_VERSION = 8


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


class SchemaMixin(StoreBase):
    """Creating and upgrading the schema."""

    @property
    def db(self) -> Any:
        """The sqlite-utils view of the connection, for schema work; imported on first use
        (it costs a tenth of a second, and reading the queue never needs it)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def migrate(self) -> None:
        """Apply the migrations this database has not recorded, in order, in one write
        transaction (two processes opening a new database at once take turns)."""
        d = self.dialect
        errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, *self._errors)
        try:
            existing = {r[0] for r in self.conn.execute(d.tables_sql())}
        except errors as exc:
            raise StoreError(f"not a denialkit database: {exc}") from None
        if existing and "meta" not in existing:
            raise StoreError("not a denialkit database (it has tables but no 'meta' table)")
        if "migrations" in existing and len(self.applied_migrations()) == len(MIGRATIONS):
            return
        with self.transaction():
            d.lock(self.conn, LOCK_SCHEMA)
            existing = {r[0] for r in self.conn.execute(d.tables_sql())}
            if "migrations" not in existing:
                self.conn.execute(
                    "CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
                )
                if "files" in existing:
                    # A store from before migrations were recorded (schema 4 or older): bring
                    # it to schema 4 the old way (new columns only), which is migration 1.
                    self._upgrade()
                    self._record(MIGRATIONS[0][0])
            done = set(self.applied_migrations())
            for name, step in MIGRATIONS:
                if name not in done:
                    step(self)
                    self._record(name)
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ("schema_version", str(SCHEMA_VERSION)),
            )

    def applied_migrations(self) -> list[str]:
        """The names of the migrations this database has, in the order they were applied."""
        return [r[0] for r in self.conn.execute("SELECT name FROM migrations ORDER BY name")]

    def _record(self, name: str) -> None:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        self.conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now))

    def _create_tables(self) -> None:
        d = self.dialect
        for name, spec in _TABLES.items():
            pk = spec.get("pk")
            cols = []
            for column, kind in spec["columns"].items():
                if column == pk:
                    cols.append(d.pk_column(column, kind))
                else:
                    cols.append(f"[{column}] {d.types[kind]}")
            if isinstance(pk, tuple):
                cols.append(f"PRIMARY KEY ({', '.join(f'[{c}]' for c in pk)})")
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS [{name}] ({', '.join(cols)})")
        for table, columns, unique in _INDEXES:
            self._index(table, columns, unique)
        self._queue_index()

    def _index(self, table: str, cols: Sequence[str], unique: bool = False) -> None:
        name = f"idx_{table}_{'_'.join(cols)}"
        self.conn.execute(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS [{name}] "
            f"ON [{table}] ({', '.join(f'[{c}]' for c in cols)})"
        )

    def _add_column(self, table: str, column: str, kind: type) -> None:
        have = {r["name"] for r in self._columns(table)}
        if column not in have:
            self.conn.execute(
                f"ALTER TABLE [{table}] ADD COLUMN [{column}] {self.dialect.types[kind]}"
            )

    def _columns(self, table: str) -> list[dict[str, Any]]:
        if self.dialect.name == "sqlite":
            return self.query("SELECT name FROM pragma_table_info(?)", (table,))
        return self.query(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )

    def _queue_index(self) -> None:
        # The work queue's order (tier, next date, expected value) read straight off an index.
        self.conn.execute("DROP INDEX IF EXISTS idx_denials_queue")
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS idx_denials_next ON denials "
            "(tier_order, (COALESCE(follow_up, deadline, '9999-12-31')), ev_cents DESC)"
        )

    def _upgrade(self) -> None:
        """Bring an older database up to this schema: new columns and indexes only (additive)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row and int(row[0]) >= 4:
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
            self._queue_index()


def _m0001_tables(store: Any) -> None:
    """Every table and index of schema 4 (a store from before migrations already has them)."""
    store._create_tables()


def _m0002_practices(store: Any) -> None:
    """Client practices: each denial carries the payee (N1*PE) of its remittance, so that a
    billing company's queue and reports filter by practice off the denials table alone."""
    store._add_column("denials", "payee_id", int)
    store.conn.execute(
        "UPDATE denials SET payee_id = (SELECT r.payee_id FROM remittances r "
        "WHERE r.id = denials.remittance_id) WHERE payee_id IS NULL"
    )
    store._index("denials", ["payee_id", "status"])
    store._index("remittances", ["payee_id"])


def _m0003_other_payer_index(store: Any) -> None:
    """Coordination of benefits matches a paid claim to a denial of another payer by CLP01 and
    date of service: without this index PostgreSQL scans per paid claim (0.3 ms each)."""
    store._index("denials", ["patient_control", "claim_date"])


def _m0004_first_adjudication(store: Any) -> None:
    """Which adjudication of a claim the initial denial rate counts: intake marks it
    (``claims.first_adj``, ClaimWriter); older claims are marked here, once."""
    store._add_column("claims", "first_adj", int)
    store.conn.execute(
        "UPDATE claims SET first_adj = CASE WHEN status = '22' THEN 0 "
        "WHEN EXISTS (SELECT 1 FROM claims b JOIN remittances rb "
        "ON rb.id = b.remittance_id JOIN remittances r ON r.id = claims.remittance_id "
        "WHERE b.claim_key = claims.claim_key AND b.status != '22' AND b.id != claims.id "
        "AND (COALESCE(rb.payment_date, rb.production_date) < "
        "COALESCE(r.payment_date, r.production_date) OR (COALESCE(rb.payment_date, "
        "rb.production_date) = COALESCE(r.payment_date, r.production_date) "
        "AND b.id < claims.id))) THEN 0 ELSE 1 END WHERE first_adj IS NULL"
    )


def _m0005_submitted_claims(store: Any) -> None:
    """Submitted (837) claims and their links to remittances (claims837_store)."""
    store.create_claim_tables()


def _m0006_queue_filters(store: Any) -> None:
    """The queue's filters and counts off narrow indexes: counting the denials of one
    category, tier, team, payer or practice, or due within N days, among a million reads an
    index alone (an index-only scan on PostgreSQL once vacuumed) instead of every row."""
    # Led by ``action``, which the queue never compares plainly (COALESCE(action, ...)):
    # SQLite's planner, without statistics, would otherwise pick it for ``status IN (...)``
    # and sort a million rows instead of reading the queue's order off idx_denials_next. A
    # count scans it whole (it holds every column a count filters on); so does PostgreSQL.
    store._index(
        "denials", ["action", "status", "tier", "category", "team", "payer_id", "payee_id"]
    )
    # ``--due-within N``: the denials whose next date comes within N days, found by range
    # (and counted off the index) instead of walking the whole queue for the few that match.
    store.conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_denials_due ON denials "
        "((COALESCE(follow_up, deadline)), status, action)"
    )
    # PostgreSQL keeps statistics on an indexed expression only after an ANALYZE; until then
    # it guesses a third of the rows are due and walks the queue instead (6 s, not 0.1 s).
    store.dialect.analyze(store.conn, "denials")


def _m0007_report_indexes(store: Any) -> None:
    """The summary on a million lines under five seconds: the reports' largest groupings read
    off covering indexes, in the order they group by (SQLite sorts nothing, and reads no
    table row). The patterns (payer x procedure x CARC in a period), the initial denial rate's
    denials per claim and category, the denials per day and category (ROI's months) and the
    first adjudications per remittance and payer. None leads with ``received``: without
    statistics SQLite would take it for every report's period and visit the table row by row
    (on a store whose denials all fall in the period, three times slower than reading it)."""
    for name, table, columns in (
        ("idx_denials_patterns", "denials",
         "payer_id, procedure, carc, received, status, action, group_code, category, "
         "amount_cents"),
        ("idx_denials_claim_rates", "denials",
         "claim_id, category, action, line_id, amount_cents"),
        ("idx_denials_months", "denials",
         "category, received, status, action, carc, amount_cents, appealed_on, "
         "recovered_cents"),
        ("idx_claims_rates", "claims",
         "remittance_id, payer_id, first_adj, line_count, charge_cents"),
    ):  # fmt: skip
        store.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
    store.dialect.analyze(store.conn, "denials")
    store.dialect.analyze(store.conn, "claims")


# The schema's history, in order: a name is recorded in ``migrations`` when its step has run.
# Append only; never rename or reorder (a database remembers them by name).
MIGRATIONS: list[tuple[str, Callable[[Any], None]]] = [
    ("0001_tables", _m0001_tables),
    ("0002_practices", _m0002_practices),
    ("0003_other_payer_index", _m0003_other_payer_index),
    ("0004_first_adjudication", _m0004_first_adjudication),
    ("0005_submitted_claims", _m0005_submitted_claims),
    ("0006_queue_filters", _m0006_queue_filters),
    ("0007_report_indexes", _m0007_report_indexes),
]
