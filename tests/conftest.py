from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from denialkit.store import Store
from denialkit.synthetic import (
    Adj,
    ClaimSpec,
    D,
    Layout,
    LineSpec,
    PLBSpec,
    RemitSpec,
    build_835,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def rules_cache(tmp_path_factory):
    """One rules cache for the whole run: the packaged rules are validated once, not by every
    command a test runs (a test of the cache itself sets its own)."""
    return tmp_path_factory.mktemp("rules-cache")


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path, rules_cache):
    """No test reads the developer's database, rules or terminal width."""
    for var in (
        "DENIALKIT_DB",
        "DENIALKIT_RULES",
        "DENIALKIT_TEMPLATES",
        "DENIALKIT_USER",
        "DENIALKIT_CONFIG",
        "DENIALKIT_CACHE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DENIALKIT_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("DENIALKIT_CACHE", str(rules_cache))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


# PostgreSQL for the engine-parametrized tests: $DENIALKIT_TEST_PG, else the development
# machines' server. With CI set the PostgreSQL half must run (unreachable = failure); by hand
# without a server it skips, saying how to point it at one.
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
_pg_state: dict[str, str | None] = {}


def pg_server() -> str:
    """The test server's URL; skips (by hand) or fails (CI) when it cannot be reached."""
    if "url" not in _pg_state:
        url = os.environ.get("DENIALKIT_TEST_PG") or PG_DEFAULT
        try:
            import psycopg

            psycopg.connect(url, connect_timeout=5).close()
            _pg_state["url"], _pg_state["error"] = url, None
        except Exception as exc:  # any reason means no server
            _pg_state["url"], _pg_state["error"] = (
                url,
                str(exc).splitlines()[0] if str(exc) else repr(exc),
            )
    if _pg_state["error"] is not None:
        message = (
            f"no PostgreSQL at {_pg_state['url']} ({_pg_state['error']}): "
            "set DENIALKIT_TEST_PG=postgresql://user@host/db to run the PostgreSQL tests"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(_pg_state["url"])


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A libpq URL to a fresh, empty schema of the test server, dropped afterwards."""
    import psycopg

    server = pg_server()
    schema = f"dk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in server else "?"
    try:
        # No wait for the WAL flush at each commit: a test database need not survive a crash
        # (the store commits once per batch; on a shared disk the fsyncs dominate the tests).
        yield f"{server}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def pg_url():
    """A libpq URL to a fresh, empty schema of the test server, dropped afterwards."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    return request.param


@pytest.fixture
def db_target(engine, tmp_path, request):
    """Where a test's database lives, on each engine: a SQLite file, or a PostgreSQL URL
    (a schema of its own, with the tables of a new store and nothing in them)."""
    if engine == "sqlite":
        yield str(tmp_path / "test.db")
        return
    url = _pg_emptied.pop() if _pg_emptied else request.getfixturevalue("pg_pooled")
    yield url
    if _empty_again(url):
        _pg_emptied.append(url)


@pytest.fixture
def store(engine, request):
    """An empty store on each engine: SQLite in memory, PostgreSQL in a schema of its own."""
    if engine == "sqlite":
        s = Store.memory()
        yield s
        s.close()
        return
    url = _pg_emptied.pop() if _pg_emptied else request.getfixturevalue("pg_pooled")
    s = Store(url)
    yield s
    s.close()
    if _empty_again(url):
        _pg_emptied.append(url)


# Migrating a new PostgreSQL schema costs about half a second, and hundreds of tests want an
# empty store: a schema a test is done with is emptied (rows deleted, sequences restarted, the
# migrations it recorded kept) and handed to the next. One that no longer has exactly the
# tables and migrations of a new store is dropped instead.
_pg_emptied: list[str] = []
_pg_made: list[tuple[str, str]] = []  # (server, schema) of every pooled schema, dropped at exit


@pytest.fixture
def pg_pooled():
    """A new schema for the ``store`` fixture's pool (dropped at the end of the run)."""
    import psycopg

    server = pg_server()
    schema = f"dk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    _pg_made.append((server, schema))
    sep = "&" if "?" in server else "?"
    # As pg_schema: no wait for the WAL flush at each commit (a test schema need not survive
    # a crash, and on a shared disk the fsyncs dominate the tests).
    return f"{server}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


def _empty_again(url: str) -> bool:
    import psycopg

    from denialkit.store import SCHEMA_VERSION
    from denialkit.store.schema import MIGRATIONS

    schema = url.split("search_path%3D", 1)[1].split("%20", 1)[0]
    try:
        with psycopg.connect(url) as conn:  # one transaction, committed on leaving
            # pg_catalog, not information_schema (whose views are slow, and leave out the
            # sequences behind identity columns, which every id here is): one round trip.
            tables, sequences, applied = conn.execute(
                "SELECT (SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_tables "
                "WHERE schemaname = %s), (SELECT array_agg(sequencename::text) FROM "
                "pg_sequences WHERE schemaname = %s), (SELECT count(*) FROM migrations)",
                (schema, schema),
            ).fetchone()
            if _pg_tables.setdefault("new", tables) != tables or applied != len(MIGRATIONS):
                return False
            # DELETE, not TRUNCATE: the tables hold a test's worth of rows, and TRUNCATE makes
            # new files for every table (slower than deleting a few rows). One statement list,
            # one round trip: our own table and sequence names.
            deletes = [f'DELETE FROM "{t}"' for t in tables if t != "migrations"]  # noqa: S608
            # setval, not ALTER SEQUENCE ... RESTART: no catalog change, no lock.
            restarts = [f"SELECT setval('\"{q}\"', 1, false)" for q in sequences or ()]
            conn.execute("; ".join(["SET CONSTRAINTS ALL DEFERRED", *deletes, *restarts]))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s)",
                (str(SCHEMA_VERSION),),
            )
        return True
    except Exception:  # anything odd: not reused, dropped at exit
        return False


