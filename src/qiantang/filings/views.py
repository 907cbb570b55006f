"""Filings pages (报表报送), template downloads, uploads, the compliance list and the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission, has_any, has_permission
from qiantang.errors import Forbidden, QiantangError, ValidationFailed
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.filings import schemas, service
from qiantang.filings.models import Filing, FilingSource
from qiantang.filings.periods import latest_ended_period, period_label
from qiantang.filings.service import ComplianceStatus, FilingFilters
from qiantang.filings.templates import all_templates, annual_templates, quarterly_templates
from qiantang.registry.models import Institution
from qiantang.registry.service import get_institution, reference_lists
from qiantang.schemas import Page
from qiantang.web.deps import DB, Auth, CurrentAuth, client_ip, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["报表报送 Filings"])
PER_PAGE = 50
MAX_LISTED = 500  # stored filings listed on the upload result page

Submitter = Annotated[Auth, require(Permission.SUBMIT_FILINGS)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]


def _viewer(auth: CurrentAuth) -> Auth:
    """Anyone who files or reads city data (every role today; declared so that it stays so)."""
    if not has_any(auth.user.role, (Permission.VIEW_CITY_DATA, Permission.SUBMIT_FILINGS)):
        raise Forbidden("您的角色无权查看报表", message_en="Your role may not see filings")
    return auth


Viewer = Annotated[Auth, Depends(_viewer)]


def _status(value: str | None) -> ComplianceStatus | None:
    if not value:
        return None
    try:
        return ComplianceStatus(value)
    except ValueError:
        allowed = "、".join(s.value for s in ComplianceStatus)
        raise QiantangError(
            f"未知的报送状态：{value}（可选：{allowed}）", message_en="Unknown status"
        ) from None


def _template_code(value: str | None) -> str | None:
    if not value:
        return None
    return service.template_or_error(value).code


def _compliance(
    db, auth: Auth, *, period: str | None, template: str | None, district: str | None, status: str | None
) -> tuple[service.ShownPeriod, service.Compliance]:
    """The quarter shown (the chosen one, or the latest complete one) and its compliance."""
    shown = service.shown_period(db, chosen=service.parse_period_param(period))
    return shown, service.compliance_cached(
        db,
        scope=auth.scope,
        period_end=shown.period_end,
        template_code=_template_code(template),
        district_code=district or None,
        status=_status(status),
    )


# ---------------------------------------------------------------------------------------------- pages


@router.get("/filings")
def filings_page(
    request: Request,
    db: DB,
    auth: Viewer,
    period: str | None = None,
    template: str | None = None,
    district: str | None = None,
    status: str | None = None,
    page: int = Query(1, ge=1),
):
    templates = list(quarterly_templates().values())
    if auth.user.role == Role.INSTITUTION_REPORTER:
        inst = service.own_institution(db, scope=auth.scope)
        code = inst.type.filing_template if inst is not None else None
        return render(
            request,
            "filings/reporter.html",
            inst=inst,
            template=all_templates().get(code or ""),
            filings=service.institution_filings(db, institution_id=inst.id) if inst else [],
            missing=service.missing_periods(db, institution=inst) if inst else [],
            annual=[t for t in annual_templates() if inst is not None and t.applies_to(inst.type_code)],
            annual_filings=service.institution_annual_filings(db, institution_id=inst.id) if inst else [],
            last_year=service.today_utc().year - 1,
            latest=latest_ended_period(service.today_utc()),
            period_label=period_label,
            active="filings",
        )
    shown, result = _compliance(db, auth, period=period, template=template, district=district, status=status)
    total = len(result.rows)
    start = (page - 1) * PER_PAGE
    return render(
        request,
        "filings/index.html",
        result=result,
        rows=result.rows[start : start + PER_PAGE],
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
        templates=templates,
        periods=service.period_choices(),
        statuses=list(ComplianceStatus),
        areas=reference_lists(db)["areas"] if auth.scope.is_citywide else [],
        filters={
            "period": result.period,
            "template": result.template_code,
            "district": district,
            "status": status,
        },
        can_upload=has_permission(auth.user.role, Permission.SUBMIT_FILINGS),
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        shown=shown,
        period_label=period_label,
        active="filings",
    )


@router.get("/filings/template")
def template_download(
    db: DB,
    auth: Viewer,
    template: str | None = None,
    institution_id: int | None = None,
    period: str | None = None,
):
    code = template
    if not code and auth.user.role == Role.INSTITUTION_REPORTER:
        inst = service.own_institution(db, scope=auth.scope)
        code = inst.type.filing_template if inst else None
    chosen = service.template_or_error(code)
    content = service.template_workbook(
        db,
        template_code=chosen.code,
        scope=auth.scope,
        institution_id=institution_id,
        period=service.parse_period_param(period),
    )
    return xlsx_response(content, f"{chosen.name_zh}-{chosen.code}.xlsx")


@router.post("/filings/upload")
def upload_page(
    request: Request,
    db: DB,
    auth: Submitter,
    file: Annotated[UploadFile, File()],
    template: Annotated[str, Form(max_length=32)] = "",
):
    code = template
    if not code and auth.user.role == Role.INSTITUTION_REPORTER:
        inst = service.own_institution(db, scope=auth.scope)
        code = (inst.type.filing_template if inst else None) or ""
    try:
        content = file.file.read()
        result = service.upload_filings(
            db,
            content=content,
            filename=file.filename or "",
            template_code=code,
            actor=auth.user,
            scope=auth.scope,
            source=FilingSource.UPLOAD,
            ip=client_ip(request),
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "filings/upload_result.html",
            status_code=422,
            error=exc,
            result=None,
            filename=file.filename,
            active="filings",
        )
    return render(
        request,
        "filings/upload_result.html",
        error=None,
        result=result,
        listed=result.stored[:MAX_LISTED],
        filename=file.filename,
        period_label=period_label,
        active="filings",
    )


@router.get("/filings/export")
def compliance_export(
    request: Request,
    db: DB,
    auth: Exporter,
    period: str | None = None,
    template: str | None = None,
    district: str | None = None,
    status: str | None = None,
):
    _shown, result = _compliance(db, auth, period=period, template=template, district=district, status=status)
    zh = is_zh()
    headers = [
        _("USCC"),
        _("Name"),
        _("Type"),
        _("District"),
        _("Period"),
        _("Due"),
        _("Filing status"),
        _("First submitted"),
        _("Last submitted"),
        _("Versions"),
    ]
    body = (
        [
            r.uscc,
            r.name,
            r.type_name_zh if zh else r.type_name_en,
            r.district_name_zh if zh else r.district_name_en,
            period_label(r.period_end),
            r.due_on,
            label(r.status),
            r.first_submitted_at,
            r.last_submitted_at,
            r.revisions,
        ]
        for r in result.rows[:MAX_EXPORT_ROWS]
    )
    notes = [
        _("Filing compliance for %(period)s, as of %(today)s.", period=result.period, today=result.today)
    ]
    if request.app.state.is_demo(request):
        notes.append(_("Exported from Qiantang; demo data is synthetic."))
    content = build_xlsx(sheet_title=_("Filing compliance"), headers=headers, rows=body, notes=notes)
    record_export(
        db,
        request,
        auth,
        "filing_compliance",
        object_id=result.period,
        detail={
            "rows": len(result.rows),
            "template": result.template_code,
            "district": district,
            "status": status,
        },
    )
    return xlsx_response(content, f"{_('Filing compliance')}-{result.period}.xlsx")


@router.get("/filings/{filing_id:int}")
def filing_page(request: Request, db: DB, auth: Viewer, filing_id: int):
    detail = service.filing_detail(db, scope=auth.scope, filing_id=filing_id, zh=is_zh())
    return render(
        request,
        "filings/detail.html",
        d=detail,
        missing=service.missing_periods(db, institution=detail.institution),
        f=detail.filing,
        inst=detail.institution,
        period_label=period_label,
        active="filings",
    )


# ---------------------------------------------------------------------------------------------- API


def filing_out(
    filing: Filing | service.StoredRecord, uscc: str, name: str, district_code: str
) -> schemas.FilingOut:
    return schemas.FilingOut(
        id=filing.id,
        institution_id=filing.institution_id,
        uscc=uscc,
        institution_name=name,
        district_code=district_code,
        template_code=filing.template_code,
        template_version=filing.template_version,
        period=period_label(filing.period_end),
        period_end=filing.period_end,
        revision=filing.revision,
        is_current=filing.is_current,
        due_on=filing.due_on,
        submitted_at=filing.submitted_at,
        is_late=filing.is_late,
        source=str(filing.source),
        data=filing.data,
    )


@api_router.get("/filings", response_model=Page[schemas.FilingOut], summary="报表列表 Filings")
def filings_api(
    db: DB,
    auth: Viewer,
    template: str | None = None,
    district: str | None = None,
    period: str | None = None,
    institution_id: int | None = None,
    include_superseded: bool = Query(False, description="也列出已被更正的旧版本"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    filters = FilingFilters(
        template_code=_template_code(template),
        district_code=district or None,
        period_end=service.parse_period_param(period),
        institution_id=institution_id,
        include_superseded=include_superseded,
    )
    rows, total = service.list_filings(db, scope=auth.scope, filters=filters, limit=limit, offset=offset)
    items = [filing_out(r.filing, r.uscc, r.institution_name, r.district_code) for r in rows]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _summary_out(s: service.TypeSummary) -> schemas.TypeSummaryOut:
    return schemas.TypeSummaryOut(
        type_code=s.type_code,
        name_zh=s.name_zh,
        name_en=s.name_en,
        expected=s.expected,
        on_time=s.on_time,
        late=s.late,
        missing=s.missing,
        pending=s.pending,
        rate=s.rate,
        on_time_rate=s.on_time_rate,
    )


@api_router.get(
    "/filings/compliance",
    response_model=schemas.ComplianceOut,
    summary="报送情况 Filing compliance of a quarter",
)
def compliance_api(
    db: DB,
    auth: Viewer,
    period: str | None = Query(
        None, description="默认：最近一个完整的季度（已过报送期限且有报表，或多数机构已报送）"
    ),
    template: str | None = None,
    district: str | None = None,
    status: str | None = Query(None, description="on_time | late | missing | pending"),
):
    _shown, result = _compliance(db, auth, period=period, template=template, district=district, status=status)
    rows: list[Any] = [
        schemas.ComplianceRowOut(
            institution_id=r.institution_id,
            uscc=r.uscc,
            name=r.name,
            type_code=r.type_code,
            district_code=r.district_code,
            template_code=r.template_code,
            due_on=r.due_on,
            status=r.status.value,
            status_zh=r.status.zh,
            first_submitted_at=r.first_submitted_at,
            last_submitted_at=r.last_submitted_at,
            revisions=r.revisions,
            current_filing_id=r.current_filing_id,
        )
        for r in result.rows
    ]
    return schemas.ComplianceOut(
        period=result.period,
        period_end=result.period_end,
        template_code=result.template_code,
        as_of=result.today,
        total=_summary_out(result.total),
        by_type=[_summary_out(s) for s in result.by_type],
        rows=rows,
    )


@api_router.get(
    "/filings/missing",
    response_model=schemas.MissingOut,
    summary="机构未报送的报告期 An institution's missing quarters",
)
def missing_api(db: DB, auth: Viewer, institution_id: int | None = None):
    if institution_id is None and auth.user.role == Role.INSTITUTION_REPORTER:
        institution_id = auth.user.institution_id
    if institution_id is None:
        raise QiantangError("请指定机构 institution_id", message_en="institution_id is required")
    inst = get_institution(db, scope=auth.scope, institution_id=institution_id)
    periods = service.missing_periods(db, institution=inst)
    return schemas.MissingOut(
        institution_id=inst.id,
        uscc=inst.uscc,
        as_of=service.today_utc(),
        periods=[period_label(p) for p in periods],
        period_ends=periods,
    )


@api_router.get("/filings/{filing_id}", response_model=schemas.FilingOut, summary="报表详情 One filing")
def filing_api(db: DB, auth: Viewer, filing_id: int):
    filing = service.get_filing(db, scope=auth.scope, filing_id=filing_id)
    inst = db.get_one(Institution, filing.institution_id)
    return filing_out(filing, inst.uscc, inst.name, inst.district_code)


@api_router.post(
    "/filings",
    response_model=list[schemas.FilingOut],
    status_code=201,
    summary="报送报表（全部通过校验才保存） Submit filings, all or nothing",
)
def submit_api(
    request: Request,
    body: list[schemas.FilingIn],
    db: DB,
    auth: Submitter,
    template: str = Query(..., description="报表模板代码，如 small_loan"),
):
    result = service.submit_filings(
        db,
        items=[item.model_dump() for item in body],
        template_code=template,
        actor=auth.user,
        scope=auth.scope,
        source=FilingSource.API,
        ip=client_ip(request),
    )
    return [filing_out(s.filing, s.uscc, s.institution_name, s.district_code) for s in result.stored]
