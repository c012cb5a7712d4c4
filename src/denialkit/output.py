"""Rendering for the terminal and for pipes: data to stdout, messages to stderr.

Consoles are made inside functions (tests pin COLUMNS; NO_COLOR is honoured by rich).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from .files import private_open
from .intake import GROUPS, IngestReport
from .rules import ACTION_TEXT

MAX_MESSAGES = 20


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    raise TypeError(f"cannot serialize {type(value).__name__}")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")


def emit_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    """A JSON array written row by row (flat memory); the same text as ``emit_json(list)``."""
    out = sys.stdout
    first = True
    for row in rows:
        text = json.dumps(row, indent=2, default=_default).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + text)
        first = False
    out.write("[]\n" if first else "\n]\n")


# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A value safe in a CSV cell: text that a spreadsheet would run as a formula gets a
    leading ``'`` (negative amounts such as ``-12.50`` stay numbers)."""
    if isinstance(value, list):
        value = ";".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
    return value


def emit_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """CSV to stdout, row by row (flat memory), every cell neutralised (``csv_cell``)."""
    it = iter(rows)
    first = next(it, None)
    cols = list(columns or (first.keys() if first else []))
    w = csv.DictWriter(sys.stdout, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    if first is None:
        return
    for row in itertools.chain([first], it):
        w.writerow({k: csv_cell(v) for k, v in row.items()})


def message(text: str, style: str | None = None) -> None:
    stderr_console().print(text, style=style, markup=False)


def issues(kind: str, items: Iterable[dict[str, Any]], style: str) -> None:
    items = list(items)
    if not items:
        return
    con = stderr_console()
    for item in items[:MAX_MESSAGES]:
        where = item["file"]
        if item.get("segment") is not None:
            where += f": segment {item['segment']}"
        con.print(f"{kind}: {where}: {item['message']}", style=style, markup=False)
    if len(items) > MAX_MESSAGES:
        con.print(
            f"… and {len(items) - MAX_MESSAGES} more {kind}s (see --format json)",
            style=style,
            markup=False,
        )


def ingest_report(report: IngestReport, fmt: str) -> None:
    data = report.as_dict()
    if fmt == "json":
        emit_json(data)
        return
    issues("error", data["errors"], "bold red")
    issues("warning", data["warnings"], "yellow")
    table = Table(title="Ingest summary", show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("this run", justify="right")
    f = data["files"]
    table.add_row("files ingested", str(f["ingested"]))
    table.add_row("files duplicate", str(f["duplicate"]))
    table.add_row("files failed", str(f["failed"]), style="red" if f["failed"] else None)
    table.add_row("transactions", str(data["transactions"]))
    table.add_row("claims", str(data["claims"]))
    table.add_row("service lines", str(data["service_lines"]))
    table.add_row("total charge (CLP03)", data["total_charge"])
    table.add_row("total paid (CLP04)", data["total_paid"])
    table.add_row("payments (BPR02)", data["payment_total"])
    table.add_row("provider adjustments (PLB)", data["plb_total"])
    for g in GROUPS:
        table.add_row(f"adjustments {g}", data["adjustments_by_group"].get(g, "0.00"))
    status = ", ".join(f"{k}: {v}" for k, v in data["claims_by_status"].items()) or "-"
    table.add_row("claims by status (CLP02)", status)
    table.add_row("denials found", str(report.denials))
    table.add_row("warnings", str(len(data["warnings"])))
    stdout_console().print(table)


class _Progress:
    """A rich progress bar on stderr when there is more than one item, else nothing."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.bar: Any = None

    def __enter__(self):
        if self.total > 1:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        return self.advance

    def advance(self, name: str = "") -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=f"{self.label} {name}"[:60])

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def progress(total: int, label: str) -> _Progress:
    return _Progress(total, label)


QUEUE_COLUMNS = [
    "id",
    "claim",
    "payer_claim_id",
    "payer",
    "patient",
    "service_date",
    "procedure",
    "modifiers",
    "carc",
    "group",
    "rarc",
    "category",
    "amount_at_risk",
    "received",
    "deadline",
    "days_left",
    "likelihood",
    "score",
    "tier",
    "status",
    "team",
    "assignee",
    "recovered",
    "outcome_date",
    "action",
]
TIER_STYLE = {"high": "bold red", "standard": "yellow", "low": "dim"}
CATEGORY_SHORT = {
    "administrative": "admin",
    "technical": "tech",
    "clinical": "clin",
    "uncategorized": "uncat",
}


def queue(rows: Iterable[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        emit_json_rows(rows)
        return
    if fmt == "csv":
        emit_csv(rows, QUEUE_COLUMNS)
        return
    rows = list(rows)
    if not rows:
        message("the queue is empty")
        return
    # Fits an 80-column terminal: the full record is in --format json or `denialkit show ID`.
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for name, kw in (
        ("ID", {"justify": "right"}),
        ("Tier", {}),
        ("Left", {"justify": "right"}),
        ("Payer", {"max_width": 14, "no_wrap": True}),
        ("Proc", {}),
        ("Reason", {}),
        ("Cat", {}),
        ("Amount", {"justify": "right"}),
        ("Who", {"max_width": 9, "no_wrap": True}),
    ):
        table.add_column(name, overflow="ellipsis", **kw)
    for r in rows:
        left = r["days_left"]
        table.add_row(
            str(r["id"]),
            r["tier"] or "",
            "" if left is None else str(left),
            r["payer"] or "",
            r["procedure"] or "",
            f"{r['group']}-{r['carc']}",
            CATEGORY_SHORT.get(r["category"], r["category"]),
            r["amount_at_risk"] or "",
            r["assignee"] or r["team"] or "-",
            style=TIER_STYLE.get(r["tier"] or "") if r["status"] not in ("expired",) else "dim",
        )
    stdout_console().print(table)
    message(f"{len(rows)} denial{'s' if len(rows) != 1 else ''} shown")
    # Not every denial is worked by appeal: say which, so nobody drafts a letter in vain.
    for action in ("resubmit", "reopen", "none"):
        ids = [str(r["id"]) for r in rows if r.get("action") == action]
        if ids:
            message(f"{ACTION_TEXT[action]}: {', '.join(ids)}")


def denial_detail(detail: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        emit_json(detail)
        return
    con = stdout_console()
    d, c = detail["denial"], detail["claim"]
    con.print(
        f"[bold]Denial {d['id']}[/bold]  {d['status']}  tier {d['tier']}  score {d['score']:.3f}"
        if d["score"] is not None
        else f"Denial {d['id']}"
    )
    summary = Table(show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("reason", f"{d['group']}-{d['carc']} {d['carc_description']}"),
        ("remarks", "; ".join(f"{r['code']} {r['description']}" for r in d["rarc"]) or "-"),
        ("category", f"{d['category']} (team {d['team'] or '-'}, assignee {d['assignee'] or '-'})"),
        ("amount at risk", d["amount_at_risk"]),
        ("received", d["received"]),
        ("deadline", f"{d['deadline']} ({d['days_left']} days left; {d['payer_rule']})"),
        ("likelihood", f"{d['likelihood']:.2f} (prior {d['prior']:.2f})"),
        ("score", ", ".join(f"{k} {v}" for k, v in d["breakdown"].items())),
        ("template", d["template"]),
        ("action", ACTION_TEXT.get(d["action"], d["action"])),
        ("appeal", f"submitted {d['appealed_on']}" if d["appealed_on"] else "not submitted"),
        (
            "outcome",
            f"{d['status']} on {d['outcome_date']}, recovered {d['recovered']}"
            if d["outcome_date"]
            else "-",
        ),
        ("claim", f"{c['patient_control']} / payer {c['payer_claim_id']} ({c['payer']})"),
        ("patient", f"{c['patient']} member {c['member_id']}"),
        ("claim status", f"{c['status']}: charge {c['charge']}, paid {c['paid']}"),
        (
            "remittance",
            f"{c['remittance']['date']} trace {c['remittance']['trace']} "
            f"({c['remittance']['file']})",
        ),
    ):
        summary.add_row(
            label,
            str(value),
        )
    con.print(summary)
    lines = Table(title="Service lines", header_style="bold")
    for col in ("id", "proc", "mods", "date", "charge", "paid", "denied"):
        lines.add_column(col)
    for ln in detail["lines"]:
        lines.add_row(
            str(ln["id"]),
            ln["procedure"],
            ",".join(ln["modifiers"]),
            ln["service_date"] or "",
            ln["charge"],
            ln["paid"],
            "yes" if ln["denied"] else "",
        )
    con.print(lines)
    adj = Table(title="Adjustments and remarks", header_style="bold")
    for col in ("line", "code", "amount", "category", "description"):
        adj.add_column(col)
    for a in detail["adjustments"]:
        adj.add_row(
            str(a["line_id"] or "claim"),
            f"{a['group']}-{a['carc']}",
            a["amount"],
            a["category"],
            a["description"],
        )
    for m in detail["remarks"]:
        adj.add_row(str(m["line_id"] or "claim"), m["code"], "", m["source"], m["description"])
    con.print(adj)
    hist = Table(title="History", header_style="bold")
    for col in ("at", "actor", "from", "to", "detail", "source"):
        hist.add_column(col)
    for h in detail["history"]:
        hist.add_row(
            h["at"],
            h["actor"],
            h["old_status"] or "",
            h["new_status"] or "",
            h["detail"],
            h["source"],
        )
    con.print(hist)


def rows(
    data: list[dict[str, Any]],
    fmt: str,
    columns: Sequence[str],
    title: str | None = None,
) -> None:
    """A list of records as a rich table (terminal), CSV or JSON (pipes)."""
    if fmt == "json":
        emit_json(data)
        return
    if fmt == "csv":
        emit_csv(data, columns)
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(c.replace("_", " "), overflow="fold")
    for r in data:
        table.add_row(
            *(
                ", ".join(map(str, r.get(c) or [])) if isinstance(r.get(c), list) else
                ("" if r.get(c) is None else str(r.get(c)))
                for c in columns
            )
        )  # fmt: skip
    stdout_console().print(table)


def history(events: list[dict[str, Any]], fmt: str) -> None:
    rows(events, fmt, ["at", "actor", "old_status", "new_status", "detail", "source"])


def write_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def yaml_text(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def money(cents: int | None) -> str:
    return "0.00" if cents is None else f"{Decimal(cents) / 100:.2f}"


# -- reports ------------------------------------------------------------------------------------

PATTERN_COLUMNS = ["payer", "procedure", "carc", "category", "count", "amount", "lines_billed",
                   "denial_rate", "previous_count", "trend", "flagged", "prevention"]  # fmt: skip
TEAM_COLUMNS = ["assignee", "open", "overdue", "appeals_submitted", "decided", "overturn_rate",
                "recovered", "median_days_to_appeal"]  # fmt: skip
ROI_COLUMNS = ["month", "denials", "denied", "appeals", "appealed", "recovered", "written_off",
               "expired", "recovery_rate"]  # fmt: skip


def _tracking_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"section": "open", "key": "all", **data["open"]}]
    for section in ("by_status", "by_tier", "by_category", "by_team"):
        key = section.removeprefix("by_")
        out += [{"section": key, "key": r[key], "count": r["count"], "amount": r["amount"]}
                for r in data[section]]  # fmt: skip
    out += [{"section": "due_within_days", "key": r["within_days"], "count": r["count"],
             "amount": r["amount"]} for r in data["due"]]  # fmt: skip
    p = data["past_deadline"]
    out.append({"section": "past_deadline", "key": "all", "count": p["count"],
                "amount": p["amount"]})  # fmt: skip
    out.append({"section": "unassigned", "key": "all", **data["unassigned"]})
    return out


def _pct(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def report(data: dict[str, Any], fmt: str) -> None:
    """A report as JSON (the whole document), CSV (its main table) or terminal tables."""
    kind = data["report"]
    if fmt == "json":
        emit_json(data)
        return
    if fmt == "csv":
        if kind == "tracking":
            emit_csv(_tracking_rows(data), ["section", "key", "count", "amount"])
        elif kind == "patterns":
            emit_csv(data["patterns"], PATTERN_COLUMNS)
        elif kind == "team":
            emit_csv(data["team"], TEAM_COLUMNS)
        elif kind == "roi":
            emit_csv(data["months"], ROI_COLUMNS)
        else:
            emit_csv([{"metric": k, "value": v} for k, v in data["headline"].items()])
        return
    sections = data.get("sections", {kind: data})
    if kind == "summary":
        rows([{"metric": k.replace("_", " "), "value": _pct(v) if k.endswith("rate") else v}
              for k, v in data["headline"].items()], "table", ["metric", "value"],
             title="Summary")  # fmt: skip
    if "tracking" in sections:
        rows(_tracking_rows(sections["tracking"]), "table", ["section", "key", "count", "amount"],
             title="Open denials (tracking)")  # fmt: skip
        late = sections["tracking"]["past_deadline"]["denials"]
        if late:
            rows(late, "table", ["id", "claim", "payer", "reason", "amount", "deadline",
                                 "days_over", "assignee"], title="PAST DEADLINE (should be empty)")  # fmt: skip
    if "patterns" in sections:
        p = sections["patterns"]
        shown = [{**r, "denial_rate": _pct(r["denial_rate"]), "trend": _pct(r["trend"]),
                  "flagged": "FLAG" if r["flagged"] else ""} for r in p["patterns"][:20]]  # fmt: skip
        rows(shown, "table", ["payer", "procedure", "carc", "count", "amount", "denial_rate",
                              "trend", "flagged"], title="Patterns (payer x procedure x reason)")  # fmt: skip
        if kind == "patterns":
            prov = [{**r, "denial_rate": _pct(r["denial_rate"]),
                     "flagged": "FLAG" if r["flagged"] else ""} for r in p["providers"]]  # fmt: skip
            rows(prov, "table", ["provider", "npi", "lines_billed", "denied", "denial_rate",
                                 "flagged"],
                 title=f"Rendering providers (practice rate {_pct(p['practice_denial_rate'])})")  # fmt: skip
            rows(p["authorization_by_month"], "table", ["month", "count", "amount"],
                 title="Authorization denials by month")  # fmt: skip
    if "team" in sections:
        shown = [{**r, "overturn_rate": _pct(r["overturn_rate"])} for r in sections["team"]["team"]]
        rows(shown, "table", TEAM_COLUMNS, title="Team")
    if "roi" in sections:
        r = sections["roi"]
        shown = [{**m, "recovery_rate": _pct(m["recovery_rate"])} for m in r["months"]]
        if r["months"]:
            shown.append({**r["total"], "month": "total",
                          "recovery_rate": _pct(r["total"]["recovery_rate"])})  # fmt: skip
        rows(shown, "table", ROI_COLUMNS, title="Return on appeals by month")


@contextmanager
def redirect_stdout(path: Any, force: bool = True) -> Iterator[None]:
    """Send what would go to stdout (tables, CSV, JSON) to a file, owner-only (0600)."""
    with private_open(path, "w", force=force) as f:
        old, sys.stdout = sys.stdout, f
        try:
            yield
        finally:
            sys.stdout = old
