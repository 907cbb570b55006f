"""Key figures of the overview page, computed from the database within the user's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.registry.models import (
    Institution,
    InstitutionCategory,
    InstitutionStatus,
    InstitutionType,
)
from qiantang.standards.loan_class import LoanClass, npl_ratio
from qiantang.standards.sme_size import SizeClass

OPEN_STATUSES = [s for s in InstitutionStatus if s.is_open]


@dataclass
class TypeCount:
    code: str
    name_zh: str
    name_en: str
    category: InstitutionCategory
    count: int


@dataclass
class Overview:
    institutions_total: int
    institutions_by_type: list[TypeCount]
    institutions_by_category: dict[str, int]
    enterprises_total: int | None
    enterprises_by_size: dict[str, int] | None  # SizeClass value (or "unknown") → count
    loan_balance: float | None  # 元
    loan_count: int | None
    balance_by_class: dict[str, float] | None  # LoanClass value → 元
    npl_ratio: float | None  # percent
    loans_as_of: date | None
    notes: list[str] = field(default_factory=list)


def institution_counts(session: Session, *, scope: Scope) -> list[TypeCount]:
    """Open institutions (active, suspended or in resolution) by type, in the reference order."""
    stmt = (
        select(InstitutionType, func.count(Institution.id))
        .join(Institution, Institution.type_code == InstitutionType.code)
        .where(Institution.status.in_(OPEN_STATUSES))
        .where(scope.institution_clause(Institution.id, Institution.district_code))
        .group_by(InstitutionType.code)
        .order_by(InstitutionType.sort_order)
    )
    return [TypeCount(t.code, t.name_zh, t.name_en, t.category, n) for t, n in session.execute(stmt).all()]


def enterprise_sizes(session: Session, *, scope: Scope) -> dict[str, int]:
    stmt = (
        select(Enterprise.size_class, func.count())
        .where(Enterprise.deregistered_on.is_(None))
        .where(scope.district_clause(Enterprise.district_code))
        .group_by(Enterprise.size_class)
    )
    counts = {(s.value if s else "unknown"): n for s, n in session.execute(stmt).all()}
    order = [s.value for s in SizeClass] + ["unknown"]
    return {k: counts[k] for k in order if k in counts}


def loan_book(session: Session, *, scope: Scope) -> tuple[dict[str, float], int, date | None]:
    """Outstanding balance by five-tier class, loan count and the classification date."""
    stmt = select(Loan.classification, func.sum(Loan.balance), func.count(), func.max(Loan.as_of)).where(
        Loan.balance > 0
    )
    if not scope.is_citywide:
        stmt = stmt.join(Enterprise, Enterprise.id == Loan.borrower_id).where(
            scope.district_clause(Enterprise.district_code)
        )
    rows = session.execute(stmt.group_by(Loan.classification)).all()
    by_class = {c.value: 0.0 for c in LoanClass}
    count = 0
    as_of = None
    for cls, balance, n, latest in rows:
        by_class[cls.value] = float(balance or 0)
        count += n
        as_of = max(as_of, latest) if as_of and latest else (latest or as_of)
    return by_class, count, as_of


def build_overview(session: Session, *, scope: Scope) -> Overview:
    types = institution_counts(session, scope=scope)
    by_category: dict[str, int] = {c.value: 0 for c in InstitutionCategory}
    for t in types:
        by_category[t.category.value] += t.count
    if not scope.sees_enterprises:
        return Overview(
            institutions_total=sum(t.count for t in types),
            institutions_by_type=types,
            institutions_by_category=by_category,
            enterprises_total=None,
            enterprises_by_size=None,
            loan_balance=None,
            loan_count=None,
            balance_by_class=None,
            npl_ratio=None,
            loans_as_of=None,
            notes=["机构填报员只能查看本机构的信息"],
        )
    sizes = enterprise_sizes(session, scope=scope)
    by_class, count, as_of = loan_book(session, scope=scope)
    return Overview(
        institutions_total=sum(t.count for t in types),
        institutions_by_type=types,
        institutions_by_category=by_category,
        enterprises_total=sum(sizes.values()),
        enterprises_by_size=sizes,
        loan_balance=sum(by_class.values()),
        loan_count=count,
        balance_by_class=by_class,
        npl_ratio=npl_ratio(by_class),
        loans_as_of=as_of,
    )
