"""The words a command's options accept, and the check that turns a typed value into one.

Statuses, tiers, categories, actions and sort orders, with the abbreviations the queue table
prints (``admin``, ``tech``, ``clin``, ``uncat``) accepted wherever a category is asked for: a
biller types what the table shows. A word that is not one of them is a usage error listing
the ones that are, never an empty result. (``tests/test_choices.py`` checks these lists against
the rules and the lifecycle, which define the words.)
"""

from __future__ import annotations

from .errors import UsageError

# 'upheld' is open: upheld at one level, the next level's deadline runs ('exhausted' when
# there is no next level).
OPEN_STATUSES = ("new", "assigned", "appeal_drafted", "appealed", "upheld")
STATUSES = (
    *OPEN_STATUSES,
    "overturned",
    "partially_overturned",
    "exhausted",
    "written_off",
    "expired",
    "reversed",
    "paid_by_other_payer",
    "resubmitted",
)
STATUS_GROUPS = ("open", "all")
TIERS = ("high", "standard", "low")
CATEGORIES = ("administrative", "technical", "clinical", "uncategorized")
CATEGORY_SHORT = {
    "administrative": "admin",
    "technical": "tech",
    "clinical": "clin",
    "uncategorized": "uncat",
}
# The next step for a denial; each has its own deadline rule (payers.yaml, ``payers.py``).
ACTIONS = ("appeal", "resubmit", "reopen", "bill_other_payer", "bill_patient", "review", "none")
# What each action asks of the biller (see rules.Action for when each applies).
ACTION_TEXT = {
    "appeal": "appeal",
    "resubmit": "correct and resubmit the claim (not an appeal)",
    "reopen": "ask for a reopening (clerical error), not an appeal",
    "bill_other_payer": "bill the payer responsible (coordination of benefits)",
    "bill_patient": "the patient's responsibility: bill the patient",
    "review": "needs a look: nothing allowed, nothing paid",
    "none": "no appeal rights: write off, or look for an exception",
}
# The queue's orders: the default (tier, then deadline, then expected value) is "deadline".
SORTS = ("deadline", "amount", "score", "received")


def _pick(value: str, words: tuple[str, ...], what: str, aliases: dict[str, str] | None = None):
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
    return None if value is None else _pick(value, CATEGORIES, "category", CATEGORY_SHORT)


def tier(value: str | None) -> str | None:
    return None if value is None else _pick(value, TIERS, "tier")


def status(value: str | None) -> str | None:
    """``open``, ``all`` or one status (``written-off`` is read as ``written_off``)."""
    return None if value is None else _pick(value, (*STATUS_GROUPS, *STATUSES), "status")


def action(value: str | None) -> str | None:
    """One action, or ``all`` (the default queue leaves out ``bill_patient``)."""
    return None if value is None else _pick(value, (*ACTIONS, "all"), "action")


def sort(value: str | None) -> str | None:
    return None if value is None else _pick(value, SORTS, "sort order")
