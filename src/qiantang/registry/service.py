"""Reading the institution registry within a user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.scope import Scope
from qiantang.db import get_or_404
from qiantang.errors import Conflict, QiantangError, RowError, ValidationFailed
from qiantang.filings.models import Filing
from qiantang.registry.models import (
    Area,
    Cluster,
    Institution,
    InstitutionCategory,
    InstitutionLevel,
    InstitutionStatus,
    InstitutionStatusChange,
    InstitutionType,
    StatusEvent,
)
from qiantang.search import matches
from qiantang.standards.uscc import check_uscc


@dataclass(frozen=True)
class InstitutionFilters:
    q: str | None = None
    type_code: str | None = None
    category: str | None = None
    level: InstitutionLevel | None = None
    district_code: str | None = None
    cluster_code: str | None = None
    status: InstitutionStatus | None = None
    supervisor: str | None = None


def _query(session: Session, scope: Scope, f: InstitutionFilters) -> Select:
    stmt = select(Institution).where(scope.institution_clause(Institution.id, Institution.district_code))
    if f.q and f.q.strip():  # name or USCC contains q, through the text index (qiantang.search)
        stmt = stmt.where(matches(session, "institutions", Institution.id, f.q))
    if f.type_code:
        stmt = stmt.where(Institution.type_code == f.type_code)
    if f.category:
        if f.category not in set(InstitutionCategory):
            allowed = "、".join(c.value for c in InstitutionCategory)
            raise QiantangError(
                f"未知的机构类别“{f.category}”（可选：{allowed}）",
                message_en=f"Unknown institution category {f.category!r}",
            )
        stmt = stmt.where(
            Institution.type_code.in_(
                select(InstitutionType.code).where(InstitutionType.category == f.category)
            )
        )
    if f.level:
        stmt = stmt.where(Institution.level == f.level)
    if f.district_code:
        stmt = stmt.where(Institution.district_code == f.district_code)
    if f.cluster_code:
        stmt = stmt.where(Institution.cluster_code == f.cluster_code)
    if f.status:
        stmt = stmt.where(Institution.status == f.status)
    if f.supervisor:
        stmt = stmt.where(
            Institution.type_code.in_(
                select(InstitutionType.code).where(InstitutionType.supervisor_zh == f.supervisor)
            )
        )
    return stmt


def list_institutions(
    session: Session, *, scope: Scope, filters: InstitutionFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Institution], int]:
    """One page of institutions the user may see, and how many there are in all."""
    stmt = _query(session, scope, filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Institution.id).limit(limit).offset(offset)).unique().all()
    return list(rows), total


def get_institution(session: Session, *, scope: Scope, institution_id: int) -> Institution:
    """One institution; NotFound if it does not exist, Forbidden if it lies outside the scope."""
    institution = get_or_404(session, Institution, institution_id)
    scope.check_institution(institution.id, institution.district_code)
    return institution


def institution_filings(session: Session, *, institution_id: int, limit: int = 12) -> list[Filing]:
    """The latest current filings of an institution, newest period first."""
    stmt = (
        select(Filing)
        .where(Filing.institution_id == institution_id, Filing.is_current.is_(True))
        .order_by(Filing.period_end.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt).all())


def area_names(session: Session, *, zh: bool = True) -> dict[str, str]:
    """Every district's name by code, former districts included (old records keep their codes)."""
    return {a.code: (a.name_zh if zh else a.name_en) for a in session.scalars(select(Area))}


def reference_lists(session: Session) -> dict:
    """The choices for registry filters: types, current districts and clusters."""
    return {
        "types": session.scalars(select(InstitutionType).order_by(InstitutionType.sort_order)).all(),
        "areas": session.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all(),
        "clusters": session.scalars(select(Cluster).order_by(Cluster.sort_order)).all(),
        "supervisors": supervisors(session),
    }


