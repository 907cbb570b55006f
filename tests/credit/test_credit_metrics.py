"""Validation statistics against their textbook definitions and reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from qiantang.credit import metrics
from qiantang.credit import policy as pol


@pytest.fixture(scope="module")
def sample():
    rng = np.random.Generator(np.random.PCG64(1))
    y = (rng.random(3000) < 0.2).astype(np.int8)
    risk = y * 0.8 + rng.standard_normal(3000)
    risk[::7] = np.round(risk[::7], 1)  # ties
    return y, risk


def test_auc_gini_and_ks_match_sklearn(sample):
    y, risk = sample
    assert metrics.auc(y, risk) == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
    assert metrics.gini(y, risk) == pytest.approx(2 * roc_auc_score(y, risk) - 1, abs=1e-12)
    fpr, tpr, _ = roc_curve(y, risk)
    assert metrics.ks(y, risk) == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert np.isnan(metrics.auc(np.zeros(5), np.arange(5)))


def test_bootstrap_interval_contains_the_estimate_and_is_reproducible(sample):
    y, risk = sample
    first = metrics.bootstrap(y, risk, n_boot=50, seed=3)
    again = metrics.bootstrap(y, risk, n_boot=50, seed=3)
    assert first == again
    for stat in first.values():
        assert stat.low <= stat.value <= stat.high
    assert first["gini"].low == pytest.approx(2 * first["auc"].low - 1)


def test_psi_by_hand_and_empty_bins():
    expected, actual = [0.5, 0.3, 0.2], [0.4, 0.3, 0.3]
    by_hand = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.3 - 0.2) * np.log(0.3 / 0.2)
    assert metrics.psi(expected, actual) == pytest.approx(by_hand, rel=1e-9)
    assert metrics.psi([50, 30, 20], [40, 30, 30]) == pytest.approx(
        by_hand, rel=1e-9
    )  # counts are normalised
    assert (
        metrics.psi([1, 1, 0], [1, 1, 1]) > 0.25
    )  # a bin present in one sample only counts, it is not skipped
    assert metrics.psi([1, 2, 3], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)
    assert [metrics.psi_status(v) for v in (0.05, 0.1, 0.11, 0.25, 0.26)] == [
        "ok",
        "ok",
        "warn",
        "warn",
        "alert",
    ]


def test_calibration_tests():
    assert metrics.binomial_test(100, 1, 0.01) == pytest.approx(1 - 0.99**100, rel=1e-9)
    assert metrics.binomial_test(100, 10, 0.01) < 1e-5
    assert metrics.jeffreys_test(1000, 10, 0.01) == pytest.approx(0.5, abs=0.1)
    assert metrics.traffic_light(0.5) == "green" and metrics.traffic_light(0.02) == "yellow"
    assert metrics.traffic_light(0.001) == "red"
    rng = np.random.Generator(np.random.PCG64(2))
    pd_ = rng.uniform(0.01, 0.4, 20000)
    y = (rng.random(20000) < pd_).astype(int)
    _stat, p_ok, dof = metrics.hosmer_lemeshow(y, pd_)
    _stat, p_bad, _ = metrics.hosmer_lemeshow(y, np.clip(pd_ * 1.6, 0, 0.99))
    assert dof == 8 and p_ok > 0.01 and p_bad < 1e-6


def test_master_scale_is_data_and_grades_are_monotone():
    scale = pol.master_scale()
    assert [g.grade for g in scale][:3] == ["AAA", "AA", "A"] and scale[-1].pd_upper == 1.0
    pds = np.array([0.0, 0.001, 0.0011, 0.02, 0.5, 1.0])
    grades = pol.grade_of(pds)
    assert grades[0] == "AAA" and grades[1] == "AAA" and grades[2] == "AA" and grades[-1] == scale[-1].grade
    order = {g.grade: i for i, g in enumerate(scale)}
    ranks = [order[g] for g in pol.grade_of(np.linspace(0, 1, 500))]
    assert ranks == sorted(ranks)


def test_weighted_bootstrap_statistics_equal_those_of_the_resampled_data(sample):
    """The fast bootstrap (multiplicities over one sort) gives exactly AUC and KS of each resample."""
    y, risk = sample
    rng = np.random.Generator(np.random.PCG64(9))
    rows = np.r_[
        rng.choice(np.nonzero(y == 1)[0], int(y.sum())), rng.choice(np.nonzero(y == 0)[0], int((1 - y).sum()))
    ]
    order = np.argsort(risk, kind="stable")
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y))
    sorted_risk = risk[order]
    starts = np.r_[0, np.nonzero(sorted_risk[1:] != sorted_risk[:-1])[0] + 1]
    w = np.bincount(position[rows], minlength=len(y)).astype(float)
    yb = y[order]
    a, k = metrics._weighted_auc_ks(w * yb, w * (1 - yb), starts)
    assert a == pytest.approx(metrics.auc(y[rows], risk[rows]), abs=1e-12)
    assert k == pytest.approx(metrics.ks(y[rows], risk[rows]), abs=1e-12)
