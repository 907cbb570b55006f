"""Routing of fundraising-index grades into cases (台州路桥's red / yellow / green, with orange).

- 红 (red): a case of the city with the 移送公安 action and a 3-working-day hand-off clock;
- 橙 / 黄 (orange, yellow): a case of the firm's district office;
- 绿 (green): the watch list (关注名单), no case.

Every case opened (red, orange, yellow) names the sector's supervisor of the firm's class
(行业主管部门, ``data/supervisors.toml``) to be copied (抄送); an open case routed before a supervisor
was known gets it on the next run.

Each case keeps the index version, score and evidence it was opened on. Re-running a version does not
open a second case for a firm that has an open one; a grade that rises escalates the open case (a red
one moves to the city). Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.cases import service as cases
from qiantang.cases.models import Case, CaseSource
from qiantang.db import utcnow
from qiantang.earlywarning.models import Level
from qiantang.enterprises.models import Enterprise
from qiantang.fundraising.models import FirmProfile
from qiantang.fundraising.supervisors import Supervisor, supervisors
from qiantang.fundraising.tip_models import WatchEntry

GRADES = ("red", "orange", "yellow", "green")
MAX_REASONS = 10  # reasons kept with a case (the index's top reasons)


@dataclass
class RoutingResult:
    opened: list[int] = field(default_factory=list)  # case ids
    escalated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    watched: list[int] = field(default_factory=list)  # enterprise ids put (or kept) on the watch list
    skipped: list[int] = field(default_factory=list)  # enterprise ids not in the register

    def as_dict(self) -> dict[str, int]:
        return {k: len(v) for k, v in vars(self).items()}


def _reasons(reasons: Any) -> list[dict[str, Any]]:
    """The reasons as plain JSON: dimension, Chinese text and evidence (whatever it holds)."""
    out = []
    for r in list(reasons or [])[:MAX_REASONS]:
        if isinstance(r, dict):
            out.append(
                {
                    "dimension": str(r.get("dimension", "")),
                    "text": str(r.get("text", "")),
                    "evidence": r.get("evidence"),
                }
            )
        else:
            out.append({"dimension": "", "text": str(r), "evidence": None})
    return out


def _title(name: str, score: float, level: Level) -> str:
    return f"{name}：非法集资风险指数 {score:.1f} 分（{level.zh}）"


def supervisor_of(firm: Enterprise, category: str | None, scope_text: str = "") -> Supervisor | None:
    """The sector's supervisor of a watched firm: by its class, and its name and business scope."""
    return supervisors().for_firm(category, f"{firm.name} {scope_text or ''}")


def firm_supervisor(session: Session, firm: Enterprise, category: str | None) -> Supervisor | None:
    """``supervisor_of`` with the firm's business scope read from its profile."""
    scope_text = session.scalar(
        select(FirmProfile.business_scope).where(FirmProfile.enterprise_id == firm.id)
    )
    return supervisor_of(firm, category, scope_text or "")


def route_scores(session: Session, rows: Iterable[Any], *, as_of: date | None = None) -> RoutingResult:
    """Route each scored firm by its grade (see the module doc). ``rows`` have ``enterprise_id``,
    ``grade``, ``score`` (0–100), ``version``, ``reasons`` and ``category`` (the watched-firm class,
    which names the sector's supervisor; optional); ``as_of`` is the opening day from which due dates
    and the hand-off clock count (default today)."""
    today = as_of or date.today()
    rows = list(rows)
    result = RoutingResult()
    ids = sorted({int(r.enterprise_id) for r in rows})
    firms = (
        {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_(ids)))} if ids else {}
    )
    open_cases: dict[int, Case] = {}
    for case in session.scalars(
        select(Case)
        .where(
            Case.enterprise_id.in_(ids),
            Case.source.in_(cases.ENTERPRISE_SOURCES),
            Case.state.in_(cases.OPEN_STATES),
        )
        .order_by(Case.id)
    ).unique():
        open_cases.setdefault(case.enterprise_id, case)
    # A case closed on this very version is not opened again by re-running it.
    done_on_version = {
        (eid, v)
        for eid, v in session.execute(
            select(Case.enterprise_id, Case.index_version).where(
                Case.enterprise_id.in_(ids), Case.source == CaseSource.FUNDRAISING
            )
        )
    }
    scopes = (
        dict(
            session.execute(
                select(FirmProfile.enterprise_id, FirmProfile.business_scope).where(
                    FirmProfile.enterprise_id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    watch = {
        w.enterprise_id: w
        for w in session.scalars(select(WatchEntry).where(WatchEntry.enterprise_id.in_(ids)))
    }
    new_cases: list[Case] = []
    for row in rows:
        grade = str(row.grade).lower()
        if grade not in GRADES:
            raise ValueError(f"unknown grade {row.grade!r}")
        firm = firms.get(int(row.enterprise_id))
        if firm is None:
            result.skipped.append(int(row.enterprise_id))
            continue
        level = Level(grade)
        score = float(row.score)
        version = str(row.version)
        evidence = _reasons(getattr(row, "reasons", []))
        if level == Level.GREEN:
            entry = watch.get(firm.id)
            if entry is None:
                entry = WatchEntry(enterprise_id=firm.id, added_at=utcnow())
                session.add(entry)
                watch[firm.id] = entry
            entry.score, entry.index_version, entry.reasons = score, version, evidence
            entry.active = firm.id not in open_cases
            entry.updated_at = utcnow()
            result.watched.append(firm.id)
            continue
        if (entry := watch.get(firm.id)) is not None:
            entry.active = False  # now a case's subject
            entry.updated_at = utcnow()
        sup = supervisor_of(firm, getattr(row, "category", None), scopes.get(firm.id) or "")
        case = open_cases.get(firm.id)
        if case is not None and sup is not None:
            cases.copy_to_supervisor(session, case=case, code=sup.code, name=sup.zh)
        if case is not None:
            if cases.raise_enterprise_case(
                session,
                case=case,
                level=level,
                today=today,
                index_version=version,
                index_score=score,
                evidence=evidence,
            ):
                case.title = _title(firm.name, score, level)
                result.escalated.append(case.id)
            else:
                result.unchanged.append(case.id)
            continue
        if (firm.id, version) in done_on_version:
            continue
        case = cases.open_enterprise_case(
            session,
            enterprise=firm,
            level=level,
            source=CaseSource.FUNDRAISING,
            title=_title(firm.name, score, level),
            today=today,
            index_version=version,
            index_score=score,
            evidence=evidence,
            announce=False,
            supervisor_code=sup.code if sup else None,
            supervisor_name=sup.zh if sup else None,
        )
        open_cases[firm.id] = case
        new_cases.append(case)
        result.opened.append(case.id)
    cases.announce_new(session, new_cases)
    session.flush()
    return result


def watch_list(session: Session, *, scope, active_only: bool = True) -> list[WatchEntry]:
    """The watched firms the scope may see (a district office: its district's), highest score first."""
    from qiantang.auth.models import Role

    stmt = select(WatchEntry).join(Enterprise, Enterprise.id == WatchEntry.enterprise_id)
    if active_only:
        stmt = stmt.where(WatchEntry.active.is_(True))
    if scope.role == Role.DISTRICT_OFFICER:
        stmt = stmt.where(Enterprise.district_code == scope.district_code)
    return list(session.scalars(stmt.order_by(WatchEntry.score.desc(), WatchEntry.id)).unique())
