"""Validated rules, cached between commands.

Reading and validating the YAML rules (about 300 CARCs with their overrides) costs a command
tens of milliseconds even with libyaml, on every run. The validated ``Rules`` are pickled in
the user's cache directory under a key made of every rules file's path, size and modification
time, and of denialkit's own version and source: editing a rule, adding a file to your rules
directory, or upgrading denialkit makes a new entry. Anything wrong with the cache (missing,
unreadable, from another Python) falls back to ``load_rules``; invalid rules are never cached.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from . import __version__
from .rules import FILES, Rules, load_rules
from .settings import packaged_rules_dir

CACHE_ENV = "DENIALKIT_CACHE"
KEEP = 8  # entries kept (one per rules directory in use, a few versions each)


def cache_dir() -> Path:
    """``$DENIALKIT_CACHE``, else ``$XDG_CACHE_HOME/denialkit`` (``~/.cache/denialkit``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "denialkit"


def _key(user_dir: Path | None) -> str:
    h = hashlib.sha256(__version__.encode())
    files = [packaged_rules_dir() / name for name in FILES]
    if user_dir is not None:
        h.update(str(user_dir.resolve()).encode())
        files += sorted(user_dir.glob("*.y*ml"))
    # The code that validates them: a changed model must not read an old pickle.
    files += [Path(__file__).with_name(n) for n in ("rules.py", "vocabulary.py")]
    for f in files:
        try:
            st = f.stat()
        except OSError:
            h.update(f"{f}:missing".encode())
            continue
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def cached_rules(user_dir: str | os.PathLike[str] | None = None) -> Rules:
    """``load_rules(user_dir)``, from the cache when nothing changed since it was stored."""
    user = Path(user_dir) if user_dir else None
    if user is not None and not user.is_dir():
        return load_rules(user)  # the error names the directory
    try:
        path = cache_dir() / f"rules-{_key(user)}.pickle"
    except OSError:
        return load_rules(user)
    try:
        with open(path, "rb") as f:
            rules = pickle.load(f)  # our own file, in the user's own cache dir
        if isinstance(rules, Rules):
            return rules
    except Exception:  # any broken cache entry: rebuild it
        pass
    rules = load_rules(user)
    _store(path, rules)
    return rules


def _store(path: Path, rules: Rules) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(rules, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        old = sorted(path.parent.glob("rules-*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in old[:-KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home: no cache, still correct
