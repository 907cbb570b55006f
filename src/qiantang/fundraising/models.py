"""Illegal-fundraising monitoring (非法集资监测预警): the data the enterprise register lacks, and scores.

The register (``enterprises``) knows a firm's name, industry, district, founding date and registered
capital. Monitoring also needs what market-supervision, courts, banks and web crawlers hold:

* ``fr_profiles`` — business scope (经营范围), paid-in capital, registered address and phone;
* ``fr_registration_changes`` — address / capital / name / scope / legal representative / shareholders;
* ``fr_people`` — shareholders and legal representatives. A person is linked across firms by
  ``person_key`` (a keyed hash of the ID number, never the number itself); the ID is kept only in its
  masked display form and the name is masked by role on pages (``masking.py``, ``person_name``);
* ``fr_texts`` — advertising and web text collected by other tools (source, URL, date, text);
* ``fr_spread`` — investor counts, amount raised and regions reached, as observed on a date;
* ``fr_complaints`` — complaints about a firm (tips have their own intake);
* ``fr_dishonest`` — the list of dishonest judgment debtors (失信被执行人), firms or people, with dates;
* ``fr_fund_anomalies`` — optional bank-reported fund anomalies;
* ``fr_runs`` / ``fr_scores`` — a scoring run and one row per watched firm: ``grade``, ``score``,
  ``version`` and ``reasons`` (the dimension, the Chinese text and its evidence);
* ``fr_collapses`` — firms that collapsed (暴雷), with date and victims: labels for the backtest.

Amounts are stored in 元 like the rest of the schema and shown in 万元/亿元.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
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
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, JSONType, Money, utcnow
from qiantang.enums import str_enum


class ChangeKind(StrEnum):
    ADDRESS = "address"
    CAPITAL = "capital"
    NAME = "name"
    SCOPE = "scope"
    LEGAL_REP = "legal_rep"
    SHAREHOLDERS = "shareholders"

    @property
    def zh(self) -> str:
        return CHANGE_ZH[self]

    @property
    def en(self) -> str:
        return CHANGE_EN[self]


CHANGE_ZH = {
    ChangeKind.ADDRESS: "住所变更",
    ChangeKind.CAPITAL: "注册资本变更",
    ChangeKind.NAME: "名称变更",
    ChangeKind.SCOPE: "经营范围变更",
    ChangeKind.LEGAL_REP: "法定代表人变更",
    ChangeKind.SHAREHOLDERS: "股东变更",
}


CHANGE_EN = {
    ChangeKind.ADDRESS: "Change of address",
    ChangeKind.CAPITAL: "Change of registered capital",
    ChangeKind.NAME: "Change of name",
    ChangeKind.SCOPE: "Change of business scope",
    ChangeKind.LEGAL_REP: "Change of legal representative",
    ChangeKind.SHAREHOLDERS: "Change of shareholders",
}


class PersonRole(StrEnum):
    LEGAL_REP = "legal_rep"
    SHAREHOLDER = "shareholder"
    EXECUTIVE = "executive"

    @property
    def zh(self) -> str:
        return {"legal_rep": "法定代表人", "shareholder": "股东", "executive": "高管"}[self.value]

    @property
    def en(self) -> str:
        return {"legal_rep": "Legal representative", "shareholder": "Shareholder", "executive": "Executive"}[
            self.value
        ]


GRADES = ("red", "orange", "yellow", "green")
GRADE_ZH = {"red": "红", "orange": "橙", "yellow": "黄", "green": "绿"}


class FirmProfile(Base):
    """What the register lacks about a firm, one row per enterprise."""

    __tablename__ = "fr_profiles"
    __label_zh__ = "企业登记补充信息"
    __table_args__ = (
        CheckConstraint("paid_in_capital IS NULL OR paid_in_capital >= 0", name="paid_in_nonneg"),
        Index("ix_fr_profiles_address", "address"),
    )

    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True
    )
    business_scope: Mapped[str] = mapped_column(Text, default="")
    paid_in_capital: Mapped[float | None] = mapped_column(Money)  # 实缴资本, 元
    address: Mapped[str | None] = mapped_column(String(200))  # registered address, normalised
    phone: Mapped[str | None] = mapped_column(String(32))  # the firm's registered phone
    source: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class RegistrationChange(Base):
    __tablename__ = "fr_registration_changes"
    __label_zh__ = "工商变更记录"
    __table_args__ = (Index("ix_fr_registration_changes_firm_date", "enterprise_id", "changed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    kind: Mapped[ChangeKind] = mapped_column(str_enum(ChangeKind, 16))
    changed_on: Mapped[date] = mapped_column(Date)
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(32), default="")


class FirmPerson(Base):
    """A person's role in a firm. ``person_key`` links the same person across firms."""

    __tablename__ = "fr_people"
    __label_zh__ = "股东及法定代表人"
    __table_args__ = (
        Index("ix_fr_people_person", "person_key"),
        Index("ix_fr_people_firm", "enterprise_id"),
        CheckConstraint("share IS NULL OR (share >= 0 AND share <= 1)", name="share_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    person_key: Mapped[str] = mapped_column(String(64))  # keyed SHA-256 of the ID number
    name: Mapped[str] = mapped_column(String(50))  # shown masked by role (person_name)
    id_masked: Mapped[str] = mapped_column(String(24), default="")  # e.g. 3****************X
    role: Mapped[PersonRole] = mapped_column(str_enum(PersonRole, 12))
    share: Mapped[float | None] = mapped_column(Float)  # shareholding, 0–1
    since: Mapped[date | None] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)


class FirmText(Base):
    """An advertisement or web page collected by another tool, tied to a firm when it could be."""

    __tablename__ = "fr_texts"
    __label_zh__ = "广告及网络文本"
    __table_args__ = (Index("ix_fr_texts_firm_date", "enterprise_id", "published_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    firm_name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(64))  # 网站 / 公众号 / 传单 / 短视频 …
    url: Mapped[str] = mapped_column(String(500), default="")
    published_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)


class SpreadObservation(Base):
    """How far a firm's fundraising has spread on a date (涉众): investors, amount, regions."""

    __tablename__ = "fr_spread"
    __label_zh__ = "涉众情况"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "observed_on", name="uq_fr_spread_firm_date"),
        CheckConstraint("investors >= 0", name="investors_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    observed_on: Mapped[date] = mapped_column(Date)
    investors: Mapped[int] = mapped_column(Integer, default=0)
    amount_raised: Mapped[float | None] = mapped_column(Money)  # 元
    realised_return: Mapped[float | None] = mapped_column(Float)  # annual %, as paid out
    districts: Mapped[int] = mapped_column(Integer, default=1)
    provinces: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(32), default="")


class Complaint(Base):
    __tablename__ = "fr_complaints"
    __label_zh__ = "涉嫌非法集资投诉"
    __table_args__ = (Index("ix_fr_complaints_firm_date", "enterprise_id", "received_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    received_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(32), default="")  # 12345 / 信访 / 网络 …
    amount: Mapped[float | None] = mapped_column(Money)  # 元, the complainant's stake
    summary: Mapped[str] = mapped_column(Text, default="")


class DishonestDebtor(Base):
    """An entry of the 失信被执行人 list: a firm (``enterprise_id`` or ``uscc``) or a person."""

    __tablename__ = "fr_dishonest"
    __label_zh__ = "失信被执行人"
    __table_args__ = (
        Index("ix_fr_dishonest_firm", "enterprise_id"),
        Index("ix_fr_dishonest_person", "person_key"),
        CheckConstraint("removed_on IS NULL OR removed_on >= listed_on", name="removed_after_listed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    uscc: Mapped[str | None] = mapped_column(String(18))
    person_key: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))  # a firm's name, or a person's (masked on pages)
    case_no: Mapped[str] = mapped_column(String(64), default="")
    court: Mapped[str] = mapped_column(String(100), default="")
    listed_on: Mapped[date] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)


class FundAnomaly(Base):
    """A bank's report of unusual fund flows on a firm's accounts (optional, by upload)."""

    __tablename__ = "fr_fund_anomalies"
    __label_zh__ = "资金异常报告"
    __table_args__ = (Index("ix_fr_fund_anomalies_firm_date", "enterprise_id", "reported_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    reported_on: Mapped[date] = mapped_column(Date)
    bank: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(32))  # 分散转入集中转出 / 快进快出 / 大额现金 …
    amount: Mapped[float | None] = mapped_column(Money)  # 元
    note: Mapped[str] = mapped_column(Text, default="")


class ScoreRun(Base):
    __tablename__ = "fr_runs"
    __label_zh__ = "非法集资风险评分批次"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    version: Mapped[str] = mapped_column(String(32))  # the index version (fundraising/data/index.toml)
    keywords_version: Mapped[str] = mapped_column(String(32), default="")
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    firms: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict] = mapped_column(JSONType, default=dict)  # per grade
    created_by: Mapped[str | None] = mapped_column(String(64))


class FirmScore(Base):
    """One watched firm's index in a run. ``reasons``: [{"dimension", "text", "evidence"}, …]."""

    __tablename__ = "fr_scores"
    __label_zh__ = "非法集资风险指数"
    __table_args__ = (
        UniqueConstraint("run_id", "enterprise_id", name="uq_fr_scores_run_firm"),
        Index("ix_fr_scores_run_grade", "run_id", "grade", "score"),
        Index("ix_fr_scores_firm", "enterprise_id", "run_id"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        CheckConstraint("grade IN ('red', 'orange', 'yellow', 'green')", name="grade_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("fr_runs.id", ondelete="CASCADE"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    district_code: Mapped[str] = mapped_column(String(6))
    category: Mapped[str] = mapped_column(String(32), default="")  # watched-firm class (watch.toml)
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(8))
    version: Mapped[str] = mapped_column(String(32))
    subscores: Mapped[dict] = mapped_column(JSONType, default=dict)  # dimension → 0–100
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    dishonest: Mapped[bool] = mapped_column(Boolean, default=False)  # on the 失信 list (firm itself)

    @property
    def reasons_shown(self) -> list[dict]:
        """The stored (Chinese) reasons with their English beside: ``{{ r | localised("text") }}``."""
        from qiantang.fundraising.index import with_english

        return [with_english(r) for r in self.reasons or []]


class Collapse(Base):
    """A firm that collapsed (暴雷): the date it stopped paying, the victims and the loss."""

    __tablename__ = "fr_collapses"
    __label_zh__ = "暴雷记录"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), unique=True)
    collapsed_on: Mapped[date] = mapped_column(Date)
    victims: Mapped[int] = mapped_column(Integer, default=0)
    loss: Mapped[float | None] = mapped_column(Money)  # 元
    source: Mapped[str] = mapped_column(String(32), default="")  # "demo" for synthetic labels
