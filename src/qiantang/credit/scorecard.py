"""The scorecard: optimal binning (optbinning), logistic regression on WOE, points by PDO/odds scaling.

``ScorecardModel.fit`` bins every feature with ``optbinning.OptimalBinning`` (CART pre-binning, the
CP-SAT solver with one worker and a fixed seed, monotonic trends where they make sense), computes
smoothed WOE and IV from the bin counts, keeps the features with enough IV, fits an L2 logistic
regression on the WOE values and drops any feature whose coefficient comes out with the wrong sign.
Everything the model needs afterwards — splits, categories, counts, WOE, points — is plain JSON
(``to_spec``/``from_spec``): scoring never re-runs a solver, so a stored model gives the same score
on every run and machine.

Scoring (``score_matrix``) is a bin lookup per feature (``np.searchsorted`` on the splits) and a sum
of points, vectorised over all records.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from qiantang.credit.tabular import Dataset, Feature
from qiantang.formatting import fmt_sig

MISSING = "__missing__"
WOE_SMOOTHING = 0.5  # pseudo-records at the population bad rate added to every bin


@dataclass
class Scaling:
    """Points scaling: ``base_score`` points at odds ``base_odds``:1 (good:bad), ``pdo`` points to double."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_logit(self, logit: np.ndarray) -> np.ndarray:
        """Score from the log-odds of bad (higher score = lower risk)."""
        return self.offset - self.factor * np.asarray(logit, dtype=np.float64)

    def logit_from_score(self, score: np.ndarray) -> np.ndarray:
        return (self.offset - np.asarray(score, dtype=np.float64)) / self.factor

    def pd_from_score(self, score: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit_from_score(score)))


