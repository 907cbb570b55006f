"""Key figures of the overview page within the user's scope.

Institution counts are read live (thousands of rows). Enterprise and loan figures (millions of rows)
come from the latest summary snapshot, which ``refresh_summary`` writes after each data load.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.overview.models import SummaryCell, SummarySnapshot
from qiantang.registry.models import (
    Institution,
    InstitutionCategory,
    InstitutionStatus,
    InstitutionType,
)
from qiantang.standards.loan_class import LoanClass, npl_ratio
from qiantang.standards.sme_size import SizeClass
from qiantang.web.i18n import N_

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
    computed_at: datetime | None = None  # when the enterprise and loan summary was computed
    notes: list[str] = field(default_factory=list)  # msgids, translated where shown


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


def refresh_summary(session: Session, *, keep: int = 3) -> SummarySnapshot:
    """Recompute the enterprise and loan summaries by district; keep the last ``keep`` snapshots."""
    started = time.perf_counter()
    snapshot = SummarySnapshot()
    session.add(snapshot)
    session.flush()
    cells: list[dict] = []
    sizes = (
        select(Enterprise.district_code, Enterprise.size_class, func.count())
        .where(Enterprise.deregistered_on.is_(None))
        .group_by(Enterprise.district_code, Enterprise.size_class)
    )
    for district, size, n in session.execute(sizes).all():
        key = size.value if size else "unknown"
        cells.append({"measure": "enterprises", "district_code": district, "key": key, "value": n})
    book = (
        select(
            Enterprise.district_code,
            Loan.classification,
            func.sum(Loan.balance),
            func.count(),
            func.max(Loan.as_of),
        )
        .join(Enterprise, Enterprise.id == Loan.borrower_id)
        .where(Loan.balance > 0)
        .group_by(Enterprise.district_code, Loan.classification)
    )
    as_of = None
    for district, cls, balance, n, latest in session.execute(book).all():
        cells.append(
            {
                "measure": "loan_balance",
                "district_code": district,
                "key": cls.value,
                "value": float(balance or 0),
            }
        )
        cells.append({"measure": "loan_count", "district_code": district, "key": cls.value, "value": n})
        as_of = latest if as_of is None or (latest and latest > as_of) else as_of
    for cell in cells:
        session.add(SummaryCell(snapshot_id=snapshot.id, **cell))
    snapshot.loans_as_of = as_of
    snapshot.seconds = time.perf_counter() - started
    old = select(SummarySnapshot.id).order_by(SummarySnapshot.id.desc()).offset(keep)
    session.execute(delete(SummarySnapshot).where(SummarySnapshot.id.in_(old.scalar_subquery())))
    session.flush()
    return snapshot


def latest_snapshot(session: Session) -> SummarySnapshot | None:
    return session.scalars(select(SummarySnapshot).order_by(SummarySnapshot.id.desc()).limit(1)).first()


def _cells(session: Session, snapshot: SummarySnapshot, measure: str, scope: Scope) -> dict[str, float]:
    """A measure summed over the districts the scope can see, by key."""
    stmt = (
        select(SummaryCell.key, func.sum(SummaryCell.value))
        .where(SummaryCell.snapshot_id == snapshot.id, SummaryCell.measure == measure)
        .where(scope.district_clause(SummaryCell.district_code))
        .group_by(SummaryCell.key)
    )
    return defaultdict(float, {k: float(v) for k, v in session.execute(stmt).all()})


def build_overview(session: Session, *, scope: Scope) -> Overview:
    types = institution_counts(session, scope=scope)
    by_category: dict[str, int] = {c.value: 0 for c in InstitutionCategory}
    for t in types:
        by_category[t.category.value] += t.count
    overview = Overview(
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
    )
    if not scope.sees_enterprises:
        overview.notes.append(N_("Institution reporters see their own institution only."))
        return overview
    snapshot = latest_snapshot(session)
    if snapshot is None:
        overview.notes.append(
            N_(
                "The enterprise and loan summary has not been computed yet; "
                "ask the system administrator to refresh the statistics."
            )
        )
        return overview
    sizes = _cells(session, snapshot, "enterprises", scope)
    order = [s.value for s in SizeClass] + ["unknown"]
    balances = _cells(session, snapshot, "loan_balance", scope)
    counts = _cells(session, snapshot, "loan_count", scope)
    by_class = {c.value: balances[c.value] for c in LoanClass}
    overview.enterprises_by_size = {k: int(sizes[k]) for k in order if sizes.get(k)}
    overview.enterprises_total = int(sum(sizes.values()))
    overview.balance_by_class = by_class
    overview.loan_balance = sum(by_class.values())
    overview.loan_count = int(sum(counts.values()))
    overview.npl_ratio = npl_ratio(by_class)
    overview.loans_as_of = snapshot.loans_as_of
    overview.computed_at = snapshot.computed_at
    return overview
