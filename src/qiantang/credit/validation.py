"""What a validation report needs, computed once when a model is trained and stored with it.

* discrimination — AUC, Gini and KS with bootstrap intervals, in sample and out of fold; ROC points;
  a KS table by score decile;
* calibration by master-scale grade — records, bads, observed default rate, mean PD, one-sided
  binomial and Jeffreys p-values with a traffic light; Hosmer–Lemeshow over PD deciles; Brier score;
* the development population — score deciles and each feature's bin shares, the baseline of every
  later PSI (``population_profile``/``stability``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qiantang.credit import metrics
from qiantang.credit import policy as pol


def discrimination(y: np.ndarray, risk: np.ndarray, *, n_boot: int, level: float, seed: int = 2016) -> dict:
    boot = metrics.bootstrap(y, risk, n_boot=n_boot, seed=seed, level=level)
    return {k: v.as_dict() for k, v in boot.items()}


def ks_table(y: np.ndarray, score: np.ndarray, *, bands: int = 10) -> list[dict[str, Any]]:
    """Records, bads, bad rate and cumulative shares by score decile (worst first)."""
    order = np.argsort(score, kind="stable")
    parts = np.array_split(order, bands)
    n_bad, n_good = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    cum_b = cum_g = 0
    rows = []
    for k, part in enumerate(parts, start=1):
        if not len(part):
            continue
        b = int(y[part].sum())
        g = len(part) - b
        cum_b += b
        cum_g += g
        rows.append(
            {
                "band": k,
                "score_min": float(score[part].min()),
                "score_max": float(score[part].max()),
                "count": len(part),
                "bad": b,
                "bad_rate": b / len(part),
                "cum_bad_share": cum_b / n_bad,
                "cum_good_share": cum_g / n_good,
                "ks": abs(cum_b / n_bad - cum_g / n_good),
            }
        )
    return rows


def calibration(y: np.ndarray, pd_: np.ndarray, *, hl_groups: int) -> dict[str, Any]:
    """Per grade: n, bads, observed rate, mean PD, binomial/Jeffreys p-values, traffic light; HL; Brier."""
    grades = pol.grade_of(pd_)
    rows = []
    for g in pol.master_scale():
        mask = grades == g.grade
        n = int(mask.sum())
        d = int(y[mask].sum())
        mean_pd = float(pd_[mask].mean()) if n else None
        p_binom = metrics.binomial_test(n, d, mean_pd) if n else None
        p_jeff = metrics.jeffreys_test(n, d, mean_pd) if n else None
        rows.append(
            {
                "grade": g.grade,
                "pd_upper": g.pd_upper,
                "count": n,
                "bad": d,
                "observed": d / n if n else None,
                "mean_pd": mean_pd,
                "binomial_p": p_binom,
                "jeffreys_p": p_jeff,
                "light": metrics.traffic_light(p_binom) if n else "grey",
            }
        )
    stat, p, dof = metrics.hosmer_lemeshow(y, pd_, groups=hl_groups)
    return {
        "grades": rows,
        "hosmer_lemeshow": {"statistic": stat, "p_value": p, "dof": dof},
        "brier": metrics.brier(y, pd_),
        "mean_pd": float(np.mean(pd_)),
        "observed": float(np.mean(y)),
    }


def full_report(
    y: np.ndarray,
    *,
    in_sample_risk: np.ndarray,
    oof_risk: np.ndarray,
    oof_pd: np.ndarray,
    oof_score: np.ndarray,
) -> dict[str, Any]:
    """The stored validation metrics of a model version (see module docstring)."""
    v = pol.validation_settings()
    y = np.asarray(y, dtype=np.int8)
    return {
        "in_sample": discrimination(y, in_sample_risk, n_boot=v["bootstrap"], level=v["level"]),
        "out_of_fold": discrimination(y, oof_risk, n_boot=v["bootstrap"], level=v["level"]),
        "oof_folds": v["oof_folds"],
        "roc": metrics.roc_points(y, oof_risk),
        "ks_table": ks_table(y, oof_score),
        "calibration": calibration(y, oof_pd, hl_groups=v["hl_groups"]),
        "bootstrap": v["bootstrap"],
        "level": v["level"],
    }


# ------------------------------------------------------------------------------------- stability
def _numeric_edges(x: np.ndarray, bands: int) -> list[float]:
    present = x[~np.isnan(x)]
    if not len(present):
        return []
    return [float(e) for e in np.unique(np.quantile(present, np.linspace(0, 1, bands + 1)[1:-1]))]


def _shares_numeric(x: np.ndarray, edges: list[float]) -> np.ndarray:
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="right")
    idx = np.where(np.isnan(x), len(edges) + 1, idx)
    return np.bincount(idx, minlength=len(edges) + 2).astype(np.float64)


def _shares_categorical(values: pd.Series, groups: list[list[str]]) -> np.ndarray:
    lookup = {c: i for i, g in enumerate(groups) for c in g}
    missing = len(groups)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    table = np.array([lookup.get(str(u), missing) for u in uniques] + [missing], dtype=np.int64)
    return np.bincount(table[codes], minlength=len(groups) + 1).astype(np.float64)


def population_profile(model, X: pd.DataFrame, score: np.ndarray, *, bands: int = 10) -> dict[str, Any]:
    """The development population: score deciles and per-feature bins with their counts."""
    edges = _numeric_edges(np.asarray(score, dtype=np.float64), bands)
    features = {}
    for f in model.features:
        col = X[f.name]
        binned = next((b for b in getattr(model, "bins", []) if b.name == f.name), None)
        if f.kind == "numeric":
            x = np.asarray(col, dtype=np.float64)
            cuts = list(binned.splits) if binned is not None else _numeric_edges(x, bands)
            features[f.name] = {"kind": "numeric", "edges": cuts, "counts": _shares_numeric(x, cuts).tolist()}
        else:
            if binned is not None:
                groups = [list(g) for g in binned.groups]
            else:
                groups = [[c] for c in sorted({str(v) for v in col if v is not None})]
            features[f.name] = {
                "kind": "categorical",
                "groups": groups,
                "counts": _shares_categorical(col, groups).tolist(),
            }
    return {
        "rows": len(X),
        "score_edges": edges,
        "score_counts": _shares_numeric(np.asarray(score, dtype=np.float64), edges).tolist(),
        "features": features,
    }


def feature_counts(profile: dict[str, Any], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each profiled feature's counts per development bin over ``X`` (counts add up across parts of a
    population: a batch job sums those of its partitions)."""
    out = {}
    for name, spec in profile["features"].items():
        if name not in X.columns:
            continue
        if spec["kind"] == "numeric":
            out[name] = _shares_numeric(np.asarray(X[name], dtype=np.float64), spec["edges"])
        else:
            out[name] = _shares_categorical(X[name], spec["groups"])
    return out


