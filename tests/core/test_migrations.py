"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from qiantang import migrate
from qiantang.models import Base
from qiantang.search import include_object


def test_schema_matches_models(database):
    with database.engine.connect() as conn:
        # The search indexes (FTS5 tables, pg_trgm indexes) are made by qiantang.search, not the models.
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(database):
    assert migrate.current_revision(database.engine) == migrate.head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(database):
    if database.backend != "sqlite":
        return
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_every_model_table_exists(database):
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
