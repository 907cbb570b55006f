"""Valid example returns and workbooks for a template (for the benchmark, tests and documentation).

The values are made up: they only satisfy the template's units, ranges and cross-field checks.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from openpyxl import Workbook

from qiantang.filings import checks
from qiantang.filings.service import template_columns
from qiantang.filings.templates import FilingTemplate

# Plausible proportions (of total assets) for two templates; the others get the generic shape.
_SHAPES: dict[str, dict[str, float]] = {
    "small_loan": {
        "registered_capital": 0.5,
        "cash_and_deposits": 0.05,
        "loan_balance": 0.75,
        "loan_loss_provision": 0.015,
        "bank_borrowings": 0.15,
        "shareholder_borrowings": 0.1,
        "bond_abs_financing": 0.0,
        "largest_borrower_balance": 0.025,
        "largest_borrower_related_balance": 0.03,
        "top10_borrowers_balance": 0.15,
        "related_party_loans": 0.005,
        "overdue_1_90": 0.005,
        "overdue_91_180": 0.0025,
        "overdue_181_360": 0.001,
        "overdue_over_360": 0.0005,
        "npl_balance": 0.0045,
        "interest_income": 0.04,
        "net_profit": 0.015,
    },
    "private_fund_manager": {
        "aum": 12.0,
        "equity_fund_aum": 7.0,
        "securities_fund_aum": 4.0,
        "management_fee_income": 0.12,
        "net_profit": 0.03,
    },
}
_LIABILITY_SHARE = 0.4


def _split(rng: random.Random, total: int, shares: Sequence[float]) -> list[int]:
    """``total`` split by ``shares`` (jittered) into whole numbers that add up to ``total``."""
    weights = [s * rng.uniform(0.7, 1.3) for s in shares]
    parts = [int(total * w / sum(weights)) for w in weights]
    parts[0] += total - sum(parts)
    return parts


def talent_values(total: int, *, seed: int = 0, national: bool = True) -> dict[str, int]:
    """An annual talent return for ``total`` staff whose categories, education and ages add up."""
    rng = random.Random(seed)
    mgmt, prof, tech = _split(rng, total, (0.15, 0.65, 0.2) if national else (0.25, 0.6, 0.15))
    edu = _split(rng, total, (0.5, 0.02, 0.28, 0.2) if national else (0.55, 0.005, 0.12, 0.33))
    age = _split(rng, total, (0.38, 0.27, 0.25, 0.1))
    qualified = int(prof * (0.7 if national else 0.3))
    return {
        "total_staff": total,
        "management_staff": mgmt,
        "professional_staff": prof,
        "technical_staff": tech,
        "qual_cfa": int(prof * rng.uniform(0.01, 0.04)),
        "qual_cfp": int(prof * rng.uniform(0.01, 0.05)),
        "qual_frm": int(prof * rng.uniform(0.005, 0.02)),
        "qual_cpa": int(prof * rng.uniform(0.01, 0.04)),
        "qual_legal": int(prof * rng.uniform(0.01, 0.03)),
        "qual_sponsor": int(prof * rng.uniform(0.0, 0.01)) if national else 0,
        "qual_industry": qualified,
        "edu_bachelor": edu[0],
        "edu_doctorate": edu[1],
        "edu_master": edu[2],
        "edu_other": edu[3],
        "age_under_30": age[0],
        "age_30_39": age[1],
        "age_40_49": age[2],
        "age_50_plus": age[3],
    }


def sample_values(template: FilingTemplate, *, seed: int = 0) -> dict[str, float | int]:
    """One set of values that passes every check of the template (amounts with two decimals)."""
    if template.code == "finance_talent":
        return dict(talent_values(random.Random(seed).randint(10, 300), seed=seed))
    rng = random.Random(seed)
    scale = rng.uniform(0.5, 3.0)
    assets = round(20_000.0 * scale, 2)
    in_checks = {name for c in template.checks for name in c.fields}
    shape = _SHAPES.get(template.code, {})
    values: dict[str, float | int] = {}
    for f in template.fields:
        if f.type == "count":
            values[f.code] = rng.randint(1, 300)
        elif f.type == "ratio":
            lo, hi = f.min if f.min is not None else 0.0, f.max if f.max is not None else 100.0
            values[f.code] = round(rng.uniform(lo, hi), 2)
        elif f.code in shape:
            values[f.code] = round(assets * shape[f.code], 2)
        elif f.code in in_checks:
            values[f.code] = 0.0
        else:
            values[f.code] = round(assets * rng.uniform(0.01, 0.2), 2)
    if {"total_assets", "total_liabilities", "equity"} <= values.keys():
        values["total_liabilities"] = round(assets * _LIABILITY_SHARE, 2)
        values["equity"] = round(assets - float(values["total_liabilities"]), 2)
        values["total_assets"] = round(float(values["total_liabilities"]) + float(values["equity"]), 2)
    broken = checks.broken_checks(template, values)
    if broken:  # a template whose checks this simple shape cannot meet: say so, do not hide it
        raise ValueError(f"{template.code}: sample values break {[c.code for c, _ in broken]}")
    return values


def workbook(template: FilingTemplate, rows: Iterable[Mapping[str, Any]]) -> bytes:
    """An .xlsx in the template's columns; each row maps column keys (uscc, name, period, fields)."""
    columns = template_columns(template)
    wb = Workbook()  # not write-only: like Excel, it records the sheet's dimension, which readers use
    ws = wb.active
    ws.title = template.name_zh[:31]
    ws.append([c.header_zh for c in columns])
    for row in rows:
        ws.append([row.get(c.key) for c in columns])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


__all__ = ["sample_values", "talent_values", "workbook"]
