"""Financial statements by year (2021 … the firm's latest year) for every demo enterprise.

The latest year's revenue, total assets and employees are exactly the enterprise's own figures
(``enterprises.revenue`` …, ``financials_year``); earlier years are walked back from them with yearly
growth. Every ratio follows the firm's latent credit quality ``q`` — the same quality that decides which
firms' loans are non-performing or 关注 at 2025-12-31 (demo/credit.py) — plus a yearly wobble and its own
noise, so ratios carry real but imperfect signal about later bad loans:

    q[t]    = q + 0.35·u[t] − distress[t]                  u: AR(1) wobble (φ 0.6)
    distress = 0.6 in the year before a non-performing firm stopped paying, 1.2 from that year on
    margin  = section margin + 0.035·q[t] + 0.04·ε (extra losses below q[t] = −1.5)
    leverage (liabilities / assets) = logistic(section level − 0.45·q[t] + 0.5·ε), ×1.25 once in default
    current liabilities / liabilities = 0.75 − 0.1·q[t] + 0.1·ε;  current assets = section share of assets
    cash flow = 1.1·profit + revenue·(0.02·q[t] + 0.04·ε);  interest = liabilities × debt share × rate(q)
    tax = revenue × section rate + 15 % of profit, ×0.6 when q[t] < −1 (arrears)
    growth (revenue, assets, employees) = 4 % + 6 %·q[t] + noise, faster for young firms

Everything is drawn as (firms × years) NumPy matrices; a million firms take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qiantang.demo.calendar import years_of

FIRST_YEAR = 2021
LAST_YEAR = 2025
CHUNK = 200_000  # firms per block
# Section → (net margin, leverage level (logit), current-asset share, tax rate on revenue).
SECTION_PROFILE: dict[str, tuple[float, float, float, float]] = {
    "A": (0.04, -0.2, 0.45, 0.005),
    "B": (0.06, 0.0, 0.35, 0.03),
    "C": (0.05, 0.2, 0.50, 0.025),
    "D": (0.07, 0.6, 0.25, 0.03),
    "E": (0.03, 0.5, 0.70, 0.02),
    "F": (0.02, 0.4, 0.75, 0.012),
    "G": (0.03, 0.2, 0.40, 0.015),
    "H": (0.03, 0.1, 0.30, 0.02),
    "I": (0.08, -0.3, 0.60, 0.03),
    "K": (0.08, 0.85, 0.80, 0.04),
    "L": (0.06, 0.0, 0.55, 0.025),
    "M": (0.07, -0.2, 0.60, 0.03),
    "N": (0.05, 0.1, 0.45, 0.02),
    "O": (0.04, -0.2, 0.40, 0.015),
    "P": (0.05, -0.3, 0.50, 0.01),
    "Q": (0.06, 0.0, 0.45, 0.01),
    "R": (0.05, -0.1, 0.50, 0.02),
}
_DEFAULT_PROFILE = (0.04, 0.0, 0.55, 0.02)
_YEAR_EFFECT = {2021: 0.05, 2022: -0.04, 2023: 0.03, 2024: 0.01, 2025: -0.01}  # growth shocks


@dataclass
class FinancialsResult:
    columns: dict[str, np.ndarray]
    summary: dict[str, object]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _chunk(
    rng: np.random.Generator,
    enterprises: dict[str, np.ndarray],
    quality: np.ndarray,
    default_on: np.ndarray,
) -> dict[str, np.ndarray]:
    """The statements of one block of enterprises (all arrays are that block's)."""
    n = len(enterprises["id"])
    years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    n_years = len(years)
    last = np.asarray(enterprises["financials_year"], dtype=np.int64)
    first = np.maximum(FIRST_YEAR, years_of(enterprises["founded_on"]).astype(np.int64))
    first = np.minimum(first, last)
    valid = (years[None, :] >= first[:, None]) & (years[None, :] <= last[:, None])

    sections = np.asarray(enterprises["industry_section"]).astype(str)
    codes, sec_ix = np.unique(sections, return_inverse=True)
    profile = np.array([SECTION_PROFILE.get(s, _DEFAULT_PROFILE) for s in codes])[sec_ix]
    margin0, lev0, ca0, tax0 = profile.T

    # Yearly quality: the firm's q, an AR(1) wobble and distress around a default.
    wobble = np.empty((n, n_years))
    wobble[:, 0] = rng.standard_normal(n)
    for c in range(1, n_years):
        wobble[:, c] = 0.6 * wobble[:, c - 1] + 0.8 * rng.standard_normal(n)
    default_year = np.where(np.isnat(default_on), 9999, years_of(default_on)).astype(np.int64)
    distress = np.where(
        years[None, :] >= default_year[:, None],
        0.6,
        np.where(years[None, :] == default_year[:, None] - 1, 0.3, 0.0),
    )
    in_default = years[None, :] >= default_year[:, None]
    q = np.asarray(quality, dtype=np.float64)[:, None] + 0.5 * wobble - distress
    del wobble, distress

    # Growth and the walk back from the latest year.
    founded_year = years_of(enterprises["founded_on"]).astype(np.int64)
    young = (years[None, :] - founded_year[:, None]) < 3
    year_effect = np.array([_YEAR_EFFECT[int(y)] for y in years])
    growth = 0.04 + 0.06 * q + 0.12 * rng.standard_normal((n, n_years)) + 0.2 * young + year_effect[None, :]
    growth -= 0.15 * in_default
    asset_growth = 0.5 * growth + 0.02 + 0.06 * rng.standard_normal((n, n_years))
    staff_growth = 0.5 * growth + 0.08 * rng.standard_normal((n, n_years))
    del young

    def walk_back(latest: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Level in each year: latest / exp(sum of growth of the later years up to the latest year)."""
        g = np.where(years[None, :] <= last[:, None], g, 0.0)
        later = np.cumsum(g[:, ::-1], axis=1)[:, ::-1] - g  # growth of years t+1 … last
        return latest[:, None] * np.exp(-later)

    revenue = walk_back(np.asarray(enterprises["revenue"], dtype=np.float64), growth)
    assets = walk_back(np.asarray(enterprises["total_assets"], dtype=np.float64), asset_growth)
    staff = walk_back(np.asarray(enterprises["employees"], dtype=np.float64), staff_growth)
    del growth, asset_growth, staff_growth

    # Ratios driven by the yearly quality.
    margin = margin0[:, None] + 0.02 * q + 0.06 * rng.standard_normal((n, n_years))
    margin -= 0.03 * np.maximum(-2.0 - q, 0.0)
    profit = margin * revenue
    del margin
    leverage = _sigmoid(lev0[:, None] - 0.25 * q + 0.6 * rng.standard_normal((n, n_years)))
    leverage = np.where(in_default, leverage * 1.15, leverage)
    liabilities = leverage * assets
    del leverage
    current_assets = (
        np.minimum(ca0[:, None] * np.exp(0.15 * rng.standard_normal((n, n_years))), 0.98) * assets
    )
    cl_share = np.clip(0.75 - 0.05 * q + 0.12 * rng.standard_normal((n, n_years)), 0.3, 1.0)
    current_liabilities = cl_share * liabilities
    del cl_share
    cash = profit * (1.1 + 0.3 * rng.standard_normal((n, n_years))) + revenue * (
        0.01 * q + 0.05 * rng.standard_normal((n, n_years))
    )
    debt_share = np.clip(0.45 - 0.03 * q + 0.12 * rng.standard_normal((n, n_years)), 0.1, 0.9)
    rate = np.clip(
        0.045 + 0.005 * np.maximum(-q, 0.0) + 0.008 * rng.standard_normal((n, n_years)), 0.025, 0.15
    )
    interest = liabilities * debt_share * rate
    del debt_share, rate
    tax = revenue * tax0[:, None] * np.exp(0.3 * rng.standard_normal((n, n_years))) + 0.15 * np.maximum(
        profit, 0
    )
    tax = np.where(q < -1.5, 0.7 * tax, tax)
    del q, in_default

    # The latest year is the enterprise's own figures exactly.
    at_last = years[None, :] == last[:, None]
    staff = np.where(at_last, np.asarray(enterprises["employees"], dtype=np.float64)[:, None], staff)
    rows, cols = np.nonzero(valid)

    def pick(m: np.ndarray) -> np.ndarray:
        return np.round(m[rows, cols], 2)

    revenue_v = np.where(
        at_last[rows, cols], np.asarray(enterprises["revenue"], dtype=np.float64)[rows], pick(revenue)
    )
    assets_v = np.where(
        at_last[rows, cols], np.asarray(enterprises["total_assets"], dtype=np.float64)[rows], pick(assets)
    )
    liabilities_v = pick(liabilities)
    return {
        "enterprise_id": np.asarray(enterprises["id"], dtype=np.int64)[rows],
        "year": years[cols].astype(np.int64),
        "revenue": revenue_v,
        "net_profit": pick(profit),
        "total_assets": assets_v,
        "total_liabilities": liabilities_v,
        "equity": np.round(assets_v - liabilities_v, 2),
        "current_assets": pick(current_assets),
        "current_liabilities": pick(current_liabilities),
        "operating_cash_flow": pick(cash),
        "interest_expense": pick(interest),
        "tax_paid": pick(tax),
        "employees": np.maximum(np.round(staff[rows, cols]), 1).astype(np.int64),
    }


def build_financials(
    rng: np.random.Generator,
    enterprises: dict[str, np.ndarray],
    quality: np.ndarray,
    default_on: np.ndarray,
) -> FinancialsResult:
    """One row per enterprise and year from max(2021, founding year) to its ``financials_year``.

    Firms are taken in blocks of ``CHUNK`` (a fixed size, so the draws do not depend on the machine),
    which keeps the (firms × years) matrices small at city scale.
    """
    n = len(enterprises["id"])
    keys = ("id", "financials_year", "founded_on", "industry_section", "revenue", "total_assets", "employees")
    parts = []
    for begin in range(0, n, CHUNK):
        end = min(n, begin + CHUNK)
        block = {k: np.asarray(enterprises[k])[begin:end] for k in keys}
        parts.append(_chunk(rng, block, np.asarray(quality)[begin:end], np.asarray(default_on)[begin:end]))
    columns = {"id": None}
    for name in parts[0]:
        columns[name] = np.concatenate([p[name] for p in parts])
    total = len(columns["year"])
    columns["id"] = np.arange(1, total + 1, dtype=np.int64)
    columns["source"] = np.full(total, "demo", dtype=object)
    summary = {
        "financial_rows": total,
        "loss_making_share": round(float((columns["net_profit"] < 0).mean()), 4),
        "negative_equity_share": round(float((columns["equity"] < 0).mean()), 4),
    }
    return FinancialsResult(columns, summary)


__all__ = ["FIRST_YEAR", "SECTION_PROFILE", "FinancialsResult", "build_financials"]
