"""``qiantang export parquet`` and the synthetic province written to Parquet."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from qiantang.batch.snapshot import DEFAULT_TABLES, export_parquet, read_snapshot
from qiantang.enterprises.models import Guarantee

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")

pq = pytest.importorskip("pyarrow.parquet")  # the spark extra


def test_snapshot_holds_every_row_with_the_tables_types(database, db, tmp_path):
    done = export_parquet(database.engine, tmp_path, chunk_rows=700)  # several row groups a table
    assert [t.table for t in done] == list(DEFAULT_TABLES)
    for t in done:
        meta = pq.ParquetFile(t.path).metadata
        assert meta.num_rows == t.rows > 0
    guarantees = pq.read_table(tmp_path / "guarantees.parquet").to_pandas()
    assert len(guarantees) == db.scalar(select(func.count()).select_from(Guarantee))
    total = db.scalar(select(func.sum(Guarantee.amount)))
    assert guarantees["amount"].sum() == pytest.approx(float(total))
    assert str(pq.read_schema(tmp_path / "guarantees.parquet").field("start_date").type) == "date32[day]"
    assert guarantees["id"].is_monotonic_increasing


def test_spark_reads_the_snapshot(database, spark, tmp_path):
    export_parquet(database.engine, tmp_path, tables=("guarantees",))
    frame = read_snapshot(spark, tmp_path, "guarantees")
    assert frame.count() == pq.ParquetFile(tmp_path / "guarantees.parquet").metadata.num_rows


def test_province_generator_writes_city_shaped_chunks(tmp_path):
    from qiantang.demo.province import export_province

    stats = export_province(tmp_path, enterprises=12_000, chunk=5_000, seed=3)
    assert stats.rows["enterprises"] == 12_000
    ent = pq.read_table(tmp_path / "enterprises.parquet", columns=["id", "size_class"]).to_pandas()
    loans = pq.read_table(tmp_path / "loans.parquet", columns=["id", "borrower_id"]).to_pandas()
    g = pq.read_table(
        tmp_path / "guarantees.parquet", columns=["id", "guarantor_enterprise_id", "borrower_id", "loan_id"]
    ).to_pandas()
    # Ids are unique across chunks and every reference points at a row of the province.
    np.testing.assert_array_equal(ent["id"], np.arange(1, 12_001))
    assert loans["id"].is_unique and g["id"].is_unique
    assert loans["borrower_id"].isin(ent["id"]).all() and g["loan_id"].isin(loans["id"]).all()
    assert g["guarantor_enterprise_id"].dropna().isin(ent["id"]).all()
    # The city's proportions: about 3 loans and 2 guarantees a firm, mostly micro firms.
    assert 2.5 < len(loans) / len(ent) < 3.5 and 1.5 < len(g) / len(ent) < 2.5
    assert (ent["size_class"] == "micro").mean() > 0.5
