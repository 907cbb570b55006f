"""Enterprises, their loans and the guarantees between them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, Money, utcnow
from qiantang.enums import str_enum
from qiantang.standards.loan_class import LoanClass
from qiantang.standards.sme_size import SizeClass


class ListingStatus(StrEnum):
    UNLISTED = "unlisted"
    LISTED_DOMESTIC = "listed_domestic"  # 境内上市 (沪深北交易所)
    LISTED_OVERSEAS = "listed_overseas"  # 境外上市 (港股、美股等)
    NEEQ = "neeq"  # 新三板挂牌
    REGIONAL_EQUITY = "regional_equity"  # 区域性股权市场挂牌 (浙江股权交易中心)

    @property
    def zh(self) -> str:
        return {
            "unlisted": "未上市",
            "listed_domestic": "境内上市",
            "listed_overseas": "境外上市",
            "neeq": "新三板挂牌",
            "regional_equity": "区域股权市场挂牌",
        }[self.value]

    @property
    def is_listed(self) -> bool:
        """Listed on a stock exchange (the plan's 境内外上市企业)."""
        return self in (ListingStatus.LISTED_DOMESTIC, ListingStatus.LISTED_OVERSEAS)


class Enterprise(Base):
    """A (non-financial) enterprise registered in the city: one row per firm, 一企一档."""

    __tablename__ = "enterprises"
    __label_zh__ = "企业"
    __table_args__ = (
        Index("ix_enterprises_district_size", "district_code", "size_class"),
        # A district's firms in id order: the keyset pages of a district officer's list and search.
        Index("ix_enterprises_district_id", "district_code", "id"),
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    uscc_warning: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(128), index=True)
    # GB/T 4754-2017: section letter and the digits (division "39", group "391" or class "3911").
    industry_section: Mapped[str] = mapped_column(String(1), index=True)
    industry_code: Mapped[str] = mapped_column(String(4))
    district_code: Mapped[str] = mapped_column(ForeignKey("areas.code"))
    # By 工信部联企业〔2011〕300号 from employees, revenue and assets; NULL when a metric is missing.
    size_class: Mapped[SizeClass | None] = mapped_column(str_enum(SizeClass, 8))
    founded_on: Mapped[date] = mapped_column(Date)
    registered_capital: Mapped[float | None] = mapped_column(Money)
    employees: Mapped[int | None] = mapped_column(Integer)
    revenue: Mapped[float | None] = mapped_column(Money)  # 营业收入, latest year, 元
    total_assets: Mapped[float | None] = mapped_column(Money)  # 资产总额, 元
    financials_year: Mapped[int | None] = mapped_column(Integer)
    listing_status: Mapped[ListingStatus] = mapped_column(
        str_enum(ListingStatus, 16), default=ListingStatus.UNLISTED
    )
    listed_on: Mapped[date | None] = mapped_column(Date)
    high_tech: Mapped[bool] = mapped_column(Boolean, default=False)  # 高新技术企业
    deregistered_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class EnterpriseFinancial(Base):
    """One year of an enterprise's financial statements (元), as reported or as the demo made them."""

    __tablename__ = "enterprise_financials"
    __label_zh__ = "企业财务数据"
    __table_args__ = (UniqueConstraint("enterprise_id", "year", name="uq_enterprise_financials_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float | None] = mapped_column(Money)
    net_profit: Mapped[float | None] = mapped_column(Money)
    total_assets: Mapped[float | None] = mapped_column(Money)
    total_liabilities: Mapped[float | None] = mapped_column(Money)
    equity: Mapped[float | None] = mapped_column(Money)
    current_assets: Mapped[float | None] = mapped_column(Money)
    current_liabilities: Mapped[float | None] = mapped_column(Money)
    operating_cash_flow: Mapped[float | None] = mapped_column(Money)
    interest_expense: Mapped[float | None] = mapped_column(Money)
    tax_paid: Mapped[float | None] = mapped_column(Money)
    employees: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="")
    # The day the statement was filed (known from then on); NULL: known from April 30 of the next year
    # (enterprises.service.statement_known).
    filed_on: Mapped[date | None] = mapped_column(Date)


class GuaranteeMode(StrEnum):
    CREDIT = "credit"  # 信用
    GUARANTEE = "guarantee"  # 保证
    MORTGAGE = "mortgage"  # 抵押
    PLEDGE = "pledge"  # 质押

    @property
    def zh(self) -> str:
        return {"credit": "信用", "guarantee": "保证", "mortgage": "抵押", "pledge": "质押"}[self.value]


class Loan(Base):
    """A loan from a lending institution to an enterprise, with its latest five-tier class (as of
    ``as_of``); earlier classes are kept in ``loan_classifications``."""

    __tablename__ = "loans"
    __label_zh__ = "贷款"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance >= 0", name="balance_nonneg"),
        CheckConstraint("days_past_due >= 0", name="dpd_nonneg"),
        CheckConstraint("maturity_date >= start_date", name="dates_order"),
        Index("ix_loans_lender_class", "lender_id", "classification"),
        # "the book's as-of date" (max(as_of)) is read by several pages: an index answers it at once.
        Index("ix_loans_as_of", "as_of"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(40))
    lender_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    borrower_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    amount: Mapped[float] = mapped_column(Money)
    balance: Mapped[float] = mapped_column(Money)
    start_date: Mapped[date] = mapped_column(Date)
    maturity_date: Mapped[date] = mapped_column(Date)
    guarantee_mode: Mapped[GuaranteeMode] = mapped_column(str_enum(GuaranteeMode, 16))
    classification: Mapped[LoanClass] = mapped_column(str_enum(LoanClass, 16))
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    as_of: Mapped[date] = mapped_column(Date)

    borrower: Mapped[Enterprise] = relationship(lazy="raise")


class LoanClassification(Base):
    """A loan's five-tier class (and balance, days past due) as known on a date: the dated history that
    analyses as of an earlier date read (``enterprises.service.loans_known``)."""

    __tablename__ = "loan_classifications"
    __label_zh__ = "贷款五级分类历史"
    __table_args__ = (
        UniqueConstraint("loan_id", "as_of", name="uq_loan_classifications_loan_date"),
        Index("ix_loan_classifications_as_of", "as_of"),
        CheckConstraint("balance IS NULL OR balance >= 0", name="balance_nonneg"),
        CheckConstraint("days_past_due IS NULL OR days_past_due >= 0", name="dpd_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date)
    classification: Mapped[LoanClass] = mapped_column(str_enum(LoanClass, 16))
    balance: Mapped[float | None] = mapped_column(Money)  # 元 on that date; NULL if not reported
    days_past_due: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="")  # demo, import, …


class GuaranteeKind(StrEnum):
    ONE_WAY = "one_way"  # 单向担保
    MUTUAL = "mutual"  # 互保
    JOINT = "joint"  # 联保

    @property
    def zh(self) -> str:
        return {"one_way": "单向", "mutual": "互保", "joint": "联保"}[self.value]


class Guarantee(Base):
    """A guarantee of a loan: the guarantor (an enterprise or a guarantee company) backs the borrower."""

    __tablename__ = "guarantees"
    __label_zh__ = "担保"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(guarantor_enterprise_id IS NULL) <> (guarantor_institution_id IS NULL)",
            name="one_guarantor",
        ),
        CheckConstraint(
            "guarantor_enterprise_id IS NULL OR guarantor_enterprise_id <> borrower_id", name="not_self"
        ),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guarantor_enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    guarantor_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), index=True)
    amount: Mapped[float] = mapped_column(Money)
    kind: Mapped[GuaranteeKind] = mapped_column(str_enum(GuaranteeKind, 16))
    # Joint guarantees (联保) of one group share an agreement number.
    agreement_no: Mapped[str | None] = mapped_column(String(40), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
