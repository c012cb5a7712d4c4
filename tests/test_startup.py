"""A fast start (issue 12): what each command loads, the rules cache, libyaml, file kinds,
table fitting and the option words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from denialkit import choices, lifecycle, rules
from denialkit.filekinds import describe, not_a_remittance
from denialkit.output import Column, ReadProgress, fit
from denialkit.rulecache import cache_dir, cached_rules
from denialkit.settings import resolve_db, resolve_rules

from .conftest import ROOT

HEAVY = ("jinja2", "denialkit.letters", "denialkit.reports", "denialkit.rules", "sqlite_utils")


def _loaded(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_letters_reports_rules_or_jinja():
    assert _loaded("import denialkit.cli") == []


def test_queue_command_loads_no_letters_reports_rules_or_jinja(tmp_path):
    from denialkit.store import Store

    db = tmp_path / "q.db"
    Store(db).close()
    code = (
        "from denialkit.cli import app\n"
        f"try:\n    app(['queue', '--db', {str(db)!r}])\nexcept SystemExit:\n    pass"
    )
    assert _loaded(code) == []


def test_library_names_still_import_from_the_package():
    import denialkit

    assert denialkit.Store is __import__("denialkit.store").store.Store
    assert callable(denialkit.load_rules) and callable(denialkit.parse_835)
    with pytest.raises(AttributeError):
        denialkit.nothing_here  # noqa: B018


# -- the rules cache ---------------------------------------------------------------------------


def test_rules_cache_is_used_and_follows_edits(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_CACHE", str(tmp_path / "cache"))
    mine = tmp_path / "rules"
    mine.mkdir()
    (mine / "triage.yaml").write_text((ROOT / "rules" / "triage.yaml").read_text())
    first = cached_rules(mine)
    assert len(list(cache_dir().glob("rules-*.pickle"))) == 1
    again = cached_rules(mine)
    assert again.resolve("CO", "50") == first.resolve("CO", "50")
    # An edited file (new size and time) is read again, not served from the cache.
    text = (mine / "triage.yaml").read_text().replace("high: 0.55", "high: 0.6")
    assert text != (mine / "triage.yaml").read_text()
    time.sleep(0.01)
    (mine / "triage.yaml").write_text(text)
    assert cached_rules(mine).triage.tiers.high == 0.6
    assert len(list(cache_dir().glob("rules-*.pickle"))) == 2


def test_invalid_rules_are_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "routing.yaml").write_text("categories: {}\nteams: {}\nextra: 1\n")
    with pytest.raises(rules.RulesError):
        cached_rules(bad)
    assert not list((tmp_path / "cache").glob("rules-*.pickle"))


def test_a_broken_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("DENIALKIT_CACHE", str(tmp_path / "cache"))
    cached_rules()
    (entry,) = cache_dir().glob("rules-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert cached_rules().resolve("CO", "50").category == "clinical"


def test_yaml_uses_libyaml_when_available():
    import yaml

    from denialkit.settings import safe_load

    assert safe_load("a: [1, 2]") == {"a": [1, 2]}
    with pytest.raises(yaml.YAMLError):
        safe_load("a: !!python/object:os.system x")
    if getattr(yaml, "__with_libyaml__", False):
        start = time.perf_counter()
        rules.load_rules()
        assert time.perf_counter() - start < 0.5


# -- settings order ----------------------------------------------------------------------------


def test_settings_flag_env_config_default(tmp_path, monkeypatch):
    assert resolve_db().source == "default" and str(resolve_db().value) == "denialkit.db"
    assert resolve_rules().value is None
    (tmp_path / "config.yaml").write_text(f"db: {tmp_path / 'c.db'}\nrules: {tmp_path}\n")
    assert resolve_db().value == tmp_path / "c.db" and resolve_db().source.startswith("config")
    assert resolve_rules().value == tmp_path
    monkeypatch.setenv("DENIALKIT_DB", "e.db")
    assert (str(resolve_db().value), resolve_db().source) == ("e.db", "$DENIALKIT_DB")
    assert (str(resolve_db("f.db").value), resolve_db("f.db").source) == ("f.db", "--db")


# -- file kinds --------------------------------------------------------------------------------


def _x12(tmp_path, name, st, sep="*"):
    path = tmp_path / name
    path.write_text(
        f"ISA{sep}00{sep}          {sep}00{sep}          {sep}ZZ{sep}A{' ' * 14}{sep}ZZ{sep}"
        f"B{' ' * 14}{sep}261127{sep}1200{sep}^{sep}00501{sep}000000001{sep}0{sep}P{sep}:~\n"
        f"GS{sep}XX{sep}A{sep}B{sep}20261127{sep}1200{sep}1{sep}X{sep}005010~\n"
        + "".join(f"ST{sep}{s}{sep}000{i}~\nSE{sep}2{sep}000{i}~\n" for i, s in enumerate(st))
    )
    return path


def test_file_kinds(tmp_path):
    assert not_a_remittance(_x12(tmp_path, "a.837", ["837"])) == "837 claim file"
    assert not_a_remittance(_x12(tmp_path, "a.999", ["999"], sep="|")) == "999 acknowledgment"
    assert not_a_remittance(_x12(tmp_path, "a.x", ["123"])) == "X12 123 file"
    assert not_a_remittance(_x12(tmp_path, "ok.835", ["835"])) is None
    assert not_a_remittance(_x12(tmp_path, "mixed", ["999", "835"])) is None  # 835 inside
    assert describe(ROOT / "examples" / "medicare-part-b.835") == "835 remittance"
    bare = tmp_path / "bare"
    bare.write_text("ST*835*0001~BPR*I~")
    assert not_a_remittance(bare) is None  # no envelope: the parser judges it


# -- tables ------------------------------------------------------------------------------------


def test_fit_shortens_names_then_drops_the_least_important_columns():
    cols = [
        Column("ID", ["12"]),
        Column("Payer", ["BLUESTONE COMMERCIAL HEALTH PLAN"], name=True, drop=2),
        Column("Amount", ["12,400.00"]),
        Column("Claim", ["CM-5102-LONG-NUMBER"], drop=3),
    ]
    kept, dropped = fit(cols, 80)
    assert dropped == [] and kept[1].width == len("BLUESTONE COMMERCIAL HEALTH PLAN")
    kept, dropped = fit(cols, 50)
    assert dropped == [] and kept[1].width < 32  # the name gave way, nothing else
    kept, dropped = fit(cols, 30)
    assert [c.header for c in dropped] == ["Claim"]
    assert kept[2].width == len("12,400.00")  # money keeps its width
    kept, dropped = fit(cols, 10)
    assert [c.header for c in kept] == ["ID", "Amount"]  # never dropped, even when too wide


def test_read_progress_counts_bytes_and_claims_on_a_terminal(tmp_path):
    import io

    from rich.console import Console

    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=100)
    with ReadProgress(5 << 20, "Ingesting", console=con) as bar:
        bar.update(tmp_path / "big.835", 2 << 20, 12_345)
        assert bar.bar is not None
        task = bar.bar.tasks[0]
        assert task.completed == 2 << 20 and task.fields["claims"] == "12,345"
    with ReadProgress(5 << 20, "Ingesting") as quiet:  # stderr is not a terminal here
        assert quiet.bar is None


def test_ingest_reports_bytes_as_the_file_is_read(tmp_path, store, write835):
    from denialkit.intake import ingest_paths
    from denialkit.synthetic import ClaimSpec, LineSpec, RemitSpec

    path = write835(RemitSpec(claims=[ClaimSpec(lines=[LineSpec()]) for _ in range(50)]))
    seen: list[tuple[int, int]] = []
    ingest_paths(store, [path], read_progress=lambda p, done, claims: seen.append((done, claims)))
    assert seen and seen[-1][0] == path.stat().st_size


# -- the words options take --------------------------------------------------------------------


def test_the_vocabulary_is_whole_and_the_rules_use_its_words():
    from typing import get_args

    from denialkit.vocabulary import Action, Category, Status

    # Every status has its row of moves, and every move ends in a status.
    assert set(Status.MOVES) == set(Status.ALL)
    assert {t for moves in Status.MOVES.values() for t in moves} <= set(Status.ALL)
    for subset in (Status.OPEN, Status.WAITING, Status.DECIDED, Status.PAYABLE, Status.WON):
        assert set(subset) <= set(Status.ALL)
    assert set(Action.TEXT) == set(Action.ALL)
    # pydantic checks a rule's words as Literal types; they are the vocabulary's words.
    assert get_args(rules.Action) == Action.ALL
    assert set(get_args(rules.CategoryWord)) == {*Category.ALL, *Category.NON_DENIAL}
    from denialkit.store import OPEN_STATUSES

    assert OPEN_STATUSES is Status.OPEN


def test_choices_read_abbreviations_and_refuse_the_rest():
    assert choices.category("Admin") == "administrative"
    assert choices.category("uncat") == "uncategorized"
    assert choices.status("written-off") == "written_off"
    assert choices.sort("amount") == "amount" and choices.sort(None) is None
    with pytest.raises(Exception, match="unknown action 'appel'"):
        choices.action("appel")


def test_future_dates_refused_in_the_library(store):
    import datetime as dt

    today = dt.date(2026, 11, 27)
    with pytest.raises(Exception, match="in the future"):
        lifecycle._date("2026-11-28", today, "submit date")
    assert lifecycle._date("2026-11-27", today, "submit date") == "2026-11-27"


# -- CI script ---------------------------------------------------------------------------------


def _ci_preamble(tmp_path, env_ci: str | None):
    text = (ROOT / ".ci" / "run").read_text()
    script = tmp_path / "ci-preamble"
    # The part before the venv, on a machine without chromium (whatever this one has).
    preamble = text.split("python3 -m venv")[0].replace('cd "$(dirname "$0")/.."', "")
    assert "command -v chromium " in preamble
    script.write_text(preamble.replace("command -v chromium ", "command -v no-such-chromium "))
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    log = tmp_path / "apt.log"
    log.unlink(missing_ok=True)
    (fake / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (fake / "id").write_text("#!/bin/sh\necho 0\n")  # as root: the case that used to install
    for f in fake.iterdir():
        f.chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    if env_ci is not None:
        env["CI"] = env_ci
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    return done, log


def test_ci_script_installs_chromium_only_in_ci(tmp_path):
    by_hand, log = _ci_preamble(tmp_path, None)
    assert by_hand.returncode == 0 and not log.exists()
    note = [line for line in by_hand.stderr.splitlines() if line]
    assert len(note) == 1 and "browser tests skip" in note[0] and "CI=1" in note[0]
    in_ci, log = _ci_preamble(tmp_path, "true")
    assert in_ci.returncode == 0 and "install" in log.read_text()


def test_dependencies_are_pinned_to_tested_ranges():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if "dateutil" in d]  # declared and never imported: dropped
    assert all("<" in d and ">=" in d for d in deps), deps
    (typer,) = [d for d in deps if d.startswith("typer")]
    assert typer == "typer>=0.16,<0.30"  # before 0.16: broken with the click pip installs
