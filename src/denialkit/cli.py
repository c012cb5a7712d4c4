"""The ``denialkit`` command: a thin layer over the library. The only module importing typer.

Startup matters (a biller runs ``denialkit queue`` dozens of times a day): the modules a
command needs are imported inside it, so ``--help`` and ``queue`` never load jinja2, pydantic,
the letters or the reports.
"""

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from . import __version__, choices, output, settings
from .errors import DenialkitError, MissingFields, NoDatabase, UsageError
from .files import check_new_file, private_dir, private_open, write_private
from .vocabulary import Action, Category, Status, Tier, money_cents

if TYPE_CHECKING:
    from .lifecycle import Each
    from .rules import Rules
    from .store import Store

app = typer.Typer(
    help="denialkit: claim-denial management for healthcare billing.\n\n"
    "Ingest X12 835 remittances, find and triage denials, write appeals, track outcomes.\n\n"
    "Typical day: `denialkit ingest inbox/`, then `denialkit queue`; `denialkit find SMITH` "
    "when a patient calls.\n\n"
    "The database is --db, else $DENIALKIT_DB, else `db` in the config file (`denialkit config "
    "set db PATH`), else ./denialkit.db; `denialkit config show` says which is in force.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold patient data
    rich_markup_mode="markdown",  # paragraphs are re-flowed, never cut mid-sentence
)

F = TypeVar("F", bound=Callable[..., Any])


def _plain_placeholders() -> None:
    """Help without type placeholders: typer 0.29 prints ``<str>``, ``<bool>``, ``{paths}...``
    and ``<list[Path]>`` beside every parameter. An option shows its METAVAR (or its choices),
    a flag nothing, an argument its NAME; older typers (no ``display_type``) are left alone."""
    core = getattr(typer, "core", None)
    arg, opt = getattr(core, "TyperArgument", None), getattr(core, "TyperOption", None)
    if arg is None or opt is None or not hasattr(opt, "display_type"):
        return
    words = {
        "str": "TEXT",
        "int": "N",
        "int range": "N",
        "file": "FILE",
        "dir": "DIR",
        "path": "PATH",
        "float": "NUMBER",
        "bool": None,
    }

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        if self.is_flag or self.count:
            return None
        label = opt.display_type(self, ctx).strip("<>")
        return words.get(label, label) if label in words else label

    def argument_name(self: Any) -> str:
        name = str(self.metavar or self.name.upper())
        return name + ("..." if self.nargs != 1 else "")

    def argument_usage(self: Any) -> str:
        name = argument_name(self)
        return name if self.required else f"[{name}]"

    opt.display_type_rich = option_type
    arg.display_type_rich = lambda self, ctx: None
    arg._rich_display_name = argument_name
    arg._usage_display_name = argument_usage


_plain_placeholders()


def _version(value: bool | str) -> None:
    if value is True or value == "True":  # typer 0.12 hands an eager callback the text "False"
        output.write_text(f"denialkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """denialkit: claim-denial management for healthcare billing (see the app's help)."""


# What fixes an error, in this command line's options (an error's ``remedy``).
REMEDIES = {
    "who": " (--as NAME)",
    "partial": "; use --partial",
    "force_record": "; --force records it anyway",
    "force_letter": "; --force writes the letter anyway",
    "overwrite": "; --force overwrites it",
    "out_file": " (--out FILE)",
    "out_folder": " (--out FOLDER)",
    "html": "; or use --format html and print to PDF from a browser",
}
# An error's ``parameter``, as the option that sets it, where the two names differ.
OPTIONS = {
    "recovered": "--recovered AMOUNT",
    "reason": "--reason TEXT",
    "set": "--set NAME=VALUE",
    "tier": "--tier/--category/--assignee",
}


def worded(exc: DenialkitError) -> str:
    """A library error in the command line's words: the library says what is wrong, with the
    facts as fields; only here is it told which option or command fixes it."""
    if exc.remedy in REMEDIES:
        return f"{exc}{REMEDIES[exc.remedy]}"
    if exc.parameter is not None:
        option = OPTIONS.get(exc.parameter, "--" + exc.parameter.replace("_", "-"))
        return f"{exc} ({option})"
    if isinstance(exc, MissingFields):
        return exc.worded(
            " (fill them with --set NAME=VALUE or --fields FILE, or render with --draft)",
            " (denialkit config set KEY VALUE)",
        )
    if isinstance(exc, NoDatabase) and exc.engine == "postgresql":
        return f"{exc} (run 'denialkit ingest' or 'denialkit migrate' first)"
    if isinstance(exc, NoDatabase):
        return f"{exc} (run 'denialkit ingest' first, or set --db / DENIALKIT_DB / db in config)"
    return str(exc)


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
            output.message(f"error: {worded(exc)}", style="bold red")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _complete(words: tuple[str, ...]) -> Callable[[str], list[str]]:
    return lambda incomplete: [w for w in words if w.startswith(incomplete)]


class IngestFormat(StrEnum):
    table = "table"
    json = "json"


class QueueFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


PracticeOption = Annotated[
    str | None,
    typer.Option(
        "--practice",
        help="Client practice (the payee, N1*PE): its NPI, tax id, or part of its name.",
        metavar="PRACTICE",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a SQLite file, or a postgresql://user@host/dbname URL (password from "
        "PGPASSWORD or ~/.pgpass). Default: $DENIALKIT_DB, else `db` in config, else "
        "./denialkit.db.",
        show_default=False,
        metavar="FILE|URL",
    ),
]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Your rules directory; its files override the packaged rules. Default: "
        "$DENIALKIT_RULES, else `rules` in config.",
        file_okay=False,
        show_default=False,
        metavar="DIR",
    ),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        help="Who is making the change (default $DENIALKIT_USER, else the OS user).",
        metavar="NAME",
        show_default=False,
    ),
]
TemplatesOption = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="Your templates directory (same layout as the packaged templates/; yours win). "
        "Default: $DENIALKIT_TEMPLATES.",
        file_okay=False,
        show_default=False,
        metavar="DIR",
    ),
]
IdsArgument = Annotated[
    list[int],
    typer.Argument(help="Denial ids (first column of the queue).", show_default=False),
]
DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="The day it happened (ISO; default today; not in the future).",
        metavar="DATE",
        show_default=False,
    ),
]


