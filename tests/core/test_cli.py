"""The command line: help, migrations, users, demo refusal on a non-empty database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qiantang.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    out = runner.invoke(app, ["--help"]).output
    for command in ("db", "demo", "users", "serve"):
        assert command in out


@pytest.fixture
def fresh_sqlite(tmp_path, monkeypatch):
    from qiantang.config import get_settings
    from qiantang.db import reset_engine

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("QIANTANG_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
    yield url
    get_settings.cache_clear()
    reset_engine()


def test_upgrade_create_user_and_token(fresh_sqlite):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "数据库已升级" in result.output
    result = runner.invoke(
        app,
        ["users", "create", "boss", "--role", "city_admin"],
        env={"QIANTANG_NEW_PASSWORD": "a-long-password"},
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["users", "create", "boss2", "--role", "district_officer"],
        env={"QIANTANG_NEW_PASSWORD": "a-long-password"},
    )
    assert result.exit_code == 1 and "district_code" in result.output
    result = runner.invoke(app, ["users", "token", "boss"])
    assert result.exit_code == 0 and result.output.strip().startswith("qt_")
    result = runner.invoke(app, ["demo", "load", "--scale", "tiny"])
    assert result.exit_code == 1 and "数据库已有数据" in result.output
    result = runner.invoke(app, ["demo", "load", "--scale", "huge"])
    assert result.exit_code == 1


def test_plan_upload_values_from_the_command_line(fresh_sqlite, tmp_path):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = tmp_path / "bad.csv"
    header = "指标代码,年份,季度,数值,单位,数据质量,来源,备注\n"
    bad.write_text(header + "gdp,2020,,abc,亿元,官方,公报,\n", encoding="utf-8")
    result = runner.invoke(app, ["plan", "upload-values", str(bad)])
    assert result.exit_code == 1 and "应为数字" in result.output
    good = tmp_path / "good.csv"
    good.write_text(header + "gdp,2020,,16106,亿元,官方,公报,\n", encoding="utf-8")
    result = runner.invoke(app, ["plan", "upload-values", str(good)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["plan", "recompute"]).exit_code == 0
