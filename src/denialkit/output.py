"""Rendering for the terminal and for pipes: data to stdout, messages to stderr.

Consoles are made inside functions (tests pin COLUMNS; NO_COLOR is honoured by rich).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .files import private_open
from .vocabulary import GROUP_CODES, Action, Category, Status, Tier, money, money_grouped

if TYPE_CHECKING:
    from .intake import IngestReport
    from .views import DenialView
    from .worklist import QueueRow

MAX_MESSAGES = 20


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")


def emit_json_rows(rows: Iterable[Mapping[str, Any]]) -> None:
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


def emit_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
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
    for g in GROUP_CODES:
        table.add_row(f"adjustments {g}", data["adjustments_by_group"].get(g, "0.00"))
    status = ", ".join(f"{k}: {v}" for k, v in data["claims_by_status"].items()) or "-"
    table.add_row("claims by status (CLP02)", status)
    table.add_row("denials found", str(report.denials))
    if data["claims_submitted"]:
        table.add_row("claims submitted (837)", str(data["claims_submitted"]))
        table.add_row("submitted lines (837)", str(data["submitted_lines"]))
        table.add_row("submitted charge (CLM02)", data["submitted_charge"])
    if data["claims_linked"] or data["claims_submitted"]:
        table.add_row("claims linked 835 to 837", str(data["claims_linked"]))
    if data["denials_resubmitted"]:
        table.add_row("denials resubmitted", str(data["denials_resubmitted"]))
    table.add_row("warnings", str(len(data["warnings"])))
    stdout_console().print(table)


class _Progress:
    """A rich progress bar on stderr when there is more than one item, else nothing."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> Callable[[str], None]:
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
    return _Progress(total if on_terminal() else 0, label)


def on_terminal() -> bool:
    """Progress bars only where someone watches: stderr is a terminal (not cron, not a pipe)."""
    return sys.stderr.isatty()


class ReadProgress:
    """A progress bar by bytes read (with the claims counted so far), for files large enough
    to take a while; nothing when stderr is not a terminal. Use as a context manager; call
    ``update(path, bytes_read, claims)``."""

    MIN_BYTES = 1 << 20  # smaller inputs finish before a bar is worth drawing

    def __init__(self, total_bytes: int, label: str, console: Console | None = None) -> None:
        self.total = total_bytes
        self.label = label
        self.console = console
        self.bar: Any = None
        self.before = 0  # bytes of the files already done
        self.current: Any = None
        self.last = 0

    def __enter__(self) -> ReadProgress:
        enabled = self.console is not None or on_terminal()
        if enabled and self.total >= self.MIN_BYTES:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[claims]} claims"),
                TimeRemainingColumn(),
                console=self.console or stderr_console(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total, claims="0")
        return self

    def update(self, path: Any, done: int, claims: int) -> None:
        if self.bar is None:
            return
        if path != self.current:
            self.before += self.last
            self.current, self.last = path, 0
        self.last = done
        name = getattr(path, "name", str(path))
        self.bar.update(
            self.task,
            completed=self.before + done,
            claims=f"{claims:,}",
            description=f"{self.label} {name}"[:40],
        )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


TIER_STYLE = {Tier.HIGH: "bold red", Tier.STANDARD: "yellow", Tier.LOW: "dim"}


# -- tables that fit ---------------------------------------------------------------------------
#
# Money, dates, codes and ids are never cut or wrapped: a column of them is as wide as its
# widest value. Names (payer, patient, detail ...) give way first, down to NAME_MIN characters
# with an ellipsis; then whole columns are left out, least important first, and a note on
# stderr says which (the full record is in --format csv/json).

NAME_MIN = 10
TEXT_MIN = 15  # free text wraps: narrower than this, a column of it is a ribbon
GAP = 2  # spaces between columns (padding 1 on each side, none at the edges)


