"""Searching needs by firm name or USCC, status, district and period — within what each user may see."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise
from qiantang.matching import service
from qiantang.matching.models import Need

XIHU = "330106"


def ids(db, **kw) -> set[int]:
    rows, total = service.list_needs(db, scope=Scope.system(), limit=None, **kw)
    assert total == len(rows)
    return {n.id for n in rows}


def test_each_filter_narrows_to_exactly_the_matching_needs(db):
    needs = list(db.scalars(select(Need)))
    assert needs
    n = needs[len(needs) // 2]
    ent = db.get(Enterprise, n.enterprise_id)
    same_firm = {x.id for x in needs if x.enterprise_id == ent.id}
    assert ids(db, q=ent.uscc) == same_firm
    assert ids(db, q=ent.uscc.lower()) == same_firm  # typed in lower case
    assert n.id in ids(db, q=ent.name[-6:])
    assert ids(db, q="不存在的企业名称甲乙丙") == set()
    assert ids(db, status=n.status) == {x.id for x in needs if x.status == n.status}
    assert ids(db, district_code=XIHU) == {x.id for x in needs if x.district_code == XIHU}
    day = n.posted_on
    assert ids(db, since=day, until=day) == {x.id for x in needs if x.posted_on == day}
    assert ids(db, since=day + timedelta(days=1)) == {x.id for x in needs if x.posted_on > day}
    assert ids(db) == {x.id for x in needs}


def test_the_page_accepts_its_own_defaults_and_keeps_scope(clients, db):
    admin = clients.as_user("admin")
    r = admin.get("/matching?q=&status=&district=&since=&until=")
    assert r.status_code == 200 and 'data-testid="need-search"' in r.text
    assert admin.get("/matching?since=2025-13-01").status_code == 422  # a date that is not one
    other = db.scalar(select(Need).where(Need.district_code != XIHU))
    ent = db.get(Enterprise, other.enterprise_id)
    # a district officer searching another district's firm finds nothing
    page = clients.as_user("xihu").get(f"/matching?q={ent.uscc}").text
    assert f'/matching/needs/{other.id}"' not in page
    assert f'/matching/needs/{other.id}"' in admin.get(f"/matching?q={ent.uscc}").text
    assert admin.get("/matching/products?kind=&status=").status_code == 200
    assert admin.get("/matching/products?kind=credit").status_code == 200
    assert admin.get("/matching/products?kind=loan").status_code == 422
    r = admin.get(f"/matching/export?q={ent.uscc}")
    assert r.status_code == 200
