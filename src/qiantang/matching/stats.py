"""Matchmaking statistics: the funnel, response times in working days, decline reasons, first loans and
credit loans, the lender league table — the figures the office publishes (issue 14).

Counts and sums are aggregated in the database; only the response times leave it as one row per
picked-up offer (three dates), because working days with 调休 are not SQL: they are counted with a
cumulative working-day index over the period (``workdays``), so a whole year of offers costs one
array subtraction, not a loop.

Who sees what (one place): city staff and auditors the whole city, a district officer its district's
needs, a lender its own institution's offers. In the league table a lender sees every lender's
figures but only its own name (others are "另一家机构"): it can see where it stands without the office
publishing a named ranking to competitors; city and district staff see the names (their job is to
follow up the slow ones). Firms and reporters see no statistics.

Cohort: every figure of a period is about the needs *posted* in that period (a need posted in March
and disbursed in April counts in March), so a period's funnel is one set of needs followed through.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, exists, false, func, select, true
from sqlalchemy.orm import Session, aliased

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, GuaranteeMode, Loan
from qiantang.errors import Forbidden, QiantangError
from qiantang.matching import workdays
from qiantang.matching.models import Need, NeedEvent, Offer, OfferState, Product, ProductKind, ProductStatus

STEPS = ("posted", "claimed", "contacted", "approved", "disbursed")


@cache
def rules() -> dict[str, Any]:
    with (resources.files("qiantang.matching") / "data" / "stats.toml").open("rb") as fh:
        return tomllib.load(fh)


# --- filters ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    code: str  # "2025", "2025-Q3", "2025-07"

    @property
    def label_zh(self) -> str:
        if len(self.code) == 4:
            return f"{self.code}年"
        if "Q" in self.code:
            return f"{self.code[:4]}年第{self.code[-1]}季度"
        return f"{self.code[:4]}年{int(self.code[5:])}月"


def parse_period(text: str) -> Period:
    """ "2025" (a year), "2025-Q3" (a quarter) or "2025-07" (a month); a clear Chinese error otherwise."""
    text = (text or "").strip().upper()
    try:
        if len(text) == 4 and text.isdigit():
            y = int(text)
            return Period(date(y, 1, 1), date(y, 12, 31), text)
        if len(text) == 7 and text[4:6] == "-Q" and text[:4].isdigit() and text[6] in "1234":
            y, q = int(text[:4]), int(text[6])
            start = date(y, 3 * q - 2, 1)
            return Period(start, _month_end(y, 3 * q), text)
        if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
            y, m = int(text[:4]), int(text[5:])
            return Period(date(y, m, 1), _month_end(y, m), text)
    except ValueError:
        pass
    raise QiantangError(
        f"无法识别的统计期“{text}”，请写成 2025、2025-Q3 或 2025-07",
        message_en=f"Unknown period {text!r}: write 2025, 2025-Q3 or 2025-07",
    )


def _month_end(y: int, m: int) -> date:
    return date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


@dataclass(frozen=True)
class Filters:
    period: Period
    district_code: str | None = None
    kind: ProductKind | None = None


def check_scope(scope: Scope) -> None:
    if scope.is_citywide or scope.role in (Role.DISTRICT_OFFICER, Role.LENDER):
        return
    raise Forbidden("您的角色不能查看对接统计", message_en="Your role cannot see the matchmaking statistics")


def _need_clause(scope: Scope, f: Filters):
    """Needs counted: posted in the period, in the district filter and the user's district."""
    clause = and_(Need.posted_on >= f.period.start, Need.posted_on <= f.period.end)
    if f.district_code:
        clause = and_(clause, Need.district_code == f.district_code)
    if scope.role == Role.DISTRICT_OFFICER:
        clause = and_(clause, Need.district_code == scope.district_code)
    elif not scope.is_citywide and scope.role != Role.LENDER:
        clause = false()
    return clause


def _offer_clause(scope: Scope, f: Filters):
    """Offers counted: the lender's own; of the product kind asked for."""
    clause = true()
    if scope.role == Role.LENDER:
        clause = Offer.institution_id == scope.institution_id if scope.institution_id else false()
    if f.kind is not None:
        clause = and_(clause, Offer.product_id.in_(select(Product.id).where(Product.kind == f.kind)))
    return clause


