"""Reading enterprises, their loans and guarantees within a user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from qiantang.auth.scope import Scope
from qiantang.credit.models import CreditScore
from qiantang.enterprises.models import Enterprise, EnterpriseFinancial, Guarantee, ListingStatus, Loan
from qiantang.errors import NotFound
from qiantang.registry.models import Institution
from qiantang.standards.loan_class import LoanClass
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
    grade: str | None = None  # master-scale grade of the current champion's latest scoring


def _runs_clause(runs: list[tuple[int, date]]):
    if not runs:
        return false()
    return or_(*(and_(CreditScore.model_id == m, CreditScore.as_of == d) for m, d in runs))


def _query(scope: Scope, f: EnterpriseFilters, runs: list[tuple[int, date]] | None = None) -> Select:
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
    if f.grade:
        graded = select(CreditScore.enterprise_id).where(
            CreditScore.grade == f.grade, _runs_clause(runs or [])
        )
        stmt = stmt.where(Enterprise.id.in_(graded))
    return stmt


def current_runs(session: Session) -> list[tuple[int, date]]:
    """(model id, as-of) of the stored scores that pages show: each champion's latest scoring."""
    from qiantang.credit.service import current_runs as runs

    return runs(session)


def age_years(ent: Enterprise, as_of: date) -> float:
    """A firm's age in years on ``as_of`` (the profile uses today, a credit report its scoring date;
    both pages say which date, so the two figures can be told apart)."""
    return (as_of - ent.founded_on).days / 365.25


def list_enterprises(
    session: Session, *, scope: Scope, filters: EnterpriseFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Enterprise], int]:
    stmt = _query(scope, filters, current_runs(session) if filters.grade else None)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Enterprise.id).limit(limit).offset(offset)).all()
    return list(rows), total


def current_scores(session: Session, *, enterprise_ids: list[int]) -> dict[int, CreditScore]:
    """The current score (champion's latest scoring) of each of the given enterprises."""
    runs = current_runs(session)
    if not enterprise_ids or not runs:
        return {}
    out: dict[int, CreditScore] = {}
    for start in range(0, len(enterprise_ids), 5_000):
        chunk = enterprise_ids[start : start + 5_000]
        rows = session.scalars(
            select(CreditScore)
            .where(CreditScore.enterprise_id.in_(chunk), _runs_clause(runs))
            .order_by(CreditScore.as_of, CreditScore.id)
        ).all()
        out.update({r.enterprise_id: r for r in rows})
    return out


def enterprise_financials(session: Session, *, enterprise_id: int) -> list[EnterpriseFinancial]:
    """Financial statements by year, oldest first."""
    return list(
        session.scalars(
            select(EnterpriseFinancial)
            .where(EnterpriseFinancial.enterprise_id == enterprise_id)
            .order_by(EnterpriseFinancial.year)
        ).all()
    )


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


@dataclass(frozen=True)
class RiskSignal:
    """One warning sign on an enterprise's profile, with its evidence and where it comes from."""

    level: str  # red | orange | yellow
    title: str
    evidence: str
    source: str
    link: str | None = None


# A grade this many notches worse than the previous scoring is a signal (each notch doubles the PD).
GRADE_DROP_NOTCHES = 2
_LEVEL_ORDER = {"red": 0, "orange": 1, "yellow": 2}


