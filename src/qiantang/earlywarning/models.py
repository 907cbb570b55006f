"""Early warning for local financial organizations: indicators, signals, ratings and alerts.

Everything here is written by the batch computation (``qiantang ew run``), each row stamped with the
version of the indicator definitions, rules and weights it came from; pages only read.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum
from qiantang.registry.models import Institution
from qiantang.web.i18n import is_zh


class Level(StrEnum):
    """Warning level (预警等级), worst first."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"

    @property
    def zh(self) -> str:
        return {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色"}[self.value]

    @property
    def en(self) -> str:
        return self.value.capitalize()

    @property
    def rank(self) -> int:
        return {"red": 3, "orange": 2, "yellow": 1, "green": 0}[self.value]


class SignalFamily(StrEnum):
    LIMIT = "limit"  # a regulatory limit breached
    PEER = "peer"  # far from peers of the same type in the same period
    TREND = "trend"  # a sudden jump or a break in the institution's own trend
    FILING = "filing"  # late, missing, revised or inconsistent filings
    RATING = "rating"  # the CAMEL+RR rating fell to orange or red
    CONDUCT = "conduct"  # many disputes with customers (the dispute register)

    @property
    def zh(self) -> str:
        return {
            "limit": "监管指标越限",
            "peer": "同业异常",
            "trend": "趋势突变",
            "filing": "报送异常",
            "rating": "风险评级",
            "conduct": "投诉与纠纷",
        }[self.value]

    @property
    def en(self) -> str:
        return {
            "limit": "Regulatory limit",
            "peer": "Peer anomaly",
            "trend": "Trend break",
            "filing": "Filing behaviour",
            "rating": "Risk rating",
            "conduct": "Complaints and disputes",
        }[self.value]


class EwRun(Base):
    """One computation of indicators, signals, ratings and alerts."""

    __tablename__ = "ew_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    version: Mapped[str] = mapped_column(String(64))  # indicator, rule and weight versions
    first_period: Mapped[date | None] = mapped_column(Date)
    last_period: Mapped[date | None] = mapped_column(Date)
    counts: Mapped[dict] = mapped_column(JSONType, default=dict)
    triggered_by: Mapped[str | None] = mapped_column(String(64))


class EwIndicator(Base):
    """One indicator of one institution for one quarter (long format, for trends and peers)."""

    __tablename__ = "ew_indicators"
    __table_args__ = (
        Index("ix_ew_indicators_inst_code", "institution_id", "code", "period_end"),
        Index("ix_ew_indicators_period_code", "period_end", "code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    period_end: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(48))
    value: Mapped[float] = mapped_column(Float)
    version: Mapped[str] = mapped_column(String(32))


class EwPeerBand(Base):
    """Peer distribution of an indicator within an institution type and quarter."""

    __tablename__ = "ew_peer_bands"
    __table_args__ = (UniqueConstraint("type_code", "period_end", "code", name="uq_ew_peer_bands_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(32))
    period_end: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(48))
    n: Mapped[int] = mapped_column(Integer)
    p10: Mapped[float] = mapped_column(Float)
    p25: Mapped[float] = mapped_column(Float)
    median: Mapped[float] = mapped_column(Float)
    p75: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    mad: Mapped[float] = mapped_column(Float)


class EwSignal(Base):
    """A rule breach or an anomaly for one institution and quarter, with its evidence."""

    __tablename__ = "ew_signals"
    __table_args__ = (Index("ix_ew_signals_inst_period", "institution_id", "period_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    period_end: Mapped[date] = mapped_column(Date, index=True)
    family: Mapped[SignalFamily] = mapped_column(str_enum(SignalFamily, 16))
    code: Mapped[str] = mapped_column(String(64))  # rule code or indicator code
    level: Mapped[Level] = mapped_column(str_enum(Level, 8))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict] = mapped_column(JSONType, default=dict)
    version: Mapped[str] = mapped_column(String(32))


class EwRating(Base):
    """The CAMEL+RR rating of an institution for a quarter, with the challenger's view beside it."""

    __tablename__ = "ew_ratings"
    __table_args__ = (UniqueConstraint("institution_id", "period_end", name="uq_ew_ratings_inst_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    period_end: Mapped[date] = mapped_column(Date, index=True)
    type_code: Mapped[str] = mapped_column(String(32))
    district_code: Mapped[str] = mapped_column(String(6))
    score: Mapped[float] = mapped_column(Float)  # 0 (worst) … 100 (best)
    level: Mapped[Level] = mapped_column(str_enum(Level, 8))
    dimensions: Mapped[dict] = mapped_column(JSONType, default=dict)  # C, A, M, E, L, RR → score
    reasons: Mapped[list] = mapped_column(JSONType, default=list)  # worst contributions, in Chinese
    challenger_pd: Mapped[float | None] = mapped_column(Float)  # probability of distress within 4 quarters
    version: Mapped[str] = mapped_column(String(32))


class AlertStatus(StrEnum):
    OPEN = "open"
    CLEARED = "cleared"  # the signals stopped in a later quarter

    @property
    def zh(self) -> str:
        return {"open": "未消除", "cleared": "已消除"}[self.value]


_MORE_ZH = re.compile(r"等(\d+)项")
_WORST_ZH = re.compile(r"（本次预警期间最高为(\S+?)，见于(\S+?)）")


_MOVED_PCT = re.compile(r"moved ([+-])([\d,.]+) since last quarter \((?=[^)]*%)")


def message_en(text: str) -> str:
    """A stored English signal message in today's wording: a quarter-on-quarter change of a percentage,
    stored by earlier runs as "moved +17.12", reads "rose 17.12 percentage points"."""
    return _MOVED_PCT.sub(
        lambda m: f"{'rose' if m[1] == '+' else 'fell'} {m[2]} percentage points since last quarter (", text
    )


def summary_en(summary_zh: str, family: str, evidence: list[dict[str, Any]] | None) -> str:
    """An alert's summary in English, rebuilt from its evidence (the stored summary is Chinese):
    "Limit breached: <first signal> and 2 more (worst during this alert: Red, in 2025Q2)"."""
    fam = SignalFamily(family)
    items = evidence or []
    if not items:
        return f"{fam.en} alert"
    first = message_en(items[0].get("message_en") or items[0].get("message_zh") or "")
    # A rating's message already names the family ("Risk rating Orange (score 44.8)"): not said twice.
    text = first if first.startswith(fam.en) else f"{fam.en}: {first}"
    more = _MORE_ZH.search(summary_zh or "")
    n = int(more.group(1)) if more else len(items)
    if n > 1:
        text += f" and {n - 1} more"
    worst = _WORST_ZH.search(summary_zh or "")
    if worst:
        level = {lv.zh: lv.en for lv in Level}.get(worst.group(1), worst.group(1))
        text += f" (worst during this alert: {level}, in {worst.group(2)})"
    return text


class Alert(Base):
    """One alert per institution and signal family while it lasts: later quarters update it."""

    __tablename__ = "ew_alerts"
    __table_args__ = (Index("ix_ew_alerts_inst_family_status", "institution_id", "family", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    family: Mapped[SignalFamily] = mapped_column(str_enum(SignalFamily, 16))
    level: Mapped[Level] = mapped_column(str_enum(Level, 8))  # the worst level while open
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus, 16), default=AlertStatus.OPEN)
    first_period: Mapped[date] = mapped_column(Date)
    last_period: Mapped[date] = mapped_column(Date, index=True)
    cleared_period: Mapped[date | None] = mapped_column(Date)
    summary_zh: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list] = mapped_column(JSONType, default=list)  # the signals of the last period
    periods: Mapped[list] = mapped_column(JSONType, default=list)  # every quarter it was raised in
    version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship(lazy="joined")

    @property
    def summary(self) -> str:
        """The summary in the current language (stored in Chinese; English is rebuilt from the evidence)."""
        if is_zh():
            fam = SignalFamily(self.family).zh  # stored by earlier runs as "风险评级：风险评级橙色…"
            return (self.summary_zh or "").replace(f"{fam}：{fam}", fam, 1)
        return summary_en(self.summary_zh, self.family, self.evidence)