class Session:
    """The store and rules a command works with: opened on first use, and the store closed
    when the command ends (``session`` hands it to the typer context). Only ``ingest`` and
    ``nightly`` may create the database; every other command needs it to exist."""

    def __init__(
        self, db: str | Path | None, rules_dir: Path | None, *, create: bool = False
    ) -> None:
        self.db, self.rules_dir, self.create = db, rules_dir, create
        self._store: Store | None = None
        self._rules: Rules | None = None

    @property
    def store(self) -> "Store":
        if self._store is None:
            from .store import Store

            path = settings.db_path(self.db)
            self._store = Store(path) if self.create else Store.existing(path)
        return self._store

    @property
    def rules(self) -> "Rules":
        """Packaged rules with the user's on top; invalid rules are an error before any work."""
        if self._rules is None:
            from .rulecache import cached_rules

            self._rules = cached_rules(settings.user_rules_dir(self.rules_dir))
        return self._rules

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def session(
    ctx: typer.Context,
    db: str | Path | None = None,
    rules_dir: Path | None = None,
    *,
    create: bool = False,
) -> Session:
    """This command's session, closed with its context (also when it exits with an error)."""
    return ctx.with_resource(Session(db, rules_dir, create=create))


def _outcome_words(r: dict[str, Any]) -> str:
    if r["status"] == "upheld":
        return f"upheld; now at level {r['level']}, due by {r['deadline']}"
    if r["status"] == "exhausted":
        return "upheld at the last level; appeals exhausted"
    return f"{r['status']}, recovered {money_cents(r['recovered_cents'])}"


def _about(denial_id: int, text: str) -> str:
    """A message about one denial of a batch, naming it once (most errors name it already)."""
    prefix = f"denial {denial_id}"
    return text if text.startswith(prefix + " ") else f"{prefix}: {text}"


def _each(done: list["Each"], describe: Callable[[Any], str]) -> None:
    """Report a batch (``submit 12 13 14``): one line per denial; exit 1 if any failed."""
    for d in done:
        if d.error is not None:
            output.message(_about(d.denial_id, worded(d.error)), style="red")
        else:
            output.message(f"denial {d.denial_id}: {describe(d.result)}")
    if any(d.error is not None for d in done):
        raise typer.Exit(1)


# -- intake ------------------------------------------------------------------------------------


