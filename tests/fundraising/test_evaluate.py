"""Evaluation on a labelled table (CSV and Excel, through the command line) and the demo backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qiantang.cli import app
from qiantang.fundraising import service
from qiantang.fundraising.evaluate import evaluate_table


def labelled(n: int = 240, seed: int = 7) -> pd.DataFrame:
    """Made-up firms: the bad ones promise more, draw more investors and complaints (noisily)."""
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.2
    return pd.DataFrame(
        {
            "name": np.where(bad, "杭州某财富管理有限公司", "杭州某科技有限公司"),
            "founded_on": pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D"),
            "registered_capital": rng.integers(100, 10_000, n),
            "paid_in_capital": rng.integers(10, 100, n),
            "promised_return": np.where(bad, rng.normal(16, 5, n), rng.normal(6, 3, n)).round(1),
            "investors": np.where(bad, rng.poisson(160, n), rng.poisson(40, n)),
            "investor_growth": rng.normal(30, 40, n).round(),
            "complaints": np.where(bad, rng.poisson(2, n), rng.poisson(0.3, n)),
            "business_scope": "投资咨询",
            "ad_text": np.where(rng.random(n) < np.where(bad, 0.6, 0.1), "保本保息，稳赚不赔", "专业服务"),
            "licensed": "否",
            "district": rng.choice(["西湖区", "滨江区", "上城区"], n),
            "status": np.where(bad, "暴雷", "正常"),
        }
    )


def test_evaluate_table_compares_four_models():
    ev = evaluate_table(labelled(), "status", "暴雷")
    assert ev.rows == 240 and 20 < ev.bad < 80 and ev.missing == []
    assert [m.name.split()[0] for m in ev.models] == ["规则指数", "LightGBM", "逻辑回归", "LightGBM"]
    for m in ev.models:
        assert 0 <= m.auc[0] <= 1 and 0 <= m.ks[0] <= 1 and 0 <= m.precision_top10[0] <= 1
    assert ev.models[0].auc[0] > 0.8  # the rule index sees the signals put in the table


def test_evaluate_refuses_a_table_without_enough_bad_rows():
    t = labelled(60)
    t["status"] = "正常"
    with pytest.raises(ValueError, match="太少"):
        evaluate_table(t, "status", "暴雷")


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_cli_evaluate_on_a_file(tmp_path, suffix):
    t = labelled(150)
    path = tmp_path / f"firms.{suffix}"
    if suffix == "csv":
        t.to_csv(path, index=False)
    else:
        t.to_excel(path, index=False)
    out = CliRunner().invoke(
        app, ["fundraising", "evaluate", str(path), "--label", "status", "--bad", "暴雷"]
    )
    assert out.exit_code == 0, out.output
    assert "AUC" in out.output and "规则指数" in out.output


def test_backtest_on_the_demo(db):
    bt = service.backtest(db, step_days=91)
    assert bt.dates > 5 and bt.collapses >= 0
    for v in (bt.flagged_90, bt.precision_top100, bt.baseline_flagged_90, bt.baseline_precision_top100):
        assert 0 <= v <= 1
