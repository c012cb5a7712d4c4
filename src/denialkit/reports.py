"""Reports: tracking, patterns, team, ROI and a summary — plain data (dicts and lists), never
printing. ``output`` renders them for the terminal, CSV and JSON; ``render_html`` writes the
self-contained HTML page (inline CSS and SVG) for the nightly e-mail.

Money is a string with two decimals; rates are fractions rounded to four places. A period is
``since``/``until`` (inclusive ISO dates) on the date a denial was received (its remittance date);
lines billed are counted by their remittance's date.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, cast

import jinja2
from markupsafe import Markup

from .rules import Roi, Rules
from .settings import packaged_templates_dir
from .store import ReportFilter, Store
from .vocabulary import money_cents as money

KINDS = ("tracking", "patterns", "team", "roi", "trend", "summary")
# Reports outside the summary.
OTHER_KINDS = ("unanswered",)
UNANSWERED_DAYS = 30
AUTH_CARCS = ("15", "197", "198", "284", "296", "302")
DUE_WINDOWS = (7, 14, 30)
PAST_DEADLINE_LIMIT = 500
REDACTED = None  # a redacted PHI field is null: the shape of every row stays the same


# -- shapes --------------------------------------------------------------------------------------
# What each report returns: the documented JSON, typed where it leaves this module (``nightly``,
# ``cli``, ``output``). Rows keyed by a varying dimension (``by_status``: {"status": ...}) stay
# plain mappings.


class _Stamped(TypedDict):
    # A report of one client practice names it (``build``, ``nightly``).
    practice: NotRequired[str]


class Period(TypedDict):
    since: str | None
    until: str | None


class CountAmount(TypedDict):
    count: int
    amount: str


class DueWindow(CountAmount):
    within_days: int


class PastDenial(TypedDict):
    id: int
    claim: str | None
    payer: str
    patient: str | None
    member_id: str | None
    procedure: str | None
    reason: str
    amount: str
    received: str
    deadline: str
    days_over: int
    status: str
    assignee: str | None


class PastDeadline(CountAmount):
    denials: list[PastDenial]


class TrackingReport(_Stamped):
    report: str
    as_of: str
    period: Period
    payer: str | None
    open: CountAmount
    by_status: list[dict[str, Any]]
    by_tier: list[dict[str, Any]]
    by_category: list[dict[str, Any]]
    by_team: list[dict[str, Any]]
    due: list[DueWindow]
    past_deadline: PastDeadline
    follow_up_due: CountAmount
    unassigned: CountAmount


class PatternRow(TypedDict):
    payer: str
    procedure: str
    carc: str
    group: str
    reason: str
    category: str
    count: int
    amount: str
    lines_billed: int
    denial_rate: float | None
    previous_count: int
    previous_amount: str
    trend: float | None
    prevention: str | None
    payer_denial_rate: float
    p_value: float | None
    flagged: bool


class ProviderRow(TypedDict):
    provider: str
    npi: str
    lines_billed: int
    denied: int
    amount: str
    denial_rate: float | None
    practice_rate: float | None
    flagged: bool


class MonthCount(CountAmount):
    month: str


class PatternsReport(_Stamped):
    report: str
    period: Period
    previous_period: Period
    payer: str | None
    thresholds: dict[str, Any]
    patterns: list[PatternRow]
    pattern_count: int
    flagged_count: int
    providers: list[ProviderRow]
    practice_denial_rate: float | None
    authorization_by_month: list[MonthCount]


class TeamRow(TypedDict):
    assignee: str
    open: int
    overdue: int
    appeals_submitted: int
    decided: int
    overturn_rate: float | None
    recovered: str
    median_days_to_appeal: float | None


class TeamReport(_Stamped):
    report: str
    as_of: str
    period: Period
    payer: str | None
    team: list[TeamRow]


class RoiReport(_Stamped):
    report: str
    period: Period
    payer: str | None
    months: list[dict[str, Any]]
    total: dict[str, Any]
    denied_by_month_and_category: list[dict[str, Any]]
    overturn_by_category: list[dict[str, Any]]
    overturn_by_payer: list[dict[str, Any]]
    cost_per_appeal: str
    overturn_rate: float | None


class TrendReport(_Stamped):
    report: str
    period: Period
    payer: str | None
    months: list[dict[str, Any]]
    by_category: list[dict[str, Any]]
    by_payer: list[dict[str, Any]]


class Headline(TypedDict):
    open_denials: int
    open_amount: str
    high_tier_open: int
    high_tier_amount: str
    due_within_7_days: int
    past_deadline: int
    past_deadline_amount: str
    follow_up_due: int
    unassigned: int
    denied: str
    recovered: str
    recovery_rate: float | None
    written_off: str
    expired: str
    overturn_rate: float | None
    flagged_patterns: int
    team_overdue: int


class Sections(TypedDict):
    """The summary's parts, each computed once (``sections``)."""

    tracking: TrackingReport
    patterns: PatternsReport
    team: TeamReport
    roi: RoiReport
    trend: TrendReport


