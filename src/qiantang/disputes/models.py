"""The financial dispute register (金融纠纷登记): who complained about which institution, through which
channel and body, when it was received, accepted and closed, and how it ended.

The complainant is a person or a firm: the register keeps the name only (no ID number, no phone —
what the statistics need is the case, not the person), and pages show it masked by role
(``masking.py``, field ``person_name``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, Money, utcnow
from qiantang.enums import str_enum
from qiantang.registry.models import Institution


class _Labelled(StrEnum):
    @property
    def zh(self) -> str:
        return _TEXT[self][0]

    @property
    def en(self) -> str:
        return _TEXT[self][1]


class Channel(_Labelled):
    """How the dispute is being resolved: 调解、仲裁、诉讼, the channels plan 六(三)4 names."""

    MEDIATION = "mediation"
    ARBITRATION = "arbitration"
    LITIGATION = "litigation"


class ProductType(_Labelled):
    LOAN = "loan"
    CARD = "card"
    WEALTH = "wealth"
    INSURANCE = "insurance"
    PAYMENT = "payment"
    GUARANTEE = "guarantee"
    PAWN = "pawn"
    LEASING = "leasing"
    INVESTMENT = "investment"
    OTHER = "other"


class Outcome(_Labelled):
    """How a closed dispute ended; ``settled`` and ``upheld`` count as resolved for the complainant."""

    SETTLED = "settled"  # 调解成功 / 和解
    UPHELD = "upheld"  # 裁决或判决支持（全部或部分）
    FAILED = "failed"  # 调解不成
    DISMISSED = "dismissed"  # 驳回
    WITHDRAWN = "withdrawn"  # 申请人撤回

    @property
    def resolved(self) -> bool:
        return self in (Outcome.SETTLED, Outcome.UPHELD)


_TEXT = {
    Channel.MEDIATION: ("调解", "Mediation"),
    Channel.ARBITRATION: ("仲裁", "Arbitration"),
    Channel.LITIGATION: ("诉讼", "Litigation"),
    ProductType.LOAN: ("贷款", "Loan"),
    ProductType.CARD: ("信用卡", "Credit card"),
    ProductType.WEALTH: ("理财", "Wealth product"),
    ProductType.INSURANCE: ("保险", "Insurance"),
    ProductType.PAYMENT: ("支付", "Payment"),
    ProductType.GUARANTEE: ("融资担保", "Financing guarantee"),
    ProductType.PAWN: ("典当", "Pawn"),
    ProductType.LEASING: ("融资租赁", "Finance lease"),
    ProductType.INVESTMENT: ("投资/私募", "Investment / private fund"),
    ProductType.OTHER: ("其他", "Other"),
    Outcome.SETTLED: ("调解成功", "Settled"),
    Outcome.UPHELD: ("裁决或判决支持", "Upheld"),
    Outcome.FAILED: ("调解不成", "Mediation failed"),
    Outcome.DISMISSED: ("驳回", "Dismissed"),
    Outcome.WITHDRAWN: ("申请人撤回", "Withdrawn"),
}


class Dispute(Base):
    __tablename__ = "disputes"
    __label_zh__ = "金融纠纷"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_nonneg"),
        CheckConstraint("recovered IS NULL OR recovered >= 0", name="recovered_nonneg"),
        CheckConstraint("accepted_on IS NULL OR accepted_on >= received_on", name="accepted_after_received"),
        CheckConstraint("closed_on IS NULL OR closed_on >= received_on", name="closed_after_received"),
        CheckConstraint("(closed_on IS NULL) = (outcome IS NULL)", name="closed_has_outcome"),
        Index("ix_disputes_institution_received", "institution_id", "received_on"),
        Index("ix_disputes_district_received", "district_code", "received_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref_no: Mapped[str] = mapped_column(String(40), unique=True)  # the body's case number
    complainant: Mapped[str] = mapped_column(String(100))  # a person's or firm's name (masked on pages)
    complainant_is_firm: Mapped[bool] = mapped_column(default=False)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    # A dispute about a firm without a licence (no institution): its name, for the fundraising module.
    respondent_name: Mapped[str] = mapped_column(String(200))
    district_code: Mapped[str] = mapped_column(String(6))  # the respondent's district (scoping)
    product_type: Mapped[ProductType] = mapped_column(str_enum(ProductType, 16))
    amount: Mapped[float] = mapped_column(Money)  # 元, the amount in dispute
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 12))
    body_code: Mapped[str] = mapped_column(String(32))  # disputes/data/bodies.toml
    received_on: Mapped[date] = mapped_column(Date)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome, 12))
    recovered: Mapped[float | None] = mapped_column(Money)  # 元, paid or agreed to the complainant
    summary: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution | None] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    @property
    def days_to_close(self) -> int | None:
        return (self.closed_on - self.received_on).days if self.closed_on else None
