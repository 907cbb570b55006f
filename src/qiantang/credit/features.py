"""Enterprise features for credit scoring (feature set ``enterprise-v1``) and the demo's target.

One pure function, ``compute_features(raw, as_of)``, turns raw enterprise data — firmographics, the
latest financial year on or before the as-of date (and the two before it), loan and guarantee
aggregates — into model features. The batch job reads ``raw`` for every enterprise from the database
(``read_raw``); the scoring API builds the same ``raw`` from one JSON record (``raw_from_record``), so a
single record and a million go through the same code.

Target of the demo model (``read_target``), a behavioural one-year PD: the population is the enterprises
with a loan running at the observation date (2024-12-31); one is *bad* when any of its loans is classified
次级, 可疑 or 损失 at the performance date a year later (2025-12-31), good otherwise (loans repaid count as
good). Firms already in default at the observation date (more than 90 days past due then) are left out.
Features see only what was known at the observation date: financial year ≤ 2024, age at 2024-12-31,
loans and guarantees signed by then.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from qiantang.credit.tabular import Feature

FEATURE_SET = "enterprise-v1"
RATIO_CAP = 99.0  # a ratio whose denominator is zero and numerator positive (e.g. no interest to pay)
NPL_CLASSES = ("substandard", "doubtful", "loss")

FEATURES: tuple[Feature, ...] = (
    Feature("industry_section", "categorical", "行业门类"),
    Feature("size_class", "categorical", "企业规模"),
    Feature("listing", "categorical", "上市挂牌情况"),
    Feature("high_tech", "categorical", "高新技术企业"),
    Feature("age_years", "numeric", "成立年限（年）"),
    Feature("employees", "numeric", "从业人员（人）"),
    Feature("revenue_wan", "numeric", "营业收入（万元）"),
    Feature("revenue_growth", "numeric", "营业收入增长率"),
    Feature("debt_ratio", "numeric", "资产负债率"),
    Feature("current_ratio", "numeric", "流动比率"),
    Feature("roa", "numeric", "总资产净利率"),
    Feature("net_margin", "numeric", "销售净利率"),
    Feature("interest_coverage", "numeric", "利息保障倍数"),
    Feature("ocf_to_liabilities", "numeric", "经营现金流/负债"),
    Feature("tax_to_revenue", "numeric", "纳税额/营业收入"),
    Feature("asset_turnover", "numeric", "总资产周转率"),
    Feature("loss_years", "numeric", "近三年亏损年数"),
    Feature("loan_count", "numeric", "贷款笔数（全部合同）"),
    Feature("lender_count", "numeric", "贷款机构家数"),
    Feature("guarantee_given_ratio", "numeric", "对外担保合同金额/总资产"),
    Feature("guarantor_count", "numeric", "担保方数量"),
    Feature("mutual_guarantee", "categorical", "参与互保/联保"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
# English names of the features (the Chinese ones are their labels above).
FEATURE_EN = {
    "industry_section": "Industry section",
    "size_class": "Size class",
    "listing": "Listing",
    "high_tech": "High-tech enterprise",
    "age_years": "Years in business",
    "employees": "Employees",
    "revenue_wan": "Revenue (CNY 10k)",
    "revenue_growth": "Revenue growth",
    "debt_ratio": "Debt ratio",
    "current_ratio": "Current ratio",
    "roa": "Return on assets",
    "net_margin": "Net margin",
    "interest_coverage": "Interest coverage",
    "ocf_to_liabilities": "Operating cash flow / liabilities",
    "tax_to_revenue": "Tax / revenue",
    "asset_turnover": "Asset turnover",
    "loss_years": "Loss-making years (last three)",
    "loan_count": "Loans (all contracts)",
    "lender_count": "Lenders",
    "guarantee_given_ratio": "Guarantees given / total assets",
    "guarantor_count": "Guarantors",
    "mutual_guarantee": "In mutual or joint guarantees",
}
# Features that are fractions, shown as percentages (0.25 → 25%).
PERCENT_FEATURES = frozenset(
    {
        "revenue_growth",
        "debt_ratio",
        "roa",
        "net_margin",
        "ocf_to_liabilities",
        "tax_to_revenue",
        "guarantee_given_ratio",
    }
)
# Key ratios the credit report compares with industry peers (name → format).
KEY_RATIOS = (
    ("debt_ratio", "pct"),
    ("current_ratio", "x"),
    ("roa", "pct"),
    ("net_margin", "pct"),
    ("revenue_growth", "pct"),
    ("interest_coverage", "x"),
    ("ocf_to_liabilities", "pct"),
    ("tax_to_revenue", "pct"),
)
FINANCIAL_COLUMNS = (
    "revenue",
    "net_profit",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "operating_cash_flow",
    "interest_expense",
    "tax_paid",
    "employees",
)
LISTED = {"listed_domestic": "上市", "listed_overseas": "上市", "neeq": "挂牌", "regional_equity": "挂牌"}


def feature(name: str) -> Feature:
    return next(f for f in FEATURES if f.name == name)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den; NaN when either is missing or both are zero, the cap when only den is zero and num > 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out = np.where((den == 0) & (num > 0), RATIO_CAP, out)
    out = np.where((den == 0) & (num <= 0), np.nan, out)
    return np.clip(out, -RATIO_CAP, RATIO_CAP)


def _positive(values: Any) -> np.ndarray:
    """The values, with zero or negative ones (impossible for revenue or assets) as missing."""
    x = np.asarray(values, dtype=np.float64)
    return np.where(x > 0, x, np.nan)


def compute_features(raw: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Model features from raw enterprise data (one row per enterprise; see module docstring)."""
    rev = _positive(raw["revenue"])
    assets = _positive(raw["total_assets"])
    liabilities = np.asarray(raw["total_liabilities"], dtype=np.float64)
    profit = np.asarray(raw["net_profit"], dtype=np.float64)
    interest = np.asarray(raw["interest_expense"], dtype=np.float64)
    tax = np.asarray(raw["tax_paid"], dtype=np.float64)
    founded = pd.to_datetime(raw["founded_on"], errors="coerce")
    age = (pd.Timestamp(as_of) - founded).dt.days.to_numpy(dtype=np.float64) / 365.25
    age = np.where(age >= 0, age, np.nan)
    losses = np.zeros(len(raw))
    seen = np.zeros(len(raw))
    for col in ("net_profit", "net_profit_prev", "net_profit_prev2"):
        v = np.asarray(raw[col], dtype=np.float64)
        losses += np.nan_to_num(v, nan=0.0) < 0
        seen += ~np.isnan(v)
    listing = raw["listing_status"].map(lambda v: LISTED.get(v, "未上市") if isinstance(v, str) else None)
    high_tech = raw["high_tech"].map(lambda v: None if v is None or v != v else ("是" if bool(v) else "否"))
    mutual = raw["mutual_guarantee"].map(
        lambda v: None if v is None or v != v else ("是" if bool(v) else "否")
    )
    ebit = profit + np.nan_to_num(interest, nan=0.0) + np.nan_to_num(tax, nan=0.0)
    out = {
        "industry_section": raw["industry_section"]
        .astype(object)
        .where(raw["industry_section"].notna(), None),
        "size_class": raw["size_class"].astype(object).where(raw["size_class"].notna(), None),
        "listing": listing.astype(object),
        "high_tech": high_tech.astype(object),
        "age_years": age,
        "employees": np.asarray(raw["employees"], dtype=np.float64),
        "revenue_wan": rev / 10_000.0,
        "revenue_growth": _ratio(rev, _positive(raw["revenue_prev"])) - 1.0,
        "debt_ratio": _ratio(liabilities, assets),
        "current_ratio": _ratio(raw["current_assets"], raw["current_liabilities"]),
        "roa": _ratio(profit, assets),
        "net_margin": _ratio(profit, rev),
        "interest_coverage": _ratio(ebit, interest),
        "ocf_to_liabilities": _ratio(raw["operating_cash_flow"], liabilities),
        "tax_to_revenue": _ratio(tax, rev),
        "asset_turnover": _ratio(rev, assets),
        "loss_years": np.where(seen > 0, losses, np.nan),
        "loan_count": np.asarray(raw["loan_count"], dtype=np.float64),
        "lender_count": np.asarray(raw["lender_count"], dtype=np.float64),
        "guarantee_given_ratio": _ratio(
            np.nan_to_num(np.asarray(raw["guarantee_given"], dtype=np.float64)), assets
        ),
        "guarantor_count": np.asarray(raw["guarantor_count"], dtype=np.float64),
        "mutual_guarantee": mutual.astype(object),
    }
    frame = pd.DataFrame(out)
    for f in FEATURES:
        if f.kind == "categorical":
            frame[f.name] = frame[f.name].astype(object).where(frame[f.name].notna(), None)
    return frame


