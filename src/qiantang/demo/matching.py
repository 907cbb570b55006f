"""The demo city's financing matchmaking in 2025 — synthetic, run through the real workflow.

Lenders of the demo registry publish products; demo firms post needs through the year; every step
goes through ``matching.service`` (matching, offers, pickup with its limit, the working-day clock,
declines, re-offers, disbursal into the loans table). What lenders *do* is a latent process of the
demo, not the matching rules: each lender has an appetite and a speed (some are slow, so some offers
time out), and whether it approves depends on the firm's true health — here whether the firm's loans
had gone bad by 2025-12-31, which the lender finds out in its due diligence — plus noise. The ranking
never sees that outcome (it sees the credit model's PD, which predicts it only in part).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.matching import service, workdays
from qiantang.matching.models import (
    Collateral,
    NeedChannel,
    Product,
    ProductKind,
    ProductStatus,
)
from qiantang.matching.service import NeedIn, StepRefused
from qiantang.registry.models import Institution
from qiantang.standards.loan_class import LoanClass

LENDER_TYPES = (
    "bank_large",
    "bank_joint_stock",
    "bank_city",
    "bank_rural",
    "bank_village",
    "bank_private",
    "small_loan",
)
NEEDS_BY_SCALE = {"tiny": 40, "small": 400, "city": 1500}
PRODUCTS_BY_SCALE = {"tiny": 16, "small": 80, "city": 300}
# The demo's loan book is classified at 2025-12-31: its matchmaking is the year 2025 up to that date.
START, END = date(2025, 1, 6), date(2025, 12, 31)


class _Demo:
    id = None
    username = "demo"


def _products(session: Session, rng: np.random.Generator, n: int) -> list[Product]:
    lenders = session.scalars(
        select(Institution)
        .where(Institution.type_code.in_(LENDER_TYPES), Institution.status == "active")
        .order_by(Institution.id)
    ).all()
    if not lenders:
        return []
    picks = rng.choice(len(lenders), size=min(n, len(lenders)), replace=False)
    kinds = list(ProductKind)
    out = []
    for k in picks:
        inst = lenders[int(k)]
        small_lender = inst.type_code == "small_loan"
        kind = ProductKind.CREDIT if small_lender else kinds[int(rng.integers(0, len(kinds) - 1))]
        lo = float(rng.choice([1e5, 3e5, 5e5, 1e6]))
        hi = lo * float(rng.choice([5, 10, 20, 50])) if not small_lender else min(lo * 10, 5e6)
        collateral = {
            ProductKind.MORTGAGE: [Collateral.REAL_ESTATE.value, Collateral.EQUIPMENT.value],
            ProductKind.GUARANTEED: [Collateral.GUARANTOR.value],
            ProductKind.IP_PLEDGE: [Collateral.IP.value],
            ProductKind.SUPPLY_CHAIN: [Collateral.RECEIVABLES.value],
        }.get(kind, [])
        sizes = (
            []
            if rng.random() < 0.5
            else list(rng.choice(["micro", "small", "medium"], size=2, replace=False))
        )
        out.append(
            Product(
                institution_id=inst.id,
                name=f"{inst.name[:12]}·{kind.zh}",
                kind=kind,
                min_amount=lo,
                max_amount=hi,
                min_term_months=int(rng.choice([3, 6, 12])),
                max_term_months=int(rng.choice([12, 36, 60])),
                min_spread_bp=int(rng.integers(-30, 150))
                if not small_lender
                else int(rng.integers(300, 900)),
                max_spread_bp=600 if not small_lender else 1500,
                sizes=sizes,
                industries=[]
                if rng.random() < 0.7
                else list(rng.choice(list("CFIMG"), size=2, replace=False)),
                districts=[] if rng.random() < 0.8 else [inst.district_code],
                min_age_years=float(rng.choice([0, 1, 2, 3])),
                collateral=collateral,
                first_loan_only=kind == ProductKind.FIRST_LOAN,
                policy_tags=["首贷"]
                if kind == ProductKind.FIRST_LOAN
                else (["科技"] if kind == ProductKind.TECH else []),
                status=ProductStatus.APPROVED,
                approved_by="demo",
            )
        )
    session.add_all(out)
    session.flush()
    return out


def build_matching(session: Session, *, scale: str, seed: int) -> dict[str, int]:
    """Products, needs and the year's matchmaking; returns counts."""
    rng = np.random.default_rng([seed, 14])
    products = _products(session, rng, PRODUCTS_BY_SCALE.get(scale, 80))
    if not products:
        return {"products": 0, "needs": 0}
    institutions = sorted({p.institution_id for p in products})
    appetite = dict(zip(institutions, rng.normal(0.0, 0.6, len(institutions)), strict=True))
    # Working days to first contact; a fifth of the lenders are slow and often miss the 2-day clock.
    slow = dict(zip(institutions, rng.random(len(institutions)) < 0.2, strict=True))
    firms = session.scalars(
        select(Enterprise)
        .where(Enterprise.deregistered_on.is_(None), Enterprise.size_class.is_not(None))
        .order_by(Enterprise.id)
    ).all()
    bad = set(
        session.scalars(
            select(Loan.borrower_id).where(
                Loan.classification.in_([LoanClass.SUBSTANDARD, LoanClass.DOUBTFUL, LoanClass.LOSS])
            )
        )
    )
    n = min(NEEDS_BY_SCALE.get(scale, 400), len(firms))
    chosen = rng.choice(len(firms), size=n, replace=False)
    days = sorted(START + timedelta(days=int(d)) for d in rng.integers(0, (END - START).days - 20, n))
    system = Scope.system()
    needs = 0
    for k, posted in zip(chosen, days, strict=True):
        ent = firms[int(k)]
        size = getattr(ent.size_class, "value", ent.size_class)
        scale_wan = {"micro": 50, "small": 200, "medium": 800, "large": 3000}.get(size, 200)
        offered_collateral = tuple(
            c
            for c, p in (("real_estate", 0.35), ("equipment", 0.2), ("receivables", 0.25), ("guarantor", 0.2))
            if rng.random() < p
        )
        data = NeedIn(
            uscc=ent.uscc,
            amount_wan=round(float(np.exp(rng.normal(np.log(scale_wan), 0.6))), 0) or 10.0,
            term_months=int(rng.choice([6, 12, 12, 24, 36])),
            purpose=str(rng.choice(["流动资金周转", "采购原材料", "设备更新", "研发投入", "订单备货"])),
            collateral=offered_collateral,
            max_rate_pct=float(rng.choice([4.0, 5.0, 6.5])) if rng.random() < 0.4 else None,
            urgent=bool(rng.random() < 0.15),
        )
        channel = NeedChannel.VISIT if rng.random() < 0.25 else NeedChannel.ONLINE
        need = service.post_need(
            session, data=data, channel=channel, actor=_Demo(), scope=system, today=posted
        )
        needs += 1
        offers = service.offer(session, need=need, today=posted, actor=_Demo())
        health = -2.5 if ent.id in bad else 0.0
        claimed = []
        for o in offers:
            if len(claimed) >= service.policy()["pickup"]["max_claims"]:
                break
            if rng.random() < 0.35 + 0.15 * appetite[o.institution_id]:
                day = workdays.add_workdays(posted, int(rng.integers(0, 2)))
                if day > END:
                    continue
                try:
                    service.claim(
                        session, offer_id=o.id, institution_id=o.institution_id, actor=_Demo(), today=day
                    )
                    claimed.append(o)
                except StepRefused:
                    break
        if not claimed:
            continue
        pick = claimed[0]
        contact_lag = int(rng.integers(2, 6)) if slow[pick.institution_id] else int(rng.integers(0, 3))
        contact_day = workdays.add_workdays(pick.claimed_on, contact_lag)
        if contact_day > END or contact_day > pick.contact_due:
            continue  # late: the clock will time it out
        service.record_contact(
            session, offer_id=pick.id, institution_id=pick.institution_id, actor=_Demo(), on=contact_day
        )
        service.choose(session, need=need, offer_id=pick.id, actor=_Demo(), on=contact_day)
        decide_day = workdays.add_workdays(contact_day, int(rng.integers(2, 12)))
        if decide_day > END:
            continue
        approve = rng.random() < 1.0 / (1.0 + np.exp(-(0.8 + health + appetite[pick.institution_id])))
        if approve:
            service.decide(
                session,
                offer_id=pick.id,
                institution_id=pick.institution_id,
                actor=_Demo(),
                on=decide_day,
                approved=True,
                amount_wan=data.amount_wan * float(rng.choice([1.0, 1.0, 0.8, 0.6])),
            )
            paid = workdays.add_workdays(decide_day, int(rng.integers(1, 5)))
            if paid <= END and rng.random() < 0.9:
                service.disburse(
                    session,
                    offer_id=pick.id,
                    institution_id=pick.institution_id,
                    actor=_Demo(),
                    on=paid,
                    contract_no=f"PT{paid:%Y%m%d}{need.id:06d}",
                )
        else:
            code = str(
                rng.choice(
                    [
                        "insufficient_cash_flow",
                        "high_leverage",
                        "credit_record",
                        "insufficient_collateral",
                        "incomplete_documents",
                    ]
                )
            )
            service.decide(
                session,
                offer_id=pick.id,
                institution_id=pick.institution_id,
                actor=_Demo(),
                on=decide_day,
                approved=False,
                decline_code=code,
            )
    service.check_timeouts(session, today=END)
    # Disbursed loans join the book as it was classified at the demo's date (all 正常 then).
    session.execute(update(Loan).where(Loan.contract_no.startswith("PT")).values(as_of=END))
    session.flush()
    from qiantang.demo.pools import build_pools

    build_pools(session, seed=seed, start=START, end=END, bad=bad)
    live = sum(1 for p in products if p.status == ProductStatus.APPROVED)
    return {"products": live, "needs": needs}


def demo_accounts(session: Session) -> tuple[int | None, int | None]:
    """The lender whose products reached most needs, and a 西湖区 firm with a need: the demo logins."""
    from sqlalchemy import func

    from qiantang.matching.models import Need, Offer

    lender = session.scalar(
        select(Offer.institution_id)
        .group_by(Offer.institution_id)
        .order_by(func.count().desc(), Offer.institution_id)
        .limit(1)
    )
    if lender is None:
        lender = session.scalar(
            select(Institution.id)
            .where(Institution.type_code == "bank_city")
            .order_by(Institution.id)
            .limit(1)
        )
    firm = session.scalar(
        select(Need.enterprise_id).where(Need.district_code == "330106").order_by(Need.id).limit(1)
    ) or session.scalar(
        select(Enterprise.id).where(Enterprise.district_code == "330106").order_by(Enterprise.id).limit(1)
    )
    return lender, firm