# --------------------------------------------------------------------------------------------------
# Keeping the registry: create, edit, status changes (city staff), each audit-logged


@dataclass
class InstitutionInput:
    """What a user enters for an institution; money in 万元 as on the forms, stored in 元."""

    uscc: str
    name: str
    type_code: str
    level: str
    district_code: str
    established_on: date
    cluster_code: str | None = None
    parent_name: str | None = None
    registered_capital_wan: float | None = None
    licence_no: str | None = None
    registration_no: str | None = None
    address: str | None = None


EDITABLE = (
    "name",
    "level",
    "district_code",
    "cluster_code",
    "parent_name",
    "registered_capital",
    "licence_no",
    "registration_no",
    "address",
)
FIELD_ZH = {
    "uscc": "统一社会信用代码",
    "name": "名称",
    "type_code": "机构类型",
    "level": "层级",
    "district_code": "所在区县",
    "cluster_code": "集聚区",
    "established_on": "设立日期",
    "parent_name": "上级机构",
    "registered_capital": "注册资本",
    "registered_capital_wan": "注册资本（万元）",
    "licence_no": "许可证编号",
    "registration_no": "登记编号",
    "address": "地址",
}


def _check_input(
    session: Session, data: InstitutionInput, *, existing: Institution | None
) -> tuple[list[RowError], str | None, str]:
    """Every problem with the data (Chinese, by field); also the USCC warning and normalised code."""
    errors: list[RowError] = []
    check = check_uscc(data.uscc or "")
    warning = "；".join(check.warnings) or None
    if existing is None:
        if not check.syntax_ok:
            errors.append(
                RowError(None, FIELD_ZH["uscc"], "；".join(check.errors) or "统一社会信用代码格式有误")
            )
        elif session.scalar(select(Institution.id).where(Institution.uscc == check.code)) is not None:
            errors.append(RowError(None, FIELD_ZH["uscc"], f"统一社会信用代码 {check.code} 已登记"))
        if session.get(InstitutionType, data.type_code) is None:
            errors.append(RowError(None, FIELD_ZH["type_code"], f"未知的机构类型“{data.type_code}”"))
        if data.established_on > date.today():
            errors.append(RowError(None, FIELD_ZH["established_on"], "设立日期不能晚于今天"))
    name = (data.name or "").strip()
    if not name or len(name) > 128:
        errors.append(RowError(None, FIELD_ZH["name"], "名称不能为空，且不超过 128 个字"))
    if data.level not in {lv.value for lv in InstitutionLevel}:
        errors.append(RowError(None, FIELD_ZH["level"], f"未知的层级“{data.level}”"))
    area = session.get(Area, data.district_code or "")
    if area is None or not area.is_current:
        errors.append(RowError(None, FIELD_ZH["district_code"], f"“{data.district_code}”不是现行的区县代码"))
    if data.cluster_code:
        cluster = session.get(Cluster, data.cluster_code)
        if cluster is None:
            errors.append(RowError(None, FIELD_ZH["cluster_code"], f"未知的集聚区“{data.cluster_code}”"))
        elif data.district_code not in cluster.area_codes:
            errors.append(
                RowError(
                    None,
                    FIELD_ZH["cluster_code"],
                    f"{cluster.name_zh}不在所选区县（{data.district_code}）范围内",
                )
            )
    if data.registered_capital_wan is not None and data.registered_capital_wan < 0:
        errors.append(RowError(None, FIELD_ZH["registered_capital_wan"], "注册资本不能为负数"))
    return errors, warning, check.code


def _values(data: InstitutionInput) -> dict:
    capital = None if data.registered_capital_wan is None else round(data.registered_capital_wan * 1e4, 2)
    return {
        "name": data.name.strip(),
        "level": InstitutionLevel(data.level),
        "district_code": data.district_code,
        "cluster_code": data.cluster_code or None,
        "parent_name": (data.parent_name or "").strip() or None,
        "registered_capital": capital,
        "licence_no": (data.licence_no or "").strip() or None,
        "registration_no": (data.registration_no or "").strip() or None,
        "address": (data.address or "").strip() or None,
    }


