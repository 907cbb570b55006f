"""Validation statistics: discrimination (AUC, Gini, KS with bootstrap intervals), calibration
(binomial test per grade, Hosmer–Lemeshow) and stability (PSI). Pure NumPy/SciPy, no database.

Conventions: ``y`` is 1 for bad; ``risk`` is any number that is larger for riskier records (a PD, a
log-odds, minus a score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

PSI_EPSILON = 1e-4  # share given to an empty bin so that PSI stays finite


def auc(y: np.ndarray, risk: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann–Whitney) formula; ties count one half."""
    y = np.asarray(y, dtype=np.int8)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(risk, method="average")
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ks(y: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov–Smirnov statistic: the largest gap between the bads' and goods' risk distributions."""
    y = np.asarray(y, dtype=np.int8)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(-np.asarray(risk, dtype=np.float64), kind="stable")
    r = np.asarray(risk, dtype=np.float64)[order]
    ys = y[order]
    cum_bad = np.cumsum(ys) / n1
    cum_good = np.cumsum(1 - ys) / n0
    last = np.r_[r[1:] != r[:-1], True]  # evaluate only at the end of each run of equal values
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def gini(y: np.ndarray, risk: np.ndarray) -> float:
    """Gini coefficient = accuracy ratio = 2·AUC − 1."""
    return 2 * auc(y, risk) - 1


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def _weighted_auc_ks(bad_w: np.ndarray, good_w: np.ndarray, starts: np.ndarray) -> tuple[float, float]:
    """AUC and KS from per-record weights in ascending risk order, ties grouped at ``starts``."""
    b = np.add.reduceat(bad_w, starts)
    g = np.add.reduceat(good_w, starts)
    n1, n0 = b.sum(), g.sum()
    below = np.cumsum(g) - g
    auc_value = float(np.sum(b * (below + 0.5 * g)) / (n1 * n0))
    ks_value = float(np.max(np.abs(np.cumsum(b) / n1 - np.cumsum(g) / n0)))
    return auc_value, ks_value


def bootstrap(
    y: np.ndarray,
    risk: np.ndarray,
    *,
    n_boot: int = 200,
    seed: int = 2016,
    level: float = 0.95,
) -> dict[str, Interval]:
    """AUC, Gini and KS with percentile bootstrap intervals (resampling records, stratified by class).

    Each resample is a vector of record multiplicities; AUC and KS of the resample follow from weighted
    cumulative sums over the records sorted once by risk (ties kept together), which gives exactly the
    statistics of the resampled data without sorting it again.
    """
    y = np.asarray(y, dtype=np.int8)
    risk = np.asarray(risk, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    bad = np.nonzero(y == 1)[0]
    good = np.nonzero(y == 0)[0]
    order = np.argsort(risk, kind="stable")
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y))
    sorted_risk = risk[order]
    starts = np.r_[0, np.nonzero(sorted_risk[1:] != sorted_risk[:-1])[0] + 1]
    aucs, kss = np.empty(n_boot), np.empty(n_boot)
    for k in range(n_boot):
        bad_w = np.bincount(position[rng.choice(bad, len(bad))], minlength=len(y)).astype(np.float64)
        good_w = np.bincount(position[rng.choice(good, len(good))], minlength=len(y)).astype(np.float64)
        aucs[k], kss[k] = _weighted_auc_ks(bad_w, good_w, starts)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    a_lo, a_hi = np.percentile(aucs, q)
    k_lo, k_hi = np.percentile(kss, q)
    a = auc(y, risk)
    return {
        "auc": Interval(a, float(a_lo), float(a_hi)),
        "gini": Interval(2 * a - 1, float(2 * a_lo - 1), float(2 * a_hi - 1)),
        "ks": Interval(ks(y, risk), float(k_lo), float(k_hi)),
    }


def roc_points(y: np.ndarray, risk: np.ndarray, n_points: int = 101) -> list[tuple[float, float, float]]:
    """(population share, false positive rate, true positive rate) at evenly spaced shares of records,
    riskiest first: the cumulative-accuracy (CAP) and ROC curves, and their vertical gap (KS)."""
    y = np.asarray(y, dtype=np.int8)
    order = np.argsort(-np.asarray(risk, dtype=np.float64), kind="stable")
    ys = y[order]
    tpr = np.r_[0, np.cumsum(ys) / max(ys.sum(), 1)]
    fpr = np.r_[0, np.cumsum(1 - ys) / max((1 - ys).sum(), 1)]
    pick = np.unique(np.round(np.linspace(0, len(ys), n_points)).astype(int))
    return [(round(i / max(len(ys), 1), 4), round(float(fpr[i]), 4), round(float(tpr[i]), 4)) for i in pick]


def psi(expected: Sequence[float], actual: Sequence[float], *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index Σ (A−E)·ln(A/E) over shares (counts are normalised first).

    Empty bins get ``epsilon`` so that a bin present in only one sample counts instead of vanishing.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / max(e.sum(), 1e-300), epsilon)
    a = np.maximum(a / max(a.sum(), 1e-300), epsilon)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def psi_status(value: float, *, warn: float = 0.1, alert: float = 0.25) -> str:
    """ok (< warn), warn (warn … alert) or alert (> alert); thresholds from the policy file."""
    if value > alert:
        return "alert"
    if value > warn:
        return "warn"
    return "ok"


def binomial_test(n: int, defaults: int, pd: float) -> float:
    """One-sided p-value that ``defaults`` or more out of ``n`` occur when the true PD is ``pd``."""
    if n == 0:
        return float("nan")
    return float(stats.binom.sf(defaults - 1, n, min(max(pd, 1e-12), 1.0)))


def jeffreys_test(n: int, defaults: int, pd: float) -> float:
    """One-sided Jeffreys p-value (ECB template): P(PD ≤ pd) under the Beta(d+½, n−d+½) posterior."""
    if n == 0:
        return float("nan")
    return float(stats.beta.cdf(pd, defaults + 0.5, n - defaults + 0.5))


def hosmer_lemeshow(y: np.ndarray, pd: np.ndarray, *, groups: int = 10) -> tuple[float, float, int]:
    """Hosmer–Lemeshow χ² over PD deciles: (statistic, p-value, degrees of freedom = groups − 2)."""
    y = np.asarray(y, dtype=np.float64)
    pd = np.clip(np.asarray(pd, dtype=np.float64), 1e-12, 1 - 1e-12)
    order = np.argsort(pd, kind="stable")
    parts = [p for p in np.array_split(order, groups) if len(p)]
    stat = 0.0
    for part in parts:
        n = len(part)
        observed = y[part].sum()
        expected = pd[part].sum()
        mean = expected / n
        stat += (observed - expected) ** 2 / max(n * mean * (1 - mean), 1e-12)
    dof = max(len(parts) - 2, 1)
    return float(stat), float(stats.chi2.sf(stat, dof)), dof


def brier(y: np.ndarray, pd: np.ndarray) -> float:
    return float(np.mean((np.asarray(pd, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))


def traffic_light(p_value: float) -> str:
    """green (p ≥ 5 %), yellow (1 % ≤ p < 5 %), red (p < 1 %): Tasche's traffic-light reading of a test."""
    if np.isnan(p_value):
        return "grey"
    if p_value < 0.01:
        return "red"
    if p_value < 0.05:
        return "yellow"
    return "green"


__all__ = [
    "Interval",
    "auc",
    "binomial_test",
    "bootstrap",
    "brier",
    "gini",
    "hosmer_lemeshow",
    "jeffreys_test",
    "ks",
    "psi",
    "psi_status",
    "roc_points",
    "traffic_light",
]