class SummaryReport(_Stamped):
    report: str
    as_of: str
    period: Period
    payer: str | None
    headline: Headline
    top_patterns: list[PatternRow]
    sections: Sections


class UnansweredClaim(TypedDict):
    payer: str
    claim: str | None
    date_of_service: str | None
    submitted: str | None
    days: int
    charge: str
    frequency: str | None


class UnansweredReport(_Stamped):
    report: str
    today: str
    days: int
    payer: str | None
    total: CountAmount
    by_payer: list[dict[str, Any]]
    claims: list[UnansweredClaim]


class PracticesReport(_Stamped):
    report: str
    as_of: str
    period: Period
    payer: str | None
    practices: list[dict[str, Any]]


class FailedReport(_Stamped):
    """In place of a report that raised (``nightly`` goes on without it)."""

    report: str
    error: str


Section = TrackingReport | PatternsReport | TeamReport | RoiReport | TrendReport
Report = Section | SummaryReport | UnansweredReport


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _period(since: str | None, until: str | None) -> Period:
    return {"since": since, "until": until}


def previous_period(since: str, until: str) -> tuple[str, str]:
    """The period of the same length just before [since, until]."""
    a, b = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    length = (b - a).days + 1
    return (a - dt.timedelta(days=length)).isoformat(), (a - dt.timedelta(days=1)).isoformat()


# -- tracking -----------------------------------------------------------------------------------


def tracking(
    store: Store,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    redact: bool = False,
    practice: str | None = None,
) -> TrackingReport:
    """Open denials now (by status, tier, category, team), what falls due within 7/14/30 days,
    what passed its deadline unappealed (should be empty), and what nobody is assigned."""
    groups: dict[str, dict[str, list[int]]] = {
        k: defaultdict(lambda: [0, 0]) for k in ("status", "tier", "category", "team")
    }
    f = ReportFilter(since, until, payer, practice)
    total = [0, 0]
    unassigned = [0, 0]
    for r in store.open_breakdown(f):
        for key in groups:
            g = groups[key][r[key] or ""]
            g[0] += r["n"]
            g[1] += r["cents"]
        total[0] += r["n"]
        total[1] += r["cents"]
        if r["unassigned"]:
            unassigned[0] += r["n"]
            unassigned[1] += r["cents"]
    iso = today.isoformat()
    windows = [(iso, (today + dt.timedelta(days=days)).isoformat()) for days in DUE_WINDOWS]
    counts = store.deadline_counts(iso, windows, f)
    due: list[DueWindow] = [
        {"within_days": days, "count": n, "amount": money(cents)}
        for days, (n, cents) in zip(DUE_WINDOWS, counts["windows"], strict=True)
    ]
    n, cents = counts["past"]
    rows = store.past_deadline(iso, f, PAST_DEADLINE_LIMIT) if n else []
    past: list[PastDenial] = [
        {
            "id": r["id"],
            "claim": REDACTED if redact else r["claim"],  # CLP01, the patient account number
            "payer": r["payer"],
            "patient": REDACTED
            if redact
            else " ".join(x for x in (r["patient_first"], r["patient_last"]) if x),
            "member_id": REDACTED if redact else r["patient_id"],
            "procedure": r["procedure"],
            "reason": f"{r['group_code']}-{r['carc']}",
            "amount": money(r["amount_cents"]),
            "received": r["received"],
            "deadline": r["deadline"],
            "days_over": (today - dt.date.fromisoformat(r["deadline"])).days,
            "status": r["status"],
            "assignee": r["assignee"],
        }
        for r in rows
    ]

    def listed(key: str) -> list[dict[str, Any]]:
        return [
            {key: k, "count": v[0], "amount": money(v[1])}
            for k, v in sorted(groups[key].items(), key=lambda kv: (-kv[1][1], kv[0]))
        ]

    return {
        "report": "tracking",
        "as_of": iso,
        "period": _period(since, until),
        "payer": payer,
        "open": {"count": total[0], "amount": money(total[1])},
        "by_status": listed("status"),
        "by_tier": listed("tier"),
        "by_category": listed("category"),
        "by_team": listed("team"),
        "due": due,
        "past_deadline": {"count": n, "amount": money(cents), "denials": past},
        "follow_up_due": {"count": counts["follow_up"][0], "amount": money(counts["follow_up"][1])},
        "unassigned": {"count": unassigned[0], "amount": money(unassigned[1])},
    }


# -- patterns -----------------------------------------------------------------------------------


