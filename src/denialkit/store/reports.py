"""Report queries: aggregates only, the report code never sees one row per denial."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..vocabulary import Action, Status
from .base import StoreBase
from .sql import (
    _PAYER_MATCH,
    _PRACTICE_MATCH,
    DECIDED_STATUSES,
    OPEN_STATUSES,
    WAITING_STATUSES,
    _chunks,
    _marks,
    _payer_params,
    _practice_params,
    _words,
)


@dataclass(frozen=True)
class ReportFilter:
    """What a report counts: a period (``since``/``until``, inclusive ISO dates, on the date
    each query names: a denial's receipt, a line's remittance, an appeal's submission), one
    payer (part of its name, its id or its REF*2U) and one client practice (the payee, N1*PE:
    its NPI, tax id or part of its name). None: no limit. Every report query takes one."""

    since: str | None = None
    until: str | None = None
    payer: str | None = None
    practice: str | None = None

    def period(self, since: str | None, until: str | None) -> ReportFilter:
        """The same payer and practice over another period."""
        return replace(self, since=since, until=until)

    def any_time(self) -> ReportFilter:
        """The same payer and practice, whatever the date."""
        return replace(self, since=None, until=None)


def _month_order(row: dict[str, Any]) -> tuple[bool, str, bool, str]:
    """Month, then category, nulls first (as SQLite orders them)."""
    return (row["month"] is not None, row["month"] or "",
            row["category"] is not None, row["category"] or "")  # fmt: skip


class ReportMixin(StoreBase):
    """The aggregates behind every report."""

    def practices(self) -> list[dict[str, Any]]:
        """Every practice (payee) that has remittances: id, name, NPI (or other id), tax id."""
        return self.query(
            "SELECT y.id, y.name, y.identifier, y.tax_id FROM payees y WHERE EXISTS "
            "(SELECT 1 FROM remittances r WHERE r.payee_id = y.id) ORDER BY y.name, y.id"
        )

    @staticmethod
    def _filter(
        base: str,
        date: str,
        payer_column: str,
        f: ReportFilter,
        practice_column: str = "d.payee_id",
    ) -> tuple[str, list[Any]]:
        """A parameterized WHERE clause: ``base``, ``date`` within the filter's period, its
        payer and its practice."""
        where, params = [base], []
        if f.since:
            where.append(f"{date} >= ?")
            params.append(f.since)
        if f.until:
            where.append(f"{date} <= ?")
            params.append(f.until)
        if f.payer:
            # Column names are ours; the values are bound parameters.
            where.append(f"{payer_column} IN (SELECT id FROM payers WHERE {_PAYER_MATCH})")  # noqa: S608
            params += _payer_params(f.payer)
        if f.practice:
            where.append(f"{practice_column} IN (SELECT id FROM payees WHERE {_PRACTICE_MATCH})")  # noqa: S608
            params += _practice_params(f.practice)
        return " AND ".join(where), params

    def _denial_filter(self, f: ReportFilter, column: str = "d.received") -> tuple[str, list[Any]]:
        # Patient responsibility (bill_patient) is kept but is not a denial in any report.
        return self._filter(
            f"d.status != '{Status.REVERSED}' AND COALESCE(d.action, '') != '{Action.BILL_PATIENT}'",
            column,
            "d.payer_id",
            f,
        )

    def open_breakdown(self, f: ReportFilter) -> list[dict[str, Any]]:
        """Open denials counted by status, tier, category, team and whether assigned."""
        where, params = self._denial_filter(f.any_time())
        return self.query(
            "SELECT d.status, d.tier, d.category, COALESCE(d.team, '') AS team, "  # noqa: S608
            "CASE WHEN d.assignee IS NULL THEN 1 ELSE 0 END AS unassigned, COUNT(*) AS n, SUM(d.amount_cents) AS cents "
            f"FROM denials d WHERE {where} AND d.status IN ({_marks(OPEN_STATUSES)}) "
            "GROUP BY 1, 2, 3, 4, 5",
            [*params, *OPEN_STATUSES],
        )

    def deadline_counts(
        self, today: str, windows: Sequence[tuple[str, str]], f: ReportFilter
    ) -> dict[str, Any]:
        """In one pass over the denials, each as (count, cents): ``windows``, those still
        waiting for an appeal whose deadline falls in each [first, last] (any receipt date);
        ``past``, those whose deadline passed with no appeal, still open or already expired
        (received in the filter's period); ``follow_up``, appealed ones whose decision is
        overdue (follow-up date reached: call the payer)."""
        where, params = self._denial_filter(f.any_time())
        # The period alone (payer and practice are in ``where`` already).
        period, period_params = self._filter(
            "1 = 1", "d.received", "d.payer_id", ReportFilter(f.since, f.until)
        )
        waiting = f"d.status IN ({_words(WAITING_STATUSES)})"
        conds: list[tuple[str, list[Any]]] = [
            (f"{waiting} AND d.deadline BETWEEN ? AND ?", [first, last]) for first, last in windows
        ]
        conds.append(
            (f"{period} AND d.deadline < ? AND ({waiting} OR d.status = '{Status.EXPIRED}')",
             [*period_params, today])
        )  # fmt: skip
        conds.append((f"d.status = '{Status.APPEALED}' AND d.follow_up <= ?", [today]))
        sums: list[str] = []
        sum_params: list[Any] = []
        for cond, p in conds:
            sums += [f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)",
                     f"SUM(CASE WHEN {cond} THEN d.amount_cents ELSE 0 END)"]  # fmt: skip
            sum_params += [*p, *p]
        row = self.conn.execute(
            f"SELECT {', '.join(sums)} FROM denials d WHERE {where}",  # noqa: S608
            [*sum_params, *params],
        ).fetchone()
        pairs = [(int(row[i] or 0), int(row[i + 1] or 0)) for i in range(0, len(row), 2)]
        return {"windows": pairs[:-2], "past": pairs[-2], "follow_up": pairs[-1]}

    def past_deadline(self, today: str, f: ReportFilter, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` denials whose deadline passed with no appeal (still open, or
        already expired), earliest deadline first."""
        where, params = self._denial_filter(f)
        return self.query(
            "SELECT d.id, d.patient_control AS claim, p.name AS payer, "  # noqa: S608
            "c.patient_last, c.patient_first, c.patient_id, d.procedure, d.carc, "
            "d.group_code, d.amount_cents, d.received, d.deadline, d.status, d.assignee "
            "FROM denials d JOIN payers p ON p.id = d.payer_id JOIN claims c ON c.id = d.claim_id "
            f"WHERE {where} AND d.deadline < ? AND d.status IN "
            f"({_words((*WAITING_STATUSES, Status.EXPIRED))}) "
            "ORDER BY d.deadline, d.id LIMIT ?",
            [*params, today, limit],
        )

    def pattern_counts(self, f: ReportFilter) -> list[dict[str, Any]]:
        """Denials by payer x procedure x CARC in a period."""
        where, params = self._denial_filter(f)
        return self.query(
            # Grouped in the order of idx_denials_patterns, which holds every column read
            # here: SQLite sorts nothing (the payer's name is one per payer id).
            "SELECT d.payer_id, MIN(p.name) AS payer, d.procedure, d.carc, "  # noqa: S608
            "MIN(d.group_code) AS group_code, MIN(d.category) AS category, COUNT(*) AS n, "
            "SUM(d.amount_cents) AS cents "
            f"FROM denials d JOIN payers p ON p.id = d.payer_id WHERE {where} "
            "GROUP BY d.payer_id, d.procedure, d.carc ORDER BY d.payer_id, d.procedure, d.carc",
            params,
        )

    def _line_filter(self, f: ReportFilter) -> tuple[str, list[Any]]:
        # Lines billed in the period: by remittance date, reversals (CLP02=22) excluded.
        date = "COALESCE(r.payment_date, r.production_date)"
        return self._filter("c.status != '22'", date, "c.payer_id", f, "r.payee_id")

    def lines_billed(self, f: ReportFilter) -> list[dict[str, Any]]:
        """Service lines by payer x procedure, and by rendering provider, in a period."""
        where, params = self._line_filter(f)
        return self.query(
            "SELECT c.payer_id, l.procedure, COALESCE(c.rendering_id, '') AS rendering, "  # noqa: S608
            "COUNT(*) AS n FROM service_lines l JOIN claims c ON c.id = l.claim_id "
            f"JOIN remittances r ON r.id = c.remittance_id WHERE {where} GROUP BY 1, 2, 3",
            params,
        )

    def denials_by_provider(self, f: ReportFilter) -> list[dict[str, Any]]:
        where, params = self._denial_filter(f)
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

    def monthly(self, f: ReportFilter, carcs: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Per month of receipt and category: denied, appealed, recovered, written off and
        expired money (``carcs`` narrows to those reason codes)."""
        where, params = self._denial_filter(f)
        if carcs:
            where += f" AND d.carc IN ({_marks(carcs)})"
            params = [*params, *carcs]
        # Grouped by category and day in the order of idx_denials_months, which holds every
        # column read (SQLite sorts nothing: a grouping by month would sort every denial),
        # then the days summed into months here (a few hundred rows).
        rows = self.query(
            "SELECT d.received AS day, d.category, COUNT(*) AS n, "  # noqa: S608
            "SUM(d.amount_cents) AS denied, "
            "SUM(CASE WHEN d.appealed_on IS NOT NULL THEN d.amount_cents ELSE 0 END) AS appealed, "
            "SUM(CASE WHEN d.appealed_on IS NOT NULL THEN 1 ELSE 0 END) AS n_appealed, "
            "COALESCE(SUM(d.recovered_cents), 0) AS recovered, "
            "COALESCE(SUM(CASE WHEN d.appealed_on IS NULL THEN d.recovered_cents END), 0) "
            "AS recovered_without_appeal, "
            f"SUM(CASE WHEN d.status = '{Status.WRITTEN_OFF}' THEN d.amount_cents ELSE 0 END) AS written_off, "
            f"SUM(CASE WHEN d.status = '{Status.EXPIRED}' THEN d.amount_cents ELSE 0 END) AS expired "
            f"FROM denials d WHERE {where} GROUP BY d.category, d.received "
            "ORDER BY d.category, d.received",
            params,
        )
        months: dict[tuple[str | None, str | None], dict[str, Any]] = {}
        for r in rows:
            day = r.pop("day")
            month = None if day is None else day[:7]
            m = months.get((month, r["category"]))
            if m is None:
                months[(month, r["category"])] = {"month": month, **r}
            else:
                for k, v in r.items():
                    if k != "category":
                        m[k] = (m[k] or 0) + (v or 0) if m[k] is not None or v is not None else None
        return sorted(months.values(), key=_month_order)

    def decided(self, f: ReportFilter) -> list[dict[str, Any]]:
        """Appeal decisions (overturned, partial, upheld) by category and payer."""
        where, params = self._denial_filter(f)
        return self.query(
            "SELECT d.category, p.name AS payer, d.status, COUNT(*) AS n, "  # noqa: S608
            "COALESCE(SUM(d.recovered_cents), 0) AS recovered FROM denials d "
            f"JOIN payers p ON p.id = d.payer_id WHERE {where} AND d.status IN "
            f"({_words(DECIDED_STATUSES)}) "
            "AND d.appealed_on IS NOT NULL GROUP BY 1, 2, 3",
            params,
        )

    # A claim is counted once, at its first adjudication (HFMA initial denial rate): the same
    # payer, patient account number (CLP01), patient and date of service (``claim_key``) is the
    # same claim; reversals (CLP02=22) and later re-adjudications add nothing to the
    # denominator. Intake marks the first one (``claims.first_adj``, ClaimWriter).
    def initial_rates(self, f: ReportFilter) -> dict[str, Any]:
        """What the initial denial rate counts (first adjudications, ``claims.first_adj``),
        grouped in SQL by integer keys (a grouping by a date expression over every claim
        costs several times more; the caller maps remittances to months): ``months``
        remittance id -> month (within the period and practice); ``claims`` rows of
        (remittance_id, payer_id, payer, claims, lines, billed); ``by_payer`` rows of
        (remittance_id, payer_id, denied_claims, denied_lines, denied) and ``by_category``
        rows of (remittance_id, category, denied_claims, denied_lines, denied).

        A denied claim counts its denied lines, or all its lines when denied at claim level
        (a denial with no line); in a category, the same within that category's denials.
        Patient responsibility (bill_patient) is not a denial."""
        lo, hi = (f.since or "0000-00")[:7], (f.until or "9999-12")[:7]
        rsql = (
            "SELECT r.id, substr(COALESCE(r.payment_date, r.production_date), 1, 7) AS month "
            "FROM remittances r"
        )
        rparams: list[Any] = []
        if f.practice:
            rsql += f" WHERE r.payee_id IN (SELECT id FROM payees WHERE {_PRACTICE_MATCH})"  # noqa: S608
            rparams += _practice_params(f.practice)
        months = {rid: m for rid, m in self.conn.execute(rsql, rparams) if m and lo <= m <= hi}
        cond, params = "c.first_adj = 1", []
        if f.payer:
            cond += f" AND c.payer_id IN (SELECT id FROM payers WHERE {_PAYER_MATCH})"  # noqa: S608
            params += _payer_params(f.payer)
        claims = self.query(
            # Off idx_claims_rates alone, in its order (the payer's name is one per payer id).
            "SELECT c.remittance_id, c.payer_id, MIN(p.name) AS payer, COUNT(*) AS claims, "  # noqa: S608
            "SUM(c.line_count) AS lines, SUM(c.charge_cents) AS billed FROM claims c "
            f"JOIN payers p ON p.id = c.payer_id WHERE {cond} "
            "GROUP BY c.remittance_id, c.payer_id",
            params,
        )
        # Per claim (``y``) and per claim and category (``g``): denied lines, denied as a whole,
        # cents; each grouped in the order of idx_denials_claim_rates, which holds every
        # column read (SQLite sorts nothing), then summed per remittance, by payer (claims)
        # and by category, in the database: a million-line store has 355,556 denied claims,
        # too many to carry into Python one by one.
        per = (
            "SUM(CASE WHEN d.line_id IS NULL THEN 0 ELSE 1 END) AS n, "
            "MAX(CASE WHEN d.line_id IS NULL THEN 1 ELSE 0 END) AS w, "
            "SUM(COALESCE(d.amount_cents, 0)) AS cents FROM denials d "
            f"WHERE COALESCE(d.action, '') != '{Action.BILL_PATIENT}'"
        )
        lc = "COALESCE(c.line_count, 0)"
        rows = self.conn.execute(
            f"WITH y AS (SELECT d.claim_id, {per} GROUP BY d.claim_id), "  # noqa: S608
            f"g AS (SELECT d.claim_id, d.category, {per} GROUP BY d.claim_id, d.category) "
            "SELECT 1, c.remittance_id, c.payer_id, NULL, COUNT(*), "
            f"SUM(CASE WHEN y.w = 1 THEN {lc} ELSE {self.dialect.least('y.n', lc)} END), "
            f"SUM(y.cents) FROM y JOIN claims c ON c.id = y.claim_id WHERE {cond} "
            "GROUP BY c.remittance_id, c.payer_id UNION ALL "
            "SELECT 2, c.remittance_id, NULL, g.category, COUNT(*), "
            f"SUM(CASE WHEN g.w = 1 THEN {lc} ELSE g.n END), SUM(g.cents) FROM g "
            f"JOIN claims c ON c.id = g.claim_id WHERE {cond} GROUP BY c.remittance_id, g.category",
            [*params, *params],
        ).fetchall()
        by_payer = [(r[1], r[2], r[4], r[5], r[6]) for r in rows if r[0] == 1]
        by_category = [(r[1], r[3], r[4], r[5], r[6]) for r in rows if r[0] == 2]
        return {"months": months, "claims": claims, "by_payer": by_payer,
                "by_category": by_category}  # fmt: skip

    def appeals_by_month(self, f: ReportFilter) -> dict[str, int]:
        """Appeals submitted per month (every level counts: each costs staff time)."""
        where, params = self._denial_filter(f.any_time())
        lo, hi = f.since or "0000-00-00", f.until or "9999-12-31"
        # The submit event's detail starts "appeal submitted on YYYY-MM-DD" (lifecycle.submit):
        # the day it was sent, not the day it was recorded.
        rows = self.conn.execute(
            "SELECT substr(e.detail, 21, 7), COUNT(*) FROM events e "  # noqa: S608
            f"JOIN denials d ON d.id = e.denial_id WHERE {where} AND e.source = 'submit' "
            f"AND e.new_status = '{Status.APPEALED}' AND substr(e.detail, 21, 10) BETWEEN ? AND ? "
            "GROUP BY 1",
            [*params, lo, hi],
        ).fetchall()
        return {m: n for m, n in rows}

    def team_activity(self, today: str, f: ReportFilter) -> list[dict[str, Any]]:
        """Per assignee: open and overdue now; appeals and decisions dated in the period."""
        where, params = self._denial_filter(f.any_time())
        lo, hi = f.since or "0000-00-00", f.until or "9999-12-31"
        waiting = f"d.status IN ({_words(WAITING_STATUSES)})"
        return self.query(
            "SELECT COALESCE(d.assignee, '') AS assignee, "  # noqa: S608
            f"SUM(CASE WHEN d.status IN ({_marks(OPEN_STATUSES)}) THEN 1 ELSE 0 END) AS open, "
            f"SUM(CASE WHEN ({waiting} AND d.deadline < ?) OR d.status = '{Status.EXPIRED}' "
            "THEN 1 ELSE 0 END) AS overdue, "
            "SUM(CASE WHEN d.appealed_on BETWEEN ? AND ? THEN 1 ELSE 0 END) AS submitted, "
            f"SUM(CASE WHEN d.status IN ({_words(DECIDED_STATUSES)}) "
            "AND d.appealed_on IS NOT NULL AND d.outcome_date BETWEEN ? AND ? "
            "THEN 1 ELSE 0 END) AS decided, "
            f"SUM(CASE WHEN d.status IN ({_words(Status.WON)}) "
            "AND d.appealed_on IS NOT NULL AND d.outcome_date BETWEEN ? AND ? "
            "THEN 1 ELSE 0 END) AS won, "
            "COALESCE(SUM(CASE WHEN d.outcome_date BETWEEN ? AND ? THEN d.recovered_cents END), 0) "
            "AS recovered "
            f"FROM denials d WHERE {where} GROUP BY 1 ORDER BY 1",
            [*OPEN_STATUSES, today, lo, hi, lo, hi, lo, hi, lo, hi, *params],
        )

    def days_to_appeal(self, f: ReportFilter) -> list[tuple[str, int]]:
        """(assignee, days from receipt to appeal) for appeals submitted in the period."""
        where, params = self._denial_filter(f, column="d.appealed_on")
        return [
            (a, int(n))
            for a, n in self.conn.execute(
                "SELECT COALESCE(d.assignee, ''), "  # noqa: S608
                f"{self.dialect.days_between('d.appealed_on', 'd.received')} FROM denials d "
                f"WHERE {where} AND d.appealed_on IS NOT NULL",
                params,
            )
        ]
