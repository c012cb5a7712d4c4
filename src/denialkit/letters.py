"""Appeal letters from Jinja templates: choose a template, fill it, render Markdown/HTML/PDF.

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

import datetime as dt
import html
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from .config import Config
from .errors import DenialkitError, InvalidTransition, MissingFields, TemplateError, UsageError
from .files import check_new_file, private_dir, write_private
from .lifecycle import mark_drafted
from .payers import policy
from .rules import Rules
from .settings import packaged_templates_dir, user_templates_dir
from .store import Store
from .vocabulary import GROUPS, Action, money, money_cents, money_grouped
from .worklist import queue

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


# -- the facts a letter is built from ----------------------------------------------------------


def _practice(config: Config, payee: dict[str, Any]) -> dict[str, Any]:
    """Practice details from the config; what is not configured comes from the 835's payee
    (N1*PE name and NPI, N3/N4 address, REF*TJ tax id); what neither has is Required."""
    p = config.practice
    address = ", ".join(
        x for x in (payee.get("address"), payee.get("city"), payee.get("state")) if x
    )
    if address and payee.get("postal_code"):
        address += f" {payee['postal_code']}"
    fallback = {
        "name": payee.get("name") or "",
        "address": address,
        "npi": payee.get("identifier") if payee.get("id_qualifier") == "XX" else "",
        "tin": payee.get("tax_id") or "",
    }
    out: dict[str, Any] = {}
    for key in ("name", "address", "npi", "tin", "phone", "fax", "email", "contact"):
        value = getattr(p, key) or fallback.get(key) or ""
        required = key in ("name", "address", "npi", "phone", "contact")
        if value:
            out[key] = value
        elif required:
            out[key] = Required(f"practice.{key}", f"denialkit config set practice.{key} ...")
        else:
            out[key] = None
    out["address_lines"] = (
        out["address"].splitlines() if isinstance(out["address"], str) else [out["address"]]
    )
    return out


def _person(names: list[dict[str, Any]], entity: str) -> dict[str, str] | None:
    for n in names:
        if n["entity"] == entity:
            full = " ".join(x for x in (n["first"], n["middle"], n["last"], n["suffix"]) if x)
            return {"name": full, "last": n["last"] or "", "first": n["first"] or "",
                    "id": n["identifier"] or ""}  # fmt: skip
    return None


def letter_context(
    store: Store, rules: Rules, config: Config, denial_id: int, today: dt.date
) -> dict[str, Any]:
    """Everything a template can use, for one stored denial (documented in templates/README)."""
    d = store.denial(denial_id)
    facts = store.letter_facts(denial_id)
    patient = _person(facts["names"], "QC") or {"name": "", "last": "", "first": "", "id": ""}
    insured = _person(facts["names"], "IL")
    rendering = _person(facts["names"], "82")
    member_id = patient["id"] or (insured["id"] if insured else "")
    payer = facts["payer"]
    pol = policy(rules, [payer["identifier"], payer["ref_2u"], d["trace_originator"]],
                 payer["name"] or "", d["filing_indicator"] or "")  # fmt: skip
    level = d["level"] or 1
    lvl = pol.level(level) or pol.levels[-1]
    appeals = pol.appeals
    rarcs = [r for r in (d["rarcs"] or "").split(",") if r]
    detail = store.claim_detail(d["claim_id"])
    line = next((ln for ln in detail["lines"] if ln["id"] == d["line_id"]), None)
    sub = store.submitted_for_claim(d["claim_id"])
    diagnoses = [x for x in ((sub or {}).get("diagnoses") or "").split(",") if x]
    auth = (sub or {}).get("prior_auth") or (sub or {}).get("referral") or ""
    return {
        "today": today.isoformat(),
        # From the 837 when it was ingested: fills the letter's fields of the same name.
        "from_claim": {
            "diagnoses": ", ".join(diagnoses),
            "authorization_number": auth,
        },
        "practice": _practice(config, facts["payee"]),
        "payer": {
            "name": payer["name"] or "",
            "id": payer["identifier"] or "",
            "ref_2u": payer["ref_2u"] or "",
            "class": pol.payer_class,
            "class_label": pol.name,
            "member_id_label": pol.member_id_label,
            # payers.yaml `appeals:` (where appeals go) wins over the 835's payer address.
            "attention": (appeals.attention if appeals else "")
            or "Appeals / Claim Reconsideration",
            "fax": appeals.fax if appeals else "",
            "portal": appeals.portal if appeals else "",
            "address_lines": appeals.address.splitlines()
            if appeals and appeals.address
            else [
                x
                for x in (
                    payer["address"],
                    " ".join(y for y in (payer["city"], payer["state"], payer["postal_code"]) if y),
                )
                if x
            ],
        },
        "patient": {
            "name": patient["name"] or Required("patient.name", "patient name"),
            "first": patient["first"],
            "last": patient["last"],
            "member_id": member_id
            or (sub or {}).get("member_id")
            or Required("patient.member_id", "member id / MBI"),
            "date_of_birth": (sub or {}).get("patient_dob") or "",
        },
        "insured": insured,
        "rendering": rendering,
        "claim": {
            "id": d["patient_control"] or "",
            "payer_claim_id": d["payer_claim_id"] or "",
            "charge": money_cents(d["claim_charge_cents"]),
            "paid": money_cents(d["claim_paid_cents"]),
            "filing_indicator": d["filing_indicator"] or "",
            "statement_from": d["statement_from"],
            "statement_to": d["statement_to"],
            "diagnoses": diagnoses,
            "prior_authorization": (sub or {}).get("prior_auth") or "",
            "referral": (sub or {}).get("referral") or "",
        },
        "service": {
            "date": d["service_date"] or "",
            "procedure": d["procedure"] or "",
            "modifiers": [m for m in (d["modifiers"] or "").split(",") if m],
            "line_control": d["line_control"] or "",
            "charge": money_cents(line["charge_cents"]) if line else None,
            "level": "line" if d["line_id"] else "claim",
        },
        "denial": {
            "id": d["id"],
            "date": d["received"],
            "deadline": d["deadline"],
            "amount": money_cents(d["amount_cents"]),
            "group": d["group_code"],
            "group_description": GROUPS.get(d["group_code"], ""),
            "carc": d["carc"],
            "carc_description": rules.carc_description(d["carc"]),
            "rarcs": [{"code": r, "description": rules.rarc_description(r)} for r in rarcs],
            "category": d["category"],
            "template": d["template"] or d["category"],
            "payer_rule": d["payer_rule"] or "",
            "trace_number": d["trace_number"] or "",
            "action": d["action"] or "appeal",
            "level": level,
            "appeal_level": lvl.name,
            "level_title": lvl.title,
            "decided_by": lvl.decided_by,
            "level_source": lvl.source,
            # The decision this level answers (level 2 and up): enclosed with the request.
            "previous_decision": d["level_date"] if level > 1 else None,
            "previous_level": pol.levels[level - 2].name if level > 1 else None,
            "min_amount": money(lvl.min_amount) if lvl.min_amount is not None else None,
        },
        "signer": _signer(config),
    }


def _signer(config: Config) -> dict[str, Any]:
    """Who signs: ``signer.name`` and ``signer.credentials`` from config, else the contact."""
    s = config.signer
    name = s.name or config.practice.contact
    return {
        "name": name or Required("signer.name", "denialkit config set signer.name ..."),
        "credentials": s.credentials or "",
        "title": s.title or "",
    }


def sample_context(rules: Rules, carc: str = "50", category: str | None = None) -> dict[str, Any]:
    """A made-up denial for ``templates check``: every field a real context has."""
    resolved = rules.resolve("CO", carc, ())
    return {
        "today": "2026-03-02",
        "practice": {
            "name": "Sample Family Practice",
            "address": "1 Sample Way\nSpringfield, ST 00000",
            "address_lines": ["1 Sample Way", "Springfield, ST 00000"],
            "npi": "1234567893",
            "tin": "00-0000000",
            "phone": "(555) 010-0000",
            "fax": None,
            "email": None,
            "contact": "Sample Biller",
        },
        "payer": {
            "name": "Sample Health Plan",
            "id": "00000",
            "ref_2u": "",
            "class": "commercial",
            "class_label": "Commercial",
            "member_id_label": "Member ID",
            "attention": "Appeals / Claim Reconsideration",
            "fax": "",
            "portal": "",
            "address_lines": ["PO Box 1", "Sample City ST 00000"],
        },
        "patient": {
            "name": "Pat Sample",
            "first": "Pat",
            "last": "Sample",
            "member_id": "M0",
            "date_of_birth": "1980-01-01",
        },
        "from_claim": {"diagnoses": "", "authorization_number": ""},
        "insured": None,
        "rendering": {"name": "Dr Sample", "last": "Sample", "first": "Dr", "id": "1234567893"},
        "claim": {
            "id": "PCN0",
            "payer_claim_id": "ICN0",
            "charge": "100.00",
            "paid": "0.00",
            "filing_indicator": "CI",
            "statement_from": "2026-01-05",
            "statement_to": "2026-01-05",
            "diagnoses": ["J449"],
            "prior_authorization": "",
            "referral": "",
        },
        "service": {
            "date": "2026-01-05",
            "procedure": "99213",
            "modifiers": ["25"],
            "line_control": "1",
            "charge": "100.00",
            "level": "line",
        },
        "denial": {
            "id": 0,
            "date": "2026-02-01",
            "deadline": "2026-07-31",
            "amount": "100.00",
            "group": "CO",
            "group_description": GROUPS["CO"],
            "carc": carc,
            "carc_description": rules.carc_description(carc),
            "rarcs": [{"code": "N115", "description": rules.rarc_description("N115")}],
            "category": category or resolved.category,
            "template": resolved.template,
            "payer_rule": "commercial default",
            "trace_number": "SAMPLE",
            "action": "appeal",
            "level": 1,
            "appeal_level": "first-level appeal",
            "level_title": "Request for Reconsideration",
            "decided_by": "the plan",
            "level_source": "",
            "previous_decision": None,
            "previous_level": None,
            "min_amount": None,
        },
        "signer": {"name": "Sample Biller", "credentials": "CPC", "title": "Billing Manager"},
    }


def write_pdf(html_text: str, out: Path) -> None:
    """HTML to PDF with headless Chromium (the optional PDF route: no Python dependency)."""
    browser = next(
        (
            shutil.which(b)
            for b in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(b)
        ),
        None,
    )
    if browser is None:
        raise UsageError(
            "PDF letters need Chromium on PATH (Debian/Ubuntu: apt install chromium); "
            "or use --format html and print to PDF from a browser"
        )
    with tempfile.TemporaryDirectory(prefix="denialkit-pdf-") as tmp:
        page = Path(tmp) / "letter.html"
        page.write_text(html_text, encoding="utf-8")
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        final, out = out, Path(tmp) / "letter.pdf"
        cmd[-2] = f"--print-to-pdf={out}"
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0 or not out.exists():
            raise UsageError(f"Chromium could not print the PDF (exit {proc.returncode})")
        write_private(final, out.read_bytes())  # owner-only, like every letter


# -- appeals: choose denials, render, write, record -------------------------------------------


def parse_values(
    pairs: list[str] | None = None, fields_file: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Staff-supplied fields: a YAML/JSON mapping file, then ``--set NAME=VALUE`` on top."""
    values: dict[str, str] = {}
    if fields_file is not None:
        import yaml

        path = Path(fields_file)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"{path}: cannot read fields: {exc}") from None
        data = {} if data is None else data
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise UsageError(f"{path}: fields must be a mapping of NAME: text")
        values.update({k: "" if v is None else str(v) for k, v in data.items()})
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {pair!r}: expected NAME=VALUE")
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
        raise UsageError("give denial ids or --tier/--category/--assignee, not both")
    if not denial_ids and not selecting:
        raise UsageError("which denials? give ids, or select with --tier/--category/--assignee")
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
    skipped: str | None = None  # why no letter was written, when that is not an error


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
        raise UsageError("a PDF letter needs --out FILE")
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
            f"{Action.TEXT[d['action']]}; --force writes the letter anyway"
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
        raise UsageError(f"{out_dir} is a file; several letters need --out FOLDER")
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
            result = AppealResult(denial_id, skipped=str(exc))
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
