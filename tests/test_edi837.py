"""837P/837I intake: parsing, bad input, duplicates, linking to remittances (CLM01 reused on
another date of service must not link), resubmissions, the letter fields from the 837."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from denialkit import letter_context, letters
from denialkit.cli import app
from denialkit.config import Config
from denialkit.edi837 import parse_837
from denialkit.errors import X12Error
from denialkit.intake import ingest_file, ingest_paths
from denialkit.rules import load_rules
from denialkit.synthetic import (
    Adj,
    ClaimFileSpec,
    ClaimLineSpec,
    ClaimSpec,
    D,
    Layout,
    LineSpec,
    RemitSpec,
    SubmittedClaimSpec,
    build_837,
)
from denialkit.views import show

from .conftest import ROOT

TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture
def write837(tmp_path):
    counter = iter(range(1, 10_000))

    def write(spec, name=None, layout=None):
        path = tmp_path / (name or f"claims{next(counter)}.837")
        path.write_text(build_837(spec, layout), encoding="utf-8", newline="")
        return path

    return write


def claim837(pcn="ACCT-1", **kw):
    lines = kw.pop("lines", None) or [
        ClaimLineSpec("97110", D("95.00"), modifiers=("GP",), pointers=(1, 2), line_control="1"),
        ClaimLineSpec("97140", D("60.00"), units="2", line_control="2"),
    ]
    return SubmittedClaimSpec(pcn, lines=lines, **kw)


def test_837p_fields_are_read(write837):
    spec = claim837(
        prior_auth="AUTH77", referral="REF9", diagnoses=("M17.11", "Z96651"),
        patient=("DOE", "JIM", "20100304"), referring_npi="1999999984",
    )  # fmt: skip
    parsed = parse_837(write837(ClaimFileSpec([spec])))
    (c,) = list(parsed.claims)
    assert (c.kind, c.patient_control, c.charge, c.frequency) == (
        "professional", "ACCT-1", D("155.00"), "1",
    )  # fmt: skip
    assert (c.billing_npi, c.rendering_npi, c.referring_npi) == (
        "1234567893", "1234567893", "1999999984",
    )  # fmt: skip
    assert (c.payer_id, c.member_id, c.subscriber_dob, c.patient_dob) == (
        "ACME1", "MEMBER001", "1980-01-01", "2010-03-04",
    )  # fmt: skip
    assert (c.prior_auth, c.referral, c.diagnoses) == ("AUTH77", "REF9", ["M1711", "Z96651"])
    a, b = c.lines
    assert (a.procedure, a.modifiers, a.charge, a.pointers, a.line_control, a.date_from) == (
        "97110", ["GP"], D("95.00"), [1, 2], "1", "2026-10-05",
    )  # fmt: skip
    assert (b.units, b.line_control) == (D(2), "2")
    assert parsed.warnings == []


def test_837i_and_other_delimiters(write837):
    spec = SubmittedClaimSpec(
        "INST-1", facility="13", frequency="7", original_ref="ICN55",
        statement_from="20261001", statement_to="20261003",
        lines=[ClaimLineSpec("99283", D("500"), revenue_code="0450", date="20261001")],
    )  # fmt: skip
    lay = Layout(element="|", component=">", segment="\n", newline="")
    (c,) = list(parse_837(write837(ClaimFileSpec([spec], kind="I"), layout=lay)).claims)
    assert (c.kind, c.facility_code, c.frequency, c.original_ref) == (
        "institutional", "13", "7", "ICN55",
    )  # fmt: skip
    assert (c.statement_from, c.statement_to) == ("2026-10-01", "2026-10-03")
    assert (c.lines[0].revenue_code, c.lines[0].procedure, c.lines[0].charge) == (
        "0450", "99283", D("500"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "old,new,where",
    [
        ("SV1*HC:97110:GP*95*", "SV1*HC:97110:GP*9X5*", "SV102"),
        ("CLM*ACCT-1*", "CLM**", "CLM01"),
        ("SV1*HC:97110:GP*", "SV1**", "procedure code is missing"),
    ],
)
def test_bad_837_is_rejected_naming_file_and_segment_nothing_stored(
    store, write837, old, new, where
):
    path = write837(ClaimFileSpec([claim837()]))
    path.write_text(path.read_text().replace(old, new))
    r = ingest_file(store, path)
    assert r.status == "failed" and r.error is not None
    assert r.error.file == str(path) and r.error.segment and where in r.error.message
    assert store.count("files") == 0
    assert store.query("SELECT COUNT(*) AS n FROM submitted_claims")[0]["n"] == 0


def test_837_with_no_se_is_rejected(write837):
    path = write837(ClaimFileSpec([claim837()]))
    path.write_text(path.read_text().split("SE*")[0])
    with pytest.raises(X12Error, match="no SE"):
        parse_837(path)


def test_837_duplicates_file_and_content(store, write837):
    path = write837(ClaimFileSpec([claim837()]))
    assert ingest_file(store, path).status == "ingested"
    assert ingest_file(store, path).status == "duplicate"
    # The same claims in another envelope (other control numbers): a duplicate by content.
    other = write837(ClaimFileSpec([claim837()]), layout=Layout(compress_isa=True))
    assert ingest_file(store, other).status == "duplicate"
    assert store.query("SELECT COUNT(*) AS n FROM submitted_claims")[0]["n"] == 1


def test_ingest_json_counts_submitted_claims_apart(tmp_path, write837, write835):
    write837(ClaimFileSpec([claim837(), claim837("ACCT-2")]))
    write835(RemitSpec(claims=[ClaimSpec("ACCT-1", lines=[LineSpec("97110", D("95"))])]))
    r = CliRunner().invoke(
        app, ["ingest", str(tmp_path), "--db", str(tmp_path / "d.db"), "--format", "json"]
    )
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["claims"], data["claims_submitted"], data["submitted_lines"]) == (1, 2, 4)
    assert data["submitted_charge"] == "310.00" and data["claims_linked"] == 1


def _remit(pcn="ACCT-1", date="20261005", carc=None, icn="ICN1", trace="T1", paid=None):
    adjs = [Adj("CO", carc, D("95.00"))] if carc else []
    line = LineSpec("97110", D("95.00"), modifiers=("GP",), adjustments=adjs, date=date,
                    paid=paid)  # fmt: skip
    return RemitSpec(
        claims=[ClaimSpec(pcn, payer_claim_id=icn, lines=[line])],
        trace=trace,
    )


@pytest.mark.parametrize("order", ["837 first", "835 first"])
def test_linking_by_payer_clm01_and_date_lines_by_ref6r(store, write837, write835, order):
    files = [write837(ClaimFileSpec([claim837()])), write835(_remit())]
    if order == "835 first":
        files.reverse()
    ingest_paths(store, files)
    assert store.query("SELECT claim_id, submitted_id FROM claim_links") == [
        {"claim_id": 1, "submitted_id": 1}
    ]
    # The remittance line has no REF*6R: procedure + modifiers + date + position links it.
    assert store.query("SELECT line_id, submitted_line_id FROM line_links") == [
        {"line_id": 1, "submitted_line_id": 1}
    ]


def test_clm01_reused_on_another_date_of_service_does_not_link(store, write837, write835):
    ingest_paths(store, [write837(ClaimFileSpec([claim837()])), write835(_remit(date="20261105"))])
    assert store.query("SELECT * FROM claim_links") == []


def test_another_payer_does_not_link(store, write837, write835):
    ingest_paths(
        store, [write837(ClaimFileSpec([claim837(payer_id="OTHER9")])), write835(_remit())]
    )
    assert store.query("SELECT * FROM claim_links") == []


def test_show_and_letter_use_the_837(store, write837, write835, rules):
    ingest_paths(
        store,
        [
            write837(
                ClaimFileSpec(
                    [
                        claim837(
                            prior_auth="AUTH77",
                            diagnoses=("M1711", "Z96651"),
                            patient=("DOE", "JIM", "20100304"),
                        )
                    ]
                )
            ),  # fmt: skip
            write835(_remit(carc="197")),
        ],
        rules=rules,
        today=TODAY,
    )
    (denial_id,) = [r["id"] for r in store.query("SELECT id FROM denials")]
    detail = show(store, rules, denial_id, TODAY)
    s = detail["submitted"]
    assert s["prior_authorization"] == "AUTH77" and s["diagnoses"] == ["M1711", "Z96651"]
    assert s["lines"][0]["diagnoses"] == ["M1711", "Z96651"]
    ctx = letter_context.letter_context(store, rules, Config(), denial_id, TODAY)
    letter = letters.LetterWriter().render(ctx, draft=True)
    assert "AUTH77" in letter.text and "authorization_number" not in letter.missing
    assert "**Date of birth:** 2010-03-04" in letter.text


def test_letter_without_837_keeps_placeholders(store, write835, rules):
    ingest_paths(store, [write835(_remit(carc="197"))], rules=rules, today=TODAY)
    ctx = letter_context.letter_context(store, rules, Config(), 1, TODAY)
    letter = letters.LetterWriter().render(ctx, draft=True)
    assert "[[REQUIRED: authorization_number" in letter.text
    assert "Date of birth" not in letter.text


def test_resubmit_denial_closes_as_resubmitted_then_overturned(store, write837, write835, rules):
    # CO-16 (missing information): the next step is a corrected claim, not an appeal.
    ingest_paths(
        store,
        [write837(ClaimFileSpec([claim837()])), write835(_remit(carc="16", icn="ICN1"))],
        rules=rules,
        today=TODAY,
    )
    d = store.query("SELECT id, status, action FROM denials")[0]
    assert (d["status"], d["action"]) == ("new", "resubmit")
    corrected = claim837(frequency="7", original_ref="ICN1")
    r = ingest_file(
        store,
        write837(ClaimFileSpec([corrected], reference="B2", created="20261115")),
        rules,
        TODAY,
    )
    assert r.status == "ingested" and r.totals.resubmitted == 1
    assert store.query("SELECT status FROM denials")[0]["status"] == "resubmitted"
    assert store.query("SELECT replaces_id FROM submitted_claims WHERE id = 2")[0] == {
        "replaces_id": 1
    }
    paid = _remit(icn="ICN2", trace="T2")
    ingest_file(store, write835_paid(write835, paid), rules, TODAY)
    row = store.query("SELECT status, recovered_cents FROM denials")[0]
    assert row == {"status": "overturned", "recovered_cents": 9500}
    # The payment links to the corrected claim, not the original.
    assert store.query("SELECT submitted_id FROM claim_links WHERE claim_id = 2")[0] == {
        "submitted_id": 2
    }


def write835_paid(write835, spec):
    spec.payment_date = "20261120"
    spec.production_date = "20261120"
    return write835(spec)


def test_appeal_denial_is_not_closed_by_a_new_claim(store, write837, write835, rules):
    ingest_paths(
        store,
        [write837(ClaimFileSpec([claim837()])), write835(_remit(carc="50"))],
        rules=rules,
        today=TODAY,
    )
    r = ingest_file(store, write837(ClaimFileSpec([claim837(frequency="7", original_ref="ICN1")],
                                                  reference="B2", created="20261115")), rules, TODAY)  # fmt: skip
    assert r.totals.resubmitted == 0
    assert store.query("SELECT status FROM denials")[0]["status"] == "new"


def test_show_cli_prints_the_submitted_claim(db_target, tmp_path, write837, write835):
    db = db_target
    runner = CliRunner()
    write837(ClaimFileSpec([claim837(prior_auth="AUTH77")]))
    write835(_remit(carc="197"))
    assert runner.invoke(app, ["ingest", str(tmp_path), "--db", str(db)]).exit_code == 0
    r = runner.invoke(app, ["show", "1", "--db", str(db)], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.stderr
    assert "Submitted claim ACCT-1" in r.stdout and "authorization AUTH77" in r.stdout


def test_report_unanswered_lists_claims_with_no_remittance_after_n_days(
    db_target, tmp_path, write837, write835
):
    db = db_target
    runner = CliRunner()
    old = ClaimFileSpec([claim837("ACCT-1"), claim837("ACCT-2", payer_id="BETA2",
                                                     payer_name="BETA CARE")],
                        created="20261001")  # fmt: skip
    recent = ClaimFileSpec([claim837("ACCT-3")], created="20261120", reference="B2")
    write837(old)
    write837(recent)
    write835(_remit("ACCT-1"))  # answers ACCT-1 only
    assert runner.invoke(app, ["ingest", str(tmp_path), "--db", str(db)]).exit_code == 0
    env = {"DENIALKIT_TODAY": "2026-11-27"}
    r = runner.invoke(app, ["report", "unanswered", "--db", str(db), "--format", "json"], env=env)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [c["claim"] for c in data["claims"]] == ["ACCT-2"]  # ACCT-3 is not 30 days old
    assert data["by_payer"] == [
        {"payer": "BETA CARE", "count": 1, "amount": "155.00", "oldest": "2026-10-01"}
    ]
    r = runner.invoke(
        app, ["report", "unanswered", "--days", "5", "--db", str(db), "--format", "csv"], env=env
    )
    assert r.exit_code == 0 and "ACCT-3" in r.stdout and "ACCT-2" in r.stdout
    r = runner.invoke(app, ["report", "unanswered", "--db", str(db)], env=env)
    assert r.exit_code == 0 and "BETA CARE" in r.stdout
    # A client practice: the claims' billing provider (2010AA), by NPI or part of its name.
    for practice, expected in (("1234567893", ["ACCT-2"]), ("NOBODY", [])):
        r = runner.invoke(app, ["report", "unanswered", "--practice", practice, "--db", str(db),
                                "--format", "json"], env=env)  # fmt: skip
        assert r.exit_code == 0, r.stderr
        assert [c["claim"] for c in json.loads(r.stdout)["claims"]] == expected, practice


PUBLIC = ROOT / "tests" / "data" / "public837"


def test_public_837p_sample_linuxforhealth():
    parsed = parse_837(PUBLIC / "linuxforhealth-demo.example1.837")
    (c,) = list(parsed.claims)
    assert (c.kind, c.patient_control, c.charge, c.frequency, c.facility_code) == (
        "professional", "26463774", D("100.00"), "1", "11",
    )  # fmt: skip
    assert (c.billing_npi, c.payer_id, c.member_id, c.patient_dob) == (
        "1912301953", "999996666", "JS00111223333", "1973-05-01",
    )  # fmt: skip
    assert (c.patient_first, c.created, c.diagnoses) == ("TED", "2006-10-15", ["0340", "V7389"])
    assert [(ln.procedure, ln.charge, ln.pointers, ln.date_from) for ln in c.lines] == [
        ("99213", D("40.00"), [1], "2006-10-03"),
        ("87070", D("15.00"), [1], "2006-10-03"),
        ("99214", D("35.00"), [2], "2006-10-10"),
        ("86663", D("10.00"), [2], "2006-10-10"),
    ]
    assert parsed.warnings == []


def test_public_837i_sample_linuxforhealth(store):
    path = PUBLIC / "linuxforhealth-two-claims-single-provider.837i"
    a, b = parse_837(path).claims
    assert (a.kind, a.patient_control, a.charge, a.facility_code) == (
        "institutional", "756048Q", D("89.95"), "13",
    )  # fmt: skip
    assert (a.statement_from, a.diagnoses, a.member_id, a.subscriber_dob) == (
        "2005-03-15", ["3669", "4019", "79431"], "030005074", "1968-11-11",
    )  # fmt: skip
    assert [(ln.revenue_code, ln.procedure, ln.units) for ln in a.lines] == [
        ("0305", "85025", D("1.00")), ("0730", "93005", D("3.00")),
    ]  # fmt: skip
    assert (b.patient_control, b.charge, b.diagnoses, b.member_id) == (
        "756049Q", D("50.00"), ["30000"], "123405074",
    )  # fmt: skip
    r = ingest_file(store, path)
    assert r.status == "ingested" and r.totals.claims_submitted == 2


def test_a_database_from_before_837_intake_gets_the_new_tables(db_target, write837):
    from denialkit.store import Store

    db = db_target
    with Store(db) as store:
        for table in ("submissions", "submitted_claims", "submitted_lines", "claim_links",
                      "line_links"):  # fmt: skip
            store.conn.execute(f"DROP TABLE {table}")
        # What such a database remembers: migrations up to the one that adds these tables.
        store.conn.execute("DELETE FROM migrations WHERE name = '0005_submitted_claims'")
    with Store(db) as store:
        assert "0005_submitted_claims" in store.applied_migrations()
        r = ingest_file(store, write837(ClaimFileSpec([claim837()])))
        assert r.status == "ingested"
        assert store.query("SELECT COUNT(*) AS n FROM submitted_lines")[0]["n"] == 2


def test_lines_link_by_ref_6r_whatever_their_order(store, write837, write835):
    sub = SubmittedClaimSpec(
        "ACCT-9",
        lines=[
            ClaimLineSpec("97110", D("60"), line_control="A"),
            ClaimLineSpec("97110", D("60"), line_control="B"),
        ],
    )
    remit = RemitSpec(
        claims=[
            ClaimSpec(
                "ACCT-9",
                lines=[
                    LineSpec("97110", D("60"), line_control="B"),
                    LineSpec("97110", D("60"), line_control="A"),
                ],
            )
        ]
    )
    ingest_paths(store, [write837(ClaimFileSpec([sub])), write835(remit)])
    rows = store.query(
        "SELECT l.line_control AS remit, s.line_control AS sub FROM line_links k "
        "JOIN service_lines l ON l.id = k.line_id "
        "JOIN submitted_lines s ON s.id = k.submitted_line_id ORDER BY l.id"
    )
    assert rows == [{"remit": "B", "sub": "B"}, {"remit": "A", "sub": "A"}]


def test_resubmitted_is_a_status_the_queue_accepts(tmp_path):
    from denialkit import choices
    from denialkit.vocabulary import Status

    assert "resubmitted" in Status.ALL and "resubmitted" in Status.MOVES
    assert choices.status("resubmitted") == "resubmitted"
    assert "overturned" in Status.MOVES["resubmitted"]
