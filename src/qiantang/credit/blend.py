"""The third candidate: a calibrated blend (logistic stack) of the scorecard and the LightGBM challenger.

logit PD = a + w_s · (scorecard log-odds of bad) + w_g · (LightGBM raw score), with (a, w_s, w_g) from a
logistic regression of the bad flag on the two models' out-of-fold predictions on the same folds — a
two-input Platt scaling, so the blend's PD is calibrated by construction and never sees a row it was
fitted on. Weights are kept non-negative: when the regression gives one a negative weight (the two
inputs nearly collinear) that input is dropped and the other is calibrated alone.

Reasons: per feature, w_s · (points lost against the feature's best bin) / factor + w_g · TreeSHAP
contribution, i.e. what the feature adds to the blend's log-odds; the four largest are the reasons.
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
    scaling: Scaling = field(default_factory=Scaling)


def fit_stack(sc_logit: np.ndarray, lgb_raw: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(a, w_s, w_g) of the logistic stack, weights ≥ 0 (a negative one drops that input)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=int)
    X = np.column_stack([sc_logit, lgb_raw])
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(X, y)
    a, (ws, wg) = float(lr.intercept_[0]), (float(c) for c in lr.coef_[0])
    if ws > 0 and wg > 0:
        return a, ws, wg
    keep = 0 if ws >= wg else 1
    one = LogisticRegression(C=1e6, max_iter=1000).fit(X[:, [keep]], y)
    w = max(float(one.coef_[0, 0]), 0.0)
    return float(one.intercept_[0]), (w if keep == 0 else 0.0), (w if keep == 1 else 0.0)


def stacked_oof(
    sc_logit: np.ndarray, lgb_raw: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, list[float]]:
    """Cross-fitted blend log-odds (each fold's stack fitted on the other folds) and per-fold AUCs."""
    out = np.empty(len(y))
    aucs = []
    for train_rows, test_rows in folds:
        a, ws, wg = fit_stack(sc_logit[train_rows], lgb_raw[train_rows], y[train_rows])
        out[test_rows] = a + ws * sc_logit[test_rows] + wg * lgb_raw[test_rows]
        aucs.append(metrics.auc(y[test_rows], out[test_rows]))
    return out, aucs


class BlendModel:
    """Scorecard and LightGBM fitted on all rows, stacked with weights from their out-of-fold predictions."""

    kind = "blend"

    def __init__(self, scorecard: ScorecardModel, lightgbm: LightGBMModel, params: BlendParams):
        self.scorecard = scorecard
        self.lightgbm = lightgbm
        self.params = params
        names = {f.name for f in scorecard.features}
        self.features = [*scorecard.features, *(f for f in lightgbm.features if f.name not in names)]

    def logit(self, X: pd.DataFrame) -> np.ndarray:
        p = self.params
        sc = self.scorecard.params.scaling.logit_from_score(self.scorecard.score(X))
        return p.intercept + p.w_scorecard * sc + p.w_lightgbm * self.lightgbm.raw(X)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.params.scaling.score_from_logit(self.logit(X))

    def risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.logit(X)

    def logit_contributions(self, X: pd.DataFrame) -> np.ndarray:
        """What each feature adds to the blend's log-odds of bad, (n, features)."""
        out = np.zeros((len(X), len(self.features)))
        col = {f.name: j for j, f in enumerate(self.features)}
        used = self.scorecard.used
        if used and self.params.w_scorecard > 0:
            idx = self.scorecard.bin_indices(X)
            factor = self.scorecard.params.scaling.factor
            for j, b in enumerate(used):
                lost = max(b.points) - np.asarray(b.points, dtype=np.float64)[idx[:, j]]
                out[:, col[b.name]] += self.params.w_scorecard * lost / factor
        if self.params.w_lightgbm > 0:
            shap = self.lightgbm.contributions(X)
            for j, f in enumerate(self.lightgbm.features):
                out[:, col[f.name]] += self.params.w_lightgbm * shap[:, j]
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
        }

    def artifact(self) -> bytes:
        return self.lightgbm.artifact()

    @classmethod
    def from_spec(cls, spec: dict[str, Any], artifact: bytes) -> BlendModel:
        return cls(
            ScorecardModel.from_spec(spec["scorecard"]),
            LightGBMModel.from_spec(spec["lightgbm"], artifact),
            BlendParams.from_dict(spec["params"]),
        )


__all__ = ["BlendModel", "BlendParams", "fit_stack", "stacked_oof"]
