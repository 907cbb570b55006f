"""The command line of the batch layer: engines, the Parquet snapshot, the province generator."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qiantang.cli import app

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")

pq = pytest.importorskip("pyarrow.parquet")


def test_an_unknown_engine_is_refused(snapshot_copy):
    for command in (
        ["network", "analyse"],
        ["credit", "score"],
        ["stats", "refresh"],
        ["ew", "run"],
        ["fundraising", "run"],
    ):
        result = CliRunner().invoke(app, [*command, "--engine", "dask"])
        assert result.exit_code != 0 and "--engine" in result.output


def test_export_parquet_and_demo_export_province(snapshot_copy, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", "parquet", str(tmp_path / "snap"), "--table", "guarantees"])
    assert result.exit_code == 0, result.output
    assert pq.ParquetFile(tmp_path / "snap" / "guarantees.parquet").metadata.num_rows > 0
    assert runner.invoke(app, ["export", "parquet", str(tmp_path / "x"), "--table", "nope"]).exit_code != 0
    result = runner.invoke(
        app, ["demo", "export", "--scale", "province", "--enterprises", "4000", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    assert pq.ParquetFile(tmp_path / "p" / "enterprises.parquet").metadata.num_rows == 4000
    assert runner.invoke(app, ["demo", "export", "--scale", "city", "--out", str(tmp_path)]).exit_code != 0


def test_network_analyse_on_spark_from_the_command_line(snapshot_copy, spark):
    result = CliRunner().invoke(app, ["network", "analyse", "--engine", "spark", "--master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "担保网络分析完成" in result.output


@pytest.mark.parametrize(
    ("command", "names"),
    [
        (["ew", "run"], "institutions"),
        (["credit", "score"], "enterprises"),
        (["network", "analyse"], "guarantees"),
        (["stats", "refresh"], "filings"),
        (["fundraising", "run"], "fr_texts"),
    ],
)
def test_every_batch_job_checks_its_source_options(command, names, snapshot_copy, spark, tmp_path):
    """Each job refuses --source/--snapshot that do not go together, an empty snapshot (naming a table
    it reads, in Chinese and English) and JDBC on SQLite, before any work."""
    runner = CliRunner()
    for args, says in (
        (["--source", "parquet", "--snapshot", str(tmp_path)], "--engine spark"),  # local engine
        (["--source", "jdbc"], "需要 --engine spark"),
        (["--engine", "spark", "--source", "hdfs"], "--source"),
        (["--engine", "spark", "--snapshot", str(tmp_path)], "--source parquet"),
        (["--engine", "spark", "--source", "parquet"], "--snapshot"),
        (["--engine", "spark", "--source", "parquet", "--snapshot", str(tmp_path)], "缺少表"),
        (["--engine", "spark", "--source", "parquet", "--snapshot", str(tmp_path)], "lacks the tables"),
        (["--engine", "spark", "--source", "parquet", "--snapshot", str(tmp_path)], names),
        (["--engine", "spark", "--source", "jdbc"], "PostgreSQL"),  # the copy is SQLite
    ):
        result = runner.invoke(app, [*command, *args, "--master", "local[2]"])
        assert result.exit_code != 0, (args, result.output)
        # The console wraps long messages (a temporary path's length decides where): compare unwrapped.
        assert "".join(says.split()) in "".join(result.output.split()), (args, result.output)


def test_ew_run_on_spark_from_a_parquet_snapshot(snapshot_copy, spark, tmp_path):
    """`export parquet` then `ew run --engine spark --source parquet`: the demo's stored alerts are
    matched one for one (the demo stored the local run's)."""
    runner = CliRunner()
    result = runner.invoke(app, ["export", "parquet", str(tmp_path / "snap")])
    assert result.exit_code == 0, result.output
    assert "filings:" in result.output and "institution_status_changes:" in result.output
    spark_args = ["--engine", "spark", "--master", "local[2]"]
    result = runner.invoke(
        app, ["ew", "run", *spark_args, "--source", "parquet", "--snapshot", str(tmp_path / "snap")]
    )
    assert result.exit_code == 0, result.output
    assert "预警计算完成" in result.output
    assert "新增 new 0, 更新 updated 0, 删除 deleted 0" in result.output, result.output


def test_credit_score_on_spark_from_a_parquet_snapshot(snapshot_copy, spark, tmp_path):
    """`export parquet` then `credit score --engine spark --source parquet`: every enterprise scored,
    at the snapshot's loans' date (test_credit_on_spark compares the scores with the local run's)."""
    runner = CliRunner()
    assert runner.invoke(app, ["export", "parquet", str(tmp_path / "snap")]).exit_code == 0
    args = ["--engine", "spark", "--master", "local[2]", "--source", "parquet"]
    result = runner.invoke(app, ["credit", "score", *args, "--snapshot", str(tmp_path / "snap")])
    assert result.exit_code == 0, result.output
    assert "已评分" in result.output and "2025-12-31" in result.output, result.output


def test_network_analyse_on_spark_from_a_parquet_snapshot(snapshot_copy, spark, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", "parquet", str(tmp_path / "snap")])
    assert result.exit_code == 0, result.output
    spark_args = ["--engine", "spark", "--master", "local[2]", "--as-of", "2025-12-31"]
    local = runner.invoke(app, ["network", "analyse", "--as-of", "2025-12-31"])
    assert local.exit_code == 0, local.output
    result = runner.invoke(
        app, ["network", "analyse", *spark_args, "--source", "parquet", "--snapshot", str(tmp_path / "snap")]
    )
    assert result.exit_code == 0, result.output
    # The same figures as the local run (the first line holds the time).
    assert result.output.splitlines()[1:] == local.output.splitlines()[1:]


def test_fundraising_run_on_spark_from_a_parquet_snapshot(snapshot_copy, spark, tmp_path):
    """`export parquet` then `fundraising run --engine spark --source parquet`: the grade counts are
    those of a local run just before (whose red and orange firms then count as flagged too — on the
    tiny demo that moves no firm's grade; the exact comparison is in test_fundraising_on_spark.py)."""
    runner = CliRunner()
    result = runner.invoke(app, ["export", "parquet", str(tmp_path / "snap")])
    assert result.exit_code == 0, result.output
    assert "fr_texts:" in result.output and "fundraising_tip_reports:" in result.output
    local = runner.invoke(app, ["fundraising", "run"])
    assert local.exit_code == 0, local.output
    spark_args = ["--engine", "spark", "--master", "local[2]"]
    result = runner.invoke(
        app, ["fundraising", "run", *spark_args, "--source", "parquet", "--snapshot", str(tmp_path / "snap")]
    )
    assert result.exit_code == 0, result.output
    counts = [line for line in result.output.splitlines() if "红 red" in line]
    assert counts and counts == [line for line in local.output.splitlines() if "红 red" in line]
