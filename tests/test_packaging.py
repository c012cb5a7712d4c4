"""The wheel ships rules/ and templates/: build it, install it in a fresh venv, use both.

Top-level ``rules/`` and ``templates/`` are outside the package, so a wheel without hatch's
force-include would install a denialkit that cannot categorize or write letters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow  # builds a wheel and installs it in a new venv

pytest.importorskip("hatchling")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp / "dist").glob("denialkit-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from the test environment (no network needed); a .pth line adds
    # that directory to sys.path without running its .pth files, so the editable checkout
    # stays invisible and only the wheel provides denialkit.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            site,
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return wheel, python, tmp


def test_wheel_contains_rules_and_templates(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "denialkit/_data/rules/carc.yaml" in names
    assert any(n.startswith("denialkit/_data/templates/") for n in names)


def test_installed_wheel_runs_commands_that_need_rules_and_templates(installed):
    _, python, tmp = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DENIALKIT", "PYTHON"))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), *args], cwd=tmp, env=env, capture_output=True, text=True
        )

    where = run("-c", "import denialkit.settings as s; print(s.packaged_rules_dir())").stdout
    assert "site-packages" in where and "_data" in where
    rules = run("-m", "denialkit", "rules", "check")
    assert rules.returncode == 0, rules.stderr
    templates = run("-m", "denialkit", "templates", "check")
    assert templates.returncode == 0, templates.stderr
    assert re.search(r"(\d+) of \1 templates render", " ".join(templates.stderr.split()))
    # Reports never create a database: make an empty one as ingest would.
    made = run("-c", f"from denialkit import Store; Store({str(tmp / 'empty.db')!r})")
    assert made.returncode == 0, made.stderr
    page = run("-m", "denialkit", "report", "summary", "--format", "html",
               "--db", str(tmp / "empty.db"))  # fmt: skip
    assert page.returncode == 0, page.stderr
    # An empty store: the page is whole, and its charts say there is nothing to draw.
    assert "<h1>Denial management: summary</h1>" in page.stdout
    assert "No denials in this period." in page.stdout
