"""Plan monitoring pages, downloads, uploads and API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from qiantang.audit import service as audit
from qiantang.auth.permissions import Permission, has_permission
from qiantang.db import get_or_404
from qiantang.errors import ValidationFailed
from qiantang.exports import pdf_response, xlsx_response
from qiantang.plan import report, schemas, service
from qiantang.plan.models import Indicator, IndicatorValue, Plan
from qiantang.plan.progress import ProgressStatus
from qiantang.web.deps import DB, Auth, record_export, require, require_any
from qiantang.web.i18n import gettext as _
from qiantang.web.templating import nav_permissions, render

router = APIRouter(include_in_schema=False)
HELPERS = {
    "fmt_value": report.fmt_value,
    "comparison_symbol": report.comparison_symbol,
    "required_text": report.required_text,
    "year_met_text": report.year_met_text,
}
api_router = APIRouter(tags=["规划监测 Plan monitoring"])
Viewer = Annotated[Auth, require_any(*nav_permissions("plan"))]  # the menu shows what opens
Editor = Annotated[Auth, require(Permission.EDIT_PLAN)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]


def _default_plan(db) -> Plan | None:
    plan = db.scalar(select(Plan).where(Plan.code == service.DEFAULT_PLAN_CODE))
    plans = service.list_plans(db)
    return plan or (plans[0] if plans else None)


@router.get("/plan")
def plan_home(db: DB, auth: Viewer):
    plan = _default_plan(db)
    if plan is None:
        return RedirectResponse("/plan/new", status_code=303)
    return RedirectResponse(f"/plan/{plan.id}", status_code=303)


def _counts(progress) -> dict[str, int]:
    counts = {s.value: 0 for s in ProgressStatus}
    for p in progress:
        counts[p.assessment.status.value] += 1
    return counts


@router.get("/plan/{plan_id:int}")
def plan_page(request: Request, db: DB, auth: Viewer, plan_id: int, uploaded: int | None = None):
    plan, progress = service.plan_progress(db, plan_id=plan_id)
    return render(
        request,
        "plan/overview.html",
        plan=plan,
        plans=service.list_plans(db),
        progress=progress,
        counts=_counts(progress),
        statuses=list(ProgressStatus),
        can_edit=has_permission(auth.user.role, Permission.EDIT_PLAN),
        uploaded=uploaded,
        active="plan",
        **HELPERS,
    )


@router.get("/plan/{plan_id:int}/export")
def plan_export(request: Request, db: DB, auth: Exporter, plan_id: int):
    plan, progress = service.plan_progress(db, plan_id=plan_id)
    content = report.progress_xlsx(plan, progress, demo=request.app.state.is_demo(request))
    record_export(db, request, auth, "plan_progress", object_id=plan_id)
    return xlsx_response(content, f"{plan.name_zh}-进展.xlsx")


@router.get("/plan/{plan_id:int}/report.pdf")
def plan_pdf(request: Request, db: DB, auth: Exporter, plan_id: int):
    plan, progress = service.plan_progress(db, plan_id=plan_id)
    pdf = report.progress_pdf(plan, progress, demo=request.app.state.is_demo(request))
    record_export(db, request, auth, "plan_report", object_id=plan_id)
    return pdf_response(pdf, f"plan-{plan.code}.pdf")


@router.post("/plan/{plan_id:int}/report-job")
def plan_pdf_job(request: Request, db: DB, auth: Exporter, plan_id: int):
    """The PDF takes seconds (a chart per target): made by a background job, downloaded from its page."""
    from qiantang.jobs import service as jobs

    plan = get_or_404(db, Plan, plan_id)
    job = jobs.enqueue(
        db,
        "plan.report_pdf",
        title=f"规划进展报告：{plan.name_zh}",
        user_id=auth.user.id,
        params={"plan_id": plan.id},
    )
    record_export(db, request, auth, "plan_report", object_id=plan_id, detail={"job": job.id})
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/plan/indicators/{code}")
def indicator_page(request: Request, db: DB, auth: Viewer, code: str, plan: int | None = None):
    indicator = get_or_404(db, Indicator, code)
    target = None
    progress = None
    chosen = db.get(Plan, plan) if plan else _default_plan(db)
    if chosen is not None:
        target = next((t for t in chosen.targets if t.indicator_code == code), None)
        if target is not None:
            progress = service.target_progress(db, target)
    series = service.best_by_year(service.annual_values(db, code))
    spec = report.indicator_chart_spec(indicator, series, progress)
    listing = _listing_forecast(db, spec, series) if code == LISTED_CODE else None
    return render(
        request,
        "plan/indicator.html",
        indicator=indicator,
        plan=chosen,
        target=target,
        progress=progress,
        series=series,
        history=service.history(db, code),
        chart_spec=spec,
        listing=listing,
        active="plan",
        **HELPERS,
    )


LISTED_CODE = "listed_companies"


def _listing_forecast(db, spec: dict, series: dict) -> dict | None:
    """The listing pipeline's forecast as a second line beside the register's listed-firm count."""
    from qiantang.listing import report as listing_report
    from qiantang.listing import service as listing_service
    from qiantang.listing.views import as_of_date

    as_of = as_of_date(db)
    start_year = as_of.year if (as_of.month, as_of.day) == (12, 31) else as_of.year - 1
    start = series.get(start_year)
    if start is None:
        return None
    fc = listing_service.forecast(db, as_of=as_of)
    if sum(fc.in_reserve) == 0:
        return None
    paths = listing_report.cumulative_forecast(fc, start.value)
    report.add_forecast_lines(spec, start_year, start.value, paths)
    return {"forecast": fc, "published": listing_service.published_counts(), "paths": paths}


@router.get("/plan/values/template")
def values_template(db: DB, auth: Viewer):
    return xlsx_response(service.values_template(db), _("indicator-values-template") + ".xlsx")


@router.post("/plan/values/upload")
def values_upload(
    request: Request,
    db: DB,
    auth: Editor,
    file: Annotated[UploadFile, File()],
    plan_id: Annotated[int, Form()],
):
    content = file.file.read()  # a plain route: runs in a worker thread, off the event loop
    try:
        written = service.upload_values(
            db, content=content, filename=file.filename or "", username=auth.user.username
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "plan/upload_result.html",
            status_code=422,
            error=exc,
            filename=file.filename,
            back=f"/plan/{plan_id}",
            active="plan",
        )
    return RedirectResponse(f"/plan/{plan_id}?uploaded={len(written)}", status_code=303)


@router.get("/plan/new")
def plan_new(request: Request, db: DB, auth: Editor):
    return render(request, "plan/new.html", plans=service.list_plans(db), active="plan", form={})


@router.get("/plan/template")
def plan_template(db: DB, auth: Viewer):
    return xlsx_response(service.plan_template(db), _("plan-targets-template") + ".xlsx")


@router.post("/plan/upload")
def plan_upload(
    request: Request,
    db: DB,
    auth: Editor,
    file: Annotated[UploadFile, File()],
    code: Annotated[str, Form(min_length=1, max_length=64)],
    name_zh: Annotated[str, Form(min_length=1, max_length=200)],
    period_start: Annotated[int, Form(ge=1978, le=2100)],
    period_end: Annotated[int, Form(ge=1978, le=2100)],
    source_document: Annotated[str, Form(max_length=2000)] = "",
):
    meta = service.PlanMeta(
        code=code.strip(),
        name_zh=name_zh.strip(),
        period_start=period_start,
        period_end=period_end,
        source_document=source_document.strip(),
    )
    content = file.file.read()  # a plain route: runs in a worker thread, off the event loop
    try:
        plan = service.upload_plan(
            db, meta=meta, content=content, filename=file.filename or "", username=auth.user.username
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "plan/upload_result.html",
            status_code=422,
            error=exc,
            filename=file.filename,
            back="/plan/new",
            active="plan",
        )
    return RedirectResponse(f"/plan/{plan.id}", status_code=303)


# ---------------------------------------------------------------------------------------------- API


@api_router.get("/plans", response_model=list[schemas.PlanOut], summary="规划列表 Plans")
def plans_api(db: DB, auth: Viewer):
    return service.list_plans(db)


def progress_out(p: service.TargetProgress) -> schemas.TargetProgressOut:
    a = p.assessment
    return schemas.TargetProgressOut(
        indicator_code=p.indicator.code,
        name_zh=p.indicator.name_zh,
        name_en=p.indicator.name_en,
        unit=p.indicator.unit,
        kind=p.indicator.kind.value,
        plan_section=p.target.plan_section,
        baseline_year=p.target.baseline_year,
        baseline_value=p.target.baseline_value,
        target_year=p.target.target_year,
        target_value=p.target.target_value,
        comparison=p.target.comparison,
        status=a.status.value,
        status_zh=a.status.zh,
        base_year=a.base_year,
        base_value=a.base_value,
        assessed_year=a.assessed_year,
        assessed_value=a.assessed_value,
        cagr_observed=a.cagr_observed,
        cagr_required=a.cagr_required,
        ratio=a.ratio,
        required_growth_from_latest=a.required_growth_from_latest,
        required_per_year_from_latest=a.required_per_year_from_latest,
        secured=a.secured,
        after_target_year=a.after_target_year,
        projections=[
            schemas.ProjectionOut(
                method=x.method, value_at_target_year=x.value_at_target_year, year_met=x.year_met
            )
            for x in a.projections
        ],
        reasons=list(a.reasons),
        reasons_en=list(a.reasons_en),
        values_used=[schemas.ValueOut.model_validate(v) for v in p.values_used],
        series=[schemas.ValueOut.model_validate(v) for v in p.series.values()],
    )


@api_router.get(
    "/plans/{plan_id}/progress",
    response_model=list[schemas.TargetProgressOut],
    summary="规划目标进展 Progress of every target",
)
def progress_api(db: DB, auth: Viewer, plan_id: int, as_of_year: int | None = Query(None, ge=1978, le=2100)):
    _plan, progress = service.plan_progress(db, plan_id=plan_id, as_of_year=as_of_year)
    return [progress_out(p) for p in progress]


@api_router.get(
    "/indicators/{code}/values",
    response_model=list[schemas.ValueOut],
    summary="指标数值（含计算值） Indicator values",
)
def values_api(db: DB, auth: Viewer, code: str):
    get_or_404(db, Indicator, code)
    return service.annual_values(db, code)


@api_router.post(
    "/indicator-values",
    response_model=list[schemas.ValueOut],
    status_code=201,
    summary="录入指标数值 Enter values (all or nothing)",
)
def enter_values_api(body: list[schemas.ValueIn], db: DB, auth: Editor) -> list[IndicatorValue]:
    values = [service.ValueIn(row=i + 1, **v.model_dump()) for i, v in enumerate(body)]
    written = service.enter_values(db, values, username=auth.user.username)
    audit.record(
        db,
        action="create",
        user=auth.user,
        object_type="indicator_values",
        detail={"rows": len(written), "via": "api"},
    )
    return written