@dataclass
class Column:
    header: str
    values: list[str]
    name: bool = False  # a name or free text: may be narrowed
    wrap: bool = False  # free text (a detail, a description): wraps at words when narrowed
    drop: int = 0  # 0 = never left out; higher = left out sooner
    justify: str = "left"
    width: int = 0

    def need(self) -> int:
        from rich.cells import cell_len  # terminal cells: a wide character takes two

        return max([cell_len(self.header), *(cell_len(v) for v in self.values)])


def fit(columns: list[Column], width: int, gap: int = GAP) -> tuple[list[Column], list[Column]]:
    """The columns to print at ``width`` (with each one's width set) and those left out;
    ``gap`` characters separate two columns."""
    kept = list(columns)
    dropped: list[Column] = []
    while True:
        for c in kept:
            c.width = c.need()
        over = sum(c.width for c in kept) + gap * (len(kept) - 1) - width
        for c in sorted((c for c in kept if c.name), key=lambda c: -c.width):
            if over <= 0:
                break
            floor = min(c.width, max(TEXT_MIN if c.wrap else NAME_MIN, len(c.header)))
            cut = min(over, c.width - floor)
            c.width -= cut
            over -= cut
        if over <= 0:
            break
        candidates = [c for c in kept if c.drop]
        if not candidates:
            break  # nothing left to leave out: the terminal is narrower than the essentials
        worst = max(candidates, key=lambda c: c.drop)
        kept.remove(worst)
        dropped.append(worst)
    return kept, dropped


def _print_fitted(
    columns: list[Column],
    styles: Sequence[str | None] | None = None,
    title: str | None = None,
    boxed: bool = False,
) -> None:
    import rich.box

    con = stdout_console()
    gap = GAP + 1 if boxed else GAP  # a box draws a (blank) divider between columns
    kept, dropped = fit(columns, con.width, gap)
    table = Table(
        title=title,
        show_header=True,
        header_style="bold",
        box=rich.box.SIMPLE_HEAD if boxed else None,
        pad_edge=False,
        show_edge=False,
        collapse_padding=False,
    )
    for c in kept:
        table.add_column(
            c.header,
            justify=c.justify,  # type: ignore[arg-type]
            no_wrap=not c.wrap,
            overflow="ellipsis" if c.name and not c.wrap else "fold",
            width=c.width,
            min_width=c.width,
            max_width=c.width,
        )
    n = len(columns[0].values) if columns else 0
    for i in range(n):
        table.add_row(*(c.values[i] for c in kept), style=styles[i] if styles else None)
    needed = sum(c.width for c in kept) + gap * (len(kept) - 1)
    if needed > con.width:  # even the essentials do not fit: let the terminal wrap the line
        con.width = needed  # rather than rich cut an amount
    con.print(table)
    if dropped:
        message(
            "not shown at this width: "
            + ", ".join(c.header for c in dropped)
            + " (a wider terminal, or --format csv/json, shows them)"
        )


def amount(value: str | None) -> str:
    """An amount string ("1495.00") for a table: thousands separated ("1,495.00")."""
    if value in (None, ""):
        return ""
    try:
        return money_grouped(Decimal(value))
    except ArithmeticError:
        return str(value)


def count(n: int) -> str:
    return f"{n:,}"


