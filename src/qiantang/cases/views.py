"""Pages and API of the cases module: the card board (看板), the table and its Excel export, a case
with its evidence, timeline and actions, attachments; the JSON API under /api/v1/cases.

Views are thin: every permission decision is made by the service (can_view / can_act), so a form
post, an API call and a page agree. Plain HTML forms work; htmx, when present, swaps the case
panel in place.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission
from qiantang.cases import schemas, service
from qiantang.cases.models import Case, CaseSource, CaseState, Owner
from qiantang.cases.service import CaseFilters
from qiantang.earlywarning.models import Level, message_en
from qiantang.earlywarning.rating import reasons_shown
from qiantang.errors import Conflict, QiantangError, ValidationFailed
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.fundraising.index import with_english
from qiantang.registry.models import Area
from qiantang.registry.service import area_names
from qiantang.schemas import Page
from qiantang.versions import describe_version
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import N_, is_zh, label
from qiantang.web.i18n import gettext as _
from qiantang.web.params import Blank, text_fields
from qiantang.web.templating import pagination, query_without, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["案件 Cases"])
PER_PAGE = 50
BOARD_PER_COLUMN = 20  # cards per column; the rest are one link away, in the table
BOARD_LEVELS = (Level.RED, Level.ORANGE, Level.YELLOW)

# Cases are city data: the route admits roles that may view it (reporters get 403 here); which case
# a user may see or act on is then the service's decision.
Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Actor = Annotated[Auth, require(Permission.ACT_ON_CASES)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]

EVENT_LABELS = {
    "create": N_("Opened"),
    "transition": N_("State changed"),
    "comment": N_("Comment"),
    "attach": N_("Attachment"),
    "escalate": N_("Escalated to the city"),
    "overdue": N_("Overdue"),
    "share": N_("Shared with the district"),
    "relevel": N_("Level raised"),
    "handoff": N_("Handed off to the police"),
    "supervisor": N_("Sector supervisor to be copied"),
}
TRANSITION_LABELS = {
    CaseState.VERIFYING: N_("Start verification"),
    CaseState.RECTIFYING: N_("Order rectification"),
    CaseState.CLOSED: N_("Close the case"),
    CaseState.FALSE_POSITIVE: N_("Mark as false positive"),
}


def _enum(cls, value: str | None):
    try:
        return cls(value) if value else None
    except ValueError:
        return None


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "on", "yes")


def _filters(
    level: str | None = None,
    state: str | None = None,
    district: str | None = None,
    owner: str | None = None,
    overdue: str | None = None,
    escalated: str | None = None,
    mine: str | None = None,
    actionable: str | None = None,
    institution: Blank[int] = None,
    enterprise: Blank[int] = None,
    source: str | None = None,
    q: str | None = None,
) -> CaseFilters:
    return CaseFilters(
        level=_enum(Level, level),
        state=_enum(CaseState, state),
        district_code=district or None,
        owner=_enum(Owner, owner),
        overdue=_flag(overdue),
        escalated=_flag(escalated),
        mine=_flag(mine),
        actionable=_flag(actionable),
        institution_id=institution,
        enterprise_id=enterprise,
        source=_enum(CaseSource, source),
        q=(q or "").strip() or None,
    )


Filters = Annotated[CaseFilters, Depends(_filters)]


def _areas(db, auth: Auth) -> list[Area]:
    stmt = select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)
    if auth.user.role == Role.DISTRICT_OFFICER:
        stmt = stmt.where(Area.code == auth.user.district_code)
    return list(db.scalars(stmt))


def _area_names(db) -> dict[str, str]:
    return area_names(db, zh=is_zh())


def _list_context(request: Request, db, auth: Auth, filters: CaseFilters, today: date) -> dict[str, Any]:
    counts = service.count_cases(
        db, scope=auth.scope, filters=filters, today=today, username=auth.user.username
    )
    return {
        "filters": filters,
        "counts": counts,
        "levels": BOARD_LEVELS,
        "states": list(CaseState),
        "owners": list(Owner),
        "sources": list(CaseSource),
        "areas": _areas(db, auth),
        "area_names": _area_names(db),
        "today": today,
        "query": query_without(request, "page", "view"),
        "scope": auth.scope,
        "can_act": service.can_act,
        "is_overdue": service.is_overdue,
        "active": "cases",
    }


@router.get("/cases")
def cases_page(
    request: Request,
    db: DB,
    auth: Viewer,
    filters: Filters,
    view: str = "board",
    page: int = Query(1, ge=1),
):
    """The board (看板): a column per state, a card per case coloured by level; or the table."""
    today = date.today()
    ctx = _list_context(request, db, auth, filters, today)
    if view == "table":
        rows, total = service.list_cases(
            db,
            scope=auth.scope,
            filters=filters,
            today=today,
            username=auth.user.username,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
        return render(
            request,
            "cases/list.html",
            view="table",
            rows=rows,
            **{**pagination(request, page=page, total=total, per_page=PER_PAGE), **ctx},
        )
    columns = [
        {"state": col.state, "rows": col.rows, "total": col.total}
        for col in service.board_columns(
            db,
            scope=auth.scope,
            filters=filters,
            today=today,
            username=auth.user.username,
            per_column=BOARD_PER_COLUMN,
            sizes=ctx["counts"].by_state,  # counted under the same scope and filters
        )
    ]
    return render(request, "cases/list.html", view="board", columns=columns, **ctx)


@router.get("/cases/export")
def cases_export(request: Request, db: DB, auth: Exporter, filters: Filters):
    today = date.today()
    rows, _total = service.list_cases(
        db,
        scope=auth.scope,
        filters=filters,
        today=today,
        username=auth.user.username,
        limit=MAX_EXPORT_ROWS,
    )
    names = _area_names(db)
    headers = [
        _("Case no."),
        _("Title"),
        _("Subject"),
        _("Source"),
        _("District"),
        _("Warning level"),
        _("Handled by"),
        _("State"),
        _("Opened"),
        _("Due on"),
        _("Overdue"),
        _("Escalated"),
        _("Shared with the district"),
        _("Assignee"),
        _("Resolution"),
        _("Closed"),
        _("Index version"),
        _("Hand-off to the police due"),
        _("Handed off to the police"),
        _("Copy to the sector supervisor"),
    ]
    body = (
        [
            r.id,
            r.title_text,
            r.subject_name,
            label(r.source),
            names.get(r.district_code, r.district_code),
            label(r.level),
            label(r.owner) if is_zh() else r.owner.value,
            label(r.state),
            r.created_at,
            r.due_on,
            _("yes") if service.is_overdue(r, today) else "",
            r.escalated_at,
            _("yes") if r.shared_with_district else "",
            r.assignee or "",
            r.resolution,
            r.closed_at,
            describe_version(r.index_version) if r.index_version else "",
            r.handoff_due_on,
            r.handed_off_at,
            r.supervisor_text or "",
        ]
        for r in rows
    )
    notes = (
        [_("Exported from Qiantang; demo data is synthetic.")] if request.app.state.is_demo(request) else []
    )
    content = build_xlsx(sheet_title=_("Cases"), headers=headers, rows=body, notes=notes)
    record_export(
        db,
        request,
        auth,
        "cases",
        detail={"rows": len(rows), "filters": {k: str(v) for k, v in vars(filters).items() if v}},
    )
    return xlsx_response(content, _("Cases") + ".xlsx")


BAND_KEYS = ("p10", "p25", "median", "p75", "p90")


def _num(value) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _with_unit(value, unit: str) -> str:
    if value is None or value == "":
        return ""
    return _num(value) + (f" {unit}" if unit else "")


COMPARISON_SIGNS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}


def evidence_rows(evidence) -> list[dict[str, Any]]:
    """The alert's evidence (the signals of its last quarter) as rows a page can show: message, level,
    value, the regulatory limit (only where the signal has one — a peer signal's threshold is the
    peer median, shown in the band), the peer band, the last quarters, the cited regulation and the
    rating's reasons. Tolerant of missing keys: the evidence is whatever the early-warning run stored."""
    rows = []
    for item in evidence if isinstance(evidence, list) else []:
        if not isinstance(item, dict):
            rows.append({"message": str(item), "level": None, "value": "", "limit": "", "band": ""})
            continue
        ev = item.get("evidence") if isinstance(item.get("evidence"), dict) else {}

        def pick(key, default=None, ev=ev, item=item):
            return ev[key] if ev.get(key) is not None else item.get(key, default)

        unit = pick("unit") or ""
        limit = pick("limit")
        sign = COMPARISON_SIGNS.get(pick("comparison") or "", "")
        band_src = next(
            (x for x in (pick("band"), pick("peer"), pick("peer_band")) if isinstance(x, dict)), {}
        )
        band = {k: band_src[k] for k in BAND_KEYS if isinstance(band_src.get(k), int | float)}
        last = pick("last4") or []
        trend = " · ".join(
            f"{p.get('period', '')} {_num(p['value'])}"
            for p in last
            if isinstance(p, dict) and isinstance(p.get("value"), int | float)
        )
        reasons = pick("reasons") or []
        message = item.get("message_zh") if is_zh() else message_en(item.get("message_en") or "")
        message = message or item.get("message_zh")
        rows.append(
            {
                "message": message or item.get("code") or "",
                "level": _enum(Level, item.get("level")),
                "period": item.get("period") or "",
                "value": _with_unit(item.get("value"), unit),
                "limit": f"{sign}{_with_unit(limit, unit)}" if limit is not None else "",
                "band": " · ".join(f"{k} {_num(v)}" for k, v in band.items()),
                "trend": trend,
                "citation": pick("citation") or "",
                # a rating's reasons are stored in Chinese: shown in the page's language
                "reasons": reasons_shown([r for r in reasons if isinstance(r, str)])
                if isinstance(reasons, list)
                else [],
            }
        )
    return rows


