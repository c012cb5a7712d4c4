"""Rendering for the terminal and for pipes: data to stdout, messages to stderr.

Consoles are made inside functions (tests pin COLUMNS; NO_COLOR is honoured by rich).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from .intake import GROUPS, IngestReport

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


def emit_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    cols = list(columns or (rows[0].keys() if rows else []))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()})
    sys.stdout.write(buf.getvalue())


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
