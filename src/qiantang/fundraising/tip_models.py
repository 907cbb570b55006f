"""Tables of public tips (举报) about illegal fundraising, and the watch list of green firms.

A *tip* is one matter about one firm: reports from several tipsters about the same firm with similar
text are merged into it (``reports`` counts them). Each report is a :class:`TipReport` with its own
receipt code, text and contact; the tipster checks the tip's status with the code and sees nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.audit import service as audit
from qiantang.db import Base, utcnow
from qiantang.enterprises.models import Enterprise
from qiantang.enums import str_enum


class TipStatus(StrEnum):
    NEW = "new"  # 待处理
    HANDLED = "handled"  # 已处理
    FORWARDED = "forwarded"  # 已转立案

    @property
    def zh(self) -> str:
        return {"new": "待处理", "handled": "已处理", "forwarded": "已转立案核查"}[self.value]

    @property
    def en(self) -> str:
        return {"new": "To handle", "handled": "Handled", "forwarded": "Forwarded to a case"}[self.value]

    @property
    def public_zh(self) -> str:
        """What the tipster is told (no internal detail)."""
        return {
            "new": "已收到，等待工作人员处理",
            "handled": "已处理完毕",
            "forwarded": "已转入核查程序",
        }[self.value]


class Tip(Base):
    __tablename__ = "fundraising_tips"
    __label_zh__ = "举报线索"
    __table_args__ = (Index("ix_fundraising_tips_district_status", "district_code", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_text: Mapped[str] = mapped_column(String(200))  # the name or USCC as the tipster typed it
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    match_confidence: Mapped[float | None] = mapped_column(Float)  # 0–1
    match_method: Mapped[str] = mapped_column(String(8), default="")  # uscc | name | "" (none)
    district_code: Mapped[str | None] = mapped_column(String(6))  # the firm's; None: the city sorts it
    what_happened: Mapped[str] = mapped_column(Text)
    amount_yuan: Mapped[float | None] = mapped_column(Float)
    people: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[TipStatus] = mapped_column(str_enum(TipStatus, 12), default=TipStatus.NEW)
    reports: Mapped[int] = mapped_column(Integer, default=1)  # merged duplicates
    first_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    handling_note: Mapped[str] = mapped_column(Text, default="")

    enterprise: Mapped[Enterprise | None] = relationship(lazy="joined")
    report_rows: Mapped[list[TipReport]] = relationship(back_populates="tip", order_by="TipReport.id")


class TipReport(Base):
    """One submission of the public form (its receipt code), merged into a :class:`Tip`."""

    __tablename__ = "fundraising_tip_reports"
    __table_args__ = (Index("ix_fundraising_tip_reports_client_at", "client_key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("fundraising_tips.id", ondelete="CASCADE"), index=True)
    receipt_code: Mapped[str] = mapped_column(String(16), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    client_key: Mapped[str] = mapped_column(String(64))  # a hash of the client's address (rate limit)
    what_happened: Mapped[str] = mapped_column(Text)
    amount_yuan: Mapped[float | None] = mapped_column(Float)
    people: Mapped[int | None] = mapped_column(Integer)
    contact: Mapped[str] = mapped_column(String(100), default="")

    tip: Mapped[Tip] = relationship(back_populates="report_rows")


class WatchEntry(Base):
    """A green firm on the watch list (关注名单): the index's routing of its lowest grade."""

    __tablename__ = "fundraising_watchlist"
    __label_zh__ = "关注名单"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), unique=True)
    score: Mapped[float] = mapped_column(Float)
    index_version: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")

    @property
    def reasons_shown(self) -> list[dict]:
        """The stored (Chinese) reasons with their English beside (``localised`` picks)."""
        from qiantang.fundraising.index import with_english

        return [with_english(r) for r in self.reasons or []]


audit.register_detail_values(TipStatus, "tip_status")
