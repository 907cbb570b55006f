"""In Chromium: a firm posts a financing need, a lender it was offered to picks it up, records the first
contact and approves it; the firm sees the outcome."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qiantang.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}


def login(page, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)  # lenders and firms land on /matching


def test_firm_posts_a_need_a_lender_picks_it_up_and_decides(page):
    from qiantang.auth.models import Role
    from qiantang.auth.service import create_user
    from qiantang.db import session_scope
    from qiantang.matching.models import Need, Offer

    login(page, "firm", PASSWORDS["firm"])
    page.goto("/matching/needs/new")
    page.fill("input[name=amount_wan]", "120")
    page.fill("input[name=term_months]", "12")
    page.fill("input[name=purpose]", "订单备货")
    page.check("input[name=collateral][value=real_estate]")
    page.click("[data-testid=need-form] button[type=submit]")
    page.wait_for_url("**/matching/needs/*")
    need_id = int(page.url.rsplit("/", 1)[1])
    assert "订单备货" in page.inner_text("[data-testid=need-facts]")
    assert page.locator("[data-testid=recommendations]").count() == 1

    with session_scope() as s:
        offer = s.scalars(select(Offer).where(Offer.need_id == need_id).order_by(Offer.rank)).first()
        assert offer is not None, "the need was offered to at least one lender"
        create_user(
            s,
            username="lender2",
            password="lender-pass-2026",
            role=Role.LENDER,
            institution_id=offer.institution_id,
        )
    login(page, "lender2", "lender-pass-2026")
    page.goto(f"/matching/needs/{need_id}")
    page.click("[data-testid=offers] button:has-text('接单')")
    page.wait_for_load_state()
    page.click("[data-testid=offers] button:has-text('登记首次对接')")
    page.wait_for_load_state()
    page.fill("[data-testid=offers] input[name=amount_wan]", "100")
    page.click("[data-testid=offers] button:has-text('授信')")
    page.wait_for_load_state()
    assert "100.00 万元" in page.inner_text("[data-testid=offers]")

    login(page, "firm", PASSWORDS["firm"])
    page.goto(f"/matching/needs/{need_id}")
    assert "已授信" in page.inner_text("[data-testid=need-facts]")
    assert "100.00 万元" in page.inner_text("[data-testid=offers]")
    with session_scope() as s:
        assert s.get(Need, need_id).status.value == "approved"


def test_a_lender_creates_a_product_and_the_city_approves_it(page):
    login(page, "lender", PASSWORDS["lender"])
    page.goto("/matching/products")
    page.click("[data-testid=new-product]")
    page.fill("input[name=name]", "浏览器测试科创贷")
    page.select_option("select[name=kind]", "tech")
    page.fill("input[name=min_amount_wan]", "300")
    page.fill("input[name=max_amount_wan]", "200")  # below the minimum: refused, nothing lost
    page.fill("input[name=min_term_months]", "6")
    page.fill("input[name=max_term_months]", "36")
    page.fill("input[name=min_spread_bp]", "0")
    page.fill("input[name=max_spread_bp]", "100")
    page.check("input[name=policy_tags][value=科技]")
    page.click("[data-testid=product-form] button[type=submit]")
    assert "金额上限不得低于下限" in page.inner_text("[data-testid=product-errors]")
    assert page.input_value("input[name=name]") == "浏览器测试科创贷"
    page.fill("input[name=max_amount_wan]", "3000")
    page.click("[data-testid=product-form] button[type=submit]")
    page.wait_for_url("**/matching/products/*")
    url = page.url
    assert "待审核" in page.inner_text("[data-testid=product-status]")
    login(page, "admin", PASSWORDS["admin"])
    page.goto(url)
    page.click("[data-testid=approve-product]")
    page.wait_for_url(url)
    assert "已审批" in page.inner_text("[data-testid=product-status]")
    login(page, "firm", PASSWORDS["firm"])
    page.goto("/matching/products?kind=tech")
    assert "浏览器测试科创贷" in page.inner_text("[data-testid=products]")
