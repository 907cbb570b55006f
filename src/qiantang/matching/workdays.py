"""Chinese working days (工作日), with the State Council's 调休 swaps, from the `chinesecalendar` package.

The response-time policy counts working days: a bank that picks up a need on the Friday before 国庆
has until after the holiday, and a 调休 Saturday counts. `chinesecalendar` ships each year's official
schedule (国务院办公厅 notices); a date in a year it does not know yet falls back to Monday–Friday, and
``known(day)`` says so, so a page can mark the due date as provisional.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import numpy as np


def known(day: date) -> bool:
    """Whether the official holiday schedule of ``day``'s year is known."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year not yet published: Monday–Friday
        return day.weekday() < 5


def add_workdays(start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself does not count)."""
    if n < 0:
        raise ValueError("n must be ≥ 0")
    day, left = start, n
    while left:
        day += timedelta(days=1)
        if is_workday(day):
            left -= 1
    return day


def workdays_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` ≤ ``start``)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count


def workdays_between_many(starts, ends) -> np.ndarray:
    """``workdays_between`` for many pairs at once: the calendar days the pairs span are classified
    once and counted cumulatively, instead of a day-by-day walk per pair (a lender's record reads every
    decided offer on each recommendation)."""
    s = np.asarray(starts, dtype="datetime64[D]")
    e = np.asarray(ends, dtype="datetime64[D]")
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = min(s.min(), e.min()), max(s.max(), e.max())
    days = np.arange(lo, hi + np.timedelta64(1, "D"))
    flags = np.fromiter((is_workday(d.item()) for d in days), dtype=np.int64, count=len(days))
    cum = np.cumsum(flags)
    count = cum[(e - lo).astype(np.int64)] - cum[(s - lo).astype(np.int64)]
    return np.where(e > s, count, 0)
