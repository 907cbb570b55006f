"""Reading enterprises, their loans and guarantees within a user's scope."""

from __future__ import annotations

from collections.abc import Iterator
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
    GuaranteeKind,
    ListingStatus,
    Loan,
    LoanClassification,
)
from qiantang.errors import NotFound
from qiantang.formatting import fmt_amount
from qiantang.paging import KeysetPage, count_capped, keyset_page
from qiantang.registry.models import Institution
from qiantang.search import matches
from qiantang.standards.loan_class import LoanClass
from qiantang.standards.sme_size import SizeClass
from qiantang.standards.uscc import check_uscc
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh


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


def _query(
    session: Session, scope: Scope, f: EnterpriseFilters, runs: list[tuple[int, date]] | None = None
) -> Select:
    scope.require_enterprises()
    stmt = select(Enterprise).where(scope.district_clause(Enterprise.district_code))
    if f.q and f.q.strip():
        q = f.q.strip()  # name contains q (through the text index, qiantang.search) or the exact USCC
        stmt = stmt.where(
            matches(session, "enterprises", Enterprise.id, q, also=(Enterprise.uscc, q.upper()))
        )
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


def _filtered(session: Session, scope: Scope, filters: EnterpriseFilters) -> Select:
    return _query(session, scope, filters, current_runs(session) if filters.grade else None)


def age_years(ent: Enterprise, as_of: date) -> float:
    """A firm's age in years on ``as_of`` (the profile uses today, a credit report its scoring date;
    both pages say which date, so the two figures can be told apart)."""
    return (as_of - ent.founded_on).days / 365.25


def list_enterprises(
    session: Session, *, scope: Scope, filters: EnterpriseFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Enterprise], int]:
    """One page by offset and the exact count (the API; pages use :func:`page_enterprises`)."""
    stmt = _filtered(session, scope, filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Enterprise.id).limit(limit).offset(offset)).all()
    return list(rows), total


# Counting every match of a broad search over a million firms costs more than the page itself: above
# this many the page says "more than …". Filters an index answers (district, size, section) count exactly.
COUNT_CAP = 1_000


def page_enterprises(
    session: Session,
    *,
    scope: Scope,
    filters: EnterpriseFilters,
    limit: int = 50,
    after: int | None = None,
    before: int | None = None,
) -> KeysetPage:
    """One page in id order after (or before) a key, with a count that is exact up to COUNT_CAP."""
    stmt = _filtered(session, scope, filters)
    indexed_only = not (filters.q or filters.grade or filters.listing_status or filters.high_tech is not None)
    cap = None if indexed_only else COUNT_CAP
    total, capped = count_capped(session, stmt, Enterprise.id, cap=cap, cached=True)
    page = keyset_page(session, stmt, Enterprise.id, limit=limit, after=after, before=before)
    return page.counted(total, capped, cached=True)


def count_enterprises(
    session: Session, *, scope: Scope, filters: EnterpriseFilters, cap: int | None = None
) -> tuple[int, bool]:
    """How many enterprises match, counted up to ``cap``; True when there are more."""
    return count_capped(session, _filtered(session, scope, filters), Enterprise.id, cap=cap)


def iter_enterprises(
    session: Session, *, scope: Scope, filters: EnterpriseFilters, limit: int, chunk: int = 2_000
) -> Iterator[list[Enterprise]]:
    """Up to ``limit`` matching enterprises in id order, read ``chunk`` rows at a time (exports)."""
    stmt = _filtered(session, scope, filters).order_by(Enterprise.id).limit(limit)
    result = session.scalars(stmt.execution_options(yield_per=chunk))
    yield from result.partitions()


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


def in_force_clause(as_of: date):
    """Guarantees in force on ``as_of``: started, and not ended before it."""
    return (Guarantee.start_date <= as_of) & ((Guarantee.end_date.is_(None)) | (Guarantee.end_date >= as_of))


def reciprocal_pairs(session: Session, *, enterprise_id: int, as_of: date) -> set[tuple[int, int]]:
    """(guarantor, borrower) pairs around this firm whose guarantee *and* its reverse are in force.

    A relation recorded as 互保 stops being mutual the day the reverse guarantee expires; the guarantee
    network counts it one way from then on, and pages label it by what is in force, like the network.
    """
    rows = session.execute(
        select(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id).where(
            Guarantee.guarantor_enterprise_id.is_not(None),
            (Guarantee.guarantor_enterprise_id == enterprise_id) | (Guarantee.borrower_id == enterprise_id),
            in_force_clause(as_of),
        )
    ).all()
    pairs = {(a, b) for a, b in rows}
    return {(a, b) for a, b in pairs if (b, a) in pairs}


