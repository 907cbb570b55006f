"""What the plan pages hand out: the progress table as Excel, the Chinese PDF report, chart data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from qiantang.exports import build_xlsx
from qiantang.plan.models import Indicator, IndicatorValue, Plan
from qiantang.plan.progress import ProgressStatus, natural_bounds
from qiantang.plan.service import TargetProgress
from qiantang.reports import line_chart_img, render_pdf
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh

SYNTHETIC_NOTE = "演示数据：含合成数值（标注“合成”），非真实统计。"


def fmt_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


COMPARISON_SYMBOLS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def comparison_symbol(comparison: str) -> str:
    """The target's comparison as a reader writes it (≥, not the stored ">=")."""
    return COMPARISON_SYMBOLS.get(comparison, comparison)


def fmt_rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}%"


def required_text(p: TargetProgress) -> str:
    a = p.assessment
    if a.status == ProgressStatus.TARGET_ACHIEVED:
        return _("achieved")
    if a.secured:
        return _("secured")
    if a.required_growth_from_latest is not None:
        return _("%(rate)s a year", rate=fmt_rate(a.required_growth_from_latest))
    if a.required_per_year_from_latest is not None:
        return _("%(amount)s a year", amount=fmt_value(a.required_per_year_from_latest, p.indicator.unit))
    if a.assessed_year is not None and a.assessed_year >= p.target.target_year:
        return _("target year passed")
    return "—"


def year_met_text(p: TargetProgress) -> str:
    if p.assessment.status == ProgressStatus.TARGET_ACHIEVED:
        return _("achieved")
    parts = []
    for proj in p.assessment.projections:
        if proj.year_met is not None:
            label = _("compound") if proj.method == "compound" else _("linear")
            parts.append(f"{label} {proj.year_met}")
    return "；".join(parts) if parts else "—"


def progress_rows(progress: Sequence[TargetProgress]) -> list[list]:
    zh = is_zh()
    rows = []
    for p in progress:
        a, t, i = p.assessment, p.target, p.indicator
        latest = p.series.get(a.assessed_year) if a.assessed_year else None
        rows.append(
            [
                t.plan_section,
                i.name_zh if zh else i.name_en,
                i.unit,
                t.baseline_year,
                t.baseline_value,
                a.assessed_year,
                a.assessed_value,
                latest.quality.zh if latest else "",
                latest.source if latest else "",
                f"{comparison_symbol(t.comparison)} {fmt_value(t.target_value)}",
                t.target_year,
                a.status.zh if zh else a.status.en,
                None if a.ratio is None else round(a.ratio, 3),
                required_text(p),
                year_met_text(p),
                "；".join(a.reasons if zh else a.reasons_en),
            ]
        )
    return rows


def progress_xlsx(plan: Plan, progress: Sequence[TargetProgress], *, demo: bool) -> bytes:
    headers = [
        _("Plan section"),
        _("Indicator"),
        _("Unit"),
        _("Baseline year"),
        _("Baseline"),
        _("Assessed year"),
        _("Assessed value"),
        _("Data quality"),
        _("Source"),
        _("Target"),
        _("Target year"),
        _("Status"),
        _("R (observed / required growth)"),
        _("Growth still required"),
        _("Projected year met"),
        _("Reasons"),
    ]
    notes = [f"{plan.name_zh} · {plan.source_document}", f"{_('Exported')} {date.today().isoformat()}"]
    if demo:
        notes.append(SYNTHETIC_NOTE)
    return build_xlsx(
        sheet_title=_("Plan progress"),
        headers=headers,
        rows=progress_rows(progress),
        notes=notes,
        number_formats={4: "#,##0.00", 6: "#,##0.00", 12: "0.000"},
    )


def _chart_years(p: TargetProgress) -> list[int]:
    years = set(p.series) | {p.target.target_year}
    if p.target.baseline_year:
        years.add(p.target.baseline_year)
    lo = min(years)
    hi = max(max(years), p.target.target_year)
    return list(range(lo, hi + 1))


def required_path(p: TargetProgress, years: Sequence[int]) -> list[float | None]:
    """The path the plan implies from the base to the target: compound, or linear for counts."""
    a = p.assessment
    if a.base_year is None or a.base_value is None:
        return [None for _ in years]
    t0, y0, tT, yT = a.base_year, a.base_value, p.target.target_year, p.target.target_value
    out: list[float | None] = []
    for y in years:
        if y < t0 or y > tT:
            out.append(None)
        elif p.indicator.kind.value in ("increment", "flow") or y0 <= 0 or yT <= 0:
            out.append(round(y0 + (yT - y0) * (y - t0) / (tT - t0), 4))
        else:
            out.append(round(y0 * (yT / y0) ** ((y - t0) / (tT - t0)), 4))
    return out


