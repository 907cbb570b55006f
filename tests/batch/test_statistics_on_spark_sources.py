"""``stats refresh --engine spark --source parquet|jdbc``: Spark reads the institutions, status history
and filings itself, and the cells are the local ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qiantang.errors import QiantangError
from qiantang.statistics import service as stats
from tests.batch.sources import require_jdbc_driver, spark_sources
from tests.batch.test_spark_equals_local import _sorted_cells

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")


def test_statistics_cells_from_each_source_equal_the_local_cells(database, db, spark, tmp_path):
    from qiantang.batch import statistics as spark_statistics

    last = stats.last_period_with_data(db)
    periods = stats.quarter_ends(stats.FIRST_PERIOD, last)
    local = _sorted_cells(stats.compute_cells(db, period_ends=periods))
    assert len(local) > 1000 and local["measure"].nunique() > 8  # registry and filing measures
    for source, options in spark_sources(database, tmp_path):
        if source == "jdbc":
            require_jdbc_driver(spark)
        remote = _sorted_cells(
            spark_statistics.compute_cells(spark, db, period_ends=periods, source=source, **options)
        )
        pd.testing.assert_frame_equal(remote.drop(columns="value"), local.drop(columns="value"), obj=source)
        np.testing.assert_allclose(remote["value"], local["value"], rtol=1e-12, atol=1e-9, err_msg=source)
        # The refresh stores them: the same number of cells.
        stored = stats.refresh(db, engine="spark", master="local[2]", source=source, **options)
        assert stored.cells == len(local), source


def test_a_snapshot_without_the_filings_is_refused(db, spark, tmp_path):
    from qiantang.batch.snapshot import export_parquet

    snapshot = tmp_path / "partial"
    export_parquet(db.get_bind().engine, snapshot, tables=("institution_types", "institutions"))
    with pytest.raises(QiantangError) as caught:
        stats.refresh(db, engine="spark", master="local[2]", source="parquet", snapshot=str(snapshot))
    message = caught.value.message
    assert "缺少表" in message and "lacks the tables" in message
    assert "institution_status_changes" in message and "filings" in message


def test_a_source_needs_the_spark_engine(db):
    with pytest.raises(ValueError, match="--engine spark"):
        stats.refresh(db, source="jdbc")
