"""Reporting periods: what parse_period accepts and rejects, labels, and the due-period arithmetic."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from qiantang.filings.periods import (
    PERIOD_HINT,
    PeriodError,
    latest_due_period,
    latest_ended_period,
    parse_period,
    period_label,
    periods_between,
    previous_period,
    quarter_start,
)


@pytest.mark.parametrize(
    "value",
    [
        "2025Q4",
        "2025-Q4",
        "2025q4",
        "2025 Q4",
        " 2025Q4 ",
        "２０２５Ｑ４",  # full-width, as typed with a Chinese input method
        "2025年第4季度",
        "2025年四季度",
        "2025年第四季度",
        "2025-12-31",
        "2025/12/31",
        "2025年12月31日",
        "2025-12-31 00:00:00",  # an Excel date cell read as text
        date(2025, 12, 31),
        datetime(2025, 12, 31, 0, 0),
    ],
)
def test_accepted_spellings_of_2025q4(value):
    assert parse_period(value) == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024Q1", date(2024, 3, 31)),
        ("2024年第二季度", date(2024, 6, 30)),
        ("2024-q3", date(2024, 9, 30)),
        ("2016-06-30", date(2016, 6, 30)),
    ],
)
def test_other_quarters(value, expected):
    assert parse_period(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2025Q5",
        "2025Q0",
        "2025-11-30",  # a month end, not a quarter end
        "2025-12-30",
        "2025-02-30",  # no such day
        "2025年4",  # April or Q4? ambiguous without 季度
        "2025",
        "Q4",
        "去年四季度",
        "",
        None,
        2025,
        45657,  # an Excel serial number
        date(2025, 11, 30),
        "0001Q1",  # out of the supported years
    ],
)
def test_rejected_values_get_the_chinese_hint(value):
    with pytest.raises(PeriodError) as err:
        parse_period(value)
    assert str(err.value).startswith(PERIOD_HINT)
    assert "报告期应为季度末，如 2025Q4 或 2025-12-31" in str(err.value)


def test_the_error_names_the_value():
    with pytest.raises(PeriodError, match="实为“2025-11-30”"):
        parse_period("2025-11-30")


def test_labels_round_trip():
    assert period_label(date(2025, 12, 31)) == "2025Q4"
    assert period_label(date(2016, 3, 31)) == "2016Q1"
    for p in periods_between(date(2015, 1, 1), date(2025, 12, 31)):
        assert parse_period(period_label(p)) == p
    assert len(periods_between(date(2015, 1, 1), date(2025, 12, 31))) == 44


def test_quarter_arithmetic():
    assert quarter_start(date(2025, 12, 31)) == date(2025, 10, 1)
    assert previous_period(date(2025, 3, 31)) == date(2024, 12, 31)
    # A quarter has ended the day after its last day.
    assert latest_ended_period(date(2025, 12, 31)) == date(2025, 9, 30)
    assert latest_ended_period(date(2026, 1, 1)) == date(2025, 12, 31)
    # Due 15 days after the end: 2025Q4 is due on 2026-01-15 and has passed from the 16th.
    assert latest_due_period(date(2026, 1, 15), 15) == date(2025, 9, 30)
    assert latest_due_period(date(2026, 1, 16), 15) == date(2025, 12, 31)
