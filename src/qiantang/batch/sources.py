"""Where a batch job on Spark reads the platform's tables: ``--source db|parquet|jdbc``.

- ``db``: the job's own local readers, on the driver, through the platform's connection (SQLite or
  PostgreSQL); the frames are handed to Spark. Each job keeps its reader for this source.
- ``parquet``: Spark reads the tables of a ``qiantang export parquet`` snapshot itself.
- ``jdbc``: Spark reads the tables from PostgreSQL itself, over the PostgreSQL JDBC driver, in
  parallel ranges of the table's ``id`` where it has one.

:func:`table_reader` gives, for ``parquet`` and ``jdbc``, one function ``read(name)`` → a Spark frame
of a platform table with its stored columns, so a job selects and joins as its SQL does. The checks
(a snapshot directory given and holding every table the job needs; a PostgreSQL URL) answer in
Chinese and English.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.orm import Session

SOURCES = ("db", "parquet", "jdbc")


def check_options(engine: str, source: str, snapshot: str | None) -> str | None:
    """Why ``--engine``, ``--source`` and ``--snapshot`` do not go together (Chinese · English), or None."""
    if source not in SOURCES:
        return f"--source 须为 {' | '.join(SOURCES)} · --source must be one of {', '.join(SOURCES)}"
    if source != "db" and engine != "spark":
        return f"--source {source} 需要 --engine spark · --source {source} needs --engine spark"
    if snapshot is not None and source != "parquet":
        return "--snapshot 只用于 --source parquet · --snapshot goes with --source parquet"
    return None


def check_snapshot(snapshot: str | Path | None, tables: Iterable[str]) -> None:
    """Refuse (Chinese · English) a missing ``--snapshot`` or one lacking any of ``tables`` — before a
    job does any work."""
    from qiantang.errors import QiantangError

    if snapshot is None:
        zh = "--source parquet 需要 --snapshot 目录（qiantang export parquet 所写）"
        en = "--source parquet needs --snapshot DIR (written by qiantang export parquet)"
        raise QiantangError(f"{zh} · {en}", message_en=en)
    missing = [t for t in tables if not (Path(snapshot) / f"{t}.parquet").exists()]
    if missing:
        names = ", ".join(missing)
        zh = f"快照 {snapshot} 缺少表：{names}（qiantang export parquet --table … 可导出）"
        en = f"the snapshot {snapshot} lacks the tables {names}"
        en += " (qiantang export parquet --table … writes them)"
        raise QiantangError(f"{zh} · {en}", message_en=en)


def table_reader(
    spark,
    *,
    source: str,
    tables: Iterable[str],
    session: Session | None = None,
    snapshot: str | Path | None = None,
    database_url: str | None = None,
) -> Callable[[str], object]:
    """``read(name)`` → the platform table ``name`` as a Spark frame, from a snapshot (``parquet``)
    or PostgreSQL (``jdbc``; ``database_url`` by default the session's). ``tables`` are the ones the
    job will read: a snapshot lacking any of them is refused before Spark reads anything."""
    from qiantang.batch import snapshot as snap

    if source == "parquet":
        check_snapshot(snapshot, tables)
        return lambda name: snap.read_snapshot(spark, snapshot, name)
    if source == "jdbc":
        if database_url is None:
            if session is None:
                raise ValueError("source 'jdbc' needs a session or a database URL")
            database_url = session.get_bind().engine.url.render_as_string(hide_password=False)
        url, user, password = snap.jdbc_url(database_url)
        return lambda name: snap.read_jdbc(spark, url, name, user=user, password=password)
    raise ValueError(f"source {source!r} has no table reader (db is read by each job's local readers)")
