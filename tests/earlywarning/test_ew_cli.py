"""`qiantang ew run` recomputes the early warning on the configured database; `ew backtest` prints
the backtest table."""

from __future__ import annotations

import re
import sqlite3

from typer.testing import CliRunner

from qiantang.cli import app


def test_ew_run_records_a_run_and_keeps_the_alerts(snapshot_copy):
    with sqlite3.connect(snapshot_copy) as conn:
        runs = conn.execute("SELECT COUNT(*) FROM ew_runs").fetchone()[0]
        open_alerts = conn.execute("SELECT COUNT(*) FROM ew_alerts WHERE status = 'open'").fetchone()[0]
    result = CliRunner().invoke(app, ["ew", "run"])
    assert result.exit_code == 0, result.output
    assert re.search(r"early warning computed in [\d.]+ s", result.output)
    assert f"未消除 open {open_alerts:,}" in result.output  # the same data gives the same alerts
    with sqlite3.connect(snapshot_copy) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ew_runs").fetchone()[0] == runs + 1
        triggered = conn.execute("SELECT triggered_by FROM ew_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert triggered == "cli"


def test_ew_backtest_prints_every_method(snapshot_copy):
    result = CliRunner().invoke(app, ["ew", "backtest"])
    assert result.exit_code == 0, result.output
    for name in ("监管指标越限", "同业异常", "趋势突变", "报送异常", "风险评级橙色/红色"):
        assert name in result.output
