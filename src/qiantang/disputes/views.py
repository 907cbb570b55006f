"""Dispute register pages and API: the list, one dispute, registering and closing, imports, statistics,
the Chinese PDF summary."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from qiantang import masking
from qiantang.auth.permissions import Permission, has_permission
from qiantang.disputes import imports, report, service
from qiantang.disputes.models import Channel, Dispute, Outcome, ProductType
from qiantang.disputes.service import DisputeFilters, DisputeIn
from qiantang.errors import QiantangError, ValidationFailed
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.registry.models import Area, Institution
from qiantang.schemas import Page
from qiantang.web.deps import DB, Auth, record_export, require, require_any
from qiantang.web.i18n import N_, is_zh
from qiantang.web.i18n import gettext as _
from qiantang.web.templating import nav_permissions, pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["金融纠纷 Disputes"])
Viewer = Annotated[Auth, require_any(*nav_permissions("disputes"))]
Recorder = Annotated[Auth, require(Permission.RECORD_DISPUTES)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]
PER_PAGE = 50
WAN = 10_000.0


def _enum(cls, value: str | None):
    if not value:
        return None
    try:
        return cls(value)
    except ValueError:
        raise QiantangError(f"无法识别的取值“{value}”", message_en=f"Unknown value {value!r}") from None


def _filters(q, channel, body, product, outcome, status, district, received_from, received_to):
    if body and body not in service.bodies():
        raise QiantangError(f"无法识别的机构“{body}”", message_en=f"Unknown body {body!r}")
    return DisputeFilters(
        q=(q or "").strip() or None,
        channel=_enum(Channel, channel),
        body_code=body or None,
        product_type=_enum(ProductType, product),
        outcome=_enum(Outcome, outcome),
        status=status if status in ("open", "closed") else None,
        district_code=district or None,
        received_from=received_from,
        received_to=received_to,
    )


def _filter_params(
    q: str | None = None,
    channel: str | None = None,
    body: str | None = None,
    product: str | None = None,
    outcome: str | None = None,
    status: str | None = None,
    district: str | None = None,
    received_from: str | None = None,
    received_to: str | None = None,
) -> DisputeFilters:
    return _filters(
        q, channel, body, product, outcome, status, district, _day(received_from), _day(received_to)
    )


# The list page and its export take the same filters from the query string.
ListFilters = Annotated[DisputeFilters, Depends(_filter_params)]


def _day(value: str | None) -> date | None:
    """An optional date filter: empty means none; a malformed one is a clear 422."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QiantangError(f"日期“{value}”格式应为 YYYY-MM-DD", message_en="Dates are YYYY-MM-DD") from None


def _context(db, auth: Auth) -> dict:
    areas = db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order))
    return {
        "channels": list(Channel),
        "products": list(ProductType),
        "outcomes": list(Outcome),
        "bodies": list(service.bodies().values()),
        "areas": list(areas) if auth.scope.is_citywide else [],
        "names": service.names(db, zh=is_zh()),
        "can_record": has_permission(auth.user.role, Permission.RECORD_DISPUTES),
        "can_export": has_permission(auth.user.role, Permission.EXPORT),
    }


@router.get("/disputes")
def list_page(
    request: Request,
    db: DB,
    auth: Viewer,
    filters: ListFilters,
    page: int = Query(1, ge=1, le=100_000),
):
    rows, total = service.list_disputes(
        db, scope=auth.scope, filters=filters, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
    )
    stats = service.statistics(db, scope=auth.scope, filters=filters)
    return render(
        request,
        "disputes/list.html",
        active="disputes",
        rows=rows,
        filters=filters,
        stats=stats,
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
        **_context(db, auth),
    )


def _row(d: Dispute, names: dict) -> list:
    zh = is_zh()
    return [
        d.ref_no,
        masking.mask_value("person_name", d.complainant) if not d.complainant_is_firm else d.complainant,
        d.respondent_name,
        names["areas"].get(d.district_code, d.district_code),
        d.product_type.zh if zh else d.product_type.en,
        round(d.amount / WAN, 2),
        d.channel.zh if zh else d.channel.en,
        names["bodies"].get(d.body_code, d.body_code),
        d.received_on,
        d.accepted_on,
        d.closed_on,
        (d.outcome.zh if zh else d.outcome.en) if d.outcome else "",
        round(d.recovered / WAN, 2) if d.recovered is not None else None,
        d.days_to_close,
    ]


