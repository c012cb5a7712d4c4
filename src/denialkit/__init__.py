"""denialkit: claim-denial management for healthcare billing.

Library first; the ``denialkit`` command is a thin layer over these::

    from denialkit import Store, parse_835, ingest_paths
    store = Store("denials.db")
    report = ingest_paths(store, ["examples/"])

The modules are layers, imports pointing down: README "Architecture" describes them and
``tests/test_architecture.py`` holds their order.

The names below are imported on first use (PEP 562), so that ``import denialkit`` (and every
``denialkit`` command) pays only for the modules it touches: jinja2 and the letters, for
example, load only for commands that write letters.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_NAMES = {
    "DenialkitError": "errors",
    "X12Error": "errors",
    "EraStream": "era",
    "Remittance": "era",
    "parse_835": "era",
    "parse_837": "edi837",
    "scrub_file": "scrub",
    "IngestReport": "intake",
    "ingest_file": "intake",
    "ingest_paths": "intake",
    "Rules": "rules",
    "load_rules": "rules",
    "Store": "store",
}
_MODULES = (
    "appeals",
    "assignment",
    "detection",
    "letters",
    "lifecycle",
    "reports",
    "views",
    "worklist",
)

__all__ = [
    "DenialkitError",
    "EraStream",
    "IngestReport",
    "Remittance",
    "Rules",
    "Store",
    "X12Error",
    "appeals",
    "assignment",
    "detection",
    "ingest_file",
    "ingest_paths",
    "letters",
    "lifecycle",
    "load_rules",
    "parse_835",
    "parse_837",
    "reports",
    "scrub_file",
    "views",
    "worklist",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'denialkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    from . import appeals, assignment, detection, letters, lifecycle, reports, views, worklist
    from .edi837 import parse_837
    from .era import EraStream, Remittance, parse_835
    from .errors import DenialkitError, X12Error
    from .intake import IngestReport, ingest_file, ingest_paths
    from .rules import Rules, load_rules
    from .scrub import scrub_file
    from .store import Store
