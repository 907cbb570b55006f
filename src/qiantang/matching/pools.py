"""Risk-compensation pools (风险补偿资金池), their claims and ledger; interest subsidies (贴息); 联保 checks.

The rules are data (``matching/data/pools.toml``, validated on load: shares add up to 1, the bank keeps
at least 20 %). A claim's computation is kept line by line so that anyone can check it by hand:

    loss            = the loan's outstanding balance when first classed 可疑 or 损失
    pool's share    = Σ split[pool parties] × loss
    pool pays       = min(pool's share, per-loan cap, yearly cap − this year's claims,
                          balance − claims computed or approved but not yet paid)
    shortfall       = pool's share − pool pays   (recorded and shown: nobody pays it from the pool)

Paying is atomic: one conditional UPDATE moves the claim from approved to paid, one takes the amount from
the balance only if the balance covers it (and the database refuses a negative balance). A loan has at
most one claim (a unique constraint), so no loan is compensated twice.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from scipy.sparse import csgraph
from sqlalchemy import false, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan, LoanClassification
from qiantang.errors import Forbidden, NotFound, QiantangError
from qiantang.matching.models import (
    ClaimState,
    JointGroup,
    Offer,
    PoolClaim,
    PoolEntry,
    PoolLoan,
    Product,
    RiskPool,
    Subsidy,
)
from qiantang.standards.loan_class import LoanClass

DEFAULT_CLASSES = (LoanClass.DOUBTFUL, LoanClass.LOSS)  # 可疑、损失 (损失 includes written-off loans)
MIN_BANK_SHARE = 0.20  # 国办发〔2019〕6号: 银行承担的风险责任比例原则上不低于 20 %


class PoolRefused(QiantangError):
    status_code = 409


# --- rules as data --------------------------------------------------------------------------------------
def validate_rules(doc: dict[str, Any]) -> dict[str, Any]:
    """Check the pools' rules; a bad file stops with a Chinese message naming the pool."""
    for p in doc.get("pool", []):
        split = p["split"]
        if abs(sum(split.values()) - 1.0) > 1e-9:
            raise ValueError(f"资金池“{p['name_zh']}”的分担比例合计不等于 100%")
        if split.get("bank", 0.0) < MIN_BANK_SHARE - 1e-12:
            raise ValueError(f"资金池“{p['name_zh']}”中银行分担比例低于 20%（国办发〔2019〕6号）")
        if not any(k.startswith("pool") for k in split):
            raise ValueError(f"资金池“{p['name_zh']}”没有由资金池承担的份额")
        if abs(sum(f["share"] for f in p["funders"]) - 1.0) > 1e-9:
            raise ValueError(f"资金池“{p['name_zh']}”的出资比例合计不等于 100%")
        if p["per_loan_cap"] <= 0 or p["yearly_cap"] <= 0:
            raise ValueError(f"资金池“{p['name_zh']}”的补偿上限必须大于 0")
    return doc


@cache
def rules() -> dict[str, Any]:
    with (resources.files("qiantang.matching") / "data" / "pools.toml").open("rb") as fh:
        return validate_rules(tomllib.load(fh))


def pool_rule(code: str) -> dict[str, Any]:
    for p in rules()["pool"]:
        if p["code"] == code:
            return p
    raise NotFound(f"未找到资金池规则（{code}）", message_en=f"No pool rule {code!r}")


def party_names(zh: bool) -> dict[str, str]:
    if zh:
        return {
            "pool": "资金池",
            "pool_city": "资金池（市级）",
            "pool_district": "资金池（区级）",
            "bank": "银行",
            "guarantor": "担保/保险机构",
        }
    return {
        "pool": "Pool",
        "pool_city": "Pool (city)",
        "pool_district": "Pool (district)",
        "bank": "Bank",
        "guarantor": "Guarantor or insurer",
    }


# --- who sees what: one place for pages, API and exports ---------------------------------------------
def can_see_pools(scope: Scope) -> bool:
    return scope.role != Role.FIRM and scope.role != Role.INSTITUTION_REPORTER


