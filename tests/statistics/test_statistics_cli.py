"""`qiantang stats refresh` recomputes the statistics cells too and prints both timings."""

from __future__ import annotations

import re
import sqlite3

import pytest
from typer.testing import CliRunner

from qiantang.cli import app
from tests.helpers import copy_sqlite


@pytest.fixture
def snapshot_copy(sqlite_snapshot, tmp_path, monkeypatch):
    from qiantang.config import get_settings
    from qiantang.db import reset_engine

    path = tmp_path / "stats.db"
    copy_sqlite(sqlite_snapshot, path)
    monkeypatch.setenv("QIANTANG_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    reset_engine()
    yield path
    get_settings.cache_clear()
    reset_engine()


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
