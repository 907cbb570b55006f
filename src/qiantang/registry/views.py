"""Institution registry pages and API (read side; editing arrives with the registry issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from qiantang.audit import service as audit
from qiantang.auth.permissions import Permission
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.formatting import convert
from qiantang.registry import schemas, service
from qiantang.registry.models import Area, Cluster, InstitutionLevel, InstitutionStatus, InstitutionType
from qiantang.registry.service import InstitutionFilters
from qiantang.schemas import Page
from qiantang.web.deps import DB, Auth, CurrentAuth, client_ip, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["机构名录 Registry"])
PER_PAGE = 50


def _filters(
    q: str | None = None,
    type: str | None = None,
    category: str | None = None,
    level: InstitutionLevel | None = None,
    district: str | None = None,
    cluster: str | None = None,
    status: InstitutionStatus | None = None,
) -> InstitutionFilters:
    return InstitutionFilters(
        q=q or None,
        type_code=type or None,
        category=category or None,
        level=level,
        district_code=district or None,
        cluster_code=cluster or None,
        status=status,
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
    notes = [_("Exported from Qiantang; demo data is synthetic.")] if request.app.state.is_demo() else []
    content = build_xlsx(
        sheet_title=_("Institutions"), headers=headers, rows=body, notes=notes, number_formats={9: "#,##0.00"}
    )
    audit.record(
        db,
        action="export",
        user=auth.user,
        object_type="institutions",
        ip=client_ip(request),
        detail={"rows": len(rows), "filters": {k: v for k, v in vars(filters).items() if v}},
    )
    return xlsx_response(content, _("Institutions") + ".xlsx")


@router.get("/institutions/{institution_id}")
def institution_page(request: Request, db: DB, auth: CurrentAuth, institution_id: int):
    inst = service.get_institution(db, scope=auth.scope, institution_id=institution_id)
    filings = service.institution_filings(db, institution_id=inst.id)
    return render(request, "registry/detail.html", inst=inst, filings=filings, active="registry")


@api_router.get("/institutions", response_model=Page[schemas.InstitutionOut], summary="机构列表")
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
    "/institutions/{institution_id}", response_model=schemas.InstitutionDetailOut, summary="机构详情"
)
def institution_api(db: DB, auth: CurrentAuth, institution_id: int):
    return service.get_institution(db, scope=auth.scope, institution_id=institution_id)


@api_router.get("/areas", response_model=list[schemas.AreaOut], summary="行政区划 (GB/T 2260)")
def areas_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(Area).order_by(Area.sort_order)).all()


@api_router.get("/clusters", response_model=list[schemas.ClusterOut], summary="一湾五镇多点 金融集聚区")
def clusters_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(Cluster).order_by(Cluster.sort_order)).all()


@api_router.get("/institution-types", response_model=list[schemas.InstitutionTypeOut], summary="机构类型")
def types_api(db: DB, auth: CurrentAuth):
    return db.scalars(select(InstitutionType).order_by(InstitutionType.sort_order)).all()
