"""Denials found at intake and their triage: which adjustments are denials, the same denial
seen again, the next step with its deadline, likelihood, score and tier.

``DenialProcessor`` is what the intake hands each stored claim; ``triage`` scores stored
denials again (after a rules change, and nightly). Dates are ``datetime.date``; ``today`` is
always passed in so that results are reproducible.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from .assignment import route
from .denials import REVERSAL, Candidate, ClaimFacts, claim_facts, find_denials
from .era import Claim, RemittanceHeader
from .lifecycle import PaidBatch, resolve_from_payment, same_line, same_patient
from .payers import PayerPolicy, next_step, policy
from .rules import Rules
from .store import Store, to_cents
from .triage import blend_likelihood, score
from .vocabulary import Status, Tier, money, now_iso

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
        found = (
            [] if claim.status == REVERSAL else find_denials(claim, self.rules, claim_id, line_ids)
        )
        self.found(header, payer_id, remittance_id, claim_facts(claim), found, claim_id)

    def found(
        self,
        header: RemittanceHeader,
        payer_id: int,
        remittance_id: int,
        claim: ClaimFacts,
        found: list[Candidate],
        claim_id: int,
    ) -> None:
        """One stored claim, its denials found already (``find_denials``: in a worker
        process, or by ``claim``)."""
        if self._remittance[0] != remittance_id:  # once per remittance, not per claim
            # The appeal clock runs from the remittance date: BPR16, else DTM*405.
            date = header.payment_date or header.production_date or header.notice_date
            self._remittance = (
                remittance_id,
                date or self.today.isoformat(),
                f"remittance {remittance_id}",
            )
        _, received, source = self._remittance
        if claim.status == REVERSAL:
            self.reversals.append((payer_id, claim.patient_control, claim.payer_claim_id, source))
            return
        batch = self.batch
        if batch is None or batch.remittance_id != remittance_id:
            if batch is not None:
                self._settle()
            batch = self.batch = PaidBatch(
                remittance_id, received, source, claim_id, claim_id, set(), set()
            )
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
            "patient": claim.patient,
        }
        self.pending.extend((c, ctx) for c in found)

    def _settle(self) -> None:
        if self.batch is not None:
            self.resolved += resolve_from_payment(self.store, self.batch)
            self.batch = None

    def flush(self) -> None:
        at = now_iso()
        for payer_id, pcn, icn, source in self.reversals:
            self.reversed += self.store.reverse_open_denials(
                payer_id, pcn, icn, source, at, Status.ON_REVERSAL
            )
        self.reversals = []
        # Payments settle earlier denials before this batch's denials are matched against
        # the open ones: what is left denied on a partly paid line is a new denial.
        self._settle()
        if not self.pending:
            return
        rows: list[dict[str, Any]] = []
        contexts: list[dict[str, Any]] = []
        earlier = self._earlier()
        for c, ctx in self.pending:
            match = next(
                (e for e in earlier.get(ctx["payer_id"], []) if _same_denial(e, c, ctx)), None
            )
            if match is not None:
                # The same line denied again on a later remittance (a resubmission or
                # correction denied the same way): one denial, with the repeat on its history.
                self.store.note_repeat(
                    match["id"], at, ctx["source"], f"{c.group}-{c.carc} {money(c.amount)}"
                )
                self.repeated += 1
                continue
            contexts.append(ctx)
            rows.append(
                {
                    "key": _key(c, ctx),
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
                    "reasons": json.dumps([[g, r, money(a)] for g, r, a in c.reasons]),
                    "category": c.category,
                    "amount_cents": to_cents(c.amount),
                    "received": ctx["received"],
                    "prior": c.prior,
                    "likelihood": c.prior,
                    "status": Status.NEW,
                    "team": self.rules.team_for(c.category),
                    "template": c.template,
                    "created_at": at,
                    "recovered_cents": None,
                    "tier_order": 1,
                    "ev_cents": 0,
                    "action": c.action,
                    "note": c.note,
                    "level": 1,
                    "level_date": ctx["received"],
                    "claim_date": c.claim_date,
                    "position": c.position,
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
                    ctx["payer_ids"],
                    ctx["payer_name"],
                    ctx["filing"],
                    row,
                    in_batch.get(pkey, 0),
                )
            )
            if row["deadline"] is not None and row["deadline"] < today:
                row["status"] = Status.EXPIRED
        for pkey, n in in_batch.items():  # this batch is stored now: counts move on
            if pkey in self.assessor.patterns:
                self.assessor.patterns[pkey] += n
        ids = self.store.insert_denials(rows, at, "intake")
        self.created += len(ids)
        route(self.store, self.rules, ids, actor="denialkit", source="intake")

    def _earlier(self) -> dict[int, list[dict[str, Any]]]:
        """Open denials stored before this batch that could be the same as a pending one."""
        wanted: dict[int, tuple[set[str], set[str]]] = {}
        for _, ctx in self.pending:
            icns, pcns = wanted.setdefault(ctx["payer_id"], (set(), set()))
            icns.add(ctx["payer_claim_id"])
            pcns.add(ctx["patient_control"])
        return {
            payer_id: self.store.open_denials_like(payer_id, sorted(icns), sorted(pcns))
            for payer_id, (icns, pcns) in wanted.items()
        }


def _same_denial(e: dict[str, Any], c: Candidate, ctx: dict[str, Any]) -> bool:
    """Is candidate ``c`` (a later remittance) the stored denial ``e`` denied again?

    Same claim: the payer claim number (CLP07), or the patient account number (CLP01) with the
    same patient and date of service; CLP01 alone never matches (many systems reuse it). Same
    line: REF*6R, else procedure + modifiers + date + position; claim-level with claim-level.
    Never a denial of the same remittance (two identical lines there are two denials).
    """
    if e["remittance_id"] == ctx["remittance_id"]:
        return False
    icn = ctx["payer_claim_id"]
    same_claim = bool(icn) and e["payer_claim_id"] == icn
    if not same_claim and e["patient_control"] == ctx["patient_control"]:
        same_claim = e["claim_date"] == c.claim_date and same_patient(
            (e["patient_id"], e["patient_last"], e["patient_first"]), ctx["patient"]
        )
    if not same_claim:
        return False
    if (e["line_id"] is None) != (c.line_id is None):
        return False
    if c.line_id is None:
        return True
    return same_line(
        (e["line_control"], e["procedure"], e["modifiers"], e["service_date"], e["position"]),
        (c.line_control, c.procedure, c.modifiers, c.service_date, c.position),
    )


def _key(c: Candidate, ctx: dict[str, Any]) -> str:
    claim = ctx["payer_claim_id"] or ctx["patient_control"]
    if c.line_id is None:
        line = "claim"
    else:
        line = c.line_control or f"{c.procedure}:{c.modifiers}:{c.service_date}:{c.position}"
    return f"{ctx['payer_id']}|{claim}|{line}|{c.carc}"


class _Assessor:
    """Payer class, next step and its deadline, likelihood, score and tier for one denial;
    caches what repeats."""

    def __init__(self, store: Store, rules: Rules, today: dt.date) -> None:
        self.store = store
        self.rules = rules
        self.policy = rules.triage
        self.today = today
        self.stats = store.outcome_stats()
        self.since = (today - dt.timedelta(days=self.policy.strategic.window_days)).isoformat()
        self.patterns: dict[tuple[int, str, str], int] = {}

    def assess(
        self,
        payer_ids: list[str],
        payer_name: str,
        filing: str,
        row: dict[str, Any],
        extra_pattern: int = 0,
    ) -> dict[str, Any]:
        """``row`` has payer_id, carc, procedure, prior, amount_cents, action, level,
        level_date, service_date, claim_date and status."""
        payer_id, carc = row["payer_id"], row["carc"]
        p: PayerPolicy = policy(self.rules, payer_ids, payer_name, filing)
        # The payer's own rule for this CARC is the most specific (Medicare CO-29: none).
        action = p.actions.get(carc, row["action"] or "appeal")
        level = row["level"] or 1
        notice = dt.date.fromisoformat(row["level_date"] or row["received"])
        when = row["service_date"] or row["claim_date"]
        amount = Decimal(row["amount_cents"]) / 100
        step = next_step(
            p,
            action,
            level=level,
            notice=notice,
            service_date=dt.date.fromisoformat(when) if when else None,
            amount=amount,
        )
        overturned, decided = self.stats.get((payer_id, carc), (0.0, 0))
        likelihood = blend_likelihood(row["prior"], overturned, decided, self.policy.prior_weight)
        pkey = (payer_id, row["procedure"], carc)
        if pkey not in self.patterns:
            self.patterns[pkey] = self.store.pattern_count(*pkey, self.since)
        days_left = (step.deadline - self.today).days if step.deadline else None
        s = score(
            amount, likelihood, days_left, self.patterns[pkey] + extra_pattern, self.policy, action
        )
        note = row.get("note") or ""
        if action != row["action"]:
            note = ""  # the payer's rule changed the step: the CARC's note no longer applies
        return {
            "deadline": step.deadline.isoformat() if step.deadline else None,
            "deadline_basis": step.basis,
            "follow_up": step.follow_up.isoformat() if step.follow_up else None,
            "payer_rule": p.name,
            "payer_class": p.payer_class,
            "class_basis": p.class_basis,
            "action": action,
            "note": note,
            "likelihood": likelihood,
            "score": s.score,
            "tier": s.tier,
            "tier_order": Tier.ORDER[s.tier],
            "ev_cents": int(row["amount_cents"] * likelihood),
            "breakdown": json.dumps(s.breakdown()),
        }


def triage(store: Store, rules: Rules, today: dt.date, ids: Sequence[int] | None = None) -> int:
    """Compute payer class, next step, deadline, likelihood, score and tier for these denials
    (default: all open); then mark the ones past their deadline expired. Returns how many
    were scored."""
    assessor = _Assessor(store, rules, today)
    done = 0
    pages = _page(list(ids)) if ids is not None else _open_pages(store)
    for page in pages:
        updates = []
        for r in store.denials_to_triage(page):
            remarks = tuple(x for x in (r["rarcs"] or "").split(",") if x)
            resolved = rules.resolve(
                r["group_code"], r["carc"], remarks, (r["modifiers"] or "").split(",")
            )
            if r["action"] != "review":  # review items come from the line, not from a CARC
                r["action"], r["note"] = resolved.action, resolved.note
            a = assessor.assess(
                [r["payer_identifier"], r["ref_2u"], r["trace_originator"]],
                r["payer_name"] or "",
                r["filing_indicator"] or "",
                r,
            )
            updates.append({**a, "id": r["id"]})
        store.update_triage(updates)
        done += len(updates)
    store.expire_overdue(today.isoformat(), now_iso(), Status.ON_DEADLINE)
    return done


def _page(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), PAGE):
        yield ids[i : i + PAGE]


def _open_pages(store: Store) -> Iterator[list[int]]:
    return _page(store.open_denial_ids())