# ---------------------------------------------------------------------------------- database reads
def _literal(value: Any) -> str:
    """An SQL literal for the few values these queries take (dates and integers we produce ourselves)."""
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, int | np.integer):
        return str(int(value))
    raise TypeError(f"unsupported literal {value!r}")


def _frame(
    conn: Connection, sql: str, columns: list[str], *, floats: tuple[str, ...] = (), **params: Any
) -> pd.DataFrame:
    """A query's rows as a data frame, streamed through the driver's cursor in chunks.

    The DBAPI cursor (a server-side one on PostgreSQL) skips SQLAlchemy's per-row work, and an
    all-number query becomes one float64 array per chunk: millions of rows never sit as Python rows.
    """
    for name, value in params.items():
        sql = sql.replace(f":{name}", _literal(value))
    raw = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = raw.cursor(name="qiantang_credit_read") if postgres else raw.cursor()
    numeric = set(floats) == set(columns)
    parts = []
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(200_000)
            if not rows:
                break
            if numeric:
                parts.append(
                    pd.DataFrame(
                        np.array(rows, dtype=np.float64).reshape(len(rows), len(columns)), columns=columns
                    )
                )
            else:
                part = pd.DataFrame.from_records(rows, columns=columns)
                for c in columns:
                    if c in floats:
                        part[c] = pd.to_numeric(part[c], errors="coerce").astype(np.float64)
                    elif part[c].dtype == object:  # codes repeat: one string object per distinct value
                        part[c] = part[c].map(lambda v: sys.intern(v) if isinstance(v, str) else v)
                parts.append(part)
            del rows
    finally:
        cursor.close()
    if not parts:
        out = pd.DataFrame({c: pd.Series(dtype=np.float64 if c in floats else object) for c in columns})
    else:
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for c in ("enterprise_id", "year", "bad"):  # keys and flags are integers
        if c in out.columns and c in floats:
            out[c] = out[c].fillna(0).astype(np.int64)
    return out


