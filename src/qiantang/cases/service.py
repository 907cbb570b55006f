"""Case handling (分级管理、部门联动): alerts become cases owned by the city or a district office.

Plain functions with keyword arguments; nothing here commits (the request or the CLI command does).
Who may see and who may act on a case is decided in one place — :func:`can_view`, :func:`can_act`
and their SQL twin :func:`visible_clause` — and enforced here, so pages, the API and exports agree.
Policy (routing by level, due days, escalation, attachment size) is data: ``data/policy.toml``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, union_all, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.cases.models import Case, CaseAttachment, CaseEvent, CaseSource, CaseState, Owner
from qiantang.db import get_or_404, utcnow
from qiantang.earlywarning.models import Alert, AlertStatus, Level
from qiantang.enterprises.models import Enterprise
from qiantang.errors import Conflict, Forbidden, QiantangError, ValidationFailed
from qiantang.matching import workdays
from qiantang.notify import service as notify
from qiantang.paging import load_in_order
from qiantang.safetext import BIDI_RE
from qiantang.search import matches
from qiantang.versions import describe_version

OBJECT_TYPE = "case"
FINAL_STATES = (CaseState.CLOSED, CaseState.FALSE_POSITIVE)
OPEN_STATES = (CaseState.PENDING, CaseState.VERIFYING, CaseState.RECTIFYING)
CITY_STAFF = (Role.CITY_ADMIN, Role.CITY_ANALYST)
MAX_TEXT = 4000


class PayloadTooLarge(QiantangError):
    status_code = 413


# ---------------------------------------------------------------------------------------------
# Policy


@dataclass(frozen=True)
class Policy:
    """The case-handling policy loaded from ``data/policy.toml`` (a project default, not a rule)."""

    version: str
    source_zh: str
    source_en: str
    routing: dict[Level, Owner]
    due_days: dict[Level, int]
    escalate_district: bool = True
    flag_city: bool = True
    max_attachment_bytes: int = 10 * 1024 * 1024

    def owner_for(self, level: Level) -> Owner | None:
        return self.routing.get(Level(level))

    def due_on(self, level: Level, opened_on: date) -> date:
        return opened_on + timedelta(days=self.due_days[Level(level)])


def parse_policy(text: str) -> Policy:
    """Read a policy from TOML text; reject unknown levels, owners and non-positive day counts."""
    raw = tomllib.loads(text)
    try:
        routing = {Level(k): Owner(v) for k, v in raw["routing"].items()}
        due_days = {Level(k): int(v) for k, v in raw["due_days"].items()}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"invalid case policy: {exc}") from exc
    if missing := set(routing) - set(due_days):
        raise ValueError(f"invalid case policy: no due_days for {sorted(missing)}")
    if any(d <= 0 for d in due_days.values()):
        raise ValueError("invalid case policy: due_days must be positive")
    esc = raw.get("escalation", {})
    return Policy(
        version=raw["version"],
        source_zh=raw.get("source_zh", ""),
        source_en=raw.get("source_en", ""),
        routing=routing,
        due_days=due_days,
        escalate_district=esc.get("district_overdue", "escalate_to_city") == "escalate_to_city",
        flag_city=esc.get("city_overdue", "flag") == "flag",
        max_attachment_bytes=int(raw.get("attachments", {}).get("max_bytes", 10 * 1024 * 1024)),
    )


@cache
def load_policy(path: str | None = None) -> Policy:
    """The shipped policy, or the one at ``path``."""
    if path:
        return parse_policy(Path(path).read_text(encoding="utf-8"))
    return parse_policy(resources.files("qiantang.cases").joinpath("data/policy.toml").read_text("utf-8"))


# ---------------------------------------------------------------------------------------------
# Who may see and act (the one place)


def scope_of(actor) -> Scope:
    """The Scope of a user (a User, a web CurrentUser or a Scope itself); None is the system."""
    if actor is None:
        return Scope.system()
    if isinstance(actor, Scope):
        return actor
    return Scope(
        role=actor.role,
        user_id=getattr(actor, "id", None),
        district_code=getattr(actor, "district_code", None),
        institution_id=getattr(actor, "institution_id", None),
    )


def _district_may_view(scope: Scope, case: Case) -> bool:
    return case.district_code == scope.district_code and (
        case.owner == Owner.DISTRICT or case.shared_with_district or case.escalated_at is not None
    )


def can_view(scope: Scope, case: Case) -> bool:
    """City staff and auditors see every case; a district office sees its district's own cases,
    the city's cases it was shared, and its cases escalated to the city; reporters see none."""
    if scope.role in CITY_STAFF or scope.role == Role.AUDITOR:
        return True
    if scope.role == Role.DISTRICT_OFFICER:
        return _district_may_view(scope, case)
    return False


def can_act(scope: Scope, case: Case) -> bool:
    """City staff act on every case; a district office on its district's cases that it owns, or that
    the city shared with it (an escalated case is the city's: the district only sees it); auditors
    and reporters act on none."""
    if scope.role in CITY_STAFF:
        return True
    if scope.role == Role.DISTRICT_OFFICER:
        return case.district_code == scope.district_code and (
            (case.owner == Owner.DISTRICT and case.escalated_at is None) or case.shared_with_district
        )
    return False


