"""Shared fixtures: one migrated database per backend with the tiny demo city, a transaction per test.

Backends: SQLite always; PostgreSQL when ``QIANTANG_TEST_PG_URL`` names a server (an admin URL such
as ``postgresql+psycopg://qiantang:qiantang@127.0.0.1:5432/postgres``). With
``QIANTANG_TEST_REQUIRE_PG=1`` (set by ``.ci/run``) a missing or unreachable server fails the run
instead of skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

DEMO_SEED = 7
# Jobs enqueued by tests stay in the process (tests run them with qiantang.jobs.service.execute, or
# start a real worker with its own queue URL); nothing is written beside the test databases.
os.environ.setdefault("QIANTANG_JOBS_QUEUE_URL", "memory")
PG_URL = os.environ.get("QIANTANG_TEST_PG_URL", "")
REQUIRE_PG = os.environ.get("QIANTANG_TEST_REQUIRE_PG") == "1"


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine
    sqlite_file: Path | None = None


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if PG_URL or REQUIRE_PG:
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


def _pg_admin_engine() -> Engine:
    if not PG_URL:
        pytest.fail("QIANTANG_TEST_REQUIRE_PG=1 but QIANTANG_TEST_PG_URL is not set")
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def build_database(url: str) -> Engine:
    """Migrate, sync reference data and load the tiny demo city into an empty database."""
    from qiantang import demo, migrate
    from qiantang.bootstrap import sync_all
    from qiantang.db import make_engine, session_scope, use_engine

    migrate.upgrade(url)
    engine = make_engine(url)
    use_engine(engine)
    with session_scope() as session:
        sync_all(session)
    demo.load(engine, scale="tiny", seed=DEMO_SEED)
    return engine


@pytest.fixture(scope="session", params=_backends())
def database(request, tmp_path_factory) -> Iterator[Database]:
    backend = request.param
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "qiantang.db"
        url = f"sqlite:///{path}"
        engine = build_database(url)
        yield Database("sqlite", url, engine, sqlite_file=path)
        engine.dispose()
        return
    admin = _pg_admin_engine()
    name = f"qiantang_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = build_database(url)
    yield Database("postgresql", url, engine)
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; commits become savepoints."""
    from qiantang.db import use_engine

    use_engine(database.engine)
    from qiantang.filings.service import clear_compliance_cache
    from qiantang.paging import clear_count_cache
    from qiantang.statistics.service import clear_page_cache

    clear_count_cache()  # counts cached by an earlier test's rolled-back rows
    clear_compliance_cache()  # likewise: a rolled-back filing's id is given out again
    clear_page_cache()  # and a rolled-back statistics refresh's id (the figures' version)
    connection = database.engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@contextmanager
def unit_of_work(db: Session) -> Iterator[Session]:
    """The test's session as one request or job sees it: committed (a savepoint) or rolled back."""
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


@pytest.fixture
def run_jobs(db: Session):
    """Run the queued jobs as the worker would, but in the test's transaction; returns their ids."""
    from sqlalchemy import select

    from qiantang.jobs import service
    from qiantang.jobs.models import Job, JobStatus

    def sessions():
        return unit_of_work(db)

    def run(kind: str | None = None) -> list[int]:
        stmt = select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.id)
        if kind:
            stmt = stmt.where(Job.kind == kind)
        ids = list(db.scalars(stmt))
        for job_id in ids:
            service.execute(job_id, sessions=sessions)
        return ids

    return run


@pytest.fixture
def app(db: Session):
    """The web app, its requests running in the test's transaction."""
    from qiantang.web.app import create_app
    from qiantang.web.deps import get_db

    application = create_app()

    def test_db():
        with unit_of_work(db) as session:
            yield session

    application.dependency_overrides[get_db] = test_db
    return application


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class Clients:
    """Make test clients logged in as a given user (a real session row, without the password round)."""

    def __init__(self, app, db: Session):
        self.app = app
        self.db = db

    def as_user(self, username: str):
        from fastapi.testclient import TestClient

        from qiantang.auth.service import get_user_by_username, start_session
        from qiantang.web.deps import SESSION_COOKIE

        user = get_user_by_username(self.db, username)
        assert user is not None, f"no user {username}"
        new = start_session(self.db, user=user)
        self.db.commit()
        c = TestClient(self.app, raise_server_exceptions=False)
        c.cookies.set(SESSION_COOKIE, new.token)
        c.headers["X-CSRF-Token"] = new.record.csrf_token
        return c


@pytest.fixture
def clients(app, db) -> Clients:
    return Clients(app, db)


@pytest.fixture(scope="session")
def sqlite_snapshot(tmp_path_factory) -> Path:
    """A committed SQLite copy of the tiny demo city, for tests that run a real server on it."""
    path = tmp_path_factory.mktemp("snapshot") / "qiantang.db"
    engine = build_database(f"sqlite:///{path}")
    engine.dispose()
    return path


@pytest.fixture
def snapshot_copy(sqlite_snapshot, tmp_path, monkeypatch) -> Iterator[Path]:
    """A private copy of the tiny demo city that the command line (``QIANTANG_DATABASE_URL``) uses."""
    from qiantang.config import get_settings
    from qiantang.db import reset_engine
    from tests.helpers import copy_sqlite

    path = tmp_path / "copy.db"
    copy_sqlite(sqlite_snapshot, path)
    monkeypatch.setenv("QIANTANG_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    reset_engine()
    yield path
    get_settings.cache_clear()
    reset_engine()
