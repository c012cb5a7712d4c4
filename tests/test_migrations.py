"""Migrations: an ordered list of named steps recorded in the database; a store written by
the last release without them (schema 4) is brought up to date on first open."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from denialkit.store import SCHEMA_VERSION, Store
from denialkit.store.schema import MIGRATIONS

# The bundled examples ingested (rules: examples/rules, today 2026-11-01) by denialkit at
# commit ff798db, the last schema without recorded migrations.
SCHEMA4 = Path(__file__).parent / "data" / "schema4.db.gz"


def _schema4(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    with gzip.open(SCHEMA4) as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def test_a_new_store_records_every_migration_in_order(store):
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'") == [
        {"value": str(SCHEMA_VERSION)}
    ]


def test_upgrade_from_schema_4(tmp_path):
    db = _schema4(tmp_path)
    with Store(db) as old:  # noqa: F841 - opening is the upgrade
        pass
    with Store(db) as store:
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert store.applied_migrations()[:2] == ["0001_tables", "0002_practices"]
        assert store.query("SELECT value FROM meta WHERE key = 'schema_version'") == [
            {"value": str(SCHEMA_VERSION)}
        ]
        # Nothing lost, and every denial knows its practice (the remittance's payee).
        assert store.totals()["claims"] == 15
        assert store.query("SELECT COUNT(*) AS n, COUNT(payee_id) AS with_payee FROM denials") == [
            {"n": 12, "with_payee": 12}
        ]
        assert store.query(
            "SELECT COUNT(*) AS n FROM denials d JOIN remittances r ON r.id = d.remittance_id "
            "WHERE r.payee_id != d.payee_id"
        ) == [{"n": 0}]
        assert len(store.queue(statuses=("new", "assigned"))) == store.queue_count(
            statuses=("new", "assigned")
        )


def test_migrations_run_once(db_target):
    db = db_target
    Store(db).close()
    with Store(db) as store:
        rows = store.query("SELECT name, applied_at FROM migrations ORDER BY name")
    with Store(db) as store:
        assert store.query("SELECT name, applied_at FROM migrations ORDER BY name") == rows


def test_migration_names_are_ordered_and_unique():
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(set(names))


def test_denials_found_at_intake_carry_their_practice(db_target):
    from denialkit.intake import ingest_paths
    from denialkit.rules import load_rules

    root = Path(__file__).resolve().parents[1]
    with Store(db_target) as store:
        ingest_paths(store, [root / "examples"], rules=load_rules(root / "examples" / "rules"))
        assert store.query(
            "SELECT COUNT(*) AS n FROM denials d JOIN remittances r ON r.id = d.remittance_id "
            "WHERE r.payee_id = d.payee_id"
        ) == [{"n": store.count("denials")}]


def _indexes(store: Store) -> set[str]:
    if store.engine == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {r[0] for r in store.conn.execute(sql)}


def test_queue_filters_index_from_the_previous_schema(db_target):
    """0006 on a store at 0005 (its index dropped, its name unrecorded): the index is made,
    the migration recorded, and the queue's counts still agree with its rows."""
    from denialkit.intake import ingest_paths
    from denialkit.rules import load_rules

    root = Path(__file__).resolve().parents[1]
    name = "idx_denials_action_status_tier_category_team_payer_id_payee_id"
    with Store(db_target) as store:
        ingest_paths(store, [root / "examples"], rules=load_rules(root / "examples" / "rules"))
        store.conn.execute(f"DROP INDEX {name}")
        store.conn.execute("DELETE FROM migrations WHERE name = '0006_queue_filters'")
        assert name not in _indexes(store)
    with Store(db_target) as store:
        assert name in _indexes(store)
        assert "0006_queue_filters" in store.applied_migrations()
        for category in ("technical", "administrative", "clinical"):
            rows = store.queue(statuses=("new", "assigned"), category=category)
            assert len(rows) == store.queue_count(statuses=("new", "assigned"), category=category)


def test_report_indexes_from_the_previous_schema(db_target):
    """0007 on a store at 0006 (its indexes dropped, its name unrecorded): the indexes are
    made, the migration recorded, and every report reads the same as before."""
    import datetime as dt

    from denialkit import reports
    from denialkit.intake import ingest_paths
    from denialkit.rules import load_rules

    root = Path(__file__).resolve().parents[1]
    rules = load_rules(root / "examples" / "rules")
    today = dt.date(2026, 11, 27)
    names = {"idx_denials_patterns", "idx_denials_claim_rates", "idx_denials_months",
             "idx_claims_rates"}  # fmt: skip
    with Store(db_target) as store:
        ingest_paths(store, [root / "examples"], rules=rules)
        expected = reports.build("summary", store, rules, today)
        for name in names:
            store.conn.execute(f"DROP INDEX {name}")
        store.conn.execute("DELETE FROM migrations WHERE name = '0007_report_indexes'")
        assert not names & _indexes(store)
        assert reports.build("summary", store, rules, today) == expected
    with Store(db_target) as store:
        assert names <= _indexes(store)
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        assert reports.build("summary", store, rules, today) == expected
