"""Lenders' financing products, firms' financing needs, the offers between them and every event."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, JSONType, Money, utcnow
from qiantang.enums import str_enum


class ProductKind(StrEnum):
    CREDIT = "credit"
    MORTGAGE = "mortgage"
    GUARANTEED = "guaranteed"
    IP_PLEDGE = "ip_pledge"
    SUPPLY_CHAIN = "supply_chain"
    TECH = "tech"
    FIRST_LOAN = "first_loan"
    RENEWAL = "renewal"
    EQUITY = "equity"

    @property
    def zh(self) -> str:
        return _KIND_TEXT[self][0]

    @property
    def en(self) -> str:
        return _KIND_TEXT[self][1]


_KIND_TEXT = {
    ProductKind.CREDIT: ("信用贷", "Unsecured credit loan"),
    ProductKind.MORTGAGE: ("抵押贷", "Mortgage loan"),
    ProductKind.GUARANTEED: ("保证/担保贷", "Guaranteed loan"),
    ProductKind.IP_PLEDGE: ("知识产权质押", "IP-pledge loan"),
    ProductKind.SUPPLY_CHAIN: ("供应链", "Supply-chain finance"),
    ProductKind.TECH: ("科技贷", "Tech-firm loan"),
    ProductKind.FIRST_LOAN: ("首贷", "First loan"),
    ProductKind.RENEWAL: ("续贷/无还本续贷", "Renewal without repayment"),
    ProductKind.EQUITY: ("股权融资", "Equity financing"),
}


class Collateral(StrEnum):
    NONE = "none"
    REAL_ESTATE = "real_estate"
    EQUIPMENT = "equipment"
    RECEIVABLES = "receivables"
    IP = "ip"
    GUARANTOR = "guarantor"
    DEPOSIT = "deposit"

    @property
    def zh(self) -> str:
        return _COLLATERAL_TEXT[self][0]

    @property
    def en(self) -> str:
        return _COLLATERAL_TEXT[self][1]


_COLLATERAL_TEXT = {
    Collateral.NONE: ("无抵押担保", "None"),
    Collateral.REAL_ESTATE: ("房产土地抵押", "Real estate"),
    Collateral.EQUIPMENT: ("设备抵押", "Equipment"),
    Collateral.RECEIVABLES: ("应收账款质押", "Receivables"),
    Collateral.IP: ("知识产权质押", "Intellectual property"),
    Collateral.GUARANTOR: ("第三方保证/担保公司担保", "A guarantor"),
    Collateral.DEPOSIT: ("保证金/存单质押", "Deposit"),
}


class ProductStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  # submitted, waiting for city staff
    APPROVED = "approved"  # visible to firms and matched
    WITHDRAWN = "withdrawn"


class Product(Base):
    """A financing product a lender in the registry publishes (visible once city staff approve it)."""

    __tablename__ = "matching_products"
    __label_zh__ = "融资产品"
    __table_args__ = (
        CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="amounts"),
        CheckConstraint("min_term_months > 0 AND max_term_months >= min_term_months", name="terms"),
        CheckConstraint("max_spread_bp >= min_spread_bp", name="spreads"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind, 16))
    min_amount: Mapped[float] = mapped_column(Money)  # 元
    max_amount: Mapped[float] = mapped_column(Money)
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    # Rate as the one-year LPR plus a spread in basis points (negative allowed: below LPR).
    min_spread_bp: Mapped[int] = mapped_column(Integer)
    max_spread_bp: Mapped[int] = mapped_column(Integer)
    sizes: Mapped[list] = mapped_column(JSONType, default=list)  # SizeClass values; [] = any size
    industries: Mapped[list] = mapped_column(JSONType, default=list)  # GB/T 4754 sections; [] = any
    districts: Mapped[list] = mapped_column(JSONType, default=list)  # GB/T 2260 codes; [] = whole city
    min_age_years: Mapped[float] = mapped_column(Float, default=0.0)
    collateral: Mapped[list] = mapped_column(JSONType, default=list)  # accepted Collateral; [] = none needed
    partner_guarantor_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    policy_tags: Mapped[list] = mapped_column(JSONType, default=list)  # 科技 三农 绿色 普惠 首贷
    documents: Mapped[list] = mapped_column(JSONType, default=list)
    first_loan_only: Mapped[bool] = mapped_column(default=False)  # 首贷: firms without a loan yet
    promise_contact_days: Mapped[int] = mapped_column(Integer, default=2)  # working days
    promise_decision_days: Mapped[int] = mapped_column(Integer, default=10)
    status: Mapped[ProductStatus] = mapped_column(str_enum(ProductStatus, 12), default=ProductStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ProductVersion(Base):
    """Every approved or edited state of a product, kept as it was."""

    __tablename__ = "matching_product_versions"
    __table_args__ = (UniqueConstraint("product_id", "version", name="uq_matching_product_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("matching_products.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict] = mapped_column(JSONType)
    saved_by: Mapped[str | None] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # pending → approved (it becomes the live product) | rejected (with a reason) | superseded (a newer
    # edit arrived before a decision). See matching/products.py.
    state: Mapped[str] = mapped_column(String(12), default="pending", server_default="approved")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class NeedStatus(StrEnum):
    POSTED = "posted"  # 已发布
    PICKED = "picked"  # 已接单
    CONTACTED = "contacted"  # 已对接 (first contact)
    REVIEWING = "reviewing"  # 审批中
    APPROVED = "approved"  # 已授信
    DISBURSED = "disbursed"  # 已放款
    DECLINED = "declined"  # 已拒绝 (by every lender it reached)
    WITHDRAWN = "withdrawn"  # 企业撤回
    EXPIRED = "expired"  # 超时

    @property
    def zh(self) -> str:
        return {
            "posted": "已发布",
            "picked": "已接单",
            "contacted": "已对接",
            "reviewing": "审批中",
            "approved": "已授信",
            "disbursed": "已放款",
            "declined": "已拒绝",
            "withdrawn": "企业撤回",
            "expired": "超时",
        }[self.value]


class NeedChannel(StrEnum):
    ONLINE = "online"  # posted by the firm
    VISIT = "visit"  # entered by a district officer after a visit (线下走访)
    PUSHED = "pushed"  # a name list city staff pushed to lenders (e.g. 首贷 candidates)


class Need(Base):
    """A firm's financing need (融资需求)."""

    __tablename__ = "matching_needs"
    __label_zh__ = "融资需求"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term_months > 0", name="term_positive"),
        CheckConstraint("claims >= 0", name="claims_nonneg"),
        Index("ix_matching_needs_status_district", "status", "district_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    district_code: Mapped[str] = mapped_column(String(6))  # the firm's, at posting (scoping)
    amount: Mapped[float] = mapped_column(Money)  # 元
    term_months: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(200))
    collateral: Mapped[list] = mapped_column(JSONType, default=list)  # Collateral values offered
    max_rate_pct: Mapped[float | None] = mapped_column(Float)  # the highest annual rate acceptable
    urgent: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[NeedChannel] = mapped_column(str_enum(NeedChannel, 8), default=NeedChannel.ONLINE)
    status: Mapped[NeedStatus] = mapped_column(str_enum(NeedStatus, 12), default=NeedStatus.POSTED)
    # Lenders that have picked the need up (at most the policy's max_claims): counted atomically.
    claims: Mapped[int] = mapped_column(Integer, default=0)
    posted_by: Mapped[str | None] = mapped_column(String(64))
    posted_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    offers: Mapped[list[Offer]] = relationship(back_populates="need", order_by="Offer.id")


