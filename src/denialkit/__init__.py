"""denialkit: claim-denial management for healthcare billing.

Library first; the ``denialkit`` command is a thin layer over these::

    from denialkit import Store, parse_835, ingest_paths
    store = Store("denials.db")
    report = ingest_paths(store, ["examples/"])
"""

from . import letters, lifecycle, reports, workflow
from .era import EraStream, Remittance, parse_835
from .errors import DenialkitError, X12Error
from .intake import IngestReport, ingest_file, ingest_paths
from .rules import Rules, load_rules
from .store import Store

__all__ = [
    "DenialkitError",
    "EraStream",
    "IngestReport",
    "Remittance",
    "Rules",
    "Store",
    "X12Error",
    "ingest_file",
    "ingest_paths",
    "letters",
    "lifecycle",
    "load_rules",
    "parse_835",
    "reports",
    "workflow",
]
__version__ = "0.1.0"
