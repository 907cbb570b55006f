"""Risk pools: hand-computed compensation under each split and cap, one claim per loan (also when two
approvals or payments race), a balance that never goes negative, the bank ≥ 20 % rule, 联保 checks and
the subsidy schedule."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Guarantee, GuaranteeKind, Loan, LoanClassification
from qiantang.matching import pools
from qiantang.matching.models import ClaimState, PoolClaim, PoolEntry, PoolLoan, RiskPool
from qiantang.standards.loan_class import LoanClass

TECH = {
    "split": {"pool": 0.65, "bank": 0.20, "guarantor": 0.15},
    "per_loan_cap": 1_500_000,
    "yearly_cap": 8_000_000,
}
AGRI = {
    "split": {"pool_city": 0.4, "pool_district": 0.3, "bank": 0.2, "guarantor": 0.1},
    "per_loan_cap": 1_000_000,
    "yearly_cap": 3_000_000,
}


def test_65_20_15_split_without_a_cap_binding():
    c = pools.compute_compensation(TECH, loss=1_000_000, used_this_year=0, available=10_000_000)
    assert c.pool_amount == 650_000 and c.shortfall == 0
    assert c.shares == {"pool": 650_000, "bank": 200_000, "guarantor": 150_000}


def test_4_3_2_1_split_pays_the_two_pool_levels():
    c = pools.compute_compensation(AGRI, loss=800_000, used_this_year=0, available=10_000_000)
    # 0.4 × 80 万 = 32 万 (city), 0.3 × 80 万 = 24 万 (district): the pool pays 56 万
    assert c.shares == {"pool_city": 320_000, "pool_district": 240_000, "bank": 160_000, "guarantor": 80_000}
    assert c.pool_amount == 560_000


def test_per_loan_cap():
    # 65 % of 300 万 = 195 万 > the 150 万 cap: the pool pays 150 万, 45 万 shortfall
    c = pools.compute_compensation(TECH, loss=3_000_000, used_this_year=0, available=10_000_000)
    assert c.pool_amount == 1_500_000 and c.shortfall == 450_000


def test_yearly_cap_and_the_4321_levels_scaled():
    # 70 % of 100 万 = 70 万, but only 300 − 260 = 40 万 left this year: city 40×4/7, district 40×3/7
    c = pools.compute_compensation(AGRI, loss=1_000_000, used_this_year=2_600_000, available=10_000_000)
    assert c.pool_amount == 400_000 and c.shortfall == 300_000
    assert c.shares["pool_city"] == round(400_000 * 4 / 7, 2)
    assert c.shares["pool_district"] == round(400_000 * 3 / 7, 2)


def test_balance_floor():
    c = pools.compute_compensation(TECH, loss=1_000_000, used_this_year=0, available=120_000)
    assert c.pool_amount == 120_000 and c.shortfall == 530_000
    c = pools.compute_compensation(TECH, loss=1_000_000, used_this_year=0, available=-5)
    assert c.pool_amount == 0 and c.shortfall == 650_000


def test_bank_share_below_20_percent_is_refused_on_load():
    doc = {
        "pool": [
            {
                "name_zh": "甲",
                "split": {"pool": 0.85, "bank": 0.15},
                "funders": [{"share": 1.0}],
                "per_loan_cap": 1,
                "yearly_cap": 1,
            }
        ]
    }
    with pytest.raises(ValueError, match="20%"):
        pools.validate_rules(doc)
    doc["pool"][0]["split"] = {"pool": 0.7, "bank": 0.2}
    with pytest.raises(ValueError, match="100%"):
        pools.validate_rules(doc)
    assert pools.rules()["pool"]  # the shipped file passes


# --- on the database ---------------------------------------------------------------------------------
def _loan(db, *, amount: float, klass=LoanClass.NORMAL) -> Loan:
    firm = db.scalars(
        select(Enterprise).where(Enterprise.size_class.is_not(None)).order_by(Enterprise.id)
    ).first()
    lender = db.scalar(select(Loan.lender_id).limit(1))
    loan = Loan(
        contract_no=f"T{amount:.0f}",
        lender_id=lender,
        borrower_id=firm.id,
        amount=amount,
        balance=amount,
        start_date=date(2030, 1, 10),
        maturity_date=date(2031, 1, 10),
        guarantee_mode="credit",
        classification=klass,
        days_past_due=0,
        as_of=date(2030, 1, 10),
    )
    db.add(loan)
    db.flush()
    return loan


def _fresh_pool(db, code: str, balance: float) -> RiskPool:
    pools.sync_pools(db, on=date(2030, 1, 1))
    pool = db.scalar(select(RiskPool).where(RiskPool.code == code))
    pool.balance = balance
    db.flush()
    return pool


def _cover_and_default(db, pool, amount, balance_at_default, on=date(2030, 6, 30)):
    loan = _loan(db, amount=amount)
    db.add(
        PoolLoan(
            pool_id=pool.id, loan_id=loan.id, amount=amount, enrolled_on=date(2030, 1, 10), rules_version="t"
        )
    )
    db.add(
        LoanClassification(
            loan_id=loan.id, as_of=on, classification=LoanClass.DOUBTFUL, balance=balance_at_default
        )
    )
    loan.classification = LoanClass.DOUBTFUL
    db.flush()
    return loan


def test_a_defaulted_loan_is_claimed_once_and_paid_from_the_pool(db):
    pool = _fresh_pool(db, "tech", 5_000_000)
    loan = _cover_and_default(db, pool, 1_000_000, 800_000)
    made = pools.detect_claims(db, on=date(2030, 7, 1))
    claim = next(c for c in made if c.loan_id == loan.id)
    assert claim.loss == 800_000 and claim.pool_amount == 520_000  # 65 % of the balance at default
    assert claim.shares["bank"] == 160_000 and claim.shares["guarantor"] == 120_000
    assert not [c for c in pools.detect_claims(db, on=date(2030, 7, 2)) if c.loan_id == loan.id]
    pools.approve(db, claim_id=claim.id, actor="city", on=date(2030, 7, 3))
    with pytest.raises(pools.PoolRefused):
        pools.approve(db, claim_id=claim.id, actor="city", on=date(2030, 7, 3))
    pools.pay(db, claim_id=claim.id, actor="city", on=date(2030, 7, 4))
    db.refresh(pool)
    assert pool.balance == 5_000_000 - 520_000
    with pytest.raises(pools.PoolRefused):
        pools.pay(db, claim_id=claim.id, actor="city", on=date(2030, 7, 4))
    entries = db.scalars(select(PoolEntry).where(PoolEntry.claim_id == claim.id)).all()
    assert [e.amount for e in entries] == [-520_000]
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(
            PoolClaim(
                pool_id=pool.id,
                loan_id=loan.id,
                default_on=date(2030, 6, 30),
                default_class="doubtful",
                loss=1,
                shares={},
                pool_amount=1,
                shortfall=0,
                steps=[],
                rules_version="t",
                computed_on=date(2030, 7, 1),
            )
        )


def test_the_balance_floor_counts_claims_not_yet_paid_and_never_goes_negative(db):
    pool = _fresh_pool(db, "tech", 1_000_000)
    a = _cover_and_default(db, pool, 1_000_000, 1_000_000)
    b = _cover_and_default(db, pool, 1_000_000, 1_000_000)
    claims = {c.loan_id: c for c in pools.detect_claims(db, on=date(2030, 7, 1))}
    assert claims[a.id].pool_amount == 650_000
    assert claims[b.id].pool_amount == 350_000 and claims[b.id].shortfall == 300_000
    for c in claims.values():
        pools.approve(db, claim_id=c.id, actor="city", on=date(2030, 7, 2))
        pools.pay(db, claim_id=c.id, actor="city", on=date(2030, 7, 2))
    db.refresh(pool)
    assert pool.balance == 0
    assert db.scalar(select(func.min(PoolEntry.balance_after)).where(PoolEntry.pool_id == pool.id)) >= 0


def test_a_loan_outside_the_rules_is_not_enrolled(db):
    pool = _fresh_pool(db, "tech", 1_000_000)
    loan = _loan(db, amount=9_000_000)
    with pytest.raises(pools.PoolRefused, match="不是平台撮合发放的贷款"):
        pools.enroll(db, pool=pool, loan_id=loan.id, on=date(2030, 1, 10))


def test_two_approvals_and_two_payments_at_once_pay_once(database):
    """Two city users approve and pay the same claim at the same moment, each in its own session."""
    from qiantang.db import use_engine

    use_engine(database.engine)
    with Session(database.engine) as s:
        pool = _fresh_pool(s, "agri", 2_000_000)
        loan = _cover_and_default(s, pool, 500_000, 500_000)
        claim = next(c for c in pools.detect_claims(s, on=date(2030, 7, 1)) if c.loan_id == loan.id)
        s.commit()
        claim_id, pool_id, loan_id, before = claim.id, pool.id, loan.id, 2_000_000
    results: list[str] = []

    def act(step):
        barrier.wait()
        with Session(database.engine) as s:
            try:
                step(s, claim_id=claim_id, actor="city", on=date(2030, 7, 2))
                s.commit()
                results.append("done")
            except pools.PoolRefused:
                s.rollback()
                results.append("refused")
            except Exception as exc:  # SQLite: a locked database is a refusal too, never a double payment
                s.rollback()
                results.append(f"error {type(exc).__name__}")

    try:
        for step in (pools.approve, pools.pay):
            results.clear()
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=act, args=(step,)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert results.count("done") == 1, results
        with Session(database.engine) as s:
            assert s.get(PoolClaim, claim_id).state == ClaimState.PAID
            assert s.get(RiskPool, pool_id).balance == before - 350_000
            assert (
                s.scalar(select(func.count()).select_from(PoolEntry).where(PoolEntry.claim_id == claim_id))
                == 1
            )
    finally:
        with Session(database.engine) as s:
            s.execute(delete(PoolEntry).where(PoolEntry.claim_id == claim_id))
            s.execute(delete(PoolClaim).where(PoolClaim.id == claim_id))
            s.execute(delete(PoolLoan).where(PoolLoan.loan_id == loan_id))
            s.execute(delete(LoanClassification).where(LoanClassification.loan_id == loan_id))
            s.execute(delete(Loan).where(Loan.id == loan_id))
            s.commit()


def test_subsidy_schedule_amounts_and_the_yearly_cap():
    rule = {"points": 1.5, "months": 12, "period_months": 3, "cap_per_firm_year": 200_000}
    rows = pools.subsidy_schedule(
        rule, amount=3_000_000, start=date(2030, 1, 10), maturity=date(2031, 1, 10), used={}
    )
    # 300 万 × 1.5 % × 3/12 = 11,250 a quarter, four quarters
    assert [r["amount"] for r in rows] == [11_250] * 4
    used = {2030: 195_000}
    rows = pools.subsidy_schedule(
        rule, amount=3_000_000, start=date(2030, 1, 10), maturity=date(2031, 1, 10), used=used
    )
    assert [r["amount"] for r in rows] == [5_000, 11_250]  # 5,000 left in 2030; the last quarter ends in 2031
    rows = pools.subsidy_schedule(
        rule, amount=3_000_000, start=date(2030, 1, 10), maturity=date(2030, 5, 1), used={}
    )
    assert len(rows) == 2 and rows[-1]["period_end"] == date(2030, 5, 1)


def _firms(db, n):
    return db.scalars(
        select(Enterprise).where(Enterprise.district_code == "330106").order_by(Enterprise.id.desc()).limit(n)
    ).all()


def test_a_joint_group_closing_a_loop_is_refused_and_a_clean_one_accepted(db):
    a, b, c, d = _firms(db, 4)
    db.execute(delete(Guarantee).where(Guarantee.borrower_id.in_([a.id, b.id, c.id, d.id])))
    db.execute(delete(Guarantee).where(Guarantee.guarantor_enterprise_id.in_([a.id, b.id, c.id, d.id])))
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code="330106")
    ok = pools.propose_joint_group(
        db, name="甲组", usccs=[a.uscc, b.uscc], amount=1e6, scope=scope, actor="x", on=date(2030, 1, 1)
    )
    assert ok.accepted and ok.reasons == []
    # c already guarantees d directly: a group of c and d would make them guarantee each other
    as_of = db.scalar(select(func.max(Loan.as_of)))
    db.add(
        Guarantee(
            guarantor_enterprise_id=c.id,
            borrower_id=d.id,
            amount=1e6,
            kind=GuaranteeKind.ONE_WAY,
            start_date=date(2020, 1, 1),
        )
    )
    db.flush()
    refused = pools.propose_joint_group(
        db, name="乙组", usccs=[c.uscc, d.uscc, a.uscc], amount=1e6, scope=scope, actor="x", on=as_of
    )
    assert not refused.accepted
    assert any("担保圈闭环" in r and c.name in r and d.name in r for r in refused.reasons)


def test_a_joint_group_joining_a_red_group_is_refused(db):
    from qiantang.network.models import GuaranteeGroup, NetworkNode

    node = db.execute(
        select(NetworkNode, Enterprise)
        .join(Enterprise, Enterprise.id == NetworkNode.enterprise_id)
        .join(GuaranteeGroup, GuaranteeGroup.id == NetworkNode.group_id)
        .where(NetworkNode.run_id == db.scalar(select(func.max(NetworkNode.run_id))))
        .limit(1)
    ).first()
    if node is None:
        pytest.skip("no guarantee network analysis in the demo")
    n, firm = node
    db.get(GuaranteeGroup, n.group_id).risk_level = "red"
    other = db.scalars(
        select(Enterprise).where(
            Enterprise.id != firm.id, ~Enterprise.id.in_(select(NetworkNode.enterprise_id))
        )
    ).first()
    db.flush()
    g = pools.propose_joint_group(
        db,
        name="丙组",
        usccs=[firm.uscc, other.uscc],
        amount=1e6,
        scope=Scope.system(),
        actor="x",
        on=date(2030, 1, 1),
    )
    assert not g.accepted and any("红色" in r for r in g.reasons)


def test_a_district_officer_groups_only_its_district_and_bad_input_is_said(db):
    from qiantang.errors import Forbidden

    a = _firms(db, 1)[0]
    other = db.scalars(select(Enterprise).where(Enterprise.district_code != "330106")).first()
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code="330106")
    with pytest.raises(Forbidden):
        pools.propose_joint_group(
            db, name="丁", usccs=[a.uscc, other.uscc], amount=1e6, scope=scope, actor="x", on=date(2030, 1, 1)
        )
    with pytest.raises(pools.PoolRefused, match="至少需要两家企业"):
        pools.propose_joint_group(
            db, name="丁", usccs=[a.uscc], amount=1e6, scope=scope, actor="x", on=date(2030, 1, 1)
        )


def test_visibility_of_claims_by_role(db):
    pool = _fresh_pool(db, "tech", 5_000_000)
    loan = _cover_and_default(db, pool, 1_000_000, 800_000)
    pools.detect_claims(db, on=date(2030, 7, 1))
    firm = db.get(Enterprise, loan.borrower_id)
    seen = lambda scope: {c.loan_id for c, _l, _n in pools.list_claims(db, scope=scope)}  # noqa: E731
    assert loan.id in seen(Scope.system())
    assert loan.id in seen(Scope(role=Role.DISTRICT_OFFICER, district_code=firm.district_code))
    assert loan.id not in seen(Scope(role=Role.DISTRICT_OFFICER, district_code="000000"))
    assert loan.id in seen(Scope(role=Role.LENDER, institution_id=loan.lender_id))
    assert loan.id not in seen(Scope(role=Role.LENDER, institution_id=-1))
    assert seen(Scope(role=Role.FIRM, enterprise_id=firm.id)) == set()
    assert not pools.can_see_pools(Scope(role=Role.FIRM, enterprise_id=firm.id))