def loan_clause(scope: Scope):
    """SQL filter of the covered loans (and so claims) a user may see: city staff all, a district the loans
    of its firms, a lender its own loans; firms none."""
    if scope.is_citywide:
        return true()
    if scope.role == Role.DISTRICT_OFFICER and scope.district_code:
        return Loan.borrower_id.in_(
            select(Enterprise.id).where(Enterprise.district_code == scope.district_code)
        )
    if scope.role == Role.LENDER and scope.institution_id is not None:
        return Loan.lender_id == scope.institution_id
    return false()


# --- pools and their ledger ---------------------------------------------------------------------------
def sync_pools(session: Session, *, on: date, actor: str | None = None) -> list[RiskPool]:
    """Create the pools of the rules file not yet in the database, with their funders' initial money."""
    have = {p.code: p for p in session.scalars(select(RiskPool))}
    for rule in rules()["pool"]:
        if rule["code"] in have:
            continue
        pool = RiskPool(
            code=rule["code"], name=rule["name_zh"], rules_version=rules()["version"], balance=0.0
        )
        session.add(pool)
        session.flush()
        for f in rule["funders"]:
            contribute(
                session,
                pool=pool,
                funder=f["name_zh"],
                amount=rule["initial_funding"] * f["share"],
                on=on,
                actor=actor,
            )
        have[pool.code] = pool
    return list(have.values())


def contribute(
    session: Session, *, pool: RiskPool, funder: str, amount: float, on: date, actor=None
) -> PoolEntry:
    """A funder pays money into the pool."""
    if amount <= 0:
        raise PoolRefused("出资金额必须大于 0", message_en="A contribution must be positive")
    session.execute(
        update(RiskPool).where(RiskPool.id == pool.id).values(balance=RiskPool.balance + round(amount, 2))
    )
    session.refresh(pool)
    entry = PoolEntry(
        pool_id=pool.id,
        kind="contribution",
        funder=funder,
        amount=round(amount, 2),
        balance_after=pool.balance,
        on=on,
        actor=_name(actor),
    )
    session.add(entry)
    session.flush()
    return entry


def _name(actor) -> str | None:
    return getattr(actor, "username", actor)


def get_pool(session: Session, *, pool_id: int) -> RiskPool:
    pool = session.get(RiskPool, pool_id)
    if pool is None:
        raise NotFound(f"未找到资金池（{pool_id}）", message_en=f"Pool {pool_id} not found")
    return pool


# --- enrolment ---------------------------------------------------------------------------------------
def _product_of(session: Session, loan_id: int) -> Product | None:
    return session.scalar(
        select(Product).join(Offer, Offer.product_id == Product.id).where(Offer.loan_id == loan_id)
    )


def ineligible_reasons(session: Session, *, rule: dict, loan: Loan) -> list[str]:
    """Why a loan may not enter the pool (empty: it may)."""
    reasons = []
    product = _product_of(session, loan.id)
    if product is None:
        reasons.append("不是平台撮合发放的贷款")
    elif not (set(product.policy_tags) & set(rule["policy_tags"]) or product.kind.value in rule["kinds"]):
        reasons.append("产品不属于该资金池支持的政策类别（" + "、".join(rule["policy_tags"]) + "）")
    firm = session.get(Enterprise, loan.borrower_id)
    if rule["sizes"] and (firm.size_class is None or firm.size_class.value not in rule["sizes"]):
        reasons.append("企业规模不在支持范围内")
    if loan.amount > rule["max_amount"]:
        reasons.append(f"贷款金额超过上限 {rule['max_amount'] / 1e4:,.0f} 万元")
    return reasons


