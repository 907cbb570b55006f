"""Pages of public tips (举报): the public form and receipt status (no login), the staff inbox with its
detail, actions, Excel export and JSON API, and the watch list of green firms.

The public form has no session, so its CSRF check is a double-submit cookie: the page sets a random
token in a cookie and in a hidden field, and the post must carry both, equal. A post from another site
cannot read the cookie to copy it into the form (and SameSite=Lax keeps it off cross-site posts).
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission
from qiantang.errors import Conflict, TooManyRequests, ValidationFailed
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.fundraising import routing, tips
from qiantang.fundraising.tip_models import TipStatus
from qiantang.fundraising.tips import TipFilters
from qiantang.registry.models import Area
from qiantang.registry.service import area_names
from qiantang.web.cookies import set_cookie
from qiantang.web.deps import DB, Auth, client_ip, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.params import Blank, text_fields
from qiantang.web.templating import pagination, query_without, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["举报线索 Tips"])
PER_PAGE = 50
TIP_CSRF_COOKIE = "qt_tip_csrf"
TIP_CSRF_FIELD = "tip_csrf"

Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Actor = Annotated[Auth, require(Permission.ACT_ON_CASES)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]


# ------------------------------------------------------------------------------------ public side
def _form_page(request: Request, *, form: dict | None = None, error: str | None = None, status: int = 200):
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "fundraising/tip_form.html",
        status_code=status,
        tip_csrf=token,
        form=form or {},
        error=error,
        limits={"firm": tips.MAX_FIRM, "text": tips.MAX_TEXT, "contact": tips.MAX_CONTACT},
        help_url="/help/tips",
    )
    set_cookie(request, response, TIP_CSRF_COOKIE, token, max_age=3600)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/report-tip")
def tip_form(request: Request):
    """举报非法集资: the public form (no login)."""
    return _form_page(request)


def _submit(db, form: dict, ip: str | None) -> tips.Receipt:
    return tips.submit_tip(
        db,
        firm=form.get("firm", ""),
        what_happened=form.get("what_happened", ""),
        amount=form.get("amount") or None,
        people=form.get("people") or None,
        contact=form.get("contact") or None,
        ip=ip,
    )


@router.post("/report-tip")
async def tip_submit(request: Request, db: DB):
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    cookie = request.cookies.get(TIP_CSRF_COOKIE, "")
    sent = form.get(TIP_CSRF_FIELD, "")
    if not cookie or not sent or not secrets.compare_digest(cookie, sent):
        return _form_page(
            request, form=form, error=_("The form has expired; please submit it again."), status=403
        )
    try:
        receipt = await run_in_threadpool(_submit, db, form, client_ip(request))
    except TooManyRequests as exc:
        db.rollback()
        response = _form_page(
            request, form=form, error=exc.message if is_zh() else exc.message_en, status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    except (ValidationFailed, tips.TipTooLarge) as exc:
        db.rollback()
        return _form_page(
            request, form=form, error=exc.message if is_zh() else exc.message_en, status=exc.status_code
        )
    response = RedirectResponse(f"/report-tip/status?code={receipt.code}&new=1", status_code=303)
    response.delete_cookie(TIP_CSRF_COOKIE, path="/")
    return response


@router.get("/report-tip/status")
def tip_status(request: Request, db: DB, code: str = "", new: str = ""):
    """A tipster's receipt: the status of the report, and nothing else."""
    code = code[:40]
    status = tips.public_status(db, code) if code.strip() else None
    response = render(
        request,
        "fundraising/tip_status.html",
        status_code=404 if code.strip() and status is None else 200,
        code=code,
        status=status,
        new=new == "1" and status is not None,
        help_url="/help/tips",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------------- staff side
def _filters(
    status: str | None = None,
    district: str | None = None,
    matched: str | None = None,
    since: Blank[date] = None,
    q: str | None = None,
) -> TipFilters:
    try:
        st = TipStatus(status) if status else None
    except ValueError:
        st = None
    return TipFilters(
        status=st,
        district_code=(district or "").strip() or None,
        matched={"1": True, "yes": True, "0": False, "no": False}.get((matched or "").lower()),
        since=since,
        q=(q or "").strip()[:100] or None,
    )


Filters = Annotated[TipFilters, Depends(_filters)]


def _areas(db, auth: Auth) -> list[Area]:
    stmt = select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)
    if auth.user.role == Role.DISTRICT_OFFICER:
        stmt = stmt.where(Area.code == auth.user.district_code)
    return list(db.scalars(stmt))


