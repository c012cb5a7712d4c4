"""Scrub claims before they are sent: score every service line of an 837 against what this
practice's payers have denied before, and explain each flag with its evidence.

Pure scoring over rows the store returns (``Store.line_history`` and friends); nothing is
written and nothing leaves the machine. The rules and their thresholds are triage.yaml
``scrub:`` (``rules.Scrub``); each flag says which rule fired, the CARC it predicts, how many
times the payer denied it out of how many since when, and the prevention hint from carc.yaml.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .edi837 import ClaimFile, SubmittedClaim, SubmittedLine, parse_837
from .payers import add_months, policy
from .rules import Rules, Scrub
from .store import Store

RULES = (
    "payer_procedure",
    "authorization",
    "diagnosis",
    "modifiers",
    "duplicate",
    "eligibility",
    "timely_filing",
)
TIER_ORDER = {"high": 0, "standard": 1}


# What one check found on a line, or None: (check, risk, CAS group, CARC, denied, of,
# since, detail).
Hit = tuple[str, float, str, str, int, int, str | None, str] | None


@dataclass
class Flag:
    claim: str
    line: int
    procedure: str
    modifiers: list[str]
    date_of_service: str | None
    payer: str
    risk: float
    tier: str
    rule: str
    carc: str
    denied: int
    of: int
    since: str | None
    hint: str
    detail: str = ""  # one sentence for people: what the evidence says

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape of one flag."""
        return {
            "claim": self.claim,
            "line": self.line,
            "procedure": self.procedure,
            "modifiers": self.modifiers,
            "date_of_service": self.date_of_service,
            "payer": self.payer,
            "risk": round(self.risk, 3),
            "tier": self.tier,
            "rule": self.rule,
            "carc": self.carc,
            "evidence": {"denied": self.denied, "of": self.of, "since": self.since},
            "hint": self.hint,
        }


@dataclass
class ScrubResult:
    claims: int = 0
    lines: int = 0
    flags: list[Flag] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "lines": self.lines,
            "flags": [f.as_dict() for f in self.flags],
        }

    def worst(self) -> str | None:
        """The highest tier flagged (``high`` or ``standard``), None when nothing is."""
        tiers = sorted((f.tier for f in self.flags), key=TIER_ORDER.__getitem__)
        return tiers[0] if tiers else None

    def fails(self, at: str | None) -> bool:
        """True when a flag is at or above tier ``at``."""
        if at is None:
            return False
        return any(TIER_ORDER[f.tier] <= TIER_ORDER[at] for f in self.flags)


def _mods(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(m for m in (text or "").split(",") if m))


def _codes(text: str | None) -> list[tuple[str, str]]:
    """'CO-197,PR-1' -> [('CO', '197'), ('PR', '1')]."""
    out = []
    for part in (text or "").split(","):
        group, _, carc = part.partition("-")
        if carc:
            out.append((group, carc))
    return out


def _top_code(
    rows: list[dict[str, Any]], carcs: Iterable[str], default: tuple[str, str]
) -> tuple[str, str]:
    """The (group, CARC) most often among the rows' codes whose CARC is one of ``carcs``."""
    wanted = set(carcs)
    counts = Counter(gc for r in rows for gc in r["codes"] if gc[1] in wanted)
    return counts.most_common(1)[0][0] if counts else default


def _since(rows: Iterable[dict[str, Any]]) -> str | None:
    return min((r["dos"] for r in rows if r["dos"]), default=None)


def _month(since: str | None) -> str:
    if not since:
        return "the start"
    return dt.date.fromisoformat(since).strftime("%b %Y")


