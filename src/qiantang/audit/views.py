"""The audit log page and its Excel export (auditors and the city administrator)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from qiantang.audit import service
from qiantang.auth.permissions import Permission
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.params import Blank
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
PER_PAGE = 100
Auditor = Annotated[Auth, require(Permission.VIEW_AUDIT_LOG)]


def _action_label(action: str) -> str:
    return service.ACTIONS_ZH.get(action, action) if is_zh() else action


def _filters(
    username: str | None = None,
    action: str | None = None,
    since: Blank[date] = None,
    until: Blank[date] = None,
) -> service.AuditFilters:
    return service.AuditFilters(username=username or None, action=action or None, since=since, until=until)


Filters = Annotated[service.AuditFilters, Depends(_filters)]


@router.get("/audit")
def audit_page(request: Request, db: DB, auth: Auditor, filters: Filters, page: int = Query(1, ge=1)):
    rows, total = service.list_events(db, filters=filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render(
        request,
        "audit/list.html",
        rows=rows,
        actions=service.ACTIONS_ZH,
        action_label=_action_label,
        params=request.query_params,
        active="audit",
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/audit/export")
def audit_export(request: Request, db: DB, auth: Auditor, filters: Filters):
    rows, _total = service.list_events(db, filters=filters, limit=MAX_EXPORT_ROWS)
    headers = [_("Time (UTC)"), _("User"), _("Action"), _("Object"), _("Object id"), _("IP"), _("Detail")]
    body = (
        [
            r.at,
            r.username,
            _action_label(r.action),
            r.object_type,
            r.object_id,
            r.ip,
            str(r.detail) if r.detail else "",
        ]
        for r in rows
    )
    content = build_xlsx(sheet_title=_("Audit log"), headers=headers, rows=body)
    record_export(db, request, auth, "audit_log", detail={"rows": len(rows)})
    return xlsx_response(content, _("Audit log") + ".xlsx")