def _evidence_text(evidence) -> str:
    """An index reason's evidence as one line of text (a snippet, a yield against its cap, a tip)."""
    if evidence is None or evidence == "":
        return ""
    if isinstance(evidence, dict):
        parts = []
        for k, v in evidence.items():
            if isinstance(v, dict | list):
                continue
            parts.append(f"{k}：{_num(v) if isinstance(v, int | float) else v}")
        return "；".join(parts)
    if isinstance(evidence, list):
        return "；".join(_evidence_text(e) for e in evidence[:5])
    return str(evidence)


def reason_rows(evidence) -> list[dict[str, str]]:
    """The reasons a fundraising case was opened on (dimension, text, evidence), as shown."""
    rows = []
    for item in evidence if isinstance(evidence, list) else []:
        if isinstance(item, dict):
            reason = with_english(
                {"dimension": str(item.get("dimension") or ""), "text": str(item.get("text") or "")}
            )
            rows.append({**reason, "evidence": _evidence_text(item.get("evidence"))})
        else:
            rows.append({"dimension": "", "text": str(item), "evidence": ""})
    return rows


def _detail(
    request: Request,
    db,
    auth: Auth,
    case_id: int,
    *,
    error: str | None = None,
    errors: list | None = None,
    form: dict | None = None,
    status_code: int = 200,
):
    case = service.get_case(db, scope=auth.scope, case_id=case_id)
    today = date.today()
    attachments = service.list_attachments(db, case_id=case.id)
    return render(
        request,
        "cases/detail.html",
        status_code=status_code,
        case=case,
        alert=case.alert,
        evidence=evidence_rows(case.alert.evidence) if case.alert is not None else [],
        reasons=reason_rows(case.opened_evidence),
        clock=service.handoff_clock(case, today),
        inst=case.institution,
        events=service.timeline(db, case_id=case.id),
        attachments=attachments,
        attachments_by_id={a.id: a for a in attachments},
        actions=service.available_actions(auth.scope, case),
        overdue=service.is_overdue(case, today),
        today=today,
        due_days={k.value: v for k, v in service.load_policy().due_days.items()},
        area_names=_area_names(db),
        event_labels=EVENT_LABELS,
        transition_labels=TRANSITION_LABELS,
        states=CaseState,
        error=error,
        errors=errors or [],
        form=form or {},
        max_mb=service.load_policy().max_attachment_bytes // (1024 * 1024),
        active="cases",
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, db: DB, auth: Viewer, case_id: int):
    return _detail(request, db, auth, case_id)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _after_action(request: Request, db, auth: Auth, case_id: int, exc: QiantangError | None, form: dict):
    """Redirect back to the case; on a refused input, show the case again with the message.

    Forbidden and not-found propagate to the error page; a rejected move or missing text re-renders
    the form (status 422/409, or 200 for htmx so that the panel is swapped in)."""
    if exc is None:
        return RedirectResponse(f"/cases/{case_id}#timeline", status_code=303)
    db.rollback()
    errors = [e.as_dict() for e in exc.errors] if isinstance(exc, ValidationFailed) else []
    message = exc.message if is_zh() else exc.message_en
    return _detail(
        request,
        db,
        auth,
        case_id,
        error=message,
        errors=errors,
        form=form,
        status_code=200 if _is_htmx(request) else exc.status_code,
    )


