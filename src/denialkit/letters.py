"""Appeal letters rendered from Jinja templates: choose a template, fill it, Markdown or HTML.
The only module that imports jinja2; the facts come from ``letter_context``, the PDF from
``pdf``, and which denials get letters from ``appeals``.

Lookup chain, first file that exists wins, the user's template directory before the packaged
one (``letters/`` under each):

1. ``payers/<payer>/<CARC>.md.j2`` — ``<payer>`` is the payer id (N1*PR04), REF*2U, or the
   payer name in lower case with dashes (``payers/acme-health/50.md.j2``);
2. ``carc/<CARC>.md.j2``;
3. the template the CARC rule names (``rules/carc.yaml``: ``medical-necessity`` ...);
4. the denial's category (``administrative``, ``technical``, ``clinical``);
5. ``default.md.j2``.

Templates are sandboxed (a user's template cannot run code), use a strict undefined (a
misspelled field is an error, not a blank), and escape every value in HTML. What only staff
know is asked for with ``{{ field("clinical_summary", "what to write") }}``: a required field
left empty is an error naming it, unless the letter is a draft, which marks it visibly.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from .errors import DenialkitError, MissingFields, TemplateError, UsageError
from .settings import packaged_templates_dir, user_templates_dir
from .vocabulary import money_grouped

SUFFIX = ".md.j2"
FORMATS = ("md", "html", "pdf")


class Required:
    """A value the letter needs that nobody supplied (a staff field or practice detail)."""

    __slots__ = ("name", "hint")

    def __init__(self, name: str, hint: str) -> None:
        self.name, self.hint = name, hint

    def __str__(self) -> str:  # only seen if a template bypasses the finalizer
        return f"[[{self.name}]]"


@dataclass
class Letter:
    denial_id: int
    template: str
    text: str
    format: str
    draft: bool
    missing: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def template_dirs(user_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where letter templates are looked up, user's first."""
    dirs = []
    user = user_templates_dir(user_dir)
    if user is not None:
        if not user.is_dir():
            raise UsageError(f"templates directory {user} does not exist")
        dirs.append(user / "letters" if (user / "letters").is_dir() else user)
    dirs.append(packaged_templates_dir() / "letters")
    return dirs


def candidates(ctx: dict[str, Any]) -> list[str]:
    """The lookup chain for one denial's context, most specific first."""
    d, payer = ctx["denial"], ctx["payer"]
    names = [
        f"payers/{key}/{d['carc']}{SUFFIX}"
        for key in dict.fromkeys([payer["id"], payer["ref_2u"], slug(payer["name"])])
        if key and "/" not in key and not key.startswith(".")
    ]
    names.append(f"carc/{d['carc']}{SUFFIX}")
    names.append(f"{d['template']}{SUFFIX}")
    names.append(f"{d['category']}{SUFFIX}")
    names.append(f"default{SUFFIX}")
    return list(dict.fromkeys(names))


# -- Markdown subset to HTML -----------------------------------------------------------------

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MARK = re.compile(r"\[\[(.+?)\]\]")
_HEADING = re.compile(r"(#{1,2}) (.*)")  # "# " a title, "## " a section

_CSS = """
body { font: 11pt/1.45 Georgia, 'Times New Roman', serif; max-width: 7in; margin: 0.8in auto;
       color: #111; }
h1 { font-size: 14pt; margin: 1.2em 0 0.6em; } h2 { font-size: 12pt; margin: 1.2em 0 0.4em; }
p { margin: 0 0 0.8em; } ul { margin: 0 0 0.8em 1.2em; padding: 0; }
mark { background: #ffe08a; padding: 0 2px; font-family: sans-serif; font-size: 9.5pt; }
@media print { body { margin: 0; } }
"""


