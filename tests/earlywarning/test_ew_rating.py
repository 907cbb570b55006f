"""The CAMEL+RR scorecard: sub-scores by data-defined bands, renormalised weights, level cut-offs and
the worst contributions as reasons in Chinese."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from qiantang.earlywarning import indicators, rating, rules
from qiantang.earlywarning.panel import panel_from_records
from qiantang.earlywarning.rules import _package_doc

HEALTHY = {
    "registered_capital": 10_000.0,
    "total_assets": 15_000.0,
    "cash_and_deposits": 2_000.0,
    "loan_balance": 12_000.0,
    "loan_loss_provision": 400.0,
    "total_liabilities": 3_000.0,
    "bank_borrowings": 1_000.0,
    "shareholder_borrowings": 500.0,
    "bond_abs_financing": 0.0,
    "equity": 12_000.0,
    "largest_borrower_balance": 300.0,
    "largest_borrower_related_balance": 400.0,
    "top10_borrowers_balance": 2_000.0,
    "related_party_loans": 100.0,
    "overdue_1_90": 100.0,
    "overdue_91_180": 60.0,
    "overdue_181_360": 0.0,
    "overdue_over_360": 0.0,
    "npl_balance": 60.0,
    "interest_income": 450.0,
    "net_profit": 200.0,
}
DAY = date(2023, 6, 30)


def rate(data: dict, card: rating.Scorecard | None = None, **late):
    panel = panel_from_records(
        [{"id": 1, "template": "small_loan", "registered_capital": 1e8}],
        [{"institution_id": 1, "period_end": DAY, "data": data, **late}],
    )
    wide = indicators.compute(panel)
    ruleset = rules.load_rules("330100")
    history = rules.History(panel, wide)
    signals = rules.evaluate_limits(panel, wide, ruleset, history)
    card = card or rating.load_scorecard()
    inputs = rating.rating_inputs(panel, wide, ruleset, signals)
    return rating.score(panel, inputs, card), inputs


def test_a_healthy_company_is_green_with_few_reasons():
    r, _ = rate(HEALTHY)
    assert r.level.tolist() == ["green"] and r.score[0] >= 80
    assert set(r.dimensions[0]) == {"C", "A", "M", "E", "L", "RR"}


def test_reasons_name_the_worst_items_in_chinese():
    bad = dict(
        HEALTHY, overdue_91_180=3_000.0, overdue_181_360=1_200.0, npl_balance=4_500.0
    )  # 35% 90+ overdue
    r, _inputs = rate(bad)
    reasons = r.reasons[0]
    assert reasons and reasons[0].startswith("资产质量：逾期90天以上贷款占比 35.00%")
    assert "子项得分0" in reasons[0] and "拉低总分" in reasons[0]
    assert r.dimensions[0]["A"] < 40
    healthy, _ = rate(HEALTHY)
    assert r.score[0] < healthy.score[0]


def test_late_and_loss_making_returns_cost_points_in_the_right_dimensions():
    losing = dict(HEALTHY, net_profit=-1_500.0)  # −1,500 in H1: ROA −20% a year
    r, _ = rate(losing, submitted_at="2023-09-14 10:00:00")  # due 07-15: 61 days late
    reasons = " ".join(r.reasons[0])
    assert "盈利：年化总资产收益率" in reasons
    assert r.dimensions[0]["E"] < 30
    assert r.dimensions[0]["M"] < 100


def test_level_cut_offs_come_from_the_data():
    doc = copy.deepcopy(_package_doc("rating.toml"))
    card = rating.parse_scorecard(doc)
    scores = np.array([10.0, 39.99, 40.0, 54.9, 55.0, 69.99, 70.0, 100.0])
    assert card.level_of(scores).tolist() == [
        "red", "red", "orange", "orange", "yellow", "yellow", "green", "green"
    ]  # fmt: skip
    doc["levels"] = {"red": 50, "orange": 60, "yellow": 80}
    strict = rating.parse_scorecard(doc)
    r, _ = rate(HEALTHY, strict)
    base, _ = rate(HEALTHY)
    assert r.score[0] == base.score[0]  # same score, stricter levels
    assert strict.level_of(np.array([75.0])).tolist() == ["yellow"]


def test_a_missing_dimension_is_left_out_and_the_weights_renormalised():
    card = rating.load_scorecard()
    only_c = replace(card, items=tuple(i for i in card.items if i.dimension == "C"))
    r, _inputs = rate(HEALTHY, only_c)
    assert {k for k, v in r.dimensions[0].items() if v is not None} == {"C"}
    assert r.score[0] == pytest.approx(r.dimensions[0]["C"], abs=0.051)  # dimensions keep 1 decimal


def test_bands_interpolate_between_points():
    item = rating.Item(dimension="A", input="sl_npl_ratio", points=((3, 100), (6, 80), (12, 50)))
    assert item.score(np.array([0.0, 3.0, 4.5, 9.0, 50.0, np.nan])).tolist()[:5] == [100, 100, 90, 65, 50]
    with pytest.raises(ValueError):
        doc = copy.deepcopy(_package_doc("rating.toml"))
        doc["items"][0]["points"] = [[10, 0], [5, 100]]
        rating.parse_scorecard(doc)


def test_limit_usage_and_breaches_feed_the_rating():
    lev = dict(HEALTHY, bank_borrowings=14_000.0, shareholder_borrowings=4_000.0)  # 1.5× > 1×
    _r, inputs = rate(lev)
    assert inputs["usage_leverage"].iloc[0] == pytest.approx(150.0)
    assert inputs["limit_breaches"].iloc[0] >= 1