def enroll(session: Session, *, pool: RiskPool, loan_id: int, on: date, actor=None) -> PoolLoan:
    """Enrol a loan in a pool after checking the pool's rules; a loan is in at most one pool."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound(f"未找到贷款（{loan_id}）", message_en=f"Loan {loan_id} not found")
    if session.scalar(select(PoolLoan.id).where(PoolLoan.loan_id == loan_id)) is not None:
        raise PoolRefused("该贷款已纳入资金池", message_en="The loan is already covered by a pool")
    reasons = ineligible_reasons(session, rule=pool_rule(pool.code), loan=loan)
    if reasons:
        raise PoolRefused(
            "不能纳入资金池：" + "；".join(reasons),
            message_en="The loan is not eligible: " + "; ".join(reasons),
        )
    covered = PoolLoan(
        pool_id=pool.id,
        loan_id=loan.id,
        amount=loan.amount,
        enrolled_on=on,
        enrolled_by=_name(actor),
        rules_version=rules()["version"],
    )
    session.add(covered)
    session.flush()
    return covered


# --- claims -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compensation:
    shares: dict[str, float]  # party → amount it bears
    pool_amount: float
    shortfall: float
    steps: list[dict[str, Any]]


def compute_compensation(rule: dict, *, loss: float, used_this_year: float, available: float) -> Compensation:
    """The hand-checkable computation (see the module docstring); amounts in 元, rounded to the fen."""
    split = rule["split"]
    pool_parties = [k for k in split if k.startswith("pool")]
    raw = {k: round(v * loss, 2) for k, v in split.items()}
    pool_share = round(sum(raw[k] for k in pool_parties), 2)
    year_left = max(0.0, rule["yearly_cap"] - used_this_year)
    available = max(0.0, available)
    pays = round(max(0.0, min(pool_share, rule["per_loan_cap"], year_left, available)), 2)
    pool_weight = sum(split[k] for k in pool_parties)
    shares = {k: raw[k] for k in split if k not in pool_parties}
    for k in pool_parties:
        shares[k] = round(pays * split[k] / pool_weight, 2)
    steps = [
        {"step": "loss", "amount": round(loss, 2)},
        {"step": "pool_share", "amount": pool_share, "share": round(pool_weight, 4)},
        {"step": "per_loan_cap", "amount": float(rule["per_loan_cap"])},
        {"step": "year_left", "amount": round(year_left, 2)},
        {"step": "available", "amount": round(available, 2)},
        {"step": "pays", "amount": pays},
        {"step": "shortfall", "amount": round(pool_share - pays, 2)},
    ]
    return Compensation(shares=shares, pool_amount=pays, shortfall=round(pool_share - pays, 2), steps=steps)


def default_of(session: Session, loan: Loan) -> tuple[date, LoanClass, float] | None:
    """When the loan was first classed 可疑 or 损失, its class and outstanding balance then (None: never)."""
    row = session.execute(
        select(LoanClassification.as_of, LoanClassification.classification, LoanClassification.balance)
        .where(LoanClassification.loan_id == loan.id, LoanClassification.classification.in_(DEFAULT_CLASSES))
        .order_by(LoanClassification.as_of)
        .limit(1)
    ).first()
    if row is not None:
        return row[0], row[1], float(row[2] if row[2] is not None else loan.balance)
    if loan.classification in DEFAULT_CLASSES:
        return loan.as_of, loan.classification, float(loan.balance)
    return None


def _used_this_year(session: Session, pool_id: int, year: int) -> float:
    return float(
        session.scalar(
            select(func.coalesce(func.sum(PoolClaim.pool_amount), 0)).where(
                PoolClaim.pool_id == pool_id,
                PoolClaim.default_on >= date(year, 1, 1),
                PoolClaim.default_on <= date(year, 12, 31),
            )
        )
        or 0.0
    )


def _reserved(session: Session, pool_id: int) -> float:
    return float(
        session.scalar(
            select(func.coalesce(func.sum(PoolClaim.pool_amount), 0)).where(
                PoolClaim.pool_id == pool_id, PoolClaim.state != ClaimState.PAID
            )
        )
        or 0.0
    )


def compute_claim(session: Session, *, covered: PoolLoan, on: date) -> PoolClaim | None:
    """Compute the claim of one covered loan if it has defaulted and has no claim yet (None otherwise)."""
    loan = session.get(Loan, covered.loan_id)
    default = default_of(session, loan)
    if default is None:
        return None
    if session.scalar(select(PoolClaim.id).where(PoolClaim.loan_id == loan.id)) is not None:
        return None
    pool = session.get(RiskPool, covered.pool_id)
    rule = pool_rule(pool.code)
    when, klass, loss = default
    comp = compute_compensation(
        rule,
        loss=loss,
        used_this_year=_used_this_year(session, pool.id, when.year),
        available=float(pool.balance) - _reserved(session, pool.id),
    )
    claim = PoolClaim(
        pool_id=pool.id,
        loan_id=loan.id,
        default_on=when,
        default_class=klass.value,
        loss=round(loss, 2),
        shares=comp.shares,
        pool_amount=comp.pool_amount,
        shortfall=comp.shortfall,
        steps=comp.steps,
        rules_version=rules()["version"],
        computed_on=on,
    )
    try:
        with session.begin_nested():  # a concurrent detection that got there first wins; this one skips
            session.add(claim)
    except IntegrityError:
        return None
    return claim


def detect_claims(session: Session, *, on: date) -> list[PoolClaim]:
    """Compute a claim for every covered loan classed 可疑/损失 (or written off) that has none yet."""
    covered = session.scalars(
        select(PoolLoan).where(~PoolLoan.loan_id.in_(select(PoolClaim.loan_id))).order_by(PoolLoan.id)
    ).all()
    made = []
    for c in covered:
        claim = compute_claim(session, covered=c, on=on)
        if claim is not None:
            made.append(claim)
    return made


def get_claim(session: Session, *, scope: Scope, claim_id: int) -> PoolClaim:
    claim = session.get(PoolClaim, claim_id)
    if claim is None:
        raise NotFound(f"未找到代偿申请（{claim_id}）", message_en=f"Claim {claim_id} not found")
    if session.scalar(select(Loan.id).where(Loan.id == claim.loan_id, loan_clause(scope))) is None:
        raise Forbidden("无权查看该代偿申请", message_en="You may not see this claim")
    return claim


def approve(session: Session, *, claim_id: int, actor, on: date) -> PoolClaim:
    """City staff approve a computed claim (one conditional UPDATE: a second approval is refused)."""
    done = session.execute(
        update(PoolClaim)
        .where(PoolClaim.id == claim_id, PoolClaim.state == ClaimState.COMPUTED)
        .values(state=ClaimState.APPROVED, approved_by=_name(actor), approved_on=on)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise PoolRefused("该代偿申请已审核或已拨付", message_en="The claim was already approved or paid")
    claim = session.get(PoolClaim, claim_id)
    session.refresh(claim)
    audit.record(
        session,
        action="matching_claim_approve",
        user=actor,
        object_type="matching_pool_claim",
        object_id=claim_id,
    )
    return claim


def pay(session: Session, *, claim_id: int, actor, on: date) -> PoolClaim:
    """Pay an approved claim from the pool, atomically: the claim moves to paid once, and the balance is
    reduced only if it covers the amount. On a refusal the caller rolls back."""
    done = session.execute(
        update(PoolClaim)
        .where(PoolClaim.id == claim_id, PoolClaim.state == ClaimState.APPROVED)
        .values(state=ClaimState.PAID, paid_by=_name(actor), paid_on=on)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise PoolRefused(
            "只有已审核且未拨付的代偿申请可以拨付", message_en="Only an approved, unpaid claim can be paid"
        )
    claim = session.get(PoolClaim, claim_id)
    session.refresh(claim)
    amount = float(claim.pool_amount)
    taken = session.execute(
        update(RiskPool)
        .where(RiskPool.id == claim.pool_id, RiskPool.balance >= amount)
        .values(balance=RiskPool.balance - amount)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise PoolRefused(
            "资金池余额不足，不能拨付", message_en="The pool's balance does not cover the claim"
        )
    pool = session.get(RiskPool, claim.pool_id)
    session.refresh(pool)
    session.add(
        PoolEntry(
            pool_id=pool.id,
            kind="payout",
            claim_id=claim.id,
            amount=-amount,
            balance_after=pool.balance,
            on=on,
            actor=_name(actor),
        )
    )
    session.flush()
    audit.record(
        session,
        action="matching_claim_pay",
        user=actor,
        object_type="matching_pool_claim",
        object_id=claim_id,
    )
    return claim


# --- reading ------------------------------------------------------------------------------------------
def pool_summaries(session: Session, *, scope: Scope) -> list[dict[str, Any]]:
    """Each pool: its rule, balance, covered loans (count, outstanding), leverage, claims and compensation
    paid — the covered figures within the user's scope, the balance and rule for all."""
    out = []
    for pool in session.scalars(select(RiskPool).order_by(RiskPool.id)):
        covered = session.execute(
            select(func.count(PoolLoan.id), func.coalesce(func.sum(Loan.balance), 0))
            .join(Loan, Loan.id == PoolLoan.loan_id)
            .where(PoolLoan.pool_id == pool.id, loan_clause(scope))
        ).one()
        claims = dict(
            session.execute(
                select(PoolClaim.state, func.count(PoolClaim.id))
                .join(Loan, Loan.id == PoolClaim.loan_id)
                .where(PoolClaim.pool_id == pool.id, loan_clause(scope))
                .group_by(PoolClaim.state)
            ).all()
        )
        paid = float(
            session.scalar(
                select(func.coalesce(func.sum(PoolClaim.pool_amount), 0))
                .join(Loan, Loan.id == PoolClaim.loan_id)
                .where(PoolClaim.pool_id == pool.id, PoolClaim.state == ClaimState.PAID, loan_clause(scope))
            )
            or 0.0
        )
        balance = float(pool.balance)
        out.append(
            {
                "pool": pool,
                "rule": pool_rule(pool.code),
                "balance": balance,
                "covered": int(covered[0]),
                "covered_balance": float(covered[1]),
                # Leverage (放大倍数): loans covered ÷ the pool's money, city-wide.
                "leverage": leverage(session, pool=pool),
                "claims": {s: int(claims.get(s, 0)) for s in ClaimState},
                "paid": paid,
            }
        )
    return out


