"""Menus, pages and permissions agree: a role sees a menu item exactly when it may open the page,
and the buttons on a page lead to pages that open."""

from __future__ import annotations

import pytest

from qiantang.demo import DEMO_USERS
from qiantang.web.templating import NAV, nav_for

USERS = [u.username for u in DEMO_USERS]


@pytest.mark.parametrize("username", USERS)
def test_a_menu_item_is_shown_exactly_when_its_page_opens(clients, username):
    from qiantang.auth.service import get_user_by_username

    user = get_user_by_username(clients.db, username)
    shown = {item.code for item in nav_for(user)}
    c = clients.as_user(username)
    home = c.get("/", follow_redirects=True).text
    for item in NAV:
        if not item.built:
            continue
        r = c.get(item.url, follow_redirects=True)
        status = r.status_code
        assert status in (200, 403), (item.url, status)
        # A page that sends this role to another menu page (the overview sends lenders and firms
        # to their own home) does not open for it.
        if status == 200 and r.url.path != item.url and r.url.path in {i.url for i in NAV}:
            status = 403
        assert (status == 200) == (item.code in shown), (
            f"{username}: menu {item.code} vs {item.url} → {status}"
        )
        assert (f'href="{item.url}"' in home) == (item.code in shown) or item.url == "/", item.url


def test_the_edit_button_and_the_edit_page_agree(clients, db):
    from sqlalchemy import select

    from qiantang.registry.models import Institution, InstitutionStatus

    c = clients.as_user("admin")
    for status in InstitutionStatus:
        inst = db.scalar(
            select(Institution).where(Institution.status == status).order_by(Institution.id).limit(1)
        )
        if inst is None:
            continue
        detail = c.get(f"/institutions/{inst.id}").text
        has_button = f'href="/institutions/{inst.id}/edit"' in detail
        edit = c.get(f"/institutions/{inst.id}/edit")
        assert has_button == status.is_open, status
        assert edit.status_code == (200 if has_button else 409), status
        if not has_button:
            assert "已注销或吊销的机构不能再修改" in edit.text and "Traceback" not in edit.text
            posted = c.post(f"/institutions/{inst.id}/edit", data={"name": "改名"})
            assert posted.status_code == 409
    assert db.scalar(select(Institution).where(Institution.status == InstitutionStatus.DEREGISTERED).limit(1))


@pytest.mark.parametrize("username", ["lender", "firm"])
def test_lenders_and_firms_see_no_city_data_through_the_api(clients, username):
    c = clients.as_user(username)
    for path in ("/api/v1/overview", "/api/v1/institutions", "/api/v1/institutions/1"):
        assert c.get(path).status_code == 403, path
    # The reference lists a form needs stay open to every signed-in user.
    assert c.get("/api/v1/areas").status_code == 200
    assert c.get("/", follow_redirects=False).headers["location"] == "/matching"
