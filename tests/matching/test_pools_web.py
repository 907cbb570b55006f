"""Risk pools on pages and the API: who sees which claims, who approves and pays, the 联保 form and the
firm-profile panel."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.matching.models import ClaimState, Need, PoolClaim, RiskPool


def claim_ids(client) -> set[int]:
    r = client.get("/api/v1/matching/pools/claims")
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()}


def test_each_role_sees_its_claims_and_firms_see_no_pools(clients, db):
    every = set(db.scalars(select(PoolClaim.id)))
    assert every, "the demo's covered loans default into claims"
    assert claim_ids(clients.as_user("analyst")) == every
    xihu = set(
        db.scalars(
            select(PoolClaim.id)
            .join(Loan, Loan.id == PoolClaim.loan_id)
            .join(Enterprise, Enterprise.id == Loan.borrower_id)
            .where(Enterprise.district_code == "330106")
        )
    )
    assert claim_ids(clients.as_user("xihu")) == xihu
    lender = db.scalar(select(User).where(User.username == "lender"))
    own = set(
        db.scalars(
            select(PoolClaim.id)
            .join(Loan, Loan.id == PoolClaim.loan_id)
            .where(Loan.lender_id == lender.institution_id)
        )
    )
    assert claim_ids(clients.as_user("lender")) == own
    firm = clients.as_user("firm")
    assert firm.get("/matching/pools").status_code == 403
    assert firm.get("/api/v1/matching/pools").status_code == 403
    for user in ("admin", "analyst", "xihu", "auditor", "lender"):
        c = clients.as_user(user)
        for url in (
            "/matching/pools",
            "/matching/subsidies",
            f"/matching/pools/{db.scalar(select(RiskPool.id))}",
        ):
            assert c.get(url).status_code == 200, (user, url)
    r = clients.as_user("admin").get("/matching/pools/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_only_city_staff_approve_and_pay(clients, db):
    claim = db.scalar(select(PoolClaim).order_by(PoolClaim.state != ClaimState.COMPUTED, PoolClaim.id))
    assert claim is not None
    claim.state, claim.paid_on, claim.approved_by = ClaimState.COMPUTED, None, None  # as if just computed
    db.flush()
    for user in ("xihu", "lender", "auditor", "firm"):
        assert (
            clients.as_user(user).post(f"/api/v1/matching/pools/claims/{claim.id}/approve").status_code == 403
        )
    admin = clients.as_user("admin")
    pool = db.get(RiskPool, claim.pool_id)
    before = pool.balance
    r = admin.post(f"/api/v1/matching/pools/claims/{claim.id}/approve")
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert admin.post(f"/api/v1/matching/pools/claims/{claim.id}/approve").status_code == 409
    r = admin.post(f"/api/v1/matching/pools/claims/{claim.id}/pay")
    assert r.status_code == 200 and r.json()["state"] == "paid"
    assert admin.post(f"/api/v1/matching/pools/claims/{claim.id}/pay").status_code == 409
    db.refresh(pool)
    assert pool.balance == before - claim.pool_amount


def test_the_joint_group_form_refuses_with_the_reason_in_chinese(clients, db):
    firms = db.scalars(select(Enterprise).where(Enterprise.district_code == "330106").limit(2)).all()
    c = clients.as_user("xihu")
    assert c.get("/matching/joint-groups").status_code == 200
    r = c.post("/matching/joint-groups", data={"name": "甲", "usccs": firms[0].uscc, "amount_wan": "100"})
    assert r.status_code == 422 and "至少需要两家企业" in r.text
    r = c.post(
        "/matching/joint-groups",
        data={"name": "乙", "usccs": f"{firms[0].uscc}，{firms[1].uscc}", "amount_wan": "100"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "乙" in c.get("/matching/joint-groups").text
    assert clients.as_user("lender").get("/matching/joint-groups").status_code == 403


def test_the_firm_profile_shows_its_needs_outcomes_and_coverage(clients, db):
    claim = db.scalar(select(PoolClaim))
    firm = db.scalar(
        select(Enterprise).join(Loan, Loan.borrower_id == Enterprise.id).where(Loan.id == claim.loan_id)
    )
    html = clients.as_user("admin").get(f"/enterprises/{firm.uscc}").text
    assert 'data-testid="matching-panel"' in html
    need = db.scalar(select(Need).where(Need.enterprise_id == firm.id))
    assert need.purpose in html and "首贷风险补偿资金池" in html
    other = db.scalar(
        select(Enterprise).where(
            ~Enterprise.id.in_(select(Need.enterprise_id)), Enterprise.deregistered_on.is_(None)
        )
    )
    assert (
        'data-testid="matching-panel"' not in clients.as_user("admin").get(f"/enterprises/{other.uscc}").text
    )
