"""The sources a Spark job can read the platform's tables from, for the batch tests."""

from __future__ import annotations

import pytest


def spark_sources(database, tmp_path, *, with_db: bool = False) -> list[tuple[str, dict]]:
    """(source, options) for each source Spark reads the tables from itself on this backend: a
    Parquet snapshot of the default tables (every job's), and PostgreSQL over JDBC; ``db`` first
    with ``with_db``."""
    from qiantang.batch.snapshot import export_parquet

    snapshot = tmp_path / "snapshot"
    export_parquet(database.engine, snapshot)
    sources = [("db", {})] if with_db else []
    sources.append(("parquet", {"snapshot": str(snapshot)}))
    if database.backend == "postgresql":
        sources.append(("jdbc", {}))
    return sources


def require_jdbc_driver(spark) -> None:
    from qiantang.batch.snapshot import _driver_loaded

    if not _driver_loaded(spark):
        pytest.skip("no PostgreSQL JDBC driver (QIANTANG_SPARK_JARS or libpostgresql-jdbc-java)")