def queue(
    rows: Iterable[QueueRow],
    fmt: str,
    *,
    total: int | None = None,
    offset: int = 0,
    show_status: bool = False,
    others: dict[str, int] | None = None,
    found: bool = False,
) -> None:
    """The queue as a table (terminal), CSV or JSON. ``total``: how many match without the
    limit; ``others``: denials in statuses not shown, for the hint when nothing is; ``found``:
    the rows answer a search (``denialkit find``), so patient and claim matter most."""
    if fmt == "json":
        emit_json_rows(rows)
        return
    if fmt == "csv":
        from .worklist import QUEUE_COLUMNS  # here: output loads no store at import

        emit_csv(rows, QUEUE_COLUMNS)
        return
    rows = list(rows)
    if not rows:
        empty_queue(total or 0, offset, others or {})
        return
    # The full record is in --format json or `denialkit show ID`.
    cols = [
        Column("ID", [str(r["id"]) for r in rows], justify="right"),
        Column("Status", [r["status"] for r in rows], drop=3) if show_status else None,
        Column("Tier", [r["tier"] or "" for r in rows], drop=8),
        Column("Left", [_days_left(r) for r in rows], justify="right", drop=4),
        Column("Payer", [r["payer"] or "" for r in rows], name=True, drop=6),
        Column(
            "Patient", [r.get("patient") or "" for r in rows], name=True, drop=2 if found else 10
        ),
        Column("Claim", [r.get("claim") or "" for r in rows], drop=3 if found else 11),
        Column("Proc", [r["procedure"] or "" for r in rows], drop=5),
        Column("Reason", [f"{r['group']}-{r['carc']}" for r in rows]),
        Column("Cat", [Category.SHORT.get(r["category"], r["category"]) for r in rows], drop=9),
        Column("Amount", [amount(r["amount_at_risk"]) for r in rows], justify="right"),
        Column("Who", [r["assignee"] or r["team"] or "-" for r in rows], name=True, drop=7),
    ]
    styles = [
        "dim" if r["status"] not in Status.OPEN else TIER_STYLE.get(r["tier"] or "") for r in rows
    ]
    _print_fitted([c for c in cols if c is not None], styles)
    shown = len(rows)
    if total is not None and total > shown:
        start = f", from #{offset + 1}" if offset else ""
        message(f"{count(shown)} of {count(total)} shown{start} (use --limit/--offset)")
    else:
        message(f"{count(shown)} denial{'s' if shown != 1 else ''} shown")
    # Not every denial is worked by appeal: say which, so nobody drafts a letter in vain.
    for action in (a for a in Action.ALL if a not in (Action.APPEAL, Action.BILL_PATIENT)):
        ids = [str(r["id"]) for r in rows if r.get("action") == action]
        if ids:
            message(f"{Action.TEXT[action]}: {', '.join(ids)}")


def _days_left(row: QueueRow) -> str:
    """Days to the deadline, for open work only: a decided denial has no clock running."""
    if row["days_left"] is None or row["status"] not in Status.OPEN:
        return "-"
    return str(row["days_left"])


def empty_queue(total: int, offset: int, others: dict[str, int]) -> None:
    """Nothing to show: say why, and where the other denials are."""
    if total and offset:
        message(f"nothing shown: {count(total)} match, and --offset {offset} is past them")
        return
    message("the queue is empty")
    others = dict(others)
    patients = others.pop("bill_patient", 0)
    if patients:
        message(
            f"{count(patients)} denial{'s are' if patients != 1 else ' is'} the patient's to pay: "
            "see them with --action bill_patient"
        )
    if others:
        n = sum(others.values())
        detail = ", ".join(f"{k} {count(v)}" for k, v in others.items())
        first = next(iter(others))
        message(
            f"{count(n)} denial{'s' if n != 1 else ''} in other statuses ({detail}): see them "
            f"with --status all, or --status {first}"
        )


def _submitted_claim(con: Any, s: dict[str, Any] | None) -> None:
    """The 837 claim beside the remittance (``show``)."""
    if s is None:
        return
    freq = {"1": "original", "7": "replacement", "8": "void"}.get(s["frequency"], s["frequency"])
    head = (
        f"Submitted claim {s['patient_control']} ({s['kind']}, {freq}"
        + (f" of {s['original_ref']}" if s["original_ref"] else "")
        + f") on {s['submitted'] or '-'}: charge {s['charge']}; diagnoses "
        + (", ".join(s["diagnoses"]) or "-")
        + f"; authorization {s['prior_authorization'] or '-'}; referral {s['referral'] or '-'}"
        + f"; date of birth {s['date_of_birth'] or '-'}; rendering NPI {s['rendering_npi'] or '-'}"
    )
    con.print(head)
    ln = s["lines"]
    _print_fitted(
        [
            Column("line", [str(x["line"]) for x in ln], justify="right"),
            Column("proc", [x["procedure"] for x in ln]),
            Column("mods", [",".join(x["modifiers"]) for x in ln], drop=2),
            Column("date", [x["date"] or "" for x in ln], drop=1),
            Column("units", [x["units"] or "" for x in ln], drop=3),
            Column("charge", [amount(x["charge"]) for x in ln], justify="right"),
            Column("dx", [",".join(x["diagnoses"]) for x in ln], drop=2),
        ],
        title="Submitted lines (837)",
        boxed=True,
    )