class ScaledParams:
    """Settings stored with a model as JSON: a dataclass with a ``scaling`` field."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        values = dict(data)
        scaling = Scaling(**values.pop("scaling", {}))
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known, scaling=scaling)


@dataclass
class ScorecardParams(ScaledParams):
    """Settings of the scorecard (defaults in credit/data/policy.toml)."""

    max_n_prebins: int = 20
    min_prebin_size: float = 0.05
    min_bin_size: float | None = None
    max_n_bins: int | None = None
    monotonic: str = "auto_asc_desc"  # numeric features: optbinning monotonic_trend
    peak_gain: float = 0.0  # also try "auto" (peak/valley allowed); keep it if IV improves by this share
    cat_cutoff: float | None = None
    min_iv: float = 0.02
    C: float = 1.0  # inverse L2 strength of the logistic regression
    sign_check: bool = True
    time_limit: float = 60.0
    n_jobs: int = 2  # threads for binning (features are independent; results do not depend on it)
    scaling: Scaling = field(default_factory=Scaling)


@dataclass
class BinnedFeature:
    """One feature's bins: numeric splits or categorical groups, counts, WOE, IV, coefficient, points."""

    name: str
    kind: str
    label: str
    splits: list[float]  # numeric: n_bins − 1 ascending split points ([s_{i−1}, s_i) intervals)
    groups: list[list[str]]  # categorical: categories of each bin
    count: list[int]  # per bin, the missing bin last
    bad: list[int]
    woe: list[float]
    iv: float
    trend: str
    status: str
    coef: float = 0.0
    points: list[float] = field(default_factory=list)
    selected: bool = True
    note: str = ""
    personal: bool = False  # a personal identifier used anyway: its cut points are never shown

    @property
    def n_bins(self) -> int:
        """Bins including the missing bin (the last one)."""
        return (len(self.splits) + 1 if self.kind == "numeric" else len(self.groups)) + 1

    def labels(self, *, zh: bool = True, fmt: Callable[[float], str] | None = None) -> list[str]:
        """Bin labels in words ("低于 0.78", "0.78 至 3.9", "3.9 及以上"; no interval brackets), missing last.

        ``fmt`` writes a bin edge (default: about three significant digits, never scientific notation).
        A personal identifier's bins are numbered only: its cut points are never shown.
        """
        if self.personal:
            text = "第 {} 段（个人信息，不显示切分点）"
            if not zh:
                text = "band {} (personal data, cut points hidden)"
            out = [text.format(i + 1) for i in range(self.n_bins - 1)]
        elif self.kind == "numeric":
            edges = [-math.inf, *self.splits, math.inf]
            out = [band_text(edges[i], edges[i + 1], fmt=fmt or _fmt, zh=zh) for i in range(len(edges) - 1)]
        else:
            sep = "、" if zh else ", "
            out = []
            for g in self.groups:
                more = "" if len(g) <= 6 else (f" 等 {len(g)} 类" if zh else f" and {len(g) - 6} more")
                out.append(sep.join(g[:6]) + more)
        return [*out, "缺失/未知" if zh else "missing/unknown"]

    def bin_index(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """Bin of every value (the missing bin for NaN, None and unseen categories)."""
        missing = self.n_bins - 1
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            idx = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right")
            return np.where(np.isnan(x), missing, idx).astype(np.int32)
        lookup = {c: i for i, g in enumerate(self.groups) for c in g}
        cats = pd.Series(values, dtype=object)
        codes, uniques = pd.factorize(cats, use_na_sentinel=True)
        table = np.array([lookup.get(_cat_text(u), missing) for u in uniques] + [missing], dtype=np.int32)
        return table[codes]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.personal:  # stored specs of ordinary models stay as they were
            del out["personal"]
        return out


def _cat_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _fmt(x: float) -> str:
    return fmt_sig(x, 3)


def band_text(lo: float, hi: float, *, fmt: Callable[[float], str] = _fmt, zh: bool = True) -> str:
    """The range [lo, hi) in words: "低于 hi", "lo 及以上" or "lo 至 hi" (English: below / or more / to)."""
    if math.isinf(lo) and math.isinf(hi):
        return "任意值" if zh else "any value"
    if math.isinf(lo):
        return f"低于 {fmt(hi)}" if zh else f"below {fmt(hi)}"
    if math.isinf(hi):
        return f"{fmt(lo)} 及以上" if zh else f"{fmt(lo)} or more"
    return f"{fmt(lo)} 至 {fmt(hi)}" if zh else f"{fmt(lo)} to {fmt(hi)}"


def woe_iv(count: np.ndarray, bad: np.ndarray, *, alpha: float = WOE_SMOOTHING) -> tuple[np.ndarray, float]:
    """Smoothed WOE = ln(good share / bad share) per bin (higher = safer) and the information value.

    ``alpha`` pseudo-records at the population bad rate are added to each bin, so an empty bin has
    WOE 0 (average risk) and a bin with no bads a finite WOE.
    """
    count = np.asarray(count, dtype=np.float64)
    bad = np.asarray(bad, dtype=np.float64)
    good = count - bad
    n, b = count.sum(), bad.sum()
    g = n - b
    rate = b / n
    bad_s = bad + alpha * rate
    good_s = good + alpha * (1 - rate)
    dist_bad = bad_s / bad_s.sum()
    dist_good = good_s / good_s.sum()
    woe = np.log(dist_good / dist_bad)
    iv = float(np.sum((good / max(g, 1) - bad / max(b, 1)) * woe))
    return woe, iv


def _optbinning(feature: Feature, x: np.ndarray, y: np.ndarray, p: ScorecardParams, trend: str):
    from optbinning import OptimalBinning

    kwargs: dict[str, Any] = {
        "name": feature.name,
        "dtype": "numerical" if feature.kind == "numeric" else "categorical",
        "prebinning_method": "cart",
        "solver": "cp",
        "max_n_prebins": p.max_n_prebins,
        "min_prebin_size": p.min_prebin_size,
        "min_bin_size": p.min_bin_size,
        "max_n_bins": p.max_n_bins,
        "monotonic_trend": trend,
        "time_limit": p.time_limit,
    }
    if feature.kind != "numeric":
        kwargs["cat_cutoff"] = p.cat_cutoff
    optb = OptimalBinning(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optb.fit(x, y)
    return optb


def bin_feature(feature: Feature, values: pd.Series, y: np.ndarray, p: ScorecardParams) -> BinnedFeature:
    """Optimal bins of one feature, with counts, WOE and IV computed from the data."""
    if feature.kind == "numeric":
        x = np.asarray(values, dtype=np.float64)
        present = ~np.isnan(x)
    else:
        x = np.array([None if v is None else _cat_text(v) for v in values], dtype=object)
        present = np.array([v is not None for v in x])
    splits: list[float] = []
    groups: list[list[str]] = []
    trend, status = "", "no data"
    if present.sum() >= 2 and len(np.unique(y[present])) == 2:
        trend = p.monotonic if feature.kind == "numeric" else "auto"
        optb = _optbinning(feature, x[present], y[present], p, trend)
        status = str(optb.status)
        if feature.kind == "numeric":
            splits = [float(s) for s in optb.splits]
        else:
            groups = [sorted(_cat_text(c) for c in g) for g in optb.splits]
            seen = {c for g in groups for c in g}
            rest = sorted({c for c in x[present] if c not in seen})
            if rest:  # categories below optbinning's cut-off
                groups.append(rest)
        if feature.kind == "numeric" and p.peak_gain > 0 and p.monotonic != "auto":
            alt = _optbinning(feature, x[present], y[present], p, "auto")
            alt_splits = [float(s) for s in alt.splits]
            iv_mono = _iv_of(splits, x, y)
            iv_alt = _iv_of(alt_splits, x, y)
            if iv_alt > (1 + p.peak_gain) * iv_mono:
                splits, trend, status = alt_splits, "auto", str(alt.status)
    elif feature.kind != "numeric":
        groups = [sorted({c for c in x[present]})] if present.any() else []
    binned = BinnedFeature(
        feature.name,
        feature.kind,
        feature.label,
        splits,
        groups,
        [],
        [],
        [],
        0.0,
        trend,
        status,
        personal=bool(feature.personal),
    )
    idx = binned.bin_index(x) if feature.kind == "numeric" else binned.bin_index(pd.Series(x))
    n_bins = (len(splits) + 1 if feature.kind == "numeric" else len(groups)) + 1
    count = np.bincount(idx, minlength=n_bins)
    bad = np.bincount(idx, weights=y, minlength=n_bins).astype(np.int64)
    woe, iv = woe_iv(count, bad)
    binned.count, binned.bad = count.tolist(), bad.tolist()
    binned.woe, binned.iv = [round(float(w), 10) for w in woe], round(iv, 10)
    return binned


_FORK_DATA: tuple | None = None  # (features, X, y, params) handed to forked binning workers


def _bin_one(k: int) -> BinnedFeature:
    features, X, y, p = _FORK_DATA  # type: ignore[misc]
    return bin_feature(features[k], X[features[k].name], y, p)


def _bin_all(
    features: list[Feature], X: pd.DataFrame, y: np.ndarray, p: ScorecardParams
) -> list[BinnedFeature]:
    """Bin every feature. Features are independent, so the work is shared (the result is the same):
    two threads for small tables, two forked processes for large ones (the solver holds the GIL)."""
    global _FORK_DATA
    if len(features) < 2 or p.n_jobs <= 1:
        return [bin_feature(f, X[f.name], y, p) for f in features]
    import multiprocessing as mp
    import sys
    import threading

    big = len(y) * len(features) >= 2_000_000
    if big and sys.platform == "linux" and threading.active_count() == 1:  # never fork a threaded server
        _FORK_DATA = (features, X, y, p)
        try:
            with mp.get_context("fork").Pool(p.n_jobs) as pool:
                return pool.map(_bin_one, range(len(features)), chunksize=1)
        finally:
            _FORK_DATA = None
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=p.n_jobs) as pool:
        return list(pool.map(lambda f: bin_feature(f, X[f.name], y, p), features))


def _iv_of(splits: list[float], x: np.ndarray, y: np.ndarray) -> float:
    idx = np.searchsorted(np.asarray(splits), x, side="right")
    idx = np.where(np.isnan(x), len(splits) + 1, idx)
    count = np.bincount(idx, minlength=len(splits) + 2)
    bad = np.bincount(idx, weights=y, minlength=len(splits) + 2)
    return woe_iv(count, bad)[1]


class ScorecardModel:
    """A points scorecard. ``fit`` → ``score``/``predict_pd``/``reasons``; ``to_spec`` is all it is."""

    kind = "scorecard"

    def __init__(self, params: ScorecardParams | None = None):
        self.params = params or ScorecardParams()
        self.bins: list[BinnedFeature] = []
        self.intercept = 0.0
        self.features: list[Feature] = []

    # ---------------------------------------------------------------------------------- fitting
    def fit(self, data: Dataset) -> ScorecardModel:
        p = self.params
        y = np.asarray(data.y, dtype=np.int8)
        self.features = list(data.features)
        self.bins = _bin_all(self.features, data.X, y, p)
        for b in self.bins:
            if b.iv < p.min_iv:
                b.selected, b.note = False, f"IV {b.iv:.3f} < {p.min_iv}"
        self._fit_regression(data, y)
        return self

    def _woe_matrix(self, X: pd.DataFrame, chosen: list[BinnedFeature]) -> np.ndarray:
        out = np.empty((len(X), len(chosen)), dtype=np.float64)
        for j, b in enumerate(chosen):
            out[:, j] = np.asarray(b.woe)[b.bin_index(X[b.name])]
        return out

    def _fit_regression(self, data: Dataset, y: np.ndarray) -> None:
        p = self.params
        chosen = [b for b in self.bins if b.selected]
        W = self._woe_matrix(data.X, chosen)
        active = list(range(len(chosen)))
        while True:
            if active:
                # Newton–Cholesky is exact and fast for few features and rows; L-BFGS for large samples.
                solver = "newton-cholesky" if len(y) <= 50_000 else "lbfgs"
                lr = LogisticRegression(C=p.C, max_iter=2000, solver=solver, tol=1e-8)
                lr.fit(W[:, active], y)
                coefs = lr.coef_.ravel()
                intercept = float(lr.intercept_[0])
            else:
                coefs = np.array([])
                rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
                intercept = math.log(rate / (1 - rate))
            wrong = [k for k, c in enumerate(coefs) if c > 0]
            if not p.sign_check or not wrong:
                break
            worst = max(wrong, key=lambda k: coefs[k])
            chosen[active[worst]].selected = False
            chosen[active[worst]].note = "系数符号与 WOE 方向相反，已剔除"
            active.pop(worst)
        used = [chosen[k] for k in active]
        for b in self.bins:
            b.coef, b.points = 0.0, [0.0] * b.n_bins
        s = p.scaling
        share = (s.offset - s.factor * intercept) / max(len(used), 1)
        for b, c in zip(used, coefs, strict=True):
            b.coef = round(float(c), 10)
            b.points = [round(float(-s.factor * c * w + share), 6) for w in b.woe]
        self.intercept = round(intercept, 10)
        self._base = 0.0 if used else s.offset - s.factor * intercept

    # ---------------------------------------------------------------------------------- scoring
    @property
    def used(self) -> list[BinnedFeature]:
        return [b for b in self.bins if b.selected]

    def bin_indices(self, X: pd.DataFrame) -> np.ndarray:
        """(n, features used) bin index matrix."""
        used = self.used
        out = np.empty((len(X), len(used)), dtype=np.int32)
        for j, b in enumerate(used):
            out[:, j] = b.bin_index(X[b.name])
        return out

    def points_matrix(self, X: pd.DataFrame) -> np.ndarray:
        used = self.used
        idx = self.bin_indices(X)
        out = np.empty(idx.shape, dtype=np.float64)
        for j, b in enumerate(used):
            out[:, j] = np.asarray(b.points)[idx[:, j]]
        return out

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Scores (higher = safer)."""
        used = self.used
        total = np.full(len(X), getattr(self, "_base", 0.0))
        for b in used:
            total += np.asarray(b.points)[b.bin_index(X[b.name])]
        return total

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.params.scaling.pd_from_score(self.score(X))

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        """Larger = riskier (minus the score): what AUC and KS are computed on."""
        return -self.score(X)

    def reasons(self, X: pd.DataFrame, *, top: int = 4) -> list[list[dict[str, Any]]]:
        """Per record, the ``top`` features that lose the most points against their best bin."""
        used = self.used
        if not used:
            return [[] for _ in range(len(X))]
        idx = self.bin_indices(X)
        pts = np.empty(idx.shape, dtype=np.float64)
        best = np.array([max(b.points) for b in used])
        for j, b in enumerate(used):
            pts[:, j] = np.asarray(b.points)[idx[:, j]]
        loss = best[None, :] - pts
        order = np.argsort(-loss, axis=1, kind="stable")[:, :top]
        labels = [b.labels() for b in used]
        out = []
        for i in range(len(X)):
            row = []
            for j in order[i]:
                if loss[i, j] <= 1e-9:
                    continue
                b = used[j]
                row.append(
                    {
                        "feature": b.name,
                        "label": b.label or b.name,
                        "value": _jsonable(X[b.name].iloc[i]),
                        "bin": labels[j][idx[i, j]],
                        "missing_bin": bool(idx[i, j] == b.n_bins - 1),
                        "points": round(float(pts[i, j]), 1),
                        "points_lost": round(float(loss[i, j]), 1),
                    }
                )
            out.append(row)
        return out

    # ------------------------------------------------------------------------------------ spec
    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params.as_dict(),
            "intercept": self.intercept,
            "base": getattr(self, "_base", 0.0),
            "features": [f.as_dict() for f in self.features],
            "bins": [b.as_dict() for b in self.bins],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ScorecardModel:
        model = cls(ScorecardParams.from_dict(spec["params"]))
        model.intercept = spec["intercept"]
        model._base = spec.get("base", 0.0)
        model.features = [Feature(**f) for f in spec["features"]]
        model.bins = [BinnedFeature(**b) for b in spec["bins"]]
        return model

    def bin_table(self, *, zh: bool = True) -> list[dict[str, Any]]:
        """Every feature's bin table (count, bads, bad rate, WOE, IV share, points) for the report."""
        rows = []
        for b in self.bins:
            labels = b.labels(zh=zh)
            n = max(sum(b.count), 1)
            nb = max(sum(b.bad), 1)
            ng = max(n - sum(b.bad), 1)
            for i in range(b.n_bins):
                c, bad = b.count[i], b.bad[i]
                rows.append(
                    {
                        "feature": b.name,
                        "label": b.label or b.name,
                        "bin": labels[i],
                        "count": c,
                        "share": c / n,
                        "bad": bad,
                        "bad_rate": bad / c if c else None,
                        "woe": b.woe[i],
                        "iv": ((c - bad) / ng - bad / nb) * b.woe[i],
                        "points": b.points[i] if b.points else 0.0,
                        "selected": b.selected,
                    }
                )
        return rows


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value if isinstance(value, int | str | bool) else str(value)


__all__ = [
    "BinnedFeature",
    "Scaling",
    "ScorecardModel",
    "ScorecardParams",
    "bin_feature",
    "woe_iv",
]