def patterns(
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    limit: int = 50,
    practice: str | None = None,
) -> PatternsReport:
    """Payer x procedure x reason (count, dollars, denial rate, trend, prevention hint),
    rendering providers against the practice average, and authorization denials by month.
    Default period: the 90 days up to today."""
    until = until or today.isoformat()
    since = since or (dt.date.fromisoformat(until) - dt.timedelta(days=89)).isoformat()
    flags = rules.triage.patterns
    f = ReportFilter(since, until, payer, practice)
    prev_since, prev_until = previous_period(since, until)
    before = {
        (r["payer_id"], r["procedure"], r["carc"]): r
        for r in store.pattern_counts(f.period(prev_since, prev_until))
    }
    billed: dict[tuple[int, str], int] = defaultdict(int)
    by_provider_lines: dict[str, int] = defaultdict(int)
    for r in store.lines_billed(f):
        billed[(r["payer_id"], r["procedure"])] += r["n"]
        by_provider_lines[r["rendering"]] += r["n"]
    ranked: list[tuple[int, PatternRow]] = []  # (cents, row): dollars first
    counts = store.pattern_counts(f)
    # The payer's overall line denial rate: what a pattern's count is judged against.
    payer_lines: dict[int, int] = defaultdict(int)
    payer_denied: dict[int, int] = defaultdict(int)
    for (pid, _), n in billed.items():
        payer_lines[pid] += n
    for r in counts:
        payer_denied[r["payer_id"]] += r["n"]
    top = {
        (r["payer_id"], r["procedure"], r["carc"])
        for r in sorted(counts, key=lambda r: -r["cents"])[: flags.top_n]
    }
    for r in counts:
        key = (r["payer_id"], r["procedure"], r["carc"])
        lines = billed.get((r["payer_id"], r["procedure"]), 0)
        prev = before.get(key)
        prev_n = prev["n"] if prev else 0
        resolved = rules.resolve(r["group_code"] or "CO", r["carc"], ())
        denial_rate = rate(r["n"], lines) if lines else None
        base = min(1.0, rate(payer_denied[r["payer_id"]], payer_lines[r["payer_id"]]) or 0.0)
        p_value = binomial_tail(min(r["n"], lines), lines, base) if lines else None
        flagged = (
            r["n"] >= flags.min_count
            and (
                (denial_rate or 0) >= flags.min_rate
                or Decimal(r["cents"]) / 100 >= Decimal(str(flags.min_amount))
            )
            and ((p_value is not None and p_value < flags.alpha) or key in top)
        )
        row: PatternRow = {
            "payer": r["payer"],
            "procedure": r["procedure"],
            "carc": r["carc"],
            "group": r["group_code"] or "CO",
            "reason": rules.carc_description(r["carc"]),
            "category": r["category"],  # as categorized at intake (remarks included)
            "count": r["n"],
            "amount": money(r["cents"]),
            "lines_billed": lines,
            "denial_rate": denial_rate,
            "previous_count": prev_n,
            "previous_amount": money(prev["cents"] if prev else 0),
            "trend": rate(r["n"] - prev_n, prev_n) if prev_n else None,
            "prevention": resolved.prevention,
            "payer_denial_rate": round(base, 4),
            "p_value": None if p_value is None else round(p_value, 6),
            "flagged": flagged,
        }
        ranked.append((r["cents"], row))
    ranked.sort(
        key=lambda x: (-x[0], -x[1]["count"], x[1]["payer"], x[1]["procedure"], x[1]["carc"])
    )
    rows = [row for _, row in ranked]
    total_lines = sum(by_provider_lines.values())
    denied = {r["rendering"]: r for r in store.denials_by_provider(f)}
    total_denied = sum(r["n"] for r in denied.values())
    average = rate(total_denied, total_lines)
    names = store.provider_names(list(by_provider_lines))
    providers: list[ProviderRow] = []
    for npi, lines in by_provider_lines.items():
        d = denied.get(npi)
        n = d["n"] if d else 0
        r_ = rate(n, lines)
        providers.append(
            {
                "provider": names.get(npi, ""),
                "npi": npi,
                "lines_billed": lines,
                "denied": n,
                "amount": money(d["cents"] if d else 0),
                "denial_rate": r_,
                "practice_rate": average,
                "flagged": bool(
                    average
                    and r_ is not None
                    and lines >= flags.provider_min_lines
                    and r_ > average * flags.provider_factor
                ),
            }
        )
    providers.sort(key=lambda p: (-float(p["denial_rate"] or 0), str(p["npi"])))
    auth: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in store.monthly(f.period(None, until), AUTH_CARCS):
        auth[r["month"]][0] += r["n"]
        auth[r["month"]][1] += r["denied"]
    return {
        "report": "patterns",
        "period": _period(since, until),
        "previous_period": _period(prev_since, prev_until),
        "payer": payer,
        "thresholds": flags.model_dump(),
        "patterns": rows[:limit] if limit else rows,
        "pattern_count": len(rows),
        "flagged_count": sum(1 for r in rows if r["flagged"]),
        "providers": providers,
        "practice_denial_rate": average,
        "authorization_by_month": [
            {"month": m, "count": v[0], "amount": money(v[1])} for m, v in sorted(auth.items())
        ],
    }


# -- team ---------------------------------------------------------------------------------------