def denial_detail(detail: DenialView, fmt: str) -> None:
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
        ("payer class", f"{d['payer_class']} ({d['class_basis']}); rules: {d['payer_rule']}"),
        (
            "next step",
            Action.TEXT.get(d["action"], d["action"]) + (f": {d['note']}" if d["note"] else ""),
        ),
        ("level", f"{d['level']}" + (f" ({d['level_name']})" if d["level_name"] else "")),
        (
            "deadline",
            f"{d['deadline']} ({d['days_left']} days left)" if d["deadline"] else "none",
        ),
        ("deadline basis", d["deadline_basis"] or "-"),
        (
            "follow up",
            (d["follow_up"] + (" (due now)" if d["due"] else "")) if d["follow_up"] else "-",
        ),
        ("likelihood", f"{d['likelihood']:.2f} (prior {d['prior']:.2f})"),
        ("score", ", ".join(f"{k} {v}" for k, v in d["breakdown"].items())),
        ("template", d["template"]),
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
    ln = detail["lines"]
    _print_fitted(
        [
            Column("id", [str(x["id"]) for x in ln], justify="right"),
            Column("proc", [x["procedure"] or "" for x in ln]),
            Column("mods", [",".join(x["modifiers"]) for x in ln], drop=2),
            Column("date", [x["service_date"] or "" for x in ln], drop=1),
            Column("charge", [amount(x["charge"]) for x in ln], justify="right"),
            Column("paid", [amount(x["paid"]) for x in ln], justify="right"),
            Column("denied", ["yes" if x["denied"] else "" for x in ln]),
        ],
        title="Service lines",
        boxed=True,
    )
    _submitted_claim(con, detail.get("submitted"))
    adj = [
        (
            str(a["line_id"] or "claim"),
            f"{a['group']}-{a['carc']}",
            amount(a["amount"]),
            a["category"],
            a["description"],
        )
        for a in detail["adjustments"]
    ] + [
        (str(m["line_id"] or "claim"), m["code"], "", m["source"], m["description"])
        for m in detail["remarks"]
    ]
    _print_fitted(
        [
            Column("line", [a[0] for a in adj]),
            Column("code", [a[1] for a in adj]),
            Column("amount", [a[2] for a in adj], justify="right"),
            Column("category", [a[3] for a in adj], drop=1),
            Column("description", [a[4] for a in adj], name=True, wrap=True, drop=2),
        ],
        title="Adjustments and remarks",
        boxed=True,
    )
    hist = detail["history"]
    _print_fitted(
        [
            Column("at", [h["at"] for h in hist]),
            Column("actor", [h["actor"] for h in hist], name=True, drop=3),
            Column("from", [h["old_status"] or "" for h in hist], drop=2),
            Column("to", [h["new_status"] or "" for h in hist]),
            Column("detail", [h["detail"] for h in hist], name=True, wrap=True, drop=1),
            Column("source", [h["source"] for h in hist], name=True, drop=4),
        ],
        title="History",
        boxed=True,
    )