def leverage(session: Session, *, pool: RiskPool) -> float | None:
    """Outstanding balance of the covered loans ÷ the pool's balance (None when the pool is empty)."""
    covered = float(
        session.scalar(
            select(func.coalesce(func.sum(Loan.balance), 0))
            .join(PoolLoan, PoolLoan.loan_id == Loan.id)
            .where(PoolLoan.pool_id == pool.id)
        )
        or 0.0
    )
    return covered / float(pool.balance) if pool.balance and pool.balance > 0 else None


def list_claims(
    session: Session, *, scope: Scope, pool_id: int | None = None
) -> list[tuple[PoolClaim, Loan, str]]:
    stmt = (
        select(PoolClaim, Loan, Enterprise.name)
        .join(Loan, Loan.id == PoolClaim.loan_id)
        .join(Enterprise, Enterprise.id == Loan.borrower_id)
        .where(loan_clause(scope))
        .order_by(PoolClaim.default_on.desc(), PoolClaim.id.desc())
    )
    if pool_id is not None:
        stmt = stmt.where(PoolClaim.pool_id == pool_id)
    return [tuple(r) for r in session.execute(stmt).all()]


def list_covered(session: Session, *, scope: Scope, pool_id: int) -> list[tuple[PoolLoan, Loan, str]]:
    stmt = (
        select(PoolLoan, Loan, Enterprise.name)
        .join(Loan, Loan.id == PoolLoan.loan_id)
        .join(Enterprise, Enterprise.id == Loan.borrower_id)
        .where(PoolLoan.pool_id == pool_id, loan_clause(scope))
        .order_by(PoolLoan.enrolled_on.desc(), PoolLoan.id.desc())
    )
    return [tuple(r) for r in session.execute(stmt).all()]


