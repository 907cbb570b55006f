"""A need through every state, re-offers after a decline and a timeout, scoping, validation, pickup limit."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.errors import ValidationFailed
from qiantang.matching import service
from qiantang.matching.models import (
    Need,
    NeedChannel,
    NeedEvent,
    NeedStatus,
    Offer,
    OfferState,
    Product,
    ProductKind,
    ProductStatus,
)
from qiantang.matching.service import NeedIn, StepRefused
from qiantang.registry.models import Institution

XIHU = "330106"
MONDAY = date(2026, 3, 2)


class Actor:
    id = None

    def __init__(self, username="tester"):
        self.username = username


def lenders(db, n: int) -> list[Institution]:
    return db.scalars(
        select(Institution)
        .where(
            Institution.type_code.in_(
                ["bank_city", "bank_rural", "bank_large", "bank_joint_stock", "small_loan"]
            )
        )
        .order_by(Institution.id)
        .limit(n)
    ).all()


def add_products(db, n: int = 5) -> list[Product]:
    """``n`` products of different lenders, the only approved ones (the demo's are withdrawn here)."""
    from sqlalchemy import update

    db.execute(update(Product).values(status=ProductStatus.WITHDRAWN))
    made = []
    for i, inst in enumerate(lenders(db, n)):
        p = Product(
            institution_id=inst.id,
            name=f"测试产品{i}",
            kind=ProductKind.CREDIT,
            min_amount=100_000,
            max_amount=5_000_000,
            min_term_months=3,
            max_term_months=36,
            min_spread_bp=0,
            max_spread_bp=200,
            status=ProductStatus.APPROVED,
        )
        db.add(p)
        made.append(p)
    db.flush()
    return made


def firm(db, district: str = XIHU) -> Enterprise:
    return db.scalars(
        select(Enterprise)
        .where(Enterprise.district_code == district, Enterprise.deregistered_on.is_(None))
        .order_by(Enterprise.id)
        .limit(1)
    ).one()


def post(db, ent: Enterprise, amount_wan: float = 200) -> Need:
    return service.post_need(
        db,
        data=NeedIn(uscc=ent.uscc, amount_wan=amount_wan, term_months=12, purpose="采购原材料"),
        channel=NeedChannel.ONLINE,
        actor=Actor(),
        scope=Scope.system(),
        today=MONDAY,
    )


def test_a_need_is_validated_whole_in_chinese(db):
    with pytest.raises(ValidationFailed) as exc:
        service.post_need(
            db,
            data=NeedIn(uscc="123", amount_wan=0, term_months=0, purpose=" ", collateral=("gold",)),
            channel=NeedChannel.ONLINE,
            actor=Actor(),
            scope=Scope.system(),
            today=MONDAY,
        )
    columns = {e.column for e in exc.value.errors}
    assert columns == {"统一社会信用代码", "融资金额（万元）", "期限（月）", "资金用途", "可提供的担保方式"}


def test_a_district_officer_posts_only_for_its_district(db):
    other = firm(db, "330108")
    with pytest.raises(Exception, match="其他区县"):
        service.post_need(
            db,
            data=NeedIn(uscc=other.uscc, amount_wan=100, term_months=12, purpose="周转"),
            channel=NeedChannel.VISIT,
            actor=Actor("xihu"),
            scope=Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU),
            today=MONDAY,
        )