def visible_clause(scope: Scope) -> ColumnElement[bool]:
    """:func:`can_view` as SQL, for lists and exports (tested to agree with it)."""
    if scope.role in CITY_STAFF or scope.role == Role.AUDITOR:
        return true()
    if scope.role == Role.DISTRICT_OFFICER:
        return and_(
            Case.district_code == scope.district_code,
            or_(
                Case.owner == Owner.DISTRICT,
                Case.shared_with_district.is_(True),
                Case.escalated_at.is_not(None),
            ),
        )
    return false()


def visible_ids(session: Session, *, scope: Scope, case_ids: Iterable[int]) -> set[int]:
    """The cases among ``case_ids`` that ``scope`` may open (:func:`visible_clause`), so that pages
    link only to cases that will not answer 403."""
    ids = sorted(set(case_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Case.id).where(Case.id.in_(ids), visible_clause(scope))))


def actable_clause(scope: Scope) -> ColumnElement[bool]:
    """:func:`can_act` as SQL (the 'I can act' filter)."""
    if scope.role in CITY_STAFF:
        return true()
    if scope.role == Role.DISTRICT_OFFICER:
        return and_(
            Case.district_code == scope.district_code,
            or_(
                and_(Case.owner == Owner.DISTRICT, Case.escalated_at.is_(None)),
                Case.shared_with_district.is_(True),
            ),
        )
    return false()


def check_view(scope: Scope, case: Case) -> None:
    if not can_view(scope, case):
        if scope.role == Role.INSTITUTION_REPORTER:
            raise Forbidden("机构填报员不能查看案件", message_en="Reporters cannot see cases")
        raise Forbidden(
            "无权查看此案件（其他区县的案件，或市级未共享的案件）",
            message_en="You may not see this case (another district's, or a city case not shared with you)",
        )


def check_act(scope: Scope, case: Case) -> None:
    check_view(scope, case)
    if not can_act(scope, case):
        if scope.role == Role.AUDITOR:
            raise Forbidden("审计员只能查看，不能办理案件", message_en="Auditors may only read cases")
        raise Forbidden(
            "此案件由市级办理，区县只能查看",
            message_en="This case is handled by the city; your office may only read it",
        )


# ---------------------------------------------------------------------------------------------
# Reading


def is_overdue(case: Case, today: date) -> bool:
    return case.state not in FINAL_STATES and case.due_on < today


def overdue_clause(today: date) -> ColumnElement[bool]:
    return and_(Case.state.in_(OPEN_STATES), Case.due_on < today)


def get_case(session: Session, *, scope: Scope, case_id: int) -> Case:
    """One case, 404 if missing, 403 if out of scope."""
    case = get_or_404(session, Case, case_id)
    check_view(scope, case)
    return case


@dataclass(frozen=True)
class CaseFilters:
    level: Level | None = None
    state: CaseState | None = None
    district_code: str | None = None
    owner: Owner | None = None
    overdue: bool = False
    escalated: bool = False
    mine: bool = False  # assigned to the user, or the user acted on it
    actionable: bool = False  # cases this user may act on
    institution_id: int | None = None
    enterprise_id: int | None = None
    source: CaseSource | None = None
    q: str | None = None


def _filtered(
    session: Session, stmt, *, scope: Scope, filters: CaseFilters, today: date, username: str | None
):
    stmt = stmt.where(visible_clause(scope))
    f = filters
    if f.level:
        stmt = stmt.where(Case.level == f.level)
    if f.state:
        stmt = stmt.where(Case.state == f.state)
    if f.district_code:
        stmt = stmt.where(Case.district_code == f.district_code)
    if f.owner:
        stmt = stmt.where(Case.owner == f.owner)
    if f.institution_id:
        stmt = stmt.where(Case.institution_id == f.institution_id)
    if f.enterprise_id:
        stmt = stmt.where(Case.enterprise_id == f.enterprise_id)
    if f.source:
        stmt = stmt.where(Case.source == f.source)
    if f.overdue:
        stmt = stmt.where(overdue_clause(today))
    if f.escalated:
        stmt = stmt.where(Case.escalated_at.is_not(None))
    if f.actionable:
        stmt = stmt.where(actable_clause(scope))
    if f.mine:
        if not username:
            return stmt.where(false())
        acted = select(CaseEvent.case_id).where(CaseEvent.username == username)
        stmt = stmt.where(or_(Case.assignee == username, Case.id.in_(acted)))
    if f.q and f.q.strip():  # title contains q, through the text index (qiantang.search)
        stmt = stmt.where(matches(session, "cases", Case.id, f.q))
    return stmt


def list_cases(
    session: Session,
    *,
    scope: Scope,
    filters: CaseFilters = CaseFilters(),
    today: date | None = None,
    username: str | None = None,
    limit: int | None = 200,
    offset: int = 0,
) -> tuple[list[Case], int]:
    """Cases visible to ``scope`` (filtered in SQL), most serious and oldest due first; with the total."""
    today = today or date.today()
    base = _filtered(session, select(Case), scope=scope, filters=filters, today=today, username=username)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    level_rank = sql_case({lv.value: lv.rank for lv in Level}, value=Case.level, else_=0)
    stmt = base.order_by(level_rank.desc(), Case.due_on, Case.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique().all()), total


@dataclass
class BoardColumn:
    state: CaseState
    rows: list[Case]  # the first ``per_column`` in list_cases' order
    total: int  # every case of the column


