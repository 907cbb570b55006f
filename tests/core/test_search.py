"""Search through the text index finds exactly what ``LIKE '%q%'`` finds, in the same order, and keyset
pages walk the same list; the index follows every write; stored page results equal live counts."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, or_, select, update

from qiantang import paging, results, search
from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.cases import service as cases_service
from qiantang.cases.models import Case
from qiantang.credit import service as credit_service
from qiantang.earlywarning import service as ew_service
from qiantang.enterprises import service
from qiantang.enterprises.models import Enterprise
from qiantang.enterprises.service import EnterpriseFilters
from qiantang.registry import service as registry_service
from qiantang.registry.models import Institution
from qiantang.registry.service import InstitutionFilters

CITY = Scope(role=Role.CITY_ADMIN)
XIHU = Scope(role=Role.DISTRICT_OFFICER, district_code="330106")


@pytest.fixture(autouse=True)
def fresh_counts():
    """Each test's rows change inside its own transaction: no count cached by another test."""
    paging.clear_count_cache()
    yield
    paging.clear_count_cache()


def queries(db) -> list[str]:
    """1, 2, 3 and more characters from real names, mixed-case ASCII, a full USCC, and no match."""
    names = db.scalars(select(Enterprise.name).order_by(Enterprise.id).limit(40)).all()
    name = names[7]
    uscc = db.scalar(select(Enterprise.uscc).order_by(Enterprise.id.desc()).limit(1))
    return [
        name[0],
        name[1:3],
        name[2:5],
        name[:6],
        name,
        "科技",
        "有限公司",
        "贸易",
        uscc,
        uscc.lower(),
        "无此企业名称",
    ]


def like_ids(db, scope: Scope, q: str) -> list[int]:
    """Today's search: name LIKE '%q%' or the exact USCC, in id order."""
    stmt = (
        select(Enterprise.id)
        .where(scope.district_clause(Enterprise.district_code))
        .where(or_(Enterprise.name.like(f"%{q}%"), Enterprise.uscc == q.upper()))
        .order_by(Enterprise.id)
    )
    return list(db.scalars(stmt))


def all_pages(db, scope: Scope, filters: EnterpriseFilters, per_page: int) -> list[int]:
    """Every id, following the "next" links from the first page."""
    out, after = [], None
    while True:
        pg = service.page_enterprises(db, scope=scope, filters=filters, limit=per_page, after=after)
        out += [r.id for r in pg.rows]
        if pg.next_after is None:
            return out
        after = pg.next_after


@pytest.mark.parametrize("through", ["index", "table scan"])
def test_enterprise_search_equals_like_on_the_tiny_demo(db, monkeypatch, through):
    # Both plans of a search: the index, and (for a very common q on SQLite) a scan in id order.
    limit = 10**9 if through == "index" else -1
    monkeypatch.setattr(search, "INDEX_HITS_LIMIT", limit)
    monkeypatch.setattr(search, "SHORT_INDEX_HITS_LIMIT", limit)
    for scope in (CITY, XIHU):
        for q in queries(db):
            expected = like_ids(db, scope, q)
            found = all_pages(db, scope, EnterpriseFilters(q=q), per_page=7)
            assert found == expected, (q, scope.district_code)
            total, capped = service.count_enterprises(db, scope=scope, filters=EnterpriseFilters(q=q))
            assert (total, capped) == (len(expected), False)


def test_institution_and_case_search_equal_like(db):
    inst = db.scalars(select(Institution).order_by(Institution.id).limit(3)).all()[-1]
    for q in (inst.name[:1], inst.name[1:3], inst.name[:5], inst.uscc[2:8], "无此机构"):
        rows, total = registry_service.list_institutions(
            db, scope=CITY, filters=InstitutionFilters(q=q), limit=10_000
        )
        expected = db.scalars(
            select(Institution.id)
            .where(or_(Institution.name.like(f"%{q}%"), Institution.uscc.like(f"%{q}%")))
            .order_by(Institution.id)
        ).all()
        assert [r.id for r in rows] == list(expected) and total == len(expected), q
    title = db.scalar(select(Case.title).order_by(Case.id).limit(1))
    assert title, "the tiny demo opens cases"
    for q in (title[:2], title[2:6], "无此案件"):
        rows, total = cases_service.list_cases(
            db, scope=CITY, filters=cases_service.CaseFilters(q=q), limit=None
        )
        expected = set(db.scalars(select(Case.id).where(Case.title.like(f"%{q}%"))))
        assert {r.id for r in rows} == expected and total == len(expected), q


