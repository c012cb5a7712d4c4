"""Who works a denial: routing to a team member, assigning, taking the next one, giving one
back. The status moves that holding a denial makes are ``Status.ON_ASSIGN`` and
``Status.ON_RELEASE``; the store carries them out."""

from __future__ import annotations

from collections.abc import Sequence

from . import choices
from .errors import NotFound, UsageError
from .rules import Rules
from .store import Store
from .vocabulary import Status, now_iso
from .worklist import QUEUE_ACTIONS


def route(
    store: Store,
    rules: Rules,
    ids: Sequence[int] | None = None,
    *,
    actor: str = "denialkit",
    source: str = "route",
) -> int:
    """Assign unassigned open denials to the team member with the fewest open denials."""
    if not any(rules.routing.teams.values()):
        return 0  # nobody to assign to: denials stay with their team, unassigned
    counts = store.open_counts()
    assigned = 0
    for d in store.unassigned_open(ids):
        team = rules.team_for(d["category"])
        members = rules.routing.teams.get(team or "", [])
        if not members:
            continue
        member = min(members, key=lambda m: (counts.get(m, 0), members.index(m)))
        store.set_assignment(d["id"], team, member, actor, source, now_iso(), Status.ON_ASSIGN)
        counts[member] = counts.get(member, 0) + 1
        assigned += 1
    return assigned


def assign(store: Store, ids: Sequence[int], to: str, actor: str) -> int:
    missing = sorted(set(ids) - set(store.denial_ids(list(ids))))
    if missing:
        raise NotFound(f"no denial with id {', '.join(map(str, missing))}")
    with store.transaction():
        for i in ids:
            store.set_assignment(i, None, to, actor, "assign", now_iso(), Status.ON_ASSIGN)
    return len(ids)


def take_next(
    store: Store,
    who: str,
    *,
    team: str | None = None,
    category: str | None = None,
    practice: str | None = None,
) -> int | None:
    """Take the most urgent denial with nothing filed yet that nobody else holds (or that is
    already ``who``'s), assigned to ``who`` with its event; None when there is none. Two
    people taking at once never get the same denial. The patient's responsibility
    (bill_patient) is not taken: it is not a biller's work item."""
    if not who.strip():
        raise UsageError("who takes it?", remedy="who")
    return store.take_next(
        who,
        statuses=Status.WAITING,
        at=now_iso(),
        moves=Status.ON_ASSIGN,
        team=team,
        category=choices.category(category),
        practice=practice,
        action=QUEUE_ACTIONS,
    )


def release(store: Store, denial_id: int, who: str) -> str | None:
    """Give a denial back to the queue (nobody holds it; ``assigned`` becomes ``new``).
    Returns who held it; None when nobody did."""
    return store.release(denial_id, who, now_iso(), Status.ON_RELEASE)
