"""The words denialkit is built from, each defined once: statuses and the moves between them,
tiers and their order, categories, actions and what each asks of the biller, the CAS group
codes, and how money and times are written.

This is the bottom layer (it imports nothing from denialkit): the lifecycle decides moves from
``Status.MOVES``, the store builds its ``IN (...)`` lists from ``Status.OPEN`` and its kin, the
rules validate against ``Category`` and ``GROUPS``, and the CLI offers these words as its
options' choices (``choices.py``). A new status, tier or group is added here and nowhere else.
The values are plain ``str`` (not ``enum``), so they bind to SQL, JSON and YAML as they are.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Final


class Status:
    """A denial's status, the sets the queue and reports ask about, and the legal moves."""

    NEW: Final = "new"
    ASSIGNED: Final = "assigned"
    APPEAL_DRAFTED: Final = "appeal_drafted"
    APPEALED: Final = "appealed"
    # Upheld at one level, the next level's deadline runs ('exhausted' when there is no next
    # level), so 'upheld' is open.
    UPHELD: Final = "upheld"
    OVERTURNED: Final = "overturned"
    PARTIALLY_OVERTURNED: Final = "partially_overturned"
    EXHAUSTED: Final = "exhausted"
    WRITTEN_OFF: Final = "written_off"
    EXPIRED: Final = "expired"
    REVERSED: Final = "reversed"
    PAID_BY_OTHER_PAYER: Final = "paid_by_other_payer"
    RESUBMITTED: Final = "resubmitted"

    # Work still to do (the default queue).
    OPEN: Final = (NEW, ASSIGNED, APPEAL_DRAFTED, APPEALED, UPHELD)
    ALL: Final = (
        *OPEN,
        OVERTURNED,
        PARTIALLY_OVERTURNED,
        EXHAUSTED,
        WRITTEN_OFF,
        EXPIRED,
        REVERSED,
        PAID_BY_OTHER_PAYER,
        RESUBMITTED,
    )
    # Open with nothing filed yet: these expire when the deadline passes.
    WAITING: Final = (NEW, ASSIGNED, APPEAL_DRAFTED, UPHELD)
    # A payer answered an appeal (the overturn rate's denominator).
    DECIDED: Final = (OVERTURNED, PARTIALLY_OVERTURNED, UPHELD, EXHAUSTED)
    # An appeal won, in whole or in part (the overturn rate's numerator).
    WON: Final = (OVERTURNED, PARTIALLY_OVERTURNED)
    # What an appeal can come back as (``lifecycle.outcome``).
    OUTCOMES: Final = (OVERTURNED, PARTIALLY_OVERTURNED, UPHELD)
    # Where a letter can be drafted (its status becomes 'appeal_drafted').
    DRAFTABLE: Final = (NEW, ASSIGNED, UPHELD)
    # Statuses a later payment can resolve: money that arrives is recovered whatever the
    # paperwork said (an expired or written-off denial paid on reprocessing is still revenue
    # recovered). Everything but 'overturned' and 'paid_by_other_payer'.
    PAYABLE: Final = (
        NEW,
        ASSIGNED,
        APPEAL_DRAFTED,
        APPEALED,
        UPHELD,
        EXHAUSTED,
        PARTIALLY_OVERTURNED,
        EXPIRED,
        WRITTEN_OFF,
        REVERSED,
        RESUBMITTED,
    )

    # What staff can move a denial to, from each status: {status: {new status: the command
    # that makes the move}}. A remittance that pays the claim can additionally overturn it
    # from any PAYABLE status.
    MOVES: Final[dict[str, dict[str, str]]] = {
        NEW: {
            ASSIGNED: "assign",
            RESUBMITTED: "ingest (the corrected claim's 837)",
            APPEAL_DRAFTED: "appeal",
            APPEALED: "submit",
            WRITTEN_OFF: "writeoff",
            EXPIRED: "retriage",
        },
        ASSIGNED: {
            APPEAL_DRAFTED: "appeal",
            RESUBMITTED: "ingest (the corrected claim's 837)",
            APPEALED: "submit",
            WRITTEN_OFF: "writeoff",
            EXPIRED: "retriage",
        },
        APPEAL_DRAFTED: {APPEALED: "submit", WRITTEN_OFF: "writeoff", EXPIRED: "retriage"},
        APPEALED: {
            OVERTURNED: "outcome --overturned",
            PARTIALLY_OVERTURNED: "outcome --partial",
            UPHELD: "outcome --upheld",
            EXHAUSTED: "outcome --upheld (at the last level)",
            WRITTEN_OFF: "writeoff",
        },
        # Upheld at one level: the next level is open work with its own deadline.
        UPHELD: {
            APPEAL_DRAFTED: "appeal",
            APPEALED: "submit",
            WRITTEN_OFF: "writeoff",
            EXPIRED: "retriage",
        },
        PARTIALLY_OVERTURNED: {APPEALED: "submit", WRITTEN_OFF: "writeoff"},
        # A late appeal with good cause (Medicare 42 CFR 405.942(b)), or give up.
        EXPIRED: {
            APPEALED: "submit",
            WRITTEN_OFF: "writeoff",
            RESUBMITTED: "ingest (the corrected claim's 837)",
        },
        # Upheld at the last level: nothing left to file.
        EXHAUSTED: {WRITTEN_OFF: "writeoff"},
        # The corrected or new claim went out (837 intake); its payment makes it overturned.
        RESUBMITTED: {OVERTURNED: "ingest (the corrected claim paid)", WRITTEN_OFF: "writeoff"},
        OVERTURNED: {},
        WRITTEN_OFF: {},
        REVERSED: {},
        # Another payer paid (coordination of benefits): resolved, with the amount.
        PAID_BY_OTHER_PAYER: {},
    }
    # What holding a denial does to its status (the store carries it out): taking or being
    # given one nobody has worked on makes it 'assigned'; giving an untouched one back makes it
    # 'new' again. Every other status stays as it is.
    ON_ASSIGN: Final[dict[str, str]] = {NEW: ASSIGNED}
    ON_RELEASE: Final[dict[str, str]] = {ASSIGNED: NEW}
    # The moves denialkit makes by itself: a deadline passed with nothing filed, and a payer's
    # reversal (CLP02=22) withdrawing the adjudication that denied the claim.
    ON_DEADLINE: Final[dict[str, str]] = dict.fromkeys(WAITING, EXPIRED)
    ON_REVERSAL: Final[dict[str, str]] = dict.fromkeys(OPEN, REVERSED)