HEADERS = (
    N_("Case number"),
    N_("Complainant"),
    N_("Respondent"),
    N_("District"),
    N_("Product type"),
    N_("Amount in dispute (CNY 10k)"),
    N_("Channel"),
    N_("Body"),
    N_("Received"),
    N_("Accepted"),
    N_("Closed"),
    N_("Outcome"),
    N_("Recovered (CNY 10k)"),
    N_("Days to close"),
)


@router.get("/disputes/export")
def export(
    request: Request,
    db: DB,
    auth: Exporter,
    filters: ListFilters,
):
    rows, _total = service.list_disputes(db, scope=auth.scope, filters=filters, limit=None)
    record_export(db, request, auth, "disputes", detail={"rows": len(rows)})
    names = service.names(db, zh=is_zh())
    content = build_xlsx(
        sheet_title=_("Financial disputes"),
        headers=[_(h) for h in HEADERS],
        rows=(_row(d, names) for d in rows),
        notes=[_("Financial dispute register exported on %(date)s", date=date.today().isoformat())]
        + ([report.SYNTHETIC_NOTE] if request.app.state.is_demo() else []),
    )
    return xlsx_response(content, _("disputes") + ".xlsx")


@router.get("/disputes/statistics")
def statistics_page(
    request: Request,
    db: DB,
    auth: Viewer,
    channel: str | None = None,
    product: str | None = None,
    district: str | None = None,
    received_from: str | None = None,
    received_to: str | None = None,
):
    filters = _filter_params(None, channel, None, product, None, None, district, received_from, received_to)
    stats = service.statistics(db, scope=auth.scope, filters=filters)
    return render(
        request,
        "disputes/statistics.html",
        active="disputes",
        stats=stats,
        filters=filters,
        **_context(db, auth),
    )


@router.get("/disputes/statistics/export")
def statistics_export(request: Request, db: DB, auth: Exporter):
    stats = service.statistics(db, scope=auth.scope, filters=DisputeFilters())
    record_export(db, request, auth, "dispute_statistics")
    names = service.names(db, zh=is_zh())
    headers, rows = report.statistics_table(stats, names)
    content = build_xlsx(
        sheet_title=_("Dispute statistics"),
        headers=headers,
        rows=rows,
        notes=[report.DEFINITIONS_ZH] + ([report.SYNTHETIC_NOTE] if request.app.state.is_demo() else []),
    )
    return xlsx_response(content, _("dispute-statistics") + ".xlsx")


@router.get("/disputes/report.pdf")
def report_pdf(request: Request, db: DB, auth: Exporter):
    pdf = report.summary_pdf(db, scope=auth.scope, demo=request.app.state.is_demo())
    record_export(db, request, auth, "disputes_report")
    return pdf_response(pdf, f"disputes-{date.today().isoformat()}.pdf")


@router.get("/disputes/new")
def new_page(request: Request, db: DB, auth: Recorder):
    return render(request, "disputes/new.html", active="disputes", error=None, form={}, **_context(db, auth))


def _institution_id(db, uscc: str) -> int | None:
    uscc = uscc.strip().upper()
    if not uscc:
        return None
    inst_id = db.scalar(select(Institution.id).where(Institution.uscc == uscc))
    if inst_id is None:
        raise ValidationFailed("纠纷登记有误，未保存", errors=[_err("被申请机构", f"未登记的机构 {uscc}")])
    return inst_id


def _err(column: str, message: str):
    from qiantang.errors import RowError

    return RowError(None, column, message)


