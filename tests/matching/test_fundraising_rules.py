"""Matching reads the fundraising monitoring: a firm on the 失信被执行人 list (in force on the matching
date) or graded red in the latest scoring run is offered no product, with the reason; orange is shown,
not excluded; name lists leave such firms out and count them; pages show grade and flag."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.auth.scope import Scope
from qiantang.fundraising import service as fr
from qiantang.fundraising.models import DishonestDebtor, FirmScore, ScoreRun
from qiantang.matching import engine, service
from qiantang.matching import namelists as lists
from qiantang.matching.models import NeedEvent, Recommendation

from .test_matching_service import MONDAY, add_products, firm, post

TODAY = date.today()


def listed(db, ent, *, on: date, removed: date | None = None) -> DishonestDebtor:
    d = DishonestDebtor(
        enterprise_id=ent.id,
        uscc=ent.uscc,
        name=ent.name,
        case_no="（2025）浙0106执123号",
        listed_on=on,
        removed_on=removed,
    )
    db.add(d)
    db.flush()
    return d


def graded(db, ent, grade: str, *, as_of: date) -> ScoreRun:
    """A scoring run on ``as_of`` holding only this firm, with ``grade``."""
    run = ScoreRun(as_of=as_of, version="test", firms=1, counts={grade: 1})
    db.add(run)
    db.flush()
    db.add(
        FirmScore(
            run_id=run.id,
            enterprise_id=ent.id,
            district_code=ent.district_code,
            score=80.0,
            grade=grade,
            version="test",
        )
    )
    db.flush()
    return run


def test_risk_flags_read_the_list_in_force_and_the_latest_run_as_of_the_date(db):
    ent = firm(db)
    listed(db, ent, on=date(2026, 1, 10), removed=date(2026, 2, 20))
    graded(db, ent, "orange", as_of=date(2026, 1, 31))
    graded(db, ent, "red", as_of=date(2026, 2, 28))
    before = fr.risk_flags(db, [ent.id], date(2026, 1, 9)).get(ent.id, fr.NO_FLAGS)
    assert not before.dishonest  # not listed yet
    during = fr.risk_flags(db, [ent.id], date(2026, 2, 1))[ent.id]
    assert during.dishonest and during.dishonest_since == date(2026, 1, 10)
    assert during.grade == "orange" and during.scored_on == date(2026, 1, 31)  # the run on or before
    after = fr.risk_flags(db, [ent.id], date(2026, 3, 1))[ent.id]
    assert not after.dishonest and after.grade == "red"  # removed on 2026-02-20; the later run
    assert fr.risk_flags(db, [], TODAY) == {}


def test_risk_flags_cost_two_queries_whatever_the_batch(db):
    from sqlalchemy import event

    from qiantang.enterprises.models import Enterprise

    ids = list(db.scalars(select(Enterprise.id)))
    statements = []

    def count(*_a, **_k):
        statements.append(1)

    conn = db.connection()
    event.listen(conn, "before_cursor_execute", count)
    try:
        fr.risk_flags(db, ids[:10], TODAY)
        small = len(statements)
        statements.clear()
        fr.risk_flags(db, ids * 1 + list(range(10**6, 10**6 + 3000)), TODAY)  # large: no IN list
        large = len(statements)
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert small <= 3 and large <= 3  # the latest run, its scores, the list


def test_a_dishonest_firm_gets_no_offer_and_the_reason_on_its_timeline(db):
    add_products(db, 3)
    ent = firm(db)
    listed(db, ent, on=MONDAY - timedelta(days=30))
    need = post(db, ent)
    assert service.offer(db, need=need, today=MONDAY) == []
    ev = db.scalar(select(NeedEvent).where(NeedEvent.need_id == need.id, NeedEvent.event == "excluded"))
    assert ev is not None and "失信被执行人" in ev.detail and engine.load_rules().version in ev.detail
    service.offer(db, need=need, today=MONDAY)  # again: the reason is written once
    n = db.scalars(select(NeedEvent).where(NeedEvent.need_id == need.id, NeedEvent.event == "excluded")).all()
    assert len(n) == 1
    why = service.explain_need(db, need=need, today=MONDAY, zh=True)
    assert why and all(not e["eligible"] and e["reasons"][0]["rule"] == "dishonest" for e in why)
    en = service.explain_need(db, need=need, today=MONDAY, zh=False)
    assert "dishonest judgment debtors" in en[0]["reasons"][0]["text"]


def test_a_firm_removed_from_the_list_before_the_date_is_matched(db):
    add_products(db, 3)
    ent = firm(db)
    listed(db, ent, on=MONDAY - timedelta(days=300), removed=MONDAY - timedelta(days=1))
    listed(db, ent, on=MONDAY + timedelta(days=5))  # listed after the matching date: not yet in force
    need = post(db, ent)
    assert len(service.offer(db, need=need, today=MONDAY)) > 0
    recs = db.scalars(select(Recommendation).where(Recommendation.need_id == need.id)).all()
    assert recs and {r.rules_version for r in recs} == {engine.load_rules().version}


@pytest.mark.parametrize("grade, matched", [("red", False), ("orange", True), ("green", True)])
def test_red_firms_are_excluded_orange_are_not(db, grade, matched):
    add_products(db, 3)
    ent = firm(db)
    graded(db, ent, grade, as_of=MONDAY - timedelta(days=3))
    need = post(db, ent)
    offers = service.offer(db, need=need, today=MONDAY)
    assert bool(offers) is matched
    reasons = service.firm_exclusions(db, enterprise_id=ent.id, as_of=MONDAY)
    if matched:
        assert reasons == []
    else:
        assert reasons[0]["rule"] == "fundraising_grade" and "红色" in reasons[0]["text"]
        assert "737号" in reasons[0]["source"]


def test_a_red_grade_scored_after_the_matching_date_does_not_count(db):
    add_products(db, 3)
    ent = firm(db)
    graded(db, ent, "green", as_of=MONDAY - timedelta(days=10))
    graded(db, ent, "red", as_of=MONDAY + timedelta(days=10))
    need = post(db, ent)
    assert service.offer(db, need=need, today=MONDAY)


def _candidates(db):
    rows = lists.candidates(db, code="first_loan", scope=Scope.system(), as_of=TODAY)
    if len(rows) < 3:
        pytest.skip("the tiny demo has too few first-loan candidates")
    return rows


def test_name_lists_leave_out_dishonest_and_red_firms_and_count_them(db):
    rows = _candidates(db)
    from qiantang.enterprises.models import Enterprise

    a, b, c = (db.get(Enterprise, r["enterprise_id"]) for r in rows[:3])
    listed(db, a, on=TODAY - timedelta(days=10))
    graded(db, b, "red", as_of=TODAY - timedelta(days=1))
    # c stays: only a scoring run holding b exists now, so c has no grade at all
    drawn = lists.draw(db, code="first_loan", scope=Scope.system(), as_of=TODAY)
    kept = {r["enterprise_id"] for r in drawn.rows}
    assert a.id not in kept and b.id not in kept and c.id in kept
    assert drawn.counts == {"dishonest": 1, "fundraising_grade": 1}
    out = {r["enterprise_id"]: r["reasons"][0]["rule"] for r in drawn.left_out}
    assert out == {a.id: "dishonest", b.id: "fundraising_grade"}
    admin = db.scalar(select(User).where(User.username == "admin"))
    lender = db.scalar(select(User).where(User.username == "lender"))
    pushed = lists.push(
        db,
        code="first_loan",
        institution_ids=[lender.institution_id],
        enterprise_ids=[a.id, b.id, c.id],  # even when ticked, the excluded firms are not pushed
        scope=Scope.system(),
        actor=admin,
        as_of=TODAY,
    )
    got = {e.enterprise_id for e in lists.entries(db, scope=Scope.system(), push_id=pushed.id)}
    assert got == {c.id}
    assert pushed.criteria["left_out"] == {"dishonest": 1, "fundraising_grade": 1}
    assert pushed.criteria["rules_version"] == engine.load_rules().version


def test_pages_show_grade_and_flag(clients, db):
    add_products(db, 3)
    ent = firm(db)
    listed(db, ent, on=TODAY - timedelta(days=30))
    graded(db, ent, "orange", as_of=TODAY - timedelta(days=2))
    need = post(db, ent)
    service.offer(db, need=need, today=TODAY)
    db.commit()
    admin = clients.as_user("admin")
    page = admin.get(f"/matching/needs/{need.id}")
    assert page.status_code == 200
    assert 'data-testid="fr-grade"' in page.text and 'data-testid="fr-dishonest"' in page.text
    assert 'data-testid="firm-excluded"' in page.text and "中办发〔2016〕64号" in page.text
    home = admin.get(f"/matching?q={ent.uscc}")
    assert 'data-testid="fr-dishonest"' in home.text
    admin.cookies.set("lang", "en")
    en = admin.get(f"/matching/needs/{need.id}")
    assert en.status_code == 200 and "dishonest judgment debtors" in en.text and "Dishonest debtor" in en.text
    # the district officer of the firm's district sees the same; the firm itself sees its own need
    assert 'data-testid="fr-dishonest"' in clients.as_user("xihu").get(f"/matching/needs/{need.id}").text


def test_a_firm_sees_its_dishonest_flag_but_not_its_fundraising_grade(clients, db):
    from qiantang.enterprises.models import Enterprise

    add_products(db, 3)
    user = db.scalar(select(User).where(User.username == "firm"))
    ent = db.get(Enterprise, user.enterprise_id)
    graded(db, ent, "red", as_of=TODAY - timedelta(days=2))
    need = post(db, ent)
    service.offer(db, need=need, today=TODAY)
    db.commit()
    own = clients.as_user("firm").get(f"/matching/needs/{need.id}")
    assert own.status_code == 200
    assert 'data-testid="fr-grade"' not in own.text and "红色" not in own.text
    assert 'data-testid="firm-excluded"' in own.text and "暂不参与融资撮合" in own.text
    city = clients.as_user("admin").get(f"/matching/needs/{need.id}")
    assert 'data-testid="fr-grade"' in city.text and "红色" in city.text
    listed(db, ent, on=TODAY - timedelta(days=5))
    db.commit()
    own = clients.as_user("firm").get(f"/matching/needs/{need.id}")
    assert 'data-testid="fr-dishonest"' in own.text and "失信被执行人" in own.text
