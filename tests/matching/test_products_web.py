"""Product pages and API: a lender edits only its own institution's products; the city approves."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.matching.models import Product, ProductStatus

FORM = {
    "name": "绿色科创贷",
    "kind": "tech",
    "min_amount_wan": "100",
    "max_amount_wan": "1000",
    "min_term_months": "12",
    "max_term_months": "36",
    "min_spread_bp": "0",
    "max_spread_bp": "120",
    "sizes": ["small", "medium"],
    "policy_tags": ["科技", "绿色"],
    "documents": "营业执照",
    "promise_contact_days": "2",
    "promise_decision_days": "8",
}


def test_lender_creates_city_approves_firm_then_sees_it(clients, db):
    lender = clients.as_user("lender")
    assert lender.get("/matching/products/new").status_code == 200
    r = lender.post("/matching/products", data={**FORM, "max_amount_wan": "50"}, follow_redirects=False)
    assert r.status_code == 422 and "金额上限不得低于下限" in r.text and "绿色科创贷" in r.text
    r = lender.post("/matching/products", data=FORM, follow_redirects=False)
    assert r.status_code == 303, r.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    firm = clients.as_user("firm")
    assert firm.get(f"/matching/products/{pid}").status_code == 404  # not approved yet
    assert clients.as_user("xihu").get(f"/matching/products/{pid}").status_code == 200  # officers read
    assert clients.as_user("xihu").post(f"/matching/products/{pid}/approve").status_code == 403
    assert lender.post(f"/matching/products/{pid}/approve").status_code == 403
    admin = clients.as_user("admin")
    page = admin.get(f"/matching/products/{pid}").text
    assert 'data-testid="pending-version"' in page and 'data-testid="approve-product"' in page
    assert admin.post(f"/matching/products/{pid}/approve", follow_redirects=False).status_code == 303
    assert firm.get(f"/matching/products/{pid}").status_code == 200
    # an edit by the lender: the history names the changed field in words
    r = lender.post(
        f"/matching/products/{pid}", data={**FORM, "max_term_months": "48"}, follow_redirects=False
    )
    assert r.status_code == 303
    page = admin.get(f"/matching/products/{pid}").text
    assert "最长期限（月）" in page and "36" in page and "48" in page
    assert db.get(Product, pid).max_term_months == 36  # live on the approved version until approval
    r = admin.post(
        f"/matching/products/{pid}/reject", data={"reason": "期限需与风控一致"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "期限需与风控一致" in lender.get(f"/matching/products/{pid}").text


def test_a_lender_cannot_touch_another_institutions_product(clients, db):
    me = db.scalar(select(User).where(User.username == "lender"))
    other = db.scalar(select(Product.id).where(Product.institution_id != me.institution_id))
    c = clients.as_user("lender")
    assert c.get(f"/matching/products/{other}").status_code == 404
    assert c.get(f"/matching/products/{other}/edit").status_code == 404
    assert c.post(f"/matching/products/{other}", data=FORM).status_code == 404
    assert c.patch(f"/api/v1/matching/products/{other}", json={"name": "x"}).status_code == 404
    # city staff see it but cannot edit (only the lender's own users do)
    assert clients.as_user("admin").get(f"/matching/products/{other}/edit").status_code == 403


def test_the_api_creates_patches_and_approves(clients, db):
    c = clients.as_user("lender")
    body = {k: v for k, v in FORM.items() if k != "documents"} | {"documents": ["营业执照"]}
    r = c.post("/api/v1/matching/products", json={**body, "min_term_months": 0})
    assert r.status_code == 422 and "最短期限（月）" in r.text
    r = c.post("/api/v1/matching/products", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["status"] == "pending" and r.json()["pending_version"] == 1
    admin = clients.as_user("admin")
    r = admin.post(f"/api/v1/matching/products/{pid}/approve", json={"approved": True})
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["live_version"] == 1
    r = c.patch(f"/api/v1/matching/products/{pid}", json={"max_amount_wan": 2000})
    assert r.status_code == 200 and r.json()["pending_version"] == 2 and r.json()["max_amount"] == 10_000_000
    r = admin.post(f"/api/v1/matching/products/{pid}/approve", json={"approved": False})
    assert r.status_code == 422  # a rejection needs a reason
    r = admin.post(f"/api/v1/matching/products/{pid}/approve", json={"approved": True})
    assert r.json()["max_amount"] == 20_000_000 and r.json()["live_version"] == 2
    assert db.get(Product, pid).status == ProductStatus.APPROVED
    assert (
        clients.as_user("firm")
        .post(f"/api/v1/matching/products/{pid}/approve", json={"approved": True})
        .status_code
        == 403
    )
