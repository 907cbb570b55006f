"""What the statistics pages show: the pivot as a table (shared by the page and its Excel export) and
the ECharts specs. Amounts are shown in 亿元 (stored in 万元, as filed), always with the unit."""

from __future__ import annotations

from datetime import date

from qiantang.exports import build_xlsx
from qiantang.statistics import measures as M
from qiantang.statistics.service import Pivot, Trend, YearFlow, quarter_label
from qiantang.web.i18n import get_locale
from qiantang.web.i18n import gettext as _

DEMO_NOTE = "演示数据：合成城市，非真实统计。Demo data: a synthetic city, not real statistics."


def pivot_headers(p: Pivot, locale: str | None = None) -> list[str]:
    """The pivot's header row: the dimension, then each measure with its unit."""
    locale = locale or get_locale()
    dim = p.rows_dim.zh if locale == "zh_CN" else p.rows_dim.en
    return [dim, *(m.header(locale) for m in p.measures)]


def pivot_rows(p: Pivot, locale: str | None = None) -> list[list]:
    """Body rows then the totals row, each value in its display unit, rounded as the page shows it."""
    locale = locale or get_locale()
    out = []
    for row in [*p.rows, p.total]:
        out.append([row.name(locale), *(m.display(row.values.get(m.code)) for m in p.measures)])
    return out


def pivot_xlsx(p: Pivot, *, scope_text: str, filters_text: str, demo: bool) -> bytes:
    """Excel workbook of exactly the pivot a page shows (same rows, units, rounding, totals row)."""
    period = f"{quarter_label(p.period_end)} ({p.period_end.isoformat()})" if p.period_end else "—"
    title, scope_label, filters_label = _("Statistics"), _("Scope"), _("Filters")
    no_filters, exported = _("none"), _("Exported")
    notes = [
        f"{title} · {period}",
        f"{scope_label}: {scope_text} · {filters_label}: {filters_text or no_filters}",
        _("Amounts in CNY 100m, converted from the CNY 10k reported in filings; ratios are ratios of sums."),
        f"{exported} {date.today().isoformat()}",
    ]
    if demo:
        notes.append(DEMO_NOTE)
    return build_xlsx(
        sheet_title=_("Statistics"),
        headers=pivot_headers(p),
        rows=pivot_rows(p),
        notes=notes,
        number_formats={i + 1: m.number_format for i, m in enumerate(p.measures)},
    )


def short_quarter(period_end: date) -> str:
    """A compact two-line axis label, ``25`` over ``Q4``: 44 quarters must fit under a chart."""
    return f"{period_end.year % 100:02d}\nQ{(period_end.month - 1) // 3 + 1}"


def _display_series(m: M.Measure, values: list[float | None]) -> list[float | None]:
    return [m.display(v) for v in values]


def trend_spec(t: Trend) -> dict:
    """Line chart of a measure over quarters (a line per split member, others dashed)."""
    locale = get_locale()
    return {
        "kind": "line",
        "unit": t.measure.unit_name(locale),
        "categories": [short_quarter(p) for p in t.periods],
        "series": [
            {
                "name": s.name(locale),
                "data": _display_series(t.measure, s.values),
                "style": "dashed" if s.code == "others" else "solid",
            }
            for s in t.series
        ],
    }


def flows_spec(flows: list[YearFlow]) -> dict:
    """Bar chart of institutions set up and exited per year."""
    return {
        "kind": "bar",
        "unit": _("institutions"),
        "categories": [f"{f.year}{'*' if f.partial else ''}" for f in flows],
        "series": [
            {"name": _("Entries"), "data": [f.entries for f in flows]},
            {"name": _("Exits"), "data": [f.exits for f in flows]},
        ],
    }


def district_spec(p: Pivot, measure: str = "open") -> dict:
    """Horizontal bar chart of one measure by current district."""
    locale = get_locale()
    m = M.get(measure)
    return {
        "kind": "bar",
        "horizontal": True,
        "unit": m.unit_name(locale),
        "categories": [r.name(locale) for r in p.rows],
        "series": [{"name": m.name(locale), "data": [m.display(r.values.get(measure)) for r in p.rows]}],
    }


def hq_spec(
    points: list[tuple[date, int]],
    core_points: list[tuple[date, int]],
    *,
    target_value: float | None = None,
    target_year: int | None = None,
) -> dict:
    """Year-end licensed HQ-level institutions: this cluster, the whole core, and the core's target."""
    this = {p.year: v for p, v in points}
    core = {p.year: v for p, v in core_points}
    years = sorted(set(this) | set(core))
    series = [
        {
            "name": _("This cluster"),
            "data": [this.get(y, 0) for y in years],
            "style": "solid",
            "symbol": True,
        },
        {"name": _("The core (both clusters)"), "data": [core.get(y, 0) for y in years], "style": "dashed"},
    ]
    if target_value is not None and target_year in years:
        series.append(
            {
                "name": _("Target"),
                "data": [target_value if y == target_year else None for y in years],
                "style": "point",
                "symbol": True,
            }
        )
    return {
        "kind": "line",
        "unit": _("institutions"),
        "categories": [str(y) for y in years],
        "series": series,
    }