def board_columns(
    session: Session,
    *,
    scope: Scope,
    filters: CaseFilters = CaseFilters(),
    today: date | None = None,
    username: str | None = None,
    per_column: int = 20,
    sizes: Mapping[str, int] | None = None,
) -> list[BoardColumn]:
    """The board: per state (only ``filters.state`` if set), its first cases in ``list_cases``' order
    (most serious, then oldest due, then id) and how many it holds.

    Three queries, however many states: the first ids of every column (one top-N over narrow rows per
    state, in one UNION ALL), the columns' sizes (GROUP BY state; none when ``sizes`` are given), then
    only the cards shown. Asking ``list_cases`` per state sorted every case of a state with its alert,
    institution and enterprise joined in, and counted each column apart (two queries a state). A window
    (row_number per state, count per state) was measured too: it sorts every case, not the first 20 of
    each, and took 9–18 ms on the city demo's 3,441 cases where these top-N queries take 1–2 ms (SQLite).
    """
    today = today or date.today()
    states = [CaseState(filters.state)] if filters.state else list(CaseState)
    rank = {lv.value: lv.rank for lv in Level}
    level_rank = sql_case(rank, value=Case.level, else_=0)
    order = (level_rank.desc(), Case.due_on, Case.id)
    base = _filtered(session, select(Case.id), scope=scope, filters=filters, today=today, username=username)
    firsts = [base.where(Case.state == s).order_by(*order).limit(per_column).subquery() for s in states]
    ids = list(session.scalars(union_all(*(select(sub.c.id) for sub in firsts))))
    if sizes is None:  # the columns' sizes, unless the caller counted them (count_cases' by_state)
        sizes = dict(
            session.execute(
                _filtered(
                    session,
                    select(Case.state, func.count()),
                    scope=scope,
                    filters=filters,
                    today=today,
                    username=username,
                ).group_by(Case.state)
            ).all()
        )
    cards = load_in_order(session, Case, ids)
    # The SQL order of each column (UNION ALL keeps no order across its parts); ids are unique.
    cards.sort(key=lambda c: (-rank.get(str(c.level), 0), c.due_on, c.id))
    return [
        BoardColumn(
            s,
            [c for c in cards if CaseState(c.state) == s],
            sum(n for state, n in sizes.items() if CaseState(state) == s),
        )
        for s in states
    ]


@dataclass
class Counts:
    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_level: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    escalated: int = 0


def count_cases(
    session: Session,
    *,
    scope: Scope,
    filters: CaseFilters = CaseFilters(),
    today: date | None = None,
    username: str | None = None,
) -> Counts:
    """Counts by state and level, overdue and escalated, under the same scope and filters."""
    today = today or date.today()
    sub = _filtered(
        session,
        select(Case.id, Case.state, Case.level, Case.due_on, Case.escalated_at),
        scope=scope,
        filters=filters,
        today=today,
        username=username,
    ).subquery()
    counts = Counts()
    # One pass: per state and level, how many, how many overdue and how many escalated.
    open_states = {st.value for st in OPEN_STATES}
    for state, level, n, overdue, escalated in session.execute(
        select(
            sub.c.state,
            sub.c.level,
            func.count(),
            func.sum(sql_case((sub.c.due_on < today, 1), else_=0)),
            func.sum(sql_case((sub.c.escalated_at.is_not(None), 1), else_=0)),
        ).group_by(sub.c.state, sub.c.level)
    ):
        s, lv = str(state), str(level)
        counts.by_state[s] = counts.by_state.get(s, 0) + n
        counts.by_level[lv] = counts.by_level.get(lv, 0) + n
        counts.total += n
        if CaseState(state).value in open_states:
            counts.overdue += int(overdue or 0)
        counts.escalated += int(escalated or 0)
    return counts


def allowed_transitions(case: Case) -> tuple[CaseState, ...]:
    return TRANSITIONS.get(CaseState(case.state), ())


def available_actions(scope: Scope, case: Case) -> dict[str, Any]:
    """What the page may offer this user on this case (the service still checks every action)."""
    acting = can_act(scope, case) and case.state not in FINAL_STATES
    return {
        "act": acting,
        "transitions": allowed_transitions(case) if acting else (),
        "comment": acting,
        "attach": acting,
        "share": scope.role in CITY_STAFF and case.owner == Owner.CITY and not case.shared_with_district,
        "hand_off": scope.role in CITY_STAFF and may_hand_off(case),
    }


def get_attachment(session: Session, *, scope: Scope, case_id: int, attachment_id: int) -> CaseAttachment:
    """An attachment of a case the scope may see (404 if it belongs to another case)."""
    get_case(session, scope=scope, case_id=case_id)
    att = get_or_404(session, CaseAttachment, attachment_id, what="附件")
    if att.case_id != case_id:
        get_or_404(session, CaseAttachment, -1, what="附件")
    return att


def list_attachments(session: Session, *, case_id: int) -> list[CaseAttachment]:
    return list(
        session.scalars(
            select(CaseAttachment).where(CaseAttachment.case_id == case_id).order_by(CaseAttachment.id)
        )
    )


# ---------------------------------------------------------------------------------------------
# Writing: every step is a CaseEvent and an audit event


def _log(
    session: Session,
    case: Case,
    *,
    actor,
    action: str,
    comment: str = "",
    from_state: str | None = None,
    to_state: str | None = None,
    attachment_id: int | None = None,
    detail: dict | None = None,
) -> CaseEvent:
    username = getattr(actor, "username", None)
    event = CaseEvent(
        case_id=case.id,
        at=utcnow(),
        username=username,
        action=action,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        attachment_id=attachment_id,
    )
    session.add(event)
    audit.record(
        session,
        action=f"case_{action}",
        user=actor,
        username=username or "system",
        object_type=OBJECT_TYPE,
        object_id=case.id,
        detail={
            **({"alert_id": case.alert_id} if case.alert_id is not None else {}),
            **({"enterprise_id": case.enterprise_id} if case.enterprise_id is not None else {}),
            "level": str(case.level),
            "owner": str(case.owner),
            "district_code": case.district_code,
            **({"from": from_state, "to": to_state} if to_state else {}),
            **({"comment": comment[:500]} if comment else {}),
            **(detail or {}),
        },
    )
    return event


