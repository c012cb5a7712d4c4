"""The intake writer: files, remittances, parties and claims in batches."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # names for annotations only: reading the queue does not load the parser
    from ..era import (
        Adjustment,
        Claim,
        Issue,
        Party,
        ProviderAdjustment,
        Remark,
        RemittanceEnd,
        RemittanceHeader,
    )
    from .core import Store

from .dialect import LOCK_IDS, Dialect
from .scratch import _INSERT_COLUMNS, TxRows, copy_sql, scratch_facts, scratch_schema
from .sql import _chunks, _insert_sql, _marks, _num, claim_key, to_cents

BATCH_CLAIMS = 2000


class IntakeMixin:
    """What intake writes, inside the file's transaction."""

    # Set by Store, the class this is mixed into.
    conn: Any
    dialect: Dialect

    if TYPE_CHECKING:

        def grew(self, rows: int) -> None: ...  # Store's

    def file_by_sha256(self, sha256: str) -> dict[str, Any] | None:
        # The first question of a file's transaction: from here on, one intake at a time on
        # PostgreSQL (two ingests take turns, as SQLite's write lock makes them).
        self.dialect.lock(self.conn, LOCK_IDS)
        row = self.conn.execute(
            "SELECT id, name, ingested_at FROM files WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return None if row is None else {"id": row[0], "name": row[1], "ingested_at": row[2]}

    def add_file(self, name: str, path: str, size: int, sha256: str) -> int:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        return self.dialect.insert_id(
            self.conn,
            "INSERT INTO files (name, path, size, sha256, ingested_at, transactions, claims, "
            "warnings) VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
            (name, path, size, sha256, now),
        )

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
        return self.dialect.insert_id(self.conn, _insert_sql(table, cols), (key, *values.values()))

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
        return self.dialect.insert_id(
            self.conn, _insert_sql("remittances", list(values)), tuple(values.values())
        )

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
        # PostgreSQL: one intake at a time hands out ids (SQLite's write lock does that).
        self.dialect.lock(self.conn, LOCK_IDS)
        q = "SELECT COALESCE(MAX(id), 0) + 1 FROM [{}]"
        return tuple(  # type: ignore[return-value]
            int(self.conn.execute(q.format(t)).fetchone()[0])
            for t in ("claims", "service_lines", "adjustments")
        )

    @contextmanager
    def scratch_attached(self, paths: Sequence[str | os.PathLike[str]]) -> Iterator[None]:
        """Workers' scratch files (``store.scratch``), attached for ``copy_scratch`` as
        ``TxRows.source`` numbers them (SQLite only; outside a transaction: SQLite attaches
        only there; at most 10 at once)."""
        attached: list[str] = []
        try:
            for i, path in enumerate(paths):
                schema = scratch_schema(i)
                self.conn.execute(f"ATTACH DATABASE ? AS {schema}", (os.fspath(path),))
                attached.append(schema)
            yield
        finally:
            for schema in attached:
                self.conn.execute(f"DETACH DATABASE {schema}")

    def copy_scratch(
        self, rows: TxRows, remittance_id: int, payer_id: int, date: str | None
    ) -> tuple[int, int]:
        """Copy one transaction's rows from the attached scratch file into the store: what
        ``ClaimWriter`` would have written for it. Returns the claim and line id offsets (the
        store's id = the worker's + offset)."""
        ids = self.next_ids()
        offsets = {
            "claim": ids[0] - rows.first_ids[0],
            "line": ids[1] - rows.first_ids[1],
            "adj": ids[2] - rows.first_ids[2],
            "remittance_id": remittance_id,
            "payer_id": payer_id,
        }
        for table, (low, high) in rows.ranges.items():
            if table == "raw_text":
                self.conn.execute(
                    "INSERT INTO raw_text (remittance_id, chunk, text) SELECT ?, chunk, text "  # noqa: S608
                    f"FROM {rows.schema}.raw_text WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                    (remittance_id, low, high),
                )
                continue
            if table == "facts":
                continue
            sql, names = copy_sql(table, rows.schema)
            # Claims in ClaimWriter's batches: each batch's first-adjudication marks look at
            # the claims stored before it, and memory stays flat however long the remittance.
            step = BATCH_CLAIMS if table == "claims" else high - low + 1
            for start in range(low, high + 1, step):
                end = min(start + step - 1, high)
                if table == "claims":
                    self._scratch_keys(rows.schema, start, end, offsets["claim"], payer_id, date)
                bounds = {"from": start, "to": end}
                self.conn.execute(sql, [offsets[n] if n in offsets else bounds[n] for n in names])
                self.grew(end - start + 1)
        return offsets["claim"], offsets["line"]

    def _scratch_keys(
        self, schema: str, low: int, high: int, offset: int, payer_id: int, date: str | None
    ) -> None:
        """Each claim's key (it holds the payer's id) and first-adjudication mark, for the
        scratch claims ``low``..``high`` (rowids), into the temporary table their copy joins."""
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS scratch_keys "
            "(id INTEGER PRIMARY KEY, claim_key INTEGER, first_adj INTEGER)"
        )
        self.conn.execute("DELETE FROM temp.scratch_keys")
        claims = [
            (cid, claim_key(payer_id, pcn, pid, last, first, dos), status)
            for cid, pcn, pid, last, first, dos, status in self.conn.execute(
                "SELECT id, patient_control, patient_id, patient_last, patient_first, dos, "  # noqa: S608
                f"status FROM {schema}.claims WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                (low, high),
            )
        ]
        flags = first_adjudication_flags(
            cast("Store", self),
            date or "9999-12-31",
            [(cid + offset, key, s) for cid, key, s in claims],
        )
        self.conn.executemany(
            "INSERT INTO temp.scratch_keys (id, claim_key, first_adj) VALUES (?, ?, ?)",
            [(cid, key, flags[cid + offset]) for cid, key, _ in claims],
        )

    def scratch_facts(self, tx: int, rows: TxRows) -> Iterator[Any]:
        """The denial inputs the worker wrote for transaction ``tx``, batch by batch."""
        return scratch_facts(self.conn, tx, rows)

    def claim_writer(
        self, remittance_id: int, payer_id: int, date: str | None = None
    ) -> ClaimWriter:
        # Only a Store has this mixin: the writer asks it for more than intake's methods.
        return ClaimWriter(cast("Store", self), remittance_id, payer_id, date)

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


