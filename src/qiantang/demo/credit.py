"""Loans of banks and small-loan companies to enterprises, the guarantee network, and loan quality.

- Borrowers are drawn by size; larger firms borrow more often, more loans and larger ones.
- The guarantee network is a set of disjoint groups (担保圈) with a heavy-tailed size distribution:
  one-way pairs and trees with hub guarantors, mutual pairs (互保), rings (连环担保), joint-guarantee
  groups (联保), long chains (担保链) and a giant circle. Firms are grouped by district and industry.
- A latent credit quality per firm (industry, size, age, a random effect shared by the firm's guarantee
  group and its own noise) orders firms; the worst go non-performing and the next ones 关注, with the cut
  chosen so that the NPL ratio by balance hits its target. Days past due and the five-tier class follow
  and never beat the days-past-due floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qiantang.demo import calibration as cal
from qiantang.demo.calendar import AS_OF, day, years_of
from qiantang.demo.enterprises import SECTION_CODES, EnterpriseResult
from qiantang.demo.institutions import BANK_TYPES
from qiantang.standards.loan_class import LoanClass, floor_for_days_past_due_array

NPL_TARGET = 0.0145  # 不良贷款率 by balance, 2025-12-31 (Hangzhou ≈ 1 %; plan baseline 2015: 1.84 %)
WATCH_TARGET = 0.018  # 关注 from firms in trouble (plus ~0.8 % of loans flagged at random)
SIZE_CODES = ("micro", "small", "medium", "large")
_P_BORROW = np.array([0.28, 0.62, 0.85, 0.95])
_MEAN_LOANS = np.array([2.6, 5.5, 12.0, 30.0])
_AMOUNT = np.array([[np.log(50), 0.9], [np.log(150), 0.9], [np.log(500), 1.0], [np.log(2500), 1.1]])
_P_PARTICIPATE = np.array([0.75, 0.9, 0.9, 0.7])
_TERMS = np.array([0.5, 1.0, 2.0, 3.0, 5.0])
_TERM_P = np.array([0.12, 0.48, 0.15, 0.12, 0.13])
_BANK_TYPE_WEIGHT = {
    "bank_large": 0.30,
    "bank_joint_stock": 0.18,
    "bank_city": 0.22,
    "bank_rural": 0.16,
    "bank_village": 0.03,
    "bank_policy": 0.02,
    "bank_private": 0.07,
    "bank_foreign": 0.02,
}
_SECTION_EFFECT = {"C": -0.1, "E": -0.3, "K": -0.45, "F": -0.1, "H": -0.2, "G": -0.05, "I": 0.1, "M": 0.1}
_SIZE_EFFECT = np.array([-0.35, -0.1, 0.25, 0.6])
CLASS_VALUES = np.array([c.value for c in LoanClass], dtype=object)
KINDS = np.array(["one_way", "mutual", "joint"], dtype=object)
ONE_WAY, MUTUAL, JOINT = 0, 1, 2


@dataclass
class CreditResult:
    loans: dict[str, object]
    guarantees: dict[str, object]
    summary: dict[str, object]
    # Per enterprise (index = id − 1): the latent credit quality and, for non-performing firms, the day
    # they stopped paying (NaT otherwise). The financial statements (demo/financials.py) follow them.
    firm_quality: np.ndarray | None = None
    firm_default_on: np.ndarray | None = None
    class_history: dict[str, object] | None = None  # loan_classifications rows (year-ends)


def digit_text(prefix: str, parts: list[tuple[np.ndarray, int]], chunk: int = 500_000) -> np.ndarray:
    """Fixed-width codes like "HZ0123201900000042" built from digits, without Python strings per row."""
    n = len(parts[0][0])
    width = len(prefix) + sum(w for _, w in parts)
    out = np.empty((n, width), dtype=np.uint32)
    out[:, : len(prefix)] = np.array([ord(c) for c in prefix], dtype=np.uint32)
    for begin in range(0, n, chunk):
        end = min(n, begin + chunk)
        col = len(prefix)
        for values, w in parts:
            v = np.asarray(values[begin:end], dtype=np.int64)[:, None]
            out[begin:end, col : col + w] = (v // 10 ** np.arange(w - 1, -1, -1) % 10 + 48).astype(np.uint32)
            col += w
    return out.view(f"<U{width}").reshape(n)


# --- Borrowers and their loan counts -----------------------------------------------------------------
def _borrowers(rng: np.random.Generator, ent: EnterpriseResult, target_loans: int):
    n = len(ent.size)
    size_ix = np.select([ent.size == s for s in SIZE_CODES], range(4), default=0)
    listed = np.isin(ent.columns["listing_status"], ("listed_domestic", "listed_overseas"))
    eligible = np.isnat(ent.columns["deregistered_on"]) & (ent.columns["founded_on"] <= day("2025-06-30"))
    p = np.where(listed, 0.97, _P_BORROW[size_ix])
    firms = np.nonzero(eligible & (rng.random(n) < p))[0]
    extra = np.where(listed[firms], 24.0, _MEAN_LOANS[size_ix[firms]] - 1.0)
    mult = max(target_loans - len(firms), 0) / extra.sum()
    lam = extra * mult * rng.gamma(1.5, 1 / 1.5, len(firms))
    counts = 1 + rng.poisson(lam)
    diff = int(counts.sum()) - target_loans
    if diff > 0:  # drop loans, never a borrower's only one
        owner = np.repeat(np.arange(len(firms)), counts)
        first = np.r_[0, np.cumsum(counts)[:-1]]
        removable = np.nonzero(np.arange(len(owner)) != first[owner])[0]
        drop = rng.choice(removable, size=diff, replace=False)
        counts -= np.bincount(owner[drop], minlength=len(firms))
    elif diff < 0:
        add = rng.choice(len(firms), size=-diff, p=counts / counts.sum())
        counts += np.bincount(add, minlength=len(firms))
    return firms, counts, size_ix, listed


# --- The guarantee network ---------------------------------------------------------------------------
def _component_plan(rng: np.random.Generator, scale: cal.Scale, participants: int):
    """(type, size) of every guarantee group; types: 0 tree, 1 ring, 2 chain, 3 star, 4 mutual, 5 joint."""
    n = scale.enterprises
    specs = [
        (2, rng.integers(10, 31, max(3, round(n * 0.0004)))),
        (1, rng.choice([3, 4, 5, 6], size=max(3, round(n * 0.0012)), p=[0.45, 0.25, 0.18, 0.12])),
        (5, rng.choice([3, 4, 5], size=max(3, round(n * 0.002)), p=[0.45, 0.35, 0.2])),
        (4, np.full(max(5, round(n * 0.01)), 2)),
        (3, np.clip(3 + np.floor(rng.pareto(1.3, max(2, round(n * 0.003))) * 4), 3, 80).astype(np.int64)),
        (0, np.array([scale.giant_component])),
    ]
    types = np.concatenate([np.full(len(s), t) for t, s in specs])
    sizes = np.concatenate([s for _, s in specs]).astype(np.int64)
    rest = participants - int(sizes.sum())
    if rest < 0:
        raise ValueError("担保网络参与企业不足 / not enough participants for the guarantee network")
    cap = max(scale.giant_component // 2, 10)
    draws = np.minimum(np.floor(2 * rng.random(rest) ** (-1 / 1.5)).astype(np.int64), cap)
    cum = np.cumsum(draws)
    k = int(np.searchsorted(cum, rest))
    trees = draws[: k + 1].copy()
    trees[-1] -= int(cum[k] - rest) if k < len(cum) else 0
    if trees[-1] < 2 and len(trees) > 1:  # a single leftover firm joins the previous group
        trees[-2] += trees[-1]
        trees = trees[:-1]
    types = np.concatenate([types, np.zeros(len(trees), dtype=np.int64)])
    sizes = np.concatenate([sizes, trees])
    order = rng.permutation(len(types))
    return types[order], sizes[order]


def _network(
    rng: np.random.Generator,
    scale: cal.Scale,
    ent: EnterpriseResult,
    firms: np.ndarray,
    size_ix: np.ndarray,
    listed: np.ndarray,
):
    """Directed edges guarantor → borrower between borrowing firms, with kind and joint-group id."""
    p = np.where(listed[firms], 0.3, _P_PARTICIPATE[size_ix[firms]])
    part = firms[rng.random(len(firms)) < p]
    district_ix = np.unique(ent.columns["district_code"].astype(str), return_inverse=True)[1]
    section_ix = np.searchsorted(np.array(SECTION_CODES), ent.columns["industry_section"].astype(str))
    key = district_ix[part] * 100.0 + section_ix[part] + rng.random(len(part))
    shuffle = rng.random(len(part)) < 0.12  # related firms across districts and industries
    key[shuffle] = rng.random(int(shuffle.sum())) * 1400.0
    part = part[np.argsort(key, kind="stable")]
    types, sizes = _component_plan(rng, scale, len(part))
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    comp = np.repeat(np.arange(len(sizes)), sizes)
    local = np.arange(len(part)) - offsets[comp]
    ctype, csize = types[comp], sizes[comp]
    g_list, b_list, k_list, grp_list = [], [], [], []

    def add(g, b, kind, group=None):
        g_list.append(g)
        b_list.append(b)
        k_list.append(np.full(len(g), kind))
        grp_list.append(np.full(len(g), -1) if group is None else group)

    node = np.arange(len(part))
    # Trees (incl. one-way pairs and the giant circle): preferential attachment → hub guarantors.
    m = (ctype == 0) & (local >= 1)
    parent = offsets[comp[m]] + np.floor(local[m] * rng.random(int(m.sum())) ** 1.8).astype(np.int64)
    down = rng.random(int(m.sum())) < 0.65
    add(np.where(down, parent, node[m]), np.where(down, node[m], parent), ONE_WAY)
    recip = rng.random(int(m.sum())) < 0.07
    add(np.where(down, node[m], parent)[recip], np.where(down, parent, node[m])[recip], ONE_WAY)
    big = np.nonzero((types == 0) & (sizes >= 4))[0]
    extra = rng.binomial(sizes[big], 0.5)
    ec = np.repeat(big, extra)
    i = np.floor(rng.random(len(ec)) * sizes[ec]).astype(np.int64)
    j = (i + 1 + np.floor(rng.random(len(ec)) * (sizes[ec] - 1)).astype(np.int64)) % sizes[ec]
    add(offsets[ec] + i, offsets[ec] + j, ONE_WAY)
    # Rings: j → j+1 (mod size). Chains: j → j+1. Stars: the hub guarantees everyone.
    m = ctype == 1
    add(node[m], offsets[comp[m]] + (local[m] + 1) % csize[m], ONE_WAY)
    m = (ctype == 2) & (local < csize - 1)
    add(node[m], node[m] + 1, ONE_WAY)
    m = (ctype == 3) & (local >= 1)
    add(offsets[comp[m]], node[m], ONE_WAY)
    # Mutual pairs.
    m = (ctype == 4) & (local == 0)
    add(np.r_[node[m], node[m] + 1], np.r_[node[m] + 1, node[m]], MUTUAL)
    # Joint-guarantee groups: every member guarantees every other member.
    for s in (3, 4, 5):
        groups = np.nonzero((types == 5) & (sizes == s))[0]
        a, b = np.nonzero(~np.eye(s, dtype=bool))
        add(
            (offsets[groups][:, None] + a).ravel(),
            (offsets[groups][:, None] + b).ravel(),
            JOINT,
            np.repeat(groups, len(a)),
        )
    g = np.concatenate(g_list)
    b = np.concatenate(b_list)
    kind = np.concatenate(k_list)
    group = np.concatenate(grp_list)
    # Drop duplicate edges (keep the first), then label every reciprocal pair 互保 (joint stays joint).
    code = g * len(part) + b
    _, first = np.unique(code, return_index=True)
    first = np.sort(first)
    g, b, kind, group, code = g[first], b[first], kind[first], group[first], code[first]
    reciprocal = np.isin(b * len(part) + g, code) & (kind != JOINT)
    kind[reciprocal] = MUTUAL
    comp_of_firm = np.full(len(ent.size), -1, dtype=np.int64)
    comp_of_firm[part] = comp
    summary = {
        "guarantee_groups": len(sizes),
        "largest_group": int(sizes.max()),
        "participants": len(part),
        "edges": len(g),
        "chains": int((types == 2).sum()),
        "rings": int((types == 1).sum()),
        "joint_groups": int((types == 5).sum()),
    }
    return part[g], part[b], kind, group, comp_of_firm, summary


# --- Loans -------------------------------------------------------------------------------------------
def _lenders(
    rng: np.random.Generator, inst: dict, start_years: np.ndarray, small_loan: np.ndarray
) -> np.ndarray:
    """A lender open throughout the loan's start year: a bank branch/HQ, or a small-loan company."""
    types = inst["type_code"].astype(str)
    level = inst["level"].astype(str)
    est, dereg = inst["established_on"], inst["deregistered_on"]
    bank = np.isin(types, BANK_TYPES) & np.isin(level, ("branch", "hq"))
    slc = types == "small_loan"
    weight = np.array([_BANK_TYPE_WEIGHT.get(t, 0.0) for t in types])
    out = np.zeros(len(start_years), dtype=np.int64)
    for year in np.unique(start_years).tolist():
        first, last = day(f"{year}-01-01"), day(f"{year}-12-31")
        open_all = (est <= first) & ~(dereg <= last)
        rows = np.nonzero(start_years == year)[0]
        banks = np.nonzero(bank & open_all)[0]
        if banks.size == 0:
            banks = np.nonzero(bank)[0]
        tix = np.unique(types[banks], return_inverse=True)[1]
        w = weight[banks] / np.bincount(tix)[tix]
        pick = banks[rng.choice(len(banks), size=len(rows), p=w / w.sum())]
        slcs = np.nonzero(slc & open_all)[0]
        use_slc = small_loan[rows] & (len(slcs) > 0)
        if len(slcs):
            pick[use_slc] = slcs[rng.integers(0, len(slcs), int(use_slc.sum()))]
        out[rows] = inst["id"][pick]
    return out


