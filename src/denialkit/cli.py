"""The ``denialkit`` command: a thin layer over the library. The only module importing typer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import config as config_mod
from . import letters, lifecycle, nightly, output, reports, settings, workflow
from .errors import DenialkitError, UsageError
from .files import check_new_file, private_dir, private_open, write_private
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

    Each file is stored whole or not at all; a file (or a remittance with the same content)
    stored before is reported as a duplicate and adds nothing.
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
        stream=fmt != QueueFormat.table,  # CSV and JSON exports stream in flat memory
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


ActorOption = Annotated[
    str | None,
    typer.Option(help="Who is making the change (default $DENIALKIT_USER, else the OS user)."),
]
TemplatesOption = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="Your templates directory (same layout as the packaged templates/; yours win). "
        "Default: $DENIALKIT_TEMPLATES.",
        file_okay=False,
        show_default=False,
    ),
]


class LetterFormat(StrEnum):
    md = "md"
    html = "html"
    pdf = "pdf"


@app.command()
@handle_errors
def appeal(
    denial_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Denial ids (or select with --tier/--category/...).", show_default=False
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="NAME=VALUE for a placeholder; repeat for each.", show_default=False
        ),
    ] = None,
    fields: Annotated[
        Path | None,
        typer.Option(
            "--fields",
            help="YAML or JSON file of NAME: value placeholders.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        LetterFormat, typer.Option("--format", help="md, html or pdf (pdf needs Chromium).")
    ] = LetterFormat.md,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File for one letter; directory for several. Default: stdout.",
            show_default=False,
        ),
    ] = None,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft", help="Mark unfilled placeholders in the letter instead of failing."
        ),
    ] = False,
    tier: Annotated[str | None, typer.Option(help="Select open denials of this tier.")] = None,
    category: Annotated[
        str | None, typer.Option(help="Select open denials of this category.")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Select open denials assigned to NAME.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most N letters when selecting (0 = all).", min=0)
    ] = 0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write letters even for denials with no appeal rights (action), and "
            "overwrite existing files.",
        ),
    ] = False,
    actor: ActorOption = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
    templates_dir: TemplatesOption = None,
) -> None:
    """Write appeal letters from templates.

    One letter: `denialkit appeal 12 --set clinical_summary="..." --out appeal-12.md`
    (stdout without --out). Many: `denialkit appeal --tier high --draft --out letters/`.
    Required placeholders left empty are an error naming them, unless --draft marks them.
    A finished (non-draft) letter moves the denial to appeal_drafted.
    """
    rules = load_rules(settings.user_rules_dir(rules_dir))
    cfg = config_mod.load_config()
    writer = letters.LetterWriter(templates_dir)
    values = letters.parse_values(set_, fields)
    store = open_store(db)
    today, who = settings.today(), settings.actor(actor)
    ids, single = letters.select(
        store, today, denial_ids, tier=tier, category=category, assignee=assignee, limit=limit
    )
    if single:
        result = letters.appeal(
            store, rules, cfg, writer, ids[0], values=values, fmt=fmt.value,
            draft=draft, today=today, actor=who, out=out, force=force, overwrite=force,
        )  # fmt: skip
        if out is None:
            output.write_text(result.letter.text)
        else:
            output.message(f"wrote {result.path or out} ({result.letter.template})")
        if result.letter.missing:
            output.message(
                "placeholders to fill: " + ", ".join(result.letter.missing), style="yellow"
            )
        return
    if out is None:
        raise UsageError("several letters need --out DIR")
    with output.progress(len(ids), "Writing letters") as advance:
        results = letters.appeal_many(
            store, rules, cfg, writer, ids, out, values=values, fmt=fmt.value, draft=draft,
            today=today, actor=who, progress=lambda i: advance(f"denial {i}"), force=force,
            overwrite=force,
        )  # fmt: skip
    failed = [r for r in results if r.error]
    skipped = [r for r in results if r.skipped]
    for r in skipped:
        output.message(f"skipped: {r.skipped}", style="yellow")
    for r in failed:
        output.message(f"denial {r.denial_id}: {r.error}", style="red")
    written = len(results) - len(failed) - len(skipped)
    output.message(
        f"wrote {written} letter(s) to {out}; {len(skipped)} skipped, {len(failed)} failed"
    )
    raise typer.Exit(1 if failed else 0)


@app.command()
@handle_errors
def submit(
    denial_id: Annotated[int, typer.Argument(help="Denial id.")],
    date: Annotated[
        str | None, typer.Option("--date", help="Day the appeal was sent (ISO; default today).")
    ] = None,
    reference: Annotated[str, typer.Option(help="Tracking or confirmation number.")] = "",
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Record that the appeal was sent: the denial becomes `appealed`.

    Example: denialkit submit 12 --date 2026-03-01 --reference PORTAL-5521
    """
    lifecycle.submit(
        open_store(db), denial_id, actor=settings.actor(actor), on=date,
        today=settings.today(), reference=reference,
    )  # fmt: skip
    output.message(f"denial {denial_id}: appealed")