def team(
    store: Store,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    practice: str | None = None,
) -> TeamReport:
    """Per assignee: open, overdue, appeals submitted and decided in the period, overturn rate,
    recovered dollars, median days from receipt to appeal."""
    f = ReportFilter(since, until, payer, practice)
    days: dict[str, list[int]] = defaultdict(list)
    for who, n in store.days_to_appeal(f):
        days[who].append(n)
    rows: list[TeamRow] = [
        {
            "assignee": r["assignee"] or "(unassigned)",
            "open": r["open"] or 0,
            "overdue": r["overdue"] or 0,
            "appeals_submitted": r["submitted"] or 0,
            "decided": r["decided"] or 0,
            "overturn_rate": rate(r["won"] or 0, r["decided"] or 0),
            "recovered": money(r["recovered"]),
            "median_days_to_appeal": statistics.median(days[r["assignee"]])
            if days.get(r["assignee"])
            else None,
        }
        for r in store.team_activity(today.isoformat(), f)
    ]
    return {"report": "team", "as_of": today.isoformat(), "period": _period(since, until),
            "payer": payer, "team": rows}  # fmt: skip


# -- ROI ----------------------------------------------------------------------------------------


def roi(
    store: Store,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    costs: Roi | None = None,
    practice: str | None = None,
) -> RoiReport:
    """By month of receipt: denied, appealed, recovered (through an appeal, and without one:
    reprocessing, another payer), written off and expired dollars, the recovery rate; the
    cost of the appeals sent that month (minutes x hourly rate, ``triage.yaml`` roi) and the
    net; overturn rate of submitted appeals by category and by payer."""
    costs = costs or Roi()
    f = ReportFilter(since, until, payer, practice)
    per_appeal = (Decimal(str(costs.minutes_per_appeal)) * costs.hourly_rate / 60).quantize(
        Decimal("0.01")
    )
    months: dict[str, dict[str, int]] = {}
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    keys = ("n", "denied", "appealed", "n_appealed", "recovered", "recovered_without_appeal",
            "written_off", "expired", "sent")  # fmt: skip
    for r in store.monthly(f):
        m = months.setdefault(r["month"], dict.fromkeys(keys, 0))
        for k in keys:
            m[k] += r.get(k) or 0
        by_category[r["month"]][r["category"]] += r["denied"] or 0
    for month, n in store.appeals_by_month(f).items():
        months.setdefault(month, dict.fromkeys(keys, 0))["sent"] += n
    cost_cents = int(per_appeal * 100)
    for m in months.values():
        m["cost"] = m["sent"] * cost_cents
    all_keys = (*keys, "cost")
    totals = dict.fromkeys(all_keys, 0)
    month_rows = []
    for month, m in sorted(months.items()):
        for k in all_keys:
            totals[k] += m[k]
        month_rows.append(_roi_row({"month": month}, m))
    outcome: dict[str, dict[str, dict[str, int]]] = {"category": {}, "payer": {}}
    for r in store.decided(f):
        for dim in ("category", "payer"):
            o = outcome[dim].setdefault(r[dim], {"decided": 0, "won": 0, "recovered": 0})
            o["decided"] += r["n"]
            o["won"] += r["n"] if r["status"] != "upheld" else 0
            o["recovered"] += r["recovered"]

    def overturn(dim: str) -> list[dict[str, Any]]:
        return [
            {dim: k, "decided": v["decided"], "overturned": v["won"],
             "overturn_rate": rate(v["won"], v["decided"]), "recovered": money(v["recovered"])}
            for k, v in sorted(outcome[dim].items())
        ]  # fmt: skip

    return {
        "report": "roi",
        "period": _period(since, until),
        "payer": payer,
        "months": month_rows,
        "total": _roi_row({}, totals),
        "denied_by_month_and_category": [
            {"month": m, "category": c, "amount": money(v)}
            for m, cats in sorted(by_category.items())
            for c, v in sorted(cats.items())
        ],
        "overturn_by_category": overturn("category"),
        "overturn_by_payer": overturn("payer"),
        "cost_per_appeal": f"{per_appeal:.2f}",
        "overturn_rate": rate(
            sum(v["won"] for v in outcome["category"].values()),
            sum(v["decided"] for v in outcome["category"].values()),
        ),
    }


def _roi_row(head: dict[str, Any], m: dict[str, int]) -> dict[str, Any]:
    by_appeal = m["recovered"] - m["recovered_without_appeal"]
    return {
        **head,
        "denials": m["n"],
        "denied": money(m["denied"]),
        "appealed": money(m["appealed"]),
        "appeals": m["n_appealed"],
        "appeals_sent": m["sent"],
        "recovered": money(m["recovered"]),
        "recovered_by_appeal": money(by_appeal),
        "recovered_without_appeal": money(m["recovered_without_appeal"]),
        "written_off": money(m["written_off"]),
        "expired": money(m["expired"]),
        "recovery_rate": rate(m["recovered"], m["denied"]),
        "cost": money(m["cost"]),
        "net": money(by_appeal - m["cost"]),
    }


# -- trend ---------------------------------------------------------------------------------------


def _rates(x: dict[str, int]) -> dict[str, Any]:
    return {
        "claims": x["claims"],
        "denied_claims": x["denied_claims"],
        "claim_denial_rate": rate(x["denied_claims"], x["claims"]),
        "lines": x["lines"],
        "denied_lines": x["denied_lines"],
        "line_denial_rate": rate(x["denied_lines"], x["lines"]),
        "billed": money(x["billed"]),
        "denied_amount": money(x["denied"]),
        "dollar_denial_rate": rate(x["denied"], x["billed"]),
    }


