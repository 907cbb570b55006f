"""Numbers, money and dates as users read them: amounts with their unit (亿元/万元), dates YYYY-MM-DD."""

from __future__ import annotations

import math
from datetime import date, datetime

from qiantang.web.i18n import N_, gettext

# Stored amounts are in 元; these are the display units and their size in 元.
UNITS = {"元": 1.0, "万元": 1e4, "亿元": 1e8}
_UNIT_MSGIDS = {"元": N_("CNY"), "万元": N_("CNY 10k"), "亿元": N_("CNY 100m")}


def unit_label(unit: str) -> str:
    """The unit as shown in the current language (亿元 in Chinese, "CNY 100m" in English)."""
    return gettext(_UNIT_MSGIDS[unit]) if unit in _UNIT_MSGIDS else unit


def convert(yuan: float | None, unit: str) -> float | None:
    if yuan is None:
        return None
    return yuan / UNITS[unit]


def fmt_number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def fmt_int(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{round(value):,}"


def fmt_amount(yuan: float | None, unit: str = "亿元", digits: int = 2, with_unit: bool = True) -> str:
    """An amount stored in 元, shown in ``unit``: ``fmt_amount(1.5e10) == "150.00 亿元"``."""
    text = fmt_number(convert(yuan, unit), digits)
    return f"{text} {unit_label(unit)}" if with_unit and text != "—" else text


def fmt_money(yuan: float | None, *, zh: bool | None = None) -> str:
    """An amount stored in 元 as people read it: the unit that suits its size and about three significant
    figures — ``fmt_money(6_723_400) == "672 万元"``, ``67.2 万元``, ``1.35 亿元``, ``5,000 元``; in English
    "672 CNY 10k". ``zh`` forces a language (a Chinese PDF); otherwise the page's."""
    if yuan is None or (isinstance(yuan, float) and math.isnan(yuan)):
        return "—"
    size = abs(yuan)
    unit = "亿元" if size >= 1e8 else ("万元" if size >= 1e4 else "元")
    value = yuan / UNITS[unit]
    if unit == "元" or abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.{1 if abs(value) >= 10 else 2}f}".rstrip("0").rstrip(".")
    if zh is None:
        return f"{text} {unit_label(unit)}"
    return f"{text} {unit}" if zh else f"{text} {_UNIT_EN[unit]}"


_UNIT_EN = {"元": "CNY", "万元": "CNY 10k", "亿元": "CNY 100m"}


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """A percentage already expressed in percent (1.84 → "1.84%")."""
    return "—" if value is None else f"{value:.{digits}f}%"


def fmt_quarter(period_end: date | None) -> str:
    """A quarter by its end: "2025年第4季度" in Chinese, "2025 Q4" in English."""
    if period_end is None:
        return "—"
    return gettext("%(year)s Q%(quarter)s") % {
        "year": period_end.year,
        "quarter": (period_end.month - 1) // 3 + 1,
    }


def fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def fmt_sig(value: float | None, significant: int = 3) -> str:
    """A number with about ``significant`` significant digits, never in scientific notation:
    ``fmt_sig(0.001264) == "0.00126"``, ``fmt_sig(1.0664) == "1.07"``, ``fmt_sig(123456.0) == "123,456"``."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(0, significant - 1 - magnitude), 8)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_local(value: datetime | None) -> str:
    """A stored (naive UTC) time in the city's time zone, "YYYY-MM-DD HH:MM"."""
    if value is None:
        return "—"
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from qiantang.config import get_settings

    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


# --- punctuation that follows the language --------------------------------------------------------
def _zh() -> bool:
    from qiantang.web.i18n import is_zh

    return is_zh()


def colon() -> str:
    """A label's colon: full-width "：" in Chinese, ": " in English."""
    return "：" if _zh() else ": "


def list_words(items) -> str:
    """Items of a list in a sentence: "甲、乙" in Chinese, "A, B" in English."""
    return ("、" if _zh() else ", ").join(str(i) for i in items if i not in (None, ""))


def _lower_first(text: str) -> str:
    """ "Earnings: …" → "earnings: …", but "LPR …" and "CAMEL+RR …" keep their capitals."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def join_clauses(items) -> str:
    """Reasons or findings in one sentence: "甲；乙" in Chinese; in English "A; b; c" — after "; " a
    clause goes on in lower case, as it does inside an English sentence."""
    parts = [str(i) for i in items if i not in (None, "")]
    if _zh():
        return "；".join(parts)
    return "; ".join(p if k == 0 else _lower_first(p) for k, p in enumerate(parts))


def fmt_quarter_span(first: date | None, last: date | None) -> str:
    """The quarters from ``first`` to ``last`` ("2025 Q2–2025 Q4"), one quarter named once ("2025 Q4")."""
    if first is None or last is None or fmt_quarter(first) == fmt_quarter(last):
        return fmt_quarter(last or first)
    return f"{fmt_quarter(first)}–{fmt_quarter(last)}"


def quarters_count(n: int) -> str:
    """ "1 quarter", "3 quarters" (一个季度 / 3 个季度)."""
    return gettext("1 quarter") if n == 1 else gettext("%(n)s quarters", n=n)


def localised(value, field: str = "text") -> str:
    """Data that carries both languages, in the page's: ``field`` / ``field_en`` of a dict or object
    ("text" / "text_en", "dimension" / "dimension_en"), else its ``zh`` / ``en``; the Chinese when there
    is no English."""
    if value is None:
        return ""

    def get(key: str):
        return value.get(key) if isinstance(value, dict) else getattr(value, key, None)

    if _zh():
        return get(field) or get("zh") or ""
    return get(f"{field}_en") or get("en") or get(field) or get("zh") or ""
