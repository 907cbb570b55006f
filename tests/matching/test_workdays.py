"""The response clock counts Chinese working days with 调休 (official 2026 schedule)."""

from __future__ import annotations

from datetime import date, timedelta

from qiantang.matching.workdays import add_workdays, is_workday, known, workdays_between


def test_spring_festival_2026_with_its_swapped_saturday():
    # 2026 春节: 2-15 (Sun) … 2-23 (Mon) off; Saturday 2-14 and Saturday 2-28 are working days (调休).
    assert is_workday(date(2026, 2, 14)) and not is_workday(date(2026, 2, 16))
    # Picked up Friday 2-13: 1st working day after it is Saturday 2-14, the 2nd Tuesday 2-24.
    assert add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_national_day_2026():
    # 国庆 2026: 10-1 … 10-7 off; Saturday 10-10 is a working day.
    assert add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_workdays(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert workdays_between(date(2026, 9, 29), date(2026, 10, 12)) == 5  # 9-30, 10-8, 10-9, 10-10, 10-12


def test_an_unpublished_year_falls_back_to_weekdays():
    far = date(2099, 1, 2)  # a Friday
    assert not known(far)
    assert add_workdays(far, 1) == date(2099, 1, 5)


def test_many_pairs_at_once_count_as_one_at_a_time():
    """The vectorised count gives the day-by-day walk's answer on every pair, across 春节 and 国庆
    with their 调休 days, for reversed and equal pairs too."""
    import random

    from qiantang.matching.workdays import workdays_between, workdays_between_many

    rng = random.Random(7)
    base = date(2024, 1, 1)
    pairs = [
        (base + timedelta(days=rng.randrange(800)), base + timedelta(days=rng.randrange(800)))
        for _ in range(300)
    ]
    pairs += [(date(2025, 1, 27), date(2025, 2, 10)), (date(2024, 9, 27), date(2024, 10, 14)), (base, base)]
    got = workdays_between_many([a for a, _ in pairs], [b for _, b in pairs])
    assert list(got) == [workdays_between(a, b) for a, b in pairs]
    assert len(workdays_between_many([], [])) == 0
