"""Migrations run on a database that holds data, not only on an empty one."""

from __future__ import annotations

import sqlite3

from alembic import command

from qiantang import migrate


def _count(path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_sqlite_migrations_rebuild_a_referenced_table_without_losing_rows(snapshot_copy):
    """0028 rebuilds ew_alerts (SQLite changes a CHECK by copying the table) while cases point to its
    rows: with foreign keys enforced during the migration, the DROP failed on every populated database."""
    url = f"sqlite:///{snapshot_copy}"
    with sqlite3.connect(snapshot_copy) as conn:
        conduct = conn.execute(
            "SELECT count(*) FROM cases c JOIN ew_alerts a ON a.id = c.alert_id WHERE a.family = 'conduct'"
        ).fetchone()[0]
    # Cases about an enterprise (fundraising, tips; migration 0030) go with the downgrade below 0030.
    with sqlite3.connect(snapshot_copy) as conn:
        cases = conn.execute("SELECT count(*) FROM cases WHERE alert_id IS NOT NULL").fetchone()[0]
    assert cases > conduct, "the demo should hold cases that reference alerts"

    command.downgrade(migrate.alembic_config(url), "0027")
    assert _count(snapshot_copy, "cases") == cases - conduct  # the conduct alerts' cases went with them
    command.upgrade(migrate.alembic_config(url), "head")

    assert _count(snapshot_copy, "cases") == cases - conduct
    with sqlite3.connect(snapshot_copy) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert version == migrate.head_revision()
        check = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ew_alerts'").fetchone()[0]
        assert "'conduct'" in check  # the widened family CHECK is back