def test_a_need_through_every_state(db):
    add_products(db, 5)
    need = post(db, firm(db))
    offers = service.offer(db, need=need, today=MONDAY)
    assert len(offers) == 5 and all(o.state == OfferState.OFFERED for o in offers)
    first, second, third, fourth = offers[:4]
    for o in (first, second, third):
        service.claim(db, offer_id=o.id, institution_id=o.institution_id, actor=Actor(), today=MONDAY)
    assert need.status == NeedStatus.PICKED and need.claims == 3
    with pytest.raises(StepRefused, match="已有 3 家机构接单"):
        service.claim(
            db, offer_id=fourth.id, institution_id=fourth.institution_id, actor=Actor(), today=MONDAY
        )
    # Another lender cannot act on this lender's offer.
    with pytest.raises(Exception, match="本机构"):
        service.record_contact(
            db, offer_id=first.id, institution_id=second.institution_id, actor=Actor(), on=MONDAY
        )
    # Due dates in working days: first contact 2, decision 10.
    assert first.contact_due == date(2026, 3, 4) and first.decision_due == date(2026, 3, 16)
    service.record_contact(
        db, offer_id=first.id, institution_id=first.institution_id, actor=Actor(), on=MONDAY
    )
    assert need.status == NeedStatus.CONTACTED
    service.decide(
        db,
        offer_id=first.id,
        institution_id=first.institution_id,
        actor=Actor(),
        on=date(2026, 3, 6),
        approved=True,
        amount_wan=180,
    )
    assert need.status == NeedStatus.APPROVED
    before = db.scalar(select(func.count()).select_from(Loan))
    loan = service.disburse(
        db,
        offer_id=first.id,
        institution_id=first.institution_id,
        actor=Actor(),
        on=date(2026, 3, 10),
        contract_no="PT-2026-0001",
    )
    assert need.status == NeedStatus.DISBURSED and first.state == OfferState.DISBURSED
    assert db.scalar(select(func.count()).select_from(Loan)) == before + 1
    assert (
        loan.amount == 1_800_000
        and loan.borrower_id == need.enterprise_id
        and loan.maturity_date == date(2027, 3, 10)
    )
    events = [
        e.event
        for e in db.scalars(select(NeedEvent).where(NeedEvent.need_id == need.id).order_by(NeedEvent.id))
    ]
    assert events[0] == "posted" and events[-1] == "disbursed" and events.count("claimed") == 3


def test_a_decline_frees_a_place_and_with_no_live_offer_the_need_is_re_offered(db):
    add_products(db, 3)
    need = post(db, firm(db))
    offers = service.offer(db, need=need, today=MONDAY)
    o = offers[0]
    service.claim(db, offer_id=o.id, institution_id=o.institution_id, actor=Actor(), today=MONDAY)
    with pytest.raises(StepRefused, match="原因"):
        service.decide(
            db, offer_id=o.id, institution_id=o.institution_id, actor=Actor(), on=MONDAY, approved=False
        )
    service.decide(
        db,
        offer_id=o.id,
        institution_id=o.institution_id,
        actor=Actor(),
        on=MONDAY,
        approved=False,
        decline_code="high_leverage",
    )
    assert o.state == OfferState.DECLINED and need.claims == 0
    # The other two offers were still open: the need is back to posted, waiting for them.
    assert need.status == NeedStatus.POSTED


def test_a_late_lender_times_out_and_shows_on_the_district_follow_up_list(db):
    add_products(db, 2)
    need = post(db, firm(db))
    a, _b = service.offer(db, need=need, today=MONDAY)
    service.claim(db, offer_id=a.id, institution_id=a.institution_id, actor=Actor(), today=MONDAY)
    # Contact due Wednesday 3-4; on Thursday it is overdue for the district officer.
    xihu = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    binjiang = Scope(role=Role.DISTRICT_OFFICER, district_code="330108")
    assert [o.id for o in service.overdue_offers(db, scope=xihu, today=date(2026, 3, 5))] == [a.id]
    assert service.overdue_offers(db, scope=binjiang, today=date(2026, 3, 5)) == []
    assert service.check_timeouts(db, today=date(2026, 3, 5)) == 1
    assert a.state == OfferState.TIMED_OUT and need.claims == 0 and need.status == NeedStatus.POSTED


