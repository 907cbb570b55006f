"""Engine, sessions, the declarative base and shared column types.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is selected by
``QIANTANG_DATABASE_URL``. Transactions are committed once, at the boundary (a web request or a
CLI command), never inside service functions.

Concurrency (docs/security.md): a transaction that will write is a *write session*
(``new_session(write=True)``; every unsafe web request and every CLI command). On SQLite it starts
with ``BEGIN IMMEDIATE``, taking the write lock first and waiting for it (``busy_timeout``), so it
never fails half-way the way a deferred transaction that read and then tries to write does. Reads
stay deferred, so WAL readers never wait. A read request that must record something (an export's
audit row, a session's last-seen time) hands it to :func:`after_read`, which writes it in a short
write transaction once the read has ended. A request never holds two pooled connections at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import JSON, MetaData, Numeric, String, Table, create_engine, event, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from qiantang.config import get_settings
from qiantang.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every amount of money is stored in 元 (yuan), exact on PostgreSQL; pages convert to 万元/亿元.
Money = Numeric(20, 2, asdecimal=False)
# Portable JSON (JSONB would tie us to PostgreSQL).
JSONType = JSON()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware now in UTC; stored as naive UTC for portability between backends."""
    return datetime.now(UTC).replace(tzinfo=None)


class SystemMeta(Base):
    """Key/value facts about this database (e.g. that it holds the synthetic demo city)."""

    __tablename__ = "system_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(4000))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite would only send BEGIN before the first write, so a SAVEPOINT could end up as the
    # outermost transaction and its RELEASE would commit. SQLAlchemy emits BEGIN itself instead
    # (see _sqlite_begin), the documented recipe for correct transactions and savepoints.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_timeout_seconds * 1000)}")
    cursor.close()


WRITE_OPTION = "qiantang_write"


def _sqlite_begin(connection) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys, and its folder is created."""
    url = url or get_settings().database_url
    # JSON columns keep Chinese as it is ("整改"), not as \u escapes, so the stored text stays readable.
    kwargs.setdefault("json_serializer", _json_dumps)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        if path and path != ":memory:":
            settings = get_settings()
            kwargs.setdefault("pool_size", settings.db_pool_size)
            kwargs.setdefault("max_overflow", settings.db_max_overflow)
            kwargs.setdefault("pool_timeout", settings.db_pool_timeout)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    settings = get_settings()
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("max_overflow", settings.db_max_overflow)
    kwargs.setdefault("pool_timeout", settings.db_pool_timeout)
    return create_engine(url, **kwargs)


_engine: Engine | None = None
_engine_is_ours = False
_sessionmaker: sessionmaker[Session] | None = None
_write_sessionmaker: sessionmaker[Session] | None = None


def _bind(engine: Engine) -> None:
    global _engine, _sessionmaker, _write_sessionmaker
    _engine = engine
    _sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)
    # The same pool; the option tells the SQLite begin hook to take the write lock first.
    writer = engine.execution_options(**{WRITE_OPTION: True})
    _write_sessionmaker = sessionmaker(bind=writer, expire_on_commit=False)


def get_engine() -> Engine:
    global _engine_is_ours
    if _engine is None:
        _bind(make_engine())
        _engine_is_ours = True
    assert _engine is not None
    return _engine


def use_engine(engine: Engine) -> None:
    """Make ``engine`` the process-wide engine (tests point the app at their own database)."""
    global _engine_is_ours
    _bind(engine)
    _engine_is_ours = False


def grant_app_role(conn: Connection, role: str) -> None:
    """(PostgreSQL) Grant a non-owner role what the server needs; on audit_events only SELECT, INSERT.

    Run as the tables' owner after ``db upgrade``. The triggers of migration 0016 refuse UPDATE and
    DELETE on audit rows even to the owner; this makes it a missing privilege for the server's role.
    """
    quoted = conn.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {quoted}",
    ):
        conn.exec_driver_sql(statement)


def reset_engine() -> None:
    """Forget the cached engine (tests and the CLI switch databases); dispose it if we made it."""
    global _engine, _sessionmaker, _write_sessionmaker, _engine_is_ours
    if _engine is not None and _engine_is_ours:
        _engine.dispose()
    _engine = None
    _engine_is_ours = False
    _sessionmaker = _write_sessionmaker = None


def new_session(*, write: bool = False) -> Session:
    """A session; ``write=True`` for a transaction that will write (``BEGIN IMMEDIATE`` on SQLite)."""
    get_engine()
    maker = _write_sessionmaker if write else _sessionmaker
    assert maker is not None
    return maker()


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = new_session(write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


AFTER_READ = "after_read"


def after_read(session: Session, write: Callable[[Session], None]) -> None:
    """Record something from a read-only request without turning its read into a write.

    In a read request (``session.info["after_read"]`` is a list) ``write`` runs after the read
    transaction has ended, in its own short write transaction (see ``web.deps.get_db``); anywhere else
    (CLI, tests, write requests) it runs at once in ``session``.
    """
    queue = session.info.get(AFTER_READ)
    if queue is None:
        write(session)
    else:
        queue.append(write)


def run_after_read(writes: Sequence[Callable[[Session], None]], *, attempts: int = 3) -> None:
    """Run the writes a read request left behind, in one write transaction, retried if the lock times out."""
    for attempt in range(attempts):
        try:
            with session_scope(write=True) as session:
                for write in writes:
                    write(session)
            return
        except OperationalError as exc:
            if "locked" not in str(exc).lower() or attempt == attempts - 1:
                raise


M = TypeVar("M", bound=Base)


def get_or_404(session: Session, model: type[M], key: Any, *, what: str | None = None) -> M:
    """Fetch one row by primary key or raise NotFound with a message a user can read."""
    obj = session.get(model, key)
    if obj is None:
        label = what or getattr(model, "__label_zh__", model.__tablename__)
        raise NotFound(f"未找到{label}（{key}）", message_en=f"{model.__name__} {key} not found")
    return obj


def assign(obj: Any, values: Mapping[str, Any]) -> int:
    """Set the attributes of ``obj`` that differ from ``values``; return how many changed."""
    changed = 0
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed += 1
    return changed


def upsert(session: Session, model: type[M], key: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows whose ``key`` is new and update the others; return how many values changed."""
    existing = {getattr(o, key): o for o in session.scalars(select(model)).all()}
    changed = 0
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            session.add(model(**row))
            changed += 1
        else:
            changed += assign(obj, row)
    session.flush()
    return changed


