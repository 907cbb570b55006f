"""Listing reserve pages and API: the list, a firm's history, the funnel, the forecast, imports."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from qiantang.auth.permissions import Permission, has_permission
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.errors import NotFound, QiantangError, ValidationFailed
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.listing import imports, report, service
from qiantang.listing.models import MAIN_PATH, Board, Stage
from qiantang.listing.service import ReserveFilters
from qiantang.registry.models import Area
from qiantang.standards.industry import SECTIONS
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["上市后备企业 Listing pipeline"])
Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Editor = Annotated[Auth, require(Permission.EDIT_REGISTRY)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]
PER_PAGE = 50


def _enum(cls, value: str | None):
    """An optional filter value: empty (全部) means no filter; an unknown value is a 404-free 422."""
    if not value:
        return None
    try:
        return cls(value)
    except ValueError:
        raise QiantangError(f"无法识别的取值“{value}”", message_en=f"Unknown value {value!r}") from None


def _filters(q, stage, board, district, industry) -> ReserveFilters:
    return ReserveFilters(
        q=(q or "").strip() or None,
        stage=_enum(Stage, stage),
        board=_enum(Board, board),
        district_code=district or None,
        industry_section=industry or None,
    )


def as_of_date(db) -> date:
    """The data's as-of date (the loans' latest), or today."""
    return db.scalar(select(func.max(Loan.as_of))) or date.today()


def _page_context(db, auth: Auth) -> dict:
    areas = db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order))
    return {
        "stages": list(Stage),
        "boards": list(Board),
        "areas": list(areas),
        "sections": SECTIONS,
        "can_edit": has_permission(auth.user.role, Permission.EDIT_REGISTRY),
    }


@router.get("/listing")
def list_page(
    request: Request,
    db: DB,
    auth: Viewer,
    q: str | None = None,
    stage: str | None = None,
    board: str | None = None,
    district: str | None = None,
    industry: str | None = None,
    page: int = Query(1, ge=1, le=100_000),
):
    filters = _filters(q, stage, board, district, industry)
    rows, total = service.list_reserve(
        db, scope=auth.scope, filters=filters, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
    )
    as_of = as_of_date(db)
    funnel = service.funnel(db, scope=auth.scope, as_of=as_of).get("all", [])
    return render(
        request,
        "listing/list.html",
        active="listing",
        rows=rows,
        filters=filters,
        funnel=funnel,
        main_path=MAIN_PATH,
        as_of=as_of,
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
        **_page_context(db, auth),
    )


@router.get("/listing/export")
def export(
    request: Request,
    db: DB,
    auth: Exporter,
    q: str | None = None,
    stage: str | None = None,
    board: str | None = None,
    district: str | None = None,
    industry: str | None = None,
):
    filters = _filters(q, stage, board, district, industry)
    rows, _total = service.list_reserve(db, scope=auth.scope, filters=filters, limit=None)
    record_export(db, request, auth, "listing_reserve", detail={"rows": len(rows)})
    content = build_xlsx(
        sheet_title=_("Listing reserve"),
        headers=[
            _("Enterprise"),
            _("USCC"),
            _("District"),
            _("Industry"),
            _("Stage"),
            _("Since"),
            _("Target board"),
            _("Sponsor"),
            _("Enrolled"),
        ],
        rows=(
            [
                f.enterprise.name,
                f.enterprise.uscc,
                report.district_name(db, f.enterprise.district_code),
                report.section_name(f.enterprise.industry_section),
                f.stage.zh if report.zh() else f.stage.en,
                f.stage_since,
                f.target_board.zh if report.zh() else f.target_board.en,
                f.sponsor or "",
                f.enrolled_on,
            ]
            for f in rows
        ),
        notes=[_("Listing reserve (上市后备企业培育库) exported on %(date)s", date=date.today().isoformat())]
        + ([report.SYNTHETIC_NOTE] if request.app.state.is_demo(request) else []),
    )
    return xlsx_response(content, _("listing-reserve") + ".xlsx")


@router.get("/listing/funnel")
def funnel_page(request: Request, db: DB, auth: Viewer, by: str | None = None):
    group_by = by if by in ("district", "industry") else None
    as_of = as_of_date(db)
    groups = service.funnel(db, scope=auth.scope, as_of=as_of, group_by=group_by)
    fc = service.forecast(db, as_of=as_of)
    return render(
        request,
        "listing/funnel.html",
        active="listing",
        groups=groups,
        main_path=MAIN_PATH,
        by=group_by,
        as_of=as_of,
        forecast=fc,
        forecast_chart=report.forecast_chart(fc),
        published=service.published_counts(),
        names=report.group_names(db, group_by),
        otc=service.otc_listings(db, scope=auth.scope),
    )


@router.get("/listing/report.pdf")
def report_pdf(request: Request, db: DB, auth: Exporter):
    as_of = as_of_date(db)
    pdf = report.summary_pdf(db, scope=auth.scope, as_of=as_of, demo=request.app.state.is_demo(request))
    record_export(db, request, auth, "listing_report")
    return pdf_response(pdf, f"listing-reserve-{as_of.isoformat()}.pdf")


@router.get("/listing/import")
def import_page(request: Request, auth: Editor):
    return render(request, "listing/import.html", active="listing", error=None, stored=None)


@router.get("/listing/import/template")
def import_template(auth: Editor):
    return xlsx_response(imports.template(), _("listing-reserve-template") + ".xlsx")


@router.post("/listing/import")
def import_upload(request: Request, db: DB, auth: Editor, file: Annotated[UploadFile, File()]):
    # A plain (sync) route: FastAPI runs it in a worker thread, so parsing never blocks the event loop.
    content = file.file.read()
    try:
        stored = imports.import_reserve(db, content=content, filename=file.filename or "", actor=auth.user)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request, "listing/import.html", status_code=422, active="listing", error=exc, stored=None
        )
    return render(request, "listing/import.html", active="listing", error=None, stored=stored)


@router.post("/listing/enrol")
def enrol(
    request: Request,
    db: DB,
    auth: Editor,
    uscc: Annotated[str, Form(max_length=18)],
    on: Annotated[date, Form()],
    board: Annotated[str, Form()] = "undecided",
    sponsor: Annotated[str, Form(max_length=100)] = "",
):
    ent = db.scalar(select(Enterprise).where(Enterprise.uscc == uscc.strip().upper()))
    if ent is None:
        raise NotFound(f"未登记的企业 {uscc}", message_en=f"No enterprise {uscc}")
    firm = service.enrol(
        db,
        enterprise=ent,
        on=on,
        board=_enum(Board, board) or Board.UNDECIDED,
        sponsor=sponsor or None,
        actor=auth.user,
    )
    return RedirectResponse(f"/listing/{firm.id}", status_code=303)


@router.get("/listing/{firm_id:int}")
def detail_page(request: Request, db: DB, auth: Viewer, firm_id: int):
    firm = service.get_firm(db, scope=auth.scope, firm_id=firm_id)
    return render(
        request,
        "listing/detail.html",
        active="listing",
        firm=firm,
        awards_policy=service.award_policy(),
        district=report.district_name(db, firm.enterprise.district_code),
        **_page_context(db, auth),
    )


@router.post("/listing/{firm_id:int}/stage")
def record_stage(
    request: Request,
    db: DB,
    auth: Editor,
    firm_id: int,
    stage: Annotated[str, Form()],
    on: Annotated[date, Form()],
    reason: Annotated[str, Form(max_length=500)] = "",
):
    firm = service.get_firm(db, scope=auth.scope, firm_id=firm_id)
    service.record_stage(db, firm=firm, stage=_enum(Stage, stage), on=on, reason=reason, actor=auth.user)
    return RedirectResponse(f"/listing/{firm.id}", status_code=303)


@router.post("/listing/{firm_id:int}/awards")
def record_award(
    request: Request,
    db: DB,
    auth: Editor,
    firm_id: int,
    kind: Annotated[str, Form(max_length=32)],
    paid_on: Annotated[date, Form()],
    amount_wan: Annotated[float | None, Form(gt=0, le=1_000_000)] = None,
):
    firm = service.get_firm(db, scope=auth.scope, firm_id=firm_id)
    service.record_award(
        db,
        firm=firm,
        kind=kind,
        amount_yuan=None if amount_wan is None else amount_wan * 10_000,
        paid_on=paid_on,
        actor=auth.user,
    )
    return RedirectResponse(f"/listing/{firm.id}", status_code=303)


# ---------------------------------------------------------------------------------------------- API


class StageOut(BaseModel):
    stage: str
    stage_zh: str
    on: date
    reason: str | None


class FirmOut(BaseModel):
    id: int
    uscc: str
    name: str
    district_code: str
    industry_section: str
    stage: str
    stage_zh: str
    stage_since: date
    target_board: str
    sponsor: str | None
    enrolled_on: date
    history: list[StageOut] = Field(default_factory=list)


def _firm_out(firm, *, history: bool) -> FirmOut:
    return FirmOut(
        id=firm.id,
        uscc=firm.enterprise.uscc,
        name=firm.enterprise.name,
        district_code=firm.enterprise.district_code,
        industry_section=firm.enterprise.industry_section,
        stage=firm.stage.value,
        stage_zh=firm.stage.zh,
        stage_since=firm.stage_since,
        target_board=firm.target_board.value,
        sponsor=firm.sponsor,
        enrolled_on=firm.enrolled_on,
        history=[
            StageOut(stage=e.stage.value, stage_zh=e.stage.zh, on=e.on, reason=e.reason) for e in firm.events
        ]
        if history
        else [],
    )


@api_router.get("/listing/firms", summary="上市后备企业 Reserve firms")
def firms_api(
    db: DB,
    auth: Viewer,
    stage: str | None = None,
    board: str | None = None,
    district: str | None = None,
    offset: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    rows, total = service.list_reserve(
        db, scope=auth.scope, filters=_filters(None, stage, board, district, None), offset=offset, limit=limit
    )
    return {"total": total, "items": [_firm_out(f, history=False) for f in rows]}


@api_router.get("/listing/firms/{firm_id}", summary="一家后备企业及其进程 A reserve firm and its history")
def firm_api(db: DB, auth: Viewer, firm_id: int = Path(..., ge=1, le=2**62)) -> FirmOut:
    return _firm_out(service.get_firm(db, scope=auth.scope, firm_id=firm_id), history=True)


class StageIn(BaseModel):
    stage: Stage
    on: date
    reason: str | None = Field(None, max_length=500)


@api_router.post("/listing/firms/{firm_id}/stages", summary="登记进程 Record a stage", status_code=201)
def stage_api(db: DB, auth: Editor, body: StageIn, firm_id: int = Path(..., ge=1, le=2**62)) -> FirmOut:
    firm = service.get_firm(db, scope=auth.scope, firm_id=firm_id)
    service.record_stage(db, firm=firm, stage=body.stage, on=body.on, reason=body.reason, actor=auth.user)
    return _firm_out(firm, history=True)


@api_router.get("/listing/funnel", summary="阶段漏斗 Stage funnel")
def funnel_api(db: DB, auth: Viewer, by: str | None = Query(None, pattern="^(district|industry)$")) -> dict:
    as_of = as_of_date(db)
    groups = service.funnel(db, scope=auth.scope, as_of=as_of, group_by=by)
    return {
        "as_of": as_of,
        "groups": {
            key: [
                {
                    "stage": MAIN_PATH[r.stage].value,
                    "stage_zh": MAIN_PATH[r.stage].zh,
                    "reached": r.reached,
                    "still_here": r.still_here,
                    "left_here": r.left_here,
                    "conversion": r.conversion,
                    "median_years": r.median_years,
                }
                for r in rows
            ]
            for key, rows in groups.items()
        },
    }


@api_router.get("/listing/forecast", summary="上市数量预测 Listings forecast")
def forecast_api(db: DB, auth: Viewer) -> dict:
    fc = service.forecast(db, as_of=as_of_date(db))
    return {
        "method": "discrete-time stage-transition model, constant hazards; 80% interval by simulation",
        "years": list(fc.years),
        "expected": list(fc.expected),
        "low_p10": list(fc.low),
        "high_p90": list(fc.high),
        "in_reserve_by_stage": {MAIN_PATH[k].value: n for k, n in enumerate(fc.in_reserve)},
    }
