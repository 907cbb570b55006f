"""The demo city's calendar: 2015-01-01 … 2025-12-31 in quarters, as NumPy ``datetime64[D]``."""

from __future__ import annotations

import numpy as np

FIRST_DAY = np.datetime64("2015-01-01", "D")
AS_OF = np.datetime64("2025-12-31", "D")  # loans are classified as of this day
FIRST_YEAR = 2015
LAST_YEAR = 2025
N_QUARTERS = (LAST_YEAR - FIRST_YEAR + 1) * 4  # 2015Q1 … 2025Q4

_QUARTER_MONTHS = np.arange(np.datetime64("2015-01", "M"), np.datetime64("2026-01", "M"), 3)
QUARTER_STARTS: np.ndarray = _QUARTER_MONTHS.astype("datetime64[D]")
QUARTER_ENDS: np.ndarray = (_QUARTER_MONTHS + 3).astype("datetime64[D]") - 1
QUARTER_DAYS: np.ndarray = (QUARTER_ENDS - QUARTER_STARTS).astype(np.int64) + 1
QUARTER_YEAR: np.ndarray = FIRST_YEAR + np.arange(N_QUARTERS) // 4
QUARTER_IN_YEAR: np.ndarray = np.arange(N_QUARTERS) % 4 + 1


def day(text: str) -> np.datetime64:
    """A day as ``datetime64[D]``."""
    return np.datetime64(text, "D")


def quarter_index(q_year: int, q: int) -> int:
    """0 for 2015Q1 … 43 for 2025Q4."""
    return (q_year - FIRST_YEAR) * 4 + (q - 1)


def quarter_of(dates: np.ndarray) -> np.ndarray:
    """Quarter index of each date (may be negative before 2015 or ≥ 44 after 2025)."""
    months = np.asarray(dates).astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    return (months - (FIRST_YEAR - 1970) * 12) // 3


def years_of(dates: np.ndarray) -> np.ndarray:
    """Calendar year of each date."""
    return np.asarray(dates).astype("datetime64[Y]").astype(np.int64) + 1970


def random_day_in_quarter(q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A day inside quarter ``q`` chosen by ``u`` in [0, 1)."""
    q = np.asarray(q)
    offset = np.floor(u * QUARTER_DAYS[q]).astype(np.int64)
    return QUARTER_STARTS[q] + offset


def random_day_in_year(years: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A day inside each calendar year chosen by ``u`` in [0, 1)."""
    years = np.asarray(years, dtype=np.int64)
    starts = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    ends = (years - 1969).astype("datetime64[Y]").astype("datetime64[D]")
    length = (ends - starts).astype(np.int64)
    return starts + np.floor(u * length).astype(np.int64)


def add_years(dates: np.ndarray, years: np.ndarray | float) -> np.ndarray:
    """Shift dates by a (fractional) number of years of 365.25 days."""
    return np.asarray(dates) + np.round(np.asarray(years) * 365.25).astype(np.int64)