def test_funnel_counts_steps_reached(db):
    add_products(db, 2)
    need = post(db, firm(db))
    (o, _b) = service.offer(db, need=need, today=MONDAY)
    service.claim(db, offer_id=o.id, institution_id=o.institution_id, actor=Actor(), today=MONDAY)
    steps = {s["step"]: s["needs"] for s in service.funnel(db, scope=Scope.system())}
    assert steps["posted"] >= 1 and steps["picked"] >= 1 and steps["picked"] <= steps["posted"]


def test_at_most_three_pickups_when_lenders_press_at_once(database):
    """Eight lenders claim the same need at the same moment, each in its own transaction: three win."""
    if database.backend != "postgresql":
        pytest.skip("SQLite serialises writers by its lock; the race is real on PostgreSQL")
    from qiantang.db import use_engine

    use_engine(database.engine)
    with Session(database.engine) as s:
        approved = list(s.scalars(select(Product.id).where(Product.status == ProductStatus.APPROVED)))
        products = add_products(s, 8)
        need = post(s, firm(s))
        offers = service.offer(s, need=need, today=MONDAY)
        s.commit()
        need_id, offer_ids = need.id, [(o.id, o.institution_id) for o in offers]
        product_ids = [p.id for p in products]
    assert len(offer_ids) == 8
    barrier = threading.Barrier(len(offer_ids))
    results: list[str] = []

    def press(offer_id: int, institution_id: int) -> None:
        with Session(database.engine) as s:
            barrier.wait()
            try:
                service.claim(
                    s, offer_id=offer_id, institution_id=institution_id, actor=Actor(), today=MONDAY
                )
                s.commit()
                results.append("won")
            except StepRefused:
                s.rollback()
                results.append("refused")

    threads = [threading.Thread(target=press, args=pair) for pair in offer_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(results) == ["refused"] * 5 + ["won"] * 3
        with Session(database.engine) as s:
            assert s.get(Need, need_id).claims == 3
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(Offer)
                    .where(Offer.need_id == need_id, Offer.state == OfferState.CLAIMED)
                )
                == 3
            )
    finally:
        with Session(database.engine) as s:
            s.query(NeedEvent).filter(NeedEvent.need_id == need_id).delete()
            s.query(Offer).filter(Offer.need_id == need_id).delete()
            from qiantang.matching.models import Recommendation

            s.query(Recommendation).filter(Recommendation.need_id == need_id).delete()
            s.query(Need).filter(Need.id == need_id).delete()
            s.query(Product).filter(Product.id.in_(product_ids)).delete()
            s.query(Product).filter(Product.id.in_(approved)).update({"status": ProductStatus.APPROVED})
            s.commit()


def test_re_offer_brings_in_the_next_lender_and_closes_when_none_is_left(db, monkeypatch):
    settings = {**service.policy(), "pickup": {"max_claims": 3, "offer_to": 1}}
    monkeypatch.setattr(service, "policy", lambda: settings)
    add_products(db, 2)
    need = post(db, firm(db))
    (first,) = service.offer(db, need=need, today=MONDAY)
    service.claim(db, offer_id=first.id, institution_id=first.institution_id, actor=Actor(), today=MONDAY)
    service.decide(
        db,
        offer_id=first.id,
        institution_id=first.institution_id,
        actor=Actor(),
        on=MONDAY,
        approved=False,
        decline_code="insufficient_collateral",
    )
    second = [o for o in need.offers if o.id != first.id]
    assert (
        len(second) == 1
        and second[0].state == OfferState.OFFERED
        and second[0].institution_id != first.institution_id
    )
    assert need.status == NeedStatus.POSTED
    service.claim(
        db, offer_id=second[0].id, institution_id=second[0].institution_id, actor=Actor(), today=MONDAY
    )
    service.decide(
        db,
        offer_id=second[0].id,
        institution_id=second[0].institution_id,
        actor=Actor(),
        on=MONDAY,
        approved=False,
        decline_code="credit_record",
    )
    assert need.status == NeedStatus.DECLINED