def _clean(text: str | None, *, what: str, required: bool = False) -> str:
    value = (text or "").strip()
    if required and not value:
        raise ValidationFailed(f"请填写{what}")
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{what}过长（最多 {MAX_TEXT} 字）")
    return value


def _title(alert: Alert) -> str:
    name = alert.institution.name if alert.institution else f"#{alert.institution_id}"
    summary = (alert.summary_zh or "").strip() or f"{alert.family.zh}预警"
    return f"{name}：{summary}"[:300]


def _new_case(alert: Alert, *, owner: Owner, today: date, policy: Policy) -> Case:
    return Case(
        alert_id=alert.id,
        institution_id=alert.institution_id,
        district_code=alert.institution.district_code,
        level=Level(alert.level),
        owner=owner,
        state=CaseState.PENDING,
        title=_title(alert),
        due_on=policy.due_on(alert.level, today),
        shared_with_district=False,
        resolution="",
    )


def _log_opened(session: Session, case: Case, *, actor, policy: Policy) -> None:
    _log(
        session,
        case,
        actor=actor,
        action="create",
        to_state=CaseState.PENDING.value,
        comment=f"{Owner(case.owner).zh}办理，{case.due_on.isoformat()} 前办结",
        detail={"due_on": case.due_on.isoformat(), "policy": policy.version},
    )


def open_case(
    session: Session, *, alert: Alert, actor=None, today: date | None = None, policy: Policy | None = None
) -> Case:
    """Open the case of ``alert``, routed and dated by the policy (Conflict if it has one already)."""
    policy = policy or load_policy()
    today = today or date.today()
    if session.scalar(select(Case.id).where(Case.alert_id == alert.id)) is not None:
        raise Conflict("该预警已有案件", message_en="This alert already has a case")
    owner = policy.owner_for(alert.level)
    if owner is None:
        raise ValidationFailed(f"{Level(alert.level).zh}预警不立案（见案件办理政策）")
    case = _new_case(alert, owner=owner, today=today, policy=policy)
    if actor is not None:
        check_act(scope_of(actor), case)
    session.add(case)
    session.flush()
    _log_opened(session, case, actor=actor, policy=policy)
    announce_new(session, [case])
    return case


def _relevel(session: Session, case: Case, alert: Alert, *, today: date, policy: Policy) -> bool:
    """An open case whose alert got worse takes the new level, routing and (earlier) due date."""
    if case.state in FINAL_STATES or Level(alert.level).rank <= Level(case.level).rank:
        return False
    owner = policy.owner_for(alert.level)
    if owner is None:
        return False
    old = Level(case.level)
    case.level = Level(alert.level)
    if owner == Owner.CITY:
        case.owner = Owner.CITY
    case.due_on = min(case.due_on, policy.due_on(alert.level, today))
    case.title = _title(alert)
    _log(
        session,
        case,
        actor=None,
        action="relevel",
        comment=f"预警升级：{old.zh} → {case.level.zh}",
        detail={"from_level": old.value, "to_level": case.level.value, "due_on": case.due_on.isoformat()},
    )
    return True


def sync_cases(session: Session, *, as_of: date, today: date | None = None) -> int:
    """Open a case for every open alert of the quarter ``as_of`` that has none; escalate overdue ones.

    Called by the early-warning run at its end. Idempotent. ``today`` (default: the real date) is the
    opening day from which due dates count. Returns the number of cases opened.
    """
    policy = load_policy()
    today = today or date.today()
    alerts = session.scalars(
        select(Alert).where(Alert.status == AlertStatus.OPEN, Alert.last_period == as_of).order_by(Alert.id)
    ).unique()
    existing = {
        c.alert_id: c
        for c in session.scalars(
            select(Case).join(Alert, Alert.id == Case.alert_id).where(Alert.last_period == as_of)
        ).unique()
    }
    new: list[Case] = []
    for alert in alerts:
        case = existing.get(alert.id)
        if case is not None:
            _relevel(session, case, alert, today=today, policy=policy)
            continue
        owner = policy.owner_for(alert.level)
        if owner is not None:
            new.append(_new_case(alert, owner=owner, today=today, policy=policy))
    session.add_all(new)
    session.flush()  # one round for all new cases, then their events
    for case in new:
        _log_opened(session, case, actor=None, policy=policy)
    announce_new(session, new)
    escalate_overdue(session, today=today)
    session.flush()
    return len(new)


@dataclass(frozen=True)
class EscalationResult:
    escalated: int
    flagged: int