def create_institution(session: Session, *, data: InstitutionInput, actor) -> Institution:
    """Register an institution (设立); raises ValidationFailed listing every problem."""
    errors, warning, code = _check_input(session, data, existing=None)
    if errors:
        raise ValidationFailed("机构信息有误，未登记", errors)
    inst = Institution(
        uscc=code,
        uscc_warning=warning,
        type_code=data.type_code,
        established_on=data.established_on,
        status=InstitutionStatus.ACTIVE,
        **_values(data),
    )
    session.add(inst)
    session.flush()
    session.add(
        InstitutionStatusChange(
            institution_id=inst.id,
            effective_on=data.established_on,
            event=StatusEvent.ESTABLISHED,
            status_after=InstitutionStatus.ACTIVE,
            reason="登记设立",
            recorded_by=actor.username,
        )
    )
    audit.record(
        session,
        action="create",
        user=actor,
        object_type="institution",
        object_id=inst.id,
        detail={"uscc": code, "name": inst.name, "type": data.type_code},
    )
    session.flush()
    return inst


def input_of(inst: Institution) -> InstitutionInput:
    """An institution's current data as an input (what the edit form and the API start from)."""
    return InstitutionInput(
        uscc=inst.uscc,
        name=inst.name,
        type_code=inst.type_code,
        level=inst.level.value,
        district_code=inst.district_code,
        established_on=inst.established_on,
        cluster_code=inst.cluster_code,
        parent_name=inst.parent_name,
        registered_capital_wan=None
        if inst.registered_capital is None
        else round(inst.registered_capital / 1e4, 2),
        licence_no=inst.licence_no,
        registration_no=inst.registration_no,
        address=inst.address,
    )


def _shown(field: str, value) -> str:
    if value is None or value == "":
        return "（空）"
    if field == "registered_capital":
        return f"{value / 1e4:,.2f} 万元"
    return str(getattr(value, "value", value))


CLOSED_NOT_EDITABLE = "已注销或吊销的机构不能再修改"


def is_editable(inst: Institution) -> bool:
    """Whether an institution's data may still change: only while it is open (not deregistered or
    revoked). The edit button, the edit page and ``update_institution`` all ask this."""
    return inst.status.is_open


def check_editable(inst: Institution) -> None:
    """Refuse (409, in Chinese) to edit a deregistered or revoked institution."""
    if not is_editable(inst):
        raise Conflict(
            CLOSED_NOT_EDITABLE, message_en="A deregistered or revoked institution can no longer be edited"
        )


def update_institution(
    session: Session, *, institution_id: int, data: InstitutionInput, actor, effective_on: date | None = None
) -> Institution:
    """Change an institution's basic data; the change is a 变更 event in its history and in the audit log."""
    inst = get_or_404(session, Institution, institution_id)
    data.uscc, data.type_code, data.established_on = inst.uscc, inst.type_code, inst.established_on
    errors, _warning, _code = _check_input(session, data, existing=inst)
    if not is_editable(inst):
        errors.append(RowError(None, "状态", CLOSED_NOT_EDITABLE))
    if errors:
        raise ValidationFailed("机构信息有误，未修改", errors)
    new = _values(data)
    changes = {f: (getattr(inst, f), v) for f, v in new.items() if getattr(inst, f) != v}
    if not changes:
        return inst
    for field, (_old, value) in changes.items():
        setattr(inst, field, value)
    reason = "；".join(f"{FIELD_ZH[f]}：{_shown(f, old)} → {_shown(f, v)}" for f, (old, v) in changes.items())
    session.add(
        InstitutionStatusChange(
            institution_id=inst.id,
            effective_on=effective_on or date.today(),
            event=StatusEvent.CHANGED,
            status_after=inst.status,
            reason=reason,
            recorded_by=actor.username,
        )
    )
    audit.record(
        session,
        action="update",
        user=actor,
        object_type="institution",
        object_id=inst.id,
        detail={f: [_shown(f, old), _shown(f, v)] for f, (old, v) in changes.items()},
    )
    session.flush()
    return inst


