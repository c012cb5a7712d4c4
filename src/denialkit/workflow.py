"""The denial work: find denials at intake, triage them, route them, and read the queue.

Every function takes a ``Store`` and the ``Rules``; the store does the SQL, ``denials`` finds
candidates, ``triage`` does the arithmetic. Dates are ``datetime.date``; ``today`` is always
passed in so that results are reproducible.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .denials import REVERSAL, Candidate, find_denials
from .era import Claim, RemittanceHeader
from .errors import NotFound, UsageError
from .lifecycle import PaidBatch, now_iso, resolve_from_payment
from .rules import PayerRule, Rules
from .store import OPEN_STATUSES, Store, from_cents, to_cents
from .triage import blend_likelihood, deadline, score, tier_rank

TIER_ORDER = {"high": 0, "standard": 1, "low": 2}
ALL_STATUSES = (
    "new",
    "assigned",
    "appeal_drafted",
    "appealed",
    "overturned",
    "partially_overturned",
    "upheld",
    "written_off",
    "expired",
    "reversed",
)
PAGE = 5000


class DenialProcessor:
    """Collects the denials of the claims being ingested and stores them in batches.

    ``claim()`` is called for every stored claim; ``flush()`` after the claims themselves are
    written (the intake calls it every batch and at the end of each remittance), so memory
    stays flat however many denials a file holds.
    """

    def __init__(self, store: Store, rules: Rules, today: dt.date) -> None:
        self.store = store
        self.rules = rules
        self.today = today
        self.pending: list[tuple[Candidate, dict[str, Any]]] = []
        self.reversals: list[tuple[int, str, str, str]] = []
        self.batch: PaidBatch | None = None  # the claims stored since the last flush
        self._remittance: tuple[int, str, str] = (0, "", "")  # id, received date, event source
        self.assessor: _Assessor | None = None
        self.created = 0
        self.repeated = 0
        self.reversed = 0
        self.resolved = 0

    def claim(
        self,
        header: RemittanceHeader,
        payer_id: int,
        remittance_id: int,
        claim: Claim,
        claim_id: int,
        line_ids: list[int],
    ) -> None:
        if self._remittance[0] != remittance_id:  # once per remittance, not per claim
            # The appeal clock runs from the remittance date: BPR16, else DTM*405.
            date = header.payment_date or header.production_date or header.notice_date
            self._remittance = (remittance_id, date or self.today.isoformat(),
                                f"remittance {remittance_id}")  # fmt: skip
        _, received, source = self._remittance
        if claim.status == REVERSAL:
            self.reversals.append((payer_id, claim.patient_control, claim.payer_claim_id, source))
            return
        found = find_denials(claim, self.rules, claim_id, line_ids)
        batch = self.batch
        if batch is None or batch.remittance_id != remittance_id:
            if batch is not None:
                self._settle()
            batch = self.batch = PaidBatch(remittance_id, received, source, claim_id, claim_id,
                                           set(), set())  # fmt: skip
        batch.last = claim_id
        if not found:
            return
        batch.denied_claims.add(claim_id)
        batch.denied_lines.update(c.line_id for c in found if c.line_id is not None)
        ctx = {  # shared by the claim's denials
            "payer_id": payer_id,
            "remittance_id": remittance_id,
            "received": received,
            "patient_control": claim.patient_control,
            "payer_claim_id": claim.payer_claim_id,
            "source": source,
            "payer_ids": [header.payer.id, header.payer.ref("2U"), header.trace_originator],
            "payer_name": header.payer.name,
            "filing": claim.filing_indicator,
        }
        self.pending.extend((c, ctx) for c in found)

    def _settle(self) -> None:
        if self.batch is not None:
            self.resolved += resolve_from_payment(self.store, self.batch)
            self.batch = None

    def flush(self) -> None:
        at = now_iso()
        for payer_id, pcn, icn, source in self.reversals:
            self.reversed += self.store.reverse_open_denials(payer_id, pcn, icn, source, at)
        self.reversals = []
        # Payments settle earlier denials before this batch's denials are matched against
        # the open ones: what is left denied on a partly paid line is a new denial.
        self._settle()
        if not self.pending:
            return
        keys = [_key(c, ctx) for c, ctx in self.pending]
        existing = self.store.open_denial_ids_by_key(keys)
        rows: list[dict[str, Any]] = []
        contexts: list[dict[str, Any]] = []
        seen: set[str] = set()
        for key, (c, ctx) in zip(keys, self.pending, strict=True):
            if key in existing:
                # The same denial again (a resubmission or correction denied the same way):
                # one denial, not two. It stays open; the later remittance is on its history.
                self.store.note_repeat(existing[key], at, ctx["source"])
                self.repeated += 1
                continue
            if key in seen:
                continue
            seen.add(key)
            contexts.append(ctx)
            rows.append(
                {
                    "key": key,
                    "claim_id": c.claim_id,
                    "line_id": c.line_id,
                    "remittance_id": ctx["remittance_id"],
                    "payer_id": ctx["payer_id"],
                    "patient_control": ctx["patient_control"],
                    "payer_claim_id": ctx["payer_claim_id"],
                    "procedure": c.procedure,
                    "modifiers": c.modifiers,
                    "line_control": c.line_control,
                    "service_date": c.service_date,
                    "carc": c.carc,
                    "group_code": c.group,
                    "rarcs": ",".join(c.rarcs),
                    "reasons": json.dumps([[g, r, f"{a:.2f}"] for g, r, a in c.reasons]),
                    "category": c.category,
                    "amount_cents": to_cents(c.amount),
                    "received": ctx["received"],
                    "prior": c.prior,
                    "likelihood": c.prior,
                    "status": "new",
                    "team": self.rules.team_for(c.category),
                    "template": c.template,
                    "created_at": at,
                    "recovered_cents": None,
                    "tier_order": 1,
                    "ev_cents": 0,
                    "action": c.action,
                }
            )
        self.pending = []
        # Triage before the insert (one write per denial, no update): a pattern counts what
        # is stored already plus what this batch adds.
        if self.assessor is None:
            self.assessor = _Assessor(self.store, self.rules, self.today)
        in_batch: dict[tuple[int, str, str], int] = {}
        today = self.today.isoformat()
        for row in rows:
            pkey = (row["payer_id"], row["procedure"], row["carc"])
            if row["received"] >= self.assessor.since:
                in_batch[pkey] = in_batch.get(pkey, 0) + 1
        for row, ctx in zip(rows, contexts, strict=True):
            pkey = (row["payer_id"], row["procedure"], row["carc"])
            row.update(
                self.assessor.assess(
                    row["payer_id"],
                    ctx["payer_ids"],
                    ctx["payer_name"],
                    ctx["filing"],
                    row["received"],
                    row["carc"],
                    row["procedure"],
                    row["prior"],
                    row["amount_cents"],
                    in_batch.get(pkey, 0),
                    row["action"],
                )
            )
            if row["deadline"] < today:
                row["status"] = "expired"
        for pkey, n in in_batch.items():  # this batch is stored now: counts move on
            if pkey in self.assessor.patterns:
                self.assessor.patterns[pkey] += n
        ids = self.store.insert_denials(rows, at, "intake")
        self.created += len(ids)
        route(self.store, self.rules, ids, actor="denialkit", source="intake")


def _key(c: Candidate, ctx: dict[str, Any]) -> str:
    return f"{ctx['payer_id']}|{ctx['patient_control']}|{c.line_key}|{c.carc}"


class _Assessor:
    """Deadline, likelihood, score and tier for one denial; caches what repeats."""

    def __init__(self, store: Store, rules: Rules, today: dt.date) -> None:
        self.store = store
        self.rules = rules
        self.policy = rules.triage
        self.today = today
        self.stats = store.outcome_stats()
        self.since = (today - dt.timedelta(days=self.policy.strategic.window_days)).isoformat()
        self.patterns: dict[tuple[int, str, str], int] = {}
        self.payer_rules: dict[tuple[int, str], PayerRule] = {}
        self.deadlines: dict[tuple[tuple[int, str], str], dt.date] = {}

    def assess(
        self,
        payer_id: int,
        payer_ids: list[str],
        payer_name: str,
        filing: str,
        received: str,
        carc: str,
        procedure: str,
        prior: float,
        amount_cents: int,
        extra_pattern: int = 0,
        action: str = "appeal",
    ) -> dict[str, Any]:
        rkey = (payer_id, filing)
        rule = self.payer_rules.get(rkey)
        if rule is None:
            rule = self.payer_rules[rkey] = self.rules.payer_rule(payer_ids, payer_name, filing)
        dkey = (rkey, received)
        due = self.deadlines.get(dkey)
        if due is None:  # one remittance date per file: computed once, not per denial
            due = self.deadlines[dkey] = deadline(dt.date.fromisoformat(received), rule)
        overturned, decided = self.stats.get((payer_id, carc), (0.0, 0))
        likelihood = blend_likelihood(prior, overturned, decided, self.policy.prior_weight)
        pkey = (payer_id, procedure, carc)
        if pkey not in self.patterns:
            self.patterns[pkey] = self.store.pattern_count(*pkey, self.since)
        s = score(
            Decimal(amount_cents) / 100,
            likelihood,
            (due - self.today).days,
            self.patterns[pkey] + extra_pattern,
            self.policy,
        )
        action = rule.actions.get(carc, action)
        if action == "none" and s.tier != "low":  # no appeal rights: nothing to win by appeal
            s = dataclasses.replace(s, tier="low")
        tier = s.tier
        return {
            "deadline": due.isoformat(),
            "payer_rule": rule.name,
            "action": action,
            "likelihood": likelihood,
            "score": s.score,
            "tier": tier,
            "tier_order": TIER_ORDER[tier],
            "ev_cents": int(amount_cents * likelihood),
            "breakdown": s.breakdown_json(),
        }


def triage(store: Store, rules: Rules, today: dt.date, ids: Sequence[int] | None = None) -> int:
    """Compute deadline, likelihood, score and tier for these denials (default: all open);
    then mark the ones past their deadline expired. Returns how many were scored."""
    assessor = _Assessor(store, rules, today)
    done = 0
    pages = _page(list(ids)) if ids is not None else _open_pages(store)
    for page in pages:
        updates = []
        for r in store.denials_to_triage(page):
            a = assessor.assess(
                r["payer_id"],
                [r["payer_identifier"], r["ref_2u"], r["trace_originator"]],
                r["payer_name"] or "",
                r["filing_indicator"] or "",
                r["received"],
                r["carc"],
                r["procedure"],
                r["prior"],
                r["amount_cents"],
                0,
                rules.resolve(
                    r["group_code"], r["carc"], tuple(x for x in (r["rarcs"] or "").split(",") if x)
                ).action,
            )
            updates.append(
                (
                    a["deadline"],
                    a["payer_rule"],
                    a["likelihood"],
                    a["score"],
                    a["tier"],
                    a["tier_order"],
                    a["ev_cents"],
                    a["breakdown"],
                    a["action"],
                    r["id"],
                )
            )
        store.update_triage(updates)
        done += len(updates)
    store.expire_overdue(today.isoformat(), now_iso())
    return done


def _page(ids: list[int]):
    for i in range(0, len(ids), PAGE):
        yield ids[i : i + PAGE]


def _open_pages(store: Store):
    return _page(store.open_denial_ids())


def route(
    store: Store,
    rules: Rules,
    ids: Sequence[int] | None = None,
    *,
    actor: str = "denialkit",
    source: str = "route",
) -> int:
    """Assign unassigned open denials to the team member with the fewest open denials."""
    if not any(rules.routing.teams.values()):
        return 0  # nobody to assign to: denials stay with their team, unassigned
    counts = store.open_counts()
    assigned = 0
    for d in store.unassigned_open(ids):
        team = rules.team_for(d["category"])
        members = rules.routing.teams.get(team or "", [])
        if not members:
            continue
        member = min(members, key=lambda m: (counts.get(m, 0), members.index(m)))
        store.set_assignment(d["id"], team, member, actor, source, now_iso())
        counts[member] = counts.get(member, 0) + 1
        assigned += 1
    return assigned


def assign(store: Store, ids: Sequence[int], to: str, actor: str) -> int:
    missing = sorted(set(ids) - set(store.denial_ids(list(ids))))
    if missing:
        raise NotFound(f"no denial with id {', '.join(map(str, missing))}")
    with store.transaction():
        for i in ids:
            store.set_assignment(i, None, to, actor, "assign", now_iso())
    return len(ids)


def queue(
    store: Store,
    today: dt.date,
    *,
    status: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    payer: str | None = None,
    due_within: int | None = None,
    limit: int | None = None,
    stream: bool = False,
) -> Any:
    """Rows of the work queue in the documented JSON shape (a list; with ``stream``, an
    iterator reading the rows as it is consumed, for exports in flat memory)."""
    if status in (None, "open"):
        statuses: Sequence[str] = OPEN_STATUSES
    elif status == "all":
        statuses = ALL_STATUSES
    elif status in ALL_STATUSES:
        statuses = (status,)
    else:
        raise UsageError(f"unknown status {status!r}: one of open, all, {', '.join(ALL_STATUSES)}")
    if tier is not None and tier_rank(tier) < 0:
        raise UsageError(f"unknown tier {tier!r}: high, standard or low")
    due_by = (today + dt.timedelta(days=due_within)).isoformat() if due_within is not None else None
    rows = store.queue(
        statuses=statuses,
        tier=tier,
        category=category,
        team=team,
        assignee=assignee,
        payer=payer,
        due_by=due_by,
        limit=limit,
        stream=stream,
    )
    if stream:
        return (_queue_row(r, today) for r in rows)
    return [_queue_row(r, today) for r in rows]


def _money(cents: int | None) -> str | None:
    return None if cents is None else f"{from_cents(cents):.2f}"


def _queue_row(r: dict[str, Any], today: dt.date) -> dict[str, Any]:
    patient = ", ".join(x for x in (r["patient_last"], r["patient_first"]) if x)
    due = r["deadline"]
    return {
        "id": r["id"],
        "claim": r["claim"],
        "payer_claim_id": r["payer_claim_id"],
        "payer": r["payer"],
        "patient": patient,
        "service_date": r["service_date"],
        "procedure": r["procedure"],
        "modifiers": [m for m in (r["modifiers"] or "").split(",") if m],
        "carc": r["carc"],
        "group": r["group_code"],
        "rarc": [m for m in (r["rarcs"] or "").split(",") if m],
        "category": r["category"],
        "amount_at_risk": _money(r["amount_cents"]),
        "received": r["received"],
        "deadline": due,
        "days_left": (dt.date.fromisoformat(due) - today).days if due else None,
        "likelihood": round(r["likelihood"], 3) if r["likelihood"] is not None else None,
        "score": round(r["score"], 3) if r["score"] is not None else None,
        "tier": r["tier"],
        "status": r["status"],
        "team": r["team"],
        "assignee": r["assignee"],
        "recovered": _money(r["recovered_cents"]),
        "outcome_date": r["outcome_date"],
        "action": r["action"] or "appeal",
    }


def show(store: Store, rules: Rules, denial_id: int, today: dt.date) -> dict[str, Any]:
    """Everything about one denial: claim, lines, adjustments and remarks described,
    deadline, score breakdown, history."""
    d = store.denial(denial_id)
    detail = store.claim_detail(d["claim_id"])
    return {
        "denial": {
            "id": d["id"],
            "status": d["status"],
            "category": d["category"],
            "tier": d["tier"],
            "score": d["score"],
            "team": d["team"],
            "assignee": d["assignee"],
            "carc": d["carc"],
            "group": d["group_code"],
            "carc_description": rules.carc_description(d["carc"]),
            "rarc": [
                {"code": c, "description": rules.rarc_description(c)}
                for c in (d["rarcs"] or "").split(",")
                if c
            ],
            "reasons": [
                {"group": g, "carc": c, "amount": a, "description": rules.carc_description(c)}
                for g, c, a in json.loads(d["reasons"] or "[]")
            ],
            "amount_at_risk": _money(d["amount_cents"]),
            "received": d["received"],
            "deadline": d["deadline"],
            "days_left": (dt.date.fromisoformat(d["deadline"]) - today).days
            if d["deadline"]
            else None,
            "payer_rule": d["payer_rule"],
            "prior": d["prior"],
            "likelihood": d["likelihood"],
            "breakdown": json.loads(d["breakdown"] or "{}"),
            "template": d["template"],
            "procedure": d["procedure"],
            "line_control": d["line_control"],
            "appealed_on": d["appealed_on"],
            "action": d["action"] or "appeal",
            "recovered": _money(d["recovered_cents"]),
            "outcome_date": d["outcome_date"],
        },
        "claim": {
            "patient_control": d["patient_control"],
            "payer_claim_id": d["payer_claim_id"],
            "payer": d["payer_name"],
            "status": d["claim_status"],
            "charge": _money(d["claim_charge_cents"]),
            "paid": _money(d["claim_paid_cents"]),
            "patient": ", ".join(x for x in (d["patient_last"], d["patient_first"]) if x),
            "member_id": d["patient_id"],
            "filing_indicator": d["filing_indicator"],
            "remittance": {
                "trace": d["trace_number"],
                "date": d["payment_date"],
                "file": d["file_name"],
            },
        },
        "lines": [
            {
                "id": ln["id"],
                "procedure": ln["procedure"],
                "modifiers": [m for m in (ln["modifiers"] or "").split(",") if m],
                "charge": _money(ln["charge_cents"]),
                "paid": _money(ln["paid_cents"]),
                "service_date": ln["date_from"],
                "line_control": ln["line_control"],
                "denied": ln["id"] == d["line_id"],
            }
            for ln in detail["lines"]
        ],
        "adjustments": [
            {
                "line_id": a["line_id"],
                "group": a["group_code"],
                "carc": a["reason"],
                "amount": _money(a["amount_cents"]),
                "description": rules.carc_description(a["reason"]),
                "category": rules.resolve(a["group_code"], a["reason"]).category,
            }
            for a in detail["adjustments"]
        ],
        "remarks": [
            {
                "line_id": m["line_id"],
                "source": m["source"],
                "code": m["code"],
                "description": rules.rarc_description(m["code"]),
            }
            for m in detail["remarks"]
        ],
        "history": store.history(denial_id),
    }
