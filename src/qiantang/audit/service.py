"""Writing and reading the audit log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from qiantang.audit import chain
from qiantang.audit.models import AuditEvent
from qiantang.db import utcnow

ACTIONS_ZH = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_blocked": "登录受限",
    "logout": "退出",
    "create": "新建",
    "update": "修改",
    "delete": "删除",
    "export": "导出",
    "upload": "上传",
    "demo_load": "加载演示数据",
    "token_create": "创建API令牌",
    "token_revoke": "吊销API令牌",
    "user_disable": "停用账号",
    "user_enable": "启用账号",
    "password_reset": "重置密码",
    "password_change": "修改密码",
    "backup": "备份数据库",
    "restore": "恢复数据库",
    "audit_verify": "核验审计链",
    "permission_denied": "越权访问被拒",
    "case_create": "案件立案",
    "case_transition": "案件流转",
    "case_comment": "案件批注",
    "case_attach": "案件附件",
    "case_share": "案件共享区县",
    "case_escalate": "案件逾期上报",
    "case_overdue": "案件逾期提醒",
    "case_relevel": "案件等级调整",
}


def record(
    session: Session,
    *,
    action: str,
    user=None,
    username: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one audit event to the current transaction, linked into the hash chain."""
    event = AuditEvent(
        at=utcnow(),
        action=action,
        user_id=getattr(user, "id", None),
        username=username or getattr(user, "username", None),
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        # Stored as it reads back (tuples become lists, keys strings), so the hash still matches.
        detail=json.loads(json.dumps(detail or {}, ensure_ascii=False, default=str)),
        ip=ip,
    )
    chain.link(session, event)
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilters:
    username: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


def _filtered(stmt: Select, f: AuditFilters) -> Select:
    if f.username:
        stmt = stmt.where(AuditEvent.username == f.username)
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.since:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(f.since, datetime.min.time()))
    if f.until:
        stmt = stmt.where(AuditEvent.at < datetime.combine(f.until + timedelta(days=1), datetime.min.time()))
    return stmt


def list_events(
    session: Session, *, filters: AuditFilters = AuditFilters(), limit: int = 100, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """Newest first, with the total count for paging."""
    base = _filtered(select(AuditEvent), filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(base.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
