"""Plans, their quantitative targets, the indicators they track and the indicators' actual values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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

from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum


class IndicatorKind(StrEnum):
    LEVEL = "level"  # a stock or annual amount (亿元, 家)
    SHARE = "share"  # a part of a whole, in percent
    RATIO = "ratio"  # a ratio of two amounts (depth, density, NPL ratio)
    INCREMENT = "increment"  # a cumulative count since the baseline
    FLOW = "flow"  # an amount per year

    @property
    def zh(self) -> str:
        return {
            "level": "总量",
            "share": "占比",
            "ratio": "比率",
            "increment": "累计增量",
            "flow": "年度流量",
        }[self.value]


class IndicatorMethod(StrEnum):
    INPUT = "input"  # entered by upload or API
    DERIVED = "derived"  # computed from other indicators (never typed)
    REGISTRY = "registry"  # computed from the registry tables as of each year-end

    @property
    def zh(self) -> str:
        return {"input": "录入", "derived": "计算", "registry": "名录统计"}[self.value]


class Quality(StrEnum):
    OFFICIAL = "official"  # published by a statistics office or the government
    SECONDARY = "secondary"  # quoted by a secondary source
    COMPUTED = "computed"  # computed by the platform from its own tables or from other values
    SYNTHETIC = "synthetic"  # made up by the demo generator

    @property
    def zh(self) -> str:
        return {
            "official": "官方",
            "secondary": "二手来源",
            "computed": "平台计算",
            "synthetic": "合成（演示）",
        }[self.value]

    @property
    def rank(self) -> int:
        """Lower is better: the value shown for a year is the best-ranked current one."""
        return {"official": 0, "secondary": 1, "computed": 2, "synthetic": 3}[self.value]


class Indicator(Base):
    """A measured quantity, independent of any plan (the same indicator serves the 13th and 14th FYP)."""

    __tablename__ = "indicators"
    __label_zh__ = "指标"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    kind: Mapped[IndicatorKind] = mapped_column(str_enum(IndicatorKind, 16))
    direction: Mapped[str] = mapped_column(String(8))  # increase | decrease
    method: Mapped[IndicatorMethod] = mapped_column(str_enum(IndicatorMethod, 16))
    definition_zh: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Plan(Base):
    __tablename__ = "plans"
    __label_zh__ = "规划"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    period_start: Mapped[int] = mapped_column(Integer)
    period_end: Mapped[int] = mapped_column(Integer)
    source_document: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))

    targets: Mapped[list[PlanTarget]] = relationship(
        back_populates="plan", order_by="PlanTarget.sort_order", cascade="all, delete-orphan"
    )


class PlanTarget(Base):
    """One quantitative target of a plan: reach ``target_value`` by ``target_year`` from a baseline."""

    __tablename__ = "plan_targets"
    __label_zh__ = "规划目标"
    __table_args__ = (
        UniqueConstraint("plan_id", "indicator_code", name="uq_plan_targets_plan_indicator"),
        CheckConstraint("comparison IN ('>', '>=', '<', '<=')", name="comparison"),
        CheckConstraint("direction IN ('increase', 'decrease')", name="direction"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"))
    baseline_year: Mapped[int | None] = mapped_column(Integer)
    baseline_value: Mapped[float | None] = mapped_column(Float)
    target_year: Mapped[int] = mapped_column(Integer)
    target_value: Mapped[float] = mapped_column(Float)
    comparison: Mapped[str] = mapped_column(String(2))
    direction: Mapped[str] = mapped_column(String(8))
    plan_section: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    plan: Mapped[Plan] = relationship(back_populates="targets")
    indicator: Mapped[Indicator] = relationship(lazy="joined")


class IndicatorValue(Base):
    """An actual value of an indicator for a year (quarter NULL) or a quarter.

    Entered values are never overwritten: a revision adds a row and marks the old one not current.
    Computed values (derived and registry indicators) are replaced wholesale when recomputed; their
    ``inputs`` name what they were computed from.
    """

    __tablename__ = "indicator_values"
    __label_zh__ = "指标数值"
    __table_args__ = (
        Index("ix_indicator_values_lookup", "indicator_code", "year", "quarter", "is_current"),
        CheckConstraint("quarter IS NULL OR (quarter BETWEEN 1 AND 4)", name="quarter_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"))
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    quality: Mapped[Quality] = mapped_column(str_enum(Quality, 16))
    source: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    inputs: Mapped[list] = mapped_column(JSONType, default=list)
    # Computed by the platform (derived or registry-backed); replaced wholesale on recomputation.
    is_computed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    entered_by: Mapped[str | None] = mapped_column(String(64))
