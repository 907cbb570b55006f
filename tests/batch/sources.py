"""Helpers of the batch tests: the sources a Spark job can read the platform's tables from, and the
stored scores to compare."""

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


def stored_scores(db, model_id: int, as_of):
    """A model's stored credit scores on ``as_of``, by enterprise."""
    import pandas as pd
    from sqlalchemy import select

    from qiantang.credit.models import CreditScore

    return pd.read_sql(
        select(
            CreditScore.enterprise_id,
            CreditScore.score,
            CreditScore.pd,
            CreditScore.grade,
            CreditScore.reasons,
        )
        .where(CreditScore.model_id == model_id, CreditScore.as_of == as_of)
        .order_by(CreditScore.enterprise_id),
        db.connection(),
    )
