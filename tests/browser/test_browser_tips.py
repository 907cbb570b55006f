"""In Chromium: a member of the public reports a firm on /report-tip without logging in, gets a receipt
code and follows it; the city handles the tip in its inbox and the receipt shows the new status."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from qiantang.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
SHOTS = Path(os.environ.get("QIANTANG_SCREENSHOTS", "var/screenshots"))
FIRM = "浏览器测试某某财富管理有限公司"
EVIL = "<script>window.__tip_xss = 1</script>"


def test_submit_a_tip_and_follow_its_receipt(page):
    page.goto("/report-tip")
    assert page.locator("h1").inner_text() == "举报非法集资"
    assert page.locator("[data-testid=whoami]").count() == 0  # nobody is logged in
    page.fill("input[name=firm]", FIRM)
    page.fill(
        "textarea[name=what_happened]",
        "业务员在公园里拉老人开会，承诺年化收益百分之二十，保本保息，每月返利。" + EVIL,
    )
    page.fill("input[name=amount]", "200000")
    page.fill("input[name=people]", "30")
    page.click("form[data-testid=tip-form] button[type=submit]")
    page.wait_for_url("**/report-tip/status?code=*")
    code = page.locator("[data-testid=receipt-code]").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    assert "已收到" in page.locator("[data-testid=tip-status-text]").inner_text()
    assert FIRM not in page.content()  # the tipster sees nothing of the firm or the report
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "tip-receipt.png"), full_page=True)

    # Follow the receipt later, from the status page's own form.
    page.goto("/report-tip/status")
    page.fill("input[name=code]", code.lower().replace("-", ""))
    page.click("form[data-testid=tip-status-form] button[type=submit]")
    assert "已收到" in page.locator("[data-testid=tip-status-text]").inner_text()

    # The city (the firm is not in the register) handles it; the script never ran anywhere.
    page.goto("/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.goto("/fundraising/tips?matched=0")
    page.get_by_role("link", name=re.compile("业务员在公园")).first.click()
    assert page.evaluate("window.__tip_xss") is None
    assert EVIL in page.locator("[data-testid=tip-reports]").inner_text()  # shown as text
    page.fill("form[data-action=handle] textarea[name=note]", "已移交属地派出所核查")
    page.click("form[data-action=handle] button[type=submit]")
    assert page.locator("[data-testid=tip-state]").inner_text() == "已处理"
    page.context.clear_cookies()
    page.goto(f"/report-tip/status?code={code}")
    assert "已处理完毕" in page.locator("[data-testid=tip-status-text]").inner_text()