def risk_signals(
    session: Session, *, ent: Enterprise, loans: list[Loan] | None = None, credit: dict | None = None
) -> list[RiskSignal]:
    """Warning signs from what the platform already holds about a firm, worst first.

    Loans: non-performing (red), overdue or 关注 (orange/yellow) — classes of the 2023 rule
    (standards/loan_class.py). Guarantees: what it guarantees for
    borrowers whose loans are non-performing (a call is coming, orange). Network: the guarantee group
    it belongs to at the latest analysis, when that group's risk level is red/orange/yellow, with the
    group's own reasons. Credit: a C or D grade, or a drop of two notches or more since the previous
    scoring. Each names its data and date; nothing is a new model, only the platform's own findings.
    The profile page passes the ``loans`` and ``credit`` (``credit.report.enterprise_credit``) it has
    already read.
    """
    from qiantang.credit import policy as credit_policy
    from qiantang.credit.report import enterprise_credit
    from qiantang.network import service as network

    out: list[RiskSignal] = []
    if loans is None:
        loans = [loan for loan, _inst in enterprise_loans(session, enterprise_id=ent.id)]
    loans = [loan for loan in loans if loan.balance > 0]
    as_of = max((loan.as_of for loan in loans), default=None)
    src_loans = f"贷款五级分类（{as_of.isoformat()}）" if as_of else "贷款五级分类"
    npl = [loan for loan in loans if loan.classification.is_npl]
    if npl:
        out.append(
            RiskSignal(
                "red",
                "有不良贷款",
                f"{len(npl)} 笔贷款分类为次级、可疑或损失，"
                f"余额 {sum(x.balance for x in npl) / 1e4:,.2f} 万元；"
                f"最长逾期 {max(x.days_past_due for x in npl)} 天",
                src_loans,
            )
        )
    overdue = [x for x in loans if not x.classification.is_npl and x.days_past_due > 0]
    mention = [x for x in loans if x.classification.value == "special_mention"]
    if overdue or mention:
        out.append(
            RiskSignal(
                "orange" if overdue else "yellow",
                "贷款逾期或列为关注类",
                f"逾期未达不良 {len(overdue)} 笔；关注类 {len(mention)} 笔，余额 "
                f"{sum(x.balance for x in {*overdue, *mention}) / 1e4:,.2f} 万元",
                src_loans,
            )
        )
    called = session.execute(
        select(func.count(), func.sum(Guarantee.amount))
        .join(Loan, Loan.id == Guarantee.loan_id)
        .where(
            Guarantee.guarantor_enterprise_id == ent.id,
            Loan.balance > 0,
            Loan.classification.in_([c for c in LoanClass if c.is_npl]),
        )
    ).one()
    if called[0]:
        out.append(
            RiskSignal(
                "orange",
                "为不良贷款提供担保",
                f"{called[0]} 笔担保对应的贷款已为不良，担保金额 {float(called[1] or 0) / 1e4:,.2f} 万元，"
                "可能被要求代偿",
                src_loans,
            )
        )
    run = network.latest_run(session)
    node = network.enterprise_node(session, run=run, enterprise_id=ent.id) if run else None
    if node is not None:
        from qiantang.network.models import GuaranteeGroup

        group = session.get(GuaranteeGroup, node.group_id)
        if group is not None and group.risk_level in ("red", "orange", "yellow"):
            out.append(
                RiskSignal(
                    group.risk_level,
                    f"所在担保圈风险等级{network.LEVEL_ZH[group.risk_level]}",
                    f"担保圈 {group.firms:,} 家企业；" + "；".join(str(r) for r in group.reasons[:3]),
                    f"担保网络分析（{run.as_of.isoformat()}）",
                    f"/network/groups/{group.id}",
                )
            )
    credit = credit if credit is not None else enterprise_credit(session, ent)
    if credit["latest"] is not None:  # the champion's latest scoring
        score, model = credit["latest"]["score"], credit["latest"]["model"]
        names = credit_policy.grade_names()
        src_score = f"{model.name} v{model.version}（{score.as_of.isoformat()}）"
        if score.grade in names[-2:]:
            out.append(
                RiskSignal(
                    "red" if score.grade == names[-1] else "orange",
                    f"信用等级 {score.grade}",
                    f"一年违约概率 {score.pd:.1%}",
                    src_score,
                    f"/enterprises/{ent.uscc}/credit-report",
                )
            )
        earlier = [s for s, _m in credit["history"] if s.as_of < score.as_of]
        if earlier:
            before = earlier[-1]
            drop = names.index(score.grade) - names.index(before.grade)
            if drop >= GRADE_DROP_NOTCHES:
                out.append(
                    RiskSignal(
                        "orange",
                        "信用等级下调",
                        f"由 {before.grade}（{before.as_of.isoformat()}）降至 {score.grade}，下调 {drop} 级",
                        src_score,
                        f"/enterprises/{ent.uscc}/credit-report",
                    )
                )
    return sorted(out, key=lambda s: _LEVEL_ORDER[s.level])
