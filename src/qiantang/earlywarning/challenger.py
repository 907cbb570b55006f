"""Distress events from the status history, and the gradient-boosting challenger to the scorecard.

**Distress onset.** The first event that takes an *active* institution to 停业整顿 (suspended), 风险处置
(resolution), 注销 (deregistered) or 吊销 (revoked), classified by its recorded reason
(data/rating.toml ``[distress]``) as ``policy`` (a clean-up such as the P2P wind-down or the shell
clean-up), ``voluntary`` (an orderly closure) or ``distress`` (everything else). Only ``distress``
onsets are the challenger's target; the backtest reports policy exits separately.

**Challenger.** LightGBM with monotone constraints, one model per scoring year ``Y`` trained on
quarters ``≤ (Y−1)Q1`` — those whose 4-quarter outcome window had closed by the first quarter scored
with it, so nothing from the future reaches a score. The last ``calibration_quarters`` of that window
are held out to calibrate the probabilities (Platt scaling); with too few events there, the raw
probabilities are kept; with too few events to train at all, the PD is None and the run says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qiantang.earlywarning.panel import KEY, Panel

ACTIVE = "active"
DISTRESSED = ("suspended", "resolving")


def classify_reason(reason: str, distress_cfg: dict[str, Any]) -> str:
    """policy | voluntary | distress, from the reason recorded with an event."""
    reason = reason or ""
    if any(p in reason for p in distress_cfg.get("policy", ())):
        return "policy"
    if any(p in reason for p in distress_cfg.get("voluntary", ())):
        return "voluntary"
    return "distress"


def onsets(panel: Panel, distress_cfg: dict[str, Any]) -> pd.DataFrame:
    """Every onset: institution_id, pq (the quarter of the event), date, event, reason, kind."""
    ev = panel.events
    cols = ["institution_id", "pq", "effective_on", "event", "reason", "kind"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    events = set(distress_cfg.get("events", ("suspended", "resolution", "deregistered", "revoked")))
    prev_status = ev.groupby("institution_id")["status_after"].shift(1).fillna(ACTIVE)
    is_onset = ev["event"].isin(events) & (prev_status == ACTIVE) & (ev["event"] != "established")
    out = ev.loc[is_onset, ["institution_id", "pq", "effective_on", "event", "reason"]].copy()
    out["kind"] = [classify_reason(r, distress_cfg) for r in out["reason"]]
    return out.reset_index(drop=True)[cols]


def status_at_quarter_end(panel: Panel) -> np.ndarray:
    """Each panel row's registry status at the end of its quarter (from the status history)."""
    rows = panel.rows
    ev = panel.events
    status = np.full(len(rows), ACTIVE, dtype=object)
    if ev.empty or rows.empty:
        return status
    # The last event of each institution and quarter, carried forward over the quarters.
    last = ev.groupby(["institution_id", "pq"], sort=True)["status_after"].last().reset_index()
    last = last.sort_values(["institution_id", "pq"])
    merged = pd.merge_asof(
        rows[["institution_id", "pq"]].reset_index().sort_values("pq"),
        last.sort_values("pq"),
        on="pq",
        by="institution_id",
        direction="backward",
    ).set_index("index")
    status[merged.index.to_numpy()] = merged["status_after"].fillna(ACTIVE).to_numpy(object)
    return status


def labels(panel: Panel, onset: pd.DataFrame, horizon: int) -> np.ndarray:
    """1 if a distress onset falls within the next ``horizon`` quarters of the row's quarter."""
    keys = panel.key()
    y = np.zeros(len(keys))
    dist = onset[onset["kind"] == "distress"]
    if dist.empty:
        return y
    marks = dist["institution_id"].to_numpy(np.int64) * KEY + dist["pq"].to_numpy(np.int64)
    present = np.zeros(len(keys))
    for k in range(1, horizon + 1):
        # Row (i, t) is positive if an onset key equals i·KEY + t + k.
        present = np.maximum(present, np.isin(keys + k, marks).astype(float))
    y[:] = present
    return y


@dataclass
class ChallengerResult:
    pd_values: np.ndarray  # aligned with the panel rows (NaN where not scored)
    status: str  # ok | partial | too_few_events
    years: dict[int, dict[str, Any]] = field(default_factory=dict)
    features: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "years": {str(k): v for k, v in self.years.items()}}


def _features(inputs: pd.DataFrame, panel: Panel, names: list[str]) -> pd.DataFrame:
    X = pd.DataFrame(index=panel.rows.index)
    for name in names:
        X[name] = inputs[name].to_numpy(np.float64) if name in inputs.columns else np.nan
    X["template"] = pd.Categorical(panel.rows["template"].astype(str), categories=sorted(panel.templates))
    return X