# Which status events are allowed from which status, and the status each leads to.
TRANSITIONS: dict[StatusEvent, tuple[frozenset[InstitutionStatus], InstitutionStatus]] = {
    StatusEvent.SUSPENDED: (
        frozenset({InstitutionStatus.ACTIVE, InstitutionStatus.RESOLVING}),
        InstitutionStatus.SUSPENDED,
    ),
    StatusEvent.RESOLUTION: (
        frozenset({InstitutionStatus.ACTIVE, InstitutionStatus.SUSPENDED}),
        InstitutionStatus.RESOLVING,
    ),
    StatusEvent.RESUMED: (
        frozenset({InstitutionStatus.SUSPENDED, InstitutionStatus.RESOLVING}),
        InstitutionStatus.ACTIVE,
    ),
    StatusEvent.DEREGISTERED: (
        frozenset({InstitutionStatus.ACTIVE, InstitutionStatus.SUSPENDED, InstitutionStatus.RESOLVING}),
        InstitutionStatus.DEREGISTERED,
    ),
    StatusEvent.REVOKED: (
        frozenset({InstitutionStatus.ACTIVE, InstitutionStatus.SUSPENDED, InstitutionStatus.RESOLVING}),
        InstitutionStatus.REVOKED,
    ),
}


def change_status(
    session: Session, *, institution_id: int, event: StatusEvent | str, effective_on: date, reason: str, actor
) -> InstitutionStatusChange:
    """Record a dated status event (停业整顿, 风险处置, 恢复经营, 注销, 吊销) and apply it."""
    inst = get_or_404(session, Institution, institution_id)
    errors: list[RowError] = []
    try:
        event = StatusEvent(event)
    except ValueError:
        raise ValidationFailed("状态变更有误", [RowError(None, "事件", f"未知的事件“{event}”")]) from None
    if event not in TRANSITIONS:
        errors.append(RowError(None, "事件", f"“{event.zh}”不能通过状态变更登记"))
    else:
        allowed, _after = TRANSITIONS[event]
        if inst.status not in allowed:
            errors.append(RowError(None, "事件", f"当前状态为“{inst.status.zh}”，不能“{event.zh}”"))
    last = max((c.effective_on for c in inst.status_history), default=inst.established_on)
    if effective_on < last:
        errors.append(RowError(None, "生效日期", f"生效日期不能早于上一次变更（{last.isoformat()}）"))
    if effective_on > date.today():
        errors.append(RowError(None, "生效日期", "生效日期不能晚于今天"))
    if not reason.strip():
        errors.append(RowError(None, "原因", "请填写变更原因"))
    if errors:
        raise ValidationFailed("状态变更有误，未登记", errors)
    after = TRANSITIONS[event][1]
    before = inst.status
    inst.status = after
    if after in (InstitutionStatus.DEREGISTERED, InstitutionStatus.REVOKED):
        inst.deregistered_on = effective_on
    change = InstitutionStatusChange(
        institution_id=inst.id,
        effective_on=effective_on,
        event=event,
        status_after=after,
        reason=reason.strip(),
        recorded_by=actor.username,
    )
    session.add(change)
    audit.record(
        session,
        action="update",
        user=actor,
        object_type="institution",
        object_id=inst.id,
        detail={
            "event": event.value,
            "from": before.value,
            "to": after.value,
            "effective_on": effective_on.isoformat(),
            "reason": reason.strip(),
        },
    )
    session.flush()
    return change


def supervisors(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(InstitutionType.supervisor_zh)).all()))
