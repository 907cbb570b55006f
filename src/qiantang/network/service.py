"""Guarantee-network runs: load the guarantees in force, analyse, store; scenarios; import checks."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from sqlalchemy import Float, Text, cast, func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.db import bulk_insert, get_or_404, read_frame, reset_sequences
from qiantang.enterprises import service as ent_service
from qiantang.enterprises.models import Enterprise, EnterpriseFinancial, Guarantee, Loan
from qiantang.errors import NotFound
from qiantang.network import analysis
from qiantang.network.contagion import NEVER, cascade, debtrank, obligation_matrix
from qiantang.network.models import ContagionScenario, GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.paging import count_capped
from qiantang.standards.loan_class import LoanClass
from qiantang.web.i18n import is_zh

VERSION = "2025.1"
LEVEL_RANK = {"red": 3, "orange": 2, "yellow": 1, "green": 0}
LEVEL_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色"}
LEVEL_EN = {"red": "Red", "orange": "Orange", "yellow": "Yellow", "green": "Green"}
# The group metrics the risk rules read (risk.toml), all stored on the group.
RISK_METRICS = (
    "firms",
    "guarantees",
    "mutual_pairs",
    "rings",
    "loop_firms",
    "largest_loop",
    "joint_groups",
    "longest_chain",
    "density",
    "special_mention_share",
    "npl_share",
    "total_loans",
    "total_guaranteed",
)


def level_names() -> dict[str, str]:
    """Risk level → its name in the current language (红色 / Red)."""
    return LEVEL_ZH if is_zh() else LEVEL_EN


SPECIAL_OR_WORSE = [c.value for c in LoanClass if c.rank >= 1]
NPL = [c.value for c in LoanClass if c.is_npl]


@dataclass(frozen=True)
class Params:
    """Contagion parameters (documented in docs/methods/contagion.md)."""

    recovery: float = 0.4  # share of a defaulted loan recovered from the borrower
    capacity_multiplier: float = 1.0  # loss-absorbing capacity = net assets × this
    fallback_equity_ratio: float = 0.35  # net assets / total assets when a firm reported no balance sheet
    impact_max_group: int = 20_000  # compute each firm's single-default impact in groups up to this size

    def as_dict(self) -> dict:
        return dict(vars(self))


@cache
def risk_rules() -> dict:
    return tomllib.loads(
        (resources.files("qiantang.network") / "data" / "risk.toml").read_text(encoding="utf-8")
    )


# --------------------------------------------------------------------------------------------------
# Loading


@dataclass
class Network:
    as_of: date
    enterprise_ids: np.ndarray  # node → enterprise id (sorted)
    edges: analysis.Edges
    district: np.ndarray  # per node
    industry: np.ndarray  # per node: GB/T 4754 section letter
    equity: np.ndarray  # per node, 元 (reported, or total assets × fallback ratio)
    equity_reported: np.ndarray  # bool per node
    # Guarantee rows backing loans, for allocating losses: (guarantor node or -1, institution id or -1,
    # loan row, amount); and the loans of network firms: borrower node, lender id, balance, class.
    raw: pd.DataFrame = field(repr=False)
    loans: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.enterprise_ids)

    def node_of(self, enterprise_ids) -> np.ndarray:
        ids = np.asarray(enterprise_ids, dtype=np.int64)
        pos = np.searchsorted(self.enterprise_ids, ids)
        pos = np.minimum(pos, max(self.n - 1, 0))
        found = (self.n > 0) & (self.enterprise_ids[pos] == ids)
        return np.where(found, pos, -1)


def _money(column):
    return cast(column, Float)


def load_network(session: Session, *, as_of: date | None = None, params: Params = Params()) -> Network:
    """Every enterprise-to-enterprise guarantee in force on ``as_of`` (default: the loans' as-of date),
    with only what was known on that date: loan classes and balances reported by then and financial
    statements filed by then (``enterprises.service.loans_known`` / ``statement_known``).

    :func:`qiantang.batch.network.read_network` does the same selects in Spark (``--source parquet``
    or ``jdbc``) and hands the frames to :func:`build_network`, as this does."""
    if as_of is None:
        as_of = session.scalar(select(func.max(Loan.as_of))) or date.today()
    in_force = (Guarantee.start_date <= as_of) & (
        (Guarantee.end_date.is_(None)) | (Guarantee.end_date >= as_of)
    )
    raw = read_frame(
        session,
        select(
            Guarantee.guarantor_enterprise_id.label("g"),
            Guarantee.guarantor_institution_id.label("gi"),
            Guarantee.borrower_id.label("b"),
            Guarantee.loan_id,
            _money(Guarantee.amount).label("amount"),
            Guarantee.kind,
            Guarantee.agreement_no,
        )
        .where(in_force)
        .order_by(Guarantee.id),  # a defined order: losses are summed in it
    )
    firms = read_frame(
        session,
        select(
            Enterprise.id,
            Enterprise.district_code,
            Enterprise.industry_section,
            _money(Enterprise.total_assets).label("total_assets"),
            Enterprise.financials_year,
            _money(Enterprise.registered_capital).label("registered_capital"),
        ),
    )
    # Only statements known on the analysis date (filed by then; see enterprises.service.statement_known).
    known = ent_service.statement_known(as_of)
    latest = (
        select(EnterpriseFinancial.enterprise_id, func.max(EnterpriseFinancial.year).label("year"))
        .where(known)
        .group_by(EnterpriseFinancial.enterprise_id)
        .subquery()
    )
    statements = read_frame(
        session,
        select(
            EnterpriseFinancial.enterprise_id,
            _money(EnterpriseFinancial.equity).label("equity"),
            _money(EnterpriseFinancial.total_assets).label("total_assets"),
        ).join(
            latest,
            (latest.c.enterprise_id == EnterpriseFinancial.enterprise_id)
            & (latest.c.year == EnterpriseFinancial.year),
        ),
    )
    loans = ent_service.loans_known(session, as_of=as_of)  # classes and balances known on as_of
    return build_network(as_of, raw, firms, statements, loans, params)


def build_network(
    as_of: date,
    raw: pd.DataFrame,
    firms: pd.DataFrame,
    statements: pd.DataFrame,
    loans: pd.DataFrame,
    params: Params = Params(),
) -> Network:
    """The :class:`Network` of the rows :func:`load_network` reads: ``raw`` the guarantees in force
    (g, gi, b, loan_id, amount, kind, agreement_no), ``firms`` the enterprises (id, district_code,
    industry_section, total_assets, financials_year, registered_capital; at least the network's),
    ``statements`` each firm's latest statement known on ``as_of`` (enterprise_id, equity,
    total_assets) and ``loans`` the loans known on ``as_of`` (``enterprises.service.loans_known``)."""
    enterprise_edges = raw[raw["g"].notna()]
    ids = np.unique(
        np.concatenate([enterprise_edges["g"].to_numpy(np.int64), enterprise_edges["b"].to_numpy(np.int64)])
    )
    firms = firms.set_index("id").reindex(ids)
    statements = statements.set_index("enterprise_id")
    reported = statements["equity"].astype(float).reindex(ids)
    # Without a reported net-asset figure: total assets × the fallback ratio, from the latest known
    # statement, else the registry's figure if its year is known by then; with nothing known, the
    # registered capital.
    registry_year = firms["financials_year"].astype(float)
    registry_known = registry_year.isna() | (registry_year <= ent_service.statement_cutoff_year(as_of))
    assets = (
        statements["total_assets"]
        .astype(float)
        .reindex(ids)
        .fillna(firms["total_assets"].astype(float).where(registry_known))
    )
    fallback = (
        (assets * params.fallback_equity_ratio).fillna(firms["registered_capital"].astype(float)).fillna(0.0)
    )
    net = Network(
        as_of=as_of,
        enterprise_ids=ids,
        edges=analysis.Edges.build(0, [], [], []),
        district=firms["district_code"].fillna("").to_numpy(str),
        industry=firms["industry_section"].fillna("").to_numpy(str),
        equity=reported.fillna(fallback).to_numpy(float),
        equity_reported=reported.notna().to_numpy(),
        raw=raw,
        loans=pd.DataFrame(),
    )
    g_node = net.node_of(enterprise_edges["g"].to_numpy(np.int64))
    b_node = net.node_of(enterprise_edges["b"].to_numpy(np.int64))
    net.edges = analysis.Edges.build(len(ids), g_node, b_node, enterprise_edges["amount"].to_numpy(float))
    loans["node"] = net.node_of(loans["borrower_id"].to_numpy(np.int64))
    net.loans = loans[loans["node"] >= 0].reset_index(drop=True)
    raw["b_node"] = net.node_of(raw["b"].to_numpy(np.int64))
    raw["g_node"] = np.where(raw["g"].notna(), net.node_of(raw["g"].fillna(-1).to_numpy(np.int64)), -1)
    return net


# --------------------------------------------------------------------------------------------------
# Analysis


def _risk(metrics: dict, *, zh: bool = True) -> tuple[str, list[str]]:
    matched: list[tuple[int, str]] = []
    for rule in risk_rules()["rules"]:
        ok = True
        for metric, op, value in rule["when"]:
            x = metrics[metric]
            ok &= {">=": x >= value, ">": x > value, "<=": x <= value, "<": x < value, "==": x == value}[op]
        if ok:
            text = rule["reason_zh"] if zh else rule.get("reason_en", rule["reason_zh"])
            matched.append((LEVEL_RANK[rule["level"]], text.format(**metrics)))
    if not matched:
        if zh:
            return "green", ["未发现互保、循环担保、长链条或不良集中"]
        return "green", ["No mutual or circular guarantees, long chains or concentrated bad loans found"]
    worst = max(r for r, _ in matched)
    level = next(k for k, v in LEVEL_RANK.items() if v == worst)
    return level, [reason for _r, reason in sorted(matched, key=lambda t: -t[0])]


@dataclass
class Structure:
    n_groups: int
    group: np.ndarray
    n_loops: int
    loop: np.ndarray
    loop_size: np.ndarray
    rings: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    up: np.ndarray
    down: np.ndarray


def structure(net: Network) -> Structure:
    e = net.edges
    n_groups, group = analysis.weak_components(e)
    n_loops, loop = analysis.strong_components(e)
    loop_size = np.bincount(loop, minlength=n_loops)[loop]
    rings = analysis.three_cycles_per_node(e, loop)
    pair_a, pair_b = analysis.mutual_pairs(e)
    up, down = analysis.chain_depths(e, loop, n_loops)
    return Structure(n_groups, group, n_loops, loop, loop_size, rings, pair_a, pair_b, up, down)


def group_metrics(net: Network, s: Structure) -> pd.DataFrame:
    """One row per group with every metric the group list shows."""
    e, k = net.edges, s.n_groups
    firms = np.bincount(s.group, minlength=k)
    edge_group = s.group[e.src]
    loans = net.loans
    lg = s.group[loans["node"].to_numpy()]
    balance = loans["balance"].to_numpy(float)
    cls = loans["classification"].astype(str).str.replace("LoanClass.", "", regex=False).str.lower()
    total_loans = np.bincount(lg, weights=balance, minlength=k)
    special = np.bincount(lg, weights=balance * cls.isin(SPECIAL_OR_WORSE).to_numpy(), minlength=k)
    npl = np.bincount(lg, weights=balance * cls.isin(NPL).to_numpy(), minlength=k)
    joint = net.raw[(net.raw["kind"].astype(str).str.endswith("joint")) & net.raw["agreement_no"].notna()]
    joint = joint[joint["b_node"] >= 0]
    joint_counts = (
        pd.DataFrame({"g": s.group[joint["b_node"].to_numpy()], "a": joint["agreement_no"].to_numpy()})
        .drop_duplicates()
        .groupby("g")
        .size()
        .reindex(range(k), fill_value=0)
        .to_numpy()
    )
    out = pd.DataFrame(
        {
            "firms": firms,
            "guarantees": np.bincount(edge_group, minlength=k),
            "total_loans": total_loans,
            "total_guaranteed": np.bincount(edge_group, weights=e.amount, minlength=k),
            "mutual_pairs": np.bincount(s.group[s.pair_a], minlength=k),
            "rings": np.bincount(s.group, weights=s.rings, minlength=k).astype(np.int64) // 3,
            "loop_firms": np.bincount(s.group, weights=(s.loop_size > 1), minlength=k).astype(np.int64),
            "largest_loop": pd.Series(s.loop_size)
            .groupby(s.group)
            .max()
            .reindex(range(k), fill_value=1)
            .to_numpy(),
            "joint_groups": joint_counts,
            "longest_chain": pd.Series(s.up)
            .groupby(s.group)
            .max()
            .reindex(range(k), fill_value=0)
            .to_numpy(),
        }
    )
    possible = out["firms"] * (out["firms"] - 1)
    out["density"] = np.where(possible > 0, out["guarantees"] / possible.clip(lower=1), 0.0)
    out["special_mention_share"] = np.where(total_loans > 0, special / np.maximum(total_loans, 1e-9), 0.0)
    out["npl_share"] = np.where(total_loans > 0, npl / np.maximum(total_loans, 1e-9), 0.0)
    return out


SMALL_GROUP = 32  # groups up to this size are batched by size as dense tensors


def _impacts(net: Network, s: Structure, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """For every firm (in groups up to ``impact_max_group`` firms): how many firms default, and how
    much lenders lose, if it alone defaults. A cascade never leaves its group, so groups run
    independently with every member as a scenario: small groups batched by size as dense tensors
    (group × firm × scenario), larger ones one by one on sparse sub-matrices, in column chunks."""
    impact_defaults = np.full(net.n, -1, dtype=np.int64)
    impact_loss = np.full(net.n, np.nan)
    capacity = net.equity * params.capacity_multiplier
    allocator = LossAllocator(net, params)
    sizes = np.bincount(s.group, minlength=s.n_groups)
    order = np.argsort(s.group, kind="stable")
    bounds = np.searchsorted(s.group[order], np.arange(s.n_groups + 1))
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= SMALL_GROUP)]):
        groups = np.flatnonzero(sizes == size)
        members = (
            np.stack([np.sort(order[bounds[g] : bounds[g] + size]) for g in groups]) if len(groups) else None
        )
        _impacts_small(net, params, allocator, capacity, int(size), members, impact_defaults, impact_loss)
    obligations = obligation_matrix(net.edges, params.recovery).tocsr()
    for g in np.flatnonzero((sizes > SMALL_GROUP) & (sizes <= params.impact_max_group)):
        members = np.sort(order[bounds[g] : bounds[g + 1]])
        size = len(members)
        sub = obligations[members][:, members]
        cap = capacity[members]
        local = allocator.local(members)
        chunk = max(1, min(size, 2_000_000 // max(size + local.n_loans, 1)))
        for start in range(0, size, chunk):
            cols = np.arange(start, min(size, start + chunk))
            seeds = np.zeros((size, len(cols)), dtype=bool)
            seeds[cols, np.arange(len(cols))] = True
            defaulted = cascade(sub, cap, seeds).defaulted
            impact_defaults[members[cols]] = defaulted.sum(axis=0)
            impact_loss[members[cols]] = local.loan_losses(defaulted).sum(axis=0)
    return impact_defaults, impact_loss


def _impacts_small(net, params, allocator, capacity, size, members, impact_defaults, impact_loss) -> None:
    """Single-default impacts for all groups of one small size at once (``members``: groups × size)."""
    n_groups = len(members)
    slot = np.full(net.n, -1, dtype=np.int64)
    local = np.full(net.n, -1, dtype=np.int64)
    slot[members.ravel()] = np.repeat(np.arange(n_groups), size)
    local[members.ravel()] = np.tile(np.arange(size), n_groups)
    e = net.edges
    inside = slot[e.src] >= 0
    obligations = np.zeros((n_groups, size, size))
    np.add.at(
        obligations,
        (slot[e.src[inside]], local[e.src[inside]], local[e.dst[inside]]),
        e.amount[inside] * (1 - params.recovery),
    )
    cap = capacity[members][:, :, None]
    state = np.broadcast_to(np.eye(size, dtype=bool), (n_groups, size, size)).copy()  # group × firm × seed
    newly = state.copy()
    owed = np.zeros((n_groups, size, size))
    while newly.any():
        owed += obligations @ newly
        fresh = (owed > cap) & (owed > 0) & ~state  # as in contagion.cascade
        state |= fresh
        newly = fresh
    for j in range(size):
        impact_defaults[members[:, j]] = state[:, :, j].sum(axis=1)
    # Losses: the loans of these firms, and the guarantee rows behind them.
    loans = allocator.local(np.sort(members.ravel()))
    loan_slot = slot[np.sort(members.ravel())][loans.borrower]
    loan_local = local[np.sort(members.ravel())][loans.borrower]
    guarantor_nodes = np.sort(members.ravel())
    has_guarantor = loans.row_guarantor >= 0
    row_slot = np.where(has_guarantor, slot[guarantor_nodes[np.maximum(loans.row_guarantor, 0)]], -1)
    row_local = np.where(has_guarantor, local[guarantor_nodes[np.maximum(loans.row_guarantor, 0)]], -1)
    # A guarantor outside the group is never hit by this group's cascade: it pays.
    row_inside = has_guarantor & (row_slot == loan_slot[loans.row_loan])
    for j in range(size):
        defaulted = state[:, :, j]
        borrower_defaulted = defaulted[loan_slot, loan_local]
        solvent = np.ones(len(loans.row_pay), dtype=bool)
        solvent[row_inside] = ~defaulted[row_slot[row_inside], row_local[row_inside]]
        paid = np.bincount(loans.row_loan, weights=loans.row_pay * solvent, minlength=loans.n_loans)
        loss = np.where(borrower_defaulted, np.maximum(loans.base - paid, 0.0), 0.0)
        impact_loss[members[:, j]] = np.bincount(loan_slot, weights=loss, minlength=n_groups)


@dataclass
class LocalLoans:
    """The loans of a set of firms and the guarantees backing them, indexed locally."""

    n_loans: int
    borrower: np.ndarray  # local firm index of each loan's borrower
    base: np.ndarray  # (1 − recovery) × balance
    lender: np.ndarray
    district: np.ndarray  # the borrower's district
    row_loan: np.ndarray  # local loan index of each guarantee row
    row_guarantor: np.ndarray  # local firm index, or −1 for a guarantee company or a firm outside the set
    row_pay: np.ndarray  # guaranteed amount × (1 − recovery)

    def loan_losses(self, defaulted: np.ndarray) -> np.ndarray:
        """Loss on each loan (rows) for each scenario (columns of ``defaulted``, local firms × k)."""
        if self.n_loans == 0:
            return np.zeros((0, defaulted.shape[1]))
        inside = self.row_guarantor >= 0
        solvent = np.ones((len(self.row_pay), defaulted.shape[1]), dtype=bool)
        solvent[inside] = ~defaulted[self.row_guarantor[inside]]
        paid = np.zeros((self.n_loans, defaulted.shape[1]))
        np.add.at(paid, self.row_loan, self.row_pay[:, None] * solvent)
        owed = np.maximum(self.base[:, None] - paid, 0.0)
        return np.where(defaulted[self.borrower], owed, 0.0)


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenated ranges [start, stop) without a Python loop."""
    lengths = np.asarray(stops - starts, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


class LossAllocator:
    """Lenders' losses when firms default: each defaulted borrower's loans lose (1 − recovery) × balance,
    less what its solvent guarantors (and guarantee companies, assumed solvent) pay — the guaranteed
    amount × (1 − recovery) each — floored at zero per loan."""

    def __init__(self, net: Network, params: Params):
        loans = net.loans.sort_values("node", kind="stable").reset_index(drop=True)
        self.net = net
        self.loans = loans
        self.loan_node = loans["node"].to_numpy()
        self.loan_bounds = np.searchsorted(self.loan_node, np.arange(net.n + 1))
        self.base = loans["balance"].to_numpy(float) * (1 - params.recovery)
        position = pd.Series(np.arange(len(loans)), index=loans["id"].to_numpy())
        raw = net.raw[net.raw["loan_id"].notna()]
        loan_pos = position.reindex(raw["loan_id"].astype(np.int64).to_numpy()).to_numpy()
        keep = ~np.isnan(loan_pos)
        row_loan = loan_pos[keep].astype(np.int64)
        row_order = np.argsort(row_loan, kind="stable")
        self.row_loan = row_loan[row_order]
        self.row_node = raw["g_node"].to_numpy()[keep][row_order]
        self.row_pay = raw["amount"].to_numpy(float)[keep][row_order] * (1 - params.recovery)

    def local(self, members: np.ndarray) -> LocalLoans:
        """The loans of ``members`` (sorted node indices) with their guarantee rows."""
        loan_idx = (
            np.concatenate([np.arange(self.loan_bounds[m], self.loan_bounds[m + 1]) for m in members])
            if len(members)
            else np.zeros(0, dtype=np.int64)
        )
        loan_idx = loan_idx.astype(np.int64)
        where = np.full(self.net.n, -1, dtype=np.int64)
        where[members] = np.arange(len(members))
        lo = np.searchsorted(self.row_loan, loan_idx, side="left")
        hi = np.searchsorted(self.row_loan, loan_idx, side="right")
        counts = hi - lo
        rows = (
            np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
            if counts.sum()
            else np.zeros(0, dtype=np.int64)
        )
        rows = rows.astype(np.int64)
        guarantor = self.row_node[rows]
        return LocalLoans(
            n_loans=len(loan_idx),
            borrower=where[self.loan_node[loan_idx]],
            base=self.base[loan_idx],
            lender=self.loans["lender_id"].to_numpy()[loan_idx],
            district=self.net.district[self.loan_node[loan_idx]],
            row_loan=np.repeat(np.arange(len(loan_idx)), counts),
            row_guarantor=np.where(guarantor >= 0, where[np.maximum(guarantor, 0)], -1),
            row_pay=self.row_pay[rows],
        )


def analyse(
    session: Session,
    *,
    as_of: date | None = None,
    params: Params = Params(),
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
) -> NetworkRun:
    """Detect groups, loops, pairs, rings and chains; measure systemic importance; store the run.

    ``engine="spark"`` detects the structure (groups, loops, pairs, rings, chains) on Spark
    (:mod:`qiantang.batch.graph`, ``master`` as for :func:`qiantang.batch.spark.get_spark`); the
    stored run is the same as the local one's. ``source`` is where the guarantees, firms, statements
    and loans are read: ``db`` (here, through ``session``), or with Spark ``parquet`` (the snapshot
    ``snapshot``) or ``jdbc`` (PostgreSQL), read by Spark itself (:mod:`qiantang.batch.network`).
    The run is always stored through ``session``."""
    from qiantang.batch.sources import check_options

    why = check_options(engine, source, snapshot) if engine in ("local", "spark") else None
    if why:
        raise ValueError(why)
    started = time.perf_counter()
    if engine == "spark":
        from qiantang.batch import graph as spark_graph
        from qiantang.batch.spark import get_spark

        spark = get_spark(master)
        if source == "db":
            net = load_network(session, as_of=as_of, params=params)
            s = spark_graph.structure(spark, net)
        else:
            from qiantang.batch.network import read_network

            net, edges = read_network(
                spark, source=source, as_of=as_of, params=params, session=session, snapshot=snapshot
            )
            try:
                s = spark_graph.structure_of(net, edges, by_enterprise=True)
            finally:
                edges.unpersist()
    elif engine == "local":
        net = load_network(session, as_of=as_of, params=params)
        s = structure(net)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    metrics = group_metrics(net, s)
    exposure_in = np.bincount(net.edges.dst, weights=net.edges.amount, minlength=net.n)
    exposure_out = np.bincount(net.edges.src, weights=net.edges.amount, minlength=net.n)
    rank = analysis.pagerank(net.edges.dst, net.edges.src, net.edges.amount, net.n)
    impact_defaults, impact_loss = _impacts(net, s, params)
    run = NetworkRun(as_of=net.as_of, params=params.as_dict(), version=VERSION, counts={})
    session.add(run)
    session.flush()
    group_ids, group_districts = _store_groups(session, run, net, s, metrics, rank)
    nodes = {
        "run_id": np.full(net.n, run.id),
        "enterprise_id": net.enterprise_ids,
        "group_id": group_ids[s.group],
        "loop_size": s.loop_size,
        "guarantees_given": exposure_out.round(2),
        "guarantees_received": exposure_in.round(2),
        "pagerank": rank,
        "chain_up": s.up,
        "chain_down": s.down,
        "impact_defaults": np.ma.masked_less(impact_defaults, 0),
        "impact_loss": np.ma.masked_invalid(impact_loss.round(2)),
        "debtrank": np.ma.masked_all(net.n),
    }
    bulk_insert(session.connection(), NetworkNode.__table__, {k: _plain(v) for k, v in nodes.items()})
    reset_sequences(session.connection(), [NetworkNode.__table__])
    run.counts = {
        "firms": int(net.n),
        "guarantee_relations": int(net.edges.m),
        "groups": int(s.n_groups),
        "largest_group": int(metrics["firms"].max()) if len(metrics) else 0,
        "mutual_pairs": len(s.pair_a),
        "rings": int(s.rings.sum() // 3),
        "loop_firms": int((s.loop_size > 1).sum()),
        "longest_chain": int(s.up.max()) if net.n else 0,
        "by_level": metrics.assign(level=[_risk(r)[0] for r in metrics.to_dict("records")])["level"]
        .value_counts()
        .to_dict(),
        "by_district": _district_counts(metrics, group_districts),
    }
    run.seconds = time.perf_counter() - started
    session.flush()
    return run


def _plain(values):
    """Arrays for bulk_insert: masked entries become None."""
    if isinstance(values, np.ma.MaskedArray):
        return [
            None if m else v
            for v, m in zip(values.data.tolist(), np.ma.getmaskarray(values).tolist(), strict=True)
        ]
    return values


# The summary cards' figures, in the order summary_counts returns them, and the group metric each
# one sums (or takes the maximum of) over the groups touching a district.
_SUMMARY_SUMS = {
    "firms": "firms",
    "guarantee_relations": "guarantees",
    "groups": None,
    "largest_group": "firms",
    "mutual_pairs": "mutual_pairs",
    "rings": "rings",
    "loop_firms": "loop_firms",
    "longest_chain": "longest_chain",
}
_SUMMARY_MAX = {"largest_group", "longest_chain"}


def _district_counts(metrics: pd.DataFrame, districts: list[list[str]]) -> dict[str, dict[str, int]]:
    """The summary figures of each district over the groups touching it, computed once at analysis
    time: a district officer's /network then reads them instead of scanning every group's district
    list (a JSON text scan of ~900k groups at city scale)."""
    if not len(metrics):
        return {}
    pairs = pd.DataFrame(
        {
            "g": np.repeat(np.arange(len(districts)), [len(d) for d in districts]),
            "d": np.concatenate([np.asarray(d, dtype=object) for d in districts]),
        }
    )
    frame = metrics.reset_index(drop=True).iloc[pairs["g"].to_numpy()].assign(district=pairs["d"].to_numpy())
    grouped = frame.groupby("district")
    out: dict[str, dict[str, int]] = {}
    for key, column in _SUMMARY_SUMS.items():
        if column is None:
            values = grouped.size()
        elif key in _SUMMARY_MAX:
            values = grouped[column].max()
        else:
            values = grouped[column].sum()
        for code, value in values.items():
            out.setdefault(str(code), {})[key] = int(value)
    return out


def _store_groups(session, run, net, s, metrics: pd.DataFrame, rank: np.ndarray):
    """Insert the groups; returns the database id of each group index and each group's districts."""
    records = metrics.to_dict("records")
    levels, reasons, cores, districts = [], [], [], []
    order = np.argsort(s.group, kind="stable")
    bounds = np.searchsorted(s.group[order], np.arange(s.n_groups + 1))
    for g, metric in enumerate(records):
        level, why = _risk({**metric, "firms": int(metric["firms"])})
        levels.append(level)
        reasons.append(why)
        members = order[bounds[g] : bounds[g + 1]]
        in_loops = members[s.loop_size[members] > 1]
        top = members[np.argsort(-rank[members])[:40]]
        core = np.unique(np.concatenate([in_loops[:200], top]))
        cores.append(net.enterprise_ids[core].tolist())
        districts.append(sorted(set(net.district[members].tolist())))
    first_id = (session.scalar(select(func.max(GuaranteeGroup.id))) or 0) + 1
    ids = np.arange(first_id, first_id + s.n_groups)
    columns = {
        "id": ids,
        "run_id": np.full(s.n_groups, run.id),
        **{c: metrics[c].to_numpy() for c in metrics.columns},
        "districts": districts,
        "risk_level": levels,
        "risk_rank": [LEVEL_RANK[lv] for lv in levels],
        "reasons": reasons,
        "core_ids": cores,
    }
    for json_col in ("districts", "reasons", "core_ids"):
        columns[json_col] = [_json(v) for v in columns[json_col]]
    bulk_insert(session.connection(), GuaranteeGroup.__table__, columns)
    reset_sequences(session.connection(), [GuaranteeGroup.__table__])
    return ids, districts


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# Reading


def latest_run(session: Session) -> NetworkRun | None:
    return session.scalars(select(NetworkRun).order_by(NetworkRun.id.desc()).limit(1)).first()


def require_run(session: Session) -> NetworkRun:
    run = latest_run(session)
    if run is None:
        raise NotFound(
            "尚未进行担保网络分析：请联系系统管理员在导入担保关系后运行分析",
            message_en="The guarantee network has not been analysed yet",
        )
    return run


def group_reasons(group: GuaranteeGroup) -> list[str]:
    """The group's reasons in the current language: the stored Chinese ones, or English rebuilt from the
    group's stored metrics with the rules' English wording."""
    if is_zh():
        return list(group.reasons or [])
    metrics = {c: getattr(group, c) for c in RISK_METRICS}
    return _risk(metrics, zh=False)[1]


def _group_visible(scope: Scope, group: GuaranteeGroup) -> bool:
    return scope.is_citywide or (scope.district_code in (group.districts or []))


def _scoped(stmt, *, scope: Scope, run: NetworkRun):
    """``stmt`` limited to the run's groups that ``scope`` sees (for a district: those touching it)."""
    stmt = stmt.where(GuaranteeGroup.run_id == run.id)
    if not scope.is_citywide:
        # JSON list membership, portable: the district code appears quoted in the stored text.
        stmt = stmt.where(cast(GuaranteeGroup.districts, Text).like(f'%"{scope.district_code}"%'))
    return stmt


def summary_counts(session: Session, *, scope: Scope, run: NetworkRun) -> dict:
    """The summary cards' figures over the groups the list shows: the run's city-wide counts, or for
    a district the same figures summed over the groups touching it."""
    scope.require_enterprises()
    if scope.is_citywide:
        return {k: v for k, v in run.counts.items() if k != "by_district"}
    stored = (run.counts or {}).get("by_district")
    if stored is not None:
        zero = dict.fromkeys(_SUMMARY_SUMS, 0)
        return {**zero, **stored.get(scope.district_code, {})}
    # Runs analysed before the per-district figures were stored: sum over the groups touching it.
    g = GuaranteeGroup
    row = session.execute(
        _scoped(
            select(
                func.coalesce(func.sum(g.firms), 0),
                func.coalesce(func.sum(g.guarantees), 0),
                func.count(),
                func.coalesce(func.max(g.firms), 0),
                func.coalesce(func.sum(g.mutual_pairs), 0),
                func.coalesce(func.sum(g.rings), 0),
                func.coalesce(func.sum(g.loop_firms), 0),
                func.coalesce(func.max(g.longest_chain), 0),
            ),
            scope=scope,
            run=run,
        )
    ).one()
    return {k: int(v) for k, v in zip(_SUMMARY_SUMS, row, strict=True)}


def list_groups(
    session: Session,
    *,
    scope: Scope,
    run: NetworkRun,
    level: str | None = None,
    min_firms: int = 2,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[GuaranteeGroup], int]:
    """Groups by risk (worst first), then size. A district officer sees the groups touching its district."""
    scope.require_enterprises()
    stmt = _scoped(select(GuaranteeGroup), scope=scope, run=run).where(GuaranteeGroup.firms >= min_firms)
    if level:
        stmt = stmt.where(GuaranteeGroup.risk_level == level)
    # The groups of one analysis run never change, so their count is kept (a district's is a JSON scan).
    total, _capped = count_capped(session, stmt, GuaranteeGroup.id, cap=None, cached=True)
    rows = session.scalars(
        stmt.order_by(GuaranteeGroup.risk_rank.desc(), GuaranteeGroup.firms.desc(), GuaranteeGroup.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def get_group(session: Session, *, scope: Scope, group_id: int) -> GuaranteeGroup:
    scope.require_enterprises()
    group = get_or_404(session, GuaranteeGroup, group_id)
    if not _group_visible(scope, group):
        scope.check_district(None, what="担保圈")
    return group


def group_members(session: Session, *, group: GuaranteeGroup) -> list[tuple[NetworkNode, Enterprise]]:
    rows = session.execute(
        select(NetworkNode, Enterprise)
        .join(Enterprise, Enterprise.id == NetworkNode.enterprise_id)
        .where(NetworkNode.group_id == group.id)
        .order_by(NetworkNode.pagerank.desc())
    ).all()
    return [(n, e) for n, e in rows]


def group_edges(
    session: Session, *, run: NetworkRun, enterprise_ids: Sequence[int]
) -> list[tuple[int, int, float]]:
    """Guarantee relations among the given firms in force on the run's date (guarantor, borrower, amount)."""
    if not enterprise_ids:
        return []
    ids = list(enterprise_ids)
    rows = session.execute(
        select(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id, func.sum(Guarantee.amount))
        .where(
            Guarantee.guarantor_enterprise_id.in_(ids),
            Guarantee.borrower_id.in_(ids),
            Guarantee.start_date <= run.as_of,
            (Guarantee.end_date.is_(None)) | (Guarantee.end_date >= run.as_of),
        )
        .group_by(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id)
    ).all()
    return [(int(g), int(b), float(a)) for g, b, a in rows]


def enterprise_node(session: Session, *, run: NetworkRun, enterprise_id: int) -> NetworkNode | None:
    return session.scalar(
        select(NetworkNode).where(NetworkNode.run_id == run.id, NetworkNode.enterprise_id == enterprise_id)
    )


def ego_network(session: Session, *, run: NetworkRun, enterprise_id: int, hops: int = 2, cap: int = 300):
    """The firms within ``hops`` guarantee links of a firm (either direction), capped for display."""
    frontier = {enterprise_id}
    seen = {enterprise_id}
    for _ in range(hops):
        if not frontier or len(seen) >= cap:
            break
        ids = list(frontier)
        rows = session.execute(
            select(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id).where(
                ((Guarantee.guarantor_enterprise_id.in_(ids)) | (Guarantee.borrower_id.in_(ids))),
                Guarantee.guarantor_enterprise_id.is_not(None),
                Guarantee.start_date <= run.as_of,
                (Guarantee.end_date.is_(None)) | (Guarantee.end_date >= run.as_of),
            )
        ).all()
        nxt = {int(x) for row in rows for x in row} - seen
        nxt = set(sorted(nxt)[: max(0, cap - len(seen))])
        seen |= nxt
        frontier = nxt
    return sorted(seen)


# --------------------------------------------------------------------------------------------------
# Scenarios: chosen firms, an industry shock, a district shock — many at once


@dataclass(frozen=True)
class ScenarioSpec:
    """One stress scenario. ``kind``: firms (``firm_ids`` default first), industry or district (every firm
    of ``target`` loses ``equity_loss`` of its net assets; those left below ``default_equity_ratio`` of
    their total assets default first)."""

    name: str
    kind: str  # firms | industry | district
    firm_ids: tuple[int, ...] = ()
    target: str = ""  # GB/T 4754 section letter, or a district code
    equity_loss: float = 0.0  # 0…1
    default_equity_ratio: float = 0.05
    recovery: float = 0.4
    capacity_multiplier: float = 1.0

    def params(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items() if k != "name"}


def _scenario_inputs(
    net: Network, spec: ScenarioSpec, total_assets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial defaults, loss-absorbing capacity and initial relative equity loss (for DebtRank)."""
    equity = net.equity.copy()
    seeds = np.zeros(net.n, dtype=bool)
    shock = np.zeros(net.n)
    if spec.kind == "firms":
        nodes = net.node_of(list(spec.firm_ids))
        seeds[nodes[nodes >= 0]] = True
    else:
        hit = (net.industry == spec.target) if spec.kind == "industry" else (net.district == spec.target)
        equity = np.where(hit, equity * (1.0 - spec.equity_loss), equity)
        ratio = np.divide(equity, total_assets, out=np.full(net.n, np.inf), where=total_assets > 0)
        seeds = hit & (ratio < spec.default_equity_ratio)
        shock = np.where(hit, spec.equity_loss, 0.0)
    return seeds, equity * spec.capacity_multiplier, np.where(seeds, 1.0, shock)


def run_scenarios(
    session: Session, *, run: NetworkRun, specs: Sequence[ScenarioSpec], username: str | None = None
) -> list[ContagionScenario]:
    """Run scenarios together (one sparse × dense product per round) and store each with its results:
    defaults by round, losses by lending institution and by district, and linear DebtRank."""
    from qiantang.registry.models import Institution

    net = load_network(session, as_of=run.as_of)
    total_assets = (
        read_frame(session, select(Enterprise.id, _money(Enterprise.total_assets).label("ta")))
        .set_index("id")["ta"]
        .reindex(net.enterprise_ids)
        .fillna(0.0)
        .to_numpy(float)
    )
    stored = []
    # Scenarios share one matrix when their recovery rate is the same.
    for recovery in sorted({s.recovery for s in specs}):
        batch = [s for s in specs if s.recovery == recovery]
        inputs = [_scenario_inputs(net, s, total_assets) for s in batch]
        seeds = np.stack([i[0] for i in inputs], axis=1)
        capacity = np.stack([i[1] for i in inputs], axis=1)
        shocks = np.stack([i[2] for i in inputs], axis=1)
        obligations = obligation_matrix(net.edges, recovery).tocsr()
        result = cascade(obligations, capacity, seeds)
        allocator = LossAllocator(net, Params(recovery=recovery))
        local = allocator.local(np.arange(net.n))
        losses = local.loan_losses(result.defaulted)  # loans × scenarios
        lenders = pd.Series(local.lender)
        names = dict(session.execute(select(Institution.id, Institution.name)).all())
        for j, spec in enumerate(batch):
            rounds = result.round_defaulted[:, j]
            by_round = np.bincount(
                rounds[rounds != NEVER], minlength=int(rounds.max()) + 1 if (rounds != NEVER).any() else 0
            )
            by_bank = pd.Series(losses[:, j]).groupby(lenders).sum().sort_values(ascending=False)
            by_district = (
                pd.Series(losses[:, j]).groupby(pd.Series(local.district)).sum().sort_values(ascending=False)
            )
            weights = np.maximum(net.equity, 0.0)
            dr, h = debtrank(obligations, net.equity, weights, shocks[:, j])
            dr_total = float(weights @ h / weights.sum()) if weights.sum() > 0 else 0.0
            defaulted_ids = net.enterprise_ids[rounds != NEVER]
            results = {
                "firms_defaulted": int((rounds != NEVER).sum()),
                "initial_defaults": int(seeds[:, j].sum()),
                "rounds": [int(x) for x in by_round],
                "loss_total": float(losses[:, j].sum()),
                "loss_by_bank": [
                    {"institution_id": int(i), "name": names.get(int(i), str(i)), "loss": float(v)}
                    for i, v in by_bank[by_bank > 0].head(30).items()
                ],
                "loss_by_district": [
                    {"district_code": str(d), "loss": float(v)}
                    for d, v in by_district[by_district > 0].items()
                ],
                "debtrank": dr,  # net assets lost through contagion, as a share of all net assets
                "debtrank_total": dr_total,  # including the initial shock
                "defaulted_ids": [int(x) for x in defaulted_ids[:2000]],
            }
            scenario = ContagionScenario(
                run_id=run.id,
                name=spec.name,
                kind=spec.kind,
                params=spec.params(),
                results=results,
                created_by=username,
            )
            session.add(scenario)
            stored.append(scenario)
    session.flush()
    return stored
