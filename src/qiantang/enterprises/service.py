"""Reading enterprises, their loans and guarantees within a user's scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Guarantee, ListingStatus, Loan
from qiantang.errors import NotFound
from qiantang.registry.models import Institution
from qiantang.standards.sme_size import SizeClass
from qiantang.standards.uscc import check_uscc


@dataclass(frozen=True)
class EnterpriseFilters:
    q: str | None = None
    district_code: str | None = None
    size_class: SizeClass | None = None
    industry_section: str | None = None
    listing_status: ListingStatus | None = None
    high_tech: bool | None = None


def _query(scope: Scope, f: EnterpriseFilters) -> Select:
    scope.require_enterprises()
    stmt = select(Enterprise).where(scope.district_clause(Enterprise.district_code))
    if f.q:
        q = f.q.strip()
        stmt = stmt.where(or_(Enterprise.name.like(f"%{q}%"), Enterprise.uscc == q.upper()))
    if f.district_code:
        stmt = stmt.where(Enterprise.district_code == f.district_code)
    if f.size_class:
        stmt = stmt.where(Enterprise.size_class == f.size_class)
    if f.industry_section:
        stmt = stmt.where(Enterprise.industry_section == f.industry_section)
    if f.listing_status:
        stmt = stmt.where(Enterprise.listing_status == f.listing_status)
    if f.high_tech is not None:
        stmt = stmt.where(Enterprise.high_tech.is_(f.high_tech))
    return stmt


def list_enterprises(
    session: Session, *, scope: Scope, filters: EnterpriseFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Enterprise], int]:
    stmt = _query(scope, filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Enterprise.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_enterprise(session: Session, *, scope: Scope, uscc: str) -> Enterprise:
    """One enterprise by its USCC; NotFound, or Forbidden when it lies in another district."""
    scope.require_enterprises()
    code = check_uscc(uscc).code
    ent = session.scalar(select(Enterprise).where(Enterprise.uscc == code))
    if ent is None:
        raise NotFound(
            f"未找到统一社会信用代码为 {code} 的企业", message_en=f"No enterprise with USCC {code}"
        )
    scope.check_district(ent.district_code, what="企业")
    return ent


def enterprise_loans(session: Session, *, enterprise_id: int) -> list[tuple[Loan, Institution]]:
    stmt = (
        select(Loan, Institution)
        .join(Institution, Institution.id == Loan.lender_id)
        .where(Loan.borrower_id == enterprise_id)
        .order_by(Loan.start_date.desc())
    )
    return [(loan, inst) for loan, inst in session.execute(stmt).all()]


def enterprise_guarantees(session: Session, *, enterprise_id: int) -> dict[str, list]:
    """Guarantees this firm gives and those it receives, with the counterpart's name."""
    borrower = aliased(Enterprise)
    guarantor = aliased(Enterprise)
    given = session.execute(
        select(Guarantee, borrower.name, borrower.uscc)
        .join(borrower, borrower.id == Guarantee.borrower_id)
        .where(Guarantee.guarantor_enterprise_id == enterprise_id)
        .order_by(Guarantee.start_date.desc())
    ).all()
    received = session.execute(
        select(Guarantee, func.coalesce(guarantor.name, Institution.name), guarantor.uscc)
        .outerjoin(guarantor, guarantor.id == Guarantee.guarantor_enterprise_id)
        .outerjoin(Institution, Institution.id == Guarantee.guarantor_institution_id)
        .where(Guarantee.borrower_id == enterprise_id)
        .order_by(Guarantee.start_date.desc())
    ).all()
    return {"given": list(given), "received": list(received)}
