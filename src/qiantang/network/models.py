"""Guarantee-network analysis results: runs, groups (担保圈), per-enterprise measures, scenarios.

A run analyses the guarantees in force on a date and stores what pages show; contagion scenarios
are stored with their parameters and results so a meeting can return to them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, JSONType, utcnow


class NetworkRun(Base):
    __tablename__ = "network_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict] = mapped_column(JSONType, default=dict)  # recovery rate, capacity, risk thresholds
    counts: Mapped[dict] = mapped_column(JSONType, default=dict)
    version: Mapped[str] = mapped_column(String(32))


class GuaranteeGroup(Base):
    """A 担保圈 in the wide sense: a weakly connected group of firms linked by guarantees."""

    __tablename__ = "network_groups"
    __table_args__ = (Index("ix_network_groups_run_risk", "run_id", "risk_rank", "firms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("network_runs.id", ondelete="CASCADE"))
    firms: Mapped[int] = mapped_column(Integer)
    guarantees: Mapped[int] = mapped_column(Integer)  # guarantee relations (distinct guarantor → borrower)
    total_loans: Mapped[float] = mapped_column(Float)  # outstanding loan balance of the members, 元
    total_guaranteed: Mapped[float] = mapped_column(Float)  # guaranteed amount inside the group, 元
    mutual_pairs: Mapped[int] = mapped_column(Integer)  # 互保
    rings: Mapped[int] = mapped_column(Integer)  # directed three-firm loops
    loop_firms: Mapped[int] = mapped_column(Integer)  # members of strongly connected components > 1 firm
    largest_loop: Mapped[int] = mapped_column(Integer)  # size of the largest strongly connected component
    joint_groups: Mapped[int] = mapped_column(Integer)  # 联保 agreements inside
    longest_chain: Mapped[int] = mapped_column(Integer)  # hops of the longest guarantor chain (担保链)
    density: Mapped[float] = mapped_column(Float)
    special_mention_share: Mapped[float] = mapped_column(Float)  # share of loans classed 关注 or worse
    npl_share: Mapped[float] = mapped_column(Float)
    districts: Mapped[list] = mapped_column(JSONType, default=list)
    risk_level: Mapped[str] = mapped_column(String(8))  # red | orange | yellow | green
    risk_rank: Mapped[int] = mapped_column(Integer)  # 3 red … 0 green, for sorting
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    core_ids: Mapped[list] = mapped_column(JSONType, default=list)  # enterprise ids shown first on the graph


class NetworkNode(Base):
    """An enterprise's place in the guarantee network and its systemic importance."""

    __tablename__ = "network_nodes"
    __table_args__ = (
        Index("ix_network_nodes_run_enterprise", "run_id", "enterprise_id"),
        Index("ix_network_nodes_run_group", "run_id", "group_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("network_runs.id", ondelete="CASCADE"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("network_groups.id", ondelete="CASCADE"))
    loop_size: Mapped[int] = mapped_column(Integer)  # size of its strongly connected component
    guarantees_given: Mapped[float] = mapped_column(Float)  # exposure-weighted out-degree, 元
    guarantees_received: Mapped[float] = mapped_column(Float)  # exposure-weighted in-degree, 元
    pagerank: Mapped[float] = mapped_column(Float)
    chain_up: Mapped[int] = mapped_column(Integer)  # longest chain of guarantors above it
    chain_down: Mapped[int] = mapped_column(Integer)  # longest chain of borrowers below it
    impact_defaults: Mapped[int | None] = mapped_column(Integer)  # firms that default if it alone defaults
    impact_loss: Mapped[float | None] = mapped_column(Float)  # loss to lenders if it alone defaults, 元
    debtrank: Mapped[float | None] = mapped_column(Float)


class ContagionScenario(Base):
    """A stress scenario run on the network, with its parameters and results."""

    __tablename__ = "network_scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("network_runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # firms | industry | district
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    results: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