@app.command()
@handle_errors
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="835 remittance or 837 claim files, or directories (searched recursively "
            "for files that begin with ISA).",
            exists=True,
            show_default=False,
            metavar="PATH",
        ),
    ],
    db: DbOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[
        IngestFormat, typer.Option("--format", help="Summary as a table or as one JSON object.")
    ] = IngestFormat.table,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes parsing files ahead (default: the number of cores, at most 8, "
            "when the files come to 16 MB or more); one stores them, in order, with the same "
            "result as -j 1. On PostgreSQL they read ahead and one process parses.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store X12 835 remittances, and the practice's 837P/837I claim files, in the database
    (created if there is none).

    Each file is stored whole or not at all; a file (or a remittance or claim transaction with
    the same content) stored before is reported as a duplicate and adds nothing. Remittance
    claims are linked to the submitted claims (payer, CLM01 and date of service). Other X12
    files (999 acknowledgments, 277 statuses ...) are refused, saying what they are.

    Exit status: 0 all stored or duplicate, 1 some file failed or none found, 2 usage error.

    Example: `denialkit ingest examples/ --db denials.db`
    """
    from .intake import find_files, ingest_paths

    files = list(find_files(paths))
    if not files:
        output.message("no 835 files found in " + ", ".join(map(str, paths)), style="red")
        raise typer.Exit(1)
    sess = session(ctx, db, rules_dir, create=True)
    rules = sess.rules  # invalid rules: refuse to run
    store = sess.store
    size = sum(f.stat().st_size for f in files if f.is_file())
    with output.ReadProgress(size, "Ingesting") as bar:
        report = ingest_paths(
            store,
            files,
            rules=rules,
            today=settings.today(),
            read_progress=bar.update,
            jobs=jobs,
        )
    output.ingest_report(report, fmt.value)
    raise typer.Exit(1 if report.failed else 0)


class ScrubFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class FailOn(StrEnum):
    high = "high"
    standard = "standard"


@app.command()
@handle_errors
def scrub(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="An 837P or 837I file about to be submitted.",
            exists=True,
            dir_okay=False,
            show_default=False,
            metavar="FILE.837",
        ),
    ],
    fmt: Annotated[
        ScrubFormat, typer.Option("--format", help="table, json or csv.")
    ] = ScrubFormat.table,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a line is flagged at this tier or above (high, standard).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """Score every line of an 837 before it is sent, against what this practice's payers
    denied before (authorization, diagnosis, modifiers, duplicates, eligibility, timely
    filing, payer x procedure rates). Reads the database; stores and sends nothing.

    Exit status: 0 done (flags or not), 1 with --fail-on when a line is flagged at that tier
    or above, or the file cannot be read; 2 usage error.

    Example: `denialkit scrub today.837 --fail-on high`
    """
    from .scrub import scrub_file

    sess = session(ctx, db, rules_dir)
    store = sess.store
    result = scrub_file(store, sess.rules, path, settings.today())
    output.scrub(result, fmt.value)
    raise typer.Exit(1 if result.fails(fail_on.value if fail_on else None) else 0)


# -- the queue and finding ---------------------------------------------------------------------


@app.command()
@handle_errors
def queue(
    ctx: typer.Context,
    tier: Annotated[
        str | None,
        typer.Option(
            help="high, standard or low.", metavar="TIER", autocompletion=_complete(Tier.ALL)
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            help="administrative (admin), technical (tech), clinical (clin), "
            "uncategorized (uncat).",
            metavar="CATEGORY",
            autocompletion=_complete((*Category.ALL, *Category.SHORT.values())),
        ),
    ] = None,
    team: Annotated[
        str | None, typer.Option(help="Team from routing.yaml.", metavar="TEAM")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Person the denial is assigned to.", metavar="NAME")
    ] = None,
    payer: Annotated[
        str | None, typer.Option(help="Payer name (part of it) or payer id.", metavar="PAYER")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="open (default), all, or one status such as expired or written_off.",
            metavar="STATUS",
            autocompletion=_complete((*choices.STATUS_GROUPS, *Status.ALL)),
        ),
    ] = None,
    patient: Annotated[
        str | None,
        typer.Option(help='Patient name, or part of it ("smith jo").', metavar="TEXT"),
    ] = None,
    member: Annotated[
        str | None, typer.Option(help="Member id (patient's or subscriber's).", metavar="ID")
    ] = None,
    claim: Annotated[
        str | None,
        typer.Option(help="Claim number: yours (CLP01) or the payer's (CLP07).", metavar="NUMBER"),
    ] = None,
    carc: Annotated[
        str | None, typer.Option(help="Reason code, e.g. 197 or CO-197.", metavar="CODE")
    ] = None,
    procedure: Annotated[
        str | None, typer.Option(help="Procedure code (CPT/HCPCS).", metavar="CODE")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            help="Only this next step: appeal, resubmit, reopen, bill_other_payer, bill_patient, "
            "review, none, or all (default: all but bill_patient, the patient's to pay).",
            metavar="ACTION",
            autocompletion=_complete((*Action.ALL, "all")),
        ),
    ] = None,
    due_within: Annotated[
        int | None,
        typer.Option("--due-within", help="Only deadlines within DAYS.", min=0, metavar="DAYS"),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            help="deadline (soonest first), amount or score (largest first), received (newest "
            "first). Default: most urgent first (tier, deadline, expected value).",
            metavar="ORDER",
            autocompletion=_complete(choices.SORTS),
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most N rows (0 = all).", min=0, metavar="N")] = 50,
    offset: Annotated[
        int, typer.Option(help="Skip the first N rows (the next page).", min=0, metavar="N")
    ] = 0,
    practice: PracticeOption = None,
    db: DbOption = None,
    fmt: Annotated[QueueFormat, typer.Option("--format", help="table, csv or json.")] = (
        QueueFormat.table
    ),
) -> None:
    """The work queue: open denials, most urgent first (tier, then the next date: the
    deadline, or the follow-up date once appealed; then expected value). The patient's
    responsibility is listed only with --action bill_patient.

    Example: `denialkit queue --tier high --team billing --due-within 14`

    Example: `denialkit queue --status all --patient "smith jo" --sort received`
    """
    from . import worklist

    sess = session(ctx, db)
    store = sess.store
    today = settings.today()
    filters: dict[str, Any] = dict(
        status=status,
        tier=tier,
        category=category,
        team=team,
        assignee=assignee,
        payer=payer,
        due_within=due_within,
        patient=patient,
        member=member,
        claim=claim,
        carc=carc,
        procedure=procedure,
        action=action,
        practice=practice,
    )
    if fmt != QueueFormat.table:  # CSV and JSON exports stream in flat memory
        rows = worklist.queue(
            store, today, limit=limit or None, offset=offset, sort=sort, stream=True, **filters
        )
        output.queue(rows, fmt.value)
        return
    rows = worklist.queue(store, today, limit=limit or None, offset=offset, sort=sort, **filters)
    total = worklist.queue_total(store, today, **filters)
    others = worklist.elsewhere(store, today, **filters) if not rows else None
    show_status = choices.status(status) not in (None, "open")
    output.queue(
        rows, fmt.value, total=total, offset=offset, show_status=show_status, others=others
    )


@app.command()
@handle_errors
def find(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(
            help='Patient name (or part: "smith jo"), member id, claim number (CLP01 or '
            "CLP07) or denial id.",
            show_default=False,
            metavar="TEXT",
        ),
    ],
    limit: Annotated[int, typer.Option(help="At most N rows (0 = all).", min=0, metavar="N")] = 50,
    practice: PracticeOption = None,
    db: DbOption = None,
    fmt: Annotated[QueueFormat, typer.Option("--format", help="table, csv or json.")] = (
        QueueFormat.table
    ),
) -> None:
    """Find denials of any status when a patient or payer calls: by patient name, member id,
    claim number or denial id. JSON rows have the queue's keys.

    Example: `denialkit find "smith jo"`

    Example: `denialkit find W123456789 --format json`
    """
    from . import worklist

    sess = session(ctx, db)
    store = sess.store
    today = settings.today()
    rows = worklist.find(store, today, text, limit=limit or None, practice=practice)
    if not rows:  # like grep: exit 1 when nothing matches
        if fmt == QueueFormat.table:
            output.message("no denial matches (patient name, member id, claim number, id)")
        else:
            output.queue(rows, fmt.value)
        raise typer.Exit(1)
    total = worklist.queue_total(store, today, status="all", text=text, practice=practice)
    output.queue(rows, fmt.value, total=total, show_status=True, found=True)


@app.command()
@handle_errors
def show(
    ctx: typer.Context,
    denial_id: Annotated[
        int, typer.Argument(help="Denial id (first column of the queue).", show_default=False)
    ],
    db: DbOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[IngestFormat, typer.Option("--format", help="table or json.")] = (
        IngestFormat.table
    ),
) -> None:
    """Everything about one denial: claim, lines, adjustments, remarks, deadline, score,
    history. (Find the id with `denialkit find` or `denialkit queue`.)

    Example: `denialkit show 12`
    """
    from . import views

    sess = session(ctx, db, rules_dir)
    store = sess.store
    detail = views.show(store, sess.rules, denial_id, settings.today())
    output.denial_detail(detail, fmt.value)


@app.command()
@handle_errors
def history(
    ctx: typer.Context,
    denial_id: Annotated[int, typer.Argument(help="Denial id.", show_default=False)],
    db: DbOption = None,
    fmt: Annotated[
        QueueFormat, typer.Option("--format", help="table, csv or json.")
    ] = QueueFormat.table,
) -> None:
    """Every change of one denial, oldest first: time, actor, old and new status, detail,
    source (a command, or the remittance that changed it).

    Example: `denialkit history 12 --format json`
    """
    from . import lifecycle

    sess = session(ctx, db)
    output.history(lifecycle.history(sess.store, denial_id), fmt.value)


# -- working denials ---------------------------------------------------------------------------


@app.command()
@handle_errors
def assign(
    ctx: typer.Context,
    denial_ids: IdsArgument,
    to: Annotated[
        str, typer.Option("--to", help="Who works them.", show_default=False, metavar="NAME")
    ],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Assign denials to a person (all or none: an unknown id changes nothing).

    Example: `denialkit assign 12 13 --to maria`
    """
    from . import assignment

    sess = session(ctx, db)
    n = assignment.assign(sess.store, denial_ids, to, settings.actor(actor))
    output.message(f"assigned {n} denial{'s' if n != 1 else ''} to {to}")


@app.command("next")
@handle_errors
def next_cmd(
    ctx: typer.Context,
    team: Annotated[
        str | None, typer.Option(help="Only this team's denials.", metavar="TEAM")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            help="administrative (admin), technical (tech), clinical (clin), "
            "uncategorized (uncat).",
            metavar="CATEGORY",
            autocompletion=_complete((*Category.ALL, *Category.SHORT.values())),
        ),
    ] = None,
    practice: PracticeOption = None,
    who: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Who takes it. Default: $DENIALKIT_USER, else your login name.",
            metavar="NAME",
        ),
    ] = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[IngestFormat, typer.Option("--format", help="table or json.")] = (
        IngestFormat.table
    ),
) -> None:
    """Take the most urgent denial that nobody holds (or that is already yours), assign it to
    you and show it. Several people can take at once: nobody gets the same denial twice.
    Exit 1 when there is nothing to take.

    Example: `denialkit next --team billing --as maria`
    """
    from . import assignment, views

    sess = session(ctx, db, rules_dir)
    store = sess.store
    taker = settings.actor(who)
    denial_id = assignment.take_next(store, taker, team=team, category=category, practice=practice)
    if denial_id is None:
        output.message("nothing to take: no denial with nothing filed yet that nobody holds")
        raise typer.Exit(1)
    detail = views.show(store, sess.rules, denial_id, settings.today())
    output.denial_detail(detail, fmt.value)


