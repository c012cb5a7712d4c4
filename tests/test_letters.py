"""Appeal letters: golden files, every shipped template, the lookup chain, placeholders,
strict undefined, the sandbox, HTML escaping, the CLI and the practice config."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
from typer.testing import CliRunner

from denialkit import appeals, letter_context, letters
from denialkit.cli import app
from denialkit.config import Config, Practice, load_config, set_value
from denialkit.errors import InvalidTransition, TemplateError, UsageError
from denialkit.intake import ingest_file
from denialkit.rules import load_rules
from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, RemitSpec

from .conftest import ROOT

TODAY = dt.date(2026, 11, 27)
GOLDEN = ROOT / "tests" / "golden"
CONFIG = Config(
    practice=Practice(
        name="Riverside Family Medicine",
        address="12 Main St\nSpringfield, IL 62701",
        npi="1234567893",
        tin="12-3456789",
        phone="(555) 010-2000",
        contact="Dana Reyes, Billing Manager",
    )
)
FIELDS = {
    "policy": "LCD L34049, Outpatient Physical and Occupational Therapy Services",
    "criteria_met": "Plan of care certified 2026-01-02 (p. 3); functional goals (p. 4)",
    "clinical_summary": "Post-operative knee; gait deficit documented on 2026-10-05.",
    "diagnoses": "M17.11, Z96.651",
    "records": "Plan of care (pp. 1-6); progress notes (pp. 7-12)",
}


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def stored_denial(store, write835, rules, carc="50", patient=("DOE", "JANE", "MEMBER001")):
    claim = ClaimSpec(
        "ACCT-1001",
        payer_claim_id="ICN9001",
        patient=patient,
        lines=[
            LineSpec(
                "97110",
                D("95.00"),
                modifiers=("GP",),
                adjustments=[Adj("CO", carc, D("95.00"))],
                remarks=("N115",),
                line_control="1",
            )
        ],
    )
    r = ingest_file(store, write835(RemitSpec(claims=[claim])), rules, TODAY)
    assert r.denials == 1
    return store.query("SELECT id FROM denials")[0]["id"]


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DENIALKIT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (DENIALKIT_UPDATE_GOLDEN=1)"


def test_medical_necessity_letter_matches_golden_markdown_and_html(store, write835, rules):
    denial_id = stored_denial(store, write835, rules)
    ctx = letter_context.letter_context(store, rules, CONFIG, denial_id, TODAY)
    writer = letters.LetterWriter()
    md = writer.render(ctx, FIELDS)
    assert md.template == "medical-necessity.md.j2" and md.missing == []
    golden("medical-necessity.md", md.text)
    golden("medical-necessity.html", writer.render(ctx, FIELDS, fmt="html").text)


def test_draft_letter_marks_placeholders_matches_golden(store, write835, rules):
    denial_id = stored_denial(store, write835, rules, carc="197")
    ctx = letter_context.letter_context(store, rules, Config(), denial_id, TODAY)
    letter = letters.LetterWriter().render(ctx, draft=True)
    assert "[[REQUIRED: authorization_number" in letter.text
    assert "practice.phone" in letter.missing  # nothing configured, not in the 835 either
    golden("prior-authorization-draft.md", letter.text)


@pytest.mark.parametrize(
    "carc,template",
    [
        ("50", "medical-necessity"),
        ("197", "prior-authorization"),
        ("15", "prior-authorization"),
        ("97", "bundling"),
        ("236", "bundling"),
        ("B15", "bundling"),
        ("4", "modifier"),
        ("11", "diagnosis"),
        ("16", "missing-information"),
        ("29", "timely-filing"),
        ("27", "coverage"),
        ("26", "coverage"),
        ("96", "non-covered"),
        ("204", "non-covered"),
        ("119", "frequency"),
        ("151", "frequency"),
        ("18", "duplicate"),
        ("22", "coordination-of-benefits"),
        ("109", "coordination-of-benefits"),
        ("55", "experimental"),
    ],
)
def test_common_reasons_have_their_own_template(rules, carc, template):
    ctx = letter_context.sample_context(rules, carc)
    assert letters.LetterWriter().choose(ctx) == f"{template}.md.j2"


def test_every_shipped_template_renders_complete_when_fields_are_given(rules):
    writer = letters.LetterWriter()
    names = writer.names()
    assert len(names) >= 18 and "level-of-care.md.j2" in names
    assert appeals.check_templates(rules, writer) == [(n, None) for n in names]
    for name in names:
        ctx = letter_context.sample_context(rules)
        draft = writer.render(ctx, draft=True, template=name)
        values = {m: f"value of {m}" for m in draft.missing}
        for fmt in ("md", "html"):
            letter = writer.render(ctx, values, fmt=fmt, template=name)
            assert "REQUIRED" not in letter.text and "value of" in letter.text
            assert "reconsider" in letter.text  # the closing asks for reconsideration


def test_missing_required_field_is_an_error_naming_it(rules):
    writer = letters.LetterWriter()
    with pytest.raises(TemplateError, match="clinical_summary") as err:
        writer.render(letter_context.sample_context(rules, "50"), {"policy": "x"})
    assert "policy" not in str(err.value).split("not filled:")[1].split("(")[0]


def user_templates(tmp_path, files: dict[str, str]):
    d = tmp_path / "mytemplates" / "letters"
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return tmp_path / "mytemplates"


def test_lookup_chain_payer_then_carc_then_family_then_category_then_default(tmp_path, rules):
    ctx = letter_context.sample_context(rules, "50")  # payer "Sample Health Plan", id 00000
    files = {
        "payers/sample-health-plan/50.md.j2": "payer+carc",
        "carc/50.md.j2": "carc",
        "medical-necessity.md.j2": "family",
    }
    for name in list(files):
        writer = letters.LetterWriter(user_templates(tmp_path, files))
        assert writer.render(ctx).text == files[name]
        shutil.rmtree(tmp_path / "mytemplates")
        del files[name]
    # A reason family with no template of its own falls to the category, then the default.
    ctx["denial"]["template"] = "no-such-family"
    writer = letters.LetterWriter(user_templates(tmp_path, {"clinical.md.j2": "category"}))
    assert writer.render(ctx).text == "category"
    ctx["denial"]["category"] = "uncategorized"
    assert letters.LetterWriter().choose(ctx) == "default.md.j2"


def test_payer_id_directory_and_unsafe_payer_names(tmp_path, rules):
    ctx = letter_context.sample_context(rules, "50")
    writer = letters.LetterWriter(user_templates(tmp_path, {"payers/00000/50.md.j2": "by id"}))
    assert writer.render(ctx).text == "by id"
    ctx["payer"]["name"] = "../../etc"
    assert all(".." not in c for c in letters.candidates(ctx))


def test_strict_undefined_fails_loudly(tmp_path, rules):
    writer = letters.LetterWriter(user_templates(tmp_path, {"default.md.j2": "{{ claim.nope }}"}))
    ctx = letter_context.sample_context(rules, "ZZ9")
    with pytest.raises(TemplateError, match="nope"):
        writer.render(ctx, template="default.md.j2")


def test_user_templates_cannot_run_code(tmp_path, rules):
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    writer = letters.LetterWriter(user_templates(tmp_path, {"default.md.j2": evil}))
    with pytest.raises(TemplateError, match="not allowed|unsafe"):
        writer.render(letter_context.sample_context(rules), template="default.md.j2")


def test_html_escapes_every_value(store, write835, rules):
    denial_id = stored_denial(store, write835, rules, patient=("<B>O'NEIL", "JO&AN", "M1"))
    ctx = letter_context.letter_context(store, rules, CONFIG, denial_id, TODAY)
    values = {**FIELDS, "clinical_summary": "<script>alert(1)</script> [[x]] **y**"}
    text = letters.LetterWriter().render(ctx, values, fmt="html").text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "&lt;B&gt;O&#39;NEIL" in text and "JO&amp;AN" in text
    assert "<mark>" not in text and "<strong>y</strong>" not in text


def test_fields_file_and_set_values(tmp_path):
    f = tmp_path / "fields.yaml"
    f.write_text("policy: LCD L1\nrecords: notes\n")
    assert appeals.parse_values(["records=chart"], f) == {"policy": "LCD L1", "records": "chart"}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        appeals.parse_values(["oops"])
    f.write_text("- a list\n")
    with pytest.raises(UsageError, match="mapping"):
        appeals.parse_values([], f)


def test_config_set_show_and_unknown_key(tmp_path):
    set_value("practice.name", "Riverside")
    set_value("practice.address", r"12 Main St\nSpringfield")
    cfg = load_config()
    assert cfg.practice.name == "Riverside" and cfg.practice.address == "12 Main St\nSpringfield"
    assert oct(os.stat(os.environ["DENIALKIT_CONFIG"]).st_mode & 0o777) == "0o600"
    with pytest.raises(UsageError, match="unknown config key"):
        set_value("practice.colour", "blue")
    toml = tmp_path / "c.toml"
    toml.write_text('[practice]\nname = "From TOML"\n')
    assert load_config(toml).practice.name == "From TOML"


# -- CLI --------------------------------------------------------------------------------------


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def db(db_target, write835, rules):
    """A store on each engine (a SQLite file, or a PostgreSQL URL)."""
    from denialkit.store import Store

    path = db_target
    with Store(path) as s:
        stored_denial(s, write835, rules)
        ingest_file(
            s,
            write835(
                RemitSpec(
                    claims=[ClaimSpec("ACCT-2", payer_claim_id="ICN2", lines=[
                        LineSpec("97110", D(500), adjustments=[Adj("CO", "197", D(500))])])],
                    trace="T2",
                )
            ),
            rules,
            TODAY,
        )  # fmt: skip
    for key, value in CONFIG.practice.model_dump().items():
        if value:
            set_value(f"practice.{key}", value)
    return path


def test_cli_appeal_missing_field_exit_1_names_it(db):
    r = cli("appeal", "1", "--db", db)
    assert r.exit_code == 1 and "clinical_summary" in r.stderr and r.stdout == ""


def test_cli_appeal_one_letter_to_stdout_marks_drafted(db, tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("\n".join(f"{k}: {v!r}" for k, v in FIELDS.items()))
    r = cli("appeal", "1", "--fields", f, "--set", "diagnoses=M17.11", "--db", db)
    assert r.exit_code == 0, r.stderr
    assert "M17.11" in r.stdout and "Riverside Family Medicine" in r.stdout
    h = cli("history", "1", "--db", db, "--format", "json")
    assert '"appeal_drafted"' in h.stdout


def test_cli_appeal_batch_drafts_into_a_directory(db, tmp_path):
    out = tmp_path / "letters"
    r = cli("appeal", "1", "2", "--draft", "--format", "html", "--out", out, "--db", db)
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "denial-1-medical-necessity.html",
        "denial-2-prior-authorization.html",
    ]
    assert (
        "<mark>[REQUIRED: clinical_summary" in (out / "denial-1-medical-necessity.html").read_text()
    )
    r = cli(
        "appeal", "1", "2", "--out", tmp_path / "final", "--db", db
    )  # no --draft: fields missing
    assert r.exit_code == 1 and "denial 1" in r.stderr


def test_cli_appeal_usage_errors(db):
    assert cli("appeal", "--db", db).exit_code == 2
    assert cli("appeal", "1", "2", "--db", db).exit_code == 2  # several need --out
    assert cli("appeal", "1", "--format", "pdf", "--db", db).exit_code == 2  # pdf needs --out


@pytest.mark.skipif(shutil.which("chromium") is None, reason="PDF needs Chromium")
@pytest.mark.browser
def test_cli_appeal_pdf(db, tmp_path):
    out = tmp_path / "a.pdf"
    r = cli("appeal", "2", "--draft", "--format", "pdf", "--out", out, "--db", db)
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes().startswith(b"%PDF")


def test_cli_lifecycle_commands(db):
    assert cli("submit", "1", "--date", "2026-11-20", "--db", db).exit_code == 0
    r = cli("outcome", "1", "--partial", "--recovered", "40.10", "--db", db, "--actor", "kim")
    assert r.exit_code == 0 and "40.10" in r.stderr
    assert cli("outcome", "2", "--upheld", "--db", db).exit_code == 1  # not appealed yet
    assert cli("outcome", "1", "--upheld", "--overturned", "--db", db).exit_code == 2
    assert cli("note", "2", "asked for records", "--db", db).exit_code == 0
    assert cli("writeoff", "2", "--reason", "no auth obtained", "--db", db).exit_code == 0
    assert cli("submit", "99", "--db", db).exit_code == 1
    h = cli("history", "1", "--db", db, "--format", "csv").stdout
    assert "partially_overturned" in h and "kim" in h


def test_cli_templates_list_and_check(tmp_path):
    r = cli("templates", "list", "--format", "json")
    assert r.exit_code == 0 and '"medical-necessity.md.j2"' in r.stdout
    assert cli("templates", "check").exit_code == 0
    bad = user_templates(tmp_path, {"default.md.j2": "{% if %}"})
    r = cli("templates", "check", "--templates", bad)
    assert r.exit_code == 1 and "default.md.j2" in r.stderr


def test_cli_config(tmp_path):
    assert cli("config", "set", "practice.npi", "1234567893").exit_code == 0
    r = cli("config", "show")
    assert "npi: '1234567893'" in r.stdout
    assert cli("config", "set", "practice.nope", "x").exit_code == 2


def test_no_appeal_rights_refused_unless_forced(store, write835, rules):
    claim = ClaimSpec(
        "ACCT-29", lines=[LineSpec("99213", D(120), adjustments=[Adj("CO", "29", D(120))])]
    )
    ingest_file(
        store, write835(RemitSpec(claims=[claim], payer_name="MEDICARE PART B")), rules, TODAY
    )
    [denial_id] = [r["id"] for r in store.query("SELECT id FROM denials")]
    writer = letters.LetterWriter()
    with pytest.raises(InvalidTransition, match="no appeal rights"):
        appeals.appeal(store, rules, CONFIG, writer, denial_id, draft=True, today=TODAY, actor="t")
    result = appeals.appeal(
        store, rules, CONFIG, writer, denial_id, draft=True, today=TODAY, actor="t", force=True
    )
    assert result.letter.template == "timely-filing.md.j2"