@dataclass
class RawData:
    """Raw enterprise data for ``compute_features``, one row per enterprise (``enterprise_id``)."""

    frame: pd.DataFrame
    as_of: date
    financial_year: int


def read_raw(conn: Connection, *, as_of: date, enterprise_ids: list[int] | None = None) -> RawData:
    """Everything ``compute_features`` needs for every enterprise alive at ``as_of`` (or the given ids)."""
    year = as_of.year
    where = "(e.deregistered_on IS NULL OR e.deregistered_on > :d)"
    listed = None
    if enterprise_ids is not None:
        listed = ",".join(str(int(i)) for i in enterprise_ids) or "NULL"
        where = f"e.id IN ({listed})"

    def only(column: str) -> str:
        """For a few firms (a report, an API call) restrict every aggregate, not only the firm list."""
        return "" if listed is None else f" AND {column} IN ({listed})"

    ent = _frame(
        conn,
        "SELECT e.id, e.industry_section, e.size_class, CAST(e.founded_on AS VARCHAR(10)), e.listing_status, "
        f"e.high_tech, e.district_code FROM enterprises e WHERE {where} ORDER BY e.id",
        [
            "enterprise_id",
            "industry_section",
            "size_class",
            "founded_on",
            "listing_status",
            "high_tech",
            "district_code",
        ],
        d=as_of,
    )
    cols = ", ".join(f"f.{c}" for c in FINANCIAL_COLUMNS)
    fin = _frame(
        conn,
        f"SELECT f.enterprise_id, f.year, {cols} FROM enterprise_financials f "
        "WHERE f.year BETWEEN :y0 AND :y1" + only("f.enterprise_id"),
        ["enterprise_id", "year", *FINANCIAL_COLUMNS],
        floats=("enterprise_id", "year", *FINANCIAL_COLUMNS),
        y0=year - 3,
        y1=year,
    )
    frame = ent
    if len(fin):
        # Latest year per firm, then the one and two before it.
        last = fin.groupby("enterprise_id", sort=False)["year"].transform("max")
        latest = fin[fin["year"] == last].rename(columns={"year": "fin_year"})
        prev = fin[fin["year"] == last - 1][["enterprise_id", "revenue", "net_profit"]].rename(
            columns={"revenue": "revenue_prev", "net_profit": "net_profit_prev"}
        )
        prev2 = fin[fin["year"] == last - 2][["enterprise_id", "net_profit"]].rename(
            columns={"net_profit": "net_profit_prev2"}
        )
        del fin
        frame = frame.merge(latest, on="enterprise_id", how="left")
        frame = frame.merge(prev, on="enterprise_id", how="left").merge(prev2, on="enterprise_id", how="left")
    for c in (*FINANCIAL_COLUMNS, "revenue_prev", "net_profit_prev", "net_profit_prev2", "fin_year"):
        if c not in frame:
            frame[c] = np.nan
    # Only contracts signed by the as-of date: features observed a year before the target must not see
    # the loans and guarantees of the performance year. ``outstanding`` counts the loans running on the
    # as-of date — the population the demo model was developed on (see ``in_population``).
    loans = _frame(
        conn,
        "SELECT borrower_id, COUNT(*), COUNT(DISTINCT lender_id), "
        "SUM(CASE WHEN maturity_date >= :d THEN 1 ELSE 0 END) FROM loans WHERE start_date <= :d"
        + only("borrower_id")
        + " GROUP BY borrower_id",
        ["enterprise_id", "loan_count", "lender_count", "outstanding"],
        floats=("enterprise_id", "loan_count", "lender_count", "outstanding"),
        d=as_of,
    )
    in_force = "start_date <= :d AND (end_date IS NULL OR end_date >= :d)"
    given = _frame(
        conn,
        "SELECT guarantor_enterprise_id, SUM(amount) FROM guarantees "
        f"WHERE guarantor_enterprise_id IS NOT NULL AND {in_force}"
        + only("guarantor_enterprise_id")
        + " GROUP BY guarantor_enterprise_id",
        ["enterprise_id", "guarantee_given"],
        floats=("enterprise_id", "guarantee_given"),
        d=as_of,
    )
    received = _frame(
        conn,
        "SELECT borrower_id, COUNT(DISTINCT COALESCE(guarantor_enterprise_id, -guarantor_institution_id)) "
        f"FROM guarantees WHERE {in_force}" + only("borrower_id") + " GROUP BY borrower_id",
        ["enterprise_id", "guarantor_count"],
        floats=("enterprise_id", "guarantor_count"),
        d=as_of,
    )
    mutual = _frame(
        conn,
        f"SELECT borrower_id FROM guarantees WHERE kind IN ('mutual', 'joint') AND {in_force}"
        + only("borrower_id")
        + " UNION SELECT guarantor_enterprise_id FROM guarantees WHERE kind IN ('mutual', 'joint') "
        f"AND guarantor_enterprise_id IS NOT NULL AND {in_force}" + only("guarantor_enterprise_id"),
        ["enterprise_id"],
        floats=("enterprise_id",),
        d=as_of,
    )
    for part in (loans, given, received):
        frame = frame.merge(part, on="enterprise_id", how="left")
    frame["loan_count"] = frame["loan_count"].fillna(0)
    frame["lender_count"] = frame["lender_count"].fillna(0)
    frame["outstanding"] = frame["outstanding"].fillna(0)
    frame["guarantor_count"] = frame["guarantor_count"].fillna(0)
    frame["guarantee_given"] = frame["guarantee_given"].fillna(0)
    frame["mutual_guarantee"] = frame["enterprise_id"].isin(mutual["enterprise_id"])
    frame["high_tech"] = frame["high_tech"].astype(bool)
    return RawData(frame, as_of, year)