class Tier:
    """How urgent a denial is, most urgent first."""

    HIGH: Final = "high"
    STANDARD: Final = "standard"
    LOW: Final = "low"
    ALL: Final = (HIGH, STANDARD, LOW)
    # The queue's sort key (stored as denials.tier_order): high first.
    ORDER: Final[dict[str, int]] = {t: i for i, t in enumerate(ALL)}

    @staticmethod
    def at_least(tier: str, floor: str) -> str:
        """``tier``, lifted to ``floor`` if it is less urgent."""
        return floor if Tier.ORDER[tier] > Tier.ORDER[floor] else tier


class Category:
    """What kind of denial it is (rules/carc.yaml), and the short words the queue prints."""

    ADMINISTRATIVE: Final = "administrative"
    TECHNICAL: Final = "technical"
    CLINICAL: Final = "clinical"
    UNCATEGORIZED: Final = "uncategorized"
    DENIALS: Final = (ADMINISTRATIVE, TECHNICAL, CLINICAL)
    ALL: Final = (*DENIALS, UNCATEGORIZED)
    # Adjustments that are not denials (a CARC rule may say so).
    NON_DENIAL: Final = ("contractual", "patient_responsibility", "other")
    SHORT: Final[dict[str, str]] = {
        ADMINISTRATIVE: "admin",
        TECHNICAL: "tech",
        CLINICAL: "clin",
        UNCATEGORIZED: "uncat",
    }


class Action:
    """The next step for a denial; each has its own deadline rule (payers.yaml, ``payers.py``)."""

    APPEAL: Final = "appeal"
    RESUBMIT: Final = "resubmit"
    REOPEN: Final = "reopen"
    BILL_OTHER_PAYER: Final = "bill_other_payer"
    BILL_PATIENT: Final = "bill_patient"
    REVIEW: Final = "review"
    NONE: Final = "none"
    ALL: Final = (APPEAL, RESUBMIT, REOPEN, BILL_OTHER_PAYER, BILL_PATIENT, REVIEW, NONE)
    # What each asks of the biller (see rules.Action for when each applies).
    TEXT: Final[dict[str, str]] = {
        APPEAL: "appeal",
        RESUBMIT: "correct and resubmit the claim (not an appeal)",
        REOPEN: "ask for a reopening (clerical error), not an appeal",
        BILL_OTHER_PAYER: "bill the payer responsible (coordination of benefits)",
        BILL_PATIENT: "the patient's responsibility: bill the patient",
        REVIEW: "needs a look: nothing allowed, nothing paid",
        NONE: "no appeal rights: write off, or look for an exception",
    }
    # No appeal to file: these are always low tier.
    NOTHING_TO_APPEAL: Final = (NONE, BILL_PATIENT)


# The CAS group codes (X12 835 CAS01), in the order reports list them, with their names.
GROUPS: Final[dict[str, str]] = {
    "CO": "Contractual Obligation",
    "PR": "Patient Responsibility",
    "OA": "Other Adjustment",
    "PI": "Payer Initiated Reduction",
    "CR": "Correction and Reversal",
}
GROUP_CODES: Final = tuple(GROUPS)


def money(amount: Decimal) -> str:
    """An exact amount as the JSON and tables write it: ``1234.50``."""
    return f"{amount:.2f}"


def money_cents(cents: int | None) -> str:
    """Integer cents as ``money`` writes them; no amount is ``0.00``."""
    return money(Decimal(cents or 0) / 100)


def money_cents_or_none(cents: int | None) -> str | None:
    """Integer cents as ``money`` writes them; no amount stays None (a JSON null)."""
    return None if cents is None else money(Decimal(cents) / 100)


def money_grouped(amount: Decimal) -> str:
    """An amount as a letter writes it, with thousands separators: ``1,234.50``."""
    return f"{amount:,.2f}"


def now_iso() -> str:
    """Now, in UTC to the second, as events and logs record it."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