@app.command()
@handle_errors
def outcome(
    denial_id: Annotated[int, typer.Argument(help="Denial id.")],
    overturned: Annotated[
        bool, typer.Option("--overturned", help="The payer reversed the denial.")
    ] = False,
    partial: Annotated[
        bool, typer.Option("--partial", help="Partly reversed (give --recovered).")
    ] = False,
    upheld: Annotated[bool, typer.Option("--upheld", help="The payer kept the denial.")] = False,
    recovered: Annotated[
        str | None,
        typer.Option(
            help="Amount recovered, e.g. 125.40 (default for --overturned: the amount at risk)."
        ),
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Decision date (ISO; default today).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Accept --recovered above the amount at risk (recorded)."),
    ] = False,
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Record the payer's decision on an appealed denial.

    Example: denialkit outcome 12 --partial --recovered 80.00 --date 2026-04-10
    """
    chosen = [
        n
        for n, on in (
            ("overturned", overturned),
            ("partially_overturned", partial),
            ("upheld", upheld),
        )
        if on
    ]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --overturned, --partial, --upheld")
    amount = lifecycle.parse_amount(recovered) if recovered is not None else None
    result = lifecycle.outcome(
        open_store(db), denial_id, chosen[0], actor=settings.actor(actor), recovered=amount,
        on=date, today=settings.today(), force=force,
    )  # fmt: skip
    output.message(
        f"denial {denial_id}: {chosen[0]}, recovered {output.money(result['recovered_cents'])}"
    )


@app.command()
@handle_errors
def writeoff(
    denial_id: Annotated[int, typer.Argument(help="Denial id.")],
    reason: Annotated[str, typer.Option(help="Why the money is written off.", show_default=False)],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Write a denial off (stop pursuing it), with the reason on its history.

    Example: denialkit writeoff 12 --reason "below appeal threshold"
    """
    lifecycle.writeoff(
        open_store(db), denial_id, reason, actor=settings.actor(actor), today=settings.today()
    )
    output.message(f"denial {denial_id}: written off")


@app.command()
@handle_errors
def note(
    denial_id: Annotated[int, typer.Argument(help="Denial id.")],
    text: Annotated[str, typer.Argument(help="The note.", show_default=False)],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Add a note to a denial's history (calls made, documents requested ...).

    Example: denialkit note 12 "called payer, ref 8841, records requested"
    """
    lifecycle.note(open_store(db), denial_id, text, actor=settings.actor(actor))
    output.message(f"denial {denial_id}: note added")


@app.command()
@handle_errors
def history(
    denial_id: Annotated[int, typer.Argument(help="Denial id.")],
    db: DbOption = None,
    fmt: Annotated[
        QueueFormat, typer.Option("--format", help="table, csv or json.")
    ] = QueueFormat.table,
) -> None:
    """Every change of one denial, oldest first: time, actor, old and new status, detail,
    source (a command, or the remittance that changed it).

    Example: denialkit history 12 --format json
    """
    output.history(lifecycle.history(open_store(db), denial_id), fmt.value)


templates_app = typer.Typer(help="List and check appeal letter templates.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")


@templates_app.command("list")
@handle_errors
def templates_list(
    templates_dir: TemplatesOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[
        QueueFormat, typer.Option("--format", help="table, csv or json.")
    ] = QueueFormat.table,
) -> None:
    """Letter templates, where each comes from (yours or packaged), and the reason codes
    whose rule uses it."""
    rules = load_rules(settings.user_rules_dir(rules_dir))
    rows = letters.template_usage(rules, letters.LetterWriter(templates_dir))
    output.rows(rows, fmt.value, ["template", "source", "carcs"])


@templates_app.command("check")
@handle_errors
def templates_check(templates_dir: TemplatesOption = None, rules_dir: RulesOption = None) -> None:
    """Render every template against a sample denial (Markdown and HTML); report errors.
    Exit 1 when any template fails."""
    rules = load_rules(settings.user_rules_dir(rules_dir))
    results = letters.check_templates(rules, letters.LetterWriter(templates_dir))
    for name, error in results:
        if error:
            output.message(f"{name}: {error}", style="red")
    bad = sum(1 for _, e in results if e)
    output.message(
        f"{len(results) - bad} of {len(results)} templates render", style="red" if bad else "green"
    )
    raise typer.Exit(1 if bad else 0)


config_app = typer.Typer(
    help="Practice details for letters (name, address, NPI, TIN, phone, contact).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("set")
@handle_errors
def config_set(
    key: Annotated[
        str,
        typer.Argument(
            help="practice.name, practice.address, practice.npi, practice.tin, practice.phone, practice.fax, practice.email or practice.contact."
        ),
    ],
    value: Annotated[str, typer.Argument(help=r"The value (\n starts a new line in an address).")],
) -> None:
    """Set one practice detail in the config file ($DENIALKIT_CONFIG, else
    ~/.config/denialkit/config.yaml).

    Example: denialkit config set practice.name "Riverside Family Medicine"
    """
    path = config_mod.set_value(key, value)
    output.message(f"{key} set in {path}")


@config_app.command("show")
@handle_errors
def config_show() -> None:
    """Print the config file's path and contents (YAML)."""
    path = settings.config_path()
    output.message(f"# {path}{'' if path.exists() else ' (not created yet)'}")
    output.write_text(output.yaml_text(config_mod.load_config().model_dump()))


class ReportKind(StrEnum):
    tracking = "tracking"
    patterns = "patterns"
    team = "team"
    roi = "roi"
    summary = "summary"


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    html = "html"


def _iso(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    import datetime as dt

    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{name} {value!r} is not an ISO date (YYYY-MM-DD)") from None


@app.command()
@handle_errors
def report(
    kind: Annotated[ReportKind, typer.Argument(help="tracking, patterns, team, roi or summary.")],
    since: Annotated[
        str | None, typer.Option(help="First day (ISO) of the period, by remittance date.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day (ISO) of the period.")] = None,
    payer: Annotated[str | None, typer.Option(help="Payer name (part of it) or payer id.")] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table, csv, json or html.")
    ] = ReportFormat.table,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write to this file instead of stdout.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact", help="Leave out patient names, member ids and account numbers (CLP01)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --out file.")
    ] = False,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """Reports: what is open and due (tracking), what to fix upstream (patterns), who is
    keeping up (team), what appeals return (roi), or all headlines (summary).

    Example: denialkit report patterns --since 2026-09-01 --format csv > patterns.csv
    Example: denialkit report summary --format html --out today.html --redact
    """
    if out is not None:
        check_new_file(out, force)  # before any work: a refused --out costs nothing
    rules = load_rules(settings.user_rules_dir(rules_dir))
    store = open_store(db)
    today = settings.today()
    first, last = _iso(since, "--since"), _iso(until, "--until")
    if first and last and first > last:
        raise UsageError("--since is after --until")
    data = reports.build(
        kind.value, store, rules, today, since=first, until=last, payer=payer, redact=redact
    )
    if fmt == ReportFormat.html:
        text = reports.render_html(data, store, today)
        if out is None:
            output.write_text(text)
        else:
            write_private(out, text, force=force)
        return
    if out is not None:
        with output.redirect_stdout(out, force=force):
            output.report(data, fmt.value)
        return
    output.report(data, fmt.value)


@app.command("nightly")
@handle_errors
def nightly_cmd(
    inbox: Annotated[
        Path,
        typer.Option(
            "--inbox",
            help="Folder the day's 835 files arrive in.",
            exists=True,
            file_okay=False,
            show_default=False,
        ),
    ],
    reports_dir: Annotated[
        Path,
        typer.Option(
            "--reports", help="Folder for the day's reports.", file_okay=False, show_default=False
        ),
    ],
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Stored and duplicate files move here (by date); failed files stay in the inbox.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option("--redact", help="Leave patient names and member ids out of the reports."),
    ] = False,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """The cron job: ingest the inbox, archive what was stored, recompute deadlines and tiers,
    expire overdue denials, and write <date>-summary.html and <date>-<report>.json.

    A lock file beside the database stops an overlapping run. Exit 1 when a file failed or
    another run holds the lock; the log is appended to REPORTS/nightly.log.

    Example (crontab): 30 5 * * * denialkit nightly --inbox /srv/era/inbox --archive /srv/era/archive --reports /srv/era/reports --db /srv/era/denials.db
    """
    rules = load_rules(settings.user_rules_dir(rules_dir))
    path = settings.db_path(db)
    store = Store(path)
    nightly.check_folders(inbox, archive, reports_dir)
    with private_open(private_dir(reports_dir) / "nightly.log", "a") as logfile:

        def log(line: str) -> None:
            logfile.write(f"{lifecycle.now_iso()} {line}\n")
            logfile.flush()
            output.message(line)

        result = nightly.run(
            store, rules, settings.today(), inbox=inbox, reports_dir=reports_dir, archive=archive,
            lock=path.with_name(path.name + ".nightly.lock"), redact=redact, log=log,
        )  # fmt: skip
    raise typer.Exit(0 if result.ok else 1)


def main() -> None:
    app()
