"""The listing pipeline's arithmetic on hand-made histories: rates, funnel, median time, forecast."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from qiantang.listing.pipeline import (
    History,
    estimate,
    expected_listings,
    forecast,
    funnel,
    kaplan_meier_median,
    yearly_probabilities,
)

AS_OF = date(2025, 12, 31)
Y = 365.25


def at(years_before: float) -> date:
    return AS_OF - timedelta(days=round(years_before * Y))


def test_rates_are_events_over_exposure_years():
    histories = [
        # 2 years enrolled then reformed 1 year ago: enrolled 2 y (moved on), reformed 1 y (open)
        History(((0, at(3)), (1, at(1)))),
        # 1 year enrolled, then left: 1 y, one exit
        History(((0, at(2)),), left_on=at(1)),
        # enrolled 4 years ago, still there: 4 y open
        History(((0, at(4)),)),
    ]
    r = estimate(histories, AS_OF)
    assert r.exposure[0] == pytest.approx(2 + 1 + 4, abs=0.01)
    assert (r.advanced[0], r.left[0]) == (1, 1)
    assert r.advance_hazard[0] == pytest.approx(1 / 7, rel=1e-3)
    assert r.exposure[1] == pytest.approx(1, abs=0.01) and r.advanced[1] == 0


def test_yearly_probabilities_from_competing_hazards():
    # λa = 0.3, λw = 0.1 a year: P(any move) = 1 − e^−0.4 = 0.32968; split 3 : 1
    p_adv, p_left = yearly_probabilities(np.array([0.3]), np.array([0.1]))
    assert p_adv[0] == pytest.approx(0.75 * (1 - math.exp(-0.4)))
    assert p_left[0] == pytest.approx(0.25 * (1 - math.exp(-0.4)))


def test_expected_listings_through_a_known_chain():
    # Only stage 4 (审核/注册) holds firms: 10 of them, advancing with yearly probability p, no exits.
    # Year 1: 10p listings; year 2: 10(1 − p)p.
    lam = np.array([0, 0, 0, 0, math.log(2)])  # p = 1 − e^−ln2 = 0.5
    out = expected_listings(np.array([0, 0, 0, 0, 10]), lam, np.zeros(5), 2)
    assert out == pytest.approx([5.0, 2.5])
    # From stage 3 the first listing can only come in year 2: 10 · 0.5 · 0.5
    out = expected_listings(np.array([0, 0, 0, 10, 0]), np.full(5, math.log(2)), np.zeros(5), 2)
    assert out == pytest.approx([0.0, 2.5])


def test_forecast_mean_matches_the_exact_chain_and_the_interval_covers_it():
    histories = []
    # 40 firms took exactly one year in 审核/注册 before listing (hazard 1 a year) …
    for i in range(40):
        start = at(6 + i * 0.01)
        histories.append(History(((4, start), (5, start + timedelta(days=round(Y))))))
    # … and 20 are in it today, having arrived at the year end.
    histories += [History(((4, AS_OF),)) for _ in range(20)]
    f = forecast(histories, as_of=AS_OF, years=2, simulations=4000)
    assert f.years == (2026, 2027)
    assert f.in_reserve == (0, 0, 0, 0, 20)
    p = 1 - math.exp(-1.0)
    assert f.expected[0] == pytest.approx(20 * p, rel=0.02)
    assert f.expected[1] == pytest.approx(20 * (1 - p) * p, rel=0.02)
    assert f.low[0] <= f.expected[0] <= f.high[0]
    assert f.high[0] - f.low[0] > 0


def test_funnel_counts_conversions_and_kaplan_meier_median():
    histories = [
        History(((0, at(5)), (1, at(4)), (2, at(3)), (3, at(2)), (4, at(1.5)), (5, at(1)))),
        History(((0, at(4)), (1, at(3)))),
        History(((0, at(3)),), left_on=at(2)),
        History(((0, at(2)), (2, at(1)))),  # skipped the reform stage (already a joint-stock firm)
    ]
    rows = funnel(histories, AS_OF)
    assert [r.reached for r in rows] == [4, 3, 2, 1, 1, 1]
    assert rows[0].conversion == pytest.approx(3 / 4) and rows[1].conversion == pytest.approx(2 / 3)
    assert rows[0].left_here == 1 and rows[1].still_here == 1 and rows[2].still_here == 1
    # Stage 0 spells: 1 y (moved), 1 y (moved), 1 y (left: censored), 1 y (moved) → S drops at 1 y
    assert rows[0].median_years == pytest.approx(1.0, abs=0.01)


def test_kaplan_meier_median_with_censoring():
    # Times 1, 2, 3, 4; the 2 is censored: S(1) = 3/4, S(3) = 3/4 · 1/2 = 0.375 → median 3
    assert kaplan_meier_median([1, 2, 3, 4], [True, False, True, True]) == 3
    assert kaplan_meier_median([1, 2], [False, False]) is None
