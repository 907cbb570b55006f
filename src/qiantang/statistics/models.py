"""Comprehensive statistics (综合统计) stored as cells, so pages aggregate a few rows, not raw filings.

A cell is one measure for one period and one combination of institution type, district, cluster
and level. Cells are written by ``statistics.service.refresh`` (all periods, from the CLI and after
a demo load) and ``refresh_periods`` (the periods an upload touched), never on page view.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, utcnow


class StatCell(Base):
    __tablename__ = "stat_cells"
    __table_args__ = (
        Index("ix_stat_cells_measure_period", "measure", "period_end"),
        Index("ix_stat_cells_period_type", "period_end", "type_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_end: Mapped[date] = mapped_column(Date)
    type_code: Mapped[str] = mapped_column(String(32))
    district_code: Mapped[str] = mapped_column(String(6))
    cluster_code: Mapped[str] = mapped_column(String(32))  # "" when the institution is in no cluster
    level: Mapped[str] = mapped_column(String(24))
    measure: Mapped[str] = mapped_column(String(48))
    value: Mapped[float] = mapped_column(Float)


class StatRefresh(Base):
    """When cells were last computed, for which periods, and how long it took."""

    __tablename__ = "stat_refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    periods: Mapped[str] = mapped_column(Text)  # "all" or a comma-separated list of period ends
    cells: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
