"""Appeal letters as a use case: which denials get one (``select``), writing one or many
(``appeal``, ``appeal_many``: the denial moves to appeal_drafted), and checking the templates
against a sample denial."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .errors import DenialkitError, InvalidTransition, TemplateError, UsageError
from .files import check_new_file, private_dir, write_private
from .letter_context import letter_context, sample_context
from .letters import SUFFIX, Letter, LetterWriter
from .lifecycle import mark_drafted
from .pdf import write_pdf
from .rules import Rules
from .settings import safe_load
from .store import Store
from .vocabulary import Action
from .worklist import queue


def parse_values(
    pairs: list[str] | None = None, fields_file: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Staff-supplied fields: a YAML/JSON mapping file, then ``--set NAME=VALUE`` on top."""
    values: dict[str, str] = {}
    if fields_file is not None:
        import yaml  # its error class; the loading is settings.safe_load (libyaml when there)

        path = Path(fields_file)
        try:
            data = safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read fields: {exc}") from None
        data = {} if data is None else data
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise UsageError(f"{path}: fields must be a mapping of NAME: text")
        values.update({k: "" if v is None else str(v) for k, v in data.items()})
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{pair!r}: expected NAME=VALUE", parameter="set")
        values[name.strip()] = value
    return values


def select(
    store: Store,
    today: dt.date,
    denial_ids: list[int] | None,
    *,
    tier: str | None = None,
    category: str | None = None,
    assignee: str | None = None,
    limit: int = 0,
) -> tuple[list[int], bool]:
    """The denials to write letters for: the ids given, or open denials by tier, category
    and assignee (most urgent first). Returns (ids, whether exactly one id was named)."""
    selecting = any(v is not None for v in (tier, category, assignee))
    if denial_ids and selecting:
        raise UsageError("give denial ids or a selection (tier, category, assignee), not both")
    if not denial_ids and not selecting:
        raise UsageError(
            "which denials? give ids, or select by tier, category or assignee", parameter="tier"
        )
    if denial_ids:
        return list(denial_ids), len(denial_ids) == 1
    rows = queue(store, today, tier=tier, category=category, assignee=assignee, limit=limit or None)
    return [r["id"] for r in rows], False


@dataclass
class AppealResult:
    denial_id: int
    path: Path | None = None
    letter: Letter | None = None
    error: DenialkitError | None = None
    drafted: bool = False
    skipped: DenialkitError | None = None  # why no letter was written, not an error


def appeal(
    store: Store,
    rules: Rules,
    config: Config,
    writer: LetterWriter,
    denial_id: int,
    *,
    values: dict[str, str] | None = None,
    fmt: str = "md",
    draft: bool = False,
    today: dt.date,
    actor: str,
    out: Path | None = None,
    force: bool = False,
    overwrite: bool = False,
) -> AppealResult:
    """Render one denial's letter (to ``out`` when given: a file, or a folder to write
    ``denial-<id>-<template>.<ext>`` in). A finished letter (not a draft) moves the denial to
    ``appeal_drafted`` with an event naming the template. A denial whose next step is not an
    appeal or a reopening (resubmit, bill another payer or the patient, review, none) is
    refused unless ``force``; an existing file is not
    overwritten unless ``overwrite``. Files are owner-only (0600), new folders 0700."""
    if fmt == "pdf" and out is None:
        raise UsageError("a PDF letter needs a file to write", remedy="out_file")
    ctx = letter_context(store, rules, config, denial_id, today)
    name = writer.choose(ctx)
    writer.check_values(values, [name])
    if out is not None and out.is_dir():
        out = out / _letter_name(denial_id, name, fmt)
    return _write(store, writer, ctx, name, values, fmt, draft, actor, out, force, overwrite)


def _letter_name(denial_id: int, template: str, fmt: str) -> str:
    return f"denial-{denial_id}-{template.removesuffix(SUFFIX)}.{fmt}"


