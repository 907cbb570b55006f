"""Backup and restore round trips on both backends, each verified; a damaged backup is refused."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from qiantang import backup
from qiantang.audit import chain
from qiantang.db import make_engine
from qiantang.errors import Conflict, ValidationFailed


@pytest.fixture
def empty_target(database, tmp_path):
    """A URL of a new, empty database on the same backend."""
    if database.backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    from tests.conftest import _pg_admin_engine

    admin = _pg_admin_engine()
    name = f"qiantang_restore_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database.url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return backup._counts(conn)
    finally:
        engine.dispose()


def test_round_trip_is_verified(database, empty_target, tmp_path):
    path = tmp_path / ("city.db" if database.backend == "sqlite" else "city.dump")
    manifest = backup.backup(url=database.url, path=path)
    assert path.exists() and backup.manifest_path(path).exists()
    assert manifest.counts["institutions"] > 0 and manifest.counts["audit_events"] == manifest.chain_seq > 0
    with pytest.raises(Conflict):
        backup.backup(url=database.url, path=path)  # never overwrites without --force
    restored = backup.restore(path=path, url=empty_target)
    assert restored.problems == []
    assert _counts(empty_target) == manifest.counts
    engine = make_engine(empty_target)
    with engine.connect() as conn:
        from sqlalchemy.orm import Session

        state = chain.verify(Session(bind=conn))
        assert state.ok and state.head_hash == manifest.chain_hash
    engine.dispose()
    # The restored database now holds data: a second restore must be forced.
    with pytest.raises(Conflict):
        backup.restore(path=path, url=empty_target)
    assert backup.restore(path=path, url=empty_target, force=True).problems == []


def test_a_damaged_sqlite_backup_is_refused(database, tmp_path):
    if database.backend != "sqlite":
        pytest.skip("edits a SQLite backup file")
    path = tmp_path / "city.db"
    backup.backup(url=database.url, path=path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_events_no_delete")
        conn.execute("DELETE FROM audit_events WHERE seq = 2")
    conn.close()
    with pytest.raises(ValidationFailed) as info:
        backup.check_backup(path)
    messages = " ".join(e.message for e in info.value.errors)
    assert "audit_events" in messages and "第 2 条记录缺失" in messages
    with pytest.raises(ValidationFailed):
        backup.restore(path=path, url=f"sqlite:///{tmp_path / 'never.db'}")


def test_manifest_mismatch_is_refused(database, tmp_path):
    if database.backend != "sqlite":
        pytest.skip("one backend is enough for the manifest check")
    path = tmp_path / "city.db"
    backup.backup(url=database.url, path=path)
    m = backup.manifest_path(path)
    data = json.loads(m.read_text())
    data["counts"]["institutions"] += 1
    m.write_text(json.dumps(data))
    with pytest.raises(ValidationFailed) as info:
        backup.check_backup(path)
    assert "institutions" in info.value.errors[0].message


def test_cli_backup_restore_and_audit_verify(snapshot_copy, tmp_path, monkeypatch):
    from qiantang.cli import app
    from qiantang.config import get_settings
    from qiantang.db import reset_engine

    runner = CliRunner()
    out = runner.invoke(app, ["audit", "verify"])
    assert out.exit_code == 0 and "审计链完整" in out.output
    path = tmp_path / "b.db"
    out = runner.invoke(app, ["backup", str(path)])
    assert out.exit_code == 0, out.output
    assert runner.invoke(app, ["backup", "--check", str(path)]).exit_code == 0
    refused = runner.invoke(app, ["restore", str(path)])  # the copy is not empty
    assert refused.exit_code == 1 and "--force" in refused.output
    monkeypatch.setenv("QIANTANG_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    reset_engine()
    out = runner.invoke(app, ["restore", str(path)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["audit", "verify"])
    assert out.exit_code == 0, out.output  # the restore event continues the chain