@router.post("/disputes/new")
def create(
    request: Request,
    db: DB,
    auth: Recorder,
    ref_no: Annotated[str, Form(max_length=40)],
    complainant: Annotated[str, Form(max_length=100)],
    product_type: Annotated[str, Form()],
    amount_wan: Annotated[float, Form(ge=0, le=1e9)],
    channel: Annotated[str, Form()],
    body_code: Annotated[str, Form(max_length=32)],
    received_on: Annotated[date, Form()],
    institution_uscc: Annotated[str, Form(max_length=18)] = "",
    respondent_name: Annotated[str, Form(max_length=200)] = "",
    district: Annotated[str, Form(max_length=6)] = "",
    complainant_is_firm: Annotated[bool, Form()] = False,
    accepted_on: Annotated[date | None, Form()] = None,
    summary: Annotated[str, Form(max_length=2000)] = "",
):
    try:
        data = DisputeIn(
            ref_no=ref_no,
            complainant=complainant,
            complainant_is_firm=complainant_is_firm,
            product_type=_enum(ProductType, product_type) or ProductType.OTHER,
            amount=amount_wan * WAN,
            channel=_enum(Channel, channel) or Channel.MEDIATION,
            body_code=body_code,
            received_on=received_on,
            institution_id=_institution_id(db, institution_uscc),
            respondent_name=respondent_name,
            district_code=district or None,
            accepted_on=accepted_on,
            summary=summary,
        )
        dispute = service.register(db, data, actor=auth.user, scope=auth.scope)
    except ValidationFailed as exc:
        db.rollback()
        form = {
            "ref_no": ref_no,
            "complainant": complainant,
            "product_type": product_type,
            "amount_wan": amount_wan,
            "channel": channel,
            "body_code": body_code,
            "received_on": received_on.isoformat(),
            "institution_uscc": institution_uscc,
            "respondent_name": respondent_name,
            "district": district,
            "accepted_on": accepted_on.isoformat() if accepted_on else "",
            "summary": summary,
        }
        return render(
            request,
            "disputes/new.html",
            status_code=422,
            active="disputes",
            error=exc,
            form=form,
            **_context(db, auth),
        )
    return RedirectResponse(f"/disputes/{dispute.id}", status_code=303)


@router.get("/disputes/{dispute_id:int}")
def detail_page(request: Request, db: DB, auth: Viewer, dispute_id: int):
    dispute = service.get_dispute(db, scope=auth.scope, dispute_id=dispute_id)
    return render(
        request,
        "disputes/detail.html",
        active="disputes",
        d=dispute,
        body=service.bodies().get(dispute.body_code),
        error=None,
        **_context(db, auth),
    )


@router.post("/disputes/{dispute_id:int}/close")
def close(
    request: Request,
    db: DB,
    auth: Recorder,
    dispute_id: int,
    closed_on: Annotated[date, Form()],
    outcome: Annotated[str, Form()],
    recovered_wan: Annotated[float | None, Form(ge=0, le=1e9)] = None,
):
    dispute = service.get_dispute(db, scope=auth.scope, dispute_id=dispute_id)
    try:
        service.close(
            db,
            dispute,
            closed_on=closed_on,
            outcome=_enum(Outcome, outcome) or Outcome.SETTLED,
            recovered=recovered_wan * WAN if recovered_wan is not None else None,
            actor=auth.user,
        )
    except ValidationFailed as exc:
        db.rollback()
        dispute = service.get_dispute(db, scope=auth.scope, dispute_id=dispute_id)
        return render(
            request,
            "disputes/detail.html",
            status_code=422,
            active="disputes",
            d=dispute,
            body=service.bodies().get(dispute.body_code),
            error=exc,
            **_context(db, auth),
        )
    return RedirectResponse(f"/disputes/{dispute.id}", status_code=303)


@router.get("/disputes/import")
def import_page(request: Request, auth: Recorder):
    return render(request, "disputes/import.html", active="disputes", error=None, stored=None)


@router.get("/disputes/import/template")
def import_template(auth: Recorder):
    return xlsx_response(imports.template(), _("disputes-template") + ".xlsx")


@router.post("/disputes/import")
def import_upload(request: Request, db: DB, auth: Recorder, file: Annotated[UploadFile, File()]):
    # A plain (sync) route: FastAPI runs it in a worker thread, so parsing never blocks the event loop.
    content = file.file.read()
    try:
        stored = imports.import_disputes(
            db, content=content, filename=file.filename or "", actor=auth.user, scope=auth.scope
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request, "disputes/import.html", status_code=422, active="disputes", error=exc, stored=None
        )
    return render(request, "disputes/import.html", active="disputes", error=None, stored=stored)


