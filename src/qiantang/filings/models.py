"""Periodic filings (报表报送) by local financial organizations and private fund managers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum


class FilingSource(StrEnum):
    UPLOAD = "upload"
    API = "api"
    WEB = "web"
    DEMO = "demo"


class Filing(Base):
    """One institution's report for one period. A re-filing is a new revision; the old one is kept.

    ``data`` holds the values keyed by the template's field codes, in the template's units.
    """

    __tablename__ = "filings"
    __label_zh__ = "报表"
    __table_args__ = (
        UniqueConstraint("institution_id", "period_end", "revision", name="uq_filings_inst_period_rev"),
        Index("ix_filings_template_period", "template_code", "period_end"),
        Index("ix_filings_institution_current", "institution_id", "is_current"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    template_code: Mapped[str] = mapped_column(String(32))
    template_version: Mapped[str] = mapped_column(String(16))
    period_end: Mapped[date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict] = mapped_column(JSONType)
    due_on: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[FilingSource] = mapped_column(str_enum(FilingSource, 16))

    @property
    def is_late(self) -> bool:
        return self.submitted_at.date() > self.due_on


class AnnualFiling(Base):
    """One institution's annual return (e.g. the finance-talent return) for one calendar year.

    Kept apart from ``filings`` so that quarterly statistics, compliance and plan indicators, which
    read every current filing of a quarter end, never take an annual return for a quarter's. The
    columns mirror ``Filing``; ``period_end`` is 31 December of the year.
    """

    __tablename__ = "annual_filings"
    __label_zh__ = "年度报表"
    __table_args__ = (
        UniqueConstraint(
            "institution_id", "template_code", "period_end", "revision", name="uq_annual_filings_rev"
        ),
        Index("ix_annual_filings_template_period", "template_code", "period_end", "is_current"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    template_code: Mapped[str] = mapped_column(String(32))
    template_version: Mapped[str] = mapped_column(String(16))
    period_end: Mapped[date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict] = mapped_column(JSONType)
    due_on: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[FilingSource] = mapped_column(str_enum(FilingSource, 16))

    @property
    def is_late(self) -> bool:
        return self.submitted_at.date() > self.due_on