def get_meta(session: Session, key: str) -> str | None:
    return session.scalar(select(SystemMeta.value).where(SystemMeta.key == key))


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(SystemMeta, key)
    if row is None:
        session.add(SystemMeta(key=key, value=value))
    else:
        row.value = value


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    chunk_rows: int = 50_000,
) -> int:
    """Insert column-oriented data fast: COPY on PostgreSQL, executemany on SQLite.

    ``columns`` maps column names to equal-length sequences (lists or NumPy arrays). Values must
    already be plain Python/NumPy scalars of the right type; ``None`` is NULL.
    """
    names = list(columns)
    if not names:
        return 0
    n = len(columns[names[0]])
    if n == 0:
        return 0
    dialect = connection.dialect.name
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        chunk = [_as_list(columns[name][start:stop]) for name in names]
        rows = list(zip(*chunk, strict=True))
        if dialect == "postgresql":
            _copy_rows(connection, table, names, rows)
        elif dialect == "sqlite":
            placeholders = ", ".join("?" for _ in names)
            quoted = ", ".join(f'"{c}"' for c in names)
            raw = connection.connection.driver_connection
            raw.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders})', rows)
        else:  # any other backend: the portable path
            connection.execute(insert(table), [dict(zip(names, r, strict=True)) for r in rows])
    return n


def _as_list(values: Sequence[Any]) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)


def _copy_rows(connection: Connection, table: Table, names: list[str], rows: list[tuple]) -> None:
    raw = connection.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in names)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def read_frame(session_or_connection, stmt) -> pd.DataFrame:
    """Run a Core statement straight on the driver's cursor into a DataFrame.

    For analytical reads of millions of rows: 5–7× faster than building SQLAlchemy Row objects.
    Values come as the driver gives them (SQLite: ISO strings for dates); cast money to Float in
    the statement where numbers are wanted on every backend.
    """
    import pandas as pd

    connection = (
        session_or_connection.connection()
        if isinstance(session_or_connection, Session)
        else (session_or_connection)
    )
    compiled = stmt.compile(dialect=connection.dialect)
    params = compiled.params
    if compiled.positiontup is not None:
        params = [params[name] for name in compiled.positiontup]
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    finally:
        cursor.close()


def reset_sequences(connection: Connection, tables: Sequence[Table]) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past the largest id."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        if "id" not in table.c:
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )
        )


__all__ = [
    "Base",
    "JSONType",
    "Money",
    "SystemMeta",
    "after_read",
    "assign",
    "bulk_insert",
    "get_engine",
    "get_meta",
    "get_or_404",
    "grant_app_role",
    "make_engine",
    "new_session",
    "read_frame",
    "reset_engine",
    "reset_sequences",
    "run_after_read",
    "session_scope",
    "set_meta",
    "upsert",
    "use_engine",
    "utcnow",
]


def analyze(conn) -> None:
    """Refresh the query planner's statistics after a bulk load or a batch job.

    SQLite keeps none until ANALYZE runs, and without them picks the wrong index on the big tables
    (a page's 50 credit scores read through the whole scoring run: 250 ms instead of 1 ms on the city
    demo); ``analysis_limit`` samples each index, so this takes well under a second at city scale.
    PostgreSQL's autovacuum analyses too, but only some time after a bulk load.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
    conn.exec_driver_sql("ANALYZE")