@app.command()
@handle_errors
def release(
    ctx: typer.Context,
    denial_id: Annotated[int, typer.Argument(help="Denial id.", show_default=False)],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Give a denial back to the queue: nobody holds it, and the next `denialkit next` may
    take it.

    Example: `denialkit release 12`
    """
    from . import assignment

    sess = session(ctx, db)
    before = assignment.release(sess.store, denial_id, settings.actor(actor))
    output.message(
        f"released denial {denial_id} (was {before})"
        if before
        else f"denial {denial_id} was not held"
    )


@app.command()
@handle_errors
def route(ctx: typer.Context, db: DbOption = None, rules_dir: RulesOption = None) -> None:
    """Assign every unassigned open denial by routing.yaml (category, then team, then the
    member with the fewest open denials).

    Example: `denialkit route --rules my-rules/`
    """
    from . import assignment

    sess = session(ctx, db, rules_dir)
    store = sess.store
    rules = sess.rules
    with store.transaction():
        n = assignment.route(store, rules, actor=settings.actor(None))
    output.message(f"routed {n} denial{'s' if n != 1 else ''}")


@app.command()
@handle_errors
def retriage(ctx: typer.Context, db: DbOption = None, rules_dir: RulesOption = None) -> None:
    """Recompute deadlines, likelihoods, scores and tiers of every open denial (after a rules
    change, or nightly: outcomes teach the likelihoods), and expire what is past its deadline.

    Example: `denialkit retriage --rules my-rules/`
    """
    from . import detection

    sess = session(ctx, db, rules_dir)
    store = sess.store
    rules = sess.rules
    with store.transaction():
        n = detection.triage(store, rules, settings.today())
    output.message(f"retriaged {n} open denial{'s' if n != 1 else ''}")


class LetterFormat(StrEnum):
    md = "md"
    html = "html"
    pdf = "pdf"


@app.command()
@handle_errors
def appeal(
    ctx: typer.Context,
    denial_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Denial ids (or select with --tier/--category/...).", show_default=False
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=VALUE for a field of the letter; repeat for each.",
            show_default=False,
            metavar="NAME=VALUE",
        ),
    ] = None,
    fields: Annotated[
        Path | None,
        typer.Option(
            "--fields",
            help="YAML or JSON file of NAME: value fields.",
            exists=True,
            dir_okay=False,
            show_default=False,
            metavar="FILE",
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
            metavar="PATH",
        ),
    ] = None,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft", help="Mark unfilled placeholders in the letter instead of failing."
        ),
    ] = False,
    tier: Annotated[
        str | None, typer.Option(help="Select open denials of this tier.", metavar="TIER")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="Select open denials of this category (admin ...).", metavar="CATEGORY"),
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="Select open denials assigned to NAME.", metavar="NAME")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most N letters when selecting (0 = all).", min=0, metavar="N")
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

    Required fields left empty are an error naming them, unless --draft marks them; a --set
    name the letter's template does not use is an error listing those it does. A finished
    (non-draft) letter moves the denial to appeal_drafted.

    Example: `denialkit appeal 12 --set clinical_summary="..." --out appeal-12.md`

    Example: `denialkit appeal --tier high --draft --out letters/`
    """
    from . import appeals, letters
    from . import config as config_mod

    sess = session(ctx, db, rules_dir)
    store = sess.store
    rules = sess.rules
    cfg = config_mod.load_config()
    writer = letters.LetterWriter(templates_dir)
    values = appeals.parse_values(set_, fields)
    today, who = settings.today(), settings.actor(actor)
    ids, single = appeals.select(
        store,
        today,
        denial_ids,
        tier=choices.tier(tier),
        category=choices.category(category),
        assignee=assignee,
        limit=limit,
    )
    if single:
        result = appeals.appeal(
            store,
            rules,
            cfg,
            writer,
            ids[0],
            values=values,
            fmt=fmt.value,
            draft=draft,
            today=today,
            actor=who,
            out=out,
            force=force,
            overwrite=force,
        )
        letter = result.letter
        assert letter is not None  # one denial: rendered, or an error raised
        if out is None:
            output.write_text(letter.text)
        else:
            output.message(f"wrote {result.path or out} ({letter.template})")
        if letter.missing:
            output.message("placeholders to fill: " + ", ".join(letter.missing), style="yellow")
        return
    if out is None:
        raise UsageError("several letters need --out DIR")
    with output.progress(len(ids), "Writing letters") as advance:
        results = appeals.appeal_many(
            store,
            rules,
            cfg,
            writer,
            ids,
            out,
            values=values,
            fmt=fmt.value,
            draft=draft,
            today=today,
            actor=who,
            progress=lambda i: advance(f"denial {i}"),
            force=force,
            overwrite=force,
        )
    failed = [(r.denial_id, r.error) for r in results if r.error is not None]
    skipped = [r.skipped for r in results if r.skipped is not None]
    for why in skipped:
        output.message(f"skipped: {worded(why)}", style="yellow")
    for denial_id, error in failed:
        output.message(_about(denial_id, worded(error)), style="red")
    written = len(results) - len(failed) - len(skipped)
    output.message(
        f"wrote {written} letter(s) to {out}; {len(skipped)} skipped, {len(failed)} failed"
    )
    raise typer.Exit(1 if failed else 0)


@app.command()
@handle_errors
def submit(
    ctx: typer.Context,
    denial_ids: IdsArgument,
    date: DateOption = None,
    reference: Annotated[
        str, typer.Option(help="Tracking or confirmation number.", metavar="REF")
    ] = "",
    actor: ActorOption = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """Record that the appeals were sent: each denial becomes `appealed`, with a follow-up
    date when the payer's decision is due at its level. A date in the future is refused; a
    denial that cannot be submitted is reported and the others go on.

    Example: `denialkit submit 12 13 14 --date 2026-03-01 --reference PORTAL-5521`
    """
    from . import lifecycle

    sess = session(ctx, db, rules_dir)
    store, who, today = sess.store, settings.actor(actor), settings.today()
    rules = sess.rules
    done = lifecycle.each(
        denial_ids,
        lambda i: lifecycle.submit(
            store, i, actor=who, on=date, today=today, reference=reference, rules=rules
        ),
    )
    _each(done, lambda r: f"appealed; follow up by {r['follow_up']}")


@app.command()
@handle_errors
def outcome(
    ctx: typer.Context,
    denial_ids: IdsArgument,
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
            help="Amount recovered, e.g. 125.40 (default for --overturned: the amount at risk).",
            metavar="AMOUNT",
        ),
    ] = None,
    date: DateOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Accept --recovered above the amount at risk (recorded)."),
    ] = False,
    actor: ActorOption = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """Record the payer's decision on appealed denials (the same decision for each id).
    Upheld opens the next appeal level (its deadline from the decision date), or ends as
    `exhausted` after the last level.

    Example: `denialkit outcome 12 --partial --recovered 80.00 --date 2026-04-10`

    Example: `denialkit outcome 12 13 --overturned`
    """
    from . import lifecycle

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
    sess = session(ctx, db, rules_dir)
    store, who, today = sess.store, settings.actor(actor), settings.today()
    rules = sess.rules
    done = lifecycle.each(
        denial_ids,
        lambda i: lifecycle.outcome(
            store,
            i,
            chosen[0],
            actor=who,
            recovered=amount,
            on=date,
            today=today,
            rules=rules,
            force=force,
        ),
    )
    _each(done, _outcome_words)