def projection_path(p: TargetProgress, years: Sequence[int], method: str) -> list[float | None]:
    a = p.assessment
    proj = next((x for x in a.projections if x.method == method), None)
    if proj is None or proj.rate is None or a.assessed_year is None or a.assessed_value is None:
        return [None for _ in years]
    ti, yi = a.assessed_year, a.assessed_value
    lower, upper = natural_bounds(p.indicator.kind.value, p.indicator.unit)
    out: list[float | None] = []
    for y in years:
        if y < ti:
            out.append(None)
            continue
        k = y - ti
        value = yi * (1 + proj.rate) ** k if method == "compound" else yi + proj.rate * k
        # A projection never leaves the indicator's natural bounds (no "−125 家").
        value = max(value, lower) if lower is not None else value
        value = min(value, upper) if upper is not None else value
        out.append(round(value, 4))
    return out


def indicator_chart_spec(
    indicator: Indicator, series: dict[int, IndicatorValue], progress: TargetProgress | None
) -> dict:
    """ECharts spec for the indicator page: actual values, the required path and the projections."""
    if progress is not None:
        years = _chart_years(progress)
    else:
        years = list(range(min(series), max(series) + 1)) if series else []
    spec = {
        "kind": "line",
        "title": (indicator.name_zh if is_zh() else indicator.name_en) + f"（{indicator.unit}）",
        "unit": indicator.unit,
        "categories": [str(y) for y in years],
        "series": [
            {
                "name": _("Actual"),
                "data": [series[y].value if y in series else None for y in years],
                "style": "solid",
                "symbol": True,
                "labels": [series[y].quality.zh if y in series else None for y in years],
            },
        ],
    }
    if progress is not None and progress.assessment.status != ProgressStatus.NOT_AVAILABLE:
        spec["series"].append(
            {"name": _("Required path"), "data": required_path(progress, years), "style": "dashed"}
        )
        for method, name in (("compound", _("Projection (compound)")), ("linear", _("Projection (linear)"))):
            data = projection_path(progress, years, method)
            if any(v is not None for v in data):
                spec["series"].append({"name": name, "data": data, "style": "dotted"})
    if progress is not None:
        spec["series"].append(
            {
                "name": _("Target"),
                "data": [
                    progress.target.target_value if y == progress.target.target_year else None for y in years
                ],
                "style": "point",
                "symbol": True,
            }
        )
    return spec


def _chart_img(p: TargetProgress) -> str:
    years = _chart_years(p)
    actual = [p.series[y].value if y in p.series else None for y in years]
    series = [("实际值", actual, {"marker": "o", "color": "#0b5394", "linewidth": 1.8})]
    if p.assessment.status != ProgressStatus.NOT_AVAILABLE:
        series.append(("要求路径", required_path(p, years), {"linestyle": "--", "color": "#999999"}))
        comp = projection_path(p, years, "compound")
        if any(v is not None for v in comp):
            series.append(("复合增速预测", comp, {"linestyle": ":", "color": "#e69138"}))
    series.append(
        (
            "目标",
            [p.target.target_value if y == p.target.target_year else None for y in years],
            {"marker": "*", "markersize": 10, "linestyle": "none", "color": "#cc0000"},
        )
    )
    return line_chart_img(title=p.indicator.name_zh, series=series, years=years, unit=p.indicator.unit)


def progress_pdf(plan: Plan, progress: Sequence[TargetProgress], *, demo: bool) -> bytes:
    """The progress report in Chinese (whatever the page language), with a chart per target."""
    return render_pdf(progress_html(plan, progress, demo=demo))


def progress_html(plan: Plan, progress: Sequence[TargetProgress], *, demo: bool) -> str:
    """The report's HTML, always in Chinese (what the PDF is made from; tests check its layout)."""
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        counts: dict[ProgressStatus, int] = {s: 0 for s in ProgressStatus}
        for p in progress:
            counts[p.assessment.status] += 1
        charts = {p.indicator.code: _chart_img(p) for p in progress if p.series}
        return (
            environment()
            .get_template("plan/report.html")
            .render(
                plan=plan,
                progress=progress,
                counts=counts,
                charts=charts,
                demo=demo,
                today=date.today(),
                fmt_value=fmt_value,
                fmt_rate=fmt_rate,
                comparison_symbol=comparison_symbol,
                required_text=required_text,
                year_met_text=year_met_text,
                synthetic_note=SYNTHETIC_NOTE,
            )
        )
    finally:
        _current.reset(token)


def add_forecast_lines(
    spec: dict, start_year: int, start_value: float, paths: dict[str, dict[int, float]]
) -> None:
    """Extend an indicator chart with a forecast from another module (expected line and its band)."""
    years = [int(c) for c in spec["categories"]]
    last = max([*years, *paths["expected"]])
    extra = [y for y in range(years[-1] + 1 if years else start_year, last + 1)]
    spec["categories"] += [str(y) for y in extra]
    for s in spec["series"]:
        s["data"] = list(s["data"]) + [None] * len(extra)
        if "labels" in s:
            s["labels"] = list(s["labels"]) + [None] * len(extra)
    years = [int(c) for c in spec["categories"]]
    for key, name, style in (
        ("expected", _("Listing pipeline forecast"), "dashed"),
        ("low", _("Forecast, 10th percentile"), "dotted"),
        ("high", _("Forecast, 90th percentile"), "dotted"),
    ):
        values = {start_year: start_value, **paths[key]}
        spec["series"].append({"name": name, "data": [values.get(y) for y in years], "style": style})
