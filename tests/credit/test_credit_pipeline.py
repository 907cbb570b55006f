"""Cross-validation beside the baselines and the champion rule, on real data (small and quick)."""

from __future__ import annotations

import numpy as np
import pytest

from qiantang.credit import pipeline


@pytest.fixture(scope="module")
def small(credit_data):
    rows = np.arange(0, credit_data.n, 3)  # a third of the applicants keeps the test quick
    return credit_data.subset(rows)


def test_quick_cross_validation_runs_every_model_on_the_same_folds(small):
    report = pipeline.cross_validate(small, nested=False, folds=3)
    summary = {r["model"]: r for r in report.summary()}
    assert set(summary) == {
        "scorecard",
        "lightgbm",
        "optbinning_default",
        "plain_logistic",
        "lightgbm_default",
    }
    assert all(len([s for s in report.scores if s.model == m]) == 3 for m in summary)
    for row in summary.values():
        assert 0.7 < row["auc_mean"] < 0.95 and 0.2 < row["ks_mean"] < 0.8
    # The fixed, documented split: the same folds every time.
    again = pipeline.folds_of(small.y, folds=3, seed=2016)
    first = pipeline.folds_of(small.y, folds=3, seed=2016)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(again, first, strict=True))
    assert report.as_dict()["summary"][0]["label"]


def test_one_standard_error_rule_prefers_the_simpler_candidate_within_noise():
    # LightGBM best on average, but within one standard error of the blend's fold AUCs: blend.
    folds = {
        "scorecard": [0.80, 0.81, 0.79, 0.80, 0.80],
        "blend": [0.83, 0.84, 0.82, 0.83, 0.83],
        "lightgbm": [0.85, 0.82, 0.84, 0.82, 0.83],
    }
    assert pipeline.choose_kind(folds, margin=0.005) == "blend"
    # A consistent gain larger than the margin and than its noise wins.
    folds["lightgbm"] = [x + 0.02 for x in folds["blend"]]
    assert pipeline.choose_kind(folds, margin=0.005) == "lightgbm"
    # Within the margin, the scorecard stays.
    close = {"scorecard": [0.80, 0.81, 0.79], "blend": [0.803, 0.813, 0.793]}
    assert pipeline.choose_kind(close, margin=0.005) == "scorecard"
    assert pipeline.choose_kind(close, margin=0.0) == "blend"


def test_champion_rule_prefers_the_scorecard_unless_the_challenger_is_clearly_better(small):
    sel = pipeline.select_champion(small, folds=3, margin=1.0)  # an impossible margin
    assert sel.kind == "scorecard" and set(sel.inner_auc) == {"scorecard", "blend", "lightgbm"}
    assert sel.model is sel.scorecard
    assert sum(sel.stability.values()) == pytest.approx(1.0) and sel.stability["scorecard"] == 1.0
    assert len(sel.lightgbm.trials) == 12  # the policy's grid, searched inside the training data
    # The blend is calibrated on the two models' out-of-fold predictions and scores like them.
    w = sel.as_dict()["blend_weights"]
    assert min(w["scorecard"], w["lightgbm"], w["linear"]) >= 0
    assert w["scorecard"] + w["lightgbm"] + w["linear"] > 0
    pd_ = sel.blend.predict_pd(small.X)
    assert abs(pd_.mean() - small.bad_rate) < 0.03
    reasons = sel.blend.reasons(small.X.iloc[:5], top=4)
    assert all(len(r) <= 4 for r in reasons) and any(reasons)


def test_a_blend_is_registered_and_scored_like_the_others(db, small):
    from qiantang.credit import registry
    from qiantang.credit.service import scored_outputs

    trained = pipeline.train(small, kind="blend")
    assert trained.kind == "blend" and trained.validation["out_of_fold"]["auc"]["value"] > 0.7
    row = registry.register(db, trained=trained, data=small, name="blend test", target_text="Status = bad")
    assert row.kind.value == "blend"
    registry._CACHE.clear()
    loaded = registry.load(row)
    assert np.allclose(loaded.score(small.X), trained.model.score(small.X))
    _score, _pd, grades, reasons = scored_outputs(loaded, small.X.iloc[:20], top=4)
    assert len(grades) == 20 and all(r.startswith("[") for r in reasons)


def test_training_stores_out_of_fold_validation(small):
    trained = pipeline.train(small, kind="scorecard")
    v = trained.validation
    assert v["out_of_fold"]["auc"]["value"] < v["in_sample"]["auc"]["value"]
    assert sum(g["count"] for g in v["calibration"]["grades"]) == small.n
    assert len(v["ks_table"]) == 10 and v["roc"][0] == (0.0, 0.0, 0.0)
    assert sum(trained.population["score_counts"]) == small.n
