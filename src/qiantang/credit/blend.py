"""The third candidate: a calibrated blend (logistic stack) of the scorecard, the LightGBM challenger
and a plain linear logistic regression on the raw values.

logit PD = a + w_s · (scorecard log-odds of bad) + w_g · (LightGBM raw score) + w_l · (linear log-odds),
with the coefficients from a logistic regression of the bad flag on the three models' out-of-fold
predictions on the same folds — a multi-input Platt scaling, so the blend's PD is calibrated by
construction and never sees a row it was fitted on. Weights are kept non-negative: an input the
regression gives a negative weight (inputs nearly collinear) is dropped and the rest refitted.

The linear part is there because binning costs a scorecard the ranking inside its extreme bins: where
risk rises smoothly with one strong number (a card balance, a debt ratio) a straight logistic
regression on the value ranks better, and neither a scorecard nor a monotone tree ensemble recovers it
(ISLR ``Default`` in the benchmark). It is written here, not taken from scikit-learn's pipeline, so
that it is stored as plain JSON (medians, means, scales, categories, coefficients) like the scorecard.

Reasons: per feature, what it adds to the blend's log-odds — w_s · (points lost against the feature's
best bin) / factor + w_g · TreeSHAP + w_l · coefficient × (standardised value) — the four largest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qiantang.credit import metrics
from qiantang.credit.challenger import LightGBMModel, contribution_reasons
from qiantang.credit.scorecard import ScaledParams, Scaling, ScorecardModel


@dataclass
class BlendParams(ScaledParams):
    intercept: float = 0.0
    w_scorecard: float = 1.0
    w_lightgbm: float = 0.0
    w_linear: float = 0.0
    scaling: Scaling = field(default_factory=Scaling)


INPUTS = ("scorecard", "lightgbm", "linear")


class LinearModel:
    """Logistic regression (L2, C = 1) on the raw values: numbers median-imputed and standardised,
    categories one-hot over the training categories (an unseen or missing category adds nothing)."""

    def __init__(self):
        self.numeric: list[dict[str, Any]] = []  # name, median, mean, scale, coef
        self.categorical: list[dict[str, Any]] = []  # name, categories, coefs, base
        self.intercept = 0.0
        self.features: list[Any] = []

    def _design(self, X: pd.DataFrame) -> list[np.ndarray]:
        blocks = []
        for f in self.numeric:
            x = pd.to_numeric(X[f["name"]], errors="coerce").to_numpy(np.float64)
            x = np.where(np.isnan(x), f["median"], x)
            blocks.append(((x - f["mean"]) / f["scale"])[:, None])
        for f in self.categorical:
            values = X[f["name"]].astype(object).map(lambda v: None if v is None else str(v)).to_numpy()
            cats = f["categories"]
            block = np.column_stack([values == c for c in cats]) if cats else np.zeros((len(X), 0))
            blocks.append(block.astype(np.float64))
        return blocks

    def fit(self, data) -> LinearModel:
        from sklearn.linear_model import LogisticRegression

        self.features = list(data.features)
        X = data.X
        self.numeric, self.categorical = [], []
        for f in self.features:
            if f.kind == "numeric":
                x = pd.to_numeric(X[f.name], errors="coerce").to_numpy(np.float64)
                med = float(np.nanmedian(x)) if np.any(~np.isnan(x)) else 0.0
                filled = np.where(np.isnan(x), med, x)
                sd = float(filled.std()) or 1.0
                self.numeric.append(
                    {"name": f.name, "median": med, "mean": float(filled.mean()), "scale": sd}
                )
            else:
                cats = sorted({str(v) for v in X[f.name] if v is not None and v == v})
                self.categorical.append({"name": f.name, "categories": cats})
        blocks = self._design(X)
        design = np.hstack(blocks) if blocks else np.zeros((len(X), 0))
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(design, np.asarray(data.y, dtype=int))
        coef, k = lr.coef_[0], 0
        self.intercept = float(lr.intercept_[0])
        for f in self.numeric:
            f["coef"] = float(coef[k])
            k += 1
        for f, block in zip(self.categorical, blocks[len(self.numeric) :], strict=True):
            f["coefs"] = [float(c) for c in coef[k : k + len(f["categories"])]]
            f["base"] = float((block @ np.asarray(f["coefs"])).mean())  # centred like the numbers
            k += len(f["categories"])
        return self

    def contributions(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each feature's part of the log-odds, centred on the training data."""
        blocks = self._design(X)
        out = {}
        for f, b in zip(self.numeric, blocks, strict=False):
            out[f["name"]] = b[:, 0] * f["coef"]
        for f, b in zip(self.categorical, blocks[len(self.numeric) :], strict=True):
            out[f["name"]] = b @ np.asarray(f["coefs"]) - f["base"]
        return out

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        base = self.intercept + sum(f["base"] for f in self.categorical)
        return base + sum(self.contributions(X).values(), np.zeros(len(X)))

    def to_spec(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "intercept": self.intercept,
            "features": [f.as_dict() for f in self.features],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LinearModel:
        from qiantang.credit.tabular import Feature

        model = cls()
        model.numeric, model.categorical = spec["numeric"], spec["categorical"]
        model.intercept = spec["intercept"]
        model.features = [Feature(**f) for f in spec["features"]]
        return model


def fit_stack(inputs: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(a, weights) of the logistic stack over the columns of ``inputs``, weights ≥ 0: an input with a
    negative weight is dropped and the rest refitted."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=int)
    keep = list(range(inputs.shape[1]))
    while True:
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(inputs[:, keep], y)
        coef = lr.coef_[0]
        if (coef > 0).all() or len(keep) == 1:
            weights = np.zeros(inputs.shape[1])
            weights[keep] = np.maximum(coef, 0.0)
            return float(lr.intercept_[0]), weights
        keep = [k for k, c in zip(keep, coef, strict=True) if c > 0] or [keep[int(np.argmax(coef))]]


def stacked_oof(
    inputs: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, list[float]]:
    """Cross-fitted blend log-odds (each fold's stack fitted on the other folds) and per-fold AUCs."""
    out = np.empty(len(y))
    aucs = []
    for train_rows, test_rows in folds:
        a, w = fit_stack(inputs[train_rows], y[train_rows])
        out[test_rows] = a + inputs[test_rows] @ w
        aucs.append(metrics.auc(y[test_rows], out[test_rows]))
    return out, aucs


class BlendModel:
    """Scorecard, LightGBM and the linear model fitted on all rows, stacked with weights from their
    out-of-fold predictions."""

    kind = "blend"

    def __init__(
        self,
        scorecard: ScorecardModel,
        lightgbm: LightGBMModel,
        params: BlendParams,
        linear: LinearModel | None = None,
    ):
        self.scorecard = scorecard
        self.lightgbm = lightgbm
        self.linear = linear
        self.params = params
        names = {f.name for f in scorecard.features}
        self.features = [*scorecard.features, *(f for f in lightgbm.features if f.name not in names)]

    def inputs(self, X: pd.DataFrame) -> np.ndarray:
        """The stacked inputs per row: scorecard log-odds, LightGBM raw score, linear log-odds."""
        sc = self.scorecard.params.scaling.logit_from_score(self.scorecard.score(X))
        lin = self.linear.raw(X) if self.linear is not None else np.zeros(len(X))
        return np.column_stack([sc, self.lightgbm.raw(X), lin])

    def weights(self) -> np.ndarray:
        p = self.params
        return np.array([p.w_scorecard, p.w_lightgbm, p.w_linear])

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        return self.params.intercept + self.inputs(X) @ self.weights()

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.params.scaling.score_from_logit(self.logit(X))

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.logit(X)

    def logit_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """What each feature adds to the blend's log-odds of bad, (n, features)."""
        p = self.params
        out = np.zeros((len(X), len(self.features)))
        col = {f.name: j for j, f in enumerate(self.features)}
        used = self.scorecard.used
        if used and p.w_scorecard > 0:
            idx = self.scorecard.bin_indices(X)
            factor = self.scorecard.params.scaling.factor
            for j, b in enumerate(used):
                lost = max(b.points) - np.asarray(b.points, dtype=np.float64)[idx[:, j]]
                out[:, col[b.name]] += p.w_scorecard * lost / factor
        if p.w_lightgbm > 0:
            shap = self.lightgbm.contributions(X)
            for j, f in enumerate(self.lightgbm.features):
                out[:, col[f.name]] += p.w_lightgbm * shap[:, j]
        if self.linear is not None and p.w_linear > 0:
            for name, part in self.linear.contributions(X).items():
                if name in col:
                    out[:, col[name]] += p.w_linear * part
        return out

    def reasons(self, X: pd.DataFrame, *, top: int = 4) -> list[list[dict[str, Any]]]:
        return contribution_reasons(
            self.features, self.logit_contributions(X), X, factor=self.params.scaling.factor, top=top
        )

    # ------------------------------------------------------------------------------------ spec
    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": self.params.as_dict(),
            "scorecard": self.scorecard.to_spec(),
            "lightgbm": self.lightgbm.to_spec(),
            "linear": self.linear.to_spec() if self.linear is not None else None,
        }

    def artifact(self) -> bytes:
        return self.lightgbm.artifact()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], artifact: bytes) -> BlendModel:
        return cls(
            ScorecardModel.from_spec(spec["scorecard"]),
            LightGBMModel.from_spec(spec["lightgbm"], artifact),
            BlendParams.from_dict(spec["params"]),
            LinearModel.from_spec(spec["linear"]) if spec.get("linear") else None,
        )


__all__ = ["INPUTS", "BlendModel", "BlendParams", "LinearModel", "fit_stack", "stacked_oof"]
