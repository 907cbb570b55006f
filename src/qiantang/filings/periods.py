"""Reporting periods: calendar quarters, named by their last day (the period end).

``parse_period`` reads what people type into a spreadsheet or an API call ("2025Q4", "2025-Q4",
"2025年第4季度", "2025年四季度", "2025-12-31", an Excel date …) and returns the quarter end;
``period_label`` writes it back as "2025Q4".
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta

PERIOD_HINT = "报告期应为季度末，如 2025Q4 或 2025-12-31"
# Filing records start here: no filing is expected for an earlier quarter (docs/methods/filings.md).
RECORDS_START = date(2015, 3, 31)
MIN_YEAR, MAX_YEAR = 1900, 2999

_QUARTER_END_DAY = {3: 31, 6: 30, 9: 30, 12: 31}
_CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}
_YEAR_QUARTER = re.compile(r"^(\d{4})\s*[-_/.\s]?\s*Q\s*([1-4])$", re.IGNORECASE)
_QUARTER_YEAR = re.compile(r"^Q([1-4])\s*[-_/.\s]?\s*(\d{4})$", re.IGNORECASE)
_CHINESE = re.compile(r"^(\d{4})\s*年?\s*(?:第\s*)?([1-4一二三四])\s*季度?$")
_DAY = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
)


class PeriodError(ValueError):
    """A value that is not a quarter; the message is the Chinese hint with the value."""


def _quarter_end(year: int, quarter: int) -> date:
    month = quarter * 3
    return date(year, month, _QUARTER_END_DAY[month])


def _fail(value: object) -> PeriodError:
    shown = str(value).strip()
    return PeriodError(f"{PERIOD_HINT}，实为“{shown}”" if shown else PERIOD_HINT)


def _check_year(year: int, value: object) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _fail(value)


def is_quarter_end(day: date) -> bool:
    return _QUARTER_END_DAY.get(day.month) == day.day


def parse_period(value: object) -> date:
    """The quarter end a value names; raises PeriodError with a Chinese message otherwise."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        if not is_quarter_end(value):
            raise _fail(value.isoformat())
        _check_year(value.year, value)
        return value
    if value is None or isinstance(value, bool | int | float):
        raise _fail("" if value is None else value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if match := _YEAR_QUARTER.match(text):
        year, quarter = int(match.group(1)), int(match.group(2))
    elif match := _QUARTER_YEAR.match(text):
        year, quarter = int(match.group(2)), int(match.group(1))
    elif match := _CHINESE.match(text):
        year = int(match.group(1))
        q = match.group(2)
        quarter = _CHINESE_DIGITS.get(q) or int(q)
    elif match := _DAY.match(text):
        try:
            day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise _fail(value) from None
        if not is_quarter_end(day):
            raise _fail(value)
        _check_year(day.year, value)
        return day
    else:
        raise _fail(value)
    _check_year(year, value)
    return _quarter_end(year, quarter)


YEAR_HINT = "年度报表的报告期应为年份，如 2025、2025年度 或 2025-12-31"
_YEAR = re.compile(r"^(\d{4})\s*(?:年度?)?$")


def parse_year_end(value: object) -> date:
    """The year end (31 December) an annual return's period names: 2025, "2025年度", "2025-12-31"."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        day = date(int(value), 12, 31) if MIN_YEAR <= int(value) <= MAX_YEAR else date(1, 1, 1)
    elif isinstance(value, str) and (match := _YEAR.match(unicodedata.normalize("NFKC", value).strip())):
        year = int(match.group(1))
        day = date(year, 12, 31) if MIN_YEAR <= year <= MAX_YEAR else date(1, 1, 1)
    else:
        try:
            day = parse_period(value)
        except PeriodError:
            day = date(1, 1, 1)
    if (day.month, day.day) != (12, 31):
        shown = str(value).strip() if value is not None else ""
        raise PeriodError(f"{YEAR_HINT}，实为“{shown}”" if shown else YEAR_HINT)
    return day


def year_label(period_end: date) -> str:
    """ "2025" for 2025-12-31 (an annual return's period)."""
    return str(period_end.year)


def period_label(period_end: date) -> str:
    """ "2025Q4" for 2025-12-31."""
    return f"{period_end.year}Q{(period_end.month - 1) // 3 + 1}"


def quarter_end_of(day: date) -> date:
    """The last day of the quarter containing ``day``."""
    return _quarter_end(day.year, (day.month - 1) // 3 + 1)


def quarter_start(period_end: date) -> date:
    """The first day of the quarter ending on ``period_end``."""
    return date(period_end.year, period_end.month - 2, 1)


def previous_period(period_end: date) -> date:
    return quarter_start(period_end) - timedelta(days=1)


def next_period(period_end: date) -> date:
    return quarter_end_of(period_end + timedelta(days=1))


def periods_between(first: date, last: date) -> list[date]:
    """Every quarter end from the quarter of ``first`` to that of ``last``, inclusive."""
    out: list[date] = []
    current, last = quarter_end_of(first), quarter_end_of(last)
    while current <= last:
        out.append(current)
        current = next_period(current)
    return out


def has_ended(period_end: date, today: date) -> bool:
    """Whether the quarter is over (its last day has passed)."""
    return period_end < today


def latest_ended_period(today: date) -> date:
    """The most recent quarter that is over on ``today``."""
    return previous_period(quarter_end_of(today))


def latest_due_period(today: date, due_days: int) -> date:
    """The most recent quarter whose due date (period end + ``due_days``) has passed on ``today``."""
    period = latest_ended_period(today)
    while period + timedelta(days=due_days) >= today:
        period = previous_period(period)
    return period


__all__ = [
    "PERIOD_HINT",
    "RECORDS_START",
    "PeriodError",
    "has_ended",
    "is_quarter_end",
    "latest_due_period",
    "latest_ended_period",
    "next_period",
    "parse_period",
    "parse_year_end",
    "period_label",
    "periods_between",
    "previous_period",
    "quarter_end_of",
    "quarter_start",
    "year_label",
]