def _write(
    store: Store,
    writer: LetterWriter,
    ctx: dict[str, Any],
    template: str,
    values: dict[str, str] | None,
    fmt: str,
    draft: bool,
    actor: str,
    out: Path | None,
    force: bool,
    overwrite: bool = False,
) -> AppealResult:
    d = ctx["denial"]
    # A letter asks for an appeal or a reopening (the duplicate template words it so); the
    # other next steps are not letters to this payer.
    if (d["action"] or "appeal") not in ("appeal", "reopen") and not force:
        raise InvalidTransition(
            f"denial {d['id']} ({d['group']}-{d['carc']}, {d['payer_rule']}): "
            f"{Action.TEXT[d['action']]}",
            remedy="force_letter",
        )
    letter = writer.render(
        ctx, values, fmt="html" if fmt == "pdf" else fmt, draft=draft, template=template
    )
    if out is not None:
        check_new_file(out, overwrite)
        if fmt == "pdf":
            write_pdf(letter.text, out)
        else:
            write_private(out, letter.text, force=overwrite)
    drafted = False if draft else mark_drafted(store, d["id"], letter.template, actor)
    return AppealResult(d["id"], out, letter, None, drafted)


def appeal_many(
    store: Store,
    rules: Rules,
    config: Config,
    writer: LetterWriter,
    denial_ids: list[int],
    out_dir: Path,
    *,
    values: dict[str, str] | None = None,
    fmt: str = "md",
    draft: bool = False,
    today: dt.date,
    actor: str,
    progress: Callable[[int], object] | None = None,
    force: bool = False,
    overwrite: bool = False,
) -> list[AppealResult]:
    """One letter per denial into ``out_dir`` (``denial-<id>-<template>.<ext>``, created 0700
    if missing); a letter that cannot be finished, or whose file exists (unless
    ``overwrite``), is reported and the rest are still written; a denial with no appeal
    rights is skipped (unless ``force``)."""
    writer.check_values(values, writer.names())  # fields must be used by some template
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file; several letters need a folder", remedy="out_folder")
    private_dir(out_dir)
    results = []
    for denial_id in denial_ids:
        try:
            ctx = letter_context(store, rules, config, denial_id, today)
            name = writer.choose(ctx)
            out = out_dir / _letter_name(denial_id, name, fmt)
            result = _write(
                store, writer, ctx, name, values, fmt, draft, actor, out, force, overwrite
            )
        except InvalidTransition as exc:  # no appeal rights: skip it, it is not a failure
            result = AppealResult(denial_id, skipped=exc)
        except DenialkitError as exc:
            result = AppealResult(denial_id, error=exc)
        results.append(result)
        if progress is not None:
            progress(denial_id)
    return results


def check_templates(rules: Rules, writer: LetterWriter) -> list[tuple[str, str | None]]:
    """Render every letter template against a sample denial, as Markdown and as HTML;
    (name, error or None) for each."""
    results: list[tuple[str, str | None]] = []
    for name in writer.names():
        try:
            for fmt in ("md", "html"):
                writer.render(sample_context(rules), fmt=fmt, draft=True, template=name)
        except (TemplateError, UsageError) as exc:
            results.append((name, str(exc)))
        else:
            results.append((name, None))
    return results


def template_usage(rules: Rules, writer: LetterWriter) -> list[dict[str, Any]]:
    """Each template with where it comes from and the reason codes whose rule names it."""
    codes: dict[str, list[str]] = {}
    for code, rule in rules.carc.items():
        if rule.category in ("administrative", "technical", "clinical"):
            codes.setdefault(rule.template or rule.category, []).append(code)
    user = writer.dirs[0] if len(writer.dirs) > 1 else None
    rows = []
    for name in writer.names():
        stem = name.removesuffix(SUFFIX)
        source = "user" if user is not None and (user / name).is_file() else "packaged"
        rows.append({"template": name, "source": source, "carcs": codes.get(stem, [])})
    return rows