_ONE = Decimal(1)


def _cents(value: Decimal | None) -> int | None:
    """``to_cents`` for the intake's hot path: most amounts have at most two decimals, and
    then cents are exact without rounding (the rest round half up, as ``to_cents`` does)."""
    if value is None:
        return None
    c = value * 100
    i = int(c)
    return i if i == c else int(c.quantize(_ONE, rounding=ROUND_HALF_UP))


def _claim_dos(c: Claim) -> str | None:
    """The claim's date of service: its first line's, else the claim's own (same as
    ``denials.claim_date``, which this module does not import: reading the queue stays light)."""
    dates = [ln.date_from for ln in c.lines if ln.date_from]
    return min(dates) if dates else (c.service_date or c.statement_from)


def first_adjudication_flags(
    store: Store, date: str, claims: list[tuple[int, int, str]]
) -> dict[int, int]:
    """Each claim's ``first_adj`` (claims as (id, key, status), in id order, of one remittance
    dated ``date``): 1 when no claim with the same key was adjudicated earlier (by remittance
    date, then id), 0 for re-adjudications and reversals. A claim from an older remittance
    stored later takes the mark over (the stored one is unmarked here)."""
    keys = {key for _, key, status in claims if status != "22"}
    first = store.first_adjudications(keys)  # key -> (claim id, date)
    flags: dict[int, int] = {}
    for cid, key, status in claims:
        if status == "22":
            flags[cid] = 0
            continue
        earlier = first.get(key)
        if earlier is not None and earlier[1] <= date:
            flags[cid] = 0
            continue
        if earlier is not None:  # an older adjudication arrives after a newer one
            if earlier[0] in flags:
                flags[earlier[0]] = 0
            else:
                store.conn.execute("UPDATE claims SET first_adj = 0 WHERE id = ?", (earlier[0],))
        flags[cid] = 1
        first[key] = (cid, date)
    return flags