@dataclass(frozen=True)
class GuaranteeRow:
    """One guarantee on a firm's profile, with its counterpart and whether it is in force."""

    guarantee: Guarantee
    name: str
    uscc: str | None
    in_force: bool
    # For a relation recorded as 互保: False once the reverse guarantee is no longer in force.
    mutual_in_force: bool

    @property
    def lapsed_mutual(self) -> bool:
        """Recorded as mutual, but only one way is in force (label it as one-way)."""
        return self.guarantee.kind == GuaranteeKind.MUTUAL and self.in_force and not self.mutual_in_force


def enterprise_guarantees(session: Session, *, enterprise_id: int, as_of: date | None = None) -> dict:
    """Guarantees this firm gives and those it receives, with the counterpart's name and whether each
    (and, for 互保, its reverse) is in force on ``as_of`` (default: the loans' as-of date)."""
    if as_of is None:
        as_of = session.scalar(select(func.max(Loan.as_of))) or date.today()
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
    mutual = reciprocal_pairs(session, enterprise_id=enterprise_id, as_of=as_of)

    def row(g: Guarantee, name: str, uscc: str | None) -> GuaranteeRow:
        live = g.start_date <= as_of and (g.end_date is None or g.end_date >= as_of)
        pair = (g.guarantor_enterprise_id, g.borrower_id)
        return GuaranteeRow(g, name, uscc, live, pair in mutual)

    return {
        "as_of": as_of,
        "given": [row(*r) for r in given],
        "received": [row(*r) for r in received],
    }


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
    src_loans = _("Five-tier loan classes")
    if as_of:
        src_loans = _("Five-tier loan classes (%(date)s)", date=as_of.isoformat())
    npl = [loan for loan in loans if loan.classification.is_npl]
    if npl:
        out.append(
            RiskSignal(
                "red",
                _("Non-performing loans"),
                _(
                    "%(n)s loans classed substandard, doubtful or loss, balance %(amount)s; "
                    "longest overdue %(days)s days",
                    n=len(npl),
                    amount=fmt_amount(sum(x.balance for x in npl), "万元"),
                    days=max(x.days_past_due for x in npl),
                ),
                src_loans,
            )
        )
    overdue = [x for x in loans if not x.classification.is_npl and x.days_past_due > 0]
    mention = [x for x in loans if x.classification.value == "special_mention"]
    if overdue or mention:
        out.append(
            RiskSignal(
                "orange" if overdue else "yellow",
                _("Loans overdue or classed special mention"),
                _(
                    "%(overdue)s overdue but not yet non-performing; %(mention)s special mention; "
                    "balance %(amount)s",
                    overdue=len(overdue),
                    mention=len(mention),
                    amount=fmt_amount(sum(x.balance for x in {*overdue, *mention}), "万元"),
                ),
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
                _("Guarantees behind non-performing loans"),
                _(
                    "%(n)s guaranteed loans are non-performing, guaranteed amount %(amount)s: "
                    "the firm may be called to pay",
                    n=called[0],
                    amount=fmt_amount(float(called[1] or 0), "万元"),
                ),
                src_loans,
            )
        )
    run = network.latest_run(session)
    node = network.enterprise_node(session, run=run, enterprise_id=ent.id) if run else None
    if node is not None:
        from qiantang.network.models import GuaranteeGroup

        group = session.get(GuaranteeGroup, node.group_id)
        if group is not None and group.risk_level in ("red", "orange", "yellow"):
            level = network.level_names()[group.risk_level]
            out.append(
                RiskSignal(
                    group.risk_level,
                    _("Its guarantee group is rated %(level)s", level=level),
                    _("Guarantee group of %(n)s firms", n=f"{group.firms:,}")
                    + ("；" if is_zh() else "; ")
                    + ("；" if is_zh() else "; ").join(network.group_reasons(group)[:3]),
                    _("Guarantee network analysis (%(date)s)", date=run.as_of.isoformat()),
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
                    _("Credit grade %(grade)s", grade=score.grade),
                    _("One-year probability of default %(pd)s", pd=f"{score.pd:.1%}"),
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
                        _("Credit grade lowered"),
                        _(
                            "From %(before)s (%(date)s) to %(grade)s: %(n)s notches down",
                            before=before.grade,
                            date=before.as_of.isoformat(),
                            grade=score.grade,
                            n=drop,
                        ),
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
            )
            .where(Loan.balance > 0, *loan_filter)
            .order_by(Loan.id),  # by id, as the history branch below
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
