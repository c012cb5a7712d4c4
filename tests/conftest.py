from __future__ import annotations

from pathlib import Path

import pytest

from denialkit.store import Store
from denialkit.synthetic import Layout, RemitSpec, build_835

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
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
    monkeypatch.setenv("DENIALKIT_CACHE", str(tmp_path / "cache"))  # the rules cache
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store():
    s = Store.memory()
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