def markdown_to_html(text: str, title: str) -> str:
    """The letters' Markdown (headings, paragraphs with line breaks, lists, bold) as a
    standalone HTML page. The input is already escaped: this only adds tags."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def inline(s: str) -> str:
        return _MARK.sub(r"<mark>[\1]</mark>", _BOLD.sub(r"<strong>\1</strong>", s))

    def flush() -> None:
        if para:
            out.append("<p>" + "<br>\n".join(inline(p) for p in para) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        heading = _HEADING.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif line.startswith("- "):
            if para:
                flush()
            items.append(line[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line)
    flush()
    body = "\n".join(out)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _escape_markdown(value: str) -> Markup:
    # Escaped for HTML, and the characters the converter treats as markup neutralized, so a
    # value can never become bold text or a highlighted placeholder.
    return Markup(
        str(escape(value)).replace("*", "&#42;").replace("[", "&#91;").replace("]", "&#93;")
    )


# User templates run in Jinja's sandbox, with limits: a loop range, a repeated string and the
# letter itself are bounded, so a template cannot take the machine's memory or time.
MAX_RANGE = 10_000
MAX_LETTER_CHARS = 1_000_000
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>]|&(?=#?[A-Za-z0-9]+;)")


def _escape_md(value: str) -> str:
    """835 and staff text made inert in Markdown: HTML tags, links, code and emphasis markers
    are backslash-escaped (CommonMark), and line breaks cannot start a new block."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), value.replace("\r", " ").replace("\n", " "))


class _LimitedSandbox(SandboxedEnvironment):
    """The sandbox with size limits on ``range``, ``*`` and ``**``."""

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _limited_range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_LETTER_CHARS:
                        raise SecurityError(
                            f"a repeated value longer than {MAX_LETTER_CHARS:,} characters"
                        )
        return super().call_binop(context, operator, left, right)


def _limited_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise SecurityError(f"range of more than {MAX_RANGE:,} items")
    return r


