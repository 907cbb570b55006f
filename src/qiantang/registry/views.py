"""Institution registry pages and API (read side; editing arrives with the registry issue)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from qiantang.auth.permissions import Permission, has_permission
from qiantang.errors import RowError, ValidationFailed
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.formatting import convert
from qiantang.registry import schemas, service
from qiantang.registry.models import (
    Area,
    Cluster,
    Institution,
    InstitutionLevel,
    InstitutionStatus,
    InstitutionType,
)
from qiantang.registry.service import InstitutionFilters
from qiantang.schemas import Page
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require, require_any
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.params import Blank
from qiantang.web.templating import nav_permissions, pagination, render

# The institution pages and their API open for exactly the roles whose menu shows them (not for
# lenders and firms, whose scope would show them an empty list); the reference lists stay open.
_VIEWER = require_any(*nav_permissions("registry"))
router = APIRouter(include_in_schema=False, dependencies=[_VIEWER])
api_router = APIRouter(tags=["机构名录 Registry"])
PER_PAGE = 50


def _filters(
    q: str | None = None,
    type: str | None = None,
    category: str | None = None,
    level: Blank[InstitutionLevel] = None,
    district: str | None = None,
    cluster: str | None = None,
    status: Blank[InstitutionStatus] = None,
    supervisor: str | None = None,
) -> InstitutionFilters:
    return InstitutionFilters(
        q=q or None,
        type_code=type or None,
        category=category or None,
        level=level,
        district_code=district or None,
        cluster_code=cluster or None,
        status=status,
        supervisor=supervisor or None,
    )


Filters = Annotated[InstitutionFilters, Depends(_filters)]


@router.get("/institutions")
def institutions_page(
    request: Request, db: DB, auth: CurrentAuth, filters: Filters, page: int = Query(1, ge=1)
):
    rows, total = service.list_institutions(
        db, scope=auth.scope, filters=filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return render(
        request,
        "registry/list.html",
        rows=rows,
        filters=filters,
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
        levels=list(InstitutionLevel),
        statuses=list(InstitutionStatus),
        can_edit=has_permission(auth.user.role, Permission.EDIT_REGISTRY),
        active="registry",
        **service.reference_lists(db),
    )


@router.get("/institutions/export")
def institutions_export(
    request: Request, db: DB, auth: Annotated[Auth, require(Permission.EXPORT)], filters: Filters
):
    rows, _total = service.list_institutions(db, scope=auth.scope, filters=filters, limit=MAX_EXPORT_ROWS)
    zh = is_zh()
    headers = [
        _("USCC"),
        _("Name"),
        _("Type"),
        _("Level"),
        _("District"),
        _("Cluster"),
        _("Established"),
        _("Deregistered"),
        _("Status"),
        _("Registered capital (CNY 10k)"),
    ]
    body = (
        [
            r.uscc,
            r.name,
            r.type.name_zh if zh else r.type.name_en,
            label(r.level),
            r.district.name_zh if zh else r.district.name_en,
            (r.cluster.name_zh if zh else r.cluster.name_en) if r.cluster else "",
            r.established_on,
            r.deregistered_on,
            label(r.status),
            convert(r.registered_capital, "万元"),
        ]
        for r in rows
    )
    notes = (
        [_("Exported from Qiantang; demo data is synthetic.")] if request.app.state.is_demo(request) else []
    )
    content = build_xlsx(
        sheet_title=_("Institutions"), headers=headers, rows=body, notes=notes, number_formats={9: "#,##0.00"}
    )
    record_export(
        db,
        request,
        auth,
        "institutions",
        detail={"rows": len(rows), "filters": {k: v for k, v in vars(filters).items() if v}},
    )
    return xlsx_response(content, _("Institutions") + ".xlsx")


Editor = Annotated[Auth, require(Permission.EDIT_REGISTRY)]


def _form_input(form: dict, *, existing: Institution | None = None) -> service.InstitutionInput:
    def text(key: str) -> str | None:
        value = (form.get(key) or "").strip()
        return value or None

    capital = text("registered_capital_wan")
    try:
        capital_value = float(capital.replace(",", "")) if capital else None
    except ValueError:
        raise ValidationFailed(
            "机构信息有误", [RowError(None, "注册资本（万元）", f"应为数字，实为“{capital}”")]
        ) from None
    established = text("established_on")
    try:
        established_on = date.fromisoformat(established) if established else None
    except ValueError:
        raise ValidationFailed(
            "机构信息有误", [RowError(None, "设立日期", "应为日期（YYYY-MM-DD）")]
        ) from None
    if existing is None and established_on is None:
        raise ValidationFailed("机构信息有误", [RowError(None, "设立日期", "必填项为空")])
    return service.InstitutionInput(
        uscc=text("uscc") or (existing.uscc if existing else ""),
        name=text("name") or "",
        type_code=text("type_code") or (existing.type_code if existing else ""),
        level=text("level") or "",
        district_code=text("district_code") or "",
        established_on=established_on or (existing.established_on if existing else date.today()),
        cluster_code=text("cluster_code"),
        parent_name=text("parent_name"),
        registered_capital_wan=capital_value,
        licence_no=text("licence_no"),
        registration_no=text("registration_no"),
        address=text("address"),
    )


def _edit_page(request, db, *, inst: Institution | None, form: dict, errors=(), status_code=200):
    return render(
        request,
        "registry/edit.html",
        status_code=status_code,
        inst=inst,
        form=form,
        errors=list(errors),
        levels=list(InstitutionLevel),
        active="registry",
        **service.reference_lists(db),
    )


@router.get("/institutions/new")
def new_institution_page(request: Request, db: DB, auth: Editor):
    return _edit_page(request, db, inst=None, form={"established_on": date.today().isoformat()})


@router.post("/institutions/new")
async def create_institution_form(request: Request, db: DB, auth: Editor):
    form = dict(await request.form())
    # The database work runs in a worker thread: an async route must never wait on the database.
    return await run_in_threadpool(_create_institution, request, db, auth, form)


def _create_institution(request: Request, db, auth, form: dict):
    try:
        inst = service.create_institution(db, data=_form_input(form), actor=auth.user)
    except ValidationFailed as exc:
        db.rollback()
        return _edit_page(request, db, inst=None, form=form, errors=exc.errors, status_code=422)
    return RedirectResponse(f"/institutions/{inst.id}", status_code=303)


@router.get("/institutions/{institution_id}/edit")
def edit_institution_page(request: Request, db: DB, auth: Editor, institution_id: int):
    inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
    service.check_editable(inst)
    current = vars(service.input_of(inst))
    form = {k: ("" if v is None else str(v)) for k, v in current.items()}
    return _edit_page(request, db, inst=inst, form=form)


@router.post("/institutions/{institution_id}/edit")
async def edit_institution_form(request: Request, db: DB, auth: Editor, institution_id: int):
    form = dict(await request.form())
    return await run_in_threadpool(_edit_institution, request, db, auth, institution_id, form)


def _edit_institution(request: Request, db, auth, institution_id: int, form: dict):
    inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
    service.check_editable(inst)
    try:
        service.update_institution(
            db, institution_id=inst.id, data=_form_input(form, existing=inst), actor=auth.user
        )
    except ValidationFailed as exc:
        db.rollback()
        inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
        return _edit_page(request, db, inst=inst, form=form, errors=exc.errors, status_code=422)
    return RedirectResponse(f"/institutions/{institution_id}", status_code=303)


@router.post("/institutions/{institution_id}/status")
def change_status_form(
    request: Request,
    db: DB,
    auth: Editor,
    institution_id: int,
    event: Annotated[str, Form()],
    effective_on: Annotated[date, Form()],
    reason: Annotated[str, Form()] = "",
):
    try:
        service.change_status(
            db,
            institution_id=institution_id,
            event=event,
            effective_on=effective_on,
            reason=reason,
            actor=auth.user,
        )
    except ValidationFailed as exc:
        db.rollback()
        return _detail_page(request, db, auth, institution_id, status_errors=exc.errors, status_code=422)
    return RedirectResponse(f"/institutions/{institution_id}", status_code=303)


def _detail_page(request, db, auth: Auth, institution_id: int, *, status_errors=(), status_code=200):
    inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
    return render(
        request,
        "registry/detail.html",
        status_code=status_code,
        inst=inst,
        filings=service.institution_filings(db, institution_id=inst.id),
        can_edit=has_permission(auth.user.role, Permission.EDIT_REGISTRY),
        can_modify=has_permission(auth.user.role, Permission.EDIT_REGISTRY) and service.is_editable(inst),
        events=[e for e in service.TRANSITIONS if inst.status in service.TRANSITIONS[e][0]],
        status_errors=list(status_errors),
        today=date.today().isoformat(),
        active="registry",
    )


@router.get("/institutions/{institution_id}")
def institution_page(request: Request, db: DB, auth: CurrentAuth, institution_id: int):
    return _detail_page(request, db, auth, institution_id)


@api_router.get(
    "/institutions", dependencies=[_VIEWER], response_model=Page[schemas.InstitutionOut], summary="机构列表"
)
def institutions_api(
    db: DB,
    auth: CurrentAuth,
    filters: Filters,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    rows, total = service.list_institutions(db, scope=auth.scope, filters=filters, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@api_router.get(
    "/institutions/{institution_id}",
    dependencies=[_VIEWER],
    response_model=schemas.InstitutionDetailOut,
    summary="机构详情",
)
def institution_api(db: DB, auth: CurrentAuth, institution_id: int):
    return service.get_institution(db, scope=auth.scope, institution_id=institution_id)


@api_router.post(
    "/institutions",
    dependencies=[_VIEWER],
    response_model=schemas.InstitutionDetailOut,
    status_code=201,
    summary="登记机构 Register an institution",
)
def create_institution_api(body: schemas.InstitutionIn, db: DB, auth: Editor):
    return service.create_institution(db, data=service.InstitutionInput(**body.model_dump()), actor=auth.user)


@api_router.patch(
    "/institutions/{institution_id}",
    dependencies=[_VIEWER],
    response_model=schemas.InstitutionDetailOut,
    summary="变更机构信息 Change an institution's data",
)
def update_institution_api(body: schemas.InstitutionUpdate, db: DB, auth: Editor, institution_id: int):
    inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
    current = vars(service.input_of(inst))
    changes = body.model_dump(exclude_unset=True)
    effective_on = changes.pop("effective_on", None)
    data = service.InstitutionInput(**{**current, **{k: getattr(v, "value", v) for k, v in changes.items()}})
    return service.update_institution(
        db, institution_id=inst.id, data=data, actor=auth.user, effective_on=effective_on
    )


@api_router.post(
    "/institutions/{institution_id}/status-changes",
    dependencies=[_VIEWER],
    response_model=schemas.StatusChangeOut,
    status_code=201,
    summary="登记状态变更 Record a status change",
)
def change_status_api(body: schemas.StatusChangeIn, db: DB, auth: Editor, institution_id: int):
    return service.change_status(
        db,
        institution_id=institution_id,
        event=body.event,
        effective_on=body.effective_on,
        reason=body.reason,
        actor=auth.user,
    )


@api_router.get("/areas", response_model=list[schemas.AreaOut], summary="行政区划 (GB/T 2260)")
def areas_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(Area).order_by(Area.sort_order)).all()


@api_router.get("/clusters", response_model=list[schemas.ClusterOut], summary="一湾五镇多点 金融集聚区")
def clusters_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(Cluster).order_by(Cluster.sort_order)).all()


@api_router.get("/institution-types", response_model=list[schemas.InstitutionTypeOut], summary="机构类型")
def types_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(InstitutionType).order_by(InstitutionType.sort_order)).all()
