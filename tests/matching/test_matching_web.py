"""Who sees which needs (city, district, lender, firm) on pages and the API, and the lender's actions."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.matching.models import Need, Offer, OfferState

XIHU = "330106"


def ids(client, url="/api/v1/matching/needs?limit=1000") -> set[int]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return {n["id"] for n in r.json()["items"]}


def test_each_role_sees_its_own_needs(clients, db):
    everyone = set(db.scalars(select(Need.id)))
    assert everyone, "the demo load runs the matchmaking"
    assert ids(clients.as_user("analyst")) == everyone
    xihu = ids(clients.as_user("xihu"))
    assert xihu == set(db.scalars(select(Need.id).where(Need.district_code == XIHU)))
    lender = db.scalar(select(User).where(User.username == "lender"))
    offered = set(db.scalars(select(Offer.need_id).where(Offer.institution_id == lender.institution_id)))
    assert ids(clients.as_user("lender")) == offered and offered
    firm = db.scalar(select(User).where(User.username == "firm"))
    own = set(db.scalars(select(Need.id).where(Need.enterprise_id == firm.enterprise_id)))
    assert ids(clients.as_user("firm")) == own and own
    # A need of someone else answers 403 to the firm and to a district officer of another district.
    other = db.scalar(
        select(Need.id).where(Need.enterprise_id != firm.enterprise_id, Need.district_code != XIHU)
    )
    assert clients.as_user("firm").get(f"/matching/needs/{other}").status_code == 403
    assert clients.as_user("xihu").get(f"/matching/needs/{other}").status_code == 403
    assert clients.as_user("reporter").get("/matching").status_code == 403


def test_pages_render_for_every_role(clients, db):
    need = db.scalar(select(Need.id).order_by(Need.id))
    for user in ("admin", "analyst", "xihu", "auditor", "lender", "firm"):
        c = clients.as_user(user)
        assert c.get("/matching").status_code == 200, user
        assert c.get("/matching/products").status_code == 200, user
    html = clients.as_user("admin").get(f"/matching/needs/{need}").text
    assert 'data-testid="recommendations"' in html
    # the versions behind the reasons are named in words, never by their codes
    assert "匹配规则 2026 年第 2 版，2026-12-06 起施行" in html
    assert "eligibility-" not in html and "ranking-20" not in html


def test_a_lender_acts_only_on_its_own_offers_and_the_auditor_not_at_all(clients, db):
    lender = db.scalar(select(User).where(User.username == "lender"))
    mine = db.scalar(
        select(Offer).where(Offer.institution_id == lender.institution_id, Offer.state == OfferState.OFFERED)
    )
    theirs = db.scalar(
        select(Offer).where(Offer.institution_id != lender.institution_id, Offer.state == OfferState.OFFERED)
    )
    c = clients.as_user("lender")
    if theirs is not None:
        assert c.post(f"/api/v1/matching/offers/{theirs.id}/claim").status_code == 403
    assert (
        clients.as_user("auditor").post(f"/api/v1/matching/offers/{(mine or theirs).id}/claim").status_code
        == 403
    )
    if mine is not None:
        r = c.post(f"/api/v1/matching/offers/{mine.id}/claim")
        assert r.status_code in (200, 409), r.text  # 409 when three lenders already picked it up


def test_a_need_posted_with_errors_is_refused_in_chinese(clients, db):
    c = clients.as_user("firm")
    r = c.post("/matching/needs", data={"amount_wan": "0", "term_months": "", "purpose": ""})
    assert r.status_code == 422
    assert "须大于 0" in r.text and "期限（月）" in r.text and "资金用途" in r.text