def ledger(session: Session, *, pool_id: int) -> list[PoolEntry]:
    return list(session.scalars(select(PoolEntry).where(PoolEntry.pool_id == pool_id).order_by(PoolEntry.id)))


# --- interest subsidies (贴息) --------------------------------------------------------------------------
def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, 28))


def subsidy_rule_for(product: Product | None) -> dict | None:
    if product is None:
        return None
    for r in rules().get("subsidy", []):
        if set(product.policy_tags) & set(r["policy_tags"]) or product.kind.value in r["kinds"]:
            return r
    return None


def subsidy_schedule(
    rule: dict, *, amount: float, start: date, maturity: date, used: dict[int, float]
) -> list[dict]:
    """The periods of a subsidy: amount × points ÷ 100 × months in the period ÷ 12, within the loan's life
    and the rule's months, and cut so that the firm's subsidies in a calendar year stay within the cap.
    ``used`` (year → 元 already scheduled for the firm) is updated."""
    rows = []
    months = rule["months"]
    step = rule["period_months"]
    seq = 0
    for offset in range(0, months, step):
        begin = _add_months(start, offset)
        if begin >= maturity:
            break
        end = min(_add_months(start, min(offset + step, months)), maturity)
        span = min(step, months - offset)
        due = round(amount * rule["points"] / 100 * span / 12, 2)
        left = max(0.0, rule["cap_per_firm_year"] - used.get(end.year, 0.0))
        pay = round(min(due, left), 2)
        if pay <= 0:
            continue
        used[end.year] = used.get(end.year, 0.0) + pay
        seq += 1
        rows.append(
            {"seq": seq, "period_start": begin, "period_end": end, "points": rule["points"], "amount": pay}
        )
    return rows


