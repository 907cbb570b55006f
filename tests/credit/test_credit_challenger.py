"""The LightGBM challenger: monotone constraints, calibrated PD, SHAP reasons, stored and reloaded."""

from __future__ import annotations

import numpy as np
import pytest

from qiantang.credit.challenger import LightGBMModel, monotone_direction
from qiantang.credit.pipeline import make_lightgbm


@pytest.fixture(scope="module")
def challenger(credit_data):
    return make_lightgbm().fit(credit_data)


def test_monotone_directions_follow_the_data():
    rng = np.random.Generator(np.random.PCG64(3))
    x = rng.standard_normal(5000)
    y_up = (rng.random(5000) < 1 / (1 + np.exp(-2 * x))).astype(float)
    assert monotone_direction(x, y_up) == 1
    assert monotone_direction(-x, y_up) == -1
    y_u = (rng.random(5000) < 1 / (1 + np.exp(-(2 * x**2 - 2)))).astype(float)
    assert monotone_direction(x, y_u) == 0  # U-shaped: left free


def test_constrained_features_move_the_risk_one_way_only(challenger, credit_data):
    constrained = [(f, c) for f, c in zip(challenger.features, challenger.constraints, strict=True) if c]
    assert constrained, "credit_data has clearly monotone features (e.g. Seniority, Income)"
    base = credit_data.X.iloc[:40].reset_index(drop=True)
    for feature, direction in constrained:
        grid = np.quantile(credit_data.X[feature.name].dropna(), np.linspace(0.01, 0.99, 15))
        risks = []
        for value in grid:
            X = base.copy()
            X[feature.name] = value
            risks.append(challenger.raw(X))
        steps = np.diff(np.array(risks), axis=0) * direction
        assert np.all(steps >= -1e-9), feature.name


def test_pd_is_calibrated_and_scaled_like_the_scorecard(challenger, credit_data):
    pd_ = challenger.predict_pd(credit_data.X)
    assert abs(pd_.mean() - credit_data.bad_rate) < 0.03
    score = challenger.score(credit_data.X)
    assert np.allclose(challenger.params.scaling.pd_from_score(score), pd_)
    assert challenger.cv_auc > 0.8


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reasons_are_shap_values_that_add_up_to_the_prediction(challenger, credit_data):
    import shap

    X = credit_data.X.iloc[:30].reset_index(drop=True)
    contrib = challenger.contributions(X)
    explainer = shap.TreeExplainer(challenger.booster)
    values = explainer.shap_values(challenger.frame(X))
    values = values[1] if isinstance(values, list) else values
    assert np.allclose(contrib, values, atol=1e-6)
    full = challenger.booster.predict(challenger.frame(X), pred_contrib=True)
    assert np.allclose(full.sum(axis=1), challenger.raw(X))
    for i, row in enumerate(challenger.reasons(X, top=4)):
        assert len(row) <= 4
        shown = [r["shap"] for r in row]
        assert shown == sorted(shown, reverse=True) and all(v > 0 for v in shown)
        if row:
            assert row[0]["shap"] == pytest.approx(contrib[i].max() * challenger.calibration[0], abs=1e-3)


def test_model_text_round_trip(challenger, credit_data):
    back = LightGBMModel.from_spec(challenger.to_spec(), challenger.artifact())
    assert np.allclose(back.predict_pd(credit_data.X), challenger.predict_pd(credit_data.X))
    odd = credit_data.X.iloc[:2].copy().reset_index(drop=True)
    odd.loc[0, "Home"] = "castle"
    odd.loc[1, "Income"] = np.nan
    assert np.all(np.isfinite(back.predict_pd(odd)))