def trend(
    store: Store,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    practice: str | None = None,
) -> TrendReport:
    """The initial denial rate by month of first adjudication (HFMA): each claim counted once,
    at its first adjudication; reversals and re-adjudications add nothing to the denominator.
    By claims, lines and dollars; split by category (same denominators) and by payer."""
    zero = dict.fromkeys(
        ("claims", "denied_claims", "lines", "denied_lines", "billed", "denied"), 0
    )
    months: dict[str, dict[str, int]] = {}
    payers: dict[tuple[str, int], dict[str, int]] = {}
    names: dict[int, str] = {}
    counts = store.initial_rates(ReportFilter(since, until, payer, practice))
    month_of: dict[int, str] = counts["months"]
    for r in counts["claims"]:
        month = month_of.get(r["remittance_id"])
        if month is None:
            continue  # outside the period (or another practice)
        names[r["payer_id"]] = r["payer"]
        for bucket in (months.setdefault(month, dict(zero)),
                       payers.setdefault((month, r["payer_id"]), dict(zero))):  # fmt: skip
            bucket["claims"] += r["claims"]
            bucket["lines"] += r["lines"] or 0
            bucket["billed"] += r["billed"] or 0
    cats: dict[tuple[str, str], dict[str, int]] = {}
    for remittance_id, payer_id, n, lines, cents in counts["by_payer"]:
        month = month_of.get(remittance_id)
        if month is None:
            continue
        for bucket in (months[month], payers[(month, payer_id)]):
            bucket["denied_claims"] += int(n)
            bucket["denied_lines"] += int(lines or 0)
            bucket["denied"] += int(cents or 0)
    for remittance_id, category, n, lines, cents in counts["by_category"]:
        month = month_of.get(remittance_id)
        if month is None:
            continue
        c = cats.setdefault((month, category), dict(zero))
        c["denied_claims"] += int(n)
        c["denied_lines"] += int(lines or 0)
        c["denied"] += int(cents or 0)
    return {
        "report": "trend",
        "period": _period(since, until),
        "payer": payer,
        "months": [{"month": m, **_rates(x)} for m, x in sorted(months.items())],
        "by_category": [
            {
                "month": m,
                "category": cat,
                **_rates(
                    {**months[m], **{k: x[k] for k in ("denied_claims", "denied_lines", "denied")}}
                ),
            }
            for (m, cat), x in sorted(cats.items())
        ],  # fmt: skip
        "by_payer": [
            {"month": m, "payer": names.get(pid, ""), **_rates(x)}
            for (m, pid), x in sorted(
                payers.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], ""))
            )
        ],
    }


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): exact (log space) up to 5,000 trials, else normal
    with continuity correction."""
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1 or k > n:
        return 1.0 if k <= n and p >= 1 else 0.0
    if n > 5000:
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc((k - 0.5 - mu) / (sd * math.sqrt(2)))
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(x - top) for x in logs))


# -- summary and the whole set ------------------------------------------------------------------


def build(
    kind: str,
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    redact: bool = False,
    days: int = UNANSWERED_DAYS,
    practice: str | None = None,
) -> Report:
    """One report by name (``KINDS``, ``OTHER_KINDS``); ``summary`` carries ``KINDS`` under
    ``sections``. ``practice``: one client practice (the payee's NPI, tax id or part of its
    name)."""
    f = ReportFilter(since, until, payer, practice)
    data: Report
    if kind == "summary":
        data = summary(compute_sections(store, rules, today, f, redact), today, since, until, payer)
    elif kind == "unanswered":
        data = unanswered(store, today, days=days, payer=payer, redact=redact,
                          practice=practice)  # fmt: skip
    elif kind in KINDS:
        data = _section(kind, store, rules, today, f, redact)
    else:
        raise ValueError(f"unknown report {kind!r}")
    if practice is not None:
        data["practice"] = practice
    return data


def _section(
    kind: str, store: Store, rules: Rules, today: dt.date, f: ReportFilter, redact: bool
) -> Section:
    since, until, payer, practice = f.since, f.until, f.payer, f.practice
    if kind == "tracking":
        return tracking(store, today, since=since, until=until, payer=payer, redact=redact,
                        practice=practice)  # fmt: skip
    if kind == "patterns":
        return patterns(store, rules, today, since=since, until=until, payer=payer,
                        practice=practice)  # fmt: skip
    if kind == "team":
        return team(store, today, since=since, until=until, payer=payer, practice=practice)
    if kind == "roi":
        return roi(store, since=since, until=until, payer=payer, costs=rules.triage.roi,
                   practice=practice)  # fmt: skip
    return trend(store, since=since, until=until, payer=payer, practice=practice)


def compute_sections(
    store: Store, rules: Rules, today: dt.date, f: ReportFilter, redact: bool = False
) -> Sections:
    """Every report the summary is made of, each computed once."""
    return as_sections({k: _section(k, store, rules, today, f, redact) for k in KINDS[:-1]})


def as_sections(parts: Mapping[str, Section | FailedReport]) -> Sections:
    """The summary's parts, checked: a KeyError names the first one missing, a ValueError
    the first that failed."""
    for kind in KINDS[:-1]:
        if "error" in parts[kind]:
            raise ValueError(f"the {kind} report failed")
    return cast(Sections, dict(parts))


def sections(
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
    redact: bool = False,
    practice: str | None = None,
    failed: Callable[[str, Exception], FailedReport],
) -> dict[str, Section | FailedReport]:
    """Every report the summary is made of (``KINDS`` but the summary), each computed once;
    ``failed(kind, exc)`` is kept in place of a report that raised (nightly logs it and goes
    on without it)."""
    f = ReportFilter(since, until, payer, practice)
    out: dict[str, Section | FailedReport] = {}
    for kind in KINDS[:-1]:
        try:
            out[kind] = _section(kind, store, rules, today, f, redact)
        except Exception as exc:
            out[kind] = failed(kind, exc)
    return out


def unanswered(
    store: Store,
    today: dt.date,
    *,
    days: int = UNANSWERED_DAYS,
    payer: str | None = None,
    redact: bool = False,
    practice: str | None = None,
) -> UnansweredReport:
    """Submitted claims (837) with no remittance ``days`` after they were submitted, per
    payer: front-end rejections and lost claims never reach an 835, so nobody sees them.
    ``practice``: the billing provider's NPI or part of its name."""
    before = (today - dt.timedelta(days=days)).isoformat()
    found = store.unanswered(before, ReportFilter(payer=payer, practice=practice))
    claims: list[UnansweredClaim] = [
        {
            "payer": r["payer_name"] or r["payer_identifier"] or "",
            "claim": REDACTED if redact else r["patient_control"],
            "date_of_service": r["dos_from"],
            "submitted": r["created"],
            "days": (today - dt.date.fromisoformat(r["created"] or r["dos_from"])).days,
            "charge": money(r["charge_cents"]),
            "frequency": r["frequency"],
        }
        for r in found
    ]
    by_payer: dict[str, dict[str, Any]] = {}
    for r, c in zip(found, claims, strict=True):
        p = by_payer.setdefault(c["payer"], {"payer": c["payer"], "count": 0, "cents": 0,
                                             "oldest": c["submitted"]})  # fmt: skip
        p["count"] += 1
        p["cents"] += r["charge_cents"] or 0
        p["oldest"] = min(p["oldest"] or "", c["submitted"] or "") or None
    payers = [
        {"payer": p["payer"], "count": p["count"], "amount": money(p["cents"]),
         "oldest": p["oldest"]}
        for p in sorted(by_payer.values(), key=lambda x: (-x["cents"], x["payer"]))
    ]  # fmt: skip
    return {
        "report": "unanswered",
        "today": today.isoformat(),
        "days": days,
        "payer": payer,
        "total": {
            "count": len(claims),
            "amount": money(sum(r["charge_cents"] or 0 for r in found)),
        },
        "by_payer": payers,
        "claims": claims,
    }