class ClaimRows:
    """The rows of claims, one tuple per row and table, with ids given here: lines and
    adjustments point at their claim without a round trip per row. No store: a worker process
    builds them too (``ids`` from 1, ``remittance_id`` and ``payer_id`` 0, set when stored)."""

    def __init__(
        self, remittance_id: int, payer_id: int, ids: tuple[int, int, int] = (1, 1, 1)
    ) -> None:
        self.remittance_id = remittance_id
        self.payer_id = payer_id
        self.claim_id, self.line_id, self.adj_id = ids
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _INSERT_COLUMNS}
        self.pending = 0

    @property
    def full(self) -> bool:
        return self.pending >= BATCH_CLAIMS

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
                _cents(c.charge),
                _cents(c.paid),
                _cents(c.patient_responsibility),
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
                    _cents(ln.charge),
                    _cents(ln.paid),
                    ln.revenue_code,
                    _num(ln.units),
                    ln.original_qualifier,
                    ln.original_procedure,
                    ",".join(ln.original_modifiers),
                    _num(ln.original_units),
                    ln.date_from,
                    ln.date_to,
                    ln.line_control,
                    _cents(ln.allowed),
                )
            )
            self._details(cid, lid, ln.adjustments, ln.remarks, ln.refs, ln.amounts, ln.quantities)
        self.pending += 1
        return cid, line_ids

    def _details(
        self,
        cid: int,
        lid: int | None,
        adjustments: list[Adjustment],
        remarks: list[Remark],
        refs: list[tuple[str, str]],
        amounts: list[tuple[str, Decimal]],
        quantities: list[tuple[str, Decimal]],
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
                    _cents(a.amount),
                    _num(a.quantity),
                    a.segment,
                )
            )
            self.adj_id += 1
        for r in remarks:
            rows["remarks"].append((cid, lid, r.source, r.qualifier, r.code))
        for q, text in refs:
            rows["refs"].append((cid, lid, q, text))
        for q, v in amounts:
            rows["amounts"].append((cid, lid, q, str(v)))
        for q, n in quantities:
            rows["quantities"].append((cid, lid, q, str(n)))


class ClaimWriter(ClaimRows):
    """Buffers claims of one remittance and writes them in batches (executemany); the file's
    write transaction makes the ids it gives safe."""

    def __init__(
        self, store: Store, remittance_id: int, payer_id: int, date: str | None = None
    ) -> None:
        super().__init__(remittance_id, payer_id, store.next_ids())
        self.store = store
        self.date = date or "9999-12-31"  # the remittance date: which adjudication came first

    def _first_adjudications(self) -> None:
        rows = self.rows["claims"]
        if not rows:
            return
        key_at, status_at = len(rows[0]) - 2, len(rows[0]) - 1
        flags = first_adjudication_flags(
            self.store, self.date, [(r[0], r[key_at], r[status_at]) for r in rows]
        )
        self.rows["claims"] = [(*r[:status_at], flags[r[0]]) for r in rows]

    def flush(self) -> None:
        conn, dialect = self.store.conn, self.store.dialect
        self._first_adjudications()
        for table, rows in self.rows.items():
            if rows:
                dialect.bulk_insert(conn, table, _INSERT_COLUMNS[table], rows)
                self.store.grew(len(rows))
                rows.clear()
        self.pending = 0
