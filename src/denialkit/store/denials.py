"""Denials and their events: found at intake, triaged, assigned, moved through the lifecycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import NotFound, StoreError
from ..vocabulary import Status
from .base import StoreBase
from .sql import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    QUEUE_ORDER,
    _chunks,
    _marks,
)


class DenialsMixin(StoreBase):
    """Writing denials and the audit trail."""

    def reverse_open_denials(
        self,
        payer_id: int,
        patient_control: str,
        payer_claim_id: str,
        source: str,
        at: str,
        moves: Mapping[str, str],
    ) -> int:
        """A CLP02=22 reversal: the payer withdrew the earlier adjudication of this claim, so
        its denials in a status ``moves`` names move as it says (``Status.ON_REVERSAL``: the
        open ones leave the queue; the corrected claim is judged on its own)."""
        statuses = tuple(moves)
        params: list[Any] = [payer_id, patient_control, *statuses]
        sql = (
            "SELECT id, status FROM denials WHERE payer_id = ? AND patient_control = ? "  # noqa: S608
            f"AND status IN ({_marks(statuses)})"
        )
        if payer_claim_id:
            sql += " AND payer_claim_id = ?"
            params.append(payer_claim_id)
        rows = self.conn.execute(sql, params).fetchall()
        return self._move_all(rows, moves, at, "payer reversed the claim (CLP02=22)", source)

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
                    f"{cols}WHERE d.payer_id = ? AND {column} IN ({_marks(part)}) "
                    f"AND d.status IN ({_marks(OPEN_STATUSES)})",
                    [payer_id, *part, *OPEN_STATUSES],
                ):
                    out[r["id"]] = r
        return [out[k] for k in sorted(out)]

    def note_repeat(self, denial_id: int, at: str, source: str, detail: str = "") -> None:
        status = self.conn.execute(
            f"SELECT status FROM denials WHERE id = ?{self.dialect.for_update}",  # noqa: S608
            (denial_id,),
        ).fetchone()[0]
        text = "denied again on a later remittance" + (f": {detail}" if detail else "")
        self._event(denial_id, at, "denialkit", status, status, text, source)

    def _payees_of(self, remittance_ids: set[int]) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for part in _chunks(sorted(remittance_ids)):
            for rid, payee_id in self.conn.execute(
                f"SELECT id, payee_id FROM remittances WHERE id IN ({_marks(part)})",  # noqa: S608
                part,
            ):
                out[rid] = payee_id
        return out

    def insert_denials(self, rows: list[dict[str, Any]], at: str, source: str) -> list[int]:
        if not rows:
            return []
        first = int(self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM denials").fetchone()[0])
        cols = [c for c in rows[0] if c != "payee_id"]
        ids = list(range(first, first + len(rows)))
        # The practice: the payee (N1*PE) of the remittance the denial came on, written with
        # the row (an UPDATE afterwards leaves a dead copy of every row on PostgreSQL: the
        # table twice its size until a vacuum).
        payee = self._payees_of({r["remittance_id"] for r in rows})
        # Bulk load (COPY on PostgreSQL), in the file's transaction.
        self.dialect.bulk_insert(
            self.conn,
            "denials",
            ["id", *cols, "payee_id"],
            [
                (i, *(r[c] for c in cols), payee.get(r["remittance_id"]))
                for i, r in zip(ids, rows, strict=True)
            ],
        )
        self.grew(2 * len(rows))  # the denials and their events
        columns = ["denial_id", "at", "actor", "old_status", "new_status", "detail", "source"]
        found = [
            (i, at, "denialkit", None, "new",
             f"found at intake: {r['group_code']}-{r['carc']} ({r['category']})", source)
            for i, r in zip(ids, rows, strict=True)
        ]  # fmt: skip
        expired = [
            (i, at, "denialkit", "new", "expired", "appeal deadline passed", "deadline")
            for i, r in zip(ids, rows, strict=True)
            if r["status"] == "expired"
        ]
        self.dialect.bulk_insert(self.conn, "events", columns, found + expired)
        return ids

    def pattern_count(self, payer_id: int, procedure: str, carc: str, since: str) -> int:
        """Denials with this payer, procedure and CARC received on or after ``since``."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM denials WHERE payer_id = ? AND procedure = ? AND carc = ? "  # noqa: S608 - vocabulary words
                f"AND received >= ? AND status != '{Status.REVERSED}'",
                (payer_id, procedure, carc, since),
            ).fetchone()[0]
        )

    def outcome_stats(self) -> dict[tuple[int, str], tuple[float, int]]:
        """Per payer and CARC: (overturned, decided); a partial overturn counts half. Only
        appeals count: money paid on reprocessing without an appeal says nothing about them."""
        rows = self.conn.execute(
            f"SELECT payer_id, carc, SUM(CASE status WHEN '{Status.OVERTURNED}' THEN 1.0 "  # noqa: S608
            f"WHEN '{Status.PARTIALLY_OVERTURNED}' THEN 0.5 ELSE 0 END), COUNT(*) FROM denials "
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
            f"follow_up = CASE WHEN status = '{Status.APPEALED}' THEN follow_up ELSE ? END WHERE id = ?",
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
        moves: Mapping[str, str],
    ) -> None:
        """Assign (or with ``assignee`` None, unassign) one denial, with its event; a person
        assigned moves the status as ``moves`` says (old -> new: ``lifecycle.ON_ASSIGN``)."""
        status, before = self._holding(denial_id)
        new_status = moves.get(status, status) if assignee else status
        self.conn.execute(
            "UPDATE denials SET team = COALESCE(?, team), assignee = ?, status = ? WHERE id = ?",
            (team, assignee, new_status, denial_id),
        )
        detail = f"assigned to {assignee}" if assignee else "unassigned"
        if before:
            detail += f" (was {before})"
        self._event(denial_id, at, actor, status, new_status, detail, source)

    def take_next(
        self,
        who: str,
        *,
        statuses: Sequence[str],
        at: str,
        moves: Mapping[str, str],
        source: str = "next",
        **filters: Any,
    ) -> int | None:
        """Take the most urgent denial in ``statuses`` that nobody else holds (or that ``who``
        holds already) and assign it to ``who``, with its event, atomically: on PostgreSQL
        the row is locked and rows another taker holds are skipped (``FOR UPDATE SKIP
        LOCKED``); on SQLite the write transaction is the lock. ``filters`` as the queue's
        (``team``, ``category``, ``practice``, ``action``). None when there is none."""
        from .queries import _queue_where

        where, params = _queue_where(statuses, **filters)
        sql = (
            "SELECT d.id FROM denials d "  # noqa: S608 - our own SQL; values bound
            f"WHERE {where} AND (d.assignee IS NULL OR d.assignee = ?) "
            f"ORDER BY {QUEUE_ORDER} LIMIT 1{self.dialect.skip_locked}"
        )
        with self.transaction():
            row = self.conn.execute(sql, [*params, who]).fetchone()
            if row is None:
                return None
            denial_id = int(row[0])
            self.set_assignment(denial_id, None, who, who, source, at, moves)
        return denial_id

    def _holding(self, denial_id: int) -> tuple[str, str | None]:
        """A denial's status and who holds it, its row locked to the end of the transaction
        (PostgreSQL; SQLite's write transaction already is)."""
        row = self.conn.execute(
            f"SELECT status, assignee FROM denials WHERE id = ?{self.dialect.for_update}",  # noqa: S608
            (denial_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no denial with id {denial_id}")
        return row[0], row[1]

    def release(self, denial_id: int, who: str, at: str, moves: Mapping[str, str]) -> str | None:
        """Give a denial back: nobody holds it, its status moved as ``moves`` says
        (``lifecycle.ON_RELEASE``). Returns who held it (None: nobody did; nothing changes)."""
        with self.transaction():
            status, before = self._holding(denial_id)
            if before is None:
                return None
            new_status = moves.get(status, status)
            self.conn.execute(
                "UPDATE denials SET assignee = NULL, status = ? WHERE id = ? AND status = ?",
                (new_status, denial_id, status),
            )
            self._event(
                denial_id, at, who, status, new_status, f"released (was {before})", "release"
            )
        return str(before)

    def expire_overdue(self, today: str, at: str, moves: Mapping[str, str]) -> int:
        """Denials in a status ``moves`` names, past their deadline, move as it says
        (``Status.ON_DEADLINE``: not yet appealed becomes 'expired')."""
        rows = self.conn.execute(
            f"SELECT id, status FROM denials WHERE status IN ({_marks(tuple(moves))}) "  # noqa: S608
            "AND deadline < ?",
            [*moves, today],
        ).fetchall()
        return self._move_all(rows, moves, at, "appeal deadline passed", "deadline")

    def _move_all(
        self,
        rows: Sequence[tuple[int, str]],
        moves: Mapping[str, str],
        at: str,
        detail: str,
        source: str,
    ) -> int:
        """Move each (id, status) as ``moves`` says, one event each, guarded by the status it
        was read with; returns how many."""
        for denial_id, status in rows:
            self._event(denial_id, at, "denialkit", status, moves[status], detail, source)
        self.conn.executemany(
            "UPDATE denials SET status = ? WHERE id = ? AND status = ?",
            [(moves[status], denial_id, status) for denial_id, status in rows],
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
        # PostgreSQL: the row stays locked to the end of the transaction, so a change decided
        # on this read (and its event's old status) cannot interleave with another one.
        row = self.conn.execute(
            f"SELECT {', '.join(keys)} FROM denials WHERE id = ?{self.dialect.for_update}",  # noqa: S608
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
            f"WHERE c.id BETWEEN ? AND ? AND c.remittance_id = ? "
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
