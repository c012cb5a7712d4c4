"""The layers: ``LAYERS`` is the one list of them, bottom first (README "Architecture" says
what each band is for). A module imports only modules below it; SQL lives only in the store,
typer only in the cli, jinja2 only in letters and reports, YAML only through safe_load."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "denialkit"

LAYERS = [
    "vocabulary",
    "errors",
    "choices",
    "files",
    "x12",
    "filekinds",
    "era",
    "edi837",
    "synthetic",
    "settings",
    "config",
    "rules",
    "rulecache",
    "payers",
    "triage",
    "denials",
    "claims837_store",
    "store",
    "worklist",
    "lifecycle",
    "linking",
    "scrub",
    "assignment",
    "detection",
    "views",
    "intake",
    "letters",
    "letter_context",
    "pdf",
    "appeals",
    "reports",
    "nightly",
    "output",
    "cli",
    "__main__",
    "__init__",
]


def _modules() -> list[tuple[str, Path]]:
    """(layer, file): top-level modules, and the store package's modules as the store."""
    found = [(p.stem, p) for p in PKG.glob("*.py")]
    return found + [("store", p) for p in (PKG / "store").glob("*.py")]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    in_package = path.parent.name != PKG.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and in_package and node.level == 1:
            continue  # a sibling inside the store package
        if isinstance(node, ast.ImportFrom) and node.level == (2 if in_package else 1):
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_every_module_is_in_the_layer_list():
    assert {p.stem for p in PKG.glob("*.py")} <= set(LAYERS)


def test_imports_point_down():
    for layer, path in _modules():
        mine = LAYERS.index(layer)
        for dep in _imports(path) & set(LAYERS):
            assert LAYERS.index(dep) < mine, f"{path} imports {dep} (upward)"


def test_only_cli_imports_typer_and_only_letters_and_reports_import_jinja():
    for layer, path in _modules():
        deps = _imports(path)
        if layer != "cli":
            assert "typer" not in deps and "click" not in deps, path
        if path.stem not in ("letters", "reports") or layer == "store":
            assert "jinja2" not in deps, path


SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+TABLE)\b",
    re.IGNORECASE,
)


def test_sql_only_in_the_store():
    for layer, path in _modules():
        if layer not in ("store", "claims837_store"):
            assert not SQL.search(path.read_text()), f"SQL in {path.stem}"


def test_yaml_only_through_safe_load():
    for path in PKG.glob("*.py"):
        text = path.read_text()
        assert "yaml.load(" not in text and "yaml.unsafe_load" not in text, path.stem