def escalate_overdue(session: Session, *, today: date) -> EscalationResult:
    """Escalate overdue district cases to the city; flag overdue city cases (each once)."""
    policy = load_policy()
    escalated = flagged = 0
    overdue = session.scalars(select(Case).where(overdue_clause(today)).order_by(Case.id)).unique().all()
    flagged_ids = set(
        session.scalars(
            select(CaseEvent.case_id).where(
                CaseEvent.action == "overdue", CaseEvent.case_id.in_([c.id for c in overdue])
            )
        )
    )
    for case in overdue:
        if case.owner == Owner.DISTRICT and policy.escalate_district:
            case.owner = Owner.CITY
            case.escalated_at = utcnow()
            _log(
                session,
                case,
                actor=None,
                action="escalate",
                comment=f"逾期未办结（应于 {case.due_on.isoformat()} 前办结），上报市级",
                detail={"due_on": case.due_on.isoformat(), "today": today.isoformat()},
            )
            escalated += 1
            _notify_escalated(session, case)
        elif (
            case.owner == Owner.CITY
            and case.escalated_at is None
            and policy.flag_city
            and case.id not in flagged_ids
        ):
            _log(
                session,
                case,
                actor=None,
                action="overdue",
                comment=f"逾期未办结（应于 {case.due_on.isoformat()} 前办结）",
                detail={"due_on": case.due_on.isoformat(), "today": today.isoformat()},
            )
            flagged += 1
    session.flush()
    return EscalationResult(escalated=escalated, flagged=flagged)


def escalate_overdue_now(session: Session) -> EscalationResult:
    """For ``qiantang cases escalate``: escalate with today's date."""
    return escalate_overdue(session, today=date.today())


# Allowed moves. Closed and false positive are final: nothing leaves them.
TRANSITIONS: dict[CaseState, tuple[CaseState, ...]] = {
    CaseState.PENDING: (CaseState.VERIFYING, CaseState.FALSE_POSITIVE),
    CaseState.VERIFYING: (CaseState.RECTIFYING, CaseState.CLOSED, CaseState.FALSE_POSITIVE),
    CaseState.RECTIFYING: (CaseState.CLOSED,),
}
# What a move must carry: the rectification demanded, the outcome, or why it was a false alarm.
REQUIRED_TEXT = {
    CaseState.RECTIFYING: ("comment", "整改要求", "the rectification required"),
    CaseState.CLOSED: ("resolution", "办结情况", "how the case was resolved"),
    CaseState.FALSE_POSITIVE: ("resolution", "误报原因", "the reason it is a false positive"),
}


def transition(
    session: Session,
    *,
    case_id: int,
    to_state: CaseState | str,
    actor,
    comment: str = "",
    resolution: str | None = None,
) -> Case:
    """Move a case one step (see TRANSITIONS), with the text the move requires."""
    case = get_or_404(session, Case, case_id)
    check_act(scope_of(actor), case)
    try:
        target = CaseState(to_state)
    except ValueError:
        raise ValidationFailed(f"未知的案件状态：{to_state}") from None
    current = CaseState(case.state)
    if target not in TRANSITIONS.get(current, ()):
        raise Conflict(
            f"案件不能从“{current.zh}”转为“{target.zh}”",
            message_en=f"A case cannot move from {current.en} to {target.en}",
        )
    comment = _clean(comment, what="说明")
    resolution = _clean(resolution, what="办结意见")
    need = REQUIRED_TEXT.get(target)
    if need:
        kind, what_zh, _ = need
        # The one text box a form shows may arrive as either field; accept it from either.
        text = (resolution or comment) if kind == "resolution" else (comment or resolution)
        if not text:
            raise ValidationFailed(f"转为“{target.zh}”须填写{what_zh}")
        if kind == "resolution":
            resolution = text
        else:
            comment = text
    case.state = target
    if target in FINAL_STATES:
        case.resolution = resolution
        case.closed_at = utcnow()
    if target == CaseState.VERIFYING and not case.assignee:
        case.assignee = getattr(actor, "username", None)
    text = (
        comment
        if not resolution or resolution == comment
        else "\n".join(t for t in (comment, resolution) if t)
    )
    _log(
        session,
        case,
        actor=actor,
        action="transition",
        from_state=current.value,
        to_state=target.value,
        comment=text,
    )
    session.flush()
    return case


def add_comment(session: Session, *, case_id: int, actor, text: str) -> CaseEvent:
    """A note on the case's timeline."""
    case = get_or_404(session, Case, case_id)
    check_act(scope_of(actor), case)
    _check_open(case)
    text = _clean(text, what="意见", required=True)
    event = _log(session, case, actor=actor, action="comment", comment=text)
    case.updated_at = utcnow()
    session.flush()
    return event


comment = add_comment


