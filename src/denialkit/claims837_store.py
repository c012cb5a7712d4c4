"""The store's part for submitted claims (837): tables, intake, links, and the history the
scrubber and the unanswered report read. ``Store`` inherits it; SQL stays in store code.

Tables (created if missing, by ``create_claim_tables``, on any schema):

* ``submissions``: one row per 837 transaction (its file, BHT, content hash);
* ``submitted_claims`` / ``submitted_lines``: what the practice billed (money in cents,
  diagnoses as comma-separated codes principal first, line pointers 1-based into them);
* ``claim_links`` / ``line_links``: remittance claim (line) -> submitted claim (line).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .vocabulary import Action, Status

if TYPE_CHECKING:
    from .edi837 import SubmittedClaim

CLAIM_TABLES_DDL = (
    "CREATE TABLE IF NOT EXISTS submissions ({pk}, file_id {int}, "
    "transaction_no {int}, segment {int}, implementation TEXT, reference TEXT, "
    "created TEXT, content_sha256 TEXT, claim_count {int})",
    "CREATE TABLE IF NOT EXISTS submitted_claims ({pk}, "
    "submission_id {int}, payer_id {int}, segment {int}, kind TEXT, "
    "patient_control TEXT, charge_cents {int}, facility_code TEXT, frequency TEXT, "
    "original_ref TEXT, prior_auth TEXT, referral TEXT, diagnoses TEXT, billing_npi TEXT, "
    "billing_name TEXT, rendering_npi TEXT, referring_npi TEXT, filing_indicator TEXT, "
    "member_id TEXT, subscriber_last TEXT, subscriber_first TEXT, subscriber_dob TEXT, "
    "patient_last TEXT, patient_first TEXT, patient_dob TEXT, dos_from TEXT, dos_to TEXT, "
    "created TEXT, line_count {int}, replaces_id {int})",
    "CREATE TABLE IF NOT EXISTS submitted_lines ({pk}, "
    "submitted_id {int}, line_no {int}, segment {int}, procedure_qualifier TEXT, "
    "procedure TEXT, modifiers TEXT, charge_cents {int}, units TEXT, revenue_code TEXT, "
    "date_from TEXT, date_to TEXT, pointers TEXT, line_control TEXT, rendering_npi TEXT)",
    "CREATE TABLE IF NOT EXISTS claim_links (claim_id {int} PRIMARY KEY, submitted_id {int})",
    "CREATE TABLE IF NOT EXISTS line_links (line_id {int} PRIMARY KEY, submitted_line_id {int})",
    "CREATE INDEX IF NOT EXISTS idx_submissions_content ON submissions (content_sha256)",
    "CREATE INDEX IF NOT EXISTS idx_submitted_claims_pcn ON submitted_claims "
    "(payer_id, patient_control)",
    "CREATE INDEX IF NOT EXISTS idx_submitted_claims_member ON submitted_claims (member_id)",
    "CREATE INDEX IF NOT EXISTS idx_submitted_claims_replaces ON submitted_claims (replaces_id)",
    "CREATE INDEX IF NOT EXISTS idx_submitted_lines_claim ON submitted_lines (submitted_id)",
    "CREATE INDEX IF NOT EXISTS idx_claim_links_submitted ON claim_links (submitted_id)",
    "CREATE INDEX IF NOT EXISTS idx_submitted_lines_service ON submitted_lines "
    "(procedure, date_from)",
    # The scrubber asks about one member at a time (eligibility, duplicates).
    "CREATE INDEX IF NOT EXISTS idx_claims_patient_id ON claims (patient_id)",
    "CREATE INDEX IF NOT EXISTS idx_denials_claim_id ON denials (claim_id)",
)


# Every table of submitted claims, and those whose ids are generated (a move copies them all).
CLAIM_TABLES = ("submissions", "submitted_claims", "submitted_lines", "claim_links", "line_links")
CLAIM_TABLES_WITH_IDS = ("submissions", "submitted_claims", "submitted_lines")

_LINE_COLUMNS = ("submitted_id", "line_no", "segment", "procedure_qualifier", "procedure",
                 "modifiers", "charge_cents", "units", "revenue_code", "date_from", "date_to",
                 "pointers", "line_control", "rendering_npi")  # fmt: skip


def _cents(value: Decimal) -> int:
    """Integer cents, half up (as ``store.to_cents``)."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _chunks(values: Sequence[Any], size: int = 400) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield list(values[i : i + size])