# Columns holding names (shortened with an ellipsis) or free text (wrapped at words): these
# give way before anything else does.
NAME_COLUMNS = {
    "payer",
    "patient",
    "provider",
    "detail",
    "description",
    "prevention",
    "carcs",
    "metric",
    "actor",
    "assignee",
    "template",
    "team",
    "key",
}
TEXT_COLUMNS = {"detail", "description", "prevention", "carcs"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def rows(
    data: list[dict[str, Any]],
    fmt: str,
    columns: Sequence[str],
    title: str | None = None,
    keep: Sequence[str] | None = None,
) -> None:
    """A list of records as a table (terminal), CSV or JSON (pipes).

    In the table, money, dates, codes and ids are never cut or wrapped: names are shortened,
    then columns are left out: those last in ``keep`` (default: ``columns``) first, the first
    one never (see ``fit``)."""
    order = list(keep or columns)
    if fmt == "json":
        emit_json(data)
        return
    if fmt == "csv":
        emit_csv(data, columns)
        return
    cols = [
        Column(
            c.replace("_", " "),
            [_cell(r.get(c)) for r in data],
            name=c in NAME_COLUMNS,
            wrap=c in TEXT_COLUMNS,
            drop=order.index(c) if c in order else len(order),  # the first stays
            justify="right" if data and _numeric(data[0].get(c)) else "left",
        )
        for c in columns
    ]
    _print_fitted(cols, title=title, boxed=True)


def _numeric(value: Any) -> bool:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return True
    if isinstance(value, str) and value:
        try:
            Decimal(value.rstrip("%").replace(",", ""))
        except ArithmeticError:
            return False
        return True
    return False


def history(events: list[dict[str, Any]], fmt: str) -> None:
    rows(
        events,
        fmt,
        ["at", "actor", "old_status", "new_status", "detail", "source"],
        keep=["at", "new_status", "detail", "actor", "old_status", "source"],
    )


def write_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def yaml_text(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# -- reports ------------------------------------------------------------------------------------

PATTERN_COLUMNS = [
    "payer",
    "procedure",
    "carc",
    "category",
    "count",
    "amount",
    "lines_billed",
    "denial_rate",
    "previous_count",
    "trend",
    "flagged",
    "prevention",
]
TEAM_COLUMNS = [
    "assignee",
    "open",
    "overdue",
    "appeals_submitted",
    "decided",
    "overturn_rate",
    "recovered",
    "median_days_to_appeal",
]
TREND_COLUMNS = [
    "month",
    "claims",
    "denied_claims",
    "claim_denial_rate",
    "lines",
    "denied_lines",
    "line_denial_rate",
    "billed",
    "denied_amount",
    "dollar_denial_rate",
]
ROI_COLUMNS = [
    "month",
    "denials",
    "denied",
    "appeals_sent",
    "recovered_by_appeal",
    "recovered_without_appeal",
    "cost",
    "net",
    "written_off",
    "expired",
    "recovery_rate",
]


def _tracking_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = [{"section": "open", "key": "all", **data["open"]}]
    for section in ("by_status", "by_tier", "by_category", "by_team"):
        key = section.removeprefix("by_")
        out += [
            {"section": key, "key": r[key], "count": r["count"], "amount": r["amount"]}
            for r in data[section]
        ]
    out += [
        {
            "section": "due_within_days",
            "key": r["within_days"],
            "count": r["count"],
            "amount": r["amount"],
        }
        for r in data["due"]
    ]
    p = data["past_deadline"]
    out.append(
        {"section": "past_deadline", "key": "all", "count": p["count"], "amount": p["amount"]}
    )
    if "follow_up_due" in data:
        out.append({"section": "follow_up_due", "key": "appealed", **data["follow_up_due"]})
    out.append({"section": "unassigned", "key": "all", **data["unassigned"]})
    return out


def _pct(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


UNANSWERED_COLUMNS = [
    "payer",
    "claim",
    "date_of_service",
    "submitted",
    "days",
    "charge",
    "frequency",
]


def report(data: Mapping[str, Any], fmt: str) -> None:
    """A report as JSON (the whole document), CSV (its main table) or terminal tables."""
    kind = data["report"]
    if fmt == "json":
        emit_json(data)
    elif kind == "practices":  # summary --by practice: one row per client practice
        _practices(data, fmt)
    elif fmt == "csv":
        rows_of, columns = REPORT_CSV.get(kind, _headline_csv)
        emit_csv(rows_of(data), columns)
    elif kind == "unanswered":
        rows(
            data["by_payer"],
            "table",
            ["payer", "count", "amount", "oldest"],
            title=f"Submitted claims with no remittance after {data['days']} days, by payer",
        )
        rows(data["claims"], "table", UNANSWERED_COLUMNS, title="Unanswered claims")
    else:
        sections = data.get("sections", {kind: data})
        if kind == "summary":
            rows(
                [
                    {"metric": k.replace("_", " "), "value": _pct(v) if k.endswith("rate") else v}
                    for k, v in data["headline"].items()
                ],
                "table",
                ["metric", "value"],
                title="Summary",
            )
        for name, show in REPORT_TABLES.items():  # in this order, each section present
            if name in sections:
                show(sections[name], kind)


def _practices(data: Mapping[str, Any], fmt: str) -> None:
    if fmt == "csv":
        emit_csv(
            data["practices"], list(data["practices"][0]) if data["practices"] else ["practice"]
        )
        return
    shown = [
        "practice",
        "npi",
        "tax_id",
        "open_denials",
        "open_amount",
        "high_tier_open",
        "past_deadline",
        "unassigned",
        "denied",
        "recovered",
        "recovery_rate",
    ]
    rows(
        [{**r, "recovery_rate": _pct(r.get("recovery_rate"))} for r in data["practices"]],
        "table",
        shown,
        title="Summary by practice",
    )


# Each report's CSV: its main table (the summary's headline figures for the others).
_headline_csv: tuple[Callable[[Mapping[str, Any]], list[dict[str, Any]]], list[str] | None] = (
    lambda d: [{"metric": k, "value": v} for k, v in d["headline"].items()],
    None,
)
REPORT_CSV: dict[
    str, tuple[Callable[[Mapping[str, Any]], list[dict[str, Any]]], list[str] | None]
] = {
    "tracking": (_tracking_rows, ["section", "key", "count", "amount"]),
    "patterns": (lambda d: d["patterns"], PATTERN_COLUMNS),
    "team": (lambda d: d["team"], TEAM_COLUMNS),
    "roi": (lambda d: d["months"], ROI_COLUMNS),
    "trend": (lambda d: d["months"], TREND_COLUMNS),
    "unanswered": (lambda d: d["claims"], UNANSWERED_COLUMNS),
}


def _tracking_tables(t: Mapping[str, Any], kind: str) -> None:
    rows(
        _tracking_rows(t),
        "table",
        ["section", "key", "count", "amount"],
        title="Open denials (tracking)",
    )
    late = t["past_deadline"]["denials"]
    if late:
        rows(
            late,
            "table",
            ["id", "claim", "payer", "reason", "amount", "deadline", "days_over", "assignee"],
            title="PAST DEADLINE (should be empty)",
        )


def _patterns_tables(p: Mapping[str, Any], kind: str) -> None:
    shown = [
        {
            **r,
            "denial_rate": _pct(r["denial_rate"]),
            "trend": _pct(r["trend"]),
            "flagged": "FLAG" if r["flagged"] else "",
        }
        for r in p["patterns"][:20]
    ]
    rows(
        shown,
        "table",
        ["payer", "procedure", "carc", "count", "amount", "denial_rate", "trend", "flagged"],
        title="Patterns (payer x procedure x reason)",
    )
    if kind != "patterns":
        return  # the summary shows the patterns only
    prov = [
        {**r, "denial_rate": _pct(r["denial_rate"]), "flagged": "FLAG" if r["flagged"] else ""}
        for r in p["providers"]
    ]
    rows(
        prov,
        "table",
        ["provider", "npi", "lines_billed", "denied", "denial_rate", "flagged"],
        title=f"Rendering providers (practice rate {_pct(p['practice_denial_rate'])})",
    )
    rows(
        p["authorization_by_month"],
        "table",
        ["month", "count", "amount"],
        title="Authorization denials by month",
    )


def _team_tables(t: Mapping[str, Any], kind: str) -> None:
    shown = [{**r, "overturn_rate": _pct(r["overturn_rate"])} for r in t["team"]]
    rows(shown, "table", TEAM_COLUMNS, title="Team")


def _roi_tables(r: Mapping[str, Any], kind: str) -> None:
    shown = [{**m, "recovery_rate": _pct(m["recovery_rate"])} for m in r["months"]]
    if r["months"]:
        shown.append(
            {**r["total"], "month": "total", "recovery_rate": _pct(r["total"]["recovery_rate"])}
        )
    rows(shown, "table", ROI_COLUMNS, title="Return on appeals by month")


def _trend_tables(t: Mapping[str, Any], kind: str) -> None:
    rates = ("claim_denial_rate", "line_denial_rate", "dollar_denial_rate")
    shown = [{**m, **{k: _pct(m[k]) for k in rates}} for m in t["months"]]
    rows(
        shown,
        "table",
        [
            "month",
            "claims",
            "denied_claims",
            "claim_denial_rate",
            "line_denial_rate",
            "billed",
            "denied_amount",
            "dollar_denial_rate",
        ],
        title="Initial denial rate by month (first adjudication)",
    )


# The terminal tables of each report section, in the order the summary prints them.
REPORT_TABLES: dict[str, Callable[[Mapping[str, Any], str], None]] = {
    "tracking": _tracking_tables,
    "patterns": _patterns_tables,
    "team": _team_tables,
    "roi": _roi_tables,
    "trend": _trend_tables,
}


@contextmanager
def redirect_stdout(path: Any, force: bool = True) -> Iterator[None]:
    """Send what would go to stdout (tables, CSV, JSON) to a file, owner-only (0600)."""
    with private_open(path, "w", force=force) as f:
        old, sys.stdout = sys.stdout, f
        try:
            yield
        finally:
            sys.stdout = old


# -- scrub -------------------------------------------------------------------------------------

SCRUB_COLUMNS = [
    "claim",
    "line",
    "procedure",
    "modifiers",
    "date_of_service",
    "payer",
    "risk",
    "tier",
    "rule",
    "carc",
    "denied",
    "of",
    "since",
    "hint",
    "evidence",
]


def scrub(result: Any, fmt: str) -> None:
    """``denialkit scrub``: one JSON object, CSV of the flags, or a table with the evidence."""
    data = result.as_dict()
    if fmt == "json":
        emit_json(data)
        return
    # CSV and the table add the sentence that explains the evidence (not in the JSON shape).
    flat = [
        {
            **{k: v for k, v in f.items() if k != "evidence"},
            **f["evidence"],
            "modifiers": ",".join(f["modifiers"]),
            "evidence": flag.detail,
        }
        for f, flag in zip(data["flags"], result.flags, strict=True)
    ]
    if fmt == "csv":
        emit_csv(flat, SCRUB_COLUMNS)
        return
    for w in result.warnings:
        message(f"warning: {w}", style="yellow")
    if not result.flags:
        message(f"{data['claims']} claims, {data['lines']} lines: nothing flagged")
        return
    _print_fitted(
        [
            Column("claim", [f["claim"] for f in flat]),
            Column("line", [str(f["line"]) for f in flat], justify="right"),
            Column(
                "proc",
                [f["procedure"] + (":" + f["modifiers"] if f["modifiers"] else "") for f in flat],
            ),
            Column("tier", [f["tier"] for f in flat]),
            Column("risk", [f"{f['risk']:.2f}" for f in flat], justify="right"),
            Column("rule", [f["rule"] for f in flat]),
            # One free-text column: what the history says, then what to fix before sending.
            Column(
                "evidence → prevention",
                [f"{f['evidence']}. Prevention: {f['hint']}" for f in flat],
                name=True,
                wrap=True,
            ),
        ],
        title=f"Scrub: {data['claims']} claims, {data['lines']} lines, {len(flat)} flags",
        boxed=True,
    )
