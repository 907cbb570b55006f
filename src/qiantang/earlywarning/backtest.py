"""Backtest of the early-warning signals against the status history (docs/methods/early-warning.md).

Reads what ``run`` stored (signals, ratings with the challenger's PD) and the registry's status
history, and asks for each method:

* **recall@k** — of the institutions that later became distressed (停业整顿 / 风险处置 / 注销 / 吊销 with
  a reason that is neither a voluntary closure nor a policy clean-up), the share flagged at least
  ``k`` quarters ahead: in one of the quarters from 4 quarters before the event's quarter up to ``k``
  quarters before it (k = 1, 2, 4);
* **precision** — of the flagged institution-quarters (institution active at the quarter end, with the
  4 following quarters observed), the share followed by a distress onset within 4 quarters; with the
  base rate of all such quarters and the lift (precision ÷ base rate).

Policy exits (the P2P wind-down, the shell clean-up …) are reported separately: no early-warning
signal is expected to foresee a policy decision.

**The demo city is synthetic.** Its distress comes from a latent health process (docs/methods/demo-
city.md §7), not from any warning rule; these figures say how well the signals read that process
through noisy returns, not how they would perform on a real city.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.earlywarning import challenger, rating
from qiantang.earlywarning.models import EwRating, EwSignal, Level, SignalFamily
from qiantang.earlywarning.panel import KEY, Panel, label_of, load_events, load_institutions, pq_of

HORIZON = 4
LEADS = (1, 2, 4)


@dataclass
class Method:
    code: str
    name_zh: str
    name_en: str


@dataclass
class BacktestRow:
    method: str
    name_zh: str
    name_en: str
    flags: int
    precision: float | None
    lift: float | None
    events: int
    recall: dict[int, float | None]
    policy_events: int = 0
    policy_recall: float | None = None
    window: str = ""


@dataclass
class Backtest:
    rows: list[BacktestRow]
    base_rate: float | None
    events: int
    policy_events: int
    voluntary_events: int
    first_period: str
    last_period: str
    challenger_from: str | None
    notes: list[str] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "method": r.method,
                "name_zh": r.name_zh,
                "flags": r.flags,
                "precision": r.precision,
                "lift": r.lift,
                "events": r.events,
                **{f"recall_{k}": r.recall.get(k) for k in LEADS},
                "policy_events": r.policy_events,
                "policy_recall_1": r.policy_recall,
                "window": r.window,
            }
            for r in self.rows
        ]

    def table(self) -> str:
        """A plain-text table (for the benchmark and the methods document)."""
        head = (
            f"{'method':<24} {'window':<15} {'flags':>7} {'precision':>9} {'lift':>5} {'events':>6} "
            + " ".join(f"{'recall@' + str(k):>9}" for k in LEADS)
            + f" {'policy@1':>9}"
        )
        lines = [head, "-" * len(head)]

        def pct(v: float | None) -> str:
            return "—" if v is None else f"{100 * v:.1f}%"

        for r in self.rows:
            lines.append(
                f"{r.method:<24} {r.window:<15} {r.flags:>7} {pct(r.precision):>9} "
                f"{('—' if r.lift is None else f'{r.lift:.1f}'):>5} {r.events:>6} "
                + " ".join(f"{pct(r.recall.get(k)):>9}" for k in LEADS)
                + f" {pct(r.policy_recall):>9}"
            )
        base = "—" if self.base_rate is None else f"{100 * self.base_rate:.2f}%"
        lines.append("")
        lines.append(
            f"base rate (distress within 4 quarters of an active quarter): {base}; "
            f"distress onsets {self.events}, "
            f"policy exits {self.policy_events}, voluntary exits {self.voluntary_events} (not counted); "
            f"history {self.first_period}–{self.last_period}"
        )
        lines.extend(self.notes)
        return "\n".join(lines)


METHODS = [
    Method("limit", "监管指标越限（任一等级）", "Regulatory limit (any level)"),
    Method("limit_orange", "监管指标越限（橙色及以上）", "Regulatory limit (orange or red)"),
    Method("peer", "同业异常", "Peer anomaly"),
    Method("trend", "趋势突变", "Trend break"),
    Method("filing", "报送异常", "Filing behaviour"),
    Method("rating", "风险评级橙色/红色", "Rating orange or red"),
    Method("challenger", "挑战者模型 PD≥阈值", "Challenger PD above the cut-off"),
    Method("any_orange", "任一信号橙色及以上", "Any signal orange or red"),
]


def _flags(session: Session, pd_cutoff: float) -> tuple[dict[str, set[int]], set[int], int | None]:
    """Flagged (institution, quarter) keys per method, the keys of every rated quarter, and the first
    quarter with a challenger PD."""
    sig = pd.DataFrame(
        session.execute(
            select(EwSignal.institution_id, EwSignal.period_end, EwSignal.family, EwSignal.level)
        ).all(),
        columns=["institution_id", "period_end", "family", "level"],
    )
    rat = pd.DataFrame(
        session.execute(
            select(EwRating.institution_id, EwRating.period_end, EwRating.level, EwRating.challenger_pd)
        ).all(),
        columns=["institution_id", "period_end", "level", "pd"],
    )
    out: dict[str, set[int]] = {m.code: set() for m in METHODS}

    def keys(df: pd.DataFrame) -> set[int]:
        if df.empty:
            return set()
        pq = np.array([pq_of(d) for d in df["period_end"]], dtype=np.int64)
        return set((df["institution_id"].to_numpy(np.int64) * KEY + pq).tolist())

    if not sig.empty:
        sig["family"] = sig["family"].map(lambda f: SignalFamily(f).value)
        sig["level"] = sig["level"].map(lambda v: Level(v).value)
        for fam in ("limit", "peer", "trend", "filing"):
            out[fam] = keys(sig[sig["family"] == fam])
        out["limit_orange"] = keys(sig[(sig["family"] == "limit") & sig["level"].isin(["orange", "red"])])
        out["any_orange"] = keys(sig[sig["level"].isin(["orange", "red"])])
    first_pd = None
    if not rat.empty:
        rat["level"] = rat["level"].map(lambda v: Level(v).value)
        out["rating"] = keys(rat[rat["level"].isin(["orange", "red"])])
        has_pd = rat[rat["pd"].notna()]
        out["challenger"] = keys(has_pd[has_pd["pd"] >= pd_cutoff])
        if not has_pd.empty:
            first_pd = min(pq_of(d) for d in has_pd["period_end"])
    rated = keys(rat)
    return out, rated, first_pd


def run_backtest(session: Session) -> Backtest:
    """Recall and precision of every method over the stored history."""
    card = rating.load_scorecard()
    pd_cutoff = float(card.challenger.get("pd_cutoff", 0.2))
    inst = load_institutions(session)
    events = load_events(session, inst.index)
    panel = Panel(inst, events, pd.DataFrame(), pd.DataFrame())
    onset = challenger.onsets(panel, card.distress)
    flags, rated, first_pd = _flags(session, pd_cutoff)
    if not rated:
        return Backtest([], None, 0, 0, 0, "—", "—", None, ["没有已存储的评级：请先运行预警计算。"])
    rated_arr = np.array(sorted(rated), dtype=np.int64)
    first_pq = int((rated_arr % KEY).min())
    last_pq = int((rated_arr % KEY).max())
    # Status at each rated quarter's end: precision counts only quarters of active institutions.
    status = _status_lookup(events)
    active_rated = [k for k in rated_arr.tolist() if status(k // KEY, k % KEY) == "active"]
    distress = onset[onset["kind"] == "distress"]
    policy = onset[onset["kind"] == "policy"]
    dist_keys = set(
        (distress["institution_id"].to_numpy(np.int64) * KEY + distress["pq"].to_numpy(np.int64)).tolist()
    )
    observable = [k for k in active_rated if k % KEY + HORIZON <= last_pq]

    def followed(k: int) -> bool:
        return any((k + j) in dist_keys for j in range(1, HORIZON + 1))

    base = float(np.mean([followed(k) for k in observable])) if observable else None

    def monitored_before(inst_id: int, t: int) -> bool:
        return any((inst_id * KEY + t - j) in rated for j in range(1, HORIZON + 1))

    ev = [
        (int(i), int(t))
        for i, t in zip(distress["institution_id"], distress["pq"], strict=True)
        if first_pq < t <= last_pq and monitored_before(int(i), int(t))
    ]
    pol = [
        (int(i), int(t))
        for i, t in zip(policy["institution_id"], policy["pq"], strict=True)
        if first_pq < t <= last_pq and monitored_before(int(i), int(t))
    ]
    rows = []
    for m in METHODS:
        f = flags[m.code]
        window_from = first_pq
        if m.code == "challenger":
            if first_pd is None:
                rows.append(
                    BacktestRow(
                        m.code, m.name_zh, m.name_en, 0, None, None, 0, dict.fromkeys(LEADS), window="—"
                    )
                )
                continue
            window_from = first_pd
        obs = [k for k in observable if k % KEY >= window_from]
        mine = [k for k in obs if k in f]
        precision = float(np.mean([followed(k) for k in mine])) if mine else None
        base_w = float(np.mean([followed(k) for k in obs])) if obs else None
        lift = precision / base_w if precision is not None and base_w else None
        evs = [(i, t) for i, t in ev if t - HORIZON >= window_from]
        recall = {}
        for k in LEADS:
            hits = [any((i * KEY + t - j) in f for j in range(k, HORIZON + 1)) for i, t in evs]
            recall[k] = float(np.mean(hits)) if hits else None
        pols = [(i, t) for i, t in pol if t - HORIZON >= window_from]
        pol_hits = [any((i * KEY + t - j) in f for j in range(1, HORIZON + 1)) for i, t in pols]
        rows.append(
            BacktestRow(
                m.code,
                m.name_zh,
                m.name_en,
                flags=len(mine),
                precision=precision,
                lift=lift,
                events=len(evs),
                recall=recall,
                policy_events=len(pols),
                policy_recall=float(np.mean(pol_hits)) if pol_hits else None,
                window=f"{label_of(window_from)}–{label_of(last_pq)}",
            )
        )
    notes = [
        "recall@k: share of distress onsets flagged in one of the quarters T−4 … T−k before the onset "
        "quarter T.",
        "precision: share of flagged quarters (active institution, 4 quarters observed) followed by distress "
        "within 4 quarters; lift = precision ÷ base rate of the same window.",
        "policy@1: the same recall@1 for policy exits (P2P wind-down, shell clean-up), which no signal "
        "should foresee.",
        "演示数据为合成数据：困境由潜在健康过程产生，而非任何预警规则 / The demo city is synthetic: distress "
        "comes from a latent health process, not from any warning rule.",
    ]
    return Backtest(
        rows=rows,
        base_rate=base,
        events=len(ev),
        policy_events=len(pol),
        voluntary_events=int((onset["kind"] == "voluntary").sum()),
        first_period=label_of(first_pq),
        last_period=label_of(last_pq),
        challenger_from=label_of(first_pd) if first_pd is not None else None,
        notes=notes,
    )


def _status_lookup(events: pd.DataFrame):
    """status(institution, pq) at that quarter's end, from the status history."""
    by_inst: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for inst_id, g in events.groupby("institution_id"):
        by_inst[int(inst_id)] = (g["pq"].to_numpy(np.int64), g["status_after"].astype(str).to_numpy(object))

    def status(inst_id: int, pq: int) -> str:
        item = by_inst.get(int(inst_id))
        if item is None:
            return "active"
        pqs, statuses = item
        pos = np.searchsorted(pqs, pq, side="right") - 1
        return "active" if pos < 0 else str(statuses[pos])

    return status


__all__ = ["METHODS", "Backtest", "BacktestRow", "run_backtest"]