# A payer by part of its name, its id or its REF*2U (as the store's reports filter).
_PAYER_MATCH = "name LIKE ? OR identifier = ? OR ref_2u = ?"


class ClaimsStore:
    """Mixed into ``Store``: everything about submitted (837) claims."""

    conn: Any
    dialect: Any  # the store's Dialect (a layer above this module may not be imported)

    if TYPE_CHECKING:

        def query(
            self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
        ) -> list[dict[str, Any]]: ...
        def _party_id(self, table: str, key: str, values: dict[str, Any]) -> int: ...
        def transaction(self) -> Any: ...

    # -- schema ---------------------------------------------------------------------------

    def create_claim_tables(self) -> None:
        d = self.dialect
        # Generated ids and integer widths differ by engine (64-bit on both).
        words = {"pk": d.pk_column("id", int), "int": d.types[int]}
        for ddl in CLAIM_TABLES_DDL:
            self.conn.execute(ddl.format(**words))

    # -- intake ---------------------------------------------------------------------------

    def find_submission(self, content: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM submissions WHERE content_sha256 = ?", (content,)
        ).fetchone()
        return None if row is None else int(row[0])

    def add_submission(
        self,
        file_id: int,
        transaction: int,
        segment: int,
        implementation: str,
        reference: str,
        created: str | None,
        content: str | None,
        claim_count: int,
    ) -> int:
        new_id: int = self.dialect.insert_id(
            self.conn,
            "INSERT INTO submissions (file_id, transaction_no, segment, implementation, "
            "reference, created, content_sha256, claim_count) VALUES (?,?,?,?,?,?,?,?)",
            (
                file_id,
                transaction,
                segment,
                implementation,
                reference,
                created,
                content,
                claim_count,
            ),  # fmt: skip
        )
        return new_id

    def submitted_payer_id(self, claim: SubmittedClaim) -> int:
        return self._party_id(
            "payers",
            claim.payer_key,
            {
                "name": claim.payer_name,
                "id_qualifier": "PI" if claim.payer_id else "",
                "identifier": claim.payer_id,
                "ref_2u": "",
                "address": "",
                "city": "",
                "state": "",
                "postal_code": "",
                "contacts": "[]",
            },
        )

    def add_submitted_claim(self, submission_id: int, c: SubmittedClaim) -> int:
        payer_id = self.submitted_payer_id(c)
        sid: int = self.dialect.insert_id(
            self.conn,
            "INSERT INTO submitted_claims (submission_id, payer_id, segment, kind, "
            "patient_control, charge_cents, facility_code, frequency, original_ref, prior_auth, "
            "referral, diagnoses, billing_npi, billing_name, rendering_npi, referring_npi, "
            "filing_indicator, member_id, subscriber_last, subscriber_first, subscriber_dob, "
            "patient_last, patient_first, patient_dob, dos_from, dos_to, created, line_count) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                submission_id,
                payer_id,
                c.segment,
                c.kind,
                c.patient_control,
                _cents(c.charge),
                c.facility_code,
                c.frequency,
                c.original_ref,
                c.prior_auth,
                c.referral,
                ",".join(c.diagnoses),
                c.billing_npi,
                c.billing_name,
                c.rendering_npi,
                c.referring_npi,
                c.filing_indicator,
                c.member_id,
                c.subscriber_last,
                c.subscriber_first,
                c.subscriber_dob,
                c.patient_last,
                c.patient_first,
                c.patient_dob,
                c.dos_from,
                c.dos_to,
                c.created,
                len(c.lines),
            ),  # fmt: skip
        )
        self.dialect.bulk_insert(
            self.conn,
            "submitted_lines",
            list(_LINE_COLUMNS),
            [
                (
                    sid,
                    ln.number,
                    ln.segment,
                    ln.procedure_qualifier,
                    ln.procedure,
                    ",".join(ln.modifiers),
                    _cents(ln.charge),
                    None if ln.units is None else str(ln.units),
                    ln.revenue_code,
                    ln.date_from,
                    ln.date_to,
                    ",".join(map(str, ln.pointers)),
                    ln.line_control,
                    ln.rendering_npi,
                )  # fmt: skip
                for ln in c.lines
            ],
        )
        return sid

    # -- linking --------------------------------------------------------------------------

    def claim_id_range(self, remittance_ids: Sequence[int]) -> tuple[int, int] | None:
        """The first and last claim id stored for these remittances (ids grow with intake)."""
        lo = hi = None
        for part in _chunks(list(remittance_ids)):
            row = self.conn.execute(
                f"SELECT MIN(id), MAX(id) FROM claims WHERE remittance_id IN ({_marks(part)})",  # noqa: S608
                part,
            ).fetchone()
            if row and row[0] is not None:
                lo = row[0] if lo is None else min(lo, row[0])
                hi = row[1] if hi is None else max(hi, row[1])
        return None if lo is None or hi is None else (int(lo), int(hi))

    def has_submitted_claims(self) -> bool:
        return self.conn.execute("SELECT 1 FROM submitted_claims LIMIT 1").fetchone() is not None

    def link_claims(
        self, claim_ids: tuple[int, int] | None = None, submitted_ids: Sequence[int] = ()
    ) -> list[tuple[int, int]]:
        """Link remittance claims to submitted claims: same payer, CLP01 = CLM01, and the
        remittance claim's date of service within the submitted claim's dates (a CLM01 reused
        on another date of service never links). The latest matching submission wins (a
        corrected claim replaces the original). ``claim_ids`` limits to a range of remittance
        claims (an 835 just stored), ``submitted_ids`` to claims just submitted. Returns the
        new (claim id, submitted id) pairs."""
        match = (
            "SELECT s.id FROM submitted_claims s WHERE s.payer_id = c.payer_id "
            "AND s.patient_control = c.patient_control AND c.dos BETWEEN s.dos_from "
            "AND s.dos_to ORDER BY s.id DESC LIMIT 1"
        )
        where, params = "c.id NOT IN (SELECT claim_id FROM claim_links)", []
        if claim_ids is not None:
            where += " AND c.id BETWEEN ? AND ?"
            params += list(claim_ids)
        pairs: list[tuple[int, int]] = []
        if submitted_ids:
            for part in _chunks(list(submitted_ids)):
                rows = self.conn.execute(
                    f"SELECT c.id, ({match}) FROM claims c JOIN submitted_claims s0 "  # noqa: S608
                    "ON s0.payer_id = c.payer_id AND s0.patient_control = c.patient_control "
                    f"WHERE {where} AND s0.id IN ({_marks(part)})",
                    [*params, *part],
                ).fetchall()
                pairs += [(int(a), int(b)) for a, b in rows if b is not None]
        else:
            rows = self.conn.execute(
                f"SELECT c.id, ({match}) FROM claims c WHERE {where}",  # noqa: S608
                params,
            ).fetchall()
            pairs = [(int(a), int(b)) for a, b in rows if b is not None]
        pairs = sorted(set(pairs))
        self.conn.executemany(
            "INSERT INTO claim_links (claim_id, submitted_id) VALUES (?, ?) "
            "ON CONFLICT (claim_id) DO NOTHING",
            pairs,
        )
        return pairs

    def lines_for_linking(
        self, pairs: Sequence[tuple[int, int]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The remittance lines and the submitted lines of linked pairs."""
        remit: list[dict[str, Any]] = []
        sub: list[dict[str, Any]] = []
        for part in _chunks(list(pairs)):
            cids = [a for a, _ in part]
            sids = [b for _, b in part]
            remit += self.query(
                "SELECT id, claim_id, line_control, procedure, modifiers, date_from "  # noqa: S608
                f"FROM service_lines WHERE claim_id IN ({_marks(cids)}) ORDER BY id",
                cids,
            )
            sub += self.query(
                "SELECT id, submitted_id, line_control, procedure, modifiers, date_from, "  # noqa: S608
                f"line_no FROM submitted_lines WHERE submitted_id IN ({_marks(sids)}) "
                "ORDER BY submitted_id, line_no",
                sids,
            )
        return remit, sub

    def add_line_links(self, pairs: Sequence[tuple[int, int]]) -> None:
        self.conn.executemany(
            "INSERT INTO line_links (line_id, submitted_line_id) VALUES (?, ?) "
            "ON CONFLICT (line_id) DO NOTHING",
            pairs,
        )

    def replaced_claim(
        self, payer_id: int, original_ref: str, patient_control: str, dos: str | None, before: int
    ) -> int | None:
        """The submitted claim a replacement (frequency 7/8) replaces: the one linked to the
        remittance claim whose CLP07 is the REF*F8, else the latest earlier submission of the
        same CLM01 and date of service."""
        if original_ref:
            row = self.conn.execute(
                "SELECT l.submitted_id FROM claims c JOIN claim_links l ON l.claim_id = c.id "
                "WHERE c.payer_id = ? AND c.payer_claim_id = ? AND l.submitted_id < ? "
                "ORDER BY c.id DESC LIMIT 1",
                (payer_id, original_ref, before),
            ).fetchone()
            if row:
                return int(row[0])
        row = self.conn.execute(
            "SELECT id FROM submitted_claims WHERE payer_id = ? AND patient_control = ? "
            "AND ? BETWEEN dos_from AND dos_to AND id < ? ORDER BY id DESC LIMIT 1",
            (payer_id, patient_control, dos, before),
        ).fetchone()
        return int(row[0]) if row else None

    def set_replaces(self, submitted_id: int, replaced_id: int) -> None:
        self.conn.execute(
            "UPDATE submitted_claims SET replaces_id = ? WHERE id = ?", (replaced_id, submitted_id)
        )

    def resubmitted_denials(
        self, submitted_id: int, statuses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Open denials whose action is ``resubmit`` that this submitted claim answers: the
        same payer, and either its REF*F8 is the denied claim's CLP07, or the same CLM01 and
        date of service, received before the claim was submitted; never the denials of the
        remittance claim linked to this very claim."""
        s = self.conn.execute(
            "SELECT payer_id, original_ref, patient_control, dos_from, dos_to, created "
            "FROM submitted_claims WHERE id = ?",
            (submitted_id,),
        ).fetchone()
        if s is None:
            return []
        payer_id, original, pcn, dos_from, dos_to, created = s
        common = (
            f"d.action = 'resubmit' AND d.status IN ({_marks(statuses)}) "  # noqa: S608
            "AND d.received <= COALESCE(?, d.received) AND d.claim_id NOT IN "
            "(SELECT claim_id FROM claim_links WHERE submitted_id = ?)"
        )
        found: dict[int, dict[str, Any]] = {}
        # Each look-up on its own index: (payer_id, payer_claim_id), (payer_id, patient_control).
        if original:
            for r in self.query(
                "SELECT d.id, d.status FROM denials d WHERE d.payer_id = ? "  # noqa: S608
                f"AND d.payer_claim_id = ? AND {common}",
                [payer_id, original, *statuses, created, submitted_id],
            ):
                found[r["id"]] = r
        for r in self.query(
            "SELECT d.id, d.status FROM denials d WHERE d.payer_id = ? "  # noqa: S608
            f"AND d.patient_control = ? AND d.claim_date BETWEEN ? AND ? AND {common}",
            [payer_id, pcn, dos_from, dos_to, *statuses, created, submitted_id],
        ):
            found[r["id"]] = r
        return [found[k] for k in sorted(found)]

    # -- reading --------------------------------------------------------------------------

    def submitted_for_claim(self, claim_id: int) -> dict[str, Any] | None:
        """The submitted claim a remittance claim is linked to, with its lines."""
        rows = self.query(
            "SELECT s.* FROM claim_links l JOIN submitted_claims s ON s.id = l.submitted_id "
            "WHERE l.claim_id = ?",
            (claim_id,),
        )
        if not rows:
            return None
        s = rows[0]
        s["lines"] = self.query(
            "SELECT * FROM submitted_lines WHERE submitted_id = ? ORDER BY line_no", (s["id"],)
        )
        return s

    def unanswered(self, before: str, f: Any) -> list[dict[str, Any]]:
        """Submitted claims created on or before ``before`` that no remittance claim is
        linked to (nor to a claim that replaced them), with their payer. ``f``: the report
        filter (``store.ReportFilter``): its payer, and its practice as the billing provider
        (2010AA: NPI, or part of the name)."""
        where, params = "COALESCE(s.created, s.dos_to) <= ?", [before]
        if f.payer:
            where += f" AND s.payer_id IN (SELECT id FROM payers WHERE {_PAYER_MATCH})"  # noqa: S608
            params += [f"%{f.payer}%", f.payer, f.payer]
        if f.practice:
            where += " AND (s.billing_npi = ? OR s.billing_name LIKE ?)"
            params += [f.practice.strip(), f"%{f.practice.strip()}%"]
        return self.query(
            "SELECT s.id, s.patient_control, s.charge_cents, s.dos_from, s.created, "  # noqa: S608
            "s.frequency, s.payer_id, p.name AS payer_name, p.identifier AS payer_identifier "
            "FROM submitted_claims s JOIN payers p ON p.id = s.payer_id "
            f"WHERE {where} AND NOT EXISTS (SELECT 1 FROM claim_links l "
            "WHERE l.submitted_id = s.id) AND NOT EXISTS (SELECT 1 FROM submitted_claims r "
            "WHERE r.replaces_id = s.id) ORDER BY p.name, s.created, s.id",
            params,
        )

    # -- history for the scrubber ----------------------------------------------------------

    def line_history(
        self, payer_id: int, procedure: str, since: str = "0000-00-00"
    ) -> list[dict[str, Any]]:
        """Every adjudicated line billed to this payer for this procedure with a date of
        service on or after ``since``: modifiers, date, paid, the denials on it (line level,
        and claim level) as ``carcs`` ('CO-197,CO-16') and ``rarcs``, the member id, and from
        the linked submitted claim its diagnoses and authorization.

        Three indexed queries merged here, rather than a subquery per line: denials has no
        index by line or claim, and the history of a busy procedure is many lines."""
        rows = self.query(
            "SELECT l.id, c.id AS claim_id, l.modifiers, l.date_from, l.paid_cents, "
            "c.patient_id, COALESCE(c.dos, l.date_from) AS dos, s.diagnoses, s.prior_auth "
            "FROM service_lines l JOIN claims c ON c.id = l.claim_id "
            "LEFT JOIN claim_links k ON k.claim_id = c.id "
            "LEFT JOIN submitted_claims s ON s.id = k.submitted_id "
            "WHERE c.payer_id = ? AND l.procedure = ? AND c.status NOT IN ('22') "
            "AND COALESCE(l.date_from, c.dos) >= ? ORDER BY l.id",
            (payer_id, procedure, since),
        )
        live = f"status != '{Status.REVERSED}' AND COALESCE(action, '') != '{Action.BILL_PATIENT}'"
        by_line: dict[int, list[tuple[str, str]]] = {}
        by_claim: dict[int, list[tuple[str, str]]] = {}
        for line_id, group, carc, rarcs in self.conn.execute(
            "SELECT line_id, group_code, carc, rarcs FROM denials "  # noqa: S608
            f"WHERE payer_id = ? AND procedure = ? AND line_id IS NOT NULL AND {live}",
            (payer_id, procedure),
        ):
            by_line.setdefault(line_id, []).append((f"{group}-{carc}", rarcs or ""))
        for claim_id, group, carc, rarcs in self.conn.execute(
            "SELECT claim_id, group_code, carc, rarcs FROM denials "  # noqa: S608
            f"WHERE payer_id = ? AND line_id IS NULL AND {live}",
            (payer_id,),
        ):
            by_claim.setdefault(claim_id, []).append((f"{group}-{carc}", rarcs or ""))
        for r in rows:
            found = by_line.get(r["id"], []) + by_claim.get(r["claim_id"], [])
            r["carcs"] = ",".join(code for code, _ in found) or None
            r["rarcs"] = ",".join(x for _, x in found if x) or None
        return rows

    def payer_by_key(self, key: str) -> int | None:
        row = self.conn.execute("SELECT id FROM payers WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def member_denials(self, member_id: str, carcs: Sequence[str]) -> list[dict[str, Any]]:
        """Denials of a member with these CARCs: their date of service and CARC."""
        return self.query(
            "SELECT d.carc, d.group_code, COALESCE(d.service_date, d.claim_date) AS dos "  # noqa: S608
            f"FROM claims c {self.dialect.ordered_join} denials d ON d.claim_id = c.id WHERE c.patient_id = ? "
            f"AND d.carc IN ({_marks(carcs)}) AND d.status != '{Status.REVERSED}'",
            [member_id, *carcs],
        )

    def member_last_paid(self, member_id: str) -> str | None:
        """The latest date of service paid for this member (coverage shown to be in force)."""
        row = self.conn.execute(
            "SELECT MAX(COALESCE(l.date_from, c.dos)) FROM claims c "  # noqa: S608 - our words
            f"{self.dialect.ordered_join} service_lines l ON l.claim_id = c.id "
            "WHERE c.patient_id = ? AND l.paid_cents > 0",
            (member_id,),
        ).fetchone()
        return row[0] if row else None

    def member_lines_since(self, member_id: str, since: str) -> int:
        """Lines adjudicated for this member with a date of service on or after ``since``."""
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM claims c {self.dialect.ordered_join} service_lines l "  # noqa: S608
            "ON l.claim_id = c.id "
            "WHERE c.patient_id = ? AND COALESCE(l.date_from, c.dos) >= ?",
            (member_id, since),
        ).fetchone()
        return int(row[0])

    def same_service(
        self, member_id: str, procedure: str, date: str, exclude_file: int | None
    ) -> dict[str, int]:
        """How often this member's procedure on this date was already submitted (not counting
        a corrected claim's original, nor the claims of ``exclude_file``) and paid."""
        submitted = self.conn.execute(
            "SELECT COUNT(*) FROM submitted_lines l JOIN submitted_claims s "
            "ON s.id = l.submitted_id WHERE s.member_id = ? AND l.procedure = ? "
            "AND l.date_from = ? AND s.submission_id NOT IN "
            "(SELECT id FROM submissions WHERE file_id IS NOT DISTINCT FROM ?) "
            "AND NOT EXISTS (SELECT 1 FROM submitted_claims r WHERE r.replaces_id = s.id)",
            (member_id, procedure, date, exclude_file),
        ).fetchone()[0]
        paid = self.conn.execute(
            # An ordered join (SQLite's CROSS JOIN): the member's claims first (few), not
            # every line of a common procedure.
            f"SELECT COUNT(*) FROM claims c {self.dialect.ordered_join} service_lines l "  # noqa: S608
            "ON l.claim_id = c.id "
            "WHERE c.patient_id = ? AND l.procedure = ? AND l.date_from = ? "
            "AND l.paid_cents > 0",
            (member_id, procedure, date),
        ).fetchone()[0]
        return {"submitted": int(submitted), "paid": int(paid)}
