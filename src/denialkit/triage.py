"""Triage arithmetic: deadlines, likelihood of overturn, score and tier. Pure functions.

The formula is documented in ``rules/triage.yaml`` and the README; this module is the only
place it is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from .rules import TriageFile
from .vocabulary import Action, Tier


def blend_likelihood(prior: float, overturned: float, decided: int, prior_weight: float) -> float:
    """The rule's prior, pulled toward this payer's recorded outcomes as they accumulate."""
    if decided <= 0:
        return prior
    return (prior * prior_weight + overturned) / (prior_weight + decided)


@dataclass(frozen=True)
class Score:
    score: float
    tier: str
    value: float
    likelihood: float
    urgency: float
    strategic: float
    pattern_count: int

    def breakdown(self) -> dict[str, float | int | str]:
        return {
            "value": round(self.value, 4),
            "likelihood": round(self.likelihood, 4),
            "urgency": round(self.urgency, 4),
            "strategic": round(self.strategic, 4),
            "pattern_count": self.pattern_count,
            "score": round(self.score, 4),
            "tier": self.tier,
        }


def score(
    amount: Decimal,
    likelihood: float,
    days_left: int | None,
    pattern_count: int,
    policy: TriageFile,
    action: str = "appeal",
) -> Score:
    """Score (0-1) and tier. Dollars dominate the tier (see ``rules/triage.yaml``):

    - no appeal rights or the patient's to pay (action none, bill_patient): low;
    - ``tiers.high_amount`` or more at risk: high;
    - at least ``tiers.high_min_amount`` and a score of ``tiers.high`` or more: high;
    - under ``tiers.low_amount``, or a score under ``tiers.standard``: low, unless part of a
      recurring pattern or within ``urgent_days`` of the deadline;
    - otherwise standard. A recurring pattern lifts the tier to at least ``strategic.min_tier``.
    """
    dollars = max(float(amount), 0.0)
    value = min(1.0, math.log10(1 + dollars) / math.log10(1 + policy.value_cap))
    if days_left is None:  # nothing to file by (bill the patient, review): no clock
        urgency = 0.0
    elif days_left <= policy.urgent_days:
        urgency = 1.0
    elif days_left >= policy.horizon_days:
        urgency = 0.0
    else:
        span = policy.horizon_days - policy.urgent_days
        urgency = 1.0 - (days_left - policy.urgent_days) / span
    strategic = min(1.0, pattern_count / policy.strategic.min_count)
    w = policy.weights
    total_weight = (w.value + w.likelihood + w.urgency + w.strategic) or 1.0
    s = (
        w.value * value + w.likelihood * likelihood + w.urgency * urgency + w.strategic * strategic
    ) / total_weight
    t = policy.tiers
    recurring = pattern_count >= policy.strategic.min_count
    urgent = days_left is not None and days_left <= policy.urgent_days
    if action in Action.NOTHING_TO_APPEAL:
        tier = Tier.LOW
    elif dollars >= t.high_amount or (dollars >= t.high_min_amount and s >= t.high):
        tier = Tier.HIGH
    elif (dollars < t.low_amount or s < t.standard) and not (recurring or urgent):
        tier = Tier.LOW
    else:
        tier = Tier.STANDARD
    if recurring and action not in Action.NOTHING_TO_APPEAL:
        tier = Tier.at_least(tier, policy.strategic.min_tier)
    return Score(s, tier, value, likelihood, urgency, strategic, pattern_count)
