from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from denialkit.store import Store
from denialkit.synthetic import Layout, RemitSpec, build_835

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
        yield f"{server}{sep}options=-csearch_path%3D{schema}"
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
    (a schema of its own)."""
    if engine == "sqlite":
        return str(tmp_path / "test.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(engine, request):
    """An empty store on each engine: SQLite in memory, PostgreSQL in a schema of its own."""
    s = Store.memory() if engine == "sqlite" else Store(request.getfixturevalue("pg_url"))
    yield s
    s.close()


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