@app.command()
@handle_errors
def writeoff(
    ctx: typer.Context,
    denial_ids: IdsArgument,
    reason: Annotated[
        str,
        typer.Option(help="Why the money is written off.", show_default=False, metavar="TEXT"),
    ],
    date: DateOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Write denials off (stop pursuing them), with the reason on each one's history.

    Example: `denialkit writeoff 12 13 --reason "below appeal threshold"`
    """
    from . import lifecycle

    sess = session(ctx, db)
    store, who, today = sess.store, settings.actor(actor), settings.today()
    done = lifecycle.each(
        denial_ids,
        lambda i: lifecycle.writeoff(store, i, reason, actor=who, today=today, on=date),
    )
    _each(done, lambda r: "written off")


@app.command()
@handle_errors
def note(
    ctx: typer.Context,
    denial_ids: IdsArgument,
    text: Annotated[str, typer.Argument(help="The note.", show_default=False, metavar="TEXT")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Add a note to the history of one or more denials (calls made, documents requested ...).

    Example: `denialkit note 12 13 "called payer, ref 8841, records requested"`
    """
    from . import lifecycle

    sess = session(ctx, db)
    store, who = sess.store, settings.actor(actor)
    done = lifecycle.each(denial_ids, lambda i: lifecycle.note(store, i, text, actor=who))
    _each(done, lambda r: "note added")


# -- rules, templates, config ------------------------------------------------------------------

rules_app = typer.Typer(
    help="Inspect and validate the YAML rules.\n\nExample: `denialkit rules check ./my-rules`",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
@handle_errors
def rules_check(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Rules directory to check (default: $DENIALKIT_RULES, else `rules` in config, "
            "else the packaged rules).",
            file_okay=False,
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Validate rules: every problem with file, line and field. Exit 1 when any.

    Example: `denialkit rules check ./my-rules`
    """
    from .rules import check_rules

    rules, problems = check_rules(settings.user_rules_dir(directory))
    for p in problems:
        output.message(str(p), style="red")
    if rules is None:
        raise typer.Exit(1)
    output.message(f"rules OK: {', '.join(rules.sources)}", style="green")


templates_app = typer.Typer(
    help="List and check appeal letter templates.\n\nExample: `denialkit templates list`",
    no_args_is_help=True,
)
app.add_typer(templates_app, name="templates")


@templates_app.command("list")
@handle_errors
def templates_list(
    ctx: typer.Context,
    templates_dir: TemplatesOption = None,
    rules_dir: RulesOption = None,
    fmt: Annotated[
        QueueFormat, typer.Option("--format", help="table, csv or json.")
    ] = QueueFormat.table,
) -> None:
    """Letter templates, where each comes from (yours or packaged), and the reason codes
    whose rule uses it.

    Example: `denialkit templates list --templates my-templates/`
    """
    from . import appeals, letters

    sess = session(ctx, None, rules_dir)
    rows = appeals.template_usage(sess.rules, letters.LetterWriter(templates_dir))
    output.rows(rows, fmt.value, ["template", "source", "carcs"])


@templates_app.command("check")
@handle_errors
def templates_check(
    ctx: typer.Context, templates_dir: TemplatesOption = None, rules_dir: RulesOption = None
) -> None:
    """Render every template against a sample denial (Markdown and HTML); report errors.
    Exit 1 when any template fails.

    Example: `denialkit templates check --templates my-templates/`
    """
    from . import appeals, letters

    sess = session(ctx, None, rules_dir)
    results = appeals.check_templates(sess.rules, letters.LetterWriter(templates_dir))
    for name, error in results:
        if error:
            output.message(f"{name}: {error}", style="red")
    bad = sum(1 for _, e in results if e)
    output.message(
        f"{len(results) - bad} of {len(results)} templates render", style="red" if bad else "green"
    )
    raise typer.Exit(1 if bad else 0)


config_app = typer.Typer(
    help="Where the database and your rules are, and the practice details for letters.\n\n"
    "Example: `denialkit config set db ~/billing/denials.db`",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("set")
@handle_errors
def config_set(
    key: Annotated[
        str,
        typer.Argument(
            help="db, rules, practice.name, practice.address, practice.npi, practice.tin, "
            "practice.phone, practice.fax, practice.email or practice.contact.",
            metavar="KEY",
        ),
    ],
    value: Annotated[
        str,
        typer.Argument(
            help=r"The value (\n starts a new line in an address; empty removes db/rules).",
            metavar="VALUE",
        ),
    ],
) -> None:
    """Set one key in the config file ($DENIALKIT_CONFIG, else ~/.config/denialkit/config.yaml).

    `db` and `rules` are used when neither the flag (--db, --rules) nor the environment
    ($DENIALKIT_DB, $DENIALKIT_RULES) says; they are saved as absolute paths.

    Example: `denialkit config set db ~/billing/denials.db`

    Example: `denialkit config set practice.name "Riverside Family Medicine"`
    """
    from . import config as config_mod

    path = config_mod.set_value(key, value)
    output.message(f"{key} set in {path}")


@config_app.command("show")
@handle_errors
def config_show(db: DbOption = None, rules_dir: RulesOption = None) -> None:
    """Print the config file's path and contents (YAML), and which database and rules are in
    force and why (flag, environment, config or default).

    Example: `denialkit config show`
    """
    from . import config as config_mod

    path = settings.config_path()
    output.message(f"# {path}{'' if path.exists() else ' (not created yet)'}")
    shown = config_mod.load_config().model_dump()
    if shown.get("db"):
        shown["db"] = settings.shown_db(shown["db"])
    output.write_text(output.yaml_text(shown))
    used_db, used_rules = settings.resolve_db(db), settings.resolve_rules(rules_dir)
    rules_text = str(used_rules.value) if used_rules.value else "packaged rules only"
    output.write_text(
        "# in force:\n"
        f"#   db: {settings.shown_db(used_db.value)} (from {used_db.source})\n"
        f"#   rules: {rules_text} (from {used_rules.source})"
    )


# -- reports and the nightly run ---------------------------------------------------------------


class ReportKind(StrEnum):
    tracking = "tracking"
    patterns = "patterns"
    team = "team"
    roi = "roi"
    trend = "trend"
    summary = "summary"
    unanswered = "unanswered"


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
    ctx: typer.Context,
    kind: Annotated[
        ReportKind,
        typer.Argument(
            help="tracking, patterns, team, roi, trend, summary or unanswered.", metavar="KIND"
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(help="First day (ISO) of the period, by remittance date.", metavar="DATE"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (ISO) of the period.", metavar="DATE")
    ] = None,
    payer: Annotated[
        str | None, typer.Option(help="Payer name (part of it) or payer id.", metavar="PAYER")
    ] = None,
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
            metavar="FILE",
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
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=1,
            max=3650,
            help="unanswered: days after submission with no remittance (default 30).",
        ),
    ] = 30,
    practice: PracticeOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="summary --by practice: one row per client practice.",
            metavar="practice",
        ),
    ] = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """Reports: what is open and due (tracking), what to fix upstream (patterns), who is
    keeping up (team), what appeals return (roi), all headlines (summary), or submitted
    837 claims no remittance answered (unanswered).

    Example: `denialkit report unanswered --days 45`

    Example: `denialkit report patterns --since 2026-09-01 --format csv > patterns.csv`

    Example: `denialkit report summary --format html --out today.html --redact`
    """
    from . import reports

    if kind == ReportKind.unanswered and fmt == ReportFormat.html:
        raise UsageError("report unanswered: use --format table, csv or json (no html page)")
    if out is not None:
        check_new_file(out, force)  # before any work: a refused --out costs nothing
    sess = session(ctx, db, rules_dir)
    store = sess.store
    rules = sess.rules
    today = settings.today()
    first, last = _iso(since, "--since"), _iso(until, "--until")
    if first and last and first > last:
        raise UsageError("--since is after --until")
    if by is not None:
        if by != "practice" or kind.value != "summary":
            raise UsageError("--by takes 'practice', with the summary report")
        output.report(
            reports.by_practice(store, rules, today, since=first, until=last, payer=payer),
            fmt.value,
        )
        return
    data = reports.build(
        kind.value,
        store,
        rules,
        today,
        since=first,
        until=last,
        payer=payer,
        redact=redact,
        days=days,
        practice=practice,
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


@app.command()
@handle_errors
def migrate(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="The store to copy (a SQLite file).",
            metavar="FILE|URL",
            show_default=False,
        ),
    ],
    target: Annotated[
        str,
        typer.Option(
            "--to",
            help="An empty database: postgresql://user@host/dbname.",
            metavar="URL|FILE",
            show_default=False,
        ),
    ],
    fmt: Annotated[IngestFormat, typer.Option("--format", help="table or json.")] = (
        IngestFormat.table
    ),
) -> None:
    """Move a whole store (remittances, claims, denials, events, raw text) into an empty
    database, usually the team's PostgreSQL, in one transaction; then compare row counts and
    money totals on both sides. A target that already holds a store is refused.

    Example: `denialkit migrate --from denialkit.db --to postgresql://billing@dbhost/denials`
    """
    from .store import Store, copy_store

    with Store.existing(settings.db_path(source)) as src, Store(settings.db_path(target)) as dst:
        done = copy_store(src, dst)
    if fmt == IngestFormat.json:
        output.emit_json({"verified": True, "figures": done})
    else:
        output.rows(
            [{"figure": k, "both": v} for k, v in done.items()],
            "table",
            ["figure", "both"],
            title="Copied and verified",
        )
    output.message(
        f"copied {settings.shown_db(source)} to {settings.shown_db(target)}: "
        "counts and money totals match"
    )


@app.command("nightly")
@handle_errors
def nightly_cmd(
    ctx: typer.Context,
    inbox: Annotated[
        Path,
        typer.Option(
            "--inbox",
            help="Folder the day's 835 files arrive in.",
            exists=True,
            file_okay=False,
            show_default=False,
            metavar="DIR",
        ),
    ],
    reports_dir: Annotated[
        Path,
        typer.Option(
            "--reports",
            help="Folder for the day's reports.",
            file_okay=False,
            show_default=False,
            metavar="DIR",
        ),
    ],
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Stored and duplicate files move here (by date); failed files stay in the inbox.",
            file_okay=False,
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
    redact: Annotated[
        bool,
        typer.Option("--redact", help="Leave patient names and member ids out of the reports."),
    ] = False,
    practice: PracticeOption = None,
    db: DbOption = None,
    rules_dir: RulesOption = None,
) -> None:
    """The cron job: ingest the inbox, archive what was stored, recompute deadlines and tiers,
    expire overdue denials, and write DATE-summary.html and DATE-REPORT.json.

    A lock file beside the database (on PostgreSQL an advisory lock) stops an overlapping run. Exit 1 when a file failed or
    another run holds the lock; the log is appended to REPORTS/nightly.log.

    Example (crontab): `30 5 * * * denialkit nightly --inbox /srv/era/inbox --archive
    /srv/era/archive --reports /srv/era/reports --db /srv/era/denials.db`
    """
    from . import nightly
    from .vocabulary import now_iso

    sess = session(ctx, db, rules_dir, create=True)
    rules = sess.rules
    path = settings.db_path(db)
    store = sess.store
    nightly.check_folders(inbox, archive, reports_dir)
    with private_open(private_dir(reports_dir) / "nightly.log", "a") as logfile:

        def log(line: str) -> None:
            logfile.write(f"{now_iso()} {line}\n")
            logfile.flush()
            output.message(line)

        result = nightly.run(
            store,
            rules,
            settings.today(),
            inbox=inbox,
            reports_dir=reports_dir,
            archive=archive,
            lock=None
            if store.engine == "postgresql"
            else path.with_name(path.name + ".nightly.lock"),
            redact=redact,
            log=log,
            practice=practice,
        )
    raise typer.Exit(0 if result.ok else 1)


def main() -> None:
    app()