# ------------------------------------------------------------------------------------------- API
class DisputeOut(BaseModel):
    id: int
    ref_no: str
    complainant: masking.Masked("person_name")  # type: ignore[valid-type]
    institution_id: int | None
    respondent_name: str
    district_code: str
    product_type: ProductType
    amount: float = Field(description="争议金额（元）")
    channel: Channel
    body_code: str
    received_on: date
    accepted_on: date | None
    closed_on: date | None
    outcome: Outcome | None
    recovered: float | None = Field(description="挽回金额（元）")
    days_to_close: int | None

    model_config = {"from_attributes": True}


class GroupOut(BaseModel):
    key: str
    name: str
    received: int
    closed: int
    open: int
    resolved: int
    withdrawn: int
    success_rate: float | None = Field(description="调解或裁决成功数 ÷（结案数 − 撤回数）")
    median_days: float | None = Field(description="结案天数中位数（自然日）")
    p90_days: float | None
    amount: float = Field(description="争议金额（元）")
    recovered: float = Field(description="挽回金额（元）")


class StatsOut(BaseModel):
    total: GroupOut
    by_body: list[GroupOut]
    by_institution_type: list[GroupOut]
    by_district: list[GroupOut]
    by_channel: list[GroupOut]


@api_router.get("/disputes", response_model=Page[DisputeOut], summary="纠纷列表")
def disputes_api(
    db: DB,
    auth: Viewer,
    q: str | None = None,
    channel: Channel | None = None,
    body: str | None = None,
    status: str | None = Query(None, pattern="^(open|closed)$"),
    district: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
):
    filters = _filter_params(q, channel.value if channel else None, body, None, None, status, district)
    rows, total = service.list_disputes(db, scope=auth.scope, filters=filters, offset=offset, limit=limit)
    return Page(total=total, limit=limit, offset=offset, items=[DisputeOut.model_validate(r) for r in rows])


@api_router.get("/disputes/statistics", response_model=StatsOut, summary="纠纷统计：结案时间与成功率")
def statistics_api(db: DB, auth: Viewer) -> StatsOut:
    stats = service.statistics(db, scope=auth.scope, filters=DisputeFilters())
    names = service.names(db, zh=True)

    def out(g, kind: str) -> GroupOut:
        return GroupOut(
            key=g.key,
            name=names[kind].get(g.key, g.key) if kind else "全部",
            received=g.received,
            closed=g.closed,
            open=g.open,
            resolved=g.resolved,
            withdrawn=g.withdrawn,
            success_rate=g.success_rate,
            median_days=g.median_days,
            p90_days=g.p90_days,
            amount=g.amount,
            recovered=g.recovered,
        )

    return StatsOut(
        total=out(stats.total, ""),
        by_body=[out(g, "bodies") for g in stats.by_body],
        by_institution_type=[out(g, "types") for g in stats.by_type],
        by_district=[out(g, "areas") for g in stats.by_district],
        by_channel=[out(g, "channels") for g in stats.by_channel],
    )


@api_router.get("/disputes/{dispute_id}", response_model=DisputeOut, summary="一件纠纷")
def dispute_api(db: DB, auth: Viewer, dispute_id: Annotated[int, Path(ge=1, le=2**62)]):
    return DisputeOut.model_validate(service.get_dispute(db, scope=auth.scope, dispute_id=dispute_id))


class DisputeCreate(BaseModel):
    ref_no: str = Field(max_length=40)
    complainant: str = Field(max_length=100)
    complainant_is_firm: bool = False
    institution_uscc: str | None = Field(None, max_length=18)
    respondent_name: str = Field("", max_length=200)
    district_code: str | None = Field(None, max_length=6)
    product_type: ProductType
    amount: float = Field(ge=0, le=1e13, description="元")
    channel: Channel
    body_code: str = Field(max_length=32)
    received_on: date
    accepted_on: date | None = None
    closed_on: date | None = None
    outcome: Outcome | None = None
    recovered: float | None = Field(None, ge=0, le=1e13)
    summary: str = Field("", max_length=2000)


@api_router.post("/disputes", response_model=DisputeOut, status_code=201, summary="登记纠纷")
def create_api(db: DB, auth: Recorder, body: DisputeCreate):
    data = DisputeIn(
        **body.model_dump(exclude={"institution_uscc"}),
        institution_id=_institution_id(db, body.institution_uscc or ""),
    )
    return DisputeOut.model_validate(service.register(db, data, actor=auth.user, scope=auth.scope))