def schedule_subsidy(session: Session, *, loan: Loan) -> list[Subsidy]:
    """Write the subsidy schedule of a platform loan whose product qualifies (nothing if it has one)."""
    if session.scalar(select(Subsidy.id).where(Subsidy.loan_id == loan.id).limit(1)) is not None:
        return []
    rule = subsidy_rule_for(_product_of(session, loan.id))
    if rule is None:
        return []
    used = dict(
        session.execute(
            select(func.extract("year", Subsidy.period_end).label("y"), func.sum(Subsidy.amount))
            .where(Subsidy.enterprise_id == loan.borrower_id)
            .group_by("y")
        ).all()
    )
    used = {int(k): float(v) for k, v in used.items()}
    rows = [
        Subsidy(
            loan_id=loan.id,
            enterprise_id=loan.borrower_id,
            rule=rule["code"],
            rules_version=rules()["version"],
            **r,
        )
        for r in subsidy_schedule(
            rule, amount=float(loan.amount), start=loan.start_date, maturity=loan.maturity_date, used=used
        )
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_subsidies(
    session: Session, *, scope: Scope, enterprise_id: int | None = None
) -> list[tuple[Subsidy, Loan, str]]:
    stmt = (
        select(Subsidy, Loan, Enterprise.name)
        .join(Loan, Loan.id == Subsidy.loan_id)
        .join(Enterprise, Enterprise.id == Subsidy.enterprise_id)
        .where(loan_clause(scope) if enterprise_id is None else Subsidy.enterprise_id == enterprise_id)
        .order_by(Subsidy.loan_id, Subsidy.seq)
    )
    return [tuple(r) for r in session.execute(stmt).all()]


# --- 联保 groups checked against the guarantee network ---------------------------------------------------
def check_joint_group(session: Session, *, member_ids: list[int], as_of: date | None = None) -> list[str]:
    """Why a proposed 联保 group must be refused (empty: it may be accepted).

    Members guarantee each other, so an existing chain of guarantees from one member to another (directly
    or through other firms) would be closed into a loop (担保圈) by the new group; a member in a guarantee
    group graded red by the latest network analysis would join the new group to that red group.
    """
    from qiantang.network.models import GuaranteeGroup, NetworkNode
    from qiantang.network.service import latest_run, load_network

    names = dict(
        session.execute(select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(member_ids))).all()
    )
    reasons = []
    net = load_network(session, as_of=as_of)
    nodes = net.node_of(member_ids)
    member_of = {int(n): eid for n, eid in zip(nodes, member_ids, strict=True) if n >= 0}
    if len(member_of) >= 2 and net.edges.m:
        matrix = net.edges.matrix()
        for start, eid in member_of.items():
            order, pred = csgraph.breadth_first_order(matrix, start, directed=True, return_predecessors=True)
            for node in order[1:]:
                if int(node) in member_of:
                    path = [int(node)]
                    while path[-1] != start:
                        path.append(int(pred[path[-1]]))
                    chain = [
                        names.get(int(net.enterprise_ids[p]))
                        or _firm_name(session, int(net.enterprise_ids[p]))
                        for p in reversed(path)
                    ]
                    reasons.append(
                        "现有担保链 "
                        + " → ".join(chain)
                        + f" 已从{names[eid]}通向{names[member_of[int(node)]]}；"
                        "组成联保后两者互相担保，将形成担保圈闭环"
                    )
    run = latest_run(session)
    if run is not None:
        red = session.execute(
            select(NetworkNode.enterprise_id, GuaranteeGroup.id)
            .join(GuaranteeGroup, GuaranteeGroup.id == NetworkNode.group_id)
            .where(
                NetworkNode.run_id == run.id,
                NetworkNode.enterprise_id.in_(member_ids),
                GuaranteeGroup.risk_level == "red",
            )
        ).all()
        for eid, gid in red:
            reasons.append(
                f"{names[eid]}所在担保圈（编号 {gid}）风险等级为红色，新联保小组将并入高风险担保圈"
            )
    return reasons


