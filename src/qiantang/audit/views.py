"""The audit log page and its Excel export (auditors and the city administrator)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from qiantang.audit import chain, service
from qiantang.auth.permissions import Permission
from qiantang.db import utcnow
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, xlsx_response
from qiantang.registry.models import Institution
from qiantang.registry.service import area_names
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.params import Blank
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
PER_PAGE = 100
# The page re-hashes only the events added since a whole verification at most this old (about 8 s
# per 100,000 events in full, benchmarks/audit_chain.py); the export and the CLI always check all.
CHAIN_REUSE_SECONDS = 300.0
Auditor = Annotated[Auth, require(Permission.VIEW_AUDIT_LOG)]


def _action_label(action: str) -> str:
    return service.ACTIONS_ZH.get(action, action) if is_zh() else action.replace("_", " ").capitalize()


def _institution_names(db, rows) -> dict[str, str]:
    """Institutions named in the events, by id, so the log shows names rather than numbers."""
    ids = {int(r.object_id) for r in rows if r.object_type == "institution" and (r.object_id or "").isdigit()}
    if not ids:
        return {}
    found = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids))).all()
    return {str(i): name for i, name in found}


def _filters(
    username: str | None = None,
    action: str | None = None,
    since: Blank[date] = None,
    until: Blank[date] = None,
) -> service.AuditFilters:
    return service.AuditFilters(username=username or None, action=action or None, since=since, until=until)


Filters = Annotated[service.AuditFilters, Depends(_filters)]


def _chain_message(state: chain.ChainState) -> str:
    return state.describe_zh() if is_zh() else state.describe_en()


@router.get("/audit")
def audit_page(request: Request, db: DB, auth: Auditor, filters: Filters, page: int = Query(1, ge=1)):
    rows, total = service.list_events(db, filters=filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    areas = area_names(db, zh=is_zh())
    state = chain.verify(db, reuse_seconds=CHAIN_REUSE_SECONDS)
    return render(
        request,
        "audit/list.html",
        rows=rows,
        chain_state=state,
        chain_message=_chain_message(state),
        actions=service.ACTIONS_ZH,
        action_label=_action_label,
        object_label=service.object_label,
        object_names=_institution_names(db, rows),
        details={r.id: service.describe_detail(r.detail, areas=areas) for r in rows},
        params=request.query_params,
        active="audit",
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/audit/export")
def audit_export(request: Request, db: DB, auth: Auditor, filters: Filters):
    rows, _total = service.list_events(db, filters=filters, limit=MAX_EXPORT_ROWS)
    areas = area_names(db, zh=is_zh())
    state = chain.verify(db)
    headers = [
        _("No."),
        _("Time (UTC)"),
        _("User"),
        _("Action"),
        _("Object"),
        _("Object id"),
        _("IP"),
        _("Detail"),
        _("Hash"),
    ]
    body = (
        [
            r.seq,
            r.at,
            r.username,
            _action_label(r.action),
            service.object_label(r.object_type),
            r.object_id,
            r.ip,
            service.detail_text(r.detail, areas=areas),
            r.row_hash,
        ]
        for r in rows
    )
    checked_at = utcnow().strftime("%Y-%m-%d %H:%M")
    notes = [_chain_message(state), _("Checked at (UTC): %(at)s", at=checked_at)]
    content = build_xlsx(sheet_title=_("Audit log"), headers=headers, rows=body, notes=notes)
    record_export(db, request, auth, "audit_log", detail={"rows": len(rows)})
    return xlsx_response(content, _("Audit log") + ".xlsx")
