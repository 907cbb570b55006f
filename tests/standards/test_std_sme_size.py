"""《中小企业划型标准规定》 (工信部联企业〔2011〕300号) thresholds and rule (reference §3).

The table below is copied by hand from the reference, independently of data/sme_size_2011.csv, so that
the CSV is checked against it. X = employees (人), Y = revenue_wan, Z = assets_wan (万元).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from qiantang.standards.sme_size import (
    SIZE_RULE,
    SIZE_SECTORS,
    SizeClass,
    classify_sector_size,
    classify_size,
    classify_size_array,
    sector_for_industry,
)

X, Y, Z = "employees", "revenue_wan", "assets_wan"

# sector: (a code in the sector, ceiling of 中小微, 中型 lower bounds, 小型 lower bounds)
REFERENCE = {
    "agriculture": ("A0111", {Y: 20000}, {Y: 500}, {Y: 50}),
    "industry": ("C3911", {X: 1000, Y: 40000}, {X: 300, Y: 2000}, {X: 20, Y: 300}),
    "construction": ("E4710", {Y: 80000, Z: 80000}, {Y: 6000, Z: 5000}, {Y: 300, Z: 300}),
    "wholesale": ("51", {X: 200, Y: 40000}, {X: 20, Y: 5000}, {X: 5, Y: 1000}),
    "retail": ("5212", {X: 300, Y: 20000}, {X: 50, Y: 500}, {X: 10, Y: 100}),
    "transport": ("54", {X: 1000, Y: 30000}, {X: 300, Y: 3000}, {X: 20, Y: 200}),
    "warehousing": ("G59", {X: 200, Y: 30000}, {X: 100, Y: 1000}, {X: 20, Y: 100}),
    "postal": ("60", {X: 1000, Y: 30000}, {X: 300, Y: 2000}, {X: 20, Y: 100}),
    "accommodation": ("61", {X: 300, Y: 10000}, {X: 100, Y: 2000}, {X: 10, Y: 100}),
    "catering": ("H62", {X: 300, Y: 10000}, {X: 100, Y: 2000}, {X: 10, Y: 100}),
    "info_transmission": ("64", {X: 2000, Y: 100000}, {X: 100, Y: 1000}, {X: 10, Y: 100}),
    "software_it": ("I6510", {X: 300, Y: 10000}, {X: 100, Y: 1000}, {X: 10, Y: 50}),
    "real_estate_dev": ("7010", {Y: 200000, Z: 10000}, {Y: 1000, Z: 5000}, {Y: 100, Z: 2000}),
    "property_mgmt": ("K702", {X: 1000, Y: 5000}, {X: 300, Y: 1000}, {X: 100, Y: 500}),
    "leasing_business": ("L72", {X: 300, Z: 120000}, {X: 100, Z: 8000}, {X: 10, Z: 100}),
    "other": ("J66", {X: 300}, {X: 100}, {X: 10}),
}

NONE = {X: None, Y: None, Z: None}


def _below(metric: str, value: float) -> float:
    """Just under a bound: one person, or half a 万元."""
    return value - 1 if metric == X else value - 0.5


def _cases():
    """(sector, metrics, expected) on both sides of every bound of every sector."""
    for sector, (_code, ceiling, medium, small) in REFERENCE.items():
        yield sector, {**NONE, **ceiling}, SizeClass.LARGE
        for metric, value in ceiling.items():
            yield sector, {**NONE, **ceiling, metric: _below(metric, value)}, SizeClass.MEDIUM
        yield sector, {**NONE, **medium}, SizeClass.MEDIUM
        for metric, value in medium.items():
            # Meets the other medium bounds (even generously) but not this one: drops to 小型.
            generous = {m: _below(m, ceiling[m]) for m in medium}
            yield sector, {**NONE, **generous, metric: _below(metric, value)}, SizeClass.SMALL
            yield sector, {**NONE, **medium, metric: _below(metric, value)}, SizeClass.SMALL
        yield sector, {**NONE, **small}, SizeClass.SMALL
        for metric, value in small.items():
            yield sector, {**NONE, **small, metric: _below(metric, value)}, SizeClass.MICRO
        yield sector, {**NONE, **dict.fromkeys(small, 0)}, SizeClass.MICRO


CASES = list(_cases())


def test_csv_covers_the_reference_sectors():
    assert set(SIZE_SECTORS) == set(REFERENCE)


@pytest.mark.parametrize(
    ("sector", "ceiling", "medium", "small"), [(k, *v[1:]) for k, v in REFERENCE.items()]
)
def test_csv_thresholds_equal_the_reference(sector, ceiling, medium, small):
    data = SIZE_SECTORS[sector]
    assert {m.value: v for m, v in data.ceiling} == ceiling
    assert {m.value: v for m, v in data.medium} == medium
    assert {m.value: v for m, v in data.small} == small


def test_certainty_marks_copied():
    assert SIZE_SECTORS["industry"].certainty == "✅"
    assert SIZE_SECTORS["property_mgmt"].certainty == "⚠️"
    assert SIZE_SECTORS["leasing_business"].certainty == "❓"
    assert SIZE_SECTORS["other"].certainty == "❓"


@pytest.mark.parametrize(("sector", "code"), [(k, v[0]) for k, v in REFERENCE.items()])
def test_sector_for_industry(sector, code):
    assert sector_for_industry(code) == sector


@pytest.mark.parametrize(
    ("code", "sector"),
    [
        ("A", "agriculture"),
        ("B", "industry"),
        ("D4411", "industry"),
        ("E", "construction"),
        ("53", "transport"),
        ("58", "transport"),
        ("63", "info_transmission"),
        ("L", "leasing_business"),
        ("703", "other"),
        ("7090", "other"),
        ("J", "other"),
        ("M73", "other"),
        ("97", "other"),
    ],
)
def test_sector_mapping_details(code, sector):
    assert sector_for_industry(code) == sector


@pytest.mark.parametrize("code", ["F", "G", "H", "I", "K", "70"])
def test_too_coarse_codes_raise(code):
    with pytest.raises(ValueError, match="涵盖多个划型行业"):
        sector_for_industry(code)


def test_unknown_industry_code_raises():
    with pytest.raises(ValueError):
        sector_for_industry("99")


@pytest.mark.parametrize(("sector", "metrics", "expected"), CASES)
def test_every_bound_of_every_sector(sector, metrics, expected):
    code = REFERENCE[sector][0]
    result = classify_size(code, **metrics)
    assert result.size is expected, result.reason
    assert result.sector == sector
    assert result.missing == ()
    assert result.rule == SIZE_RULE == "工信部联企业〔2011〕300号"


@pytest.mark.parametrize("sector", REFERENCE)
def test_missing_metric_gives_no_size(sector):
    code, ceiling, _medium, _small = REFERENCE[sector]
    for metric in ceiling:
        metrics = {**NONE, **ceiling, metric: None}
        result = classify_size(code, **metrics)
        assert result.size is None
        assert result.missing == (metric,)
        assert "无法划型" in result.reason


def test_industrial_example_reason():
    result = classify_size("C3911", employees=250, revenue_wan=5000, assets_wan=None)
    assert result.size is SizeClass.SMALL
    assert result.sector_zh == "工业"
    assert result.reason == (
        "工业：从业人员 250 人 < 1000 人、营业收入 5000 万元 < 40000 万元，未达大型标准；"
        "从业人员 250 人 < 300 人，未达中型下限；"
        "从业人员 250 人 ≥ 20 人且营业收入 5000 万元 ≥ 300 万元，为小型"
    )


def test_large_firm_reason():
    result = classify_size("52", employees=300, revenue_wan=20000, assets_wan=None)
    assert result.size is SizeClass.LARGE
    assert result.reason == "零售业：从业人员 300 人 ≥ 300 人且营业收入 20000 万元 ≥ 20000 万元，为大型"


def test_retail_meets_medium_on_one_metric_only():
    # 60 人 ≥ 50 but 400 万元 < 500: not 中型; ≥ 10 人 and ≥ 100 万元: 小型.
    result = classify_size("52", employees=60, revenue_wan=400, assets_wan=None)
    assert result.size is SizeClass.SMALL
    assert "营业收入 400 万元 < 500 万元，未达中型下限" in result.reason


def test_micro_reason_and_fractional_numbers():
    result = classify_size("65", employees=12, revenue_wan=49.5, assets_wan=None)
    assert result.size is SizeClass.MICRO
    assert result.reason.endswith("营业收入 49.5 万元 < 50 万元，未达小型下限，为微型")


def test_large_on_one_ceiling_metric_only_is_not_large():
    # 工业: 5000 人 but 30000 万元 < 40000 → 中小微; meets 中型.
    assert classify_size("C", employees=5000, revenue_wan=30000, assets_wan=None).size is SizeClass.MEDIUM


def test_unused_metrics_are_ignored():
    result = classify_size("J66", employees=150, revenue_wan=None, assets_wan=None)
    assert result.size is SizeClass.MEDIUM
    assert classify_size("J66", employees=150, revenue_wan=1e9, assets_wan=0).size is SizeClass.MEDIUM


def test_size_class_names():
    assert [s.zh for s in SizeClass] == ["大型", "中型", "小型", "微型"]
    assert SizeClass("micro") is SizeClass.MICRO


def test_negative_metric_rejected():
    with pytest.raises(ValueError, match="不能为负数"):
        classify_size("C", employees=-1, revenue_wan=100, assets_wan=None)


def test_unknown_sector_key_rejected():
    with pytest.raises(ValueError, match="未知的划型行业"):
        classify_sector_size("mining", employees=1, revenue_wan=1, assets_wan=1)


def _nan_if_none(value):
    return np.nan if value is None else value


def test_array_agrees_with_scalar_on_boundary_cases():
    keys = np.array([sector for sector, _m, _e in CASES])
    arrays = {m: np.array([_nan_if_none(metrics[m]) for _s, metrics, _e in CASES]) for m in (X, Y, Z)}
    sizes = classify_size_array(keys, arrays[X], arrays[Y], arrays[Z])
    assert sizes.tolist() == [expected.value for _s, _m, expected in CASES]


def test_array_agrees_with_scalar_on_random_firms():
    rng = random.Random(2011)
    keys, rows = [], []
    for _ in range(4000):
        sector = rng.choice(list(REFERENCE))
        ceiling = REFERENCE[sector][1]
        row = {}
        for metric in (X, Y, Z):
            top = ceiling.get(metric, 1000) * 1.5
            value = rng.choice([rng.uniform(0, top), float(rng.randint(0, int(top)))])
            row[metric] = None if rng.random() < 0.05 else (round(value) if metric == X else value)
        keys.append(sector)
        rows.append(row)
    sizes = classify_size_array(
        np.array(keys),
        np.array([_nan_if_none(r[X]) for r in rows]),
        np.array([_nan_if_none(r[Y]) for r in rows]),
        np.array([_nan_if_none(r[Z]) for r in rows]),
    )
    for key, row, size in zip(keys, rows, sizes, strict=True):
        expected = classify_sector_size(key, **row).size
        assert size == (expected.value if expected else ""), (key, row)


def test_array_accepts_absent_metric_arrays():
    sizes = classify_size_array(np.array(["other", "agriculture"]), np.array([150, 5]), None, None)
    assert sizes.tolist() == ["medium", ""]


def test_array_rejects_unknown_sector_and_bad_shapes():
    with pytest.raises(ValueError):
        classify_size_array(np.array(["nope"]), np.array([1]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        classify_size_array(np.array(["other", "other"]), np.array([1]), None, None)
