"""The monthly risk report (地方金融组织风险监测月报): PDF (WeasyPrint, Chinese) and Excel.

A report for month M covers the latest quarter whose end falls in or before M (returns for a quarter
arrive in the month after it); it is read from the stored ratings, signals and alerts within the
reader's scope.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.earlywarning import service
from qiantang.earlywarning.models import Alert, EwRating, EwSignal, Level, SignalFamily
from qiantang.earlywarning.panel import label_of, pq_of
from qiantang.earlywarning.rules import load_rules
from qiantang.errors import NotFound, ValidationFailed
from qiantang.registry.models import Area, Institution, InstitutionType

SYNTHETIC_NOTE = (
    "演示数据：本报告所列机构、数字均由软件合成，并非真实机构；"
    "合成城市的机构困境来自潜在健康过程，而非任何预警规则。"
)


@dataclass
class ReportData:
    month: str
    period_end: date
    label: str
    scope_label: str
    monitored: int
    by_level: dict[str, int]
    by_type: list[dict[str, Any]]
    top: list[dict[str, Any]]
    new_alerts: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    open_by_family: dict[str, int]
    yearly: list[dict[str, Any]] = field(default_factory=list)
    institutions: list[dict[str, Any]] = field(default_factory=list)


def month_end(month: str) -> date:
    try:
        year, mon = (int(x) for x in month.split("-"))
        return date(year, mon, calendar.monthrange(year, mon)[1])
    except (ValueError, calendar.IllegalMonthError):
        raise ValidationFailed(f"月份应为 YYYY-MM，实为“{month}”") from None


def monthly(session: Session, *, scope: Scope, month: str) -> ReportData:
    """Gather the report of ``month`` (YYYY-MM) within ``scope``."""
    period_end = service.latest_period(session, up_to=month_end(month))
    if period_end is None:
        raise NotFound(f"{month} 及以前没有预警结果", message_en=f"No early-warning results up to {month}")
    dash = service.dashboard(session, scope=scope, period_end=period_end)
    df = dash["frame"]
    types = {t.code: t.name_zh for t in session.scalars(select(InstitutionType))}
    areas = {a.code: a.name_zh for a in session.scalars(select(Area))}
    by_type = []
    if not df.empty:
        for t, g in df.groupby("type_code"):
            row = {"type": types.get(t, t), "total": len(g)}
            row.update({lv.value: int((g["level"] == lv.value).sum()) for lv in Level})
            by_type.append(row)
    rated = df[df["score"].notna()] if not df.empty else df
    top = []
    if not rated.empty:
        worst = df.sort_values(["rank", "score"], ascending=[False, True]).head(20)
        reasons = dict(
            session.execute(
                select(EwRating.institution_id, EwRating.reasons).where(
                    EwRating.period_end == period_end,
                    EwRating.institution_id.in_([int(i) for i in worst.index]),
                )
            ).all()
        )
        for i, r in worst.iterrows():
            top.append(
                {
                    "id": int(i),
                    "name": r["name"],
                    "type": types.get(r["type_code"], r["type_code"]),
                    "district": areas.get(r["district_code"], r["district_code"]),
                    "level": Level(r["level"]).zh,
                    "level_code": r["level"],
                    "score": None if _nan(r["score"]) else float(r["score"]),
                    "pd": None if _nan(r["pd"]) else float(r["pd"]),
                    "reasons": list(reasons.get(int(i)) or [])[:2],
                }
            )
    scoped = scope.institution_clause(Institution.id, Institution.district_code)
    new = session.execute(
        select(Alert, Institution.name)
        .join(Institution, Institution.id == Alert.institution_id)
        .where(scoped, Alert.first_period == period_end)
        .order_by(_level_rank(), Alert.id)
        .limit(60)
    ).all()
    level_order = {"red": 0, "orange": 1, "yellow": 2, "green": 3}
    new_alerts = sorted(
        (
            {
                "institution": name,
                "family": SignalFamily(a.family).zh,
                "level": Level(a.level).zh,
                "level_code": Level(a.level).value,
                "summary": a.summary_zh,
            }
            for a, name in new
        ),
        key=lambda x: level_order[x["level_code"]],
    )
    rule_names = {r.code: r for r in load_rules().rules}
    breaches = [
        {
            "rule": rule_names[code].name_zh if code in rule_names else code,
            "citation": rule_names[code].citation if code in rule_names else "",
            "level": Level(lv).zh,
            "count": int(n),
        }
        for code, lv, n in session.execute(
            select(EwSignal.code, EwSignal.level, func.count())
            .join(Institution, Institution.id == EwSignal.institution_id)
            .where(scoped, EwSignal.period_end == period_end, EwSignal.family == SignalFamily.LIMIT)
            .group_by(EwSignal.code, EwSignal.level)
            .order_by(func.count().desc())
        ).all()
    ]
    institutions = []
    if not df.empty:
        for i, r in df.sort_values(["rank", "score"], ascending=[False, True]).iterrows():
            institutions.append(
                {
                    "id": int(i),
                    "name": r["name"],
                    "type": types.get(r["type_code"], r["type_code"]),
                    "district": areas.get(r["district_code"], r["district_code"]),
                    "level": Level(r["level"]).zh,
                    "rating_level": Level(r["rating_level"]).zh if isinstance(r["rating_level"], str) else "",
                    "score": None if _nan(r["score"]) else float(r["score"]),
                    "pd": None if _nan(r["pd"]) else float(r["pd"]),
                }
            )
    return ReportData(
        month=month,
        period_end=period_end,
        label=label_of(pq_of(period_end)),
        scope_label="全市" if scope.is_citywide else areas.get(scope.district_code or "", "本辖区"),
        monitored=dash["monitored"],
        by_level=dash["by_level"],
        by_type=by_type,
        top=top,
        new_alerts=new_alerts,
        breaches=breaches,
        open_by_family={SignalFamily(k).zh: sum(v.values()) for k, v in dash["open_by_family"].items()},
        yearly=_yearly(session, scope=scope, up_to=period_end),
        institutions=institutions,
    )


def _level_rank():
    from sqlalchemy import case

    return case({"red": 0, "orange": 1, "yellow": 2, "green": 3}, value=Alert.level, else_=9)


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _yearly(session: Session, *, scope: Scope, up_to: date) -> list[dict[str, Any]]:
    """Red and orange ratings at each year's last rated quarter, up to the report's quarter."""
    history = service.level_history(session, scope=scope, quarters=200)
    by_year: dict[int, dict[str, Any]] = {}
    for h in history:
        if h["period_end"] > up_to:
            continue
        by_year[h["period_end"].year] = h  # the last quarter of each year wins
    return [
        {"year": y, "red": h.get("red", 0), "orange": h.get("orange", 0), "yellow": h.get("yellow", 0)}
        for y, h in sorted(by_year.items())
    ]


def report_pdf(data: ReportData, *, demo: bool) -> bytes:
    """The report as PDF, in Chinese whatever the page language."""
    from qiantang.reports import render_pdf

    return render_pdf(report_html(data, demo=demo))


def report_html(data: ReportData, *, demo: bool) -> str:
    """The report's HTML, from which the PDF is printed (Chinese whatever the page language)."""
    from qiantang.reports import line_chart_img
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        chart = None
        if len(data.yearly) >= 2:
            years = [y["year"] for y in data.yearly]
            chart = line_chart_img(
                title="各年末风险评级为红色、橙色、黄色的机构数",
                series=[
                    ("红色", [y["red"] for y in data.yearly], {"color": "#d93025", "marker": "o"}),
                    ("橙色", [y["orange"] for y in data.yearly], {"color": "#f29900", "marker": "o"}),
                    ("黄色", [y["yellow"] for y in data.yearly], {"color": "#c9a800", "marker": "o"}),
                ],
                years=years,
                unit="家",
            )
        return (
            environment()
            .get_template("earlywarning/report_pdf.html")
            .render(
                d=data,
                demo=demo,
                chart=chart,
                today=date.today(),
                synthetic_note=SYNTHETIC_NOTE,
                levels=list(Level),
            )
        )
    finally:
        _current.reset(token)


def report_xlsx(data: ReportData, *, demo: bool) -> bytes:
    """The report's institution list as a workbook, the key figures as notes above it."""
    from qiantang.exports import build_xlsx

    notes = [
        f"地方金融组织风险监测月报（{data.month}）· 数据期 {data.label} · 范围：{data.scope_label}",
        f"监测机构 {data.monitored} 家："
        + "，".join(f"{Level(k).zh} {v} 家" for k, v in data.by_level.items() if v),
    ]
    if demo:
        notes.append(SYNTHETIC_NOTE)
    rows = (
        [
            i["name"],
            i["type"],
            i["district"],
            i["level"],
            i["rating_level"],
            i["score"],
            i["pd"],
        ]
        for i in data.institutions
    )
    return build_xlsx(
        sheet_title=f"风险监测{data.label}",
        headers=["机构", "类型", "区县", "预警等级", "评级等级", "评级得分", "挑战者模型违约概率"],
        rows=rows,
        notes=notes,
        number_formats={5: "0.0", 6: "0.0%"},
    )


__all__ = ["ReportData", "month_end", "monthly", "report_pdf", "report_xlsx"]
