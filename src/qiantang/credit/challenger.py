"""The challenger: LightGBM with monotone constraints where the data show a monotone trend, its size
chosen by cross-validation with early stopping, Platt-calibrated PD and TreeSHAP reasons.

* Monotone constraints: a numeric feature gets +1/−1 when the bad rates of its deciles rise/fall with
  it (Spearman ρ of decile rank and bad rate ≥ 0.8 in absolute value); otherwise it is left free.
* Tuning (``tune``): a small grid (tree size, leaf size, L2, learning rate; credit/data/policy.toml),
  each setting scored by k-fold ``lightgbm.cv`` with early stopping on the training data only; the best
  mean AUC wins and fixes the number of trees. Above ``tune_sample_rows`` rows the grid runs on a
  stratified sample and the winner is refit on everything.
* Calibration: logistic (Platt) regression of the bad flag on the out-of-fold raw scores of the
  winning setting, so PDs are not the over-confident in-sample ones.
* Reasons: exact TreeSHAP contributions (``pred_contrib``, the algorithm of ``shap.TreeExplainer``)
  per feature; the four that raise the risk most are the reasons.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qiantang.credit.scorecard import ScaledParams, Scaling
from qiantang.credit.tabular import Dataset, Feature

DEFAULT_GRID = {
    "num_leaves": [4, 8, 16],
    "min_child_samples": [20, 100],
    "reg_lambda": [1.0, 20.0],
}


@dataclass
class LightGBMParams(ScaledParams):
    num_leaves: int = 8
    min_child_samples: int = 50
    reg_lambda: float = 5.0
    learning_rate: float = 0.1
    colsample_bytree: float = 0.8
    subsample: float = 0.8
    max_bin: int = 127
    cat_smooth: float = 20.0
    max_trees: int = 1000
    early_stopping: int = 50
    n_trees: int = 0  # fixed by cross-validation in fit
    folds: int = 5
    seed: int = 2016
    monotone: bool = True
    monotone_rho: float = 0.8
    n_jobs: int = 0  # 0: one thread below 20,000 rows (threads cost more than they give), else two
    tune_sample_rows: int = 30_000
    grid: dict[str, list] = field(default_factory=lambda: dict(DEFAULT_GRID))
    scaling: Scaling = field(default_factory=Scaling)

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "auc",
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "learning_rate": self.learning_rate,
            "colsample_bytree": self.colsample_bytree,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "max_bin": self.max_bin,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": max(self.min_child_samples, 20),
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs or 1,
            "verbose": -1,
        }


def monotone_direction(x: np.ndarray, y: np.ndarray, *, rho: float = 0.8, bins: int = 10) -> int:
    """+1 when the bad rate rises with x over its deciles (ρ ≥ rho), −1 when it falls, else 0."""
    present = ~np.isnan(x)
    xs, ys = x[present], y[present]
    if len(np.unique(xs)) < 4 or ys.min() == ys.max():
        return 0
    edges = np.unique(np.quantile(xs, np.linspace(0, 1, bins + 1)[1:-1]))
    idx = np.searchsorted(edges, xs, side="right")
    counts = np.bincount(idx)
    rates = np.bincount(idx, weights=ys) / np.maximum(counts, 1)
    keep = counts > 0
    if keep.sum() < 4:
        return 0
    r = stats.spearmanr(np.arange(len(rates))[keep], rates[keep]).statistic
    if r is None or np.isnan(r):
        return 0
    return 1 if r >= rho else (-1 if r <= -rho else 0)


class LightGBMModel:
    """Gradient boosting challenger; ``fit`` → ``predict_pd``/``score``/``reasons``; spec + model text."""

    kind = "lightgbm"

    def __init__(self, params: LightGBMParams | None = None):
        self.params = params or LightGBMParams()
        self.features: list[Feature] = []
        self.categories: dict[str, list[str]] = {}
        self.constraints: list[int] = []
        self.calibration = (1.0, 0.0)
        self.booster = None
        self.cv_auc: float | None = None

    # ------------------------------------------------------------------------------------- data
    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for f in self.features:
            if f.kind == "numeric":
                out[f.name] = np.asarray(X[f.name], dtype=np.float64)
            else:
                known = set(self.categories[f.name])
                values = [
                    str(v) if v is not None and str(v) in known else None for v in X[f.name].astype(object)
                ]
                out[f.name] = pd.Categorical(values, categories=self.categories[f.name])  # unseen → missing
        return pd.DataFrame(out)

    def _setup(self, data: Dataset) -> None:
        self.features = list(data.features)
        self.categories = {
            f.name: sorted({str(v) for v in data.X[f.name] if v is not None})
            for f in self.features
            if f.kind != "numeric"
        }
        y = np.asarray(data.y, dtype=np.float64)
        self.constraints = [
            monotone_direction(np.asarray(data.X[f.name], dtype=np.float64), y, rho=self.params.monotone_rho)
            if f.kind == "numeric" and self.params.monotone
            else 0
            for f in self.features
        ]

    def _train_params(self, p: LightGBMParams) -> dict[str, Any]:
        params = p.booster_params()
        if any(self.constraints):
            params["monotone_constraints"] = list(self.constraints)
            params["monotone_constraints_method"] = "intermediate"
        return params

    def _cv(self, p: LightGBMParams, frame: pd.DataFrame, y: np.ndarray):
        import lightgbm as lgb
        from sklearn.model_selection import StratifiedKFold

        folds = list(StratifiedKFold(p.folds, shuffle=True, random_state=p.seed).split(frame, y))
        ds = lgb.Dataset(frame, label=y, free_raw_data=False)
        params = self._train_params(p)
        params["num_threads"] = _threads(p, len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = lgb.cv(
                params,
                ds,
                num_boost_round=p.max_trees,
                folds=folds,
                callbacks=[lgb.early_stopping(p.early_stopping, verbose=False)],
                return_cvbooster=True,
            )
        best = len(res["valid auc-mean"])
        oof = np.empty(len(y))
        for (_, test), booster in zip(folds, res["cvbooster"].boosters, strict=True):
            oof[test] = booster.predict(frame.iloc[test], num_iteration=best, raw_score=True)
        return float(res["valid auc-mean"][-1]), best, oof

    # ---------------------------------------------------------------------------------- fitting
    def fit(self, data: Dataset, *, tune: bool = False) -> LightGBMModel:
        """Fit with the given settings (the number of trees by CV), or tune the grid first."""
        import lightgbm as lgb

        self._setup(data)
        y = np.asarray(data.y, dtype=np.float64)
        frame = self.frame(data.X)
        p = self.params
        result = None
        if tune:
            p, result = self._tune(frame, y)
            self.params = p
        if result is None:
            result = self._cv(p, frame, y)
        auc_cv, best, oof = result
        self.params.n_trees = max(int(best), 1)
        self.cv_auc = auc_cv
        self.oof_raw = oof  # out-of-fold raw scores of the chosen setting (validation uses them)
        a, b = _platt(oof, y)
        self.calibration = (a, b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = self._train_params(p)
            params["num_threads"] = _threads(p, len(y))
            self.booster = lgb.train(params, lgb.Dataset(frame, label=y), num_boost_round=self.params.n_trees)
        return self

    def _tune(self, frame: pd.DataFrame, y: np.ndarray):
        """The best grid setting by k-fold CV AUC; its CV result too when the full data were used."""
        base = self.params
        rows = np.arange(len(y))
        sampled = len(y) > base.tune_sample_rows
        if sampled:
            from sklearn.model_selection import train_test_split

            rows, _ = train_test_split(
                rows, train_size=base.tune_sample_rows, stratify=y, random_state=base.seed
            )
            rows = np.sort(rows)
        sub_frame, sub_y = frame.iloc[rows].reset_index(drop=True), y[rows]
        keys = sorted(base.grid)
        best_auc, best_p, best_result = -1.0, base, None
        trials = []
        for combo in product(*(base.grid[k] for k in keys)):
            setting = dict(zip(keys, combo, strict=True))
            p = LightGBMParams.from_dict({**base.as_dict(), **setting})
            result = self._cv(p, sub_frame, sub_y)
            trials.append({**setting, "auc": round(result[0], 5), "trees": result[1]})
            if result[0] > best_auc + 1e-12:
                best_auc, best_p, best_result = result[0], p, result
        self.trials = trials
        return best_p, (None if sampled else best_result)

    # ---------------------------------------------------------------------------------- scoring
    def raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self.frame(X), raw_score=True)

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        a, b = self.calibration
        return a * self.raw(X) + b

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.params.scaling.score_from_logit(self.logit(X))

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw(X)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions to the raw log-odds, (n, features); the expected value is dropped."""
        return self.booster.predict(self.frame(X), pred_contrib=True)[:, :-1]

    def logit_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions in calibrated log-odds of bad, (n, features)."""
        return self.contributions(X) * self.calibration[0]

    def reasons(self, X: pd.DataFrame, *, top: int = 4) -> list[list[dict[str, Any]]]:
        """Per record, the ``top`` features whose SHAP value raises the risk most (points lost shown)."""
        return contribution_reasons(
            self.features, self.logit_contributions(X), X, factor=self.params.scaling.factor, top=top
        )

    # ------------------------------------------------------------------------------------ spec
    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params.as_dict(),
            "features": [f.as_dict() for f in self.features],
            "categories": self.categories,
            "monotone_constraints": self.constraints,
            "calibration": list(self.calibration),
            "cv_auc": self.cv_auc,
            "trials": getattr(self, "trials", []),
            "importance": self.importance(),
        }

    def importance(self) -> dict[str, float]:
        """Total gain of each feature's splits, as a share of all gain."""
        if self.booster is None:
            return {}
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        return {f.name: round(float(g) / total, 6) for f, g in zip(self.features, gain, strict=True)}

    def artifact(self) -> bytes:
        return self.booster.model_to_string().encode()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], artifact: bytes) -> LightGBMModel:
        import lightgbm as lgb

        model = cls(LightGBMParams.from_dict(spec["params"]))
        model.features = [Feature(**f) for f in spec["features"]]
        model.categories = spec["categories"]
        model.constraints = spec["monotone_constraints"]
        model.calibration = tuple(spec["calibration"])
        model.cv_auc = spec.get("cv_auc")
        model.booster = lgb.Booster(model_str=artifact.decode())
        return model


def contribution_reasons(
    features: list[Feature], contrib: np.ndarray, X: pd.DataFrame, *, factor: float, top: int
) -> list[list[dict[str, Any]]]:
    """Per record, the ``top`` features whose contribution (log-odds of bad) raises the risk most."""
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    out = []
    for i in range(len(X)):
        row = []
        for j in order[i]:
            if contrib[i, j] <= 1e-9:
                continue
            f = features[j]
            row.append(
                {
                    "feature": f.name,
                    "label": f.label or f.name,
                    "value": _jsonable(X[f.name].iloc[i]),
                    "shap": round(float(contrib[i, j]), 4),
                    "points_lost": round(float(contrib[i, j] * factor), 1),
                }
            )
        out.append(row)
    return out


def _threads(p: LightGBMParams, rows: int) -> int:
    if p.n_jobs:
        return p.n_jobs
    return 1 if rows < 20_000 else 2


def _platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(raw.reshape(-1, 1), y.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value if isinstance(value, int | str | bool) else str(value)


__all__ = ["DEFAULT_GRID", "LightGBMModel", "LightGBMParams", "contribution_reasons", "monotone_direction"]