def in_population(raw: pd.DataFrame) -> np.ndarray:
    """Enterprises like those an enterprise model was developed on: a loan running on the as-of date.

    Every enterprise is scored, but stability (``service.batch_score``) is measured on this population
    only: comparing borrowers at development with all firms today would report the difference between
    borrowers and non-borrowers as drift, and warn for ever.
    """
    return raw["outstanding"].to_numpy(dtype=np.float64) > 0


def read_target(conn: Connection, *, performance_date: date) -> pd.DataFrame:
    """Borrowers with a loan outstanding at ``performance_date``: ``enterprise_id``, ``bad`` (0/1) and
    ``max_dpd`` (the most days past due of any of its loans on that date).

    Classes on that date come from the dated history (``loan_classifications``), and from the loans'
    current rows for loans with no history row on that date — so an earlier year-end is a performance
    date as good as the current one (out-of-time validation)."""
    classes = ", ".join(f"'{c}'" for c in NPL_CLASSES)
    return _frame(
        conn,
        f"SELECT borrower_id, MAX(CASE WHEN classification IN ({classes}) THEN 1 ELSE 0 END), "
        "MAX(days_past_due) FROM ("
        " SELECT l.borrower_id, h.classification, COALESCE(h.days_past_due, 0) AS days_past_due"
        " FROM loan_classifications h JOIN loans l ON l.id = h.loan_id"
        " WHERE h.as_of = :d AND COALESCE(h.balance, 1) > 0"
        " UNION ALL"
        " SELECT borrower_id, classification, days_past_due FROM loans"
        " WHERE as_of = :d AND balance > 0"
        " AND NOT EXISTS (SELECT 1 FROM loan_classifications h2"
        " WHERE h2.loan_id = loans.id AND h2.as_of = :d)"
        ") known GROUP BY borrower_id",
        ["enterprise_id", "bad", "max_dpd"],
        floats=("enterprise_id", "bad", "max_dpd"),
        d=performance_date,
    )


