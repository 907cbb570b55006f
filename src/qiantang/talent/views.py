"""Finance-talent pages and API: statistics from the annual returns, the certification register."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select

from qiantang.auth.permissions import Permission, has_permission
from qiantang.errors import QiantangError, ValidationFailed
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.filings.templates import get_template
from qiantang.masking import Masked, mask_value
from qiantang.registry.models import Area, Institution
from qiantang.registry.service import area_names
from qiantang.talent import report, service
from qiantang.talent.models import CertStatus
from qiantang.talent.service import COUNT_FIELDS, GROUPINGS, CertFilters
from qiantang.web.deps import DB, Auth, client_ip, record_export, require, require_any
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.templating import nav_permissions, pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["金融人才 Finance talent"])
Viewer = Annotated[Auth, require_any(*nav_permissions("talent"))]
Applicant = Annotated[Auth, require(Permission.TALENT_APPLY)]
Reviewer = Annotated[Auth, require(Permission.TALENT_REVIEW)]
Exporter = Annotated[Auth, require_any(Permission.EXPORT, Permission.SUBMIT_FILINGS)]
PER_PAGE = 50
MAX_EVIDENCE_BYTES = 20 * 1024 * 1024


def _status(value: str | None) -> CertStatus | None:
    if not value:
        return None
    try:
        return CertStatus(value)
    except ValueError:
        raise QiantangError(f"无法识别的状态“{value}”", message_en=f"Unknown status {value!r}") from None


def _filters(status, level, district, q) -> CertFilters:
    return CertFilters(
        status=_status(status),
        level=level or None,
        district_code=district or None,
        q=(q or "").strip() or None,
    )


def _areas(db, auth: Auth) -> list[Area]:
    if not auth.scope.is_citywide:
        return []
    return list(db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)))


def _basis(value: str | None) -> str | None:
    return value if value in (service.NATIONAL, service.LOCAL) else None


def _by(value: str | None) -> str:
    return value if value in GROUPINGS else "basis"


@router.get("/talent")
def stats_page(
    request: Request,
    db: DB,
    auth: Viewer,
    year: int | None = Query(None, ge=1900, le=2999),
    by: str | None = None,
    basis: str | None = None,
    district: str | None = None,
):
    stats = service.statistics(
        db, scope=auth.scope, year=year, by=_by(by), basis=_basis(basis), district_code=district or None
    )
    counts = service.certified_counts(db, scope=auth.scope)
    return render(
        request,
        "talent/index.html",
        active="talent",
        stats=stats,
        fields=get_template(service.TEMPLATE).fields,
        filters={"year": stats.year, "by": stats.by, "basis": _basis(basis), "district": district},
        areas=_areas(db, auth),
        level_rows=report.certified_table(db, counts),
        query=request.url.query,
    )


@router.get("/talent/export")
def stats_export(
    request: Request,
    db: DB,
    auth: Exporter,
    year: int | None = Query(None, ge=1900, le=2999),
    by: str | None = None,
    basis: str | None = None,
    district: str | None = None,
):
    stats = service.statistics(
        db, scope=auth.scope, year=year, by=_by(by), basis=_basis(basis), district_code=district or None
    )
    fields = get_template(service.TEMPLATE).fields
    zh = is_zh()
    record_export(db, request, auth, "talent_statistics", detail={"year": stats.year, "by": stats.by})
    content = build_xlsx(
        sheet_title=_("Finance talent"),
        headers=[
            report.group_title(stats.by),
            _("Institutions filed"),
            *[(f.name_zh if zh else f.name_en) for f in fields],
        ],
        rows=(
            [(g.name_zh if zh else g.name_en), g.institutions, *[g.counts[c] for c in COUNT_FIELDS]]
            for g in [*stats.groups, stats.total]
        ),
        notes=[
            _(
                "Finance talent from the annual talent returns, year %(year)s, exported on %(date)s",
                year=stats.year or "—",
                date=date.today().isoformat(),
            )
        ]
        + ([report.SYNTHETIC_NOTE] if request.app.state.is_demo() else []),
    )
    return xlsx_response(content, _("finance-talent") + ".xlsx")


@router.get("/talent/report.pdf")
def report_pdf(request: Request, db: DB, auth: Exporter, year: int | None = Query(None, ge=1900, le=2999)):
    record_export(db, request, auth, "talent_report", detail={"year": year})
    content = report.summary_pdf(db, scope=auth.scope, year=year, demo=request.app.state.is_demo())
    return pdf_response(content, "金融人才统计.pdf")


@router.get("/talent/certifications")
def cert_list(
    request: Request,
    db: DB,
    auth: Viewer,
    status: str | None = None,
    level: str | None = None,
    district: str | None = None,
    q: str | None = None,
    page: int = Query(1, ge=1, le=100_000),
):
    filters = _filters(status, level, district, q)
    rows, total = service.list_certifications(
        db, scope=auth.scope, filters=filters, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
    )
    return render(
        request,
        "talent/certifications.html",
        active="talent",
        rows=rows,
        filters=filters,
        statuses=list(CertStatus),
        levels=report.all_levels(),
        level_name=report.level_name,
        institutions=report.institution_names(db, [r.institution_id for r in rows]),
        names=area_names(db, zh=is_zh()),
        areas=_areas(db, auth),
        can_apply=has_permission(auth.user.role, Permission.TALENT_APPLY),
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/talent/certifications/export")
def cert_export(
    request: Request,
    db: DB,
    auth: Exporter,
    status: str | None = None,
    level: str | None = None,
    district: str | None = None,
    q: str | None = None,
):
    rows, _total = service.list_certifications(
        db, scope=auth.scope, filters=_filters(status, level, district, q), limit=None
    )
    insts = report.institution_names(db, [r.institution_id for r in rows])
    names = area_names(db, zh=is_zh())
    record_export(db, request, auth, "talent_certifications", detail={"rows": len(rows)})
    content = build_xlsx(
        sheet_title=_("Talent certifications"),
        headers=[
            _("No."),
            _("Applicant"),
            _("ID number"),
            _("Mobile"),
            _("Institution"),
            _("District"),
            _("Level"),
            _("Status"),
            _("Applied"),
            _("Decided"),
            _("Valid until"),
        ],
        rows=(
            [
                r.id,
                mask_value("person_name", r.applicant_name),
                mask_value("id_number", r.id_number),
                mask_value("mobile", r.mobile),
                insts.get(r.institution_id, ""),
                names.get(r.district_code, r.district_code),
                report.level_name(r.standard_version, r.level),
                r.status.zh if is_zh() else r.status.en,
                r.applied_on,
                r.decided_on,
                r.valid_until,
            ]
            for r in rows
        ),
        notes=[
            _(
                "Talent certification register exported on %(date)s; personal data masked by role",
                date=date.today().isoformat(),
            )
        ]
        + ([report.SYNTHETIC_NOTE] if request.app.state.is_demo() else []),
    )
    return xlsx_response(content, _("talent-certifications") + ".xlsx")


def _institution_choices(db, auth: Auth) -> list[Institution]:
    stmt = (
        select(Institution)
        .where(
            auth.scope.institution_clause(Institution.id, Institution.district_code),
            Institution.deregistered_on.is_(None),
        )
        .order_by(Institution.name)
        .limit(2000)
    )
    return list(db.scalars(stmt))


@router.get("/talent/certifications/new")
def cert_new(request: Request, db: DB, auth: Applicant):
    return render(
        request,
        "talent/new.html",
        active="talent",
        institutions=_institution_choices(db, auth),
        standard=service.standard_for(date.today()),
        source=service.standards()[0],
        error=None,
        values={},
    )


@router.post("/talent/certifications/new")
def cert_create(
    request: Request,
    db: DB,
    auth: Applicant,
    institution_id: Annotated[int | None, Form()] = None,
    applicant_name: Annotated[str, Form(max_length=64)] = "",
    id_number: Annotated[str, Form(max_length=32)] = "",
    mobile: Annotated[str, Form(max_length=20)] = "",
    level_criterion: Annotated[str, Form(max_length=40)] = "",
    evidence_note: Annotated[str, Form(max_length=200)] = "",
    evidence: Annotated[list[UploadFile] | None, File()] = None,
):
    level, _sep, crit = level_criterion.partition(":")
    files = []
    for f in evidence or []:
        if not f.filename:
            continue
        size = len(f.file.read(MAX_EVIDENCE_BYTES + 1))
        files.append({"name": f.filename, "size": size, "note": evidence_note})
    try:
        if any(f["size"] > MAX_EVIDENCE_BYTES for f in files):
            raise ValidationFailed("证明材料单个文件不能超过 20 MB", [])
        cert = service.apply(
            db,
            scope=auth.scope,
            actor=auth.user,
            institution_id=institution_id,
            applicant_name=applicant_name,
            id_number=id_number,
            mobile=mobile,
            level=level,
            criterion=int(crit) if crit.isdigit() else -1,
            evidence=files,
            today=date.today(),
        )
        db.commit()
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "talent/new.html",
            status_code=422,
            active="talent",
            institutions=_institution_choices(db, auth),
            standard=service.standard_for(date.today()),
            source=service.standards()[0],
            error=exc,
            values={
                "institution_id": institution_id,
                "applicant_name": applicant_name,
                "level_criterion": level_criterion,
            },
        )
    return RedirectResponse(f"/talent/certifications/{cert.id}", status_code=303)


@router.get("/talent/certifications/{cert_id}")
def cert_detail(request: Request, db: DB, auth: Viewer, cert_id: int = Path(..., ge=1, le=2**62)):
    cert = service.get_certification(db, scope=auth.scope, cert_id=cert_id)
    standard = service.standard_version(cert.standard_version)
    return render(
        request,
        "talent/detail.html",
        active="talent",
        cert=cert,
        level=standard.level(cert.level),
        standard=standard,
        institution=db.get(Institution, cert.institution_id),
        district=area_names(db, zh=is_zh()).get(cert.district_code, cert.district_code),
        actions=service.actions_for(cert, auth.user.role),
    )


@router.post("/talent/certifications/{cert_id}/{action}")
def cert_action(
    request: Request,
    db: DB,
    auth: Reviewer,
    cert_id: int = Path(..., ge=1, le=2**62),
    action: str = Path(..., pattern="^(review|certify|refuse|lapse)$"),
    note: Annotated[str, Form(max_length=1000)] = "",
):
    service.decide(
        db, scope=auth.scope, actor=auth.user, cert_id=cert_id, action=action, today=date.today(), note=note
    )
    db.commit()
    return RedirectResponse(f"/talent/certifications/{cert_id}", status_code=303)


# --------------------------------------------------------------------------------------------------
# JSON API


class GroupOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    institutions: int
    counts: dict[str, int]


class StatsOut(BaseModel):
    year: int | None
    by: str
    groups: list[GroupOut]
    total: GroupOut


@api_router.get("/talent/statistics")
def stats_api(
    db: DB,
    auth: Viewer,
    year: int | None = Query(None, ge=1900, le=2999),
    by: str = Query("basis", pattern="^(basis|type|district|cluster)$"),
    basis: str | None = Query(None, pattern="^(national|local)$"),
    district: str | None = None,
) -> StatsOut:
    """Headcounts from the annual talent returns, grouped by 口径 (basis), type, district or cluster."""
    s = service.statistics(
        db, scope=auth.scope, year=year, by=by, basis=basis, district_code=district or None
    )

    def out(g: service.Group) -> GroupOut:
        return GroupOut(
            key=g.key, name_zh=g.name_zh, name_en=g.name_en, institutions=g.institutions, counts=g.counts
        )

    return StatsOut(year=s.year, by=s.by, groups=[out(g) for g in s.groups], total=out(s.total))


class CertOut(BaseModel):
    id: int
    applicant_name: Masked("person_name")  # type: ignore[valid-type]
    id_number: Masked("id_number")  # type: ignore[valid-type]
    mobile: Masked("mobile")  # type: ignore[valid-type]
    institution_id: int
    district_code: str
    level: str
    standard_version: str
    status: str
    applied_on: date
    decided_on: date | None
    valid_until: date | None


@api_router.get("/talent/certifications")
def certs_api(
    db: DB,
    auth: Viewer,
    status: str | None = None,
    level: str | None = None,
    district: str | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    """The certification register within the caller's scope; personal data masked by role."""
    rows, total = service.list_certifications(
        db, scope=auth.scope, filters=_filters(status, level, district, None), offset=offset, limit=limit
    )
    items = [
        CertOut(
            id=r.id,
            applicant_name=r.applicant_name,
            id_number=r.id_number,
            mobile=r.mobile,
            institution_id=r.institution_id,
            district_code=r.district_code,
            level=r.level,
            standard_version=r.standard_version,
            status=str(r.status),
            applied_on=r.applied_on,
            decided_on=r.decided_on,
            valid_until=r.valid_until,
        ).model_dump(mode="json")
        for r in rows
    ]
    return {"total": total, "items": items}


__all__ = ["api_router", "client_ip", "router"]
