"""Quarterly filings of local financial organizations and private fund managers, driven by latent health.

Each institution's equity follows its quarterly profits; its business volume follows equity and its own
style (some firms run lean, some close to or beyond the regulatory limits, whatever their health).
Overdue, NPL, compensation, concentration, losses and late or missing returns respond to health with
noise; the regulator's action comes 1–4 quarters after health crosses the distress threshold
(institutions.py), so the returns lead distress without predicting it perfectly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from qiantang.demo.calendar import N_QUARTERS, QUARTER_ENDS
from qiantang.demo.institutions import ACTIVE, NOT_YET, RESOLVING, SUSPENDED, HealthPanel
from qiantang.filings.templates import FilingTemplate, get_template

# Per type: return on equity a year at health 0, its sensitivity to health (per quarter), loss severity
# below health −0.5, volume multiple of equity (median, log-s.d.), yearly yield on volume.
_ECON = {
    "small_loan": dict(roe=0.08, k_h=0.012, loss=0.03, lev=1.35, lev_sd=0.25, yld=0.14),
    "financing_guarantee": dict(roe=0.04, k_h=0.008, loss=0.025, lev=3.5, lev_sd=0.45, yld=0.015),
    "pawnshop": dict(roe=0.05, k_h=0.010, loss=0.02, lev=0.8, lev_sd=0.35, yld=0.25),
    "finance_leasing": dict(roe=0.06, k_h=0.010, loss=0.03, lev=3.0, lev_sd=0.5, yld=0.07),
    "commercial_factoring": dict(roe=0.06, k_h=0.010, loss=0.03, lev=2.5, lev_sd=0.5, yld=0.09),
    "p2p_lending": dict(roe=0.10, k_h=0.020, loss=0.04, lev=0.0, lev_sd=0.0, yld=0.0),
    "private_fund_manager": dict(roe=0.0, k_h=0.0, loss=0.0, lev=0.0, lev_sd=0.0, yld=0.015),
}
# Overdue share of volume: logistic(a + b·(−health) + 0.35·noise).
_OVERDUE = {
    "small_loan": (-2.6, 0.9),
    "pawnshop": (-2.8, 0.8),
    "finance_leasing": (-3.5, 0.9),
    "commercial_factoring": (-3.5, 0.9),
    "p2p_lending": (-3.5, 1.0),
}
# Median concentration (largest client / net assets; pawnshops: / registered capital).
_CONCENTRATION = {
    "small_loan": 0.06,
    "financing_guarantee": 0.05,
    "pawnshop": 0.12,
    "finance_leasing": 0.15,
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def r2(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def f2(x: np.ndarray) -> np.ndarray:
    """Round down to the fen (分): parts never exceed their total after rounding."""
    return np.floor(np.asarray(x) * 100.0) / 100.0


@dataclass
class _TypeState:
    """(n, N_QUARTERS) paths of one type; rows are panel rows of that type."""

    rows: np.ndarray
    h: np.ndarray
    status: np.ndarray
    capital: np.ndarray  # registered capital, 万元 (n,)
    equity: np.ndarray
    volume: np.ndarray
    income_ytd: np.ndarray
    profit_ytd: np.ndarray
    paid_ytd: np.ndarray
    recovered_ytd: np.ndarray
    receivable: np.ndarray
    conc: np.ndarray  # (n,) concentration style
    lev: np.ndarray  # (n,) leverage style
    unit: np.ndarray  # (n,) average ticket, 万元


def _ytd(flows: np.ndarray) -> np.ndarray:
    n = flows.shape[0]
    return flows.reshape(n, N_QUARTERS // 4, 4).cumsum(axis=2).reshape(n, N_QUARTERS)


def _simulate_type(
    rng: np.random.Generator, type_code: str, rows: np.ndarray, panel: HealthPanel, capital: np.ndarray
) -> _TypeState:
    """Equity, volume and flows per quarter for the institutions of one type."""
    econ = _ECON[type_code]
    n = len(rows)
    h = np.nan_to_num(panel.h[rows], nan=0.0)
    status = panel.status[rows]
    exists = status != NOT_YET
    distressed = (status == SUSPENDED) | (status == RESOLVING)
    stock = panel.established[rows] < np.datetime64("2015-01-01")
    equity = np.zeros((n, N_QUARTERS))
    volume = np.zeros((n, N_QUARTERS))
    income = np.zeros((n, N_QUARTERS))
    profit = np.zeros((n, N_QUARTERS))
    paid = np.zeros((n, N_QUARTERS))
    recovered = np.zeros((n, N_QUARTERS))
    receivable = np.zeros((n, N_QUARTERS))
    lev = econ["lev"] * np.exp(econ["lev_sd"] * rng.standard_normal(n))
    lev[panel.shell[rows]] *= 0.02  # 空壳: registered, barely any business
    conc = _CONCENTRATION.get(type_code, 0.1) * np.exp(0.4 * rng.standard_normal(n))
    unit = np.exp(rng.normal(np.log(150.0), 0.5, n))
    walk = np.cumsum(0.05 * rng.standard_normal((n, N_QUARTERS)), axis=1)
    eps = rng.standard_normal((n, N_QUARTERS))
    start_equity = np.where(stock, capital * rng.uniform(0.95, 1.35, n), capital * rng.uniform(0.5, 1.0, n))
    aum0 = np.clip(np.exp(rng.normal(np.log(20_000.0), 1.3, n)), 300.0, 3_000_000.0)
    aum0 = np.where(stock, aum0, aum0 * 0.3)
    p2p0 = capital * rng.uniform(3.0, 15.0, n)
    e_prev = start_equity.copy()
    v_prev = np.where(type_code == "p2p_lending", p2p0, aum0)
    rec_prev = np.zeros(n)
    last_year_profit = np.zeros(n)
    year_profit = np.zeros(n)
    for q in range(N_QUARTERS):
        alive = exists[:, q]
        first = alive & ((q == 0) | ~exists[:, max(q - 1, 0)])
        e_prev = np.where(first, start_equity, e_prev)
        hq = h[:, q]
        base = np.maximum(e_prev, 0.1 * capital)
        if q % 4 == 0:
            last_year_profit, year_profit = year_profit, np.zeros(n)
        if type_code == "private_fund_manager":
            v_prev = np.where(first, aum0, v_prev)
            drift = 0.03 + 0.06 * hq + 0.12 * eps[:, q] - np.where(hq < -1.5, 0.25, 0.0)
            vol = v_prev * np.exp(drift)
            inc = vol * econ["yld"] / 4 * (1 + 0.05 * hq)
            prof = inc * (0.35 + 0.15 * hq) - capital * 0.012
        elif type_code == "p2p_lending":
            v_prev = np.where(first, p2p0, v_prev)
            growth = 0.10 if q < 13 else -0.15
            drift = growth + 0.05 * hq + 0.08 * eps[:, q] - np.where(distressed[:, q], 0.35, 0.0)
            vol = v_prev * np.exp(drift)
            inc = np.zeros(n)
            prof = base * (econ["roe"] / 4 + econ["k_h"] * hq - econ["loss"] * np.maximum(0, -hq - 0.5) ** 2)
        else:
            vol = base * lev * np.exp(walk[:, q]) * (1 + 0.12 * np.tanh(hq))
            vol = np.where(distressed[:, q], vol * 0.8, vol)
            inc = vol * econ["yld"] / 4 * (1 + 0.1 * np.tanh(hq))
            prof = base * (econ["roe"] / 4 + econ["k_h"] * hq - econ["loss"] * np.maximum(0, -hq - 0.5) ** 2)
            prof += 0.004 * base * eps[:, q]
        if type_code == "financing_guarantee":
            rate = _sigmoid(-5.5 + 0.9 * (-hq) + 0.3 * eps[:, q])
            paid[:, q] = np.where(alive, vol * rate, 0.0)
            recovered[:, q] = np.where(alive, 0.25 * rec_prev, 0.0)
            rec_prev = np.where(alive, rec_prev + paid[:, q] - recovered[:, q] - 0.05 * rec_prev, 0.0)
            receivable[:, q] = rec_prev
        dividend = np.where((q % 4 == 1) & (hq > -1.0), 0.4 * np.maximum(last_year_profit, 0), 0.0)
        e_now = e_prev + prof - dividend
        year_profit += np.where(alive, prof, 0.0)
        equity[:, q] = np.where(alive, e_now, 0.0)
        volume[:, q] = np.where(alive, vol, 0.0)
        income[:, q] = np.where(alive, inc, 0.0)
        profit[:, q] = np.where(alive, prof, 0.0)
        e_prev = np.where(alive, e_now, e_prev)
        v_prev = np.where(alive, vol, v_prev)
    return _TypeState(
        rows,
        h,
        status,
        capital,
        equity,
        volume,
        _ytd(income),
        _ytd(profit),
        _ytd(paid),
        _ytd(recovered),
        receivable,
        conc,
        lev,
        unit,
    )


def _balance(total_assets: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(assets, liabilities, equity) rounded so that assets == liabilities + equity exactly."""
    ta = r2(total_assets)
    tl = r2(np.maximum(ta - equity, 0.0))
    return ta, tl, r2(ta - tl)


