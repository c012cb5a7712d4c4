"""The words a command's options accept, and the check that turns a typed value into one.

Statuses, tiers, categories, actions and sort orders, with the abbreviations the queue table
prints (``admin``, ``tech``, ``clin``, ``uncat``) accepted wherever a category is asked for: a
biller types what the table shows. A word that is not one of them is a usage error listing
the ones that are, never an empty result. The words are defined in ``vocabulary``.
"""

from __future__ import annotations

from .errors import UsageError
from .vocabulary import Action, Category, Status, Tier

# What the status option takes besides one status.
STATUS_GROUPS = ("open", "all")
# The queue's orders: the default (tier, then deadline, then expected value) is "deadline".
SORTS = ("deadline", "amount", "score", "received")


def _pick(
    value: str, words: tuple[str, ...], what: str, aliases: dict[str, str] | None = None
) -> str:
    text = value.strip().lower().replace("-", "_")
    if text in words:
        return text
    for word, short in (aliases or {}).items():
        if text == short:
            return word
    shown = ", ".join(f"{w} ({aliases[w]})" if aliases and w in aliases else w for w in words)
    raise UsageError(f"unknown {what} {value!r}: one of {shown}")


def category(value: str | None) -> str | None:
    """``administrative``/``admin``, ``technical``/``tech``, ``clinical``/``clin`` or
    ``uncategorized``/``uncat``."""
    return None if value is None else _pick(value, Category.ALL, "category", Category.SHORT)


def tier(value: str | None) -> str | None:
    return None if value is None else _pick(value, Tier.ALL, "tier")


def status(value: str | None) -> str | None:
    """``open``, ``all`` or one status (``written-off`` is read as ``written_off``)."""
    return None if value is None else _pick(value, (*STATUS_GROUPS, *Status.ALL), "status")


def action(value: str | None) -> str | None:
    """One action, or ``all`` (the default queue leaves out ``bill_patient``)."""
    return None if value is None else _pick(value, (*Action.ALL, "all"), "action")


def sort(value: str | None) -> str | None:
    return None if value is None else _pick(value, SORTS, "sort order")
