"""Where things are: database, rules and templates.

Each setting comes from the first of: the command-line flag, the environment variable, the
config file (``db`` and ``rules`` keys), the default. ``resolve_db``/``resolve_rules`` say
which one is in force (``denialkit config show`` prints it).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

DB_ENV = "DENIALKIT_DB"
DEFAULT_DB = "denialkit.db"
RULES_ENV = "DENIALKIT_RULES"
TEMPLATES_ENV = "DENIALKIT_TEMPLATES"
USER_ENV = "DENIALKIT_USER"


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, with libyaml's ``CSafeLoader`` when PyYAML has it (ten times faster
    on the packaged rules; the same safe constructors, no Python objects)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it came from (``--db``, ``$DENIALKIT_DB``, ``config``,
    ``default``)."""

    value: Path | None
    source: str


def _config_key(key: str) -> str | None:
    """One top-level key of the config file, read without validating the whole file (that is
    ``config.load_config``'s job; this runs on every command and must stay cheap)."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        from .errors import UsageError

        raise UsageError(f"{path}: cannot read config: {exc.strerror}") from None
    if path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            from .errors import UsageError

            raise UsageError(f"{path}: cannot read config: {exc}") from None
    else:
        import yaml

        try:
            data = safe_load(text)
        except yaml.YAMLError as exc:
            from .errors import UsageError

            raise UsageError(f"{path}: cannot read config: {exc}") from None
    value = data.get(key) if isinstance(data, dict) else None
    return str(value) if value else None


def _resolve(flag: str | os.PathLike[str] | None, option: str, env: str, key: str) -> Setting:
    if flag:
        return Setting(Path(flag), option)
    value = os.environ.get(env)
    if value:
        return Setting(Path(value), f"${env}")
    value = _config_key(key)
    if value:
        return Setting(Path(value).expanduser(), f"config ({config_path()})")
    return Setting(None, "default")


def is_url(value: object) -> bool:
    """A PostgreSQL database named by a libpq URL, rather than a SQLite file."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL with any password taken out: what messages and logs may show."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://..."
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = "&".join(
        q for q in parts.query.split("&") if q and not q.lower().startswith("password=")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def shown_db(value: object) -> str:
    """A database as messages may show it: a file's path, a URL without its password."""
    return redact(value) if isinstance(value, str) and is_url(value) else str(value)


def resolve_db(flag: str | os.PathLike[str] | None = None) -> Setting:
    """The database: ``--db``, else ``$DENIALKIT_DB``, else ``db`` in the config file, else
    ``./denialkit.db``. A ``postgresql://`` URL stays a string (``value``); a file a Path."""
    if is_url(flag):
        return Setting(flag, "--db")  # type: ignore[arg-type]
    if not flag:
        env = os.environ.get(DB_ENV)
        if is_url(env):
            return Setting(env, f"${DB_ENV}")  # type: ignore[arg-type]
        if not env:
            value = _config_key("db")
            if is_url(value):
                return Setting(value, f"config ({config_path()})")  # type: ignore[arg-type]
    found = _resolve(flag, "--db", DB_ENV, "db")
    return found if found.value is not None else Setting(Path(DEFAULT_DB), "default")


def resolve_rules(flag: str | os.PathLike[str] | None = None) -> Setting:
    """The user's rules directory: ``--rules``, else ``$DENIALKIT_RULES``, else ``rules`` in
    the config file, else none (the packaged rules alone)."""
    return _resolve(flag, "--rules", RULES_ENV, "rules")


def db_path(flag: str | os.PathLike[str] | None = None) -> Any:
    """``--db``, else ``$DENIALKIT_DB``, else ``db`` in config, else ``./denialkit.db``: a
    Path, or a ``postgresql://`` URL (str)."""
    path = resolve_db(flag).value
    assert path is not None
    return path


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
    """The user's rules directory (``--rules``, else ``$DENIALKIT_RULES``, else ``rules`` in
    the config file), if any."""
    return resolve_rules(flag).value


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
    except Exception:  # no passwd entry in some containers
        return "unknown"


TODAY_ENV = "DENIALKIT_TODAY"


def today() -> dt.date:
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