def test_the_index_follows_inserts_updates_and_deletes(db):
    ent = db.scalar(select(Enterprise).order_by(Enterprise.id).limit(1))
    scope = Scope(role=Role.CITY_ADMIN)

    def found(q: str) -> list[int]:
        return [r.id for r in service.page_enterprises(db, scope=scope, filters=EnterpriseFilters(q=q)).rows]

    db.execute(update(Enterprise).where(Enterprise.id == ent.id).values(name="钱塘测验鲲鹏有限公司"))
    assert found("测验鲲鹏") == [ent.id]
    assert found("鲲") == [ent.id]  # one character: the term range of the index
    db.execute(update(Enterprise).where(Enterprise.id == ent.id).values(name="钱塘另一名称有限公司"))
    assert found("测验鲲鹏") == [] and found("另一名称") == [ent.id]
    db.execute(delete(Enterprise).where(Enterprise.id == ent.id))
    assert found("另一名称") == []


def test_keyset_pages_go_forward_and_back(db):
    first = service.page_enterprises(db, scope=XIHU, filters=EnterpriseFilters(), limit=5)
    assert first.prev_before is None and first.next_after is not None
    second = service.page_enterprises(
        db, scope=XIHU, filters=EnterpriseFilters(), limit=5, after=first.next_after
    )
    back = service.page_enterprises(
        db, scope=XIHU, filters=EnterpriseFilters(), limit=5, before=second.prev_before
    )
    assert [r.id for r in back.rows] == [r.id for r in first.rows]
    expected = like_ids(db, XIHU, "")
    assert [r.id for r in first.rows + second.rows] == expected[:10]
    assert first.total == len(expected) and not first.total_capped


def test_broad_search_counts_up_to_the_cap(db, monkeypatch):
    monkeypatch.setattr(service, "COUNT_CAP", 3)
    pg = service.page_enterprises(db, scope=CITY, filters=EnterpriseFilters(q="公司"), limit=2)
    assert (pg.total, pg.total_capped) == (3, True)
    assert len(like_ids(db, CITY, "公司")) > 3


def test_enterprise_page_links_carry_the_key(clients, db):
    html = clients.as_user("analyst").get("/enterprises?q=公司").text
    first = service.page_enterprises(db, scope=CITY, filters=EnterpriseFilters(q="公司"), limit=50)
    assert f"after={first.next_after}" in html
    nxt = clients.as_user("analyst").get(f"/enterprises?q=公司&after={first.next_after}")
    second = service.page_enterprises(
        db, scope=CITY, filters=EnterpriseFilters(q="公司"), limit=50, after=first.next_after
    )
    assert nxt.status_code == 200 and f"before={second.rows[0].id}" in nxt.text
    assert second.rows[0].uscc in nxt.text and first.rows[0].uscc not in nxt.text


def test_stored_level_history_and_grades_equal_live_counts(db):
    stored = {s: ew_service.level_history(db, scope=s, quarters=8) for s in (CITY, XIHU)}
    runs = credit_service.current_runs(db)
    assert runs, "the tiny demo scores its enterprises"
    grades = {
        s: credit_service.grade_distribution(db, model_id=runs[0][0], as_of=runs[0][1], scope=s)
        for s in (CITY, XIHU)
    }
    assert results.read(db, kind=ew_service.LEVEL_HISTORY, scope=XIHU) is not None
    db.execute(delete(results.StoredResult))  # now the same functions count live
    for s in (CITY, XIHU):
        assert ew_service.level_history(db, scope=s, quarters=8) == stored[s]
        assert (
            credit_service.grade_distribution(db, model_id=runs[0][0], as_of=runs[0][1], scope=s) == grades[s]
        )
    assert sum(grades[CITY].values()) > sum(grades[XIHU].values()) > 0


def test_stored_dashboard_equals_the_live_one(clients, db):
    import json

    latest = ew_service.latest_period(db)
    for s in (CITY, XIHU):
        stored, row = ew_service.dashboard_page(db, scope=s)
        assert row is not None and row.as_of == latest
        live = ew_service._dashboard_with_top(db, scope=s, period_end=latest)
        assert json.loads(json.dumps(stored, default=str)) == json.loads(json.dumps(live, default=str))
    html = clients.as_user("xihu").get("/early-warning").text
    assert 'data-testid="as-of"' in html and f"数据截至 {latest.isoformat()}" in html
    earlier = clients.as_user("xihu").get("/early-warning?period=2024Q4").text
    assert 'data-testid="as-of"' not in earlier  # another quarter is computed on the spot
