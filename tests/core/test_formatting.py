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


def test_fmt_sig_never_uses_scientific_notation():
    from qiantang.formatting import fmt_sig

    assert fmt_sig(0.00343) == "0.00343" and fmt_sig(1.0664) == "1.07" and fmt_sig(123456.0) == "123,456"
    assert fmt_sig(-0.0476) == "-0.0476" and fmt_sig(2.0) == "2" and fmt_sig(None) == "—"
    assert all("e" not in fmt_sig(x) for x in (1e-7, 3.2e-5, 9.9e12, -4e-6))


def test_money_picks_its_unit_and_rounds_sensibly():
    from qiantang.formatting import fmt_money
    from qiantang.web import i18n

    assert fmt_money(6_723_400) == "672 万元" and fmt_money(672_340) == "67.2 万元"
    assert fmt_money(67_234) == "6.72 万元" and fmt_money(5_000) == "5,000 元"
    assert fmt_money(22_540_000) == "2,254 万元" and fmt_money(1.35e8) == "1.35 亿元"
    assert fmt_money(1.5e10) == "150 亿元" and fmt_money(None) == "—"
    assert fmt_money(6_723_400, zh=False) == "672 CNY 10k"
    token = i18n.set_locale("en")
    try:
        assert fmt_money(1.35e8) == "1.35 CNY 100m"
        assert fmt_money(1.35e8, zh=True) == "1.35 亿元"  # a Chinese PDF from an English page
    finally:
        i18n._current.reset(token)
