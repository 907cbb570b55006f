"""In Chromium, against a real server with its worker: upload a table for cross-validation, watch the
progress bar move, and read the result when the job is done."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from qiantang.demo import DEMO_USERS
from tests.helpers import copy_sqlite
from tests.jobs.conftest import server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
SHOTS = Path(os.environ.get("QIANTANG_SCREENSHOTS", "var/screenshots"))


def applicants_csv(path: Path, rows: int = 1500) -> Path:
    """A table of applicants whose risk depends on income and home ownership (seeded)."""
    rng = np.random.default_rng(11)
    income = rng.normal(120, 40, rows).round(1)
    home = rng.choice(["owner", "rent", "parents"], rows, p=[0.4, 0.45, 0.15])
    age = rng.integers(20, 65, rows)
    logit = -1.0 - 0.02 * (income - 120) + np.where(home == "rent", 0.8, 0.0) - 0.01 * (age - 40)
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    lines = ["Income,Home,Age,Status"] + [
        f"{i},{h},{a},{'bad' if b else 'good'}" for i, h, a, b in zip(income, home, age, bad, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def served_with_worker(sqlite_snapshot, tmp_path):
    path = tmp_path / "qiantang.db"
    copy_sqlite(sqlite_snapshot, path)
    with server(path, tmp_path / "server.log", worker=True, QIANTANG_JOB_SCHEDULES="false") as url:
        yield url


def test_cross_validation_runs_as_a_job_with_a_progress_bar(browser, served_with_worker, tmp_path):
    context = browser.new_context(
        base_url=served_with_worker, locale="zh-CN", viewport={"width": 1366, "height": 768}
    )
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", "analyst")
    page.fill("#password", PASSWORDS["analyst"])
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.goto("/credit/upload")
    page.set_input_files("input[name=file]", str(applicants_csv(tmp_path / "applicants.csv")))
    page.fill("input[name=target]", "Status")
    page.fill("input[name=bad]", "bad")
    page.click("form[action='/credit/upload'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    assert "自有数据交叉验证" in page.locator("h1").inner_text()
    seen: list[int] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if page.locator("[data-testid=cv-table]").count():
            break
        text = page.locator("[data-testid=job-percent]").inner_text()
        seen.append(int(text.rstrip("%")))
        if 0 < seen[-1] < 100 and not (SHOTS / "job-progress-zh.png").exists():
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "job-progress-zh.png"), full_page=True)
        assert not page.locator("[data-testid=job-error]").count(), page.locator(
            "[data-testid=job-error]"
        ).inner_text()
        time.sleep(0.3)
    # The bar moved on its own (htmx polling), through values between 0 and 100, never backwards.
    assert any(0 < p < 100 for p in seen), seen
    assert seen == sorted(seen), seen
    table = page.locator("[data-testid=cv-table]").inner_text()
    assert "评分卡（本平台）" in table and "普通逻辑回归" in table
    assert page.locator("[data-testid=job-percent]").inner_text() == "100%"
    page.screenshot(path=str(SHOTS / "job-done-zh.png"), full_page=True)
    # The job is listed on "my jobs", and the bell counts the notice that it ended.
    page.goto("/jobs")
    assert "自有数据交叉验证" in page.locator("[data-testid=jobs]").inner_text()
    page.wait_for_selector("[data-testid=unread]", timeout=10_000)
    context.close()