def fit_and_score(
    panel: Panel, inputs: pd.DataFrame, onset: pd.DataFrame, cfg: dict[str, Any]
) -> ChallengerResult:
    """Train one model per scoring year on earlier quarters only, and score that year's quarters."""
    features = dict(cfg.get("features", {}))
    names = list(features)
    horizon = int(cfg.get("horizon", 4))
    min_events = int(cfg.get("min_train_events", 20))
    min_cal = int(cfg.get("min_calibration_events", 8))
    cal_q = int(cfg.get("calibration_quarters", 4))
    rows = panel.rows
    n = len(rows)
    out = np.full(n, np.nan)
    if rows.empty:
        return ChallengerResult(out, "too_few_events", features=tuple(names))
    pq = rows["pq"].to_numpy(np.int64)
    filed = rows["filed"].to_numpy(bool)
    status = status_at_quarter_end(panel)
    trainable = filed & (status == ACTIVE)
    y = labels(panel, onset, horizon)
    keys = panel.key()
    dist = onset[onset["kind"] == "distress"]
    dist_keys = dist["institution_id"].to_numpy(np.int64) * KEY + dist["pq"].to_numpy(np.int64)
    X = _features(inputs, panel, names)
    years = sorted({int(p) // 4 for p in pq[filed]})
    report: dict[int, dict[str, Any]] = {}
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return ChallengerResult(out, "unavailable", features=tuple(names))
    monotone = [int(features[f]) for f in names] + [0]
    rng = np.random.default_rng(int(cfg.get("seed", 2016)))
    for year in years:
        cut = (year - 1) * 4  # (year − 1)Q1: its outcome window ends with (year)Q1
        train = trainable & (pq <= cut)
        score_rows = filed & (pq // 4 == year)
        cal = train & (pq > cut - cal_q)
        fit = train & ~cal
        n_fit_events = _onsets_in(dist_keys, keys[fit], horizon)
        info: dict[str, Any] = {
            "train_until": f"{cut // 4}Q{cut % 4 + 1}",
            "train_rows": int(train.sum()),
            "train_positive_rows": int(y[train].sum()),
            "fit_onsets": n_fit_events,
            "scored": int(score_rows.sum()),
        }
        if n_fit_events < min_events or y[fit].sum() == fit.sum():
            info["status"] = "too_few_events"
            report[year] = info
            continue
        # All distress rows and a random share of the others (weighted back up): training stays fast.
        fit_idx = np.nonzero(fit)[0]
        share = float(cfg.get("negative_share", 1.0))
        weight = np.ones(len(fit_idx))
        if share < 1.0:
            keep = (y[fit_idx] > 0) | (rng.random(len(fit_idx)) < share)
            fit_idx = fit_idx[keep]
            weight = np.where(y[fit_idx] > 0, 1.0, 1.0 / share)
        info["fit_rows"] = len(fit_idx)
        model = lgb.LGBMClassifier(
            n_estimators=int(cfg.get("n_estimators", 150)),
            learning_rate=float(cfg.get("learning_rate", 0.05)),
            num_leaves=int(cfg.get("num_leaves", 15)),
            min_child_samples=int(cfg.get("min_child_samples", 40)),
            subsample=float(cfg.get("subsample", 0.8)),
            subsample_freq=1,
            colsample_bytree=float(cfg.get("colsample_bytree", 0.8)),
            monotone_constraints=monotone,
            random_state=int(cfg.get("seed", 2016)),
            max_bin=int(cfg.get("max_bin", 63)),
            n_jobs=1,  # small data: threads only wait on each other, worse on a busy machine
            verbose=-1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X.iloc[fit_idx], y[fit_idx], sample_weight=weight, categorical_feature=["template"])
            raw = model.predict_proba(X[score_rows])[:, 1]
            calibrated = raw
            n_cal_events = _onsets_in(dist_keys, keys[cal], horizon)
            info["calibration_onsets"] = n_cal_events
            if n_cal_events >= min_cal and 0 < y[cal].sum() < cal.sum():
                cal_raw = model.predict_proba(X[cal])[:, 1]
                a, b = platt(_logit(cal_raw), y[cal])
                calibrated = 1.0 / (1.0 + np.exp(-(a * _logit(raw) + b)))
                info["calibration"] = "platt"
                info["platt"] = [round(a, 4), round(b, 4)]
            else:
                info["calibration"] = "none (too few events in the calibration quarters)"
        out[score_rows] = np.round(calibrated, 4)
        info["status"] = "ok"
        report[year] = info
    statuses = {v["status"] for v in report.values()}
    overall = "ok" if statuses == {"ok"} else ("partial" if "ok" in statuses else "too_few_events")
    return ChallengerResult(out, overall, report, tuple(names))


def _onsets_in(dist_keys: np.ndarray, row_keys: np.ndarray, horizon: int) -> int:
    """How many distinct distress onsets the labels of these rows see."""
    hit = np.zeros(len(dist_keys), dtype=bool)
    for k in range(1, horizon + 1):
        hit |= np.isin(dist_keys - k, row_keys)
    return int(hit.sum())


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt(score: np.ndarray, y: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """Platt scaling: the logistic regression of ``y`` on ``score`` (Newton's method, two parameters)."""
    a, b = 1.0, 0.0
    X = np.column_stack([score, np.ones(len(score))])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(X @ np.array([a, b]))))
        grad = X.T @ (y - p)
        w = p * (1 - p) + 1e-9
        hess = (X * w[:, None]).T @ X + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def training_rows_for(panel: Panel, year: int) -> np.ndarray:
    """The panel rows a model scoring ``year`` may learn from (for tests and documentation)."""
    pq = panel.rows["pq"].to_numpy(np.int64)
    return np.nonzero(panel.rows["filed"].to_numpy(bool) & (pq <= (year - 1) * 4))[0]


__all__ = [
    "ChallengerResult",
    "classify_reason",
    "fit_and_score",
    "labels",
    "onsets",
    "status_at_quarter_end",
    "training_rows_for",
]