@dataclass
class _Book:
    """Every loan under two scenarios: the firm keeps paying, or it stops paying on its default day."""

    owner: np.ndarray
    small_lender: np.ndarray
    term_days: np.ndarray
    amount: np.ndarray
    start: np.ndarray
    maturity: np.ndarray
    start_def: np.ndarray
    maturity_def: np.ndarray
    bal_norm: np.ndarray
    bal_def: np.ndarray
    amortising: np.ndarray


def _quality(rng, ent: EnterpriseResult, comp_of_firm: np.ndarray, size_ix: np.ndarray, listed: np.ndarray):
    """Latent credit quality: industry, size, age, the guarantee group's shared effect and own noise."""
    n_ent = len(ent.size)
    n_comp = int(comp_of_firm.max()) + 1
    group_effect = np.r_[rng.standard_normal(n_comp), 0.0][comp_of_firm]  # index -1 → 0
    section = ent.columns["industry_section"].astype(str)
    effect = np.array([_SECTION_EFFECT.get(s, 0.0) for s in SECTION_CODES])
    age = ent.age_years
    return (
        effect[np.searchsorted(np.array(SECTION_CODES), section)]
        + _SIZE_EFFECT[size_ix]
        + np.where(listed, 0.3, 0.0)
        + np.select([age < 3, age > 8], [-0.35, 0.15], 0.0)
        + 0.6 * group_effect
        + 0.8 * rng.standard_normal(n_ent)
    )