def _act(
    request: Request, db, auth: Auth, case_id: int, form: dict, action, refused=(ValidationFailed, Conflict)
):
    """Run one case action; the case page (or its htmx panel) then shows the outcome or the error."""
    try:
        action()
    except refused as exc:
        return _after_action(request, db, auth, case_id, exc, form)
    return _after_action(request, db, auth, case_id, None, form)


@router.post("/cases/{case_id}/transition")
async def transition_form(request: Request, db: DB, auth: Actor, case_id: int):
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        case_id,
        form,
        lambda: service.transition(
            db,
            case_id=case_id,
            to_state=form.get("to_state", ""),
            actor=auth.user,
            comment=form.get("comment", ""),
            resolution=form.get("resolution") or None,
        ),
    )


@router.post("/cases/{case_id}/comment")
async def comment_form(request: Request, db: DB, auth: Actor, case_id: int):
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        case_id,
        form,
        lambda: service.add_comment(db, case_id=case_id, actor=auth.user, text=form.get("comment", "")),
    )


@router.post("/cases/{case_id}/share")
async def share_form(request: Request, db: DB, auth: Actor, case_id: int):
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        case_id,
        form,
        lambda: service.share_with_district(
            db, case_id=case_id, actor=auth.user, comment=form.get("comment", "")
        ),
    )