class Scrubber:
    """Scores lines; holds the history it read, one query per payer x procedure."""

    def __init__(self, store: Store, rules: Rules, today: dt.date) -> None:
        self.store = store
        self.rules = rules
        self.cfg: Scrub = rules.triage.scrub
        self.today = today
        self._history: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self._payers: dict[str, int | None] = {}
        self._seen: Counter[tuple[str, str, str | None]] = Counter()
        # The file scrubbed, when it was ingested already: its own claims are not duplicates.
        self.same_file: int | None = None
        self._memo: dict[tuple[str, int | None, str, Any], Any] = {}

    def history(self, payer_id: int, procedure: str) -> list[dict[str, Any]]:
        key = (payer_id, procedure)
        if key not in self._history:
            since = (self.today - dt.timedelta(days=self.cfg.history_days)).isoformat()
            rows = self.store.line_history(payer_id, procedure, since)
            for r in rows:
                r["codes"] = _codes(r["carcs"])
                r["remark_codes"] = {x for x in (r["rarcs"] or "").split(",") if x}
                r["mods"] = _mods(r["modifiers"])
                r["principal"] = (r["diagnoses"] or "").split(",")[0]
            self._history[key] = rows
        return self._history[key]

    def payer_id(self, claim: SubmittedClaim) -> int | None:
        key = claim.payer_key
        if key not in self._payers:
            self._payers[key] = self.store.payer_by_key(key)
        return self._payers[key]

    def hint(self, group: str, carc: str) -> str:
        return self.rules.resolve(group, carc).prevention

    def tier(self, risk: float) -> str | None:
        if risk >= self.cfg.high:
            return "high"
        if risk >= self.cfg.standard:
            return "standard"
        return None

    # -- the file ------------------------------------------------------------------------

    def scrub(self, parsed: ClaimFile) -> ScrubResult:
        result = ScrubResult(warnings=[f"{w.file}: segment {w.segment}: {w.message}"
                                       for w in parsed.warnings])  # fmt: skip
        claims = list(parsed.claims)
        # Duplicates inside the file itself: the same member, procedure and date twice.
        for c in claims:
            for ln in c.lines:
                self._seen[(c.member_id, ln.procedure, ln.date_from)] += 1
        for c in claims:
            result.claims += 1
            for ln in c.lines:
                result.lines += 1
                result.flags += self.line(c, ln)
        result.flags.sort(key=lambda f: (TIER_ORDER[f.tier], -f.risk, f.claim, f.line, f.rule))
        return result

    def line(self, c: SubmittedClaim, ln: SubmittedLine) -> list[Flag]:
        payer_id = self.payer_id(c)
        rows = self.history(payer_id, ln.procedure) if payer_id is not None else []
        found: list[tuple[str, float, str, str, int, int, str | None, str]] = []
        # The history rules depend on the payer, the procedure and one trait of the line or
        # claim only: answered once per combination.
        mods = tuple(sorted(ln.modifiers))
        keyed = (
            (self.rate, mods),
            (self.authorization, bool(c.prior_auth or ln.prior_auth)),
            (self.diagnosis, c.diagnoses[0] if c.diagnoses else ""),
            (self.modifiers, mods),
        )
        for rule, trait in keyed:
            key = (rule.__name__, payer_id, ln.procedure, trait)
            if key not in self._memo:
                self._memo[key] = rule(c, ln, rows)
            hit = self._memo[key]
            if hit is not None:
                found.append(hit)
        for rule in (self.duplicate, self.eligibility, self.timely_filing):
            hit = rule(c, ln, rows)
            if hit is not None:
                found.append(hit)
        # A specific rule that predicts the same CARC says it better: drop the bare rate.
        specific = {(g, carc) for name, _, g, carc, *_ in found if name != "payer_procedure"}
        found = [f for f in found if f[0] != "payer_procedure" or (f[2], f[3]) not in specific]
        flags = []
        payer = c.payer_name or c.payer_id
        for name, risk, group, carc, denied, of, since, detail in found:
            tier = self.tier(risk)
            if tier is None:
                continue
            flags.append(
                Flag(
                    claim=c.patient_control,
                    line=ln.number,
                    procedure=ln.procedure,
                    modifiers=list(ln.modifiers),
                    date_of_service=ln.date_from or c.dos_from,
                    payer=payer,
                    risk=risk,
                    tier=tier,
                    rule=name,
                    carc=f"{group}-{carc}",
                    denied=denied,
                    of=of,
                    since=since,
                    hint=self.hint(group, carc),
                    detail=detail,
                )
            )
        return flags

    # -- the rules: each returns (rule, risk, group, carc, denied, of, since, detail) ------

    def _specific(self, group_carc: tuple[str, str], remarks: set[str]) -> bool:
        """A denial one of the specific rules explains (authorization, medical necessity,
        eligibility, duplicate, timely filing): the rate rule leaves it to them."""
        cfg = self.cfg
        carc = group_carc[1]
        return (
            carc in cfg.authorization_carcs
            or carc in cfg.medical_necessity_carcs
            or carc in cfg.eligibility_carcs
            or carc in cfg.duplicate_carcs
            or carc == "29"
            or bool(remarks & set(cfg.authorization_remarks))
        )

    def rate(self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]) -> Hit:
        cfg = self.cfg
        mods = tuple(sorted(ln.modifiers))
        same = [r for r in rows if r["mods"] == mods]
        carcs: Counter[tuple[str, str]] = Counter()
        denied = 0
        for r in same:
            codes = [gc for gc in r["codes"] if not self._specific(gc, r["remark_codes"])]
            if codes:
                denied += 1
                carcs[codes[0]] += 1
        n = len(same)
        if n < cfg.min_lines or denied < cfg.min_denied or denied / n < cfg.min_rate:
            return None
        (group, carc), _ = carcs.most_common(1)[0]
        since = _since(same)
        how = f"with {'+'.join(mods)}" if mods else "without modifiers"
        detail = (
            f"{c.payer_name or c.payer_id} denied {ln.procedure} {how} {denied} of {n} times "
            f"since {_month(since)}, mostly {group}-{carc}"
        )
        return ("payer_procedure", denied / n, group, carc, denied, n, since, detail)

    def authorization(
        self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]
    ) -> Hit:
        if c.prior_auth or ln.prior_auth:
            return None  # REF*G1 is on the claim (2300) or the line (2400)
        cfg = self.cfg
        auth_remarks = set(cfg.authorization_remarks)

        def is_auth(r: dict[str, Any]) -> bool:
            return any(carc in cfg.authorization_carcs for _, carc in r["codes"]) or bool(
                r["remark_codes"] & auth_remarks
            )

        without = [r for r in rows if not r["prior_auth"]]
        denied_rows = [r for r in without if is_auth(r)]
        denied, n = len(denied_rows), len(without)
        if denied < cfg.min_denied or not n or denied / n < cfg.min_rate:
            return None
        # Denied for a remark alone (no authorization CARC): CO-197, the CARC for it.
        group, carc = _top_code(denied_rows, cfg.authorization_carcs, ("CO", "197"))
        since = _since(without)
        detail = (
            f"{c.payer_name or c.payer_id} denied {ln.procedure} for authorization {denied} of "
            f"{n} times without one since {_month(since)}; this claim has no REF*G1"
        )
        return ("authorization", denied / n, group, carc, denied, n, since, detail)

    def diagnosis(self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]) -> Hit:
        if not c.diagnoses:
            return None
        cfg = self.cfg
        principal = c.diagnoses[0]
        same = [r for r in rows if r["principal"] == principal]
        denied_rows = [
            r for r in same if any(carc in cfg.medical_necessity_carcs for _, carc in r["codes"])
        ]
        denied, n = len(denied_rows), len(same)
        if denied < cfg.min_denied or not n or denied / n < cfg.min_rate:
            return None
        group, carc = _top_code(denied_rows, cfg.medical_necessity_carcs, ("CO", "50"))
        since = _since(same)
        detail = (
            f"{c.payer_name or c.payer_id} denied {ln.procedure} with principal diagnosis "
            f"{principal} for medical necessity {denied} of {n} times since {_month(since)}"
        )
        return ("diagnosis", denied / n, group, carc, denied, n, since, detail)

    def modifiers(self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]) -> Hit:
        cfg = self.cfg
        paid = [r for r in rows if (r["paid_cents"] or 0) > 0 and not r["codes"]]
        if len(paid) < cfg.min_lines:
            return None
        counts = Counter(m for r in paid for m in r["mods"])
        mine = set(ln.modifiers)
        best = None
        for m, k in counts.most_common():
            if m in mine or k / len(paid) < cfg.modifier_share:
                continue
            lacking = [r for r in rows if m not in r["mods"]]
            denied = sum(1 for r in lacking if r["codes"])
            # Laplace: a modifier every paid line carried, with few lines without it to go by.
            risk = (denied + 1) / (len(lacking) + 2)
            if best is None or risk > best[1]:
                since = _since(lacking) or _since(paid)
                detail = (
                    f"{k} of {len(paid)} lines {c.payer_name or c.payer_id} paid for "
                    f"{ln.procedure} carried modifier {m}; without it {denied} of "
                    f"{len(lacking)} were denied"
                )
                best = ("modifiers", risk, "CO", "4", denied, len(lacking), since, detail)
        return best

    def duplicate(self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]) -> Hit:
        if c.frequency in ("7", "8") or not c.member_id or not ln.date_from:
            return None  # a replacement or void repeats the claim on purpose
        seen = self.store.same_service(c.member_id, ln.procedure, ln.date_from, self.same_file)
        in_file = self._seen[(c.member_id, ln.procedure, ln.date_from)] - 1
        earlier = seen["submitted"] + in_file
        if not (seen["paid"] or earlier):
            return None
        risk = 0.9 if seen["paid"] else 0.7
        detail = (
            f"the same member, procedure and date were already paid {seen['paid']} time(s) "
            f"and submitted {earlier} time(s) (CO-18 risk)"
        )
        return ("duplicate", risk, "CO", "18", seen["paid"], earlier + seen["paid"],
                ln.date_from, detail)  # fmt: skip

    def eligibility(self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]) -> Hit:
        dos = ln.date_from or c.dos_from
        if not c.member_id or not dos:
            return None
        cfg = self.cfg
        month = dos[:8] + "01"
        # Denials for a date of service in or after this line's month; or earlier ones with
        # nothing paid for the member since (the coverage has not been shown to be back).
        paid = self.store.member_last_paid(c.member_id) or ""
        hits = [
            r
            for r in self.store.member_denials(c.member_id, cfg.eligibility_carcs)
            if r["dos"] and (r["dos"] >= month or r["dos"] > paid)
        ]
        if len(hits) < cfg.eligibility_min_denied:
            return None
        since = min(r["dos"] for r in hits)
        of = max(self.store.member_lines_since(c.member_id, since), len(hits))
        carc = Counter((r["group_code"] or "CO", r["carc"]) for r in hits).most_common(1)[0][0]
        risk = max(cfg.high, len(hits) / of)
        detail = (
            f"this member got {len(hits)} eligibility denial(s) ({carc[0]}-{carc[1]}) for dates "
            f"of service from {since} on, nothing paid since; verify coverage before sending"
        )
        return ("eligibility", risk, carc[0], carc[1], len(hits), of, since, detail)

    def timely_filing(
        self, c: SubmittedClaim, ln: SubmittedLine, rows: list[dict[str, Any]]
    ) -> Hit:
        dos = ln.date_from or c.dos_from
        if not dos:
            return None
        p = policy(self.rules, [c.payer_id], c.payer_name, c.filing_indicator)
        day = dt.date.fromisoformat(dos)
        if p.timely_filing_months is not None:
            limit = add_months(day, p.timely_filing_months)
            span = f"{p.timely_filing_months} months"
        elif p.timely_filing_days is not None:
            limit = day + dt.timedelta(days=p.timely_filing_days)
            span = f"{p.timely_filing_days} days"
        else:  # pragma: no cover - the rules require one of them
            return None
        left = (limit - self.today).days
        if left > self.cfg.timely_filing_warn_days:
            return None
        risk = 1.0 if left < 0 else 0.5
        detail = f"timely filing for {p.name} is {span} from the date of service: the limit " + (
            f"passed on {limit}" if left < 0 else f"is {limit}, {left} day(s) from today"
        )
        return ("timely_filing", risk, "CO", "29", 0, 0, dos, detail)


def scrub_file(
    store: Store, rules: Rules, path: str | os.PathLike[str], today: dt.date
) -> ScrubResult:
    """Parse an 837 and score every line of every claim; raises ``X12Error`` for bad input."""
    scrubber = Scrubber(store, rules, today)
    parsed = parse_837(path)
    earlier = store.file_by_sha256(_sha256(path))
    if earlier is not None:
        scrubber.same_file = earlier["id"]
    result = scrubber.scrub(parsed)
    if earlier is not None:
        result.warnings.append(
            f"{os.fspath(path)}: this file was ingested already ({earlier['ingested_at']}); "
            "its own claims are not counted as duplicates"
        )
    return result


def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
