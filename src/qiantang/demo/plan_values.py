"""Synthetic actual values for the plan's input indicators, where no real value exists (演示数据).

Real values (the plan's 2015 figures and the published figures shipped with the package) are kept;
the years between them are filled by log-linear interpolation, and the years before or after by
growth rates drawn around plausible means. Every value written here is labelled synthetic.
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.plan.models import Indicator, IndicatorMethod, IndicatorValue, Quality

FIRST_YEAR, LAST_YEAR = 2015, 2025
SOURCE = "演示数据（合成），非真实统计"

# Starting value in 2015 when no real one exists, and mean/sd of the yearly growth (or change for
# counts and ratios). Means are chosen so that the plan's targets land in different progress bands.
PROCESSES: dict[str, tuple[float | None, float, float]] = {
    "gdp": (None, 0.075, 0.01),
    "tertiary_value_added": (None, 0.10, 0.015),
    "resident_population": (901.8, 0.025, 0.005),
    "fin_value_added": (None, 0.10, 0.015),
    "deposits": (None, 0.105, 0.015),
    "loans": (None, 0.11, 0.015),
    "npl_ratio": (None, -0.08, 0.03),
    "premiums": (None, 0.12, 0.02),
    "emerging_fin_value_added": (180.0, 0.16, 0.02),
    "wealth_mgmt_scale": (6200.0, 0.13, 0.02),
    "listed_cumulative_financing": (None, 0.14, 0.03),
    "bond_issuance": (None, 0.08, 0.08),
    "securities_brokerage_volume": (None, 0.03, 0.12),
    "futures_brokerage_volume": (None, 0.04, 0.10),
    "hzbank_deposits": (None, 0.12, 0.02),
    "hzbank_loans": (None, 0.14, 0.02),
    "hz_united_bank_deposits": (None, 0.10, 0.02),
    "hz_united_bank_loans": (None, 0.11, 0.02),
}
# Counts that step up over time: value in 2015 and the years in which one more is added.
STEPS: dict[str, tuple[int, tuple[int, ...]]] = {
    "exchange_trillion": (0, (2019,)),
    "exchange_100bn": (1, (2017, 2019, 2021)),
    "internet_finance_leaders": (
        12,
        (2016, 2016, 2017, 2017, 2018, 2018, 2019, 2019, 2020, 2021, 2021, 2022, 2023),
    ),
}


def _entered(session: Session, code: str) -> dict[int, float]:
    rows = session.execute(
        select(IndicatorValue.year, IndicatorValue.value).where(
            IndicatorValue.indicator_code == code,
            IndicatorValue.quarter.is_(None),
            IndicatorValue.is_current.is_(True),
            IndicatorValue.is_computed.is_(False),
        )
    ).all()
    return {y: v for y, v in rows}


def _path(known: dict[int, float], start: float | None, mean: float, sd: float, rng: np.random.Generator):
    """A yearly path through the known points, with drawn growth outside them."""
    years = list(range(FIRST_YEAR, LAST_YEAR + 1))
    shocks = rng.normal(mean, sd, size=len(years))
    values: dict[int, float] = dict(known)
    if FIRST_YEAR not in values:
        later = [y for y in sorted(values) if y > FIRST_YEAR]
        if later:
            first = later[0]
            values[FIRST_YEAR] = values[first] / (1 + mean) ** (first - FIRST_YEAR)
        elif start is not None:
            values[FIRST_YEAR] = start
        else:
            return {}
    anchors = sorted(values)
    for i, year in enumerate(years):
        if year in values:
            continue
        before = max(y for y in anchors if y < year)
        after = [y for y in anchors if y > year]
        if after:  # log-linear between the two known points around this year, with a little noise
            nxt = after[0]
            w = (year - before) / (nxt - before)
            log_value = (1 - w) * math.log(values[before]) + w * math.log(values[nxt])
            values[year] = math.exp(log_value + rng.normal(0, sd / 4))
        else:
            values[year] = values[year - 1] * (1 + shocks[i])
    return {y: values[y] for y in years if y not in known}


def fill_plan_values(session: Session, *, seed: int) -> int:
    """Write synthetic values for every input indicator and year without an entered value."""
    rng = np.random.default_rng(np.random.PCG64(seed + 20_16))
    units = {
        i.code: i.unit
        for i in session.scalars(select(Indicator).where(Indicator.method == IndicatorMethod.INPUT)).all()
    }
    written = 0
    for code in sorted(units):
        known = _entered(session, code)
        if code in PROCESSES:
            start, mean, sd = PROCESSES[code]
            path = _path(known, start, mean, sd, rng)
            digits = 2
        elif code in STEPS:
            base, steps = STEPS[code]
            path = {
                y: float(base + sum(1 for s in steps if s <= y)) for y in range(FIRST_YEAR, LAST_YEAR + 1)
            }
            path = {y: v for y, v in path.items() if y not in known}
            digits = 0
        else:
            continue
        for year, value in path.items():
            session.add(
                IndicatorValue(
                    indicator_code=code,
                    year=year,
                    value=round(value, digits),
                    unit=units[code],
                    quality=Quality.SYNTHETIC,
                    source=SOURCE,
                    entered_by="demo",
                )
            )
            written += 1
    session.flush()
    return written