def _check_open(case: Case) -> None:
    if case.state in FINAL_STATES:
        raise Conflict(
            f"案件已{CaseState(case.state).zh}，不能再办理",
            message_en="The case is final and can no longer be changed",
        )


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def sanitize_filename(name: str | None) -> str:
    """A safe file name: no folders, no control, bidirectional or reserved characters, at most 255.

    Control and reserved characters become ``_``; bidirectional controls are dropped (``‮txt.exe``
    would show as ``exe.txt``): the name is stored, listed and downloaded as it really ends.
    """
    name = BIDI_RE.sub("", unicodedata.normalize("NFC", name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name or set(name) <= {"_", " "}:
        name = "attachment"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot else ""
        name = (stem if dot else name)[: 255 - len(ext) - 1] + ("." + ext if ext else "")
    return name


def attach(
    session: Session,
    *,
    case_id: int,
    actor,
    filename: str,
    content_type: str | None,
    data: bytes,
    comment: str = "",
) -> CaseAttachment:
    """Store a file with the case (in the database), with its SHA-256; at most the policy's size."""
    case = get_or_404(session, Case, case_id)
    check_act(scope_of(actor), case)
    _check_open(case)
    limit = load_policy().max_attachment_bytes
    if len(data) > limit:
        raise PayloadTooLarge(
            f"附件过大（{len(data) / 1048576:.1f} MB），上限 {limit // 1048576} MB",
            message_en=f"The file is too large (limit {limit // 1048576} MB)",
        )
    if not data:
        raise ValidationFailed("附件为空")
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not _CONTENT_TYPE.match(ctype) or len(ctype) > 128:
        ctype = "application/octet-stream"
    att = CaseAttachment(
        case_id=case.id,
        filename=sanitize_filename(filename),
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_by=getattr(actor, "username", None),
        uploaded_at=utcnow(),
    )
    session.add(att)
    session.flush()
    _log(
        session,
        case,
        actor=actor,
        action="attach",
        comment=_clean(comment, what="说明") or att.filename,
        attachment_id=att.id,
        detail={"attachment_id": att.id, "filename": att.filename, "size": att.size, "sha256": att.sha256},
    )
    case.updated_at = utcnow()
    session.flush()
    return att


def share_with_district(session: Session, *, case_id: int, actor, comment: str = "") -> Case:
    """The city shares one of its cases (red, or escalated) with the district office (联动)."""
    case = get_or_404(session, Case, case_id)
    scope = scope_of(actor)
    check_view(scope, case)
    if scope.role not in CITY_STAFF:
        raise Forbidden("只有市级工作人员可以共享案件", message_en="Only city staff may share a case")
    if case.owner != Owner.CITY:
        raise Conflict("该案件本就由区县办理", message_en="This case is already handled by the district")
    if case.shared_with_district:
        raise Conflict("该案件已共享给区县", message_en="This case is already shared with the district")
    case.shared_with_district = True
    _log(
        session,
        case,
        actor=actor,
        action="share",
        comment=_clean(comment, what="说明") or "共享给区县金融办协同办理",
    )
    session.flush()
    notify.notify(
        session,
        "case_assigned",
        user_ids=notify.staff(session, district_code=case.district_code),
        title=f"市级共享案件请协同办理：{case.title}",
        body=f"办结期限 {case.due_on.isoformat()}。",
        title_en=f"City case shared for joint handling: {case.title_en}",
        body_en=f"Due by {case.due_on.isoformat()}.",
        link=f"/cases/{case.id}",
    )
    return case


# ------------------------------------------------------------------------------------- notifications
def _handlers(session: Session, case: Case) -> list[int]:
    """Who works a case: its owner level's staff (the district office or the city), and its assignee."""
    if case.owner == Owner.DISTRICT:
        ids = notify.staff(session, district_code=case.district_code)
    else:
        ids = notify.staff(session, city=True)
    return ids + notify.user_ids_by_username(session, [case.assignee])


def announce_new(session: Session, cases: list[Case]) -> None:
    """Tell each office that cases landed in its inbox: one message per office per batch."""
    groups: dict[tuple[str, str | None], list[Case]] = {}
    for case in cases:
        key = ("district", case.district_code) if case.owner == Owner.DISTRICT else ("city", None)
        groups.setdefault(key, []).append(case)
    for batch in groups.values():
        first = batch[0]
        if len(batch) == 1:
            title = f"新案件待办理：{first.title}"
            body = f"{Level(first.level).zh}预警，办结期限 {first.due_on.isoformat()}。"
            title_en = f"New case to handle: {first.title_en}"
            body_en = f"{Level(first.level).en} alert, due by {first.due_on.isoformat()}."
            if first.supervisor_name:  # the office copies the sector's supervisor (no channel reaches it)
                body += f"请抄送行业主管部门：{first.supervisor_name}。"
                body_en += f" Copy the sector supervisor: {first.supervisor_label(zh=False)}."
            link = f"/cases/{first.id}"
        else:
            soonest = min(c.due_on for c in batch)
            title = f"新增 {len(batch)} 件案件待办理"
            names = list(dict.fromkeys(c.title.split("：", 1)[0] for c in batch))
            body = "、".join(names[:5]) + (f"等 {len(names)} 家机构" if len(names) > 5 else "")
            body += f"；最早办结期限 {soonest.isoformat()}。"
            title_en = f"{len(batch)} new cases to handle"
            body_en = f"{len(names)} institutions; the first is due by {soonest.isoformat()}."
            if copied := sum(1 for c in batch if c.supervisor_name):
                body += f"其中 {copied} 件须抄送行业主管部门（见各案件）。"
                body_en += f" {copied} of them are to be copied to the sector supervisor (see each case)."
            link = "/cases?state=pending"
        notify.notify(
            session,
            "case_assigned",
            user_ids=_handlers(session, first),
            title=title,
            body=body,
            title_en=title_en,
            body_en=body_en,
            link=link,
        )


def _notify_escalated(session: Session, case: Case) -> None:
    ids = notify.staff(session, city=True) + notify.staff(session, district_code=case.district_code)
    notify.notify(
        session,
        "case_escalated",
        user_ids=ids,
        title=f"案件逾期上报市级：{case.title}",
        body=f"应于 {case.due_on.isoformat()} 前办结，区县未按期办结，现由市级办理。",
        title_en=f"Overdue case escalated to the city: {case.title_en}",
        body_en=f"It was due by {case.due_on.isoformat()}; the district did not close it, the city takes it.",
        link=f"/cases/{case.id}",
    )


DUE_SOON_DAYS = 3


def remind_due(session: Session, *, today: date, days: int = DUE_SOON_DAYS) -> int:
    """Remind the handlers of open cases due within ``days`` days (once per case and due date)."""
    due = session.scalars(
        select(Case)
        .where(
            Case.state.not_in(list(FINAL_STATES)),
            Case.due_on >= today,
            Case.due_on <= today + timedelta(days=days),
        )
        .order_by(Case.id)
    ).unique()
    n = 0
    for case in due:
        left = (case.due_on - today).days
        notify.notify(
            session,
            "case_due_soon",
            user_ids=_handlers(session, case),
            title=f"案件将于 {case.due_on.isoformat()} 到期：{case.title}",
            body=f"距办结期限还有 {left} 天，当前状态：{CaseState(case.state).zh}。",
            title_en=f"Case due on {case.due_on.isoformat()}: {case.title_en}",
            body_en=f"{left} day(s) left; status: {CaseState(case.state).en}.",
            link=f"/cases/{case.id}",
            dedupe_key=f"case:{case.id}:{case.due_on.isoformat()}",
        )
        n += 1
    return n


def timeline(session: Session, *, case_id: int) -> list[CaseEvent]:
    """Every step of a case, oldest first (read afresh, so it includes this request's steps)."""
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


# ------------------------------------------------------------------------------ enterprise subjects
# A firm flagged for illegal fundraising (by the index, or by tips) is a case's subject like an
# institution's alert: same states, scoping and timeline. A red one is the city's, with a 移送公安
# (hand-off to the police) clock of HANDOFF_WORKDAYS working days (调休 counted, matching.workdays).
HANDOFF_WORKDAYS = 3
ENTERPRISE_SOURCES = (CaseSource.FUNDRAISING, CaseSource.TIP)


def open_enterprise_case(
    session: Session,
    *,
    enterprise: Enterprise,
    level: Level,
    source: CaseSource,
    title: str,
    today: date,
    index_version: str | None = None,
    index_score: float | None = None,
    evidence: list | None = None,
    actor=None,
    announce: bool = True,
    supervisor_code: str | None = None,
    supervisor_name: str | None = None,
) -> Case:
    """Open a case whose subject is ``enterprise``: red to the city (with the hand-off clock),
    orange and yellow to the firm's district office. Due dates follow the case policy. A sector
    supervisor given (抄送行业主管部门) is kept with the case and named in its opening step."""
    policy = load_policy()
    level = Level(level)
    owner = Owner.CITY if level == Level.RED else Owner.DISTRICT
    due_level = level if level in policy.due_days else Level.YELLOW
    case = Case(
        alert_id=None,
        institution_id=None,
        enterprise_id=enterprise.id,
        source=CaseSource(source),
        district_code=enterprise.district_code,
        level=level,
        owner=owner,
        state=CaseState.PENDING,
        title=title[:300],
        due_on=policy.due_on(due_level, today),
        shared_with_district=False,
        resolution="",
        index_version=index_version,
        index_score=index_score,
        opened_evidence=evidence or [],
        handoff_due_on=workdays.add_workdays(today, HANDOFF_WORKDAYS) if level == Level.RED else None,
        supervisor_code=supervisor_code if supervisor_name else None,
        supervisor_name=(supervisor_name or "")[:100] or None,
    )
    if actor is not None:
        check_act(scope_of(actor), case)
    session.add(case)
    session.flush()
    _log(
        session,
        case,
        actor=actor,
        action="create",
        to_state=CaseState.PENDING.value,
        comment=f"{CaseSource(source).zh}：{owner.zh}办理，{case.due_on.isoformat()} 前办结"
        + (f"；{case.handoff_due_on.isoformat()} 前移送公安" if case.handoff_due_on else "")
        + (f"；抄送行业主管部门：{case.supervisor_name}" if case.supervisor_name else ""),
        detail={
            "due_on": case.due_on.isoformat(),
            "policy": policy.version,
            "source": case.source.value,
            **({"index_version": index_version} if index_version else {}),
        },
    )
    if announce:
        announce_new(session, [case])
    return case


def copy_to_supervisor(session: Session, *, case: Case, code: str, name: str) -> bool:
    """Name the sector supervisor to be copied (抄送行业主管部门) on an open case that had none, as a
    step of its timeline (the office sees when and why the copy became due). False if it had one."""
    if case.supervisor_name or case.state in FINAL_STATES or not name:
        return False
    case.supervisor_code, case.supervisor_name = code, name[:100]
    _log(
        session,
        case,
        actor=None,
        action="supervisor",
        comment=f"抄送行业主管部门：{case.supervisor_name}",
        detail={"supervisor_code": code},
    )
    return True


def raise_enterprise_case(
    session: Session,
    *,
    case: Case,
    level: Level,
    today: date,
    index_version: str | None = None,
    index_score: float | None = None,
    evidence: list | None = None,
) -> bool:
    """An open enterprise case whose grade rose takes the new level; red moves it to the city and starts
    the hand-off clock. The evidence it was opened on is kept; the new one is logged with the step."""
    level = Level(level)
    if case.state in FINAL_STATES or level.rank <= Level(case.level).rank:
        return False
    policy = load_policy()
    old = Level(case.level)
    case.level = level
    if level == Level.RED:
        case.owner = Owner.CITY
        case.handoff_due_on = case.handoff_due_on or workdays.add_workdays(today, HANDOFF_WORKDAYS)
    if level in policy.due_days:
        case.due_on = min(case.due_on, policy.due_on(level, today))
    _log(
        session,
        case,
        actor=None,
        action="relevel",
        comment=f"风险等级升高：{old.zh} → {level.zh}"
        + (
            f"（指数 {index_score:.0f} 分，{describe_version(index_version, zh=True)}）"
            if index_score is not None
            else ""
        ),
        detail={
            "from_level": old.value,
            "to_level": level.value,
            "due_on": case.due_on.isoformat(),
            **({"index_version": index_version} if index_version else {}),
            **({"evidence": evidence[:5]} if evidence else {}),
        },
    )
    if level == Level.RED:
        announce_new(session, [case])
    return True


def may_hand_off(case: Case) -> bool:
    """A red enterprise case of the city, open and not yet handed off to the police."""
    return (
        case.enterprise_id is not None
        and Level(case.level) == Level.RED
        and case.owner == Owner.CITY
        and case.handed_off_at is None
        and case.state not in FINAL_STATES
    )


@dataclass(frozen=True)
class HandoffClock:
    due_on: date
    done_at: date | None
    workdays_left: int  # negative: working days overdue
    provisional: bool  # the holiday schedule of the due date's year is not published yet

    @property
    def text_zh(self) -> str:
        if self.done_at is not None:
            late = "（逾期移送）" if self.done_at > self.due_on else ""
            return f"已于 {self.done_at.isoformat()} 移送公安{late}"
        base = f"移送公安期限 {self.due_on.isoformat()}"
        if self.workdays_left > 0:
            text = f"{base}，还剩 {self.workdays_left} 个工作日"
        elif self.workdays_left == 0:
            text = f"{base}，今天到期"
        else:
            text = f"{base}，已逾期 {-self.workdays_left} 个工作日"
        return text + ("（节假日安排未公布，按周一至周五计）" if self.provisional else "")

    @property
    def text_en(self) -> str:
        if self.done_at is not None:
            return f"Handed off to the police on {self.done_at.isoformat()}"
        if self.workdays_left >= 0:
            left = self.workdays_left
            return f"Hand off to the police by {self.due_on.isoformat()}: {left} working day(s) left"
        return f"Hand-off was due on {self.due_on.isoformat()}: {-self.workdays_left} working day(s) overdue"

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.workdays_left < 0


def handoff_clock(case: Case, today: date) -> HandoffClock | None:
    """The 移送公安 clock of a case in working days, or None if it has none."""
    if case.handoff_due_on is None:
        return None
    due = case.handoff_due_on
    done = case.handed_off_at.date() if case.handed_off_at else None
    left = workdays.workdays_between(today, due) if today <= due else -workdays.workdays_between(due, today)
    return HandoffClock(due_on=due, done_at=done, workdays_left=left, provisional=not workdays.known(due))


def remind_handoff(session: Session, *, today: date) -> int:
    """Tell the city of red enterprise cases whose 移送公安 clock has at most one working day left or
    has run out (once per case and state of the clock)."""
    due = session.scalars(
        select(Case)
        .where(
            Case.handoff_due_on.is_not(None),
            Case.handed_off_at.is_(None),
            Case.state.in_(OPEN_STATES),
        )
        .order_by(Case.id)
    ).unique()
    n = 0
    for case in due:
        clock = handoff_clock(case, today)
        if clock is None or clock.workdays_left > 1:
            continue
        stage = "overdue" if clock.overdue else "soon"
        notify.notify(
            session,
            "case_due_soon",
            user_ids=notify.staff(session, city=True) + notify.user_ids_by_username(session, [case.assignee]),
            title=f"{'移送公安已逾期' if clock.overdue else '即将到移送公安期限'}：{case.title}",
            body=clock.text_zh + "。",
            title_en=f"Hand-off to the police {'overdue' if clock.overdue else 'due soon'}: {case.title_en}",
            body_en=clock.text_en + ".",
            link=f"/cases/{case.id}",
            dedupe_key=f"case-handoff:{case.id}:{stage}",
        )
        n += 1
    return n


def hand_off(session: Session, *, case_id: int, actor, comment: str = "", today: date | None = None) -> Case:
    """移送公安: the city hands a red fundraising case over to the police (once; audit-logged)."""
    case = get_or_404(session, Case, case_id)
    scope = scope_of(actor)
    check_view(scope, case)
    if scope.role not in CITY_STAFF:
        raise Forbidden(
            "只有市级工作人员可以移送公安", message_en="Only city staff may hand a case to the police"
        )
    if case.handed_off_at is not None:
        raise Conflict("该案件已移送公安", message_en="This case was already handed off to the police")
    if not may_hand_off(case):
        raise Conflict(
            "只有市级办理中的红色涉企案件可以移送公安",
            message_en="Only an open red enterprise case of the city can be handed off",
        )
    today = today or date.today()
    # Two users pressing at once: the row is claimed by one UPDATE that finds it not yet handed off
    # (PostgreSQL makes the second wait for the first and then finds nothing to update; SQLite's
    # write transactions already take turns), so the hand-off is recorded once.
    claimed = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.handed_off_at.is_(None))
        .values(handed_off_at=utcnow(), handed_off_by=getattr(actor, "username", None))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(case, ["handed_off_at", "handed_off_by"])
    if claimed != 1:
        raise Conflict("该案件已移送公安", message_en="This case was already handed off to the police")
    clock = handoff_clock(case, today)
    _log(
        session,
        case,
        actor=actor,
        action="handoff",
        comment=_clean(comment, what="移送说明") or "移送公安机关",
        detail={
            "handoff_due_on": case.handoff_due_on.isoformat() if case.handoff_due_on else None,
            "late": bool(clock and case.handoff_due_on and today > case.handoff_due_on),
        },
    )
    case.updated_at = utcnow()
    session.flush()
    return case
