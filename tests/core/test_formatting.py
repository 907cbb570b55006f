from datetime import date, datetime

from qiantang.formatting import fmt_amount, fmt_date, fmt_int, fmt_pct


def test_amounts_carry_their_unit():
    assert fmt_amount(1.5e10) == "150.00 亿元"
    assert fmt_amount(123_456.0, "万元") == "12.35 万元"
    assert fmt_amount(None) == "—"
    assert fmt_amount(2.5e8, "亿元", 1, with_unit=False) == "2.5"


def test_dates_and_numbers():
    assert fmt_date(date(2020, 3, 1)) == "2020-03-01"
    assert fmt_date(datetime(2020, 3, 1, 9, 5)) == "2020-03-01 09:05"
    assert fmt_int(12345.6) == "12,346"
    assert fmt_pct(1.8412) == "1.84%"
