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
    # Personal data no batch job reads is left out: tipsters' contacts, people's names.
    reports = pq.read_schema(tmp_path / "fundraising_tip_reports.parquet").names
    assert "contact" not in reports and {"id", "tip_id", "at"} <= set(reports)
    people = pq.read_schema(tmp_path / "fr_people.parquet").names
    assert "name" not in people and "id_masked" not in people and "person_key" in people


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
    fin = pq.read_table(tmp_path / "enterprise_financials.parquet", columns=["id", "enterprise_id", "year"])
    fin = fin.to_pandas()
    # Ids are unique across chunks and every reference points at a row of the province.
    np.testing.assert_array_equal(ent["id"], np.arange(1, 12_001))
    assert loans["id"].is_unique and g["id"].is_unique
    assert loans["borrower_id"].isin(ent["id"]).all() and g["loan_id"].isin(loans["id"]).all()
    assert g["guarantor_enterprise_id"].dropna().isin(ent["id"]).all()
    # Statements: one per firm and year, of firms of the province, most firms with some.
    assert fin["id"].is_unique and fin["enterprise_id"].isin(ent["id"]).all()
    assert not fin.duplicated(["enterprise_id", "year"]).any()
    assert fin["enterprise_id"].nunique() > 0.9 * len(ent) and stats.rows["enterprise_financials"] == len(fin)
    # The city's proportions: about 3 loans and 2 guarantees a firm, mostly micro firms.
    assert 2.5 < len(loans) / len(ent) < 3.5 and 1.5 < len(g) / len(ent) < 2.5
    assert (ent["size_class"] == "micro").mean() > 0.5


def test_jdbc_url_of_the_database_url():
    from qiantang.batch.snapshot import jdbc_url
    from qiantang.errors import QiantangError

    assert jdbc_url("postgresql+psycopg://qt:secret@db.example:5433/city?sslmode=require") == (
        "jdbc:postgresql://db.example:5433/city?sslmode=require",
        "qt",
        "secret",
    )
    assert jdbc_url("postgresql://qt@127.0.0.1/qiantang") == (
        "jdbc:postgresql://127.0.0.1:5432/qiantang",
        "qt",
        None,
    )
    with pytest.raises(QiantangError) as exc:
        jdbc_url("sqlite:///var/qiantang.db")
    assert "PostgreSQL" in exc.value.message and "sqlite" in exc.value.message_en


def test_spark_jars_from_the_environment_or_debian(monkeypatch, tmp_path):
    from qiantang.batch import spark as spark_mod

    monkeypatch.setenv("QIANTANG_SPARK_JARS", "/opt/a.jar,/opt/b.jar")
    assert spark_mod.spark_jars() == "/opt/a.jar,/opt/b.jar"
    monkeypatch.delenv("QIANTANG_SPARK_JARS")
    monkeypatch.setattr(spark_mod, "DEBIAN_POSTGRESQL_JAR", str(tmp_path / "postgresql.jar"))
    assert spark_mod.spark_jars() is None
    (tmp_path / "postgresql.jar").write_bytes(b"")
    assert spark_mod.spark_jars() == str(tmp_path / "postgresql.jar")


def test_read_jdbc_without_the_driver_says_how_to_get_it(spark, monkeypatch):
    from qiantang.batch import snapshot
    from qiantang.errors import QiantangError

    if snapshot._driver_loaded(spark):  # Debian's jar (or QIANTANG_SPARK_JARS) is on the classpath
        monkeypatch.setattr(snapshot, "_driver_loaded", lambda spark: False)
    with pytest.raises(QiantangError) as exc:
        snapshot.read_jdbc(spark, "jdbc:postgresql://127.0.0.1:5432/x", "filings")
    assert "QIANTANG_SPARK_JARS" in exc.value.message and "libpostgresql-jdbc-java" in exc.value.message
    assert "找不到 PostgreSQL JDBC 驱动" in exc.value.message
    assert "no PostgreSQL JDBC driver" in exc.value.message_en


def test_the_driver_is_on_the_classpath_when_a_jar_is_configured(spark):
    from qiantang.batch.snapshot import _driver_loaded
    from qiantang.batch.spark import spark_jars

    if spark_jars() is None:
        pytest.skip("no PostgreSQL JDBC jar here (QIANTANG_SPARK_JARS or libpostgresql-jdbc-java)")
    assert _driver_loaded(spark)


def test_the_default_snapshot_holds_what_the_jobs_read_from_it():
    from qiantang.batch import credit, earlywarning, network, statistics

    for job in (credit, earlywarning, network, statistics):
        assert set(job.TABLES) <= set(DEFAULT_TABLES), job.__name__
