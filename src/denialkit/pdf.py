"""Letters as PDF: the HTML letter printed by headless Chromium (no Python dependency)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import UsageError
from .files import write_private


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
            "PDF letters need Chromium on PATH (Debian/Ubuntu: apt install chromium)",
            remedy="html",
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
