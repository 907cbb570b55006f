"""The reserve of firms preparing to list (上市后备企业), their stages with dates, and awards paid."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, Money, utcnow
from qiantang.enterprises.models import Enterprise
from qiantang.enums import str_enum


class Stage(StrEnum):
    """Where a reserve firm is on its way to a listing, in the order of the CSRC process.

    入库培育 → 股改（股份制改造）→ 辅导备案（在证监局辅导备案）→ 申报受理（交易所受理）→ 审核/注册 → 上市.
    A firm may instead list on an OTC market (新三板 or the regional equity market) or leave the reserve.
    """

    ENROLLED = "enrolled"
    REFORMED = "reformed"
    TUTORING = "tutoring"
    ACCEPTED = "accepted"
    REVIEW = "review"
    LISTED = "listed"
    NEEQ = "neeq"
    REGIONAL = "regional"
    WITHDRAWN = "withdrawn"

    @property
    def zh(self) -> str:
        return _STAGE_TEXT[self][0]

    @property
    def en(self) -> str:
        return _STAGE_TEXT[self][1]

    @property
    def rank(self) -> int:
        """Position on the main path (0 = 入库培育 … 5 = 上市); OTC listings and exits have none (−1)."""
        return MAIN_PATH.index(self) if self in MAIN_PATH else -1

    @property
    def is_final(self) -> bool:
        return self in (Stage.LISTED, Stage.WITHDRAWN)


_STAGE_TEXT = {
    Stage.ENROLLED: ("入库培育", "Enrolled"),
    Stage.REFORMED: ("股改", "Shareholding reform"),
    Stage.TUTORING: ("辅导备案", "Tutoring filed"),
    Stage.ACCEPTED: ("申报受理", "Application accepted"),
    Stage.REVIEW: ("审核/注册", "Review / registration"),
    Stage.LISTED: ("上市", "Listed"),
    Stage.NEEQ: ("新三板挂牌", "Listed on the NEEQ"),
    Stage.REGIONAL: ("区域股权市场挂牌", "Listed on the regional equity market"),
    Stage.WITHDRAWN: ("退出培育库", "Left the reserve"),
}
MAIN_PATH = (Stage.ENROLLED, Stage.REFORMED, Stage.TUTORING, Stage.ACCEPTED, Stage.REVIEW, Stage.LISTED)


class Board(StrEnum):
    """The market a firm aims for."""

    MAIN = "main"
    CHINEXT = "chinext"
    STAR = "star"
    BSE = "bse"
    HK = "hk"
    OVERSEAS = "overseas"
    UNDECIDED = "undecided"

    @property
    def zh(self) -> str:
        return _BOARD_TEXT[self][0]

    @property
    def en(self) -> str:
        return _BOARD_TEXT[self][1]

    @property
    def domestic(self) -> bool:
        return self in (Board.MAIN, Board.CHINEXT, Board.STAR, Board.BSE)


_BOARD_TEXT = {
    Board.MAIN: ("主板", "Main board"),
    Board.CHINEXT: ("创业板", "ChiNext"),
    Board.STAR: ("科创板", "STAR Market"),
    Board.BSE: ("北交所", "Beijing Stock Exchange"),
    Board.HK: ("港股", "Hong Kong"),
    Board.OVERSEAS: ("境外其他", "Other overseas"),
    Board.UNDECIDED: ("未定", "Not decided"),
}


class ReserveFirm(Base):
    """A firm in the reserve: its target board, sponsor and the stage it has reached."""

    __tablename__ = "listing_reserve"
    __label_zh__ = "上市后备企业"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), unique=True)
    target_board: Mapped[Board] = mapped_column(str_enum(Board, 16), default=Board.UNDECIDED)
    sponsor: Mapped[str | None] = mapped_column(String(100))  # 保荐机构
    stage: Mapped[Stage] = mapped_column(str_enum(Stage, 16), index=True)
    stage_since: Mapped[date] = mapped_column(Date)
    enrolled_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    events: Mapped[list[StageEvent]] = relationship(
        back_populates="firm", order_by="(StageEvent.on, StageEvent.id)", cascade="all, delete-orphan"
    )
    awards: Mapped[list[ListingAward]] = relationship(
        back_populates="firm", order_by="ListingAward.paid_on", cascade="all, delete-orphan"
    )


class StageEvent(Base):
    """A firm reached ``stage`` on ``on`` (a step back or out carries its reason)."""

    __tablename__ = "listing_stage_events"
    __label_zh__ = "上市进程记录"
    __table_args__ = (UniqueConstraint("firm_id", "stage", "on", name="uq_listing_stage_events_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("listing_reserve.id", ondelete="CASCADE"), index=True)
    stage: Mapped[Stage] = mapped_column(str_enum(Stage, 16))
    on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    firm: Mapped[ReserveFirm] = relationship(back_populates="events")


class ListingAward(Base):
    """A policy award paid to a reserve firm (股改奖励, 上市奖励 …), with the policy it follows."""

    __tablename__ = "listing_awards"
    __label_zh__ = "上市奖励"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("listing_reserve.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a key of data/awards.toml
    amount: Mapped[float] = mapped_column(Money)  # 元
    paid_on: Mapped[date] = mapped_column(Date)
    policy: Mapped[str | None] = mapped_column(String(200))

    firm: Mapped[ReserveFirm] = relationship(back_populates="awards")
