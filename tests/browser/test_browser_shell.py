"""In Chromium: log in, open the overview with its charts, switch language, log out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qiantang.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
SHOTS = Path(os.environ.get("QIANTANG_SCREENSHOTS", "var/screenshots"))


def log_in(page, username):
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button[type=submit]")


def test_login_overview_and_language_switch(page):
    log_in(page, "admin")
    page.wait_for_url("**/")
    assert page.locator("h1").first.inner_text().startswith("概览")
    assert "演示数据" in page.locator(".demo-banner").inner_text()
    cards = page.locator("[data-testid=card-npl] .v").inner_text()
    assert cards.endswith("%")
    # ECharts drew its canvases (the charts script loaded, no CDN involved).
    page.wait_for_selector("#chart-institutions canvas", timeout=15_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview-zh.png"), full_page=True)

    page.click("a[data-lang=en]")
    page.wait_for_url("**/")
    assert page.locator("h1").first.inner_text().startswith("Overview")
    assert "NPL ratio" in page.content()
    page.screenshot(path=str(SHOTS / "overview-en.png"), full_page=True)

    page.click("a[data-lang=zh_CN]")
    assert page.locator("h1").first.inner_text().startswith("概览")
    page.click("text=退出")
    page.wait_for_url("**/login")


def test_wrong_password_shows_a_message(page):
    page.goto("/login")
    page.fill("#username", "admin")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator("[data-testid=login-error]").inner_text()


def test_district_officer_sees_its_district(page):
    log_in(page, "xihu")
    page.wait_for_url("**/")
    page.goto("/institutions")
    districts = set(page.locator("[data-testid=institutions] tbody tr td:nth-child(4)").all_inner_texts())
    assert districts == {"西湖区"}