def _lender_sheet(rng, book, equity, capital):
    """Assets around a lending book: cash absorbs the gap so that liabilities stay ≥ 2 % of assets."""
    cash = book * rng.uniform(0.03, 0.15, len(book)) + 50.0
    other = book * rng.uniform(0.01, 0.06, len(book))
    floor = np.maximum(equity, 0) * 1.02 - book - other
    cash = f2(np.maximum(cash, floor))
    other = f2(other)
    ta, tl, eq = _balance(book + cash + other, equity)
    return cash, ta, tl, eq


def _values(type_code: str, s: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every template field for filing rows described by state vectors ``s`` (万元, counts as ints)."""
    n = len(s["h"])
    h, equity, cap, vol = s["h"], s["equity"], s["capital"], np.maximum(s["volume"], 0.0)
    e_pos = np.maximum(equity, 0.1 * cap)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    od = np.zeros(n)
    if type_code in _OVERDUE:
        a, b = _OVERDUE[type_code]
        od = _sigmoid(a + b * (-h) + 0.35 * rng.standard_normal(n))
    conc = s["conc"] * (1 + 0.15 * np.maximum(0, -h))
    if type_code == "small_loan":
        loans = f2(vol)
        cash, ta, tl, eq = _lender_sheet(rng, loans, equity, cap)
        borrow = tl * u(0.75, 0.97)
        bond = np.where(rng.random(n) < 0.1, borrow * u(0.1, 0.4), 0.0)
        bank = (borrow - bond) * u(0.4, 0.9)
        logits = np.stack([0.8 + 0.3 * h, np.zeros(n), -0.2 - 0.2 * h, -0.5 - 0.3 * h])
        logits += 0.3 * rng.standard_normal((4, n))
        w = np.exp(logits) / np.exp(logits).sum(axis=0)
        buckets = f2(loans * od * w)
        npl = f2(buckets[1] + buckets[2] + buckets[3] + 0.3 * buckets[0])
        largest = f2(np.minimum(e_pos * conc, loans * 0.5))
        return {
            "registered_capital": r2(cap),
            "total_assets": ta,
            "cash_and_deposits": cash,
            "loan_balance": loans,
            "loan_loss_provision": r2(npl * u(0.8, 1.6) + loans * 0.01),
            "total_liabilities": tl,
            "bank_borrowings": f2(bank),
            "shareholder_borrowings": f2(borrow - bond - bank),
            "bond_abs_financing": f2(bond),
            "equity": eq,
            "borrower_count": np.where(loans > 0, np.maximum(1, np.round(loans / s["unit"])), 0).astype(int),
            "largest_borrower_balance": largest,
            "largest_borrower_related_balance": r2(largest * u(1.0, 1.6)),
            "top10_borrowers_balance": np.maximum(f2(np.minimum(largest * u(3, 7), loans)), largest),
            "related_party_loans": f2(loans * u(0, 0.06)),
            "overdue_1_90": buckets[0],
            "overdue_91_180": buckets[1],
            "overdue_181_360": buckets[2],
            "overdue_over_360": buckets[3],
            "npl_balance": npl,
            "interest_income": r2(s["income_ytd"]),
            "net_profit": r2(s["profit_ytd"]),
        }
    if type_code == "financing_guarantee":
        g = r2(vol)
        unearned = f2(g * 0.0075 * u(0.8, 1.2))
        reserve = f2(g * u(0.01, 0.03))
        tl = unearned + reserve + g * u(0.0, 0.05) + e_pos * u(0.0, 0.3)
        receivable = f2(s["receivable"])
        ta = np.maximum(equity + tl, receivable * 1.05 + 1.0)
        ta, tl, eq = _balance(ta, equity)
        cash = f2((ta - receivable) * u(0.5, 0.8))
        largest = f2(np.minimum(e_pos * conc, g * 0.3))
        return {
            "registered_capital": r2(cap),
            "total_assets": ta,
            "cash_and_deposits": cash,
            "compensation_receivable": receivable,
            "total_liabilities": tl,
            "unearned_premium_reserve": unearned,
            "compensation_reserve": reserve,
            "equity": eq,
            "financing_guarantee_balance": g,
            "non_financing_guarantee_balance": r2(g * u(0.05, 0.5)),
            "small_micro_agri_share": r2(np.clip(65 + 20 * s["style"] + 5 * rng.standard_normal(n), 0, 100)),
            "guaranteed_party_count": np.where(g > 0, np.maximum(1, np.round(g / (2 * s["unit"]))), 0).astype(
                int
            ),
            "largest_party_balance": largest,
            "largest_party_related_balance": np.maximum(f2(np.minimum(largest * u(1.0, 1.8), g)), largest),
            "compensation_paid": r2(s["paid_ytd"]),
            "compensation_recovered": r2(s["recovered_ytd"]),
            "guarantee_fee_income": r2(s["income_ytd"]),
            "net_profit": r2(s["profit_ytd"]),
        }
    if type_code == "pawnshop":
        real_estate = f2(vol * u(0.3, 0.7))
        rights = f2(vol * u(0.02, 0.2))
        movable = f2(np.maximum(vol - real_estate - rights, 0))
        pawn = r2(real_estate + rights + movable)
        cash, ta, tl, eq = _lender_sheet(rng, pawn, equity, cap)
        return {
            "registered_capital": r2(cap),
            "total_assets": ta,
            "total_liabilities": tl,
            "equity": eq,
            "cash_and_deposits": cash,
            "pawn_balance": pawn,
            "real_estate_pawn_balance": real_estate,
            "property_rights_pawn_balance": rights,
            "movable_pawn_balance": movable,
            "largest_customer_balance": f2(np.minimum(cap * conc, pawn)),
            "shareholder_pawn_balance": np.where(rng.random(n) < 0.2, f2(pawn * u(0, 0.05)), 0.0),
            "bank_loans": f2(tl * u(0.3, 0.9)),
            "overdue_pawn_balance": f2(pawn * od),
            "customer_count": np.where(pawn > 0, np.maximum(1, np.round(pawn / (s["unit"] / 3))), 0).astype(
                int
            ),
            "fee_income": r2(s["income_ytd"]),
            "net_profit": r2(s["profit_ytd"]),
        }
    if type_code in ("finance_leasing", "commercial_factoring"):
        book = f2(vol)
        cash = book * u(0.02, 0.1) + 20.0
        bonds = np.where(rng.random(n) < 0.3, e_pos * u(0, 0.05), 0.0)
        fixed = e_pos * u(0, 0.25) if type_code == "finance_leasing" else np.zeros(n)
        other = book * u(0.01, 0.05)
        cash = f2(np.maximum(cash, np.maximum(equity, 0) * 1.02 - book - bonds - fixed - other))
        bonds, fixed, other = f2(bonds), f2(fixed), f2(other)
        ta, tl, eq = _balance(cash + bonds + book + fixed + other, equity)
        overdue = f2(book * od)
        common = {
            "registered_capital": r2(cap),
            "total_assets": ta,
            "total_liabilities": tl,
            "equity": eq,
            "cash_and_deposits": cash,
            "government_bonds": bonds,
            "net_profit": r2(s["profit_ytd"]),
        }
        if type_code == "finance_leasing":
            largest = f2(np.minimum(e_pos * conc, book))
            group = np.maximum(f2(np.minimum(largest * u(1.0, 1.8), book)), largest)
            single_related = f2(e_pos * u(0, 0.25))
            npl = f2(overdue * u(0.3, 0.8))
            return {
                **common,
                "leasing_assets": book,
                "fixed_income_investments": fixed,
                "largest_lessee_balance": largest,
                "largest_group_balance": group,
                "largest_lessee_related_balance": single_related,
                "related_party_balance": r2(single_related * u(1.0, 2.5)),
                "overdue_balance": overdue,
                "npl_balance": npl,
                "provision": r2(npl * u(0.8, 1.5)),
                "bank_borrowings": f2(tl * u(0.5, 0.9)),
                "lease_income": r2(s["income_ytd"]),
            }
        return {
            **common,
            "factoring_balance": book,
            "largest_debtor_balance": f2(book * u(0.05, 0.6)),
            "related_debtor_balance": f2(book * u(0, 0.45)),
            "overdue_90_balance": overdue,
            "risk_reserve": r2(book * u(0.006, 0.02)),
            "bank_borrowings": f2(tl * u(0.3, 0.9)),
            "interest_income": r2(s["income_ytd"]),
        }
    if type_code == "p2p_lending":
        out = r2(vol)
        overdue = f2(out * od)
        largest = f2(out * u(0.001, 0.02))
        tl0 = e_pos * u(0.2, 1.5)
        ta, tl, eq = _balance(np.maximum(equity + tl0, 1.0), equity)
        return {
            "outstanding_balance": out,
            "lender_count": np.round(out / u(2, 6)).astype(int),
            "borrower_count": np.round(out / u(1, 20)).astype(int),
            "overdue_balance": overdue,
            "overdue_90_balance": f2(overdue * u(0.3, 0.7)),
            "largest_borrower_balance": largest,
            "top10_borrowers_balance": np.maximum(f2(np.minimum(largest * u(4, 9), out)), largest),
            "period_volume": r2(out * u(0.3, 0.9)),
            "total_assets": ta,
            "total_liabilities": tl,
            "equity": eq,
            "risk_reserve": r2(out * u(0.005, 0.03)),
            "net_profit": r2(s["profit_ytd"]),
        }
    if type_code == "private_fund_manager":
        aum = r2(vol)
        funds = np.where(aum < 100, 0, np.maximum(1, np.round(aum / u(3_000, 15_000)))).astype(int)
        eq_share = np.clip(s["style"] * 0.5 + 0.5 + 0.05 * rng.standard_normal(n), 0, 1)
        eq_aum = f2(aum * eq_share)
        sec_aum = f2((aum - eq_aum) * u(0.6, 1.0))
        ta, tl, eq = _balance(np.maximum(equity + e_pos * u(0.02, 0.4), 1.0), equity)
        return {
            "aum": aum,
            "fund_count": funds,
            "investor_count": np.round(funds * u(8, 60)).astype(int),
            "equity_fund_aum": eq_aum,
            "securities_fund_aum": sec_aum,
            "total_assets": ta,
            "total_liabilities": tl,
            "equity": eq,
            "management_fee_income": r2(s["income_ytd"]),
            "net_profit": r2(s["profit_ytd"]),
            "staff": np.clip(np.round(3 + aum / u(2_000, 6_000)), 1, 300).astype(int),
        }
    raise KeyError(type_code)


@dataclass
class FilingsResult:
    columns: dict[str, object]
    summary: dict[str, object]


def build_filings(rng: np.random.Generator, panel: HealthPanel, capital_wan: np.ndarray) -> FilingsResult:
    """Every return of every filer for every quarter it operated (minus missing ones), with revisions."""
    blocks: list[dict[str, np.ndarray]] = []
    datas: list[list[str]] = []
    for type_code in _ECON:
        rows = np.nonzero(panel.type_code == type_code)[0]
        if rows.size == 0:
            continue
        template = get_template(type_code)
        state = _simulate_type(rng, type_code, rows, panel, capital_wan[rows])
        open_q = (state.status == ACTIVE) | (state.status == SUSPENDED) | (state.status == RESOLVING)
        r_idx, q_idx = np.nonzero(open_q)
        h = state.h[r_idx, q_idx]
        distressed = (state.status[r_idx, q_idx] == SUSPENDED) | (state.status[r_idx, q_idx] == RESOLVING)
        p_missing = _sigmoid(-5.5 + 1.4 * (-h)) + np.where(distressed, 0.3, 0.0)
        keep = rng.random(len(h)) >= p_missing
        r_idx, q_idx, h, distressed = r_idx[keep], q_idx[keep], h[keep], distressed[keep]
        style = np.tanh(rng.standard_normal(len(rows)))
        s = {
            "h": h,
            "equity": state.equity[r_idx, q_idx],
            "capital": state.capital[r_idx],
            "volume": state.volume[r_idx, q_idx],
            "income_ytd": state.income_ytd[r_idx, q_idx],
            "profit_ytd": state.profit_ytd[r_idx, q_idx],
            "paid_ytd": state.paid_ytd[r_idx, q_idx],
            "recovered_ytd": state.recovered_ytd[r_idx, q_idx],
            "receivable": state.receivable[r_idx, q_idx],
            "conc": state.conc[r_idx],
            "unit": state.unit[r_idx],
            "style": style[r_idx],
        }
        values = _values(type_code, s, rng)
        p_late = _sigmoid(-3.2 + 1.1 * (-h)) + np.where(distressed, 0.15, 0.0)
        late = rng.random(len(h)) < p_late
        revised = rng.random(len(h)) < 0.015 + 0.03 * (h < -1.5)
        period_end = QUARTER_ENDS[q_idx]
        due = period_end + template.due_days
        first_submit = np.where(
            late,
            due + rng.integers(1, 61, len(h)),
            due - rng.integers(0, template.due_days - 1, len(h)),
        )
        seconds = rng.integers(9 * 3600, 18 * 3600, len(h))
        submitted = first_submit.astype("datetime64[s]") + seconds
        inst_id = panel.institution_id[rows][r_idx]
        n_rev = int(revised.sum())
        # Current rows: revision 1 unless revised, then revision 2 (a later, corrected return).
        resubmit = submitted + rng.integers(5, 41, len(h)) * 86_400
        blocks.append(
            {
                "institution_id": inst_id,
                "template_code": np.full(len(h), type_code, dtype=object),
                "template_version": np.full(len(h), template.version, dtype=object),
                "period_end": period_end,
                "revision": np.where(revised, 2, 1),
                "is_current": np.ones(len(h), dtype=bool),
                "due_on": due,
                "submitted_at": np.where(revised, resubmit, submitted),
            }
        )
        datas.append(_to_json(template, values))
        if n_rev:
            sub = {k: v[revised] for k, v in s.items()}
            old_values = _values(type_code, sub, rng)
            blocks.append(
                {
                    "institution_id": inst_id[revised],
                    "template_code": np.full(n_rev, type_code, dtype=object),
                    "template_version": np.full(n_rev, template.version, dtype=object),
                    "period_end": period_end[revised],
                    "revision": np.ones(n_rev, dtype=np.int64),
                    "is_current": np.zeros(n_rev, dtype=bool),
                    "due_on": due[revised],
                    "submitted_at": submitted[revised],
                }
            )
            datas.append(_to_json(template, old_values))
    columns = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    data = [d for block in datas for d in block]
    order = np.lexsort((columns["revision"], columns["period_end"], columns["institution_id"]))
    columns = {k: v[order] for k, v in columns.items()}
    columns["data"] = np.array(data, dtype=object)[order]
    n = len(order)
    columns["revision"] = columns["revision"].astype(np.int64)
    out = {"id": np.arange(1, n + 1, dtype=np.int64), **columns}
    out["submitted_by"] = np.full(n, None, dtype=object)
    out["source"] = np.full(n, "demo", dtype=object)
    late = out["submitted_at"].astype("datetime64[D]") > out["due_on"]
    summary = {
        "filings": n,
        "filings_late_share": round(float(late[out["is_current"]].mean()), 4) if n else 0.0,
        "filings_revised": int((~out["is_current"]).sum()),
    }
    return FilingsResult(out, summary)


def _to_json(template: FilingTemplate, values: dict[str, np.ndarray]) -> list[str]:
    """One JSON object per row with every template field (amounts 2 decimals, counts as integers)."""
    codes = template.field_codes
    missing = [c for c in codes if c not in values]
    if missing:
        raise KeyError(f"{template.code}: no value for {missing}")
    cols = []
    for f in template.fields:
        v = np.asarray(values[f.code])
        cols.append(v.astype(np.int64).tolist() if f.type == "count" else np.round(v, 2).tolist())
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return [dumps(dict(zip(codes, row, strict=True))) for row in zip(*cols, strict=True)]


__all__ = ["FilingsResult", "build_filings", "f2", "r2"]
