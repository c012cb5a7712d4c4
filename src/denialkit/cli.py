"""The ``denialkit`` command: a thin layer over the library. The only module importing typer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import output, settings
from .errors import DenialkitError
from .intake import find_files, ingest_paths
from .store import Store

app = typer.Typer(
    help="denialkit: claim-denial management for healthcare billing.\n\n"
    "Ingest X12 835 remittances, find and triage denials, write appeals, track outcomes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold patient data
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root() -> None:
    """denialkit: claim-denial management for healthcare billing.

    Typical day: `denialkit ingest inbox/`, then `denialkit queue`.
    The database is --db, else $DENIALKIT_DB, else ./denialkit.db.
    """


def handle_errors(func: F) -> F:
    """Turn denialkit's own errors into a message on stderr and an exit code.

    typer's bundled click swallows ClickException messages, so this is done here, once.
    Unexpected exceptions keep their traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DenialkitError as exc:
            output.message(f"error: {exc}", style="bold red")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


class IngestFormat(StrEnum):
    table = "table"
    json = "json"


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Database file. Default: $DENIALKIT_DB, else ./denialkit.db.",
        dir_okay=False,
        show_default=False,
    ),
]


def open_store(db: Path | None) -> Store:
    return Store(settings.db_path(db))


@app.command()
@handle_errors
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="835 files or directories (searched recursively for files that begin with ISA).",
            exists=True,
            show_default=False,
        ),
    ],
    db: DbOption = None,
    fmt: Annotated[
        IngestFormat, typer.Option("--format", help="Summary as a table or as one JSON object.")
    ] = IngestFormat.table,
) -> None:
    """Store X12 835 remittance files in the database.

    Each file is stored whole or not at all; a file (or a remittance with the same payer,
    trace number and amount) stored before is reported as a duplicate and adds nothing.
    Exit status: 0 all stored or duplicate, 1 some file failed, 2 usage error.

    Example: denialkit ingest examples/ --db denials.db
    """
    store = open_store(db)
    files = list(find_files(paths))
    if not files:
        output.message("no X12 files found in the paths given", style="yellow")
    with output.progress(len(files), "Ingesting") as advance:
        report = ingest_paths(store, files, progress=lambda r: advance(Path(r.path).name))
    output.ingest_report(report, fmt.value)
    raise typer.Exit(1 if report.failed else 0)


def main() -> None:
    app()