def _default_days(rng, n_ent: int) -> np.ndarray:
    """Days past due if the firm defaults: 10 % impaired but ≤ 60 days, else 91–270, 271–360, 361–1100."""
    return np.select(
        [rng.random(n_ent) < 0.1, rng.random(n_ent) < 0.55 / 0.9, rng.random(n_ent) < 0.15 / 0.35],
        [rng.integers(0, 61, n_ent), rng.integers(91, 271, n_ent), rng.integers(271, 361, n_ent)],
        rng.integers(361, 1101, n_ent),
    )


def _book(rng, ent: EnterpriseResult, firms, counts, size_ix, listed, dpd_firm) -> _Book:
    """Amounts, terms and dates of every loan (larger firms borrow more and larger), both scenarios."""
    n = int(counts.sum())
    owner = np.repeat(firms, counts)
    lsize = size_ix[owner]
    small_lender = (lsize <= 1) & (rng.random(n) < 0.07)
    term = np.where(small_lender, rng.choice([0.5, 1.0], n), rng.choice(_TERMS, n, p=_TERM_P))
    term_days = np.round(term * 365.25).astype(np.int64)
    del term
    mu = np.where(listed[owner], np.log(8_000), _AMOUNT[lsize, 0])
    amount_wan = np.exp(mu + _AMOUNT[lsize, 1] * rng.standard_normal(n))
    del mu
    amount_wan = np.where(
        small_lender,
        np.clip(np.exp(rng.normal(np.log(60), 0.8, n)), 5, 1_000),
        np.clip(amount_wan, 1, 200_000),
    )
    amount = np.maximum(np.round(amount_wan), 1) * 10_000.0
    del amount_wan
    floor_start = ent.columns["founded_on"][owner] + 90
    active = rng.random(n) < 0.65
    u = rng.random(n)
    old = rng.random(n) < 0.015  # a few loans from 2013–2015
    earliest = np.maximum(np.where(old, day("2013-01-01"), day("2016-01-01")), floor_start)
    latest = AS_OF - term_days - 1
    active |= latest < earliest
    span = np.maximum((latest - earliest).astype(np.int64) + 1, 1)
    start = np.where(
        active,
        AS_OF - np.floor(u * term_days).astype(np.int64),
        earliest + np.floor(u * span).astype(np.int64),
    )
    start = np.maximum(start, floor_start)
    del active, u, old, earliest, latest, span
    amortising = rng.random(n) < 0.4
    d_loan = AS_OF - dpd_firm[owner]
    # If the firm defaults, loans it would have taken after its default day start earlier instead.
    start_def = np.where(
        start >= d_loan,
        np.maximum(d_loan - 30 - np.floor(rng.random(n) * 700).astype(np.int64), floor_start - 60),
        start,
    )
    start_def = np.minimum(start_def, d_loan - 1)
    del floor_start
    maturity = start + term_days
    maturity_def = start_def + term_days

    def balance(mat, at):
        remaining = np.clip((mat - at).astype(np.int64) / term_days, 0.05, 1.0)
        return np.where(amortising, np.ceil(amount * remaining), amount)

    bal_norm = np.where(maturity >= AS_OF, balance(maturity, AS_OF), 0.0)
    caught = (start_def < d_loan) & (maturity_def >= d_loan)  # outstanding when the firm stopped paying
    bal_def = np.where(caught, balance(maturity_def, np.maximum(d_loan, start_def)), 0.0)
    return _Book(
        owner,
        small_lender,
        term_days,
        amount,
        start,
        maturity,
        start_def,
        maturity_def,
        bal_norm,
        bal_def,
        amortising,
    )


