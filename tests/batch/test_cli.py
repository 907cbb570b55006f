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
