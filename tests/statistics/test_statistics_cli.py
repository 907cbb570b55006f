"""`qiantang stats refresh` recomputes the statistics cells too and prints both timings."""

from __future__ import annotations

import re
import sqlite3

from typer.testing import CliRunner

from qiantang.cli import app


def test_stats_refresh_prints_both_timings(snapshot_copy):
    with sqlite3.connect(snapshot_copy) as conn:
        refreshes = conn.execute("SELECT COUNT(*) FROM stat_refreshes").fetchone()[0]
        cells = conn.execute("SELECT COUNT(*) FROM stat_cells").fetchone()[0]
    assert refreshes == 1 and cells > 0  # the demo load refreshed once
    result = CliRunner().invoke(app, ["stats", "refresh"])
    assert result.exit_code == 0, result.output
    assert re.search(r"summaries refreshed in [\d.]+ s", result.output)
    assert re.search(r"statistics refreshed in [\d.]+ s \([\d,]+ cells\)", result.output)
    with sqlite3.connect(snapshot_copy) as conn:
        assert conn.execute("SELECT COUNT(*) FROM stat_refreshes").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM stat_cells").fetchone()[0] == cells