def _states(book: _Book, quality, firms, can_default, n_ent: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-performing and 关注 firms: worst quality first, until the balance targets are met."""
    firm_norm = np.bincount(book.owner, weights=book.bal_norm, minlength=n_ent)
    firm_def = np.bincount(book.owner, weights=book.bal_def, minlength=n_ent)
    is_borrower = np.zeros(n_ent, dtype=bool)
    is_borrower[firms] = True
    order = np.argsort(quality, kind="stable")
    order = order[is_borrower[order]]
    total = firm_norm.sum()
    # Firms so big that one of them alone would overshoot the target are left out (few, and rarely bad).
    ok = can_default[order] & (firm_def[order] > 0) & (firm_def[order] <= 0.2 * NPL_TARGET * total)
    cand = order[ok]
    cum_def = np.cumsum(firm_def[cand])
    cum_norm = np.cumsum(firm_norm[cand])
    ratio = cum_def / (cum_def + total - cum_norm)
    k = min(int(np.searchsorted(ratio, NPL_TARGET)) + 1, len(cand))
    npl_firm = np.zeros(n_ent, dtype=bool)
    npl_firm[cand[:k]] = True
    total_final = total - cum_norm[k - 1] + cum_def[k - 1]
    ok = ~npl_firm[order] & (firm_norm[order] > 0) & (firm_norm[order] <= 0.2 * WATCH_TARGET * total)
    rest = order[ok]
    m = int(np.searchsorted(np.cumsum(firm_norm[rest]), WATCH_TARGET * total_final)) + 1
    watch_firm = np.zeros(n_ent, dtype=bool)
    watch_firm[rest[:m]] = True
    return npl_firm, watch_firm


def _classify(rng, book: _Book, npl_firm, watch_firm, dpd_firm):
    """Final dates, balances, days past due and class (rank 0 正常 … 4 损失) of every loan."""
    n = len(book.owner)
    npl_loan = npl_firm[book.owner]
    watch_loan = watch_firm[book.owner]
    start = np.where(npl_loan, book.start_def, book.start)
    maturity = np.where(npl_loan, book.maturity_def, book.maturity)
    bal = np.where(npl_loan, book.bal_def, book.bal_norm)
    live = bal > 0
    # Non-performing: days since the firm stopped paying; the class never beats the floor, sometimes worse.
    firm_dpd = dpd_firm[book.owner]
    dpd = np.where(npl_loan & live, firm_dpd, 0)
    floor = floor_for_days_past_due_array(dpd)
    worse = (rng.random(n) < 0.1).astype(np.int64)
    cls = np.where(npl_loan & live, np.maximum(np.maximum(floor, 2), np.minimum(floor + worse, 4)), 0)
    # 关注: overdue up to 90 days, or not overdue but with other adverse signs (借新还旧 …).
    watch_dpd = np.where(rng.random(n) < 0.6, rng.integers(8, 91, n), 0)
    watch_dpd = np.minimum(watch_dpd, (AS_OF - start).astype(np.int64))
    dpd = np.where(watch_loan & live, watch_dpd, dpd)
    cls = np.where(watch_loan & live, 1, cls)
    normal = ~npl_loan & ~watch_loan & live
    technical = normal & (rng.random(n) < 0.015)  # 1–7 days for operational reasons stay 正常
    dpd = np.where(technical, rng.integers(1, 8, n), dpd)
    cls = np.where(normal & ~technical & (rng.random(n) < 0.008), 1, cls)
    if np.any(cls < floor_for_days_past_due_array(dpd)):
        raise AssertionError("loan class better than the days-past-due floor")
    return start, maturity, bal, dpd, cls


def build_credit(
    rng: np.random.Generator, scale: cal.Scale, ent: EnterpriseResult, inst: dict
) -> CreditResult:
    """Loans and guarantees of the demo city with classes as of 2025-12-31."""
    n_ent = len(ent.size)
    firms, counts, size_ix, listed = _borrowers(rng, ent, scale.loans)
    g_firm, b_firm, kind, group, comp_of_firm, net_summary = _network(rng, scale, ent, firms, size_ix, listed)
    quality = _quality(rng, ent, comp_of_firm, size_ix, listed)
    dpd_firm = _default_days(rng, n_ent)
    can_default = (AS_OF - ent.columns["founded_on"]).astype(np.int64) - 200 > dpd_firm
    book = _book(rng, ent, firms, counts, size_ix, listed, dpd_firm)
    npl_firm, watch_firm = _states(book, quality, firms, can_default, n_ent)
    start, maturity, bal, dpd, cls = _classify(rng, book, npl_firm, watch_firm, dpd_firm)
    owner, amount, small_lender = book.owner, book.amount, book.small_lender
    amortising, term_days = book.amortising, book.term_days
    del book
    lender = _lenders(rng, inst, years_of(start), small_lender)

    # Sort loans by borrower and start date; ids follow.
    n = len(owner)
    order = np.lexsort((start, owner))
    owner, start, maturity, amount, bal, dpd, cls, lender, amortising, term_days = (
        a[order] for a in (owner, start, maturity, amount, bal, dpd, cls, lender, amortising, term_days)
    )
    del order
    loan_ids = np.arange(1, n + 1, dtype=np.int64)
    first_loan = np.full(n_ent, -1, dtype=np.int64)
    n_loans = np.bincount(owner, minlength=n_ent)
    first_loan[firms] = np.searchsorted(owner, firms)

    guarantees, g_summary = _guarantees(
        rng,
        scale,
        inst,
        g_firm,
        b_firm,
        kind,
        group,
        first_loan,
        n_loans,
        owner,
        amount,
        start,
        maturity,
        size_ix,
    )
    guaranteed = np.zeros(n, dtype=bool)
    guaranteed[guarantees["loan_id"] - 1] = True
    mode = rng.choice(
        np.array(["credit", "mortgage", "pledge", "guarantee"], dtype=object),
        size=n,
        p=[0.27, 0.5, 0.13, 0.1],
    )
    mode[guaranteed] = "guarantee"
    loans = {
        "id": loan_ids,
        "contract_no": digit_text("HZ", [(lender, 4), (years_of(start), 4), (loan_ids, 8)]),
        "lender_id": lender,
        "borrower_id": owner + 1,
        "amount": amount,
        "balance": bal,
        "start_date": start,
        "maturity_date": maturity,
        "guarantee_mode": mode,
        "classification": CLASS_VALUES[cls],
        "days_past_due": dpd,
        "as_of": np.full(n, AS_OF),
    }
    default_on = np.where(npl_firm, AS_OF - dpd_firm, np.datetime64("NaT")).astype("datetime64[D]")
    history = class_history(
        start=start,
        maturity=maturity,
        amount=amount,
        balance=bal,
        cls=cls,
        dpd=dpd,
        amortising=amortising,
        term_days=term_days,
        default_on=default_on[owner],
    )
    live_bal = bal.sum()
    summary = {
        **net_summary,
        **g_summary,
        "loans_outstanding": int((bal > 0).sum()),
        "npl_ratio_pct": round(float(bal[cls >= 2].sum() / live_bal * 100), 3),
        "special_mention_pct": round(float(bal[cls == 1].sum() / live_bal * 100), 3),
        "loan_balance_yi": round(float(live_bal / 1e8), 1),
        "small_loan_company_loans": int(small_lender.sum()),
        "guaranteed_loan_share": round(float(guaranteed.mean()), 4),
    }
    summary["class_history_rows"] = len(history["loan_id"])
    return CreditResult(
        loans, guarantees, summary, firm_quality=quality, firm_default_on=default_on, class_history=history
    )


HISTORY_YEARS = range(2016, 2026)  # year-end classifications 2016-12-31 … 2025-12-31 (the current one)
WATCH_BEFORE_DEFAULT = 180  # days before a firm stops paying from which its loans are classed 关注


def class_history(
    *, start, maturity, amount, balance, cls, dpd, amortising, term_days, default_on
) -> dict[str, np.ndarray]:
    """Every loan's class at each year-end it was outstanding, from its latent path; the last row
    (2025-12-31) is its current class. A firm that stops paying on day d: its loans are 正常 until
    ``WATCH_BEFORE_DEFAULT`` days before d, 关注 until d, then classed by the days past due at the
    year-end (never better than the floor, never worse than the current class), the balance frozen at
    what was owed on d. Other loans: 正常 before 2025-12-31, balance on their repayment schedule."""
    n = len(start)
    npl = (cls >= 2) & (balance > 0)
    rows_loan, rows_day = [], []
    for year in HISTORY_YEARS:
        ye = np.datetime64(f"{year}-12-31", "D")
        on = (start <= ye) & ((maturity >= ye) | (npl & (ye <= AS_OF)))
        if ye == AS_OF:
            on = (start <= ye) & (balance > 0)
        idx = np.flatnonzero(on)
        rows_loan.append(idx)
        rows_day.append(np.full(len(idx), ye))
    loan = np.concatenate(rows_loan)
    at = np.concatenate(rows_day)
    current = at == AS_OF
    d = default_on[loan]
    has_d = ~np.isnat(d)
    days_after = np.where(has_d, (at - np.where(has_d, d, at)).astype(np.int64), -1)
    defaulted = npl[loan] & has_d & (days_after >= 0)
    row_dpd = np.where(defaulted, np.maximum(days_after, 0), 0)
    row_cls = np.where(
        defaulted, np.minimum(cls[loan], np.maximum(floor_for_days_past_due_array(row_dpd), 1)), 0
    )
    soon = npl[loan] & has_d & (days_after < 0) & (days_after >= -WATCH_BEFORE_DEFAULT)
    row_cls = np.where(soon, 1, row_cls)
    remaining = np.clip((maturity[loan] - at).astype(np.int64) / term_days[loan], 0.05, 1.0)
    scheduled = np.where(amortising[loan], np.ceil(amount[loan] * remaining), amount[loan])
    row_bal = np.where(defaulted, balance[loan], scheduled)
    # The current row is the loan's own 2025-12-31 class, balance and days past due.
    row_cls = np.where(current, cls[loan], row_cls)
    row_dpd = np.where(current, dpd[loan], row_dpd)
    row_bal = np.where(current, balance[loan], row_bal)
    order = np.lexsort((at, loan))
    del n
    return {
        "id": np.arange(1, len(loan) + 1, dtype=np.int64),
        "loan_id": loan[order] + 1,
        "as_of": at[order],
        "classification": CLASS_VALUES[row_cls[order]],
        "balance": row_bal[order],
        "days_past_due": row_dpd[order],
        "source": np.full(len(loan), "demo", dtype=object),
    }


def _guarantees(
    rng,
    scale,
    inst,
    g_firm,
    b_firm,
    kind,
    group,
    first_loan,
    n_loans,
    owner,
    amount,
    start,
    maturity,
    size_ix,
):
    """Guarantee contracts: each edge backs a run of the borrower's loans; joint groups back one loan each."""
    n_inst = round(scale.guarantees * 0.035)
    target = scale.guarantees - n_inst
    joint = kind == JOINT
    nl = n_loans[b_firm]
    x = rng.exponential(1.0, len(b_firm))

    def rows_for(lam):
        return np.where(joint, 1, np.minimum(nl, 1 + np.floor(lam * x).astype(np.int64)))

    lo, hi = 0.0, 64.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if rows_for(mid).sum() < target:
            lo = mid
        else:
            hi = mid
    k = rows_for(hi)
    offset = np.where(joint, nl - 1, np.floor(rng.random(len(k)) * (nl - k + 1)).astype(np.int64))
    edge = np.repeat(np.arange(len(k)), k)
    step = np.arange(len(edge)) - np.repeat(np.r_[0, np.cumsum(k)[:-1]], k)
    loan_ix = first_loan[b_firm[edge]] + offset[edge] + step
    share = np.where(joint[edge], rng.uniform(0.3, 1.0, len(edge)), rng.uniform(0.5, 1.0, len(edge)))
    # Financing-guarantee companies back a few percent of small firms' loans.
    types = inst["type_code"].astype(str)
    fg = np.nonzero(types == "financing_guarantee")[0]
    small_loans = np.nonzero(size_ix[owner] <= 1)[0]
    inst_loans = np.sort(rng.choice(small_loans, size=min(n_inst, len(small_loans)), replace=False))
    inst_guarantor = np.full(len(inst_loans), -1, dtype=np.int64)
    years = years_of(start[inst_loans])
    for year in np.unique(years).tolist():
        open_all = (inst["established_on"][fg] <= day(f"{year}-01-01")) & ~(
            inst["deregistered_on"][fg] <= day(f"{year}-12-31")
        )
        cands = fg[open_all]
        rows = np.nonzero(years == year)[0]
        if len(cands):
            inst_guarantor[rows] = inst["id"][cands[rng.integers(0, len(cands), len(rows))]]
    keep = inst_guarantor > 0
    inst_loans, inst_guarantor = inst_loans[keep], inst_guarantor[keep]

    all_loans = np.r_[loan_ix, inst_loans]
    share = np.r_[share, rng.uniform(0.6, 1.0, len(inst_loans))]
    g_amount = np.maximum(np.floor(amount[all_loans] * share), 1.0)
    extension = rng.choice(np.array([0, 182, 730, 1095]), size=len(all_loans), p=[0.2, 0.2, 0.3, 0.3])
    n_rows = len(all_loans)
    ent_g = np.r_[g_firm[edge] + 1, np.zeros(len(inst_loans), dtype=np.int64)]
    ins_g = np.r_[np.zeros(len(edge), dtype=np.int64), inst_guarantor]
    g_kind = np.r_[kind[edge], np.full(len(inst_loans), ONE_WAY)]
    g_group = np.r_[group[edge], np.full(len(inst_loans), -1)]
    order = np.lexsort((ins_g, ent_g, all_loans))
    all_loans, g_amount, extension, ent_g, ins_g, g_kind, g_group = (
        a[order] for a in (all_loans, g_amount, extension, ent_g, ins_g, g_kind, g_group)
    )
    agreement = np.full(n_rows, None, dtype=object)
    jm = g_group >= 0
    grp_ids, grp_rank = np.unique(g_group[jm], return_inverse=True)
    agreement[jm] = np.char.add("LB", np.char.zfill((grp_rank + 1).astype(str), 7)).astype(object)
    guarantees = {
        "id": np.arange(1, n_rows + 1, dtype=np.int64),
        "guarantor_enterprise_id": np.ma.masked_equal(ent_g, 0),
        "guarantor_institution_id": np.ma.masked_equal(ins_g, 0),
        "borrower_id": owner[all_loans] + 1,
        "loan_id": all_loans + 1,
        "amount": g_amount,
        "kind": KINDS[g_kind],
        "agreement_no": agreement,
        "start_date": start[all_loans],
        "end_date": maturity[all_loans] + extension,
    }
    summary = {"institution_guarantees": len(inst_loans), "joint_agreements": len(grp_ids)}
    return guarantees, summary


__all__ = ["CreditResult", "build_credit"]
