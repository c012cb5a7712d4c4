"""The practice's own details for appeal letters: a small YAML (or TOML) file.

    practice:
      name: Riverside Family Medicine
      address: "12 Main St\nSpringfield, IL 62701"
      npi: "1234567893"
      tin: "12-3456789"
      phone: (555) 010-2000
      contact: Dana Reyes, Billing Manager

``denialkit config set practice.name "..."`` writes the YAML file; a ``.toml`` file with the
same keys is read too (edit it by hand). Where it lives: ``settings.config_path``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import UsageError
from .files import write_private
from .settings import config_path, safe_load


class Practice(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = ""
    address: str = ""
    npi: str = ""
    tin: str = ""
    phone: str = ""
    fax: str = ""
    email: str = ""
    contact: str = ""


class Signer(BaseModel):
    """Who signs appeal letters (42 CFR 405.944(b): the party's name; MACs want a signature)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = ""
    credentials: str = ""
    title: str = ""


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    practice: Practice = Practice()
    signer: Signer = Signer()
    # Where the database and the user's rules are, when neither the flag (--db, --rules) nor
    # the environment ($DENIALKIT_DB, $DENIALKIT_RULES) says (see settings.resolve_db).
    db: str = ""
    rules: str = ""


PATH_KEYS = ("db", "rules")
KEYS = (
    *PATH_KEYS,
    *(f"practice.{k}" for k in Practice.model_fields),
    *(f"signer.{k}" for k in Signer.model_fields),
)


def _problem(path: Path, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{path}: {where}: {first['msg']} (known keys: {', '.join(KEYS)})"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The config file's contents, or an empty config when there is no file."""
    p = config_path(path)
    if not p.exists():
        return Config()
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix == ".toml" else safe_load(text)
    except (OSError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{p}: cannot read config: {exc}") from None
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        raise UsageError(_problem(p, exc)) from None


def set_value(key: str, value: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Set one key (``db``, ``rules``, ``practice.*`` or ``signer.*``) and save; returns the
    file written.

    ``db`` and ``rules`` are stored as absolute paths: the config applies in every directory.
    An empty value removes the setting.
    """
    p = config_path(path)
    if key not in KEYS:
        raise UsageError(f"unknown config key {key!r}; known keys: {', '.join(KEYS)}")
    if p.suffix == ".toml":
        raise UsageError(f"{p} is TOML: edit it by hand (config set writes YAML files)")
    data = load_config(p).model_dump()
    if key == "db" and value.startswith(("postgresql://", "postgres://")):
        data[key] = value  # a PostgreSQL URL (keep the password out: PGPASSWORD, ~/.pgpass)
    elif key in PATH_KEYS:
        data[key] = str(Path(value).expanduser().resolve()) if value.strip() else ""
        if key == "rules" and data[key] and not Path(data[key]).is_dir():
            raise UsageError(f"rules directory {data[key]} does not exist")
    else:
        section, name = key.split(".", 1)
        data[section][name] = value.replace("\\n", "\n")
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_problem(p, exc)) from None
    # Owner-only (0600, folder 0700 when created), replaced whole: never half a config.
    kept = {k: v for k, v in data.items() if not (k in PATH_KEYS and not v)}
    write_private(p, yaml.safe_dump(kept, sort_keys=False, allow_unicode=True))
    return p
