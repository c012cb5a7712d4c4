"""Moving a whole store to another database (an office moving up from its SQLite file to the
team's PostgreSQL): every table copied in one transaction on the target, then counted and
totalled on both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..claims837_store import CLAIM_TABLES, CLAIM_TABLES_WITH_IDS
from ..errors import StoreError
from .schema import _TABLES

if TYPE_CHECKING:
    from .core import Store

BATCH_ROWS = 5000

# What must add up to the cent on both sides after a move.
MONEY = {
    "remittances": ("payment_cents", "total_charge_cents", "total_paid_cents", "plb_total_cents"),
    "claims": ("charge_cents", "paid_cents", "patient_resp_cents"),
    "service_lines": ("charge_cents", "paid_cents", "allowed_cents"),
    "adjustments": ("amount_cents",),
    "provider_adjustments": ("amount_cents",),
    "denials": ("amount_cents", "recovered_cents", "ev_cents"),
    "submitted_claims": ("charge_cents",),
    "submitted_lines": ("charge_cents",),
}


def _tables() -> list[str]:
    return [t for t in _TABLES if t != "meta"] + list(CLAIM_TABLES)


def _has_ids(table: str) -> bool:
    return _TABLES.get(table, {}).get("pk") == "id" or table in CLAIM_TABLES_WITH_IDS


def figures(store: Store) -> dict[str, Any]:
    """Rows per table and money totals (cents) per column: what a move must keep."""
    out: dict[str, Any] = {}
    for table in _tables():
        out[f"{table}.rows"] = store.count(table)
    for table, columns in MONEY.items():
        sums = ", ".join(f"COALESCE(SUM([{c}]), 0)" for c in columns)
        row = store.conn.execute(f"SELECT {sums} FROM [{table}]").fetchone()  # noqa: S608
        for c, v in zip(columns, row, strict=True):
            out[f"{table}.{c}"] = int(v)
    return out


def copy_store(source: Store, target: Store) -> dict[str, Any]:
    """Copy every row of ``source`` into ``target`` (which must hold none yet), in one
    transaction on the target, and verify: returns ``figures`` (equal on both sides) or
    raises ``StoreError`` (nothing is kept on the target)."""
    if target.count("files") or target.count("denials") or target.count("claims"):
        raise StoreError(
            f"{target.url or 'the target'} already holds a denialkit store; migrate only "
            "into an empty database (nothing copied)"
        )
    expected = figures(source)
    with target.transaction():
        for table in _tables():
            cur = source.conn.execute(f"SELECT * FROM [{table}]")  # noqa: S608 - names are ours
            columns = [c[0] for c in cur.description]
            while rows := cur.fetchmany(BATCH_ROWS):
                target.dialect.bulk_insert(target.conn, table, columns, [tuple(r) for r in rows])
                target.grew(len(rows))  # a large copy is settled (vacuumed) once committed
            if _has_ids(table):
                target.dialect.ids_follow(target.conn, table)
        got = figures(target)
        if got != expected:
            differ = sorted(k for k in expected if expected[k] != got.get(k))
            raise StoreError(f"the copy does not match the source ({', '.join(differ)}); "
                             "nothing kept")  # fmt: skip
    return got
