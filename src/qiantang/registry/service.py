"""Reading the institution registry within a user's scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.db import get_or_404
from qiantang.filings.models import Filing
from qiantang.registry.models import (
    Area,
    Cluster,
    Institution,
    InstitutionLevel,
    InstitutionStatus,
    InstitutionType,
)


@dataclass(frozen=True)
class InstitutionFilters:
    q: str | None = None
    type_code: str | None = None
    category: str | None = None
    level: InstitutionLevel | None = None
    district_code: str | None = None
    cluster_code: str | None = None
    status: InstitutionStatus | None = None


def _query(scope: Scope, f: InstitutionFilters) -> Select:
    stmt = select(Institution).where(scope.institution_clause(Institution.id, Institution.district_code))
    if f.q:
        like = f"%{f.q.strip()}%"
        stmt = stmt.where(or_(Institution.name.like(like), Institution.uscc.like(like)))
    if f.type_code:
        stmt = stmt.where(Institution.type_code == f.type_code)
    if f.category:
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
    return stmt


def list_institutions(
    session: Session, *, scope: Scope, filters: InstitutionFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Institution], int]:
    """One page of institutions the user may see, and how many there are in all."""
    stmt = _query(scope, filters)
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


def reference_lists(session: Session) -> dict:
    """The choices for registry filters: types, current districts and clusters."""
    return {
        "types": session.scalars(select(InstitutionType).order_by(InstitutionType.sort_order)).all(),
        "areas": session.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all(),
        "clusters": session.scalars(select(Cluster).order_by(Cluster.sort_order)).all(),
    }