def _offer_scoped(scope: Scope, f: Filters) -> bool:
    return scope.role == Role.LENDER or f.kind is not None


# --- the funnel -----------------------------------------------------------------------------------------
def funnel(session: Session, *, scope: Scope, filters: Filters) -> list[dict[str, Any]]:
    """Needs that reached each step, with amounts: 申请金额 (the needs' amounts) at every step and
    授信金额 (the lenders' approved amounts) at 已授信 and 已放款.

    With a lender's scope or a product-kind filter, a step counts only that lender's (or kind's) offers,
    and "posted" becomes "offered to it". A need declined after a pickup still counts as picked up.
    """
    offer_scoped = _offer_scoped(scope, filters)
    ev = select(NeedEvent.need_id, NeedEvent.event).where(NeedEvent.event.in_(STEPS[1:]))
    if offer_scoped:
        ev = ev.join(Offer, Offer.id == NeedEvent.offer_id).where(_offer_clause(scope, filters))
        first = (
            select(NeedEvent.need_id, func.cast("posted", NeedEvent.event.type).label("event"))
            .join(Offer, Offer.id == NeedEvent.offer_id)
            .where(NeedEvent.event == "offered", _offer_clause(scope, filters))
        )
    else:
        first = select(NeedEvent.need_id, NeedEvent.event).where(NeedEvent.event == "posted")
    steps = ev.union(first).subquery()  # UNION: one row per need and step
    counted = dict.fromkeys(STEPS, (0, 0.0))
    rows = session.execute(
        select(steps.c.event, func.count(), func.coalesce(func.sum(Need.amount), 0))
        .join(Need, Need.id == steps.c.need_id)
        .where(_need_clause(scope, filters))
        .group_by(steps.c.event)
    ).all()
    for step, n, amount in rows:
        counted[step] = (int(n), float(amount))
    approved = dict(
        session.execute(
            select(NeedEvent.event, func.coalesce(func.sum(Offer.approved_amount), 0))
            .join(Offer, Offer.id == NeedEvent.offer_id)
            .join(Need, Need.id == NeedEvent.need_id)
            .where(
                NeedEvent.event.in_(("approved", "disbursed")),
                _need_clause(scope, filters),
                _offer_clause(scope, filters),
            )
            .group_by(NeedEvent.event)
        ).all()
    )
    base = counted["posted"][0]
    return [
        {
            "step": step,
            "needs": counted[step][0],
            "amount": counted[step][1],
            "approved_amount": float(approved[step]) if step in approved else None,
            "share_of_posted": counted[step][0] / base if base else None,
        }
        for step in STEPS
    ]


