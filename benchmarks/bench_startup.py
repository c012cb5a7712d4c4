"""Startup benchmark: how long everyday commands take, end to end, on the demo database.

    python benchmarks/bench_startup.py [--runs 5]

Builds the README's demo database (the bundled examples, ingested with examples/rules) in a
temporary folder, runs each command once to warm the caches (the validated-rules cache, the
OS file cache), then runs it ``--runs`` times in a fresh process and reports the best time
(the wall clock from spawning ``denialkit`` to its exit). The target for ``denialkit --help``
and ``denialkit queue`` is 0.35 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.35

COMMANDS = [
    ("denialkit --help", ["--help"], True),
    ("denialkit queue", ["queue"], True),
    ("denialkit find SMITH", ["find", "SMITH"], False),
    ("denialkit queue --format json", ["queue", "--format", "json"], False),
    ("denialkit show 2 (loads the rules)", ["show", "2"], False),
    ("denialkit --version", ["--version"], False),
]


def denialkit() -> list[str]:
    """The installed console script beside this Python (what a user runs), else -m."""
    script = Path(sys.executable).with_name("denialkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "denialkit"]


def best_of(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="denialkit-startup-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DENIALKIT")}
        env.update(
            DENIALKIT_DB=str(work / "demo.db"),
            DENIALKIT_RULES=str(ROOT / "examples" / "rules"),
            DENIALKIT_CONFIG=str(work / "config.yaml"),
            DENIALKIT_CACHE=str(work / "cache"),
            DENIALKIT_TODAY="2026-11-27",
            COLUMNS="100",
        )
        subprocess.run(
            [*denialkit(), "ingest", str(ROOT / "examples")],
            env=env, cwd=work, capture_output=True, check=True,
        )  # fmt: skip
        print(f"{'command':<40} {'best of ' + str(args.runs):>10}  target")
        failed = False
        for label, argv, targeted in COMMANDS:
            t = best_of([*denialkit(), *argv], env, work, args.runs)
            verdict = ""
            if targeted:
                verdict = "ok" if t < TARGET else "SLOW"
                failed |= t >= TARGET
            print(f"{label:<40} {t:>9.3f}s  {f'< {TARGET} s ' + verdict if targeted else ''}")
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
