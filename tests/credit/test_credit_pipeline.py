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


def test_champion_rule_prefers_the_scorecard_unless_the_challenger_is_clearly_better(small):
    sel = pipeline.select_champion(small, folds=3, margin=1.0)  # an impossible margin
    assert sel.kind == "scorecard" and set(sel.inner_auc) == {"scorecard", "lightgbm"}
    assert sel.model is sel.scorecard
    sel = pipeline.select_champion(small, folds=3, margin=-1.0)
    assert sel.kind == "lightgbm" and sel.model is sel.lightgbm
    assert len(sel.lightgbm.trials) == 12  # the policy's grid, searched inside the training data


def test_training_stores_out_of_fold_validation(small):
    trained = pipeline.train(small, kind="scorecard")
    v = trained.validation
    assert v["out_of_fold"]["auc"]["value"] < v["in_sample"]["auc"]["value"]
    assert sum(g["count"] for g in v["calibration"]["grades"]) == small.n
    assert len(v["ks_table"]) == 10 and v["roc"][0] == (0.0, 0.0, 0.0)
    assert sum(trained.population["score_counts"]) == small.n