def latest_loan_date(conn: Connection) -> date | None:
    row = conn.execute(text("SELECT MAX(as_of) FROM loans")).scalar()
    if row is None:
        return None
    return row if isinstance(row, date) else date.fromisoformat(str(row)[:10])


# ---------------------------------------------------------------------------------- one record (API)
def raw_from_record(record: dict[str, Any]) -> pd.DataFrame:
    """A one-row ``raw`` frame from an API record (already type-checked by its schema)."""
    from qiantang.standards.industry import section_of

    row: dict[str, Any] = {c: record.get(c) for c in FINANCIAL_COLUMNS}
    section = record.get("industry_section")
    code = record.get("industry_code")
    if not section and code:
        try:
            section = section_of(str(code)).code
        except Exception:  # unknown code: the missing/unknown bin, explained in the notes
            section = None
    row.update(
        {
            "enterprise_id": 0,
            "industry_section": section,
            "size_class": record.get("size_class"),
            "founded_on": record.get("founded_on"),
            "listing_status": record.get("listing_status"),
            "high_tech": record.get("high_tech"),
            "revenue_prev": record.get("revenue_prev"),
            "net_profit_prev": record.get("net_profit_prev"),
            "net_profit_prev2": record.get("net_profit_prev2"),
            "loan_count": record.get("loan_count"),
            "lender_count": record.get("lender_count"),
            "guarantee_given": record.get("guarantee_given"),
            "guarantor_count": record.get("guarantor_count"),
            "mutual_guarantee": record.get("mutual_guarantee"),
        }
    )
    frame = pd.DataFrame([row])
    for c in (
        *FINANCIAL_COLUMNS,
        "revenue_prev",
        "net_profit_prev",
        "net_profit_prev2",
        "loan_count",
        "lender_count",
        "guarantee_given",
        "guarantor_count",
    ):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
    return frame


def record_notes(raw: pd.DataFrame, features: pd.DataFrame) -> list[str]:
    """Plain-Chinese notes on odd or missing inputs of one record and how they were scored."""
    r = raw.iloc[0]
    f = features.iloc[0]
    notes = []
    if f["industry_section"] is None:
        notes.append("行业代码缺失或无法识别（GB/T 4754-2017），行业按“缺失/未知”分箱计分")
    for col, name in (("revenue", "营业收入"), ("total_assets", "资产总额")):
        v = r[col]
        if v is not None and not np.isnan(v) and v <= 0:
            notes.append(f"{name}为 {v:,.2f} 元（不应为零或负数），依赖它的比率按缺失值分箱计分")
        elif v is None or np.isnan(v):
            notes.append(f"未提供{name}，依赖它的比率按缺失值分箱计分")
    for feat in FEATURES:
        value = f[feat.name]
        missing = value is None or (isinstance(value, float) and np.isnan(value))
        if missing and feat.name not in ("industry_section",):
            notes.append(f"「{feat.label}」无法计算或未提供，按“缺失/未知”分箱计分")
    return list(dict.fromkeys(notes))


__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SET",
    "KEY_RATIOS",
    "RawData",
    "compute_features",
    "feature",
    "in_population",
    "latest_loan_date",
    "raw_from_record",
    "read_raw",
    "read_target",
    "record_notes",
]
