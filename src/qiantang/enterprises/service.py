"""Reading enterprises, their loans and guarantees within a user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Float, Select, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from qiantang.auth.scope import Scope
from qiantang.credit.models import CreditScore
from qiantang.db import read_frame
from qiantang.enterprises.models import (
    Enterprise,
    EnterpriseFinancial,
    Guarantee,
    ListingStatus,
    Loan,
    LoanClassification,
)
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


# --------------------------------------------------------------------------------------------------
# What was known on a date: statements filed and loan classes reported by then (no look-ahead).

# A year's statement with no recorded filing date is known from April 30 of the next year: the
# four-month deadline for annual reports of listed companies (《证券法》2019 第七十九条) and the usual
# deadline banks set for borrowers' audited statements. (Unlisted firms settle income tax by May 31,
# 《企业所得税法》第五十四条, and publish annual reports by June 30, 《企业信息公示暂行条例》第八条.)
STATEMENT_KNOWN_FROM = (4, 30)  # month, day of the following year


def statement_cutoff_year(as_of: date) -> int:
    """The latest financial year whose statement (without a filing date) is known on ``as_of``."""
    month, day = STATEMENT_KNOWN_FROM
    return as_of.year - 1 if as_of >= date(as_of.year, month, day) else as_of.year - 2


def statement_known(as_of: date):
    """SQL condition on ``enterprise_financials``: the statement was known on ``as_of``."""
    return or_(
        EnterpriseFinancial.filed_on <= as_of,
        and_(
            EnterpriseFinancial.filed_on.is_(None), EnterpriseFinancial.year <= statement_cutoff_year(as_of)
        ),
    )


def _dates(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values), errors="coerce").to_numpy("datetime64[D]")


def loans_known(session: Session, *, as_of: date, borrower_ids=None) -> pd.DataFrame:
    """Loans outstanding on ``as_of`` as they were known then: id, borrower_id, lender_id, balance (元),
    classification (LoanClass value).

    A loan counts from its start date. Its class and balance are those of its latest record dated on or
    before ``as_of`` — a row of ``loan_classifications`` or the loan's own current row. A loan with no
    record yet is 正常 with its full amount outstanding; a loan past maturity whose latest record predates
    the maturity and is not non-performing was repaid. On or after the loans' current date this is the
    ``loans`` table itself (its row is every loan's latest record).
    """
    loan_filter = [Loan.start_date <= as_of]
    read = read_frame
    if borrower_ids is not None:  # a few firms (a graph): bound IN list, read through the ORM
        loan_filter.append(Loan.borrower_id.in_(list(borrower_ids)))

        def read(session, stmt):
            result = session.execute(stmt)
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    latest = session.scalar(select(func.max(Loan.as_of)))
    if latest is None or as_of >= latest:
        frame = read(
            session,
            select(
                Loan.id,
                Loan.borrower_id,
                Loan.lender_id,
                cast(Loan.balance, Float).label("balance"),
                Loan.classification,
            ).where(Loan.balance > 0, *loan_filter),
        )
        frame["classification"] = _class_values(frame["classification"])
        return frame
    loans = read(
        session,
        select(
            Loan.id,
            Loan.borrower_id,
            Loan.lender_id,
            cast(Loan.amount, Float).label("amount"),
            cast(Loan.balance, Float).label("balance"),
            Loan.classification,
            Loan.maturity_date,
            Loan.as_of,
        ).where(*loan_filter),
    )
    hist_filter = [LoanClassification.as_of <= as_of]
    if borrower_ids is not None:
        hist_filter.append(LoanClassification.loan_id.in_(loans["id"].tolist()))
    last = (
        select(LoanClassification.loan_id, func.max(LoanClassification.as_of).label("d"))
        .where(*hist_filter)
        .group_by(LoanClassification.loan_id)
        .subquery()
    )
    hist = read(
        session,
        select(
            LoanClassification.loan_id,
            LoanClassification.as_of.label("h_as_of"),
            LoanClassification.classification.label("h_class"),
            cast(LoanClassification.balance, Float).label("h_balance"),
        ).join(last, (last.c.loan_id == LoanClassification.loan_id) & (last.c.d == LoanClassification.as_of)),
    )
    frame = loans.merge(hist, how="left", left_on="id", right_on="loan_id")
    d = np.datetime64(as_of, "D")
    own_date = _dates(frame["as_of"])
    hist_date = _dates(frame["h_as_of"])
    own = own_date <= d  # the loan's current row is already known (ties: it wins)
    has_hist = ~np.isnat(hist_date) & ~(own & (hist_date <= own_date))
    use_own = own & ~has_hist
    record_date = np.where(use_own, own_date, np.where(has_hist, hist_date, np.datetime64("NaT")))
    cls = np.where(
        use_own,
        _class_values(frame["classification"]),
        np.where(has_hist, _class_values(frame["h_class"]), LoanClass.NORMAL.value),
    )
    amount = frame["amount"].to_numpy(float)
    h_bal = frame["h_balance"].to_numpy(float)
    balance = np.where(
        use_own, frame["balance"].to_numpy(float), np.where(has_hist & ~np.isnan(h_bal), h_bal, amount)
    )
    maturity = _dates(frame["maturity_date"])
    npl = np.isin(cls, [c.value for c in LoanClass if c.is_npl])
    repaid = (maturity < d) & ~npl & (np.isnat(record_date) | (record_date < maturity))
    balance = np.where(repaid, 0.0, balance)
    out = pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "borrower_id": frame["borrower_id"].to_numpy(),
            "lender_id": frame["lender_id"].to_numpy(),
            "balance": balance,
            "classification": cls,
        }
    )
    return out[out["balance"] > 0].sort_values("id").reset_index(drop=True)


def _class_values(values: pd.Series) -> np.ndarray:
    """LoanClass values as plain strings (the driver may give enum members or their names)."""
    text = values.astype(str).str.replace("LoanClass.", "", regex=False)
    by_name = {c.name: c.value for c in LoanClass}
    return text.map(lambda v: by_name.get(v, v)).to_numpy(object)
