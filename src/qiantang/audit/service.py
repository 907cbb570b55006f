"""Writing and reading the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from qiantang.audit import chain
from qiantang.audit.models import AuditEvent
from qiantang.db import utcnow
from qiantang.versions import describe_version
from qiantang.web.i18n import N_, gettext, label

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
    "case_handoff": "案件移送公安",
    "case_supervisor": "案件抄送行业主管部门",
    "tip_received": "收到举报线索",
    "tip_merged": "举报合并入已有线索",
    "tip_handled": "举报线索已处理",
    "tip_forwarded": "举报线索转立案",
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


# ------------------------------------------------------------------------------------ reading details
# Words for the keys that events carry in ``detail`` (English msgids; a key not listed is shown as is).
DETAIL_LABELS = {
    "alert_id": N_("Alert no."),
    "attachment_id": N_("Attachment no."),
    "bad": N_("Bad value"),
    "code": N_("Code"),
    "comment": N_("Comment"),
    "district_code": N_("District"),
    "due_on": N_("Due"),
    "file": N_("File"),
    "filename": N_("File"),
    "filters": N_("Filters"),
    "index_version": N_("Index version"),
    "format": N_("Format"),
    "from": N_("State before"),
    "from_level": N_("Level before"),
    "kind": N_("Model type"),
    "level": N_("Alert level"),
    "mode": N_("Mode"),
    "name": N_("Name"),
    "owner": N_("Handled by"),
    "period": N_("Period"),
    "policy": N_("Policy version"),
    "role": N_("Role"),
    "rows": N_("Rows"),
    "scale": N_("Scale"),
    "scenarios": N_("Scenarios"),
    "seed": N_("Seed"),
    "segment": N_("Segment"),
    "sha256": N_("Checksum"),
    "size": N_("Size (bytes)"),
    "status": N_("Status"),
    "target": N_("Target"),
    "targets": N_("Targets"),
    "to": N_("State after"),
    "to_level": N_("Level after"),
    "today": N_("Date"),
    "type": N_("Type"),
    "username": N_("User"),
    "uscc": N_("Unified social credit code"),
    "version": N_("Version"),
    "via": N_("Via"),
}

# Detail keys whose values are codes with names (an enumeration with Chinese and English names, or a
# function giving the name and raising ValueError for a value it does not know). Each domain registers
# its own (``register_detail_values``), so the audit log needs no import of the domains.
_VALUE_NAMERS: dict[str, list[Callable[[Any], str]]] = {}


def register_detail_values(namer: type[Enum] | Callable[[Any], str], *keys: str) -> None:
    """Show the values stored under ``keys`` by their names instead of the raw codes."""
    if isinstance(namer, type) and issubclass(namer, Enum):
        enum = namer

        def namer(value: Any) -> str:
            return label(enum(value))

    for key in keys:
        _VALUE_NAMERS.setdefault(key, []).append(namer)


def _version_name(value: Any) -> str:
    """A stored version code in words (``qiantang.versions``); ValueError for one it does not know."""
    words = describe_version(value)
    if words == str(value):
        raise ValueError(value)
    return words


register_detail_values(_version_name, "version", "policy", "index_version", "rules_version")


def _value_text(key: str, value: Any, areas: dict[str, str]) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dict):
        return "；".join(f"{_key_text(k)}：{_value_text(k, v, areas)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if len(value) == 2 and key not in ("rows", "targets"):  # an (old, new) pair of a change
            return f"{_value_text(key, value[0], areas)} → {_value_text(key, value[1], areas)}"
        return "、".join(_value_text(key, v, areas) for v in value)
    if key == "district_code" and str(value) in areas:
        return areas[str(value)]
    for namer in _VALUE_NAMERS.get(key, ()):
        try:
            return namer(value)
        except (ValueError, KeyError):
            continue
    if isinstance(value, int | float):
        return f"{value:,}"
    return str(value)


def _key_text(key: str) -> str:
    return gettext(DETAIL_LABELS[key]) if key in DETAIL_LABELS else key


def describe_detail(detail: dict | None, *, areas: dict[str, str]) -> list[tuple[str, str]]:
    """An event's detail as (label, value) pairs in the current language, names instead of codes."""
    return [(_key_text(k), _value_text(k, v, areas)) for k, v in (detail or {}).items()]


def detail_text(detail: dict | None, *, areas: dict[str, str]) -> str:
    """The detail on one line ("区县：西湖区；等级：橙色"), for exports."""
    return "；".join(f"{k}：{v}" for k, v in describe_detail(detail, areas=areas))


# What the events are about (``object_type``), in words; a type not listed is shown as is.
OBJECT_LABELS = {
    "api_token": N_("API token"),
    "audit_log": N_("Audit log"),
    "case": N_("Case"),
    "cases": N_("Cases"),
    "credit_dataset": N_("Credit data set"),
    "credit_model": N_("Credit model"),
    "credit_report": N_("Credit report"),
    "credit_validation": N_("Validation report"),
    "demo": N_("Demo data"),
    "enterprises": N_("Enterprises"),
    "ew_alerts": N_("Alerts"),
    "ew_report": N_("Monthly risk report"),
    "filing": N_("Filing"),
    "fundraising_data": N_("Fundraising-monitoring data"),
    "fundraising_tip": N_("Tip"),
    "fundraising_tips": N_("Tips"),
    "filings": N_("Filings"),
    "guarantees": N_("Guarantee relations"),
    "indicator_values": N_("Indicator values"),
    "institution": N_("Institution"),
    "institutions": N_("Institutions"),
    "network_group_report": N_("Guarantee group report"),
    "network_groups": N_("Guarantee groups"),
    "network_scenario": N_("Contagion scenario"),
    "plan": N_("Plan"),
    "plan_progress": N_("Plan progress"),
    "plan_report": N_("Plan report"),
    "statistics": N_("Statistics"),
    "user": N_("User"),
}


def object_label(object_type: str | None) -> str:
    """What an event is about, in the current language."""
    if not object_type:
        return ""
    return gettext(OBJECT_LABELS[object_type]) if object_type in OBJECT_LABELS else object_type
