"""The README's Python example runs as written (against a temporary database)."""

from __future__ import annotations

import re

from .conftest import ROOT


def test_readme_python_loop_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    block = re.search(r"The whole loop, as the commands run it:\n\n```python\n(.*?)```", text, re.S)
    code = block.group(1).replace('Store("loop.db")', f'Store(r"{tmp_path / "loop.db"}")')
    exec(compile(code, "README.md", "exec"), {})  # our own README
    out = capsys.readouterr().out
    assert "Dear Appeals Reviewer" in out and "'recovered'" in out