@router.get("/fundraising/tips")
def tips_page(request: Request, db: DB, auth: Viewer, filters: Filters, page: int = Query(1, ge=1)):
    rows, total = tips.list_tips(
        db, scope=auth.scope, filters=filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    return render(
        request,
        "fundraising/tips.html",
        rows=rows,
        filters=filters,
        counts=tips.count_by_status(db, scope=auth.scope, filters=TipFilters()),
        statuses=list(TipStatus),
        areas=_areas(db, auth),
        area_names=area_names(db, zh=is_zh()),
        export_query=query_without(request, "page"),
        active="fundraising",
        help_url="/help/tips",
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/fundraising/tips/export")
def tips_export(request: Request, db: DB, auth: Exporter, filters: Filters):
    rows, _total = tips.list_tips(db, scope=auth.scope, filters=filters, limit=MAX_EXPORT_ROWS)
    names = area_names(db, zh=is_zh())
    headers = [
        _("Tip no."),
        _("Firm as reported"),
        _("Matched firm"),
        _("USCC"),
        _("Match confidence"),
        _("District"),
        _("What happened"),
        _("Amount (yuan)"),
        _("People involved"),
        _("Reports"),
        _("First reported"),
        _("Last reported"),
        _("Status"),
        _("Case no."),
        _("Handling"),
    ]
    body = (
        [
            t.id,
            t.firm_text,
            t.enterprise.name if t.enterprise else "",
            t.enterprise.uscc if t.enterprise else "",
            t.match_confidence,
            names.get(t.district_code, t.district_code or ""),
            t.what_happened,
            t.amount_yuan,
            t.people,
            t.reports,
            t.first_at,
            t.last_at,
            label(t.status),
            t.case_id,
            t.handling_note,
        ]
        for t in rows
    )
    content = build_xlsx(sheet_title=_("Tips"), headers=headers, rows=body)
    record_export(
        db,
        request,
        auth,
        "fundraising_tips",
        detail={"rows": len(rows), "filters": {k: str(v) for k, v in vars(filters).items() if v is not None}},
    )
    return xlsx_response(content, _("Tips") + ".xlsx")


def _detail(request: Request, db, auth: Auth, tip_id: int, *, error: str | None = None, status: int = 200):
    tip = tips.get_tip(db, scope=auth.scope, tip_id=tip_id)
    return render(
        request,
        "fundraising/tip_detail.html",
        status_code=status,
        tip=tip,
        reports=tip.report_rows,
        can_act=tips.can_act(auth.scope, tip) and tip.status == TipStatus.NEW,
        area_names=area_names(db, zh=is_zh()),
        error=error,
        active="fundraising",
        help_url="/help/tips",
    )


@router.get("/fundraising/tips/{tip_id}")
def tip_page(request: Request, db: DB, auth: Viewer, tip_id: int):
    return _detail(request, db, auth, tip_id)


def _act(request: Request, db, auth: Auth, tip_id: int, action, target=None):
    try:
        result = action()
    except (ValidationFailed, Conflict, tips.TipTooLarge) as exc:
        db.rollback()
        return _detail(
            request,
            db,
            auth,
            tip_id,
            error=exc.message if is_zh() else exc.message_en,
            status=exc.status_code,
        )
    return RedirectResponse(target(result) if target else f"/fundraising/tips/{tip_id}", status_code=303)


@router.post("/fundraising/tips/{tip_id}/handle")
async def tip_handle(request: Request, db: DB, auth: Actor, tip_id: int):
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        tip_id,
        lambda: tips.mark_handled(db, tip_id=tip_id, actor=auth.user, note=form.get("note", "")),
    )


@router.post("/fundraising/tips/{tip_id}/forward")
async def tip_forward(request: Request, db: DB, auth: Actor, tip_id: int):
    form = await text_fields(request)
    return await run_in_threadpool(
        _act,
        request,
        db,
        auth,
        tip_id,
        lambda: tips.forward_to_case(db, tip_id=tip_id, actor=auth.user, note=form.get("note", "")),
        lambda case: f"/cases/{case.id}",
    )


@router.get("/fundraising/watchlist")
def watchlist_page(request: Request, db: DB, auth: Viewer):
    """绿: firms the index graded green, watched without a case."""
    return render(
        request,
        "fundraising/tip_watchlist.html",
        rows=routing.watch_list(db, scope=auth.scope),
        area_names=area_names(db, zh=is_zh()),
        active="fundraising",
        help_url="/help/tips",
    )


# ------------------------------------------------------------------------------------------ JSON API
def tip_out(tip) -> dict[str, Any]:
    return {
        "id": tip.id,
        "firm_text": tip.firm_text,
        "enterprise_id": tip.enterprise_id,
        "enterprise_name": tip.enterprise.name if tip.enterprise else None,
        "match_confidence": tip.match_confidence,
        "match_method": tip.match_method or None,
        "district_code": tip.district_code,
        "what_happened": tip.what_happened,
        "amount_yuan": tip.amount_yuan,
        "people": tip.people,
        "reports": tip.reports,
        "status": tip.status.value,
        "first_at": tip.first_at,
        "last_at": tip.last_at,
        "case_id": tip.case_id,
        "handled_by": tip.handled_by,
        "handled_at": tip.handled_at,
        "handling_note": tip.handling_note,
    }


@api_router.get("/fundraising/tips", summary="举报线索 Tips (scoped)")
def tips_api(
    db: DB,
    auth: Viewer,
    filters: Filters,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    rows, total = tips.list_tips(db, scope=auth.scope, filters=filters, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": [tip_out(t) for t in rows]}


@api_router.get("/fundraising/tips/{tip_id}", summary="举报线索详情 A tip with its reports")
def tip_api(db: DB, auth: Viewer, tip_id: int) -> dict[str, Any]:
    tip = tips.get_tip(db, scope=auth.scope, tip_id=tip_id)
    return {
        **tip_out(tip),
        "reports_detail": [
            {
                "at": r.at,
                "what_happened": r.what_happened,
                "amount_yuan": r.amount_yuan,
                "people": r.people,
                "contact": r.contact,
            }
            for r in tip.report_rows
        ],
    }