def by_practice(
    store: Store,
    rules: Rules,
    today: dt.date,
    *,
    since: str | None = None,
    until: str | None = None,
    payer: str | None = None,
) -> PracticesReport:
    """The summary's headline, one row per client practice (payee): for a billing company
    that works many practices from one database."""
    out = []
    for p in store.practices():
        key = p["identifier"] or p["tax_id"] or p["name"]
        parts = compute_sections(store, rules, today, ReportFilter(since, until, payer, key))
        head = summary(parts, today, since, until, payer)["headline"]
        out.append({"practice": p["name"], "npi": p["identifier"], "tax_id": p["tax_id"],
                    **head})  # fmt: skip
    return {"report": "practices", "as_of": today.isoformat(), "period": _period(since, until),
            "payer": payer, "practices": out}  # fmt: skip


def summary(
    sections: Sections,
    today: dt.date,
    since: str | None,
    until: str | None,
    payer: str | None,
) -> SummaryReport:
    t, p, tm, r = sections["tracking"], sections["patterns"], sections["team"], sections["roi"]
    none: dict[str, Any] = {"count": 0, "amount": "0.00"}
    high = next((x for x in t["by_tier"] if x["tier"] == "high"), none)
    decided = sum(x["decided"] for x in r["overturn_by_category"])
    won = sum(x["overturned"] for x in r["overturn_by_category"])
    headline: Headline = {
        "open_denials": t["open"]["count"],
        "open_amount": t["open"]["amount"],
        "high_tier_open": high["count"],
        "high_tier_amount": high["amount"],
        "due_within_7_days": t["due"][0]["count"],
        "past_deadline": t["past_deadline"]["count"],
        "past_deadline_amount": t["past_deadline"]["amount"],
        "follow_up_due": t["follow_up_due"]["count"],
        "unassigned": t["unassigned"]["count"],
        "denied": r["total"]["denied"],
        "recovered": r["total"]["recovered"],
        "recovery_rate": r["total"]["recovery_rate"],
        "written_off": r["total"]["written_off"],
        "expired": r["total"]["expired"],
        "overturn_rate": rate(won, decided),
        "flagged_patterns": p["flagged_count"],
        "team_overdue": sum(x["overdue"] for x in tm["team"]),
    }
    return {
        "report": "summary",
        "as_of": today.isoformat(),
        "period": _period(since, until),
        "payer": payer,
        "headline": headline,
        "top_patterns": p["patterns"][:5],
        "sections": sections,
    }


