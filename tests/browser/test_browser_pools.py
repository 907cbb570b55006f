"""In Chromium: city staff approve and pay a compensation claim; the pool's balance drops by its amount
once. A district officer proposes a 联保 group and sees the outcome."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qiantang.demo import DEMO_USERS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}


def login(page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_city_staff_approve_and_pay_a_claim(page):
    from qiantang.db import session_scope
    from qiantang.matching.models import ClaimState, PoolClaim, RiskPool

    with session_scope() as s:
        claim = s.scalars(select(PoolClaim).order_by(PoolClaim.state != ClaimState.COMPUTED)).first()
        assert claim is not None, "the demo has claims"
        claim.state, claim.approved_by, claim.paid_on = ClaimState.COMPUTED, None, None
        claim_id, pool_id, amount = claim.id, claim.pool_id, claim.pool_amount
        before = s.get(RiskPool, pool_id).balance
    login(page, "admin")
    page.goto(f"/matching/pools/{pool_id}")
    page.click(f"form[action='/matching/pools/claims/{claim_id}/approve'] button")
    page.wait_for_load_state()
    page.click(f"form[action='/matching/pools/claims/{claim_id}/pay'] button")
    page.wait_for_load_state()
    assert "已拨付" in page.inner_text("[data-testid=claims]")
    with session_scope() as s:
        assert s.get(PoolClaim, claim_id).state == ClaimState.PAID
        assert s.get(RiskPool, pool_id).balance == pytest.approx(before - amount)


def test_a_district_officer_proposes_a_joint_group(page):
    from qiantang.db import session_scope
    from qiantang.enterprises.models import Enterprise

    with session_scope() as s:
        usccs = list(s.scalars(select(Enterprise.uscc).where(Enterprise.district_code == "330106").limit(2)))
    login(page, "xihu")
    page.goto("/matching/joint-groups")
    page.fill("input[name=name]", "浏览器联保组")
    page.fill("textarea[name=usccs]", "\n".join(usccs))
    page.fill("input[name=amount_wan]", "100")
    page.click("[data-testid=joint-form] button[type=submit]")
    page.wait_for_load_state()
    row = page.locator("[data-testid=joint-groups] tr", has_text="浏览器联保组")
    assert row.count() == 1
    assert "已通过" in row.inner_text() or "不予组建" in row.inner_text()