# --- response times in working days ---------------------------------------------------------------------
class WorkdayIndex:
    """Working days between any two dates of a span as one subtraction: ``cum[d]`` counts the working
    days from the span's start up to and including ``d``."""

    def __init__(self, start: date, end: date):
        self.start = start
        days = (end - start).days + 1
        flags = np.fromiter(
            (_is_workday(start + timedelta(days=i)) for i in range(days)), dtype=np.int32, count=days
        )
        self.cum = np.cumsum(flags)

    def between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Working days after ``a`` up to and including ``b`` (as ``workdays.workdays_between``)."""
        ia = (a - np.datetime64(self.start, "D")).astype(int)
        ib = (b - np.datetime64(self.start, "D")).astype(int)
        return np.where(ib > ia, self.cum[np.maximum(ib, 0)] - self.cum[np.maximum(ia, 0)], 0)


@cache
def _is_workday(day: date) -> bool:  # chinese_calendar validates every date it is asked: ask once
    return workdays.is_workday(day)


def nearest_rank(values, p: float) -> float | None:
    """The p-th percentile by nearest rank: the smallest value with at least p % of values ≤ it (so
    "p90 = 4" reads "nine in ten within 4 working days"); None for no values."""
    xs = np.sort(np.asarray(values, dtype=float))
    if xs.size == 0:
        return None
    return float(xs[max(math.ceil(p / 100 * xs.size), 1) - 1])


def response_frame(session: Session, *, scope: Scope, filters: Filters) -> pd.DataFrame:
    """One row per picked-up offer: lender, district, working days to first contact and to decision."""
    rows = session.execute(
        select(
            Offer.institution_id,
            Need.district_code,
            Offer.claimed_on,
            Offer.contacted_on,
            Offer.decided_on,
        )
        .join(Need, Need.id == Offer.need_id)
        .where(Offer.claimed_on.is_not(None), _need_clause(scope, filters), _offer_clause(scope, filters))
    ).all()
    frame = pd.DataFrame(rows, columns=["institution_id", "district_code", "claimed", "contacted", "decided"])
    frame["contact_days"] = np.nan
    frame["decision_days"] = np.nan
    if frame.empty:
        return frame
    dates = pd.concat([frame["claimed"], frame["contacted"], frame["decided"]]).dropna()
    index = WorkdayIndex(min(dates), max(dates))
    claimed = frame["claimed"].to_numpy(dtype="datetime64[D]")
    for col, out in (("contacted", "contact_days"), ("decided", "decision_days")):
        has = frame[col].notna().to_numpy()
        if has.any():
            ends = frame.loc[has, col].to_numpy(dtype="datetime64[D]")
            frame.loc[has, out] = index.between(claimed[has], ends)
    return frame


def _times(frame: pd.DataFrame) -> dict[str, Any]:
    c, d = frame["contact_days"].dropna(), frame["decision_days"].dropna()
    return {
        "picked": len(frame),
        "contacts": len(c),
        "contact_p50": nearest_rank(c, 50),
        "contact_p90": nearest_rank(c, 90),
        "decisions": len(d),
        "decision_p50": nearest_rank(d, 50),
        "decision_p90": nearest_rank(d, 90),
    }


def response_times(frame: pd.DataFrame, by: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """p50/p90 working days to first contact and to decision, overall or per ``by`` column."""
    if by is None:
        return _times(frame)
    return [{"key": key, **_times(group)} for key, group in frame.groupby(by, sort=True)]


# --- decline reasons ---------------------------------------------------------------------------------
def declines(session: Session, *, scope: Scope, filters: Filters) -> list[dict[str, Any]]:
    """Coded decline reasons (data/declines.toml) with counts and shares of all declines, most first."""
    from qiantang.matching.service import decline_reasons

    counts = dict(
        session.execute(
            select(Offer.decline_code, func.count())
            .join(Need, Need.id == Offer.need_id)
            .where(
                Offer.state == OfferState.DECLINED,
                _need_clause(scope, filters),
                _offer_clause(scope, filters),
            )
            .group_by(Offer.decline_code)
        ).all()
    )
    total = sum(counts.values())
    names = decline_reasons()
    out = [
        {
            "code": code,
            "zh": names.get(code, (code, code))[0],
            "en": names.get(code, (code, code))[1],
            "count": int(n),
            "share": n / total if total else None,
        }
        for code, n in counts.items()
    ]
    return sorted(out, key=lambda r: (-r["count"], r["code"] or ""))


# --- first loans and credit loans among the disbursed ---------------------------------------------------
def disbursed_frame(session: Session, *, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Disbursed platform loans grouped by size, industry section and district, with how many were the
    firm's first loan (no other loan of the firm started before it) and how many were unsecured
    (信用, the loan's guarantee mode as the loans table records it)."""
    earlier = aliased(Loan)
    first = ~exists(
        select(earlier.id).where(
            earlier.borrower_id == Loan.borrower_id,
            earlier.id != Loan.id,
            earlier.start_date < Loan.start_date,
        )
    )
    is_first = case((first, 1), else_=0)
    is_credit = case((Loan.guarantee_mode == GuaranteeMode.CREDIT, 1), else_=0)
    rows = session.execute(
        select(
            Enterprise.size_class,
            Enterprise.industry_section,
            Need.district_code,
            func.count(),
            func.sum(is_first),
            func.sum(is_credit),
            func.coalesce(func.sum(Loan.amount), 0),
        )
        .select_from(Offer)
        .join(Need, Need.id == Offer.need_id)
        .join(Loan, Loan.id == Offer.loan_id)
        .join(Enterprise, Enterprise.id == Need.enterprise_id)
        .where(
            Offer.state == OfferState.DISBURSED, _need_clause(scope, filters), _offer_clause(scope, filters)
        )
        .group_by(Enterprise.size_class, Enterprise.industry_section, Need.district_code)
    ).all()
    frame = pd.DataFrame(
        rows, columns=["size", "section", "district_code", "loans", "first", "credit", "amount"]
    )
    frame["size"] = frame["size"].map(lambda s: getattr(s, "value", s) or "unknown")
    for col in ("loans", "first", "credit"):
        frame[col] = frame[col].astype(int)
    frame["amount"] = frame["amount"].astype(float)
    return frame