# -- HTML ---------------------------------------------------------------------------------------

PALETTE = {
    "administrative": "#4c78a8",
    "technical": "#f58518",
    "clinical": "#54a24b",
    "uncategorized": "#9d9d9d",
}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(top: Decimal, count: int = 4) -> list[Decimal]:
    """Round axis ticks from 0 to at least ``top``: steps of 1, 2, 2.5 or 5 times a power of
    ten ($0, $25M, $50M ... not $89,603,545)."""
    if top <= 0:
        return [Decimal(0), Decimal(1)]
    raw = top / count
    power = Decimal(10) ** raw.adjusted()  # the power of ten of raw's first digit
    step = next(power * m for m in (1, 2, Decimal("2.5"), 5, 10) if power * m >= raw)
    ticks = [Decimal(0)]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def short_dollars(value: Decimal) -> str:
    """An axis label: $0, $500, $25k, $1.5M."""
    for size, suffix in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(1000), "k")):
        if value >= size:
            return f"${(value / size).normalize():f}{suffix}"
    return f"${value.normalize():f}" if value == value.to_integral() else f"${value:,.2f}"


def svg_stacked_months(rows: list[dict[str, Any]], width: int = 640, height: int = 220) -> Markup:
    """Denied dollars per month, stacked by category; one month is a sentence, not a chart."""
    months = sorted({r["month"] for r in rows})
    if not months:
        return Markup('<p class="empty">No denials in this period.</p>')
    stacks: dict[str, dict[str, Decimal]] = {m: {} for m in months}
    for r in rows:
        stacks[r["month"]][r["category"]] = Decimal(r["amount"])
    if len(months) < 2:  # one bar says nothing a sentence would not say better
        total = sum(stacks[months[0]].values(), Decimal(0))
        parts = ", ".join(
            f"{_esc(cat)} ${v:,.2f}" for cat in PALETTE if (v := stacks[months[0]].get(cat))
        )
        return Markup(
            f'<p class="small">All denials in this period were received in {_esc(months[0])}: '
            f"${total:,.2f} denied ({parts}). The monthly chart needs two months or more.</p>"
        )
    ticks = nice_ticks(max(sum(s.values(), Decimal(0)) for s in stacks.values()))
    top = ticks[-1]
    left, bottom, plot_h = 70, 30, height - 50
    step = (width - left - 10) / len(months)
    bar = max(4.0, step * 0.7)
    svg = [f'<svg width="{width}" height="{height}" '
           f'role="img" aria-label="Denied dollars per month by category">']  # fmt: skip
    for value in ticks:
        y = height - bottom - plot_h * float(value / top)
        svg.append(f'<line x1="{left}" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{short_dollars(value)}</text>')  # fmt: skip
    for i, m in enumerate(months):
        x = left + i * step + (step - bar) / 2
        y = height - bottom
        for cat in PALETTE:
            v = stacks[m].get(cat, Decimal(0))
            if not v:
                continue
            h = float(v / top) * plot_h
            y -= h
            svg.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[cat]}"><title>{_esc(m)} {_esc(cat)}: ${v:,.2f}'
                         f'</title></rect>')  # fmt: skip
        if len(months) <= 12 or i % max(1, len(months) // 12) == 0:
            svg.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" '
                         f'text-anchor="middle" font-size="10">{_esc(m)}</text>')  # fmt: skip
    lx = left
    for cat, color in PALETTE.items():
        svg.append(f'<rect x="{lx}" y="2" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="11" font-size="10">{_esc(cat)}</text>')  # fmt: skip
        lx += 110
    svg.append("</svg>")
    return Markup("".join(svg))