class LetterWriter:
    """Renders letters; one per process is enough (templates compile once)."""

    def __init__(self, user_dir: str | os.PathLike[str] | None = None) -> None:
        self.dirs = template_dirs(user_dir)
        loader = jinja2.FileSystemLoader([str(d) for d in self.dirs])
        common = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        }
        self._missing: list[str] = []
        self._draft = False
        self.md = _LimitedSandbox(autoescape=False, finalize=self._finalize_md, **common)
        self.html = _LimitedSandbox(autoescape=True, finalize=self._finalize_html, **common)
        for env in (self.md, self.html):
            env.filters["money"] = _money

    # The finalizer sees every {{ value }}: that is where missing values are caught.
    def _placeholder(self, value: Required) -> str:
        if value.name not in self._missing:
            self._missing.append(value.name)
        return f"[[REQUIRED: {value.name} - {value.hint}]]" if self._draft else ""

    def _finalize_md(self, value: Any) -> Any:
        if isinstance(value, Required):
            return self._placeholder(value)
        if isinstance(value, str):
            return _escape_md(value)
        return "" if value is None else value

    def _finalize_html(self, value: Any) -> Any:
        if isinstance(value, Required):
            return Markup(html.escape(self._placeholder(value)))
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value
        return _escape_markdown(str(value))

    def names(self) -> list[str]:
        """Every letter template (``letters/`` relative names), user's and packaged."""
        seen: set[str] = set()
        for d in self.dirs:
            for p in sorted(d.rglob(f"*{SUFFIX}")):
                rel = p.relative_to(d).as_posix()
                if not rel.startswith("_"):
                    seen.add(rel)
        return sorted(seen)

    def fields(self, template: str) -> list[str]:
        """The names a template asks staff for (``field("name", ...)``), with those of the
        templates it extends or includes: what ``--set`` and ``--fields`` may fill."""
        import jinja2.meta
        import jinja2.nodes

        names: set[str] = set()
        seen: set[str] = set()
        todo = [template]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            try:
                source = self.md.loader.get_source(self.md, name)[0]  # type: ignore[union-attr]
                tree = self.md.parse(source)
            except jinja2.TemplateError:
                continue  # rendering reports it, with the line
            for call in tree.find_all(jinja2.nodes.Call):
                first = call.args[0] if call.args else None
                if (
                    isinstance(call.node, jinja2.nodes.Name)
                    and call.node.name == "field"
                    and isinstance(first, jinja2.nodes.Const)
                ):
                    names.add(str(first.value))
            todo += [t for t in jinja2.meta.find_referenced_templates(tree) if t]
        return sorted(names)

    def check_values(self, values: dict[str, str] | None, templates: Sequence[str]) -> None:
        """Refuse names no template among ``templates`` uses (a typo, ``explantion``, would
        otherwise be dropped silently), listing the ones they do use."""
        if not values:
            return
        known: set[str] = set()
        for t in templates:
            known.update(self.fields(t))
        unknown = sorted(k for k in values if k not in known)
        if unknown:
            which = f"template {templates[0]}" if len(templates) == 1 else "any template"
            raise UsageError(
                f"{', '.join(unknown)}: not a field of {which}; "
                f"fields: {', '.join(sorted(known)) or '(none)'}"
            )

    def choose(self, ctx: dict[str, Any]) -> str:
        for name in candidates(ctx):
            if any((d / name).is_file() for d in self.dirs):
                return name
        raise TemplateError("no letter template found, not even default.md.j2")

    def render(
        self,
        ctx: dict[str, Any],
        values: dict[str, str] | None = None,
        *,
        fmt: str = "md",
        draft: bool = False,
        template: str | None = None,
    ) -> Letter:
        if fmt not in FORMATS:
            raise UsageError(f"unknown letter format {fmt!r}: use md, html or pdf")
        name = template or self.choose(ctx)
        supplied = {k: v for k, v in (values or {}).items() if str(v).strip()}

        # What the submitted claim (837) already says fills a field nobody supplied.
        known = ctx.get("from_claim") or {}

        def field_(name_: str, hint: str = "", required: bool = True) -> Any:
            if name_ in supplied:
                return supplied[name_]
            if known.get(name_):
                return known[name_]
            return Required(name_, hint or name_.replace("_", " ")) if required else None

        self._missing, self._draft = [], draft
        text = _guarded_render(
            self.md if fmt == "md" else self.html, name, {**ctx, "field": field_}
        )
        missing = list(self._missing)
        if missing and not draft:
            raise MissingFields(
                ctx["denial"]["id"],
                name,
                staff=[m for m in missing if not m.startswith("practice.")],
                practice=[m for m in missing if m.startswith("practice.")],
            )
        if fmt != "md":
            title = f"Appeal: claim {escape(ctx['claim']['payer_claim_id'] or ctx['claim']['id'])}"
            text = markdown_to_html(text, title)
        return Letter(ctx["denial"]["id"], name, text, fmt, draft, missing)


def _guarded_render(env: jinja2.Environment, name: str, ctx: dict[str, Any]) -> str:
    """Render template ``name``; whatever goes wrong is a ``TemplateError`` naming it."""
    try:
        return _bounded_render(env.get_template(name), ctx)
    except SecurityError as exc:
        raise TemplateError(f"template {name}: not allowed in a template: {exc}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {name}: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {exc.name or name}, line {exc.lineno}: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {name}: {exc}") from None
    except DenialkitError:
        raise
    except Exception as exc:  # a user template can raise anything
        raise TemplateError(
            f"template {name}: {type(exc).__name__} while rendering: {str(exc)[:200]}"
        ) from None


def _bounded_render(template: jinja2.Template, ctx: dict[str, Any]) -> str:
    """Render, stopping once the letter passes ``MAX_LETTER_CHARS``."""
    parts, size = [], 0
    for piece in template.generate(ctx):
        size += len(piece)
        if size > MAX_LETTER_CHARS:
            raise SecurityError(f"the letter is longer than {MAX_LETTER_CHARS:,} characters")
        parts.append(piece)
    return "".join(parts)


def _money(value: Any) -> str:
    if isinstance(value, Required):
        return value  # type: ignore[return-value]
    return money_grouped(Decimal(str(value)))