class OfferState(StrEnum):
    OFFERED = "offered"
    CLAIMED = "claimed"
    CHOSEN = "chosen"
    CONTACTED = "contacted"
    REVIEWING = "reviewing"
    APPROVED = "approved"
    DISBURSED = "disbursed"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    RELEASED = "released"  # claimed, but the firm chose another lender


class Offer(Base):
    """A need offered to one lender's product, and how that lender answered."""

    __tablename__ = "matching_offers"
    __label_zh__ = "对接记录"
    __table_args__ = (UniqueConstraint("need_id", "product_id", name="uq_matching_offers_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("matching_needs.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("matching_products.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    state: Mapped[OfferState] = mapped_column(str_enum(OfferState, 12), default=OfferState.OFFERED)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    offered_on: Mapped[date] = mapped_column(Date)
    claimed_on: Mapped[date | None] = mapped_column(Date)
    contact_due: Mapped[date | None] = mapped_column(Date)
    contacted_on: Mapped[date | None] = mapped_column(Date)
    decision_due: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    decline_code: Mapped[str | None] = mapped_column(String(32))
    approved_amount: Mapped[float | None] = mapped_column(Money)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    policy_version: Mapped[str] = mapped_column(String(32))

    need: Mapped[Need] = relationship(back_populates="offers")


class Recommendation(Base):
    """One product considered for one need: eligible or not (with why not), score and reasons, versions.

    Kept for every matching run, so that matching quality can be measured against outcomes.
    """

    __tablename__ = "matching_recommendations"
    __table_args__ = (Index("ix_matching_recommendations_need", "need_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("matching_needs.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("matching_products.id"))
    eligible: Mapped[bool] = mapped_column()
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list] = mapped_column(JSONType, default=list)  # why (eligible) or why not
    rules_version: Mapped[str] = mapped_column(String(32))
    ranking_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class NeedEvent(Base):
    """Everything that happened to a need, in order (its timeline)."""

    __tablename__ = "matching_need_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("matching_needs.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("matching_offers.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(32))
    on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# Risk sharing (风险补偿资金池), interest subsidies (贴息) and 联保 checks. The pools' rules are data
# (matching/data/pools.toml); these tables hold each pool's money, the loans it covers and its claims.


class RiskPool(Base):
    """A risk-compensation pool (风险补偿资金池): its balance never goes below zero (a CHECK)."""

    __tablename__ = "matching_pools"
    __label_zh__ = "风险补偿资金池"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_nonneg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    rules_version: Mapped[str] = mapped_column(String(32))
    balance: Mapped[float] = mapped_column(Money, default=0.0)  # 元
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PoolEntry(Base):
    """The pool ledger: funders' contributions (+) and compensation paid (−), with the balance after."""

    __tablename__ = "matching_pool_ledger"
    __label_zh__ = "资金池台账"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("matching_pools.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # contribution | payout
    funder: Mapped[str | None] = mapped_column(String(64))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("matching_pool_claims.id"))
    amount: Mapped[float] = mapped_column(Money)  # signed, 元
    balance_after: Mapped[float] = mapped_column(Money)
    on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str | None] = mapped_column(String(64))


class PoolLoan(Base):
    """A loan enrolled in a pool (one pool per loan)."""

    __tablename__ = "matching_pool_loans"
    __label_zh__ = "入池贷款"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("matching_pools.id", ondelete="CASCADE"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), unique=True)
    amount: Mapped[float] = mapped_column(Money)  # 元, the loan amount covered
    enrolled_on: Mapped[date] = mapped_column(Date)
    enrolled_by: Mapped[str | None] = mapped_column(String(64))
    rules_version: Mapped[str] = mapped_column(String(32))


class ClaimState(StrEnum):
    COMPUTED = "computed"  # 已测算
    APPROVED = "approved"  # 已审核
    PAID = "paid"  # 已拨付

    @property
    def zh(self) -> str:
        return {"computed": "已测算", "approved": "已审核", "paid": "已拨付"}[self.value]

    @property
    def en(self) -> str:
        return {"computed": "Computed", "approved": "Approved", "paid": "Paid"}[self.value]


class PoolClaim(Base):
    """A compensation claim on a defaulted covered loan: one per loan, ever (a unique constraint)."""

    __tablename__ = "matching_pool_claims"
    __label_zh__ = "代偿申请"
    __table_args__ = (
        CheckConstraint("pool_amount >= 0 AND shortfall >= 0", name="amounts_nonneg"),
        Index("ix_matching_pool_claims_pool_state", "pool_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("matching_pools.id", ondelete="CASCADE"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), unique=True)
    state: Mapped[ClaimState] = mapped_column(str_enum(ClaimState, 12), default=ClaimState.COMPUTED)
    default_on: Mapped[date] = mapped_column(Date)
    default_class: Mapped[str] = mapped_column(String(16))
    loss: Mapped[float] = mapped_column(Money)  # outstanding balance at default, 元
    shares: Mapped[dict] = mapped_column(JSONType, default=dict)  # party → amount (元) it bears
    pool_amount: Mapped[float] = mapped_column(Money)  # what the pool pays, after the caps
    shortfall: Mapped[float] = mapped_column(Money, default=0.0)  # the pool's share it cannot pay
    steps: Mapped[list] = mapped_column(JSONType, default=list)  # the computation, line by line
    rules_version: Mapped[str] = mapped_column(String(32))
    computed_on: Mapped[date] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_on: Mapped[date | None] = mapped_column(Date)
    paid_by: Mapped[str | None] = mapped_column(String(64))
    paid_on: Mapped[date | None] = mapped_column(Date)


class Subsidy(Base):
    """One period of an interest subsidy (贴息) on a loan: the schedule is these rows."""

    __tablename__ = "matching_subsidies"
    __label_zh__ = "贴息计划"
    __table_args__ = (UniqueConstraint("loan_id", "seq", name="uq_matching_subsidies_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    points: Mapped[float] = mapped_column(Float)  # percentage points a year
    amount: Mapped[float] = mapped_column(Money)  # 元
    rules_version: Mapped[str] = mapped_column(String(32))


class JointGroup(Base):
    """A proposed 联保 group: accepted, or refused with the reason (checked against the guarantee network)."""

    __tablename__ = "matching_joint_groups"
    __label_zh__ = "联保小组"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    district_code: Mapped[str] = mapped_column(String(6))
    members: Mapped[list] = mapped_column(JSONType, default=list)  # enterprise ids
    amount: Mapped[float] = mapped_column(Money)  # each member's guarantee amount, 元
    accepted: Mapped[bool] = mapped_column()
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    proposed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class NameListPush(Base):
    """A name list (名单推送) city staff pushed to chosen lenders, with the criteria it was drawn by."""

    __tablename__ = "matching_namelist_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_code: Mapped[str] = mapped_column(String(32))
    criteria: Mapped[dict] = mapped_column(JSONType)  # the list's definition as applied (data/namelists.toml)
    as_of: Mapped[date] = mapped_column(Date)
    pushed_by: Mapped[str | None] = mapped_column(String(64))
    pushed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class NameListEntry(Base):
    """One firm of a pushed list, as sent to one lender, and that lender's answer."""

    __tablename__ = "matching_namelist_entries"
    __table_args__ = (
        UniqueConstraint("push_id", "institution_id", "enterprise_id", name="uq_matching_namelist_entries"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    push_id: Mapped[int] = mapped_column(
        ForeignKey("matching_namelist_pushes.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    why: Mapped[str] = mapped_column(Text)  # why the firm is on the list, in words
    response: Mapped[str] = mapped_column(String(16), default="pending")  # pending|contacted|not_interested
    reason: Mapped[str | None] = mapped_column(Text)
    responded_by: Mapped[str | None] = mapped_column(String(64))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime)
