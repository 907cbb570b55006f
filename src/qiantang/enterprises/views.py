"""Enterprise pages and API (the one-firm-one-file profile grows with the SME issue)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from qiantang.auth.permissions import Permission
from qiantang.credit import policy as credit_policy
from qiantang.enterprises import panels, schemas, service
from qiantang.enterprises.models import ListingStatus
from qiantang.enterprises.service import EnterpriseFilters
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, spool, xlsx_file_response
from qiantang.formatting import convert
from qiantang.registry.models import Area
from qiantang.registry.service import area_names
from qiantang.schemas import Page
from qiantang.standards.industry import SECTIONS, industry_label
from qiantang.standards.sme_size import SizeClass
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.params import Blank
from qiantang.web.templating import query_without, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["企业 Enterprises"])
PER_PAGE = 50


def _filters(
    q: str | None = None,
    district: str | None = None,
    size: Blank[SizeClass] = None,
    section: str | None = None,
    listing: Blank[ListingStatus] = None,
    high_tech: Blank[bool] = None,
    grade: str | None = None,
) -> EnterpriseFilters:
    return EnterpriseFilters(
        q=q or None,
        district_code=district or None,
        size_class=size,
        industry_section=section or None,
        listing_status=listing,
        high_tech=high_tech,
        grade=grade or None,
    )


Filters = Annotated[EnterpriseFilters, Depends(_filters)]


@router.get("/enterprises")
def enterprises_page(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    filters: Filters,
    after: int | None = Query(None, ge=0),
    before: int | None = Query(None, ge=0),
):
    pg = service.page_enterprises(
        db, scope=auth.scope, filters=filters, limit=PER_PAGE, after=after, before=before
    )
    rows = pg.rows
    areas = db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all()
    return render(
        request,
        "enterprises/list.html",
        rows=rows,
        scores=service.current_scores(db, enterprise_ids=[r.id for r in rows]),
        grades=credit_policy.grade_names(),
        area_names={a.code: (a.name_zh, a.name_en) for a in areas},
        filters=filters,
        pg=pg,
        query=query_without(request, "after", "before", "page"),
        areas=areas,
        sizes=list(SizeClass),
        sections=SECTIONS,
        listings=list(ListingStatus),
        active="enterprises",
    )


@router.get("/enterprises/export")
def enterprises_export(
    request: Request, db: DB, auth: Annotated[Auth, require(Permission.EXPORT)], filters: Filters
):
    headers = [
        _("USCC"),
        _("Name"),
        _("Industry section"),
        _("Industry code"),
        _("District"),
        _("Size class"),
        _("Founded"),
        _("Employees"),
        _("Revenue (CNY 10k)"),
        _("Total assets (CNY 10k)"),
        _("Listing"),
        _("High-tech"),
        _("Credit score"),
        _("Grade"),
        _("Probability of default"),
        _("Scored on"),
    ]
    total, capped = service.count_enterprises(db, scope=auth.scope, filters=filters, cap=MAX_EXPORT_ROWS)
    exported = min(total, MAX_EXPORT_ROWS)

    areas = area_names(db, zh=is_zh())

    def body():
        # Chunks of rows and their scores: a city-wide export never holds the whole table in memory.
        for chunk in service.iter_enterprises(db, scope=auth.scope, filters=filters, limit=MAX_EXPORT_ROWS):
            scores = service.current_scores(db, enterprise_ids=[r.id for r in chunk])
            for r in chunk:
                s = scores.get(r.id)
                yield [
                    r.uscc,
                    r.name,
                    industry_label(r.industry_section, None, zh=is_zh()) if r.industry_section else "",
                    r.industry_code,
                    areas.get(r.district_code, r.district_code),
                    label(r.size_class) if r.size_class else "",
                    r.founded_on,
                    r.employees,
                    convert(r.revenue, "万元"),
                    convert(r.total_assets, "万元"),
                    label(r.listing_status),
                    _("yes") if r.high_tech else _("no"),
                    round(s.score, 1) if s else None,
                    s.grade if s else "",
                    s.pd if s else None,
                    s.as_of if s else None,
                ]

    notes = (
        [_("Exported from Qiantang; demo data is synthetic.")] if request.app.state.is_demo(request) else []
    )
    if capped:
        notes.append(_("Only the first %(n)s rows were exported; narrow the filters.", n=exported))
    tmp = spool()
    build_xlsx(
        sheet_title=_("Enterprises"),
        headers=headers,
        rows=body(),
        notes=notes,
        number_formats={8: "#,##0.00", 9: "#,##0.00", 12: "0.0", 14: "0.00%"},
        target=tmp,
    )
    record_export(db, request, auth, "enterprises", detail={"rows": exported})
    return xlsx_file_response(tmp, _("Enterprises") + ".xlsx")


@router.get("/enterprises/{uscc}")
def enterprise_page(request: Request, db: DB, auth: CurrentAuth, uscc: str):
    from qiantang.credit import report as credit_report

    ent = service.get_enterprise(db, scope=auth.scope, uscc=uscc)
    financials = service.enterprise_financials(db, enterprise_id=ent.id)
    loans = service.enterprise_loans(db, enterprise_id=ent.id)
    credit = credit_report.enterprise_credit(db, ent)
    return render(
        request,
        "enterprises/detail.html",
        ent=ent,
        area=db.get(Area, ent.district_code),
        loans=loans,
        guarantees=service.enterprise_guarantees(db, enterprise_id=ent.id),
        financials=financials,
        fin_chart=credit_report.financials_chart(financials),
        credit=credit,
        signals=service.risk_signals(db, ent=ent, loans=[loan for loan, _inst in loans], credit=credit),
        panels=panels.gather(db, enterprise=ent, scope=auth.scope),
        pct=credit_report.pct,
        age_years=service.age_years(ent, date.today()),
        today=date.today(),
        active="enterprises",
    )


@api_router.get("/enterprises", response_model=Page[schemas.EnterpriseOut], summary="企业列表")
def enterprises_api(
    db: DB,
    auth: CurrentAuth,
    filters: Filters,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    rows, total = service.list_enterprises(db, scope=auth.scope, filters=filters, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@api_router.get(
    "/enterprises/{uscc}", response_model=schemas.EnterpriseDetailOut, summary="企业详情（一企一档）"
)
def enterprise_api(db: DB, auth: CurrentAuth, uscc: str):
    ent = service.get_enterprise(db, scope=auth.scope, uscc=uscc)
    loans = [loan for loan, _inst in service.enterprise_loans(db, enterprise_id=ent.id)]
    out = schemas.EnterpriseOut.model_validate(ent).model_dump()
    return schemas.EnterpriseDetailOut(
        **out,
        loans=[schemas.LoanOut.model_validate(x) for x in loans],
        financials=[
            schemas.FinancialOut.model_validate(f)
            for f in service.enterprise_financials(db, enterprise_id=ent.id)
        ],
    )
