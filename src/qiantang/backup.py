"""Backup and restore, each verified: integrity, the audit chain and the row count of every table.

* SQLite: the online backup API (a consistent copy while the platform runs), ``PRAGMA
  integrity_check`` on the copy.
* PostgreSQL: ``pg_dump -Fc`` of an exported snapshot, so the row counts and the audit-chain head
  in the manifest describe exactly what the dump holds; ``pg_restore --list`` reads the archive back.
  Restore runs ``pg_restore --clean --if-exists --single-transaction`` (all or nothing).

Next to every backup file ``<file>.manifest.json`` records the backend, schema revision, row counts
per table and the audit-chain head (sequence number and hash). Restore checks the backup against
its manifest first and the restored database against it afterwards, and refuses to overwrite a
database that already holds institutions, enterprises or users unless forced.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from qiantang.audit import chain
from qiantang.db import make_engine, utcnow
from qiantang.errors import Conflict, ValidationFailed
from qiantang.models import Base


class BackupFailed(ValidationFailed):
    """A backup or restore that did not verify; the message says which check failed."""


@dataclass
class Manifest:
    backend: str
    created_at: str
    revision: str | None
    counts: dict[str, int]
    chain_seq: int
    chain_hash: str
    file: str
    problems: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        if not path.exists():
            raise BackupFailed(f"找不到备份清单 {path.name}（应与备份文件放在一起）", [])
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".manifest.json")


def default_path(url: str, folder: Path = Path("var/backups")) -> Path:
    suffix = ".db" if url.startswith("sqlite") else ".dump"
    return folder / f"qiantang-{utcnow():%Y%m%d-%H%M%S}{suffix}"


def _tables() -> list[str]:
    return [*sorted(Base.metadata.tables), "alembic_version"]


def _counts(conn: Connection) -> dict[str, int]:
    return {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in _tables()}


def _revision(conn: Connection) -> str | None:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _chain(conn: Connection) -> chain.ChainState:
    with Session(bind=conn) as session:
        return chain.verify(session)


def _compare(expected: dict[str, int], found: dict[str, int]) -> list[str]:
    return [f"表 {t} 应有 {n} 行，实有 {found.get(t)} 行" for t, n in expected.items() if found.get(t) != n]


def _check_state(conn: Connection, manifest: Manifest, *, grown_ok: bool = False) -> list[str]:
    """Problems of a database (or backup copy) against a manifest: counts, revision, chain."""
    problems = _compare(manifest.counts, _counts(conn))
    if _revision(conn) != manifest.revision:
        problems.append(f"数据库结构版本为 {_revision(conn)}，清单为 {manifest.revision}")
    state = _chain(conn)
    if not state.ok:
        problems.append(state.describe_zh())
    elif state.head_seq < manifest.chain_seq or (
        state.head_seq == manifest.chain_seq and state.head_hash != manifest.chain_hash
    ):
        problems.append(f"审计链末条（第 {state.head_seq} 条）与清单（第 {manifest.chain_seq} 条）不符")
    return problems


# --- SQLite ----------------------------------------------------------------------------------------
def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("内存数据库无法备份", [])
    return Path(database)


def _integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return [] if result == ["ok"] else [f"SQLite 完整性检查未通过：{'；'.join(result[:5])}"]


def _sqlite_backup(url: str, target: Path) -> Manifest:
    source = _sqlite_file(url)
    if not source.exists():
        raise BackupFailed(f"数据库文件 {source} 不存在", [])
    engine = create_engine(f"sqlite:///{source}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")  # one read snapshot for the counts, the chain and the copy
            counts, revision, state = _counts(conn), _revision(conn), _chain(conn)
            raw = conn.connection.driver_connection
            with sqlite3.connect(target) as dst:
                raw.backup(dst)
            dst.close()
            conn.exec_driver_sql("COMMIT")
    finally:
        engine.dispose()
    return Manifest("sqlite", _now(), revision, counts, state.head_seq, state.head_hash, target.name)


def _verify_sqlite_file(path: Path, manifest: Manifest) -> list[str]:
    problems = _integrity(path)
    if problems:
        return problems
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return _check_state(conn, manifest)
    finally:
        engine.dispose()


# --- PostgreSQL ------------------------------------------------------------------------------------
def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it (not the command line)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    plain = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()][-5:]
        raise BackupFailed(f"{args[0]} 失败：{'；'.join(lines) or done.returncode}", [])


def _pg_backup(url: str, target: Path) -> Manifest:
    plain, env = _libpq(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts, revision, state = _counts(conn), _revision(conn), _chain(conn)
                _run(
                    ["pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(target), f"--dbname={plain}"], env
                )
    finally:
        engine.dispose()
    return Manifest("postgresql", _now(), revision, counts, state.head_seq, state.head_hash, target.name)


def _verify_pg_archive(path: Path, manifest: Manifest) -> list[str]:
    done = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [f"备份文件无法读取：{done.stderr.strip()[:200]}"]
    listed = {line.split()[-2] for line in done.stdout.splitlines() if " TABLE DATA " in line}
    return [f"备份中缺少表 {t} 的数据" for t in manifest.counts if t not in listed]


# --- the two commands ------------------------------------------------------------------------------
def _now() -> str:
    return utcnow().isoformat(timespec="seconds") + "Z"


def backup(*, url: str, path: Path, force: bool = False) -> Manifest:
    """Back the database up to ``path`` and verify the copy; writes ``<path>.manifest.json``."""
    path = Path(path)
    if path.exists() and not force:
        raise Conflict(f"备份文件 {path} 已存在；换一个文件名或加 --force 覆盖")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if url.startswith("sqlite"):
            manifest = _sqlite_backup(url, partial)
            problems = _verify_sqlite_file(partial, manifest)
        else:
            manifest = _pg_backup(url, partial)
            problems = _verify_pg_archive(partial, manifest)
        if problems:
            raise BackupFailed("备份未通过校验，未保留", [_row(p) for p in problems])
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    manifest.file = path.name
    manifest.write(manifest_path(path))
    return manifest


def _row(problem: str):
    from qiantang.errors import RowError

    return RowError(None, None, problem)


def _is_empty(engine: Engine) -> bool:
    from qiantang.demo import database_is_empty

    try:
        return database_is_empty(engine)
    except Exception:  # no tables yet: a new database
        return True


def check_backup(path: Path) -> Manifest:
    """Verify a backup file against its manifest without restoring it (for a scheduled check)."""
    path = Path(path)
    if not path.exists():
        raise BackupFailed(f"备份文件 {path} 不存在", [])
    manifest = Manifest.read(manifest_path(path))
    if manifest.backend == "sqlite":
        problems = _verify_sqlite_file(path, manifest)
    else:
        problems = _verify_pg_archive(path, manifest)
    manifest.problems = problems
    if problems:
        raise BackupFailed("备份文件未通过校验", [_row(p) for p in problems])
    return manifest


def restore(*, path: Path, url: str, force: bool = False) -> Manifest:
    """Restore a verified backup into the database at ``url`` and verify the result."""
    manifest = check_backup(path)
    target_is_sqlite = url.startswith("sqlite")
    if (manifest.backend == "sqlite") != target_is_sqlite:
        raise BackupFailed("备份与目标数据库的类型不同（SQLite 与 PostgreSQL 之间不能直接恢复）", [])
    engine = make_engine(url)
    try:
        if not _is_empty(engine) and not force:
            raise Conflict("目标数据库已有数据（机构、企业或用户）；确认要覆盖请加 --force")
    finally:
        engine.dispose()
    if target_is_sqlite:
        with sqlite3.connect(path) as src, sqlite3.connect(_sqlite_file(url)) as dst:
            src.backup(dst)
        dst.close()
        src.close()
    else:
        plain, env = _libpq(url)
        _run(
            ["pg_restore", "--clean", "--if-exists", "--single-transaction", "--no-owner",
             f"--dbname={plain}", str(path)],
            env,
        )  # fmt: skip
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            problems = _integrity(_sqlite_file(url)) if target_is_sqlite else []
            problems += _check_state(conn, manifest)
    finally:
        engine.dispose()
    manifest.problems = problems
    if problems:
        raise BackupFailed("恢复后的数据库未通过校验", [_row(p) for p in problems])
    return manifest


def record(url: str, *, action: str, detail: dict) -> None:
    """Write the backup or restore into the audit log of the database at ``url``."""
    from qiantang.audit import service as audit

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            audit.record(session, action=action, username="命令行", object_type="database", detail=detail)
            session.commit()
    finally:
        engine.dispose()


__all__ = ["BackupFailed", "Manifest", "backup", "check_backup", "default_path", "record", "restore"]
