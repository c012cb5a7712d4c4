"""Where things are: database, rules and templates, from flag, environment, or default."""

from __future__ import annotations

import getpass
import os
from importlib import resources
from pathlib import Path

DB_ENV = "DENIALKIT_DB"
DEFAULT_DB = "denialkit.db"
RULES_ENV = "DENIALKIT_RULES"
TEMPLATES_ENV = "DENIALKIT_TEMPLATES"
USER_ENV = "DENIALKIT_USER"


def db_path(flag: str | os.PathLike[str] | None = None) -> Path:
    """``--db``, else ``$DENIALKIT_DB``, else ``./denialkit.db``."""
    if flag:
        return Path(flag)
    env = os.environ.get(DB_ENV)
    return Path(env) if env else Path(DEFAULT_DB)


def _packaged(name: str) -> Path:
    """A directory shipped with denialkit (``rules`` or ``templates``).

    In a wheel they live in ``denialkit/_data`` (hatch force-include); in a source checkout
    (editable install, tests) they are the top-level folders users copy and edit.
    """
    data = resources.files("denialkit").joinpath("_data", name)
    if data.is_dir():
        return Path(str(data))
    source = Path(__file__).resolve().parents[2] / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"denialkit's packaged {name}/ directory is missing")


def packaged_rules_dir() -> Path:
    return _packaged("rules")


def packaged_templates_dir() -> Path:
    return _packaged("templates")


def user_rules_dir(flag: str | os.PathLike[str] | None = None) -> Path | None:
    """The user's rules directory (``--rules``, else ``$DENIALKIT_RULES``), if any."""
    value = flag or os.environ.get(RULES_ENV)
    return Path(value) if value else None


def user_templates_dir(flag: str | os.PathLike[str] | None = None) -> Path | None:
    value = flag or os.environ.get(TEMPLATES_ENV)
    return Path(value) if value else None


def actor(flag: str | None = None) -> str:
    """Who is making a change: ``--actor``, else ``$DENIALKIT_USER``, else the OS user."""
    if flag:
        return flag
    env = os.environ.get(USER_ENV)
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"


TODAY_ENV = "DENIALKIT_TODAY"


def today():
    """Today's date, or ``$DENIALKIT_TODAY`` (ISO) to replay a day (demos, tests)."""
    import datetime as dt

    value = os.environ.get(TODAY_ENV)
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            from .errors import UsageError

            raise UsageError(f"{TODAY_ENV}={value!r} is not an ISO date (YYYY-MM-DD)") from None
    return dt.date.today()


CONFIG_ENV = "DENIALKIT_CONFIG"


def config_path(flag: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$DENIALKIT_CONFIG``, else ``$XDG_CONFIG_HOME/denialkit/config.yaml``
    (``~/.config/denialkit/config.yaml``)."""
    if flag:
        return Path(flag)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "denialkit" / "config.yaml"
