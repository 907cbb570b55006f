"""The gradient-boosting challenger: distress labels from the status history, a time-based split
(no training row after — nor any outcome from after — the quarter scored), calibration, and the
graceful fall-back when there are too few events."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from qiantang.earlywarning import challenger, indicators, rating, rules
from qiantang.earlywarning.panel import KEY, panel_from_records, period_of, pq_of

CFG = {**rating.load_scorecard().challenger, "min_train_events": 10, "min_calibration_events": 3}
DISTRESS = rating.load_scorecard().distress


def synthetic_city(n: int = 120, seed: int = 1):
    """Small-loan companies 2015–2022 whose overdue share rises before a 停业整顿 event."""
    rng = np.random.default_rng(seed)
    insts, filings, events = [], [], []
    first, last = pq_of(date(2015, 3, 31)), pq_of(date(2022, 12, 31))
    for i in range(1, n + 1):
        distress_pq = int(rng.integers(first + 6, last)) if rng.random() < 0.6 else None
        exit_day = period_of(distress_pq + 2) if distress_pq else None
        insts.append(
            {"id": i, "template": "small_loan", "registered_capital": 1e8, "established_on": date(2014, 1, 1),
             "deregistered_on": exit_day}
        )  # fmt: skip
        for pq in range(first, (distress_pq + 2 if distress_pq else last + 1)):
            ahead = distress_pq - pq if distress_pq else 99
            overdue = 3.0 + rng.normal(0, 1) + (15.0 if 0 < ahead <= 4 else 0.0)
            filings.append(
                {
                    "institution_id": i,
                    "period_end": period_of(pq),
                    "data": {
                        "registered_capital": 10_000.0,
                        "equity": 10_000.0 - (3_000.0 if 0 < ahead <= 4 else 0.0),
                        "total_assets": 15_000.0,
                        "total_liabilities": 5_000.0,
                        "loan_balance": 10_000.0,
                        "overdue_91_180": max(overdue, 0.0) * 100.0,
                        "overdue_181_360": 0.0,
                        "overdue_over_360": 0.0,
                        "cash_and_deposits": 1_000.0,
                        "net_profit": 100.0 - (400.0 if 0 < ahead <= 4 else 0.0),
                    },
                }
            )
        if distress_pq:
            day = period_of(distress_pq)
            events.append(
                {"institution_id": i, "effective_on": date(day.year, day.month, 10), "event": "suspended",
                 "status_after": "suspended", "reason": "主要风险指标持续恶化，责令停业整顿"}
            )  # fmt: skip
            events.append(
                {"institution_id": i, "effective_on": date(exit_day.year, exit_day.month, 5),
                 "event": "deregistered", "status_after": "deregistered", "reason": "风险处置完毕，依法注销"}
            )  # fmt: skip
    return panel_from_records(insts, filings, events)


@pytest.fixture(scope="module")
def city():
    panel = synthetic_city()
    wide = indicators.compute(panel)
    ruleset = rules.load_rules("330100")
    signals = rules.evaluate_limits(panel, wide, ruleset, rules.History(panel, wide))
    inputs = rating.rating_inputs(panel, wide, ruleset, signals)
    return panel, inputs


def test_time_split_never_trains_on_the_future(city, monkeypatch):
    import lightgbm

    panel, inputs = city
    pq = panel.rows["pq"].to_numpy(np.int64)
    models = []
    original_fit = lightgbm.LGBMClassifier.fit
    original_predict = lightgbm.LGBMClassifier.predict_proba

    def fit(self, X, y, **kw):
        self._fit_quarters = pq[X.index.to_numpy()]
        self._predicted = []
        models.append(self)
        return original_fit(self, X, y, **kw)

    def predict(self, X, **kw):
        self._predicted.append(pq[X.index.to_numpy()])
        return original_predict(self, X, **kw)

    monkeypatch.setattr(lightgbm.LGBMClassifier, "fit", fit)
    monkeypatch.setattr(lightgbm.LGBMClassifier, "predict_proba", predict)
    onset = challenger.onsets(panel, DISTRESS)
    result = challenger.fit_and_score(panel, inputs, onset, CFG)
    assert models, "no model was trained"
    horizon = int(CFG["horizon"])
    for m in models:
        scored = m._predicted[0]  # first the quarters scored, then (if any) the calibration quarters
        assert len(set(scored // 4)) == 1  # one model per scoring year
        learned = [m._fit_quarters, *m._predicted[1:]]
        for quarters in learned:
            # No training or calibration row after the quarters scored, and every one of their
            # 4-quarter outcome windows closed no later than the first quarter scored.
            assert quarters.max() + horizon <= scored.min()
        if len(m._predicted) > 1:
            assert m._predicted[1].min() > m._fit_quarters.max()  # calibration held out from fitting
    for year, info in result.years.items():
        if info["status"] == "ok":
            assert info["train_until"] == f"{year - 1}Q1"
            assert (pq[: len(pq)] // 4 == year).any()
    # Years that trained have a PD; the others (too few past events) have none and say so.
    years = pq // 4
    for year, info in result.years.items():
        has = ~np.isnan(result.pd_values[(years == year) & panel.rows["filed"].to_numpy(bool)])
        assert has.all() if info["status"] == "ok" else not has.any()
    assert result.years[2015]["status"] == "too_few_events"
    assert result.status == "partial"


def test_pd_ranks_the_deteriorating_companies_higher(city):
    panel, inputs = city
    onset = challenger.onsets(panel, DISTRESS)
    result = challenger.fit_and_score(panel, inputs, onset, CFG)
    y = challenger.labels(panel, onset, 4)
    ok = ~np.isnan(result.pd_values)
    assert ok.sum() > 100
    assert result.pd_values[ok & (y == 1)].mean() > 2 * result.pd_values[ok & (y == 0)].mean()
    assert ((result.pd_values[ok] >= 0) & (result.pd_values[ok] <= 1)).all()


def test_too_few_events_gives_no_pd():
    panel = synthetic_city(n=15, seed=3)
    wide = indicators.compute(panel)
    inputs = rating.rating_inputs(panel, wide, rules.load_rules("330100"), rules._empty())
    onset = challenger.onsets(panel, DISTRESS)
    result = challenger.fit_and_score(panel, inputs, onset, {**CFG, "min_train_events": 50})
    assert result.status == "too_few_events"
    assert np.isnan(result.pd_values).all()
    assert all(v["status"] == "too_few_events" for v in result.years.values())


def test_labels_look_ahead_four_quarters_and_ignore_policy_and_voluntary_exits():
    d = date(2020, 6, 30)
    insts = [{"id": i, "template": "small_loan", "established_on": date(2015, 1, 1)} for i in (1, 2, 3)]
    filings = [
        {"institution_id": i, "period_end": period_of(pq), "data": {"equity": 1.0}}
        for i in (1, 2, 3)
        for pq in range(pq_of(date(2019, 3, 31)), pq_of(d) + 1)
    ]
    events = [
        {"institution_id": 1, "effective_on": date(2020, 5, 3), "event": "resolution",
         "status_after": "resolving", "reason": "大额逾期无法兑付，纳入风险处置"},
        {"institution_id": 2, "effective_on": date(2020, 5, 3), "event": "deregistered",
         "status_after": "deregistered", "reason": "空壳企业清理，主动申请注销"},
        {"institution_id": 3, "effective_on": date(2020, 5, 3), "event": "deregistered",
         "status_after": "deregistered", "reason": "股东决议解散，依法注销"},
    ]  # fmt: skip
    panel = panel_from_records(insts, filings, events)
    onset = challenger.onsets(panel, DISTRESS)
    assert dict(zip(onset["institution_id"], onset["kind"], strict=True)) == {
        1: "distress",
        2: "policy",
        3: "voluntary",
    }
    y = challenger.labels(panel, onset, 4)
    keys = panel.key()
    positive = {int(k % KEY) for k in keys[y == 1] if k // KEY == 1}
    event_pq = pq_of(date(2020, 6, 30))
    assert positive == {event_pq - k for k in range(1, 5)}  # the 4 quarters before, not the event's own
    assert not y[keys // KEY != 1].any()


def test_reason_classification_of_the_demo_reasons():
    c = lambda r: challenger.classify_reason(r, DISTRESS)  # noqa: E731
    assert c("按网贷风险专项整治要求，进入良性退出程序") == "policy"
    assert c("网贷风险专项整治：清退并注销") == "policy"
    assert c("列入经营异常名录（失联、空壳），取消经营资格") == "policy"
    assert c("主动申请注销私募基金管理人登记") == "voluntary"
    assert c("经营期限届满，办理注销") == "voluntary"
    assert c("经营难以为继，股东决议解散并注销") == "distress"
    assert c("因异常经营被基金业协会注销管理人登记") == "distress"
    assert c("主要风险指标持续恶化，责令停业整顿") == "distress"


def test_platt_scaling_recovers_a_known_logistic():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 1.5, 20_000)
    y = (rng.random(len(s)) < 1 / (1 + np.exp(-(0.7 * s - 1.0)))).astype(float)
    a, b = challenger.platt(s, y)
    assert a == pytest.approx(0.7, abs=0.05) and b == pytest.approx(-1.0, abs=0.05)
