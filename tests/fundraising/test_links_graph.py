"""The links graph of a firm's risk page: people (masked, no ID numbers) and the firms sharing them,
with grade / 失信 / hand-off / collapse status, scoped, and a table carrying the same links."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

from sqlalchemy import func, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.fundraising import service
from qiantang.fundraising.models import DishonestDebtor, FirmPerson, FirmScore

TODAY = date.today()


def linked_firm(db) -> tuple[int, int]:
    """A scored firm of the latest run sharing a person with another firm: (firm, other)."""
    run = service.latest_run(db)
    a, b = FirmPerson.__table__.alias("a"), FirmPerson.__table__.alias("b")
    row = db.execute(
        select(a.c.enterprise_id, b.c.enterprise_id)
        .join(b, (a.c.person_key == b.c.person_key) & (a.c.enterprise_id != b.c.enterprise_id))
        .join(FirmScore, (FirmScore.enterprise_id == a.c.enterprise_id) & (FirmScore.run_id == run.id))
        .order_by(a.c.enterprise_id, b.c.enterprise_id)
        .limit(1)
    ).first()
    assert row is not None, "the demo links firms through people"
    return row[0], row[1]


def test_graph_holds_the_firm_its_people_and_the_firms_sharing_them(db):
    eid, other = linked_firm(db)
    from qiantang.cases.models import Case

    db.add(DishonestDebtor(enterprise_id=other, name="x", listed_on=date(2024, 1, 1)))
    case = db.scalar(select(Case).where(Case.enterprise_id == other).limit(1))
    if case is not None:
        case.handed_off_at = datetime(2025, 1, 1)
    db.flush()
    g = service.link_graph(db, enterprise_id=eid, scope=Scope.system(), as_of=TODAY)
    ids = [f["id"] for f in g.firms]
    assert ids[0] == eid and g.firms[0]["focus"] and other in ids
    o = next(f for f in g.firms if f["id"] == other)
    assert o["dishonest"] and o["visible"]
    assert o["handed_off"] == (case is not None)
    own_people = db.scalar(
        select(func.count(func.distinct(FirmPerson.person_key))).where(FirmPerson.enterprise_id == eid)
    )
    assert len(g.people) == min(own_people, 30)
    assert all(re.fullmatch(r"p\d+", p["node"]) for p in g.people)  # never the person key
    assert {e[1] for e in g.edges} <= set(ids) and any(e[1] == other for e in g.edges)
    small = service.link_graph(db, enterprise_id=eid, scope=Scope.system(), as_of=TODAY, max_firms=1)
    assert [f["id"] for f in small.firms] == [eid] and small.truncated


def test_a_district_officer_sees_other_districts_firms_without_names(db):
    eid, _other = linked_firm(db)
    district = db.scalar(select(FirmScore.district_code).where(FirmScore.enterprise_id == eid).limit(1))
    g = service.link_graph(
        db, enterprise_id=eid, scope=Scope(role=Role.DISTRICT_OFFICER, district_code=district), as_of=TODAY
    )
    for f in g.firms:
        assert f["visible"] == (f["district_code"] == district)


def test_page_draws_the_graph_with_masked_people_and_a_table(clients, db):
    eid, other = linked_firm(db)
    r = clients.as_user("analyst").get(f"/fundraising/firms/{eid}")
    assert r.status_code == 200
    m = re.search(r'data-graph="([^"]+)"', r.text)
    assert m, "the graph's data is on the page"
    import html

    spec = json.loads(html.unescape(m.group(1)))
    assert spec["directed"] is False and len(spec["categories"]) == 6
    assert spec["fit"] is True  # drawn fitted to its box (static/js/network.js)
    assert f"f{other}" in {n["id"] for n in spec["nodes"]}
    people = [n for n in spec["nodes"] if n["symbol"] == "rect"]
    names = set(db.scalars(select(FirmPerson.name).where(FirmPerson.enterprise_id == eid)))
    ids = set(db.scalars(select(FirmPerson.id_masked).where(FirmPerson.enterprise_id == eid)))
    assert people and all("*" in p["name"] for p in people)  # masked for an analyst
    assert not any(n in r.text for n in names if len(n) > 1)  # no full name anywhere on the page
    assert not any(i in json.dumps(spec) for i in ids if i)  # no ID number, even masked, in the graph
    assert 'data-testid="linked"' in r.text and "/static/js/network.js" in r.text
    c = clients.as_user("analyst")
    c.cookies.set("lang", "en")
    en = c.get(f"/fundraising/firms/{eid}").text
    assert "Links through people" in en and "Not scored" in en
