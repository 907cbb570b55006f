"""Stored summaries of the big tables, so pages read a few rows instead of scanning millions.

A batch step (``qiantang stats refresh``, run after every load of enterprises or loans) writes a
snapshot: enterprises by district and size class, outstanding loans by the borrower's district and
five-tier class. Pages show the snapshot's time next to the figures.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, utcnow


class SummarySnapshot(Base):
    __tablename__ = "summary_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    loans_as_of: Mapped[date | None] = mapped_column(Date)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class SummaryCell(Base):
    """One figure of a snapshot: ``measure`` for one district and one key (size class or loan class)."""

    __tablename__ = "summary_cells"
    __table_args__ = (Index("ix_summary_cells_snapshot_measure", "snapshot_id", "measure"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("summary_snapshots.id", ondelete="CASCADE"))
    measure: Mapped[str] = mapped_column(String(32))  # enterprises | loan_balance | loan_count
    district_code: Mapped[str] = mapped_column(String(6))
    key: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
