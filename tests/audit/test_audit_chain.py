"""The audit log is a hash chain: edits and deletions made directly in the database are found."""

from __future__ import annotations

import hashlib
import io
import threading
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from qiantang import migrate
from qiantang.audit import chain
from qiantang.audit import service as audit
from qiantang.audit.models import AuditEvent


def _drop_guard(db, backend: str) -> None:
    """What someone with the database's owner role does first (inside the test's transaction)."""
    if backend == "postgresql":
        db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_events_no_update"))
        db.execute(text("DROP TRIGGER audit_events_no_delete"))


def _last(db) -> AuditEvent:
    return db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_events_are_linked_with_sm3(db):
    first = audit.record(db, action="login", username="甲", detail={"k": (1, 2)})
    second = audit.record(db, action="logout", username="甲")
    db.flush()
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.row_hash
    assert chain.algorithm() == "sm3"
    expected = hashlib.new(
        "sm3",
        chain.canonical(
            seq=first.seq,
            at=first.at,
            username="甲",
            action="login",
            object_type=None,
            object_id=None,
            detail={"k": [1, 2]},
            ip=None,
            prev_hash=first.prev_hash,
        ),
    ).hexdigest()
    assert first.row_hash == expected
    state = chain.verify(db)
    assert state.ok and state.head_seq == second.seq and state.head_hash == second.row_hash


def test_editing_a_user_name_is_found(db, database):
    audit.record(db, action="login", username="alice")
    audit.record(db, action="export", username="alice")
    db.flush()
    target = db.scalars(
        select(AuditEvent).where(AuditEvent.username == "alice").order_by(AuditEvent.seq)
    ).first()
    _drop_guard(db, database.backend)
    db.execute(text("UPDATE audit_events SET username = 'bob' WHERE id = :i"), {"i": target.id})
    state = chain.verify(db)
    assert not state.ok and state.problem == "edited"
    assert state.bad_seq == target.seq and state.bad_id == target.id
    assert f"第 {target.seq} 条" in state.describe_zh()


def test_deleting_a_login_event_is_found(db, database):
    login = audit.record(db, action="login", username="carol")
    audit.record(db, action="logout", username="carol")
    db.flush()
    _drop_guard(db, database.backend)
    db.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": login.id})
    state = chain.verify(db)
    assert state.problem == "missing" and state.bad_seq == login.seq and state.found_seq == login.seq + 1


def test_deleting_and_renumbering_is_found(db, database):
    """A careful forger closes the gap in the numbers; the next event's link still breaks."""
    login = audit.record(db, action="login", username="dave")
    after = audit.record(db, action="logout", username="dave")
    db.flush()
    _drop_guard(db, database.backend)
    db.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": login.id})
    db.execute(text("UPDATE audit_events SET seq = seq - 1 WHERE id = :i"), {"i": after.id})
    state = chain.verify(db)
    assert not state.ok and state.bad_seq == login.seq


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET username = 'x'", "DELETE FROM audit_events"])
def test_database_refuses_update_and_delete(db, statement):
    audit.record(db, action="login", username="erin")
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text(statement))


def test_truncate_is_refused_on_postgresql(db, database):
    if database.backend != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("TRUNCATE audit_events"))


def test_audit_page_and_export_show_a_broken_chain(db, database, clients):
    c = clients.as_user("auditor")
    page = c.get("/audit")
    assert "审计链完整" in page.text
    victim = audit.record(db, action="login", username="frank")
    audit.record(db, action="logout", username="frank")
    db.flush()
    _drop_guard(db, database.backend)
    db.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": victim.id})
    page = c.get("/audit")
    assert page.status_code == 200
    assert f"第 {victim.seq} 条记录缺失" in page.text
    export = c.get("/audit/export")
    ws = load_workbook(io.BytesIO(export.content)).active
    assert f"第 {victim.seq} 条记录缺失" in ws["A1"].value


def test_concurrent_writers_do_not_fork_the_chain(database):
    """Two connections append at once; every event gets its own number and the chain stays whole."""
    engine = database.engine

    def write(name: str) -> None:
        for i in range(15):
            for _attempt in range(50):
                try:
                    with Session(engine) as s:
                        audit.record(s, action="login", username=f"{name}-{i}")
                        s.commit()
                    break
                except DBAPIError:  # SQLite: the other writer holds the lock; retry like a client would
                    continue

    threads = [threading.Thread(target=write, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).where(AuditEvent.username.like("w_-%"))) == 30
        assert chain.verify(s).ok


def test_migration_hashes_existing_events(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, username, action, detail) VALUES (:at, :u, 'login', '{}')"
                ),
                {"at": f"2026-01-0{i + 1} 08:00:00.000000", "u": f"old{i}"},
            )
    migrate.upgrade(url)
    with Session(engine) as s:
        state = chain.verify(s)
        assert state.ok and state.checked == 3
        audit.record(s, action="logout", username="old2")
        s.commit()
        assert chain.verify(s).checked == 4
    engine.dispose()


def test_the_application_role_cannot_change_audit_rows_on_postgresql(database):
    """`qiantang db grant-app-role`: the server's role may append to the log but not edit it."""
    if database.backend != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    from qiantang.db import grant_app_role

    role = f"qt_app_{uuid.uuid4().hex[:8]}"
    with database.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'app-password-1'"))
        grant_app_role(conn, role)
    url = make_url(database.url).set(username=role, password="app-password-1")
    app = create_engine(url)
    try:
        with Session(app) as s:
            audit.record(s, action="login", username="app-role")
            s.commit()
            with pytest.raises(DBAPIError, match="permission denied"):
                s.execute(text("UPDATE audit_events SET username = 'x' WHERE username = 'app-role'"))
            s.rollback()
            with pytest.raises(DBAPIError, match="permission denied"):
                s.execute(text("DELETE FROM audit_events WHERE username = 'app-role'"))
            s.rollback()
            assert s.scalar(select(func.count()).where(AuditEvent.username == "app-role")) == 1
    finally:
        app.dispose()
        with database.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
