"""Alembic environment: runs against the URL set by :mod:`qiantang.migrate`."""

from __future__ import annotations

from alembic import context

from qiantang.db import make_engine
from qiantang.models import Base
from qiantang.search import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table's constraints by copying it, dropping the old one and renaming the
        # copy (Alembic's batch mode). With foreign keys enforced, dropping a table that other rows
        # point to (ew_alerts, referenced by cases) fails on any database that holds data. The
        # documented recipe: switch enforcement off outside the transaction, check every reference
        # after the migrations, and switch it back on.
        # https://www.sqlite.org/lang_altertable.html#otheralter
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        _migrate(connection)
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.commit()
            if broken:
                raise RuntimeError(f"迁移后外键不一致 / foreign keys broken after migrating: {broken[:5]}")
    finally:
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection, statement: str) -> None:
    # Sent on the driver connection: through SQLAlchemy the statement would open a transaction
    # first (qiantang.db sends BEGIN itself), and SQLite ignores this pragma inside one.
    connection.connection.driver_connection.execute(statement)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,  # the search indexes
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
