"""Linking remittance claims to the claims the practice submitted (837), and what a new
submission does to the denials it answers.

A remittance claim links to its submitted claim by payer + CLP01 = CLM01 and the date of
service (``Store.link_claims``; a CLM01 reused on another date never links). Lines link by
REF*6R when both sides carry it, else by procedure + modifiers + date + position among the
claim's lines with the same procedure, modifiers and date. A corrected or replacement claim
(CLM05-3 7/8 with REF*F8) records the claim it replaces, and closes the ``resubmit`` denials
it answers as ``resubmitted`` (a later payment of it makes them ``overturned``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .store import Store
from .vocabulary import now_iso

RESUBMIT_OPEN = ("new", "assigned", "expired")


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["procedure"] or "", row["modifiers"] or "", row["date_from"] or "")


def _with_positions(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    seen: dict[tuple[str, str, str], int] = {}
    out: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for r in rows:
        k = _key(r)
        seen[k] = seen.get(k, 0) + 1
        out[(*k, seen[k])] = r
    return out


def match_lines(
    remit: list[dict[str, Any]], submitted: list[dict[str, Any]]
) -> list[tuple[int, int]]:
    """(remittance line id, submitted line id) for one linked claim pair."""
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    by_control = {s["line_control"]: s for s in submitted if s["line_control"]}
    rest = []
    for r in remit:
        s = by_control.get(r["line_control"] or "")
        if s is not None and s["id"] not in used:
            pairs.append((r["id"], s["id"]))
            used.add(s["id"])
        else:
            rest.append(r)
    free = _with_positions([s for s in submitted if s["id"] not in used])
    for k, r in _with_positions(rest).items():
        s = free.get(k)
        if s is not None:
            pairs.append((r["id"], s["id"]))
    return pairs


def link_lines(store: Store, pairs: Sequence[tuple[int, int]]) -> int:
    if not pairs:
        return 0
    remit, sub = store.lines_for_linking(pairs)
    by_claim: dict[int, list[dict[str, Any]]] = {}
    for r in remit:
        by_claim.setdefault(r["claim_id"], []).append(r)
    by_sub: dict[int, list[dict[str, Any]]] = {}
    for s in sub:
        by_sub.setdefault(s["submitted_id"], []).append(s)
    found: list[tuple[int, int]] = []
    for cid, sid in pairs:
        found += match_lines(by_claim.get(cid, []), by_sub.get(sid, []))
    store.add_line_links(found)
    return len(found)


def link_remittances(store: Store, remittance_ids: Sequence[int] | None = None) -> int:
    """Link the remittance claims not yet linked (of these remittances: an 835 just stored)."""
    if not store.has_submitted_claims():
        return 0
    span = None
    if remittance_ids is not None:
        span = store.claim_id_range(remittance_ids)
        if span is None:
            return 0
    pairs = store.link_claims(span)
    link_lines(store, pairs)
    return len(pairs)


def link_submissions(
    store: Store, submitted: Sequence[tuple[int, int, str, str, str | None, str]]
) -> dict[str, int]:
    """After claims are submitted: link remittances that arrived first, record what each
    replacement replaces, and close the ``resubmit`` denials answered. ``submitted`` holds
    (submitted id, payer id, CLM01, REF*F8, date of service, frequency). Returns counts."""
    ids = [s[0] for s in submitted]
    pairs = store.link_claims(submitted_ids=ids)
    link_lines(store, pairs)
    resubmitted = 0
    at = now_iso()
    for sid, payer_id, pcn, original, dos, frequency in submitted:
        if frequency in ("7", "8"):
            replaced = store.replaced_claim(payer_id, original, pcn, dos, sid)
            if replaced is not None:
                store.set_replaces(sid, replaced)
        if frequency == "8":
            continue  # a void answers no denial: the claim is withdrawn, not corrected
        what = "corrected claim" if frequency == "7" else "new claim"
        for d in store.resubmitted_denials(sid, RESUBMIT_OPEN):
            store.set_status(
                d["id"],
                d["status"],
                "resubmitted",
                actor="denialkit",
                detail=f"{what} submitted (837)",
                source="837",
                at=at,
                follow_up=None,
            )
            resubmitted += 1
    return {"linked": len(pairs), "resubmitted": resubmitted}