_pg_tables: dict[str, list[str]] = {}


def pytest_sessionfinish(session, exitstatus):
    """Drop the pooled schemas (a worker that dies leaves dk_test_* schemas behind, as ever)."""
    if not _pg_made:
        return
    import psycopg

    for server, schema in _pg_made:
        try:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except Exception:  # the server went away: nothing to clean
            pass


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory):
    """The demo store (``denialkit ingest examples/`` as the README runs it) as a SQLite file,
    built once per run: ``demo_store`` copies it for each test."""
    from typer.testing import CliRunner

    from denialkit.cli import app

    where = tmp_path_factory.mktemp("demo")
    env = {
        "DENIALKIT_TODAY": "2026-11-27",
        "DENIALKIT_RULES": str(ROOT / "examples" / "rules"),
        "DENIALKIT_CONFIG": str(where / "config.yaml"),
        "DENIALKIT_CACHE": str(where / "cache"),
        "DENIALKIT_DB": None,
        "DENIALKIT_TEMPLATES": None,
        "DENIALKIT_USER": None,
    }
    ingest = ["ingest", str(ROOT / "examples"), "--db", str(where / "demo.db")]
    result = CliRunner().invoke(app, ingest, env=env)
    assert result.exit_code == 0 and "denials found" in result.stdout, result.stderr
    return where / "demo.db"


@pytest.fixture
def demo_store(engine, db_target, monkeypatch, request):
    """The demo store on each engine, with the day and rules it was made with: a copy of the
    SQLite file, or examples/ ingested into a PostgreSQL schema."""
    monkeypatch.setenv("DENIALKIT_TODAY", "2026-11-27")
    monkeypatch.setenv("DENIALKIT_RULES", str(ROOT / "examples" / "rules"))
    if engine == "sqlite":
        shutil.copyfile(request.getfixturevalue("demo_sqlite"), db_target)
        return db_target
    from typer.testing import CliRunner

    from denialkit.cli import app

    result = CliRunner().invoke(app, ["ingest", str(ROOT / "examples"), "--db", db_target])
    assert result.exit_code == 0 and "denials found" in result.stdout, result.stderr
    return db_target


@pytest.fixture
def write835(tmp_path):
    """Write builder output to a file: write835(spec_or_specs, name=..., layout=..., **kw)."""
    counter = iter(range(1, 10_000))

    def write(
        specs: RemitSpec | list[RemitSpec],
        name: str | None = None,
        layout: Layout | None = None,
        **kwargs,
    ) -> Path:
        path = tmp_path / (name or f"remit{next(counter)}.835")
        path.write_text(build_835(specs, layout, **kwargs), encoding="utf-8", newline="")
        return path

    return write


def remit_spec(trace: str = "T1", n: int = 3, first: int = 0, **kw: Any) -> RemitSpec:
    """The test remittance: ``n`` claims (numbered from ``first``) of two lines each, paid
    in part, denied in part (CO-50), with claim-level and provider adjustments."""
    return RemitSpec(
        trace=trace,
        claims=[
            ClaimSpec(
                f"PCN{i}",
                payer_claim_id=f"ICN{i}",
                lines=[
                    LineSpec(
                        "99213",
                        D("150.00"),
                        line_control=f"{i}-1",
                        allowed=D("98.10"),
                        adjustments=[Adj("CO", "45", D("51.90")), Adj("PR", "2", D("19.62"))],
                        remarks=("N130",),
                    ),
                    LineSpec(
                        "97110",
                        D("80.00"),
                        modifiers=("GP",),
                        adjustments=[Adj("CO", "50", D("80.00"))],
                    ),
                ],
                adjustments=[Adj("OA", "94", D("0.01"))],
            )
            for i in range(first, first + n)
        ],
        plb=[PLBSpec("WO", D("10.00"), "X1"), PLBSpec("L6", D("-1.25"))],
        **kw,
    )
