"""The store: the only package that speaks SQL.

Money is stored as integer cents and converted at this boundary; quantities and other exact
numbers as decimal text; dates as ISO text. Every statement is parameterized.

A file is stored in one write transaction: whole or not at all, and two ingests started at once
take turns instead of failing.

Split by concern: ``connection`` (opening, transactions), ``schema`` (tables and migrations),
``writer`` (intake), ``denials`` (denials and events), ``queries`` (queue and detail),
``reports`` (aggregates), ``sql`` (shared words and helpers); ``core`` puts them together.
"""

from .connection import BUSY_TIMEOUT_MS
from .core import Store
from .queries import _QUEUE_ORDER, _queue_where
from .reports import ReportFilter
from .schema import SCHEMA_VERSION
from .scratch import Scratch, TxRows
from .sql import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    QUEUE_ORDER,
    WAITING_STATUSES,
    claim_key,
    from_cents,
    to_cents,
)
from .transfer import copy_store, figures
from .writer import BATCH_CLAIMS, ClaimRows, ClaimWriter

__all__ = [
    "BATCH_CLAIMS",
    "BUSY_TIMEOUT_MS",
    "DECIDED_STATUSES",
    "OPEN_STATUSES",
    "QUEUE_ORDER",
    "ReportFilter",
    "SCHEMA_VERSION",
    "WAITING_STATUSES",
    "ClaimRows",
    "ClaimWriter",
    "Scratch",
    "TxRows",
    "Store",
    "_QUEUE_ORDER",
    "_queue_where",
    "claim_key",
    "copy_store",
    "figures",
    "from_cents",
    "to_cents",
]
