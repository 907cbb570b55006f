"""What the listing pages hand out besides tables: names, the forecast chart, the Chinese PDF summary."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.listing import pipeline, service
from qiantang.listing.models import MAIN_PATH
from qiantang.registry.service import area_names
from qiantang.standards.industry import SECTIONS
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh

SYNTHETIC_NOTE = "演示数据：上市后备企业及其进程为合成数据，非真实名单。"


def zh() -> bool:
    return is_zh()


def district_name(session: Session, code: str) -> str:
    return area_names(session, zh=is_zh()).get(code, code)


def section_name(code: str) -> str:
    section = next((s for s in SECTIONS if s.code == code), None)
    if section is None:
        return code
    return section.name_zh if is_zh() else section.name_en


def group_names(session: Session, group_by: str | None) -> dict[str, str]:
    if group_by == "district":
        return area_names(session, zh=is_zh())
    if group_by == "industry":
        return {s.code: (s.name_zh if is_zh() else s.name_en) for s in SECTIONS}
    return {"all": _("Whole reserve")}


def forecast_chart(fc: pipeline.Forecast) -> dict:
    """Expected listings per year from today's reserve, with the 80 % interval."""
    return {
        "kind": "line",
        "title": _("Listings per year from today's reserve (forecast)"),
        "unit": _("firms"),
        "categories": [str(y) for y in fc.years],
        "series": [
            {
                "name": _("Expected"),
                "data": [round(x, 1) for x in fc.expected],
                "style": "solid",
                "symbol": True,
            },
            {"name": _("10th percentile"), "data": [round(x, 1) for x in fc.low], "style": "dotted"},
            {"name": _("90th percentile"), "data": [round(x, 1) for x in fc.high], "style": "dotted"},
        ],
    }


def cumulative_forecast(fc: pipeline.Forecast, start: float) -> dict[str, dict[int, float]]:
    """Listed firms at each year end if today's ``start`` grows by the forecast (expected, p10, p90).

    Summing yearly percentiles gives a wider band than the percentile of the sum: a cautious band.
    """
    out: dict[str, dict[int, float]] = {"expected": {}, "low": {}, "high": {}}
    e = lo = hi = float(start)
    for year, x, a, b in zip(fc.years, fc.expected, fc.low, fc.high, strict=True):
        e, lo, hi = e + x, lo + a, hi + b
        out["expected"][year], out["low"][year], out["high"][year] = round(e, 1), round(lo, 1), round(hi, 1)
    return out


def summary_pdf(session: Session, *, scope: Scope, as_of: date, demo: bool) -> bytes:
    """The reserve on one page or two, in Chinese: funnel, time per stage, forecast, published counts."""
    from qiantang.reports import render_pdf
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        funnel = service.funnel(session, scope=scope, as_of=as_of).get("all", [])
        by_district = service.funnel(session, scope=scope, as_of=as_of, group_by="district")
        fc = service.forecast(session, as_of=as_of)
        html = (
            environment()
            .get_template("listing/report_pdf.html")
            .render(
                funnel=funnel,
                by_district=by_district,
                names=area_names(session),
                main_path=MAIN_PATH,
                forecast=fc,
                published=service.published_counts(),
                as_of=as_of,
                today=date.today(),
                demo=demo,
                synthetic_note=SYNTHETIC_NOTE,
            )
        )
    finally:
        _current.reset(token)
    return render_pdf(html)
