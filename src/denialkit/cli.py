"""The ``denialkit`` command: a thin layer over the library. The only module importing typer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import output, settings, workflow
from .errors import DenialkitError
from .intake import find_files, ingest_paths
from .rules import check_rules, load_rules
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


RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Your rules directory; its files override the packaged "
        "rules. Default: $DENIALKIT_RULES.",
        file_okay=False,
        show_default=False,
    ),
]


class QueueFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


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
    rules_dir: RulesOption = None,
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
    rules = load_rules(settings.user_rules_dir(rules_dir))  # invalid rules: refuse to run
    store = open_store(db)
    files = list(find_files(paths))
    if not files:
        output.message("no X12 files found in the paths given", style="yellow")
    with output.progress(len(files), "Ingesting") as advance:
        report = ingest_paths(
            store,
            files,
            progress=lambda r: advance(Path(r.path).name),
            rules=rules,
            today=settings.today(),
        )
    output.ingest_report(report, fmt.value)
    raise typer.Exit(1 if report.failed else 0)


@app.command()
@handle_errors
def queue(
    tier: Annotated[str | None, typer.Option(help="high, standard or low.")] = None,
    category: Annotated[
        str | None, typer.Option(help="administrative, technical, clinical, uncategorized.")
    ] = None,
    team: Annotated[str | None, typer.Option(help="Team from routing.yaml.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Person the denial is assigned to.")] = None,
    payer: Annotated[str | None, typer.Option(help="Payer name (part of it) or payer id.")] = None,
    status: Annotated[
        str | None, typer.Option(help="open (default), all, or one status such as expired.")
    ] = None,
    due_within: Annotated[
        int | None, typer.Option("--due-within", help="Only deadlines within DAYS.", min=0)
    ] = None,
    limit: Annotated[int, typer.Option(help="At most N rows (0 = all).", min=0)] = 50,
    db: DbOption = None,
    fmt: Annotated[QueueFormat, typer.Option("--format", help="table, csv or json.")] = (
        QueueFormat.table
    ),
) -> None:
    """The work queue: open denials, most urgent first (tier, days left, expected value).

    Example: denialkit queue --tier high --team billing --due-within 14
    """
    store = open_store(db)
    rows = workflow.queue(
        store,
        settings.today(),
        status=status,
        tier=tier,
        category=category,
        team=team,
        assignee=assignee,
        payer=payer,
        due_within=due_within,
        limit=limit or None,
    )
    output.queue(rows, fmt.value)


@app.command()
@handle_errors
def show(
    denial_id: Annotated[int, typer.Argument(help="Denial id (first column of the queue).")],
    db: DbOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[IngestFormat, typer.Option("--format", help="table or json.")] = (
        IngestFormat.table
    ),
) -> None:
    """Everything about one denial: claim, lines, adjustments, remarks, deadline, score,
    history.

    Example: denialkit show 12
    """
    rules = load_rules(settings.user_rules_dir(rules_dir))
    detail = workflow.show(open_store(db), rules, denial_id, settings.today())
    output.denial_detail(detail, fmt.value)


@app.command()
@handle_errors
def assign(
    denial_ids: Annotated[list[int], typer.Argument(help="Denial ids.", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Who works them.", show_default=False)],
    actor: Annotated[
        str | None,
        typer.Option(help="Who is assigning (default $DENIALKIT_USER, else the OS user)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Assign denials to a person.

    Example: denialkit assign 12 13 --to maria
    """
    n = workflow.assign(open_store(db), denial_ids, to, settings.actor(actor))
    output.message(f"assigned {n} denial{'s' if n != 1 else ''} to {to}")


@app.command()
@handle_errors
def route(db: DbOption = None, rules_dir: RulesOption = None) -> None:
    """Assign every unassigned open denial by routing.yaml (category → team → the member
    with the fewest open denials)."""
    rules = load_rules(settings.user_rules_dir(rules_dir))
    store = open_store(db)
    with store.transaction():
        n = workflow.route(store, rules, actor=settings.actor(None))
    output.message(f"routed {n} denial{'s' if n != 1 else ''}")


@app.command()
@handle_errors
def retriage(db: DbOption = None, rules_dir: RulesOption = None) -> None:
    """Recompute deadlines, likelihoods, scores and tiers of every open denial (after a rules
    change, or nightly: outcomes teach the likelihoods), and expire what is past its deadline."""
    rules = load_rules(settings.user_rules_dir(rules_dir))
    store = open_store(db)
    with store.transaction():
        n = workflow.triage(store, rules, settings.today())
    output.message(f"retriaged {n} open denial{'s' if n != 1 else ''}")


rules_app = typer.Typer(help="Inspect and validate the YAML rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
@handle_errors
def rules_check(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Rules directory to check (default: $DENIALKIT_RULES, else the packaged rules).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate rules: every problem with file, line and field. Exit 1 when any.

    Example: denialkit rules check ./my-rules
    """
    rules, problems = check_rules(settings.user_rules_dir(directory))
    for p in problems:
        output.message(str(p), style="red")
    if rules is None:
        raise typer.Exit(1)
    output.message(f"rules OK: {', '.join(rules.sources)}", style="green")


def main() -> None:
    app()