def shares(frame: pd.DataFrame, by: str | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """Share of first loans and of credit loans among the disbursed, overall or per ``by``."""

    def one(g: pd.DataFrame) -> dict[str, Any]:
        n = int(g["loans"].sum())
        return {
            "loans": n,
            "amount": float(g["amount"].sum()),
            "first": int(g["first"].sum()),
            "credit": int(g["credit"].sum()),
            "first_share": float(g["first"].sum() / n) if n else None,
            "credit_share": float(g["credit"].sum() / n) if n else None,
        }

    if by is None:
        return one(frame)
    return [{"key": key, **one(g)} for key, g in frame.groupby(by, sort=True)]


# --- the lender league table ----------------------------------------------------------------------------
def league(session: Session, *, scope: Scope, filters: Filters, today: date) -> list[dict[str, Any]]:
    """Every lender that was offered needs: volumes, approval rate, measured vs promised response times,
    overdue offers now; ranked on speed (p50 to first contact) and on approval rate only above the
    minimum volumes of data/stats.toml. A lender sees the whole city's table with others' names hidden;
    a district officer the lenders of its district's needs."""
    from qiantang.registry.models import Institution

    league_scope = Scope.system() if scope.role == Role.LENDER else scope
    open_filters = Filters(filters.period, filters.district_code, filters.kind)
    approved_states = (OfferState.APPROVED, OfferState.DISBURSED)
    live = (OfferState.CLAIMED, OfferState.CHOSEN, OfferState.CONTACTED, OfferState.REVIEWING)
    overdue = ((Offer.state.in_((OfferState.CLAIMED, OfferState.CHOSEN))) & (Offer.contact_due < today)) | (
        Offer.state.in_(live) & (Offer.decision_due < today)
    )

    def n_if(cond):
        return func.sum(case((cond, 1), else_=0))

    rows = session.execute(
        select(
            Offer.institution_id,
            func.count(),
            n_if(Offer.claimed_on.is_not(None)),
            n_if(Offer.state.in_(approved_states)),
            n_if(Offer.state == OfferState.DECLINED),
            n_if(Offer.state == OfferState.TIMED_OUT),
            n_if(overdue),
            func.coalesce(func.sum(Offer.approved_amount), 0),
        )
        .join(Need, Need.id == Offer.need_id)
        .where(_need_clause(league_scope, open_filters), _offer_clause(Scope.system(), open_filters))
        .group_by(Offer.institution_id)
    ).all()
    promised = (
        pd.DataFrame(
            session.execute(
                select(
                    Product.institution_id, Product.promise_contact_days, Product.promise_decision_days
                ).where(Product.status == ProductStatus.APPROVED)
            ).all(),
            columns=["institution_id", "contact", "decision"],
        )
        .groupby("institution_id")
        .median()
    )
    times = {
        r["key"]: r
        for r in response_times(
            response_frame(session, scope=league_scope, filters=open_filters), "institution_id"
        )
    }
    names = dict(session.execute(select(Institution.id, Institution.name)).all())
    rule = rules()["league"]
    out = []
    for inst, offered, picked, approved, declined, timed_out, late, amount in rows:
        t = times.get(inst, _times(pd.DataFrame(columns=["contact_days", "decision_days"])))
        decided = int(approved) + int(declined)
        own = scope.role != Role.LENDER or inst == scope.institution_id
        out.append(
            {
                "institution_id": inst if own else None,
                "name": names.get(inst, "") if own else None,
                "own": scope.role == Role.LENDER and inst == scope.institution_id,
                "offered": int(offered),
                "picked": int(picked),
                "approved": int(approved),
                "declined": int(declined),
                "timed_out": int(timed_out),
                "overdue": int(late),
                "approved_amount": float(amount),
                "approval_rate": int(approved) / decided if decided else None,
                "promised_contact": _num(promised["contact"].get(inst)) if len(promised) else None,
                "promised_decision": _num(promised["decision"].get(inst)) if len(promised) else None,
                **{k: t[k] for k in ("contacts", "contact_p50", "contact_p90", "decisions", "decision_p50")},
                "ranked_speed": t["contacts"] >= rule["min_contacts"],
                "ranked_approval": decided >= rule["min_decisions"],
            }
        )
    _rank(out, "speed_rank", "ranked_speed", lambda r: (r["contact_p50"], r["contact_p90"]))
    _rank(out, "approval_rank", "ranked_approval", lambda r: -r["approval_rate"])
    big = len(out) + 1
    out.sort(key=lambda r: (r["speed_rank"] or big, r["approval_rank"] or big, -r["offered"]))
    return out


def _num(v) -> float | None:
    return None if v is None or v != v else float(v)


def _rank(rows: list[dict], key: str, eligible: str, order) -> None:
    """Competition ranking (1, 2, 2, 4) among the rows that meet the minimum volume; others None."""
    ranked = sorted((r for r in rows if r[eligible]), key=order)
    previous, rank = None, 0
    for i, r in enumerate(ranked, start=1):
        value = order(r)
        if value != previous:
            rank, previous = i, value
        r[key] = rank
    for r in rows:
        r.setdefault(key, None)


# --- everything for a page, the API and the report ------------------------------------------------------
@dataclass
class Stats:
    filters: Filters
    funnel: list[dict[str, Any]]
    overall: dict[str, Any]
    by_lender: list[dict[str, Any]]
    by_district: list[dict[str, Any]]
    declines: list[dict[str, Any]]
    disbursed: dict[str, Any]
    by_size: list[dict[str, Any]]
    by_industry: list[dict[str, Any]]
    by_district_loans: list[dict[str, Any]]
    monthly: list[dict[str, Any]] = field(default_factory=list)


def compute(session: Session, *, scope: Scope, filters: Filters) -> Stats:
    check_scope(scope)
    times = response_frame(session, scope=scope, filters=filters)
    loans = disbursed_frame(session, scope=scope, filters=filters)
    return Stats(
        filters=filters,
        funnel=funnel(session, scope=scope, filters=filters),
        overall=response_times(times),
        by_lender=response_times(times, "institution_id"),
        by_district=response_times(times, "district_code"),
        declines=declines(session, scope=scope, filters=filters),
        disbursed=shares(loans),
        by_size=shares(loans, "size"),
        by_industry=shares(loans, "section"),
        by_district_loans=shares(loans, "district_code"),
        monthly=monthly_counts(session, scope=scope, filters=filters),
    )


def monthly_counts(session: Session, *, scope: Scope, filters: Filters) -> list[dict[str, Any]]:
    """Needs posted and disbursed per month of the period (for the trend chart)."""
    month = func.substr(func.cast(Need.posted_on, Need.purpose.type), 1, 7)
    disbursed = Need.id.in_(
        select(NeedEvent.need_id)
        .join(Offer, Offer.id == NeedEvent.offer_id)
        .where(NeedEvent.event == "disbursed", _offer_clause(scope, filters))
    )
    posted = (
        Need.id.in_(
            select(NeedEvent.need_id)
            .join(Offer, Offer.id == NeedEvent.offer_id)
            .where(NeedEvent.event == "offered", _offer_clause(scope, filters))
        )
        if _offer_scoped(scope, filters)
        else true()
    )
    rows = session.execute(
        select(month, func.sum(case((posted, 1), else_=0)), func.sum(case((disbursed, 1), else_=0)))
        .where(_need_clause(scope, filters))
        .group_by(month)
        .order_by(month)
    ).all()
    return [{"month": m, "posted": int(p or 0), "disbursed": int(d or 0)} for m, p, d in rows]
