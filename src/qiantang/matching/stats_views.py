"""Matchmaking statistics pages, the lender league table, the monthly report, open data and the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission, has_permission
from qiantang.errors import QiantangError
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.matching import report, stats
from qiantang.matching.models import ProductKind
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["融资对接 Financing matchmaking"])
Exporter = Annotated[Auth, require(Permission.EXPORT)]
PERIOD = Query("", max_length=8)


def _filters(auth: Auth, period: str, district: str, kind: str, db=None) -> stats.Filters:
    stats.check_scope(auth.scope)
    p = stats.parse_period(period or _default_period(db))
    k = None
    if kind:
        try:
            k = ProductKind(kind)
        except ValueError:
            raise QiantangError(
                f"无法识别的产品类型“{kind}”", message_en=f"Unknown product kind {kind!r}"
            ) from None
    if auth.user.role == Role.DISTRICT_OFFICER:
        district = auth.user.district_code or ""
    return stats.Filters(p, district or None, k)


def _default_period(db=None) -> str:
    """The year of the latest need posted (the demo's is 2025), else the current year."""
    from sqlalchemy import func, select

    from qiantang.matching.models import Need

    latest = db.scalar(select(func.max(Need.posted_on))) if db is not None else None
    return str((latest or date.today()).year)


def _scope_label(auth: Auth, db) -> str:
    if auth.user.role == Role.DISTRICT_OFFICER:
        return report.names(db, zh=is_zh())["areas"].get(auth.user.district_code, "")
    if auth.user.role == Role.LENDER:
        return _("Own institution")
    return _("Whole city")


def _charts(s: stats.Stats, n: dict) -> dict:
    steps = report.step_names()
    return {
        "funnel": {
            "kind": "bar",
            "categories": [steps[f["step"]] for f in s.funnel],
            "series": [{"name": _("Needs"), "data": [f["needs"] for f in s.funnel]}],
        },
        "declines": {
            "kind": "pie",
            "data": [{"name": r["zh"] if is_zh() else r["en"], "value": r["count"]} for r in s.declines],
        },
        "monthly": {
            "kind": "line",
            "categories": [m["month"] for m in s.monthly],
            "series": [
                {"name": _("Posted"), "data": [m["posted"] for m in s.monthly], "symbol": True},
                {"name": _("Disbursed"), "data": [m["disbursed"] for m in s.monthly], "symbol": True},
            ],
        },
    }


def _compute(db, auth: Auth, filters: stats.Filters):
    s = stats.compute(db, scope=auth.scope, filters=filters)
    league = stats.league(db, scope=auth.scope, filters=filters, today=date.today())
    n = report.names(db, zh=is_zh())
    return s, league, n


@router.get("/matching/stats")
def stats_page(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    period: str = PERIOD,
    district: str = Query("", max_length=6),
    kind: str = Query("", max_length=16),
    table: str = Query("", pattern="^[a-z_]{0,20}$"),
):
    filters = _filters(auth, period, district, kind, db)
    s, league, n = _compute(db, auth, filters)
    t = report.tables(s, league, n)
    if table:
        return _export_table(request, db, auth, t, table, s)
    return render(
        request,
        "matching/stats.html",
        active="matching",
        s=s,
        t=t,
        charts=_charts(s, n),
        period=filters.period.code,
        district=filters.district_code or "",
        kind=filters.kind.value if filters.kind else "",
        kinds=list(ProductKind),
        areas=n["areas"],
        district_choices=sorted({r["key"] for r in s.by_district} | ({filters.district_code} - {None})),
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        is_district=auth.user.role == Role.DISTRICT_OFFICER,
        scope_label=_scope_label(auth, db),
        steps=report.step_names(),
        query=urlencode({"period": filters.period.code, "district": district, "kind": kind}),
    )


def _export_table(request: Request, db, auth: Auth, t: dict, table: str, s: stats.Stats) -> Response:
    if not has_permission(auth.user.role, Permission.EXPORT):
        from qiantang.errors import Forbidden

        raise Forbidden("您的角色不能导出", message_en="Your role cannot export")
    if table not in t:
        raise QiantangError(f"无法识别的表格“{table}”", message_en=f"Unknown table {table!r}")
    record_export(
        db, request, auth, "matching_stats", detail={"table": table, "period": s.filters.period.code}
    )
    content = build_xlsx(
        sheet_title=t[table]["title"],
        headers=t[table]["headers"],
        rows=t[table]["rows"],
        notes=report.notes(s, _scope_label(auth, db), request.app.state.is_demo()),
    )
    return xlsx_response(content, f"{t[table]['title']}-{s.filters.period.code}.xlsx")


@router.get("/matching/lenders")
def lenders_page(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    period: str = PERIOD,
    district: str = Query("", max_length=6),
    kind: str = Query("", max_length=16),
):
    filters = _filters(auth, period, district, kind, db)
    league = stats.league(db, scope=auth.scope, filters=filters, today=date.today())
    return render(
        request,
        "matching/lenders.html",
        active="matching",
        league=league,
        rule=stats.rules()["league"],
        period=filters.period.code,
        district=filters.district_code or "",
        kind=filters.kind.value if filters.kind else "",
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        is_lender=auth.user.role == Role.LENDER,
    )


@router.get("/matching/report")
def monthly_report(
    request: Request,
    db: DB,
    auth: Exporter,
    month: str = Query(..., pattern=r"^\d{4}-\d{2}$"),
    format: str = Query("pdf", pattern="^(pdf|xlsx)$"),
):
    from qiantang.web.i18n import _current, set_locale

    filters = _filters(auth, month, "", "")
    demo = request.app.state.is_demo()
    record_export(db, request, auth, "matching_report", object_id=month, detail={"format": format})
    token = set_locale("zh_CN")  # the report is Chinese whatever the page language
    try:
        s, league, n = _compute(db, auth, filters)
        t = report.tables(s, league, n)
        label = _scope_label(auth, db)
        if format == "xlsx":
            return xlsx_response(
                report.workbook(t, notes_=report.notes(s, label, demo)), f"融资对接月报-{month}.xlsx"
            )
        from qiantang.reports import render_pdf

        html = report.report_html(s, t, scope_label=label, demo=demo)
    finally:
        _current.reset(token)
    return pdf_response(render_pdf(html), f"matching-report-{month}.pdf")


@router.get("/matching/open-data.csv")
def open_data(request: Request, db: DB, auth: CurrentAuth, period: str = PERIOD):
    stats.check_scope(auth.scope)
    p = stats.parse_period(period or _default_period(db))
    text = report.open_data_csv(db, period=p)
    return Response(
        "\ufeff" + text,  # BOM: Excel opens the UTF-8 file with its Chinese names intact
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="matching-open-data-{p.code}.csv"'},
    )


# ---------------------------------------------------------------------------------------------- API
class FunnelStep(BaseModel):
    step: str
    needs: int
    amount_yuan: float
    approved_amount_yuan: float | None
    share_of_posted: float | None


class Times(BaseModel):
    key: str | int | None = None
    name: str | None = None
    picked: int
    contacts: int
    contact_p50: float | None
    contact_p90: float | None
    decisions: int
    decision_p50: float | None
    decision_p90: float | None


class Decline(BaseModel):
    code: str | None
    zh: str
    en: str
    count: int
    share: float | None


class Shares(BaseModel):
    key: str | None = None
    name: str | None = None
    loans: int
    amount: float
    first: int
    credit: int
    first_share: float | None
    credit_share: float | None


class StatsOut(BaseModel):
    period: str
    period_start: date
    period_end: date
    district_code: str | None
    kind: str | None
    funnel: list[FunnelStep]
    overall: Times
    by_lender: list[Times]
    by_district: list[Times]
    declines: list[Decline]
    disbursed: Shares
    by_size: list[Shares]
    by_industry: list[Shares]
    by_district_loans: list[Shares]


@api_router.get("/matching/stats", summary="对接统计 Matchmaking statistics")
def stats_api(
    db: DB,
    auth: CurrentAuth,
    period: str = PERIOD,
    district: str = Query("", max_length=6),
    kind: str = Query("", max_length=16),
) -> StatsOut:
    """Funnel (counts, amounts in 元), working-day p50/p90 by lender and district, decline reasons,
    first-loan and credit-loan shares; scoped like the page (a lender sees only its own offers)."""
    filters = _filters(auth, period, district, kind, db)
    s = stats.compute(db, scope=auth.scope, filters=filters)
    n = report.names(db, zh=True)
    own = auth.user.institution_id if auth.user.role == Role.LENDER else None
    return StatsOut(
        period=filters.period.code,
        period_start=filters.period.start,
        period_end=filters.period.end,
        district_code=filters.district_code,
        kind=filters.kind.value if filters.kind else None,
        funnel=[
            FunnelStep(
                step=f["step"],
                needs=f["needs"],
                amount_yuan=f["amount"],
                approved_amount_yuan=f["approved_amount"],
                share_of_posted=f["share_of_posted"],
            )
            for f in s.funnel
        ],
        overall=Times(**s.overall),
        by_lender=[
            Times(**r, name=n["lenders"].get(r["key"]) if own in (None, r["key"]) else None)
            for r in s.by_lender
        ],
        by_district=[Times(**r, name=n["areas"].get(r["key"])) for r in s.by_district],
        declines=[Decline(**r) for r in s.declines],
        disbursed=Shares(**s.disbursed),
        by_size=[Shares(**r, name=n["sizes"].get(r["key"])) for r in s.by_size],
        by_industry=[Shares(**r, name=n["sections"].get(r["key"])) for r in s.by_industry],
        by_district_loans=[Shares(**r, name=n["areas"].get(r["key"])) for r in s.by_district_loans],
    )