@router.post("/cases/{case_id}/handoff")
async def handoff_form(request: Request, db: DB, auth: Actor, case_id: int):
    """移送公安 (city staff; the service checks the role and the case)."""
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        case_id,
        form,
        lambda: service.hand_off(db, case_id=case_id, actor=auth.user, comment=form.get("comment", "")),
    )


@router.post("/cases/{case_id}/attachments")
async def attach_form(request: Request, db: DB, auth: Actor, case_id: int):
    form = await request.form()
    upload = form.get("file")
    comment = form.get("comment")
    texts = {"comment": comment if isinstance(comment, str) else ""}
    # Check who may act before reading the file: a refused user learns nothing from its size.
    await run_in_threadpool(
        lambda: service.check_act(auth.scope, service.get_case(db, scope=auth.scope, case_id=case_id))
    )
    if upload is None or isinstance(upload, str) or not upload.filename:
        return await run_in_threadpool(
            _after_action, request, db, auth, case_id, ValidationFailed("请选择要上传的文件"), texts
        )
    limit = service.load_policy().max_attachment_bytes
    data = await upload.read(limit + 1)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        case_id,
        texts,
        lambda: service.attach(
            db,
            case_id=case_id,
            actor=auth.user,
            filename=upload.filename,
            content_type=upload.content_type,
            data=data,
            comment=texts["comment"],
        ),
        refused=(ValidationFailed, Conflict, service.PayloadTooLarge),
    )


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = filename.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "").strip()
    if not fallback or fallback.startswith("."):
        fallback = "attachment" + ("." + filename.rsplit(".", 1)[-1] if "." in filename else "")
        fallback = fallback.encode("ascii", "ignore").decode() or "attachment"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# Types a browser could run as a page of this site are served as plain bytes.
ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml")