def _firm_name(session: Session, enterprise_id: int) -> str:
    return session.scalar(select(Enterprise.name).where(Enterprise.id == enterprise_id)) or str(enterprise_id)


def propose_joint_group(
    session: Session, *, name: str, usccs: list[str], amount: float, scope: Scope, actor, on: date
) -> JointGroup:
    """Check and record a proposed 联保 group: accepted, or refused with the reasons (both are kept)."""
    usccs = [u.strip().upper() for u in usccs if u.strip()]
    errors = []
    if not name.strip():
        errors.append("请填写联保小组名称")
    if len(set(usccs)) < 2:
        errors.append("联保小组至少需要两家企业")
    if amount <= 0:
        errors.append("每户担保金额必须大于 0")
    firms = {e.uscc: e for e in session.scalars(select(Enterprise).where(Enterprise.uscc.in_(usccs)))}
    missing = [u for u in usccs if u not in firms]
    if missing:
        errors.append("未找到企业：" + "、".join(missing))
    if errors:
        raise PoolRefused("；".join(errors), message_en="; ".join(errors))
    members = [firms[u] for u in dict.fromkeys(usccs)]
    districts = {e.district_code for e in members}
    if scope.role == Role.DISTRICT_OFFICER and districts != {scope.district_code}:
        raise Forbidden(
            "区级用户只能为本区企业组建联保小组",
            message_en="A district officer may group only its district's firms",
        )
    ids = [e.id for e in members]
    reasons = check_joint_group(session, member_ids=ids)
    group = JointGroup(
        name=name.strip(),
        district_code=members[0].district_code,
        members=ids,
        amount=amount,
        accepted=not reasons,
        reasons=reasons,
        proposed_by=_name(actor),
        proposed_on=on,
    )
    session.add(group)
    session.flush()
    return group


def list_joint_groups(session: Session, *, scope: Scope) -> list[JointGroup]:
    stmt = select(JointGroup).order_by(JointGroup.id.desc())
    if not scope.is_citywide:
        stmt = stmt.where(JointGroup.district_code == (scope.district_code or "-"))
    return list(session.scalars(stmt))


# --- the firm's profile (一企一档) -----------------------------------------------------------------------
def firm_panel(session: Session, *, enterprise_id: int) -> dict[str, Any]:
    """The firm's needs with their outcomes, its loans' pool coverage and claims, and its subsidies."""
    from qiantang.matching.models import Need

    needs = list(
        session.scalars(
            select(Need).where(Need.enterprise_id == enterprise_id).order_by(Need.posted_on.desc())
        )
    )
    outcomes = {}
    for need in needs:
        best = [
            o
            for o in need.offers
            if o.state.value
            in ("disbursed", "approved", "chosen", "contacted", "reviewing", "claimed", "declined")
        ]
        outcomes[need.id] = best
    covered = session.execute(
        select(PoolLoan, RiskPool.name, PoolClaim)
        .join(Loan, Loan.id == PoolLoan.loan_id)
        .join(RiskPool, RiskPool.id == PoolLoan.pool_id)
        .outerjoin(PoolClaim, PoolClaim.loan_id == PoolLoan.loan_id)
        .where(Loan.borrower_id == enterprise_id)
    ).all()
    subsidies = list(
        session.scalars(
            select(Subsidy)
            .where(Subsidy.enterprise_id == enterprise_id)
            .order_by(Subsidy.loan_id, Subsidy.seq)
        )
    )
    return {"needs": needs, "outcomes": outcomes, "covered": covered, "subsidies": subsidies}


__all__ = [
    "Compensation",
    "PoolRefused",
    "approve",
    "check_joint_group",
    "compute_compensation",
    "detect_claims",
    "enroll",
    "pay",
    "rules",
    "validate_rules",
]
