"""The inbox, the unread badge in the header, and "my notifications" (e-mail and channels per event)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from qiantang.errors import ValidationFailed
from qiantang.notify import service
from qiantang.web.deps import DB, CurrentAuth
from qiantang.web.shell import _safe_next
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["通知 Notifications"])


@router.get("/notifications")
def inbox_page(request: Request, db: DB, auth: CurrentAuth):
    return render(
        request,
        "notify/inbox.html",
        rows=service.inbox(db, user_id=auth.user.id),
        unread=service.unread_count(db, user_id=auth.user.id),
        events=service.event_types(),
        active="notifications",
    )


@router.get("/notifications/badge")
def badge(request: Request, db: DB, auth: CurrentAuth):
    """The bell's unread count (htmx loads it into the header, and again every minute)."""
    return render(request, "notify/_badge.html", unread=service.unread_count(db, user_id=auth.user.id))


@router.get("/notifications/{notification_id:int}")
def open_notification(db: DB, auth: CurrentAuth, notification_id: int):
    row = service.open_notification(db, user_id=auth.user.id, notification_id=notification_id)
    return RedirectResponse(_safe_next(row.link or "/notifications"), status_code=303)


@router.post("/notifications/read-all")
def read_all(db: DB, auth: CurrentAuth):
    service.mark_all_read(db, user_id=auth.user.id)
    return RedirectResponse("/notifications", status_code=303)


def _settings_page(request: Request, db, auth, *, error=None, saved=False, status_code=200, email=None):
    from qiantang.auth.models import User
    from qiantang.config import get_settings

    settings = get_settings()
    return render(
        request,
        "notify/settings.html",
        status_code=status_code,
        email=db.get(User, auth.user.id).email or "" if email is None else email,
        prefs=service.preferences(db, user_id=auth.user.id),
        events=service.event_types(),
        channels=service.CHANNELS,
        email_on=bool(settings.smtp_host),
        webhook_on=bool(service.webhook_urls(settings)),
        error=error,
        saved=saved,
        active="notifications",
    )


@router.get("/notifications/settings")
def settings_page(request: Request, db: DB, auth: CurrentAuth, saved: bool = False):
    return _settings_page(request, db, auth, saved=saved)


@router.post("/notifications/settings")
async def settings_save(request: Request, db: DB, auth: CurrentAuth):
    form = await request.form()
    return await run_in_threadpool(_save_settings, request, db, auth, form)


def _save_settings(request: Request, db, auth, form):
    email = str(form.get("email", ""))
    try:
        service.set_email(db, user_id=auth.user.id, email=email)
    except ValidationFailed as exc:
        db.rollback()
        return _settings_page(request, db, auth, error=exc.message, status_code=422, email=email)
    chosen = {key: {c for c in service.CHANNELS if form.get(f"{key}:{c}")} for key in service.event_types()}
    service.set_preferences(db, user_id=auth.user.id, chosen=chosen)
    return RedirectResponse("/notifications/settings?saved=1", status_code=303)


@api_router.get("/notifications", summary="我的通知 My notifications")
def inbox_api(db: DB, auth: CurrentAuth):
    return [
        {
            "id": r.id,
            "event_type": r.event_type,
            "title": r.title,
            "body": r.body,
            "link": r.link,
            "created_at": r.created_at,
            "read_at": r.read_at,
        }
        for r in service.inbox(db, user_id=auth.user.id)
    ]