@router.get("/cases/{case_id}/attachments/{attachment_id}")
def attachment_download(request: Request, db: DB, auth: Viewer, case_id: int, attachment_id: int):
    att = service.get_attachment(db, scope=auth.scope, case_id=case_id, attachment_id=attachment_id)
    media_type = att.content_type or "application/octet-stream"
    if media_type in ACTIVE_TYPES or "javascript" in media_type:
        media_type = "application/octet-stream"
    return Response(
        att.data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(att.filename),
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-SHA256": att.sha256,
            "Cache-Control": "private, no-store",
        },
    )


# ------------------------------------------------------------------------------------------------
# JSON API


def case_out(case: Case, scope, today: date) -> dict[str, Any]:
    return {
        **{c: getattr(case, c) for c in schemas.CaseOut.model_fields if hasattr(Case, c)},
        "institution_name": case.institution.name if case.institution else None,
        "enterprise_name": case.enterprise.name if case.enterprise else None,
        "subject_name": case.subject_name,
        "overdue": service.is_overdue(case, today),
        "can_act": service.can_act(scope, case),
    }


def case_detail_out(db, case: Case, scope, today: date) -> dict[str, Any]:
    attachments = service.list_attachments(db, case_id=case.id)
    return {
        **case_out(case, scope, today),
        "alert": case.alert,
        "events": service.timeline(db, case_id=case.id),
        "attachments": [
            {
                **{k: getattr(a, k) for k in schemas.AttachmentOut.model_fields if k != "url"},
                "url": f"/cases/{case.id}/attachments/{a.id}",
            }
            for a in attachments
        ],
        "allowed_transitions": list(service.available_actions(scope, case)["transitions"]),
        "handoff_clock_zh": (clock.text_zh if (clock := service.handoff_clock(case, today)) else None),
    }


@api_router.get("/cases", response_model=Page[schemas.CaseOut], summary="案件列表 Cases (scoped)")
def cases_api(
    db: DB,
    auth: Viewer,
    filters: Filters,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    today = date.today()
    rows, total = service.list_cases(
        db,
        scope=auth.scope,
        filters=filters,
        today=today,
        username=auth.user.username,
        limit=limit,
        offset=offset,
    )
    items = [case_out(r, auth.scope, today) for r in rows]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@api_router.get("/cases/{case_id}", response_model=schemas.CaseDetailOut, summary="案件详情 A case")
def case_api(db: DB, auth: Viewer, case_id: int):
    case = service.get_case(db, scope=auth.scope, case_id=case_id)
    return case_detail_out(db, case, auth.scope, date.today())


@api_router.post(
    "/cases/{case_id}/transitions",
    response_model=schemas.CaseDetailOut,
    summary="办理：状态流转 Move a case to another state",
)
def transition_api(body: schemas.TransitionIn, db: DB, auth: Actor, case_id: int):
    case = service.transition(
        db,
        case_id=case_id,
        to_state=body.to_state,
        actor=auth.user,
        comment=body.comment,
        resolution=body.resolution,
    )
    return case_detail_out(db, case, auth.scope, date.today())


@api_router.post(
    "/cases/{case_id}/comments",
    response_model=schemas.EventOut,
    status_code=201,
    summary="添加意见 Comment on a case",
)
def comment_api(body: schemas.CommentIn, db: DB, auth: Actor, case_id: int):
    return service.add_comment(db, case_id=case_id, actor=auth.user, text=body.comment)


@api_router.post(
    "/cases/{case_id}/handoff",
    response_model=schemas.CaseDetailOut,
    summary="移送公安 Hand a red fundraising case off to the police",
)
def handoff_api(body: schemas.ShareIn, db: DB, auth: Actor, case_id: int):
    case = service.hand_off(db, case_id=case_id, actor=auth.user, comment=body.comment)
    return case_detail_out(db, case, auth.scope, date.today())


@api_router.post(
    "/cases/{case_id}/share",
    response_model=schemas.CaseDetailOut,
    summary="共享给区县 Share a city case with the district office",
)
def share_api(body: schemas.ShareIn, db: DB, auth: Actor, case_id: int):
    case = service.share_with_district(db, case_id=case_id, actor=auth.user, comment=body.comment)
    return case_detail_out(db, case, auth.scope, date.today())