def stability(
    profile: dict[str, Any],
    X: pd.DataFrame | None,
    score: np.ndarray,
    *,
    counts: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """PSI of the score and of each feature between the development profile and a current population
    (its features ``X``, or their bin ``counts`` as :func:`feature_counts` gives them)."""
    warn, alert = pol.psi_thresholds()
    current = _shares_numeric(np.asarray(score, dtype=np.float64), profile["score_edges"])
    psi_score = metrics.psi(profile["score_counts"], current)
    if counts is None:
        counts = feature_counts(profile, X)
    features = {}
    for name, spec in profile["features"].items():
        if name not in counts:
            continue
        now = np.asarray(counts[name], dtype=np.float64)
        value = metrics.psi(spec["counts"], now)
        features[name] = {
            "psi": value,
            "status": metrics.psi_status(value, warn=warn, alert=alert),
            "expected": spec["counts"],
            "actual": now.tolist(),
        }
    worst = max([psi_score, *(f["psi"] for f in features.values())], default=0.0)
    return {
        "psi_score": psi_score,
        "score_status": metrics.psi_status(psi_score, warn=warn, alert=alert),
        "score_expected": profile["score_counts"],
        "score_actual": current.tolist(),
        "features": features,
        "status": metrics.psi_status(worst, warn=warn, alert=alert),
        "warn": warn,
        "alert": alert,
        "rows": len(score),
    }


__all__ = [
    "calibration",
    "discrimination",
    "feature_counts",
    "full_report",
    "ks_table",
    "population_profile",
    "stability",
]
