"""Progress assessment of plan targets (qiantang.plan.progress), checked against hand arithmetic.

Every expected number below is worked out in the comment next to it, so a reviewer can redo it with
a pocket calculator. Notation as in docs/methods/progress.md: base (t0, y0), assessed point (ti, yi),
target (tT, yT); CAGR_obs = (yi/y0)^(1/(ti−t0)) − 1, CAGR_req = (yT/y0)^(1/(tT−t0)) − 1,
R = CAGR_obs / CAGR_req; bands R ≥ 0.95 substantial, ≥ 0.60 moderate, ≥ 0 limited, < 0 deterioration.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import random
from pathlib import Path

import pytest

from qiantang.plan.progress import (
    HORIZON_YEARS,
    Assessment,
    Bands,
    ProgressStatus,
    Projection,
    TargetSpec,
    assess,
    meets_target,
    status_for_ratio,
)

S = ProgressStatus
REPO = Path(__file__).resolve().parents[2]


def spec(**kw) -> TargetSpec:
    """A generic increasing level target: 100 (2015) → at least 200 by 2020, in 亿元."""
    base = dict(
        code="x",
        kind="level",
        direction="increase",
        comparison=">=",
        target_year=2020,
        target_value=200.0,
        baseline_year=2015,
        baseline_value=100.0,
        unit="亿元",
    )
    base.update(kw)
    return TargetSpec(**base)


# The plan's own targets (docs/reference/plan-targets.csv).
FIN_VALUE_ADDED = TargetSpec("fin_value_added", "level", "increase", ">", 2020, 1600, 2015, 941.47, "亿元")
FIN_SHARE_GDP = TargetSpec("fin_share_gdp", "share", "increase", ">=", 2020, 11, 2015, 9.2, "%")
NPL = TargetSpec("npl_ratio", "ratio", "decrease", "<", 2020, 1.6, 2015, 1.84, "%")
LISTED = TargetSpec("listed_companies", "level", "increase", ">=", 2020, 218, 2015, 118, "家")
NEW_HQ = TargetSpec("new_hq_branches", "increment", "increase", ">=", 2020, 35, 2015, 0, "家")
# The plan gives no baseline year for its flow targets; the 13th plan period is 2016–2020, so 2015 is
# the year the period starts after.
OTHER_INST = TargetSpec("new_other_institutions", "flow", "increase", ">=", 2020, 100, 2015, None, "家/年")

# CAGR_req for spec(): (200/100)^(1/5) − 1 = 2^0.2 − 1 = 1.148698 − 1 = 0.148698
REQ_100_200 = 2**0.2 - 1


def text(a: Assessment) -> str:
    return "\n".join(a.reasons)


def text_en(a: Assessment) -> str:
    return "\n".join(a.reasons_en)


# --------------------------------------------------------------------------------------------------
# Types


def test_status_labels_and_colours():
    assert [s.value for s in S] == [
        "target_achieved",
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
        "not_available",
    ]
    assert [s.zh for s in S] == [
        "目标已实现",
        "进展良好",
        "进展一般，需加快",
        "进展有限",
        "出现倒退",
        "无法评估",
    ]
    assert [s.en for s in S] == [
        "Target achieved",
        "Substantial progress",
        "Moderate progress, acceleration needed",
        "Limited progress",
        "Deterioration",
        "Not available",
    ]
    assert [s.colour for s in S] == ["achieved", "green", "yellow", "orange", "red", "grey"]
    assert S.MODERATE == "moderate_progress" and S("limited_progress") is S.LIMITED


def test_dataclasses_are_frozen():
    a = assess(spec(), {2015: 100, 2018: 150})
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.status = S.LIMITED  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Bands().substantial = 0.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec().target_value = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Projection("linear", 1.0, 2020).year_met = 2021  # type: ignore[misc]
    assert Bands() == Bands(0.95, 0.60, 0.0)


@pytest.mark.parametrize(
    "kw",
    [
        {"kind": "stock"},
        {"direction": "up"},
        {"comparison": "=="},
        {"comparison": "<"},  # contradicts direction "increase"
        {"direction": "decrease"},  # contradicts comparison ">="
        {"target_value": math.nan},
    ],
)
def test_target_spec_rejects_malformed_specs(kw):
    with pytest.raises(ValueError):
        spec(**kw)


def test_bands_validation():
    with pytest.raises(ValueError):
        Bands(substantial=0.5, moderate=0.6)
    with pytest.raises(ValueError):
        Bands(limited=math.nan)


def test_every_plan_target_builds_a_spec_and_is_not_available_without_data():
    with (REPO / "docs/reference/plan-targets.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 21
    for r in rows:
        s = TargetSpec(
            code=r["code"],
            kind=r["kind"],
            direction=r["direction"],
            comparison=r["target_rule"],
            target_year=int(r["target_year"]),
            target_value=float(r["target_value"]),
            baseline_year=int(r["baseline_year"]) if r["baseline_year"] else None,
            baseline_value=float(r["baseline_value"]) if r["baseline_value"] else None,
            unit=r["unit"],
        )
        a = assess(s, {})
        assert a.status is S.NOT_AVAILABLE, r["code"]
        assert a.reasons and len(a.reasons) == len(a.reasons_en)
        assert [p.method for p in a.projections] == ["compound", "linear"]


# --------------------------------------------------------------------------------------------------
# Every band for an increasing level target (100 in 2015 → ≥ 200 by 2020, CAGR_req = 0.148698)


@pytest.mark.parametrize(
    ("y2018", "cagr_obs", "ratio", "status"),
    [
        # (150/100)^(1/3) − 1 = 1.144714 − 1 = 0.144714; R = 0.144714 / 0.148698 = 0.97321 ≥ 0.95
        (150, 0.144714, 0.97321, S.SUBSTANTIAL),
        # (130/100)^(1/3) − 1 = 0.091393; R = 0.091393 / 0.148698 = 0.61462 ∈ [0.60, 0.95)
        (130, 0.091393, 0.61462, S.MODERATE),
        # (110/100)^(1/3) − 1 = 0.032280; R = 0.21708 ∈ [0, 0.60)
        (110, 0.032280, 0.21708, S.LIMITED),
        # no change: CAGR_obs = 0, R = 0 → still "limited" (the lower edge is inclusive)
        (100, 0.0, 0.0, S.LIMITED),
        # (90/100)^(1/3) − 1 = −0.034511; R = −0.23208 < 0
        (90, -0.034511, -0.23208, S.DETERIORATION),
    ],
)
def test_increasing_level_bands(y2018, cagr_obs, ratio, status):
    a = assess(spec(), {2015: 100, 2018: y2018})
    assert a.status is status
    assert (a.base_year, a.base_value, a.base_source) == (2015, 100, "observed")
    assert (a.assessed_year, a.assessed_value, a.after_target_year) == (2018, y2018, False)
    assert a.cagr_observed == pytest.approx(cagr_obs, abs=1e-6)
    assert a.cagr_required == pytest.approx(REQ_100_200)
    assert a.ratio == pytest.approx(ratio, abs=1e-5)
    # still needed from 2018: (200 / y2018)^(1/2) − 1
    assert a.required_growth_from_latest == pytest.approx((200 / y2018) ** 0.5 - 1)
    assert a.required_per_year_from_latest is None
    assert status.zh in text(a) and f"R = {ratio:.2f}" in text(a)


def test_achieved_at_target_year_still_reports_growth():
    a = assess(spec(), {2015: 100, 2020: 210})
    assert a.status is S.TARGET_ACHIEVED
    # (210/100)^(1/5) − 1 = 0.159962; R = 0.159962 / 0.148698 = 1.07575 (for information)
    assert a.cagr_observed == pytest.approx(0.159962, abs=1e-6)
    assert a.ratio == pytest.approx(1.07575, abs=1e-5)
    assert a.required_growth_from_latest is None
    assert "目标已实现" in text(a) and "Target achieved" in text_en(a)


def test_achieved_early():
    a = assess(spec(), {2015: 100, 2017: 160, 2018: 205})
    assert a.status is S.TARGET_ACHIEVED
    assert a.assessed_year == 2018 and not a.after_target_year
    assert "提前 2 年" in text(a)
    assert a.required_growth_from_latest is None
    # met already at ti: both projections say 2018
    assert [p.year_met for p in a.projections] == [2018, 2018]


def test_listed_companies_achieved_after_the_target_year():
    # 118 (2015) → 260 (2021, hangzhou-actuals.csv) vs ≥ 218 by 2020; no value for 2016–2020.
    a = assess(LISTED, {2015: 118, 2021: 260})
    assert a.status is S.TARGET_ACHIEVED
    assert a.after_target_year and a.assessed_year == 2021
    # (260/118)^(1/6) − 1 = 2.203390^(1/6) − 1 = 0.140727; CAGR_req = (218/118)^(1/5) − 1 = 0.130615
    assert a.cagr_observed == pytest.approx(0.140727, abs=1e-6)
    assert a.cagr_required == pytest.approx(0.130615, abs=1e-6)
    assert "目标年份之后" in text(a) and "2021" in text(a)
    assert "after the target year" in text_en(a)
    # the projections cannot say anything about 2020 from a 2021 value
    assert all(p.value_at_target_year is None for p in a.projections)


def test_only_post_target_data_is_still_assessable():
    # Base from the plan (no 2015 observation), value 200 in 2021: assessable, flagged.
    a = assess(LISTED, {2021: 200})
    assert a.base_source == "plan" and a.base_value == 118
    assert a.after_target_year
    # CAGR_obs = (200/118)^(1/6) − 1 = 0.091921; R = 0.091921 / 0.130615 = 0.70376 → moderate
    assert a.ratio == pytest.approx(0.70376, abs=1e-5)
    assert a.status is S.MODERATE
    assert "目标未实现" in text(a) and "规划所列基期值" in text(a)
    assert a.required_growth_from_latest is None  # ti ≥ tT


def test_values_up_to_the_target_year_win_over_later_ones():
    a = assess(spec(), {2015: 100, 2018: 130, 2021: 300})
    assert a.assessed_year == 2018 and not a.after_target_year
    assert a.status is S.MODERATE


def test_as_of_year_ignores_later_years():
    series = {2015: 100, 2018: 130, 2019: 190}
    # all data: (190/100)^(1/4) − 1 = 0.174055; R = 1.17052 → substantial (190 < 200: not achieved)
    a = assess(spec(), series)
    assert a.assessed_year == 2019 and a.status is S.SUBSTANTIAL
    assert a.ratio == pytest.approx(1.17052, abs=1e-5)
    b = assess(spec(), series, as_of_year=2018)
    assert b.assessed_year == 2018 and b.status is S.MODERATE
    assert "截至2018年" in text(b)


# --------------------------------------------------------------------------------------------------
# Not available


@pytest.mark.parametrize(
    "series",
    [
        {2015: 100},  # only the base year
        {},  # nothing at all (the base comes from the plan)
        {2014: 95, 2015: 100},  # only years up to the base
        {2015: 100, 2018: math.nan, 2019: math.inf},  # non-finite values are not observations
    ],
)
def test_not_available_without_data_after_the_base(series):
    a = assess(spec(), series)
    assert a.status is S.NOT_AVAILABLE
    assert "无基期之后的实际数据" in text(a)
    assert "No data after the base year" in text_en(a)
    assert a.ratio is None and a.assessed_year is None


def test_not_available_without_any_base():
    a = assess(spec(baseline_value=None), {2018: 150})
    assert a.status is S.NOT_AVAILABLE and "无法确定基期" in text(a)
    b = assess(spec(baseline_year=None, baseline_value=None), {})
    assert b.status is S.NOT_AVAILABLE and b.base_year is None


def test_not_available_with_a_non_positive_base():
    a = assess(spec(baseline_value=0.0), {2018: 150})
    assert a.status is S.NOT_AVAILABLE
    assert "不为正数" in text(a)
    assert a.assessed_year == 2018  # the point is known; only the growth rate is undefined


def test_earliest_observation_is_the_base_when_the_plan_has_none():
    # insurance_depth-like: no plan baseline; 3.0 % in 2016, 3.6 % in 2019, ≥ 4.2 % by 2020.
    s = spec(kind="ratio", baseline_year=None, baseline_value=None, target_value=4.2, unit="%")
    a = assess(s, {2016: 3.0, 2019: 3.6})
    assert (a.base_year, a.base_value, a.base_source) == (2016, 3.0, "observed")
    # CAGR_obs = (3.6/3.0)^(1/3) − 1 = 0.062659; CAGR_req = (4.2/3.0)^(1/4) − 1 = 0.087757;
    # R = 0.71400 → moderate
    assert a.ratio == pytest.approx(0.71400, abs=1e-5)
    assert a.status is S.MODERATE
    assert "规划未设基期" in text(a)


def test_earliest_observation_after_the_target_year():
    s = spec(kind="ratio", baseline_year=None, baseline_value=None, target_value=4.2, unit="%")
    # The only observation is the base itself → nothing after it.
    assert assess(s, {2021: 4.5}).status is S.NOT_AVAILABLE
    # Base 2021 (after 2020): no required rate, but an achieved target is still achieved.
    assert assess(s, {2021: 4.5, 2022: 5.0}).status is S.TARGET_ACHIEVED
    b = assess(s, {2021: 3.0, 2022: 3.5})
    assert b.status is S.NOT_AVAILABLE and "不早于目标年份" in text(b)


# --------------------------------------------------------------------------------------------------
# A decreasing target: 不良贷款率 1.84 % (2015) → < 1.6 % by 2020


def test_npl_falling_slower_than_required_is_moderate():
    a = assess(NPL, {2015: 1.84, 2018: 1.7})
    # CAGR_obs = (1.7/1.84)^(1/3) − 1 = 0.923913^(1/3) − 1 = −0.026034
    # CAGR_req = (1.6/1.84)^(1/5) − 1 = 0.869565^(1/5) − 1 = −0.027565
    # R = −0.026034 / −0.027565 = 0.94445 (both negative: R > 0), just under 0.95 → moderate
    assert a.cagr_observed == pytest.approx(-0.026034, abs=1e-6)
    assert a.cagr_required == pytest.approx(-0.027565, abs=1e-6)
    assert a.ratio == pytest.approx(0.94445, abs=1e-5)
    assert a.status is S.MODERATE
    # still needed: (1.6/1.7)^(1/2) − 1 = −0.029857, i.e. fall 2.99 % a year
    assert a.required_growth_from_latest == pytest.approx(-0.029857, abs=1e-6)
    assert "年均下降 2.60%" in text(a) and "年均下降 2.76%" in text(a) and "年均下降 2.99%" in text(a)
    # compound: 1.7 × 0.973966^2 = 1.6126 (not < 1.6) in 2020; 1.7 × 0.973966^3 = 1.5706 in 2021
    compound = a.projection("compound")
    assert compound.value_at_target_year == pytest.approx(1.6126, abs=1e-4)
    assert compound.year_met == 2021


def test_npl_rising_is_deterioration():
    a = assess(NPL, {2015: 1.84, 2018: 2.0})
    # CAGR_obs = (2.0/1.84)^(1/3) − 1 = +0.028184; R = 0.028184 / −0.027565 = −1.02243 < 0
    assert a.ratio == pytest.approx(-1.02243, abs=1e-5)
    assert a.status is S.DETERIORATION
    assert [p.year_met for p in a.projections] == [None, None]  # moving away from the target


def test_npl_below_target_is_achieved():
    a = assess(NPL, {2015: 1.84, 2019: 1.5})
    assert a.status is S.TARGET_ACHIEVED


def test_base_already_meeting_the_target_then_falling_back_is_deterioration():
    # Base 1.5 % already < 1.6 %; 1.7 % in 2018 no longer is. CAGR_req = (1.6/1.5)^(1/5) − 1 = +0.012991,
    # the wrong sign for a decreasing target, so R is meaningless.
    s = dataclasses.replace(NPL, baseline_value=1.5)
    a = assess(s, {2018: 1.7})
    assert a.status is S.DETERIORATION
    assert a.ratio is None
    assert a.cagr_required == pytest.approx(0.012991, abs=1e-6)
    assert "基期已达到目标，当前值回落" in text(a)


def test_required_rate_zero_is_deterioration():
    # Base equals the target (200 → > 200): CAGR_req = 0.
    a = assess(spec(comparison=">", baseline_value=200.0), {2018: 190})
    assert a.status is S.DETERIORATION and a.ratio is None
    assert a.cagr_required == 0


# --------------------------------------------------------------------------------------------------
# A share target whose plan baseline differs from the data


def test_share_plan_baseline_differs_from_observed():
    observed_2015 = 941.47 / 10050.21 * 100  # = 9.36766 %, the plan states 9.2 % (1.82 % apart)
    a = assess(FIN_SHARE_GDP, {2015: observed_2015, 2019: 10.5})
    assert a.base_source == "observed" and a.base_value == pytest.approx(9.36766, abs=1e-5)
    assert "9.20%" in text(a) and "9.37%" in text(a)
    assert "9.20%" in text_en(a) and "9.37%" in text_en(a)
    # CAGR_obs = (10.5/9.36766)^(1/4) − 1 = 0.028939; CAGR_req = (11/9.36766)^(1/5) − 1 = 0.032648
    # R = 0.88639 → moderate
    assert a.ratio == pytest.approx(0.88639, abs=1e-5)
    assert a.status is S.MODERATE
    # the linear slope of a percentage is in percentage points
    assert "个百分点" in text(a)


def test_share_plan_baseline_within_half_a_percent_is_not_mentioned():
    a = assess(FIN_SHARE_GDP, {2015: 9.22, 2019: 10.5})  # |9.22 − 9.2| / 9.2 = 0.22 % ≤ 0.5 %
    assert "规划所列" not in text(a)


# --------------------------------------------------------------------------------------------------
# Increment: cumulative count from 0 (new HQs since 2015: ≥ 35 by 2020)


def test_increment_substantial():
    a = assess(NEW_HQ, {2015: 0, 2016: 5, 2017: 12, 2018: 20})
    # observed (20 − 0)/(2018 − 2015) = 6.667 a year; required (35 − 0)/(2020 − 2015) = 7 a year
    # R = 6.667 / 7 = 0.95238 ≥ 0.95 → substantial
    assert a.observed_per_year == pytest.approx(20 / 3)
    assert a.required_per_year == pytest.approx(7)
    assert a.ratio == pytest.approx(0.95238, abs=1e-5)
    assert a.status is S.SUBSTANTIAL
    assert a.cagr_observed is None and a.cagr_required is None
    # still needed: (35 − 20)/(2020 − 2018) = 7.5 a year
    assert a.required_per_year_from_latest == pytest.approx(7.5)
    assert a.required_growth_from_latest is None
    # compound is undefined from 0
    assert a.projection("compound") == Projection("compound", None, None)
    # OLS over (0,0) (1,5) (2,12) (3,20) (x = year − 2015): x̄ = 1.5, ȳ = 9.25,
    # Sxy = (−1.5)(−9.25) + (−0.5)(−4.25) + (0.5)(2.75) + (1.5)(10.75) = 33.5, Sxx = 5 → slope 6.7
    # from (2018, 20): 2020 → 20 + 2 × 6.7 = 33.4 (< 35); 2021 → 40.1 ≥ 35
    linear = a.projection("linear")
    assert linear.rate == pytest.approx(6.7)
    assert linear.value_at_target_year == pytest.approx(33.4)
    assert linear.year_met == 2021
    assert "年均新增 6.67 家" in text(a) and "年均新增 7 家" in text(a) and "年均新增 7.50 家" in text(a)


def test_increment_limited():
    a = assess(NEW_HQ, {2015: 0, 2018: 10})
    # R = (10/3) / 7 = 0.47619 → limited
    assert a.ratio == pytest.approx(0.47619, abs=1e-5)
    assert a.status is S.LIMITED
    # two points: the line through them, slope 10/3; 2020 → 10 + 2 × 3.333 = 16.67
    assert a.projection("linear").value_at_target_year == pytest.approx(10 + 20 / 3)


def test_increment_achieved():
    assert assess(NEW_HQ, {2015: 0, 2019: 36}).status is S.TARGET_ACHIEVED


# --------------------------------------------------------------------------------------------------
# Flow: a per-year amount (其他金融机构年均新增 ≥ 100 家)


def test_flow_partial_period():
    a = assess(OTHER_INST, {2016: 80, 2017: 90, 2018: 100})
    # mean of 2016–2018 = (80 + 90 + 100)/3 = 90; R = 90/100 = 0.90 → moderate
    assert (a.base_year, a.base_value, a.base_source) == (2015, None, "plan")
    assert a.observed_per_year == pytest.approx(90)
    assert a.required_per_year == 100
    assert a.ratio == pytest.approx(0.90)
    assert a.status is S.MODERATE
    # still needed per remaining year: (100 × (2020 − 2015) − 270)/(2020 − 2018) = 230/2 = 115
    assert a.required_per_year_from_latest == pytest.approx(115)
    # Flows follow their OLS line (slope 10) from (2018, 100): 2019 → 110, 2020 → 120.
    # Period mean: 2019 → (270 + 110)/4 = 95 (< 100); 2020 → (270 + 110 + 120)/5 = 100 (≥ 100)
    linear = a.projection("linear")
    assert linear.rate == pytest.approx(10)
    assert linear.value_at_target_year == pytest.approx(100)
    assert linear.year_met == 2020
    assert a.projection("compound") == Projection("compound", None, None)
    assert "年均 90 家" in text(a) and "115 家" in text(a)


def test_flow_achieved_only_over_the_whole_period():
    # 2016–2020: 100, 110, 95, 105, 100 → mean 510/5 = 102 ≥ 100 and ti = 2020 → achieved
    full = assess(OTHER_INST, {2016: 100, 2017: 110, 2018: 95, 2019: 105, 2020: 100})
    assert full.status is S.TARGET_ACHIEVED
    assert full.observed_per_year == pytest.approx(102)
    # 2016–2017: mean (120 + 110)/2 = 115 ≥ 100 but ti = 2017 < 2020 → judged by R = 1.15
    part = assess(OTHER_INST, {2016: 120, 2017: 110})
    assert part.status is S.SUBSTANTIAL and part.ratio == pytest.approx(1.15)
    # still needed: (500 − 230)/3 = 90
    assert part.required_per_year_from_latest == pytest.approx(90)
    # whole period but mean (90 + 95 + 100 + 105 + 95)/5 = 97 < 100: R = 0.97 → substantial, missed
    missed = assess(OTHER_INST, {2016: 90, 2017: 95, 2018: 100, 2019: 105, 2020: 95})
    assert missed.status is S.SUBSTANTIAL and missed.ratio == pytest.approx(0.97)
    assert "目标未实现" in text(missed)


def test_flow_with_missing_years():
    a = assess(OTHER_INST, {2016: 90, 2018: 110})
    # mean over the 2 years with data = 100; still needed counts 2017 as 0: (500 − 200)/2 = 150
    assert a.observed_per_year == pytest.approx(100)
    assert a.required_per_year_from_latest == pytest.approx(150)
    assert "仅 2 年有数据" in text(a)


def test_flow_without_baseline_year_starts_after_the_earliest_observation():
    s = dataclasses.replace(OTHER_INST, baseline_year=None)
    a = assess(s, {2016: 80, 2017: 90, 2018: 100})
    # base 2016 (its flow is the starting point); mean of 2017–2018 = 95 → R = 0.95 → substantial
    assert a.base_year == 2016 and a.observed_per_year == pytest.approx(95)
    assert a.status is S.SUBSTANTIAL
    assert "不计入期内年均值" in text(a)


def test_flow_decreasing_is_not_assessed():
    s = dataclasses.replace(OTHER_INST, direction="decrease", comparison="<=")
    a = assess(s, {2016: 80, 2017: 90})
    assert a.status is S.NOT_AVAILABLE and a.reasons


# --------------------------------------------------------------------------------------------------
# Strict vs inclusive comparison at exactly the target value


def test_strict_comparison_at_the_target_is_not_achieved():
    a = assess(FIN_VALUE_ADDED, {2015: 941.47, 2020: 1600})
    assert a.status is not S.TARGET_ACHIEVED
    # 1600 in 2020 is exactly the required path: CAGR_obs = CAGR_req, R = 1 → substantial
    assert a.ratio == pytest.approx(1.0)
    assert a.status is S.SUBSTANTIAL
    assert "目标未实现" in text(a)
    assert assess(FIN_VALUE_ADDED, {2015: 941.47, 2020: 1600.01}).status is S.TARGET_ACHIEVED


def test_inclusive_comparison_at_the_target_is_achieved():
    assert assess(LISTED, {2015: 118, 2020: 218}).status is S.TARGET_ACHIEVED
    assert assess(LISTED, {2015: 118, 2020: 217}).status is not S.TARGET_ACHIEVED


def test_meets_target():
    assert meets_target(218, ">=", 218) and not meets_target(218, ">", 218)
    assert meets_target(1.6, "<=", 1.6) and not meets_target(1.6, "<", 1.6)
    assert meets_target(0.1 + 0.2, "<=", 0.3)  # float noise is equality


# --------------------------------------------------------------------------------------------------
# Bands are parameters


def test_bands_are_configurable():
    series = {2015: 100, 2018: 130}  # R = 0.61462 (see the band test)
    assert assess(spec(), series).status is S.MODERATE
    assert assess(spec(), series, bands=Bands(substantial=0.6, moderate=0.3)).status is S.SUBSTANTIAL
    assert assess(spec(), series, bands=Bands(substantial=0.99, moderate=0.7)).status is S.LIMITED
    assert assess(spec(), series, bands=Bands(0.99, 0.8, 0.7)).status is S.DETERIORATION
    a = assess(spec(), series, bands=Bands(0.99, 0.7, 0.0))
    assert "0.00 ≤ R < 0.70" in text(a)


def test_band_edges():
    assert status_for_ratio(0.95) is S.SUBSTANTIAL
    assert status_for_ratio(0.9499) is S.MODERATE
    assert status_for_ratio(0.60) is S.MODERATE
    assert status_for_ratio(0.5999) is S.LIMITED
    assert status_for_ratio(0.0) is S.LIMITED
    assert status_for_ratio(-0.0001) is S.DETERIORATION
    # Float noise does not cross an edge: increment 0 → 4.56 (2018) vs ≥ 8 by 2020:
    # (4.56/3)/(8/5) = 1.52/1.6 = 0.95 exactly, computed as 0.9499999999999998.
    a = assess(dataclasses.replace(NEW_HQ, target_value=8), {2015: 0, 2018: 4.56})
    assert a.ratio < 0.95 and a.ratio == pytest.approx(0.95)
    assert a.status is S.SUBSTANTIAL


# --------------------------------------------------------------------------------------------------
# Projections


def test_projection_years_on_a_constructed_series():
    # 10 % a year exactly: 100, 110, 121, 133.1 (2015–2018); target > 200 by 2020.
    a = assess(spec(comparison=">"), {2015: 100, 2016: 110, 2017: 121, 2018: 133.1})
    # CAGR_obs = (133.1/100)^(1/3) − 1 = 1.331^(1/3) − 1 = 0.10; R = 0.10/0.148698 = 0.67250 → moderate
    assert a.cagr_observed == pytest.approx(0.10)
    assert a.ratio == pytest.approx(0.67250, abs=1e-5)
    assert a.status is S.MODERATE
    # compound: 2020 → 133.1 × 1.1² = 161.051; met when 133.1 × 1.1^k > 200,
    # k > ln(200/133.1)/ln(1.1) = 0.40722/0.09531 = 4.27 → k = 5 → 2023
    compound = a.projection("compound")
    assert compound.value_at_target_year == pytest.approx(161.051)
    assert compound.year_met == 2023
    # linear: x = 0..3, x̄ = 1.5, ȳ = 464.1/4 = 116.025; y − ȳ = −16.025, −6.025, 4.975, 17.075
    # Sxy = 24.0375 + 3.0125 + 2.4875 + 25.6125 = 55.15, Sxx = 5 → slope 11.03
    # 2020 → 133.1 + 2 × 11.03 = 155.16; met when 133.1 + 11.03k > 200, k > 6.065 → k = 7 → 2025
    linear = a.projection("linear")
    assert linear.rate == pytest.approx(11.03)
    assert linear.value_at_target_year == pytest.approx(155.16)
    assert linear.year_met == 2025
    assert "预计2023年达到目标" in text(a) and "预计2025年达到目标" in text(a)
    assert "按当前复合增速" in text(a)


def test_projection_horizon():
    # Linear from (2015, 94) and (2018, 100): slope 2 a year. ≥ 200 needs k = 50 → 2068 (inside);
    # ≥ 202 needs k = 51 → beyond the 50-year horizon → None.
    assert HORIZON_YEARS == 50
    inside = assess(spec(baseline_value=94.0), {2018: 100})
    assert inside.projection("linear").year_met == 2068
    outside = assess(spec(baseline_value=94.0, target_value=202.0), {2018: 100})
    assert outside.projection("linear").year_met is None
    # 0.1 % a year would take about 700 years: None for both, with a reason saying so.
    slow = assess(spec(), {2015: 100, 2018: 100.3})
    assert [p.year_met for p in slow.projections] == [None, None]
    assert "50年内无法达到目标" in text(slow)


def test_projection_moving_away_never_meets():
    a = assess(spec(), {2015: 100, 2017: 95, 2018: 90})
    assert a.status is S.DETERIORATION
    assert [p.year_met for p in a.projections] == [None, None]
    assert a.projection("compound").value_at_target_year == pytest.approx(90 * 0.965489**2, rel=1e-5)
    assert "走势背离目标" in text(a) and "moves away from the target" in text_en(a)


# --------------------------------------------------------------------------------------------------
# Reasons


def test_reasons_read_out_the_numbers():
    a = assess(FIN_VALUE_ADDED, {2015: 941.47, 2019: 1330})
    # CAGR_obs = (1330/941.47)^(1/4) − 1 = 1.412684^(1/4) − 1 = 0.090213 → 9.02 %
    # CAGR_req = (1600/941.47)^(1/5) − 1 = 1.699470^(1/5) − 1 = 0.111892 → 11.19 %
    # R = 0.090213 / 0.111892 = 0.80625 → 0.81, moderate
    # still needed from 2019: 1600/1330 − 1 = 0.203008 → 20.30 %
    # compound from 2019: 2020 → 1330 × 1.090213 = 1,449.98; 2021 → × 1.090213² = 1,580.8 (not > 1600);
    # 2022 → × 1.090213³ = 1,723.4 → met in 2022
    # linear: slope (1330 − 941.47)/4 = 97.1325; 2020 → 1,427.13; 1330 + 97.13k > 1600, k > 2.78 → 2022
    assert a.status is S.MODERATE
    assert a.reasons[0] == (
        "2015年基期 941.47 亿元，2019年 1,330.00 亿元，年均增长 9.02%；"
        "实现2020年目标（高于 1,600.00 亿元）需年均增长 11.19%，完成比 R = 0.81，进展一般，需加快"
    )
    zh = text(a)
    for needle in (
        "0.60 ≤ R < 0.95",
        "年均增长 20.30%",
        "按当前复合增速",
        "预计2022年达到目标",
        "1,449.98 亿元",
        "1,427.13 亿元",
    ):
        assert needle in zh, needle
    en = text_en(a)
    for needle in ("941.47 CNY 100m", "1,330.00 CNY 100m", "9.02%", "11.19%", "R = 0.81", "2022"):
        assert needle in en, needle
    assert len(a.reasons) == len(a.reasons_en)


# --------------------------------------------------------------------------------------------------
# Property-style: random series, status consistent with R and the bands


def _random_case(rng: random.Random) -> tuple[TargetSpec, dict[int, float], Bands]:
    kind = rng.choice(["level", "share", "ratio", "increment", "flow"])
    direction = "increase" if kind == "flow" else rng.choice(["increase", "decrease"])
    comparison = rng.choice([">", ">="] if direction == "increase" else ["<", "<="])
    t0 = rng.choice([2010, 2015])
    tT = t0 + rng.randint(1, 8)
    has_base_year = rng.random() < 0.8
    y0 = 0.0 if kind == "increment" else rng.uniform(1, 100)
    factor = rng.uniform(1.05, 2.5) if direction == "increase" else rng.uniform(0.3, 0.95)
    sign = 1 if direction == "increase" else -1
    yT = rng.uniform(1, 50) * sign if kind == "increment" else y0 * factor
    if rng.random() < 0.05:
        yT = y0  # required rate zero
    s = TargetSpec(
        "r",
        kind,
        direction,
        comparison,
        tT,
        round(yT, 2),
        t0 if has_base_year else None,
        round(y0, 2) if rng.random() < 0.7 else None,
        rng.choice(["亿元", "%", "家"]),
    )
    series: dict[int, float] = {}
    for year in range(t0 - 1, tT + 4):
        if rng.random() < 0.5:
            if kind == "flow":
                series[year] = rng.uniform(0, 2 * yT)
            elif kind == "increment":
                series[year] = rng.uniform(-10, 60)
            else:
                series[year] = y0 * rng.uniform(0.2, 3.0) if rng.random() > 0.03 else math.nan
    lo = rng.uniform(-0.5, 0.5)
    mid = rng.uniform(lo, 1.0)
    bands = Bands(rng.uniform(mid, 1.5), mid, lo)
    return s, series, bands


def test_random_series_status_is_consistent_with_ratio_and_bands():
    rng = random.Random(20160128)
    seen: set[S] = set()
    for _ in range(3000):
        s, series, bands = _random_case(rng)
        a = assess(s, series, bands=bands)
        seen.add(a.status)
        assert a.reasons and len(a.reasons) == len(a.reasons_en)
        assert [p.method for p in a.projections] == ["compound", "linear"]
        if a.status is S.NOT_AVAILABLE:
            continue
        ti, t0 = a.assessed_year, a.base_year
        assert ti is not None and t0 is not None and ti > t0
        assert a.after_target_year == (ti > s.target_year)
        if a.after_target_year:
            assert not [y for y in series if t0 < y <= s.target_year and math.isfinite(series[y])]
        # achieved ⇔ the assessed value (or, for a flow, the period mean at tT) meets the target
        if s.kind == "flow":
            achieved = ti == s.target_year and meets_target(a.observed_per_year, s.comparison, s.target_value)
        else:
            achieved = meets_target(a.assessed_value, s.comparison, s.target_value)
        assert (a.status is S.TARGET_ACHIEVED) == achieved
        if achieved:
            continue
        if a.ratio is None:
            # only the "base already met / required rate zero" edge case
            assert a.status is S.DETERIORATION
            assert "基期" in text(a)
        else:
            assert a.status is status_for_ratio(a.ratio, bands)
            r = round(a.ratio, 9)
            assert (a.status is S.SUBSTANTIAL) == (r >= bands.substantial)
            assert (a.status is S.DETERIORATION) == (r < bands.limited)
            assert f"R = {a.ratio:.2f}" in text(a)
        for p in a.projections:
            assert p.year_met is None or ti <= p.year_met <= ti + HORIZON_YEARS
    assert seen == set(S)


def test_status_is_monotone_in_the_latest_value():
    order = [S.DETERIORATION, S.LIMITED, S.MODERATE, S.SUBSTANTIAL, S.TARGET_ACHIEVED]
    for s, values in (
        (spec(), [60 + 2 * i for i in range(100)]),
        (NPL, [2.5 - 0.01 * i for i in range(150)]),
        (NEW_HQ, [-5 + 0.5 * i for i in range(100)]),
    ):
        ranks = [order.index(assess(s, {2015: s.baseline_value, 2018: v}).status) for v in values]
        assert ranks == sorted(ranks), s.code
        assert ranks[0] == 0 and ranks[-1] == 4


# --------------------------------------------------------------------------------------------------
# Natural bounds (rule 8a) and secured yearly averages


def test_a_falling_count_is_never_projected_below_zero():
    # Flows 2016–2018: 60, 30, 0 → OLS slope −30, anchored at (2018, 0): 2019 → −30, 2020 → −60
    # on the line, but no year can add fewer than 0 institutions: both held at 0.
    # Period mean at 2020: (90 + 0 + 0)/5 = 18 (unbounded it would be (90 − 30 − 60)/5 = 0).
    a = assess(OTHER_INST, {2016: 60, 2017: 30, 2018: 0})
    linear = a.projection("linear")
    assert linear.rate == pytest.approx(-30)
    assert linear.value_at_target_year == pytest.approx(18)
    assert linear.year_met is None


def test_a_level_is_never_projected_below_zero():
    # 100 (2015) → 60 (2016) → 20 (2017): slope −40; on the line 2020 would be 20 − 3 × 40 = −100.
    a = assess(spec(), {2015: 100, 2016: 60, 2017: 20})
    assert a.projection("linear").value_at_target_year == 0


def test_a_share_is_never_projected_above_a_hundred_percent():
    share = spec(kind="share", unit="%", baseline_value=50, target_value=90)
    bounded = dataclasses.replace(share, lower_bound=0.0, upper_bound=100.0)
    # 50 → 70 → 90 by 2017: slope 20 a year; on the line 2020 is 90 + 3 × 20 = 150 %.
    a = assess(bounded, {2015: 50, 2016: 70, 2017: 90})
    assert a.projection("linear").value_at_target_year == 100


def test_natural_bounds_by_kind_and_unit():
    from qiantang.plan.progress import natural_bounds

    assert natural_bounds("flow", "家/年") == (0.0, None)
    assert natural_bounds("share", "%") == (0.0, 100.0)
    assert natural_bounds("ratio", "%") == (0.0, 100.0)
    assert natural_bounds("ratio", "元/人") == (0.0, None)


def test_a_yearly_average_already_secured_says_so_instead_of_a_negative_need():
    # 2016–2018: 300, 200, 170 → total 670 ≥ 100 × 5 = 500: even 0 in 2019 and 2020 keeps the
    # period mean at 670/5 = 134 ≥ 100. The old wording: "剩余 2 年需年均 −85 家".
    a = assess(OTHER_INST, {2016: 300, 2017: 200, 2018: 170})
    assert a.secured and a.required_per_year_from_latest is None
    assert "目标已有保障" in text(a) and "670 家" in text(a)
    assert "需年均 -" not in text(a) and "需年均 −" not in text(a)
    assert "secure the target" in text_en(a)
    # One short of securing it: (500 − 499)/2 = 0.5 a year still needed.
    b = assess(OTHER_INST, {2016: 300, 2017: 100, 2018: 99})
    assert not b.secured and b.required_per_year_from_latest == pytest.approx(0.5)