def svg_rate_line(months: list[dict[str, Any]], width: int = 640, height: int = 200) -> Markup:
    """The initial claim denial rate per month as a line (a sentence for fewer than two
    months: one point is not a trend)."""
    points = [(m["month"], m["claim_denial_rate"]) for m in months if m["claims"]]
    if len(points) < 2:
        if not points:
            return Markup('<p class="empty">No claims adjudicated in this period.</p>')
        month, value = points[0]
        return Markup(
            f'<p class="empty">One month so far ({_esc(month)}): '
            f"{_esc(f'{value:.1%}')} of claims denied at first adjudication.</p>"
        )
    high = max(0.01, max(v for _, v in points))
    # Round ticks: the smallest step of 1, 2, 5, 10, 20 or 25% that covers it in five.
    tick = next(t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if high <= t * 5 + 1e-9)
    ticks = math.ceil(high / tick - 1e-9)
    top = tick * ticks
    left, bottom, plot_h = 50, 30, height - 45
    step = (width - left - 20) / (len(points) - 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             'aria-label="Initial claim denial rate per month">']  # fmt: skip
    for i in range(ticks + 1):
        value = tick * i
        y = height - bottom - plot_h * i / ticks
        parts.append(f'<line x1="{left}" x2="{width - 5}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{value:.0%}</text>')  # fmt: skip
    xy = [(left + i * step, height - bottom - plot_h * v / top) for i, (_, v) in enumerate(points)]
    parts.append('<polyline fill="none" stroke="#b03a2e" stroke-width="2" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')  # fmt: skip
    every = max(1, len(points) // 12)
    for i, ((month, v), (x, y)) in enumerate(zip(points, xy, strict=True)):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#b03a2e">'
                     f"<title>{_esc(month)}: {v:.1%}</title></circle>")  # fmt: skip
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                         f'font-size="10">{_esc(month)}</text>')  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word boundary (with an ellipsis)."""
    if len(text) <= limit:
        return text
    words, out = text.split(), ""
    for w in words:
        if len(out) + len(w) + (1 if out else 0) > limit - 1:
            break
        out = f"{out} {w}" if out else w
    return (out or text[: limit - 1]) + "…"


def pattern_label(p: dict[str, Any], limit: int = 42) -> str:
    """``BLUESTONE COMMERCIAL… 70553 CO-197``: the codes whole, the payer shortened."""
    codes = f"{p['procedure']} {p.get('group') or 'CO'}-{p['carc']}"
    return f"{shorten(p['payer'] or '', max(8, limit - len(codes) - 1))} {codes}"


def svg_hbars(items: list[tuple[str, Decimal, bool]], width: int = 640, unit: str = "$") -> Markup:
    """Horizontal bars: (label, value, highlighted)."""
    if not items:
        return Markup('<p class="empty">Nothing to show.</p>')
    row, label_w = 22, 260
    height = row * len(items) + 10
    top = max(v for _, v, _ in items) or Decimal(1)
    parts = [f'<svg width="{width}" height="{height}" '
             'role="img">']  # fmt: skip
    for i, (label, value, hot) in enumerate(items):
        y = 5 + i * row
        w = float(value / top) * (width - label_w - 90)
        text = f"{unit}{value:,.2f}" if unit == "$" else f"{value:,.0f}"
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="11">'
                     f'<title>{_esc(label)}</title>{_esc(shorten(label, 42))}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                     f'height="14" fill="{"#d62728" if hot else "#4c78a8"}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="11">{text}</text>')  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))


AGING = (("past deadline", None, -1), ("0-7 days", 0, 7), ("8-14 days", 8, 14),
         ("15-30 days", 15, 30), ("31-60 days", 31, 60), ("61+ days", 61, None))  # fmt: skip


def aging_buckets(store: Store, today: dt.date, f: ReportFilter) -> list[tuple[str, int, int]]:
    """Denials waiting for an appeal, by days left to their deadline: (label, count, cents)."""
    windows = [
        ((today + dt.timedelta(days=lo)).isoformat(),
         (today + dt.timedelta(days=hi)).isoformat() if hi is not None else "9999-12-31")
        for _, lo, hi in AGING[1:]
    ]  # fmt: skip
    # Past deadline: unappealed, whether or not already marked expired, received any time.
    counts = store.deadline_counts(today.isoformat(), windows, f.any_time())
    found = [counts["past"], *counts["windows"]]
    return [(label, n, cents) for (label, _, _), (n, cents) in zip(AGING, found, strict=True)]


def render_html(data: Mapping[str, Any], store: Store, today: dt.date) -> str:
    """One self-contained page (inline CSS and SVG, no scripts, no network) for any report;
    a summary gets every section and chart."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(packaged_templates_dir() / "reports")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dollars"] = lambda v: f"{Decimal(str(v)):,.2f}"  # exact: never via float
    env.filters["count"] = lambda v: "-" if v is None else f"{v:,}"
    sections = data.get("sections", {data["report"]: data})
    charts: dict[str, Markup] = {}
    if "roi" in sections:
        charts["months"] = svg_stacked_months(sections["roi"]["denied_by_month_and_category"])
    if "trend" in sections:
        charts["trend"] = svg_rate_line(sections["trend"]["months"])
    if "patterns" in sections:
        charts["patterns"] = svg_hbars(
            [
                (pattern_label(p), Decimal(p["amount"]), p["flagged"])
                for p in sections["patterns"]["patterns"][:10]
            ]
        )  # fmt: skip
    if "tracking" in sections:
        buckets = aging_buckets(
            store, today, ReportFilter(payer=data.get("payer"), practice=data.get("practice"))
        )
        charts["aging"] = svg_hbars(
            [(f"{label} ({n:,})", Decimal(c) / 100, label == "past deadline" and n > 0)
             for label, n, c in buckets]
        )  # fmt: skip
    return env.get_template("report.html.j2").render(
        data=data, sections=sections, charts=charts, palette=PALETTE
    )
