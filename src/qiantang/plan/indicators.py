"""Computed indicators: derived ones (from other indicators) and registry-backed ones (from the tables).

Both are recomputed as a whole by ``recompute`` after every change of inputs and stored with what
they were computed from; pages never compute them on the fly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.enterprises.models import Enterprise, ListingStatus
from qiantang.filings.models import Filing
from qiantang.registry.models import Cluster, ClusterGroup, Institution, InstitutionLevel, InstitutionType

# A year's value is "as of 31 December" of that year.
HQ_LEVELS = (
    InstitutionLevel.HQ.value,
    InstitutionLevel.REGIONAL_HQ.value,
    InstitutionLevel.PROVINCIAL_BRANCH.value,
)
WAN_PER_YI = 1e4  # 1 亿元 = 10,000 万元


@dataclass(frozen=True)
class Derived:
    """``code`` = formula over ``inputs`` (indicator codes), evaluated year by year."""

    code: str
    inputs: tuple[str, ...]
    formula: Callable[..., float]
    formula_zh: str


DERIVED: tuple[Derived, ...] = (
    Derived(
        "fin_share_gdp",
        ("fin_value_added", "gdp"),
        lambda f, g: f / g * 100,
        "金融业增加值 ÷ 地区生产总值 × 100",
    ),
    Derived(
        "fin_share_tertiary",
        ("fin_value_added", "tertiary_value_added"),
        lambda f, t: f / t * 100,
        "金融业增加值 ÷ 第三产业增加值 × 100",
    ),
    Derived(
        "insurance_depth", ("premiums", "gdp"), lambda p, g: p / g * 100, "保费收入 ÷ 地区生产总值 × 100"
    ),
    # 亿元 → 元 is × 1e8, 万人 → 人 is × 1e4.
    Derived(
        "insurance_density",
        ("premiums", "resident_population"),
        lambda p, n: p * 1e8 / (n * 1e4),
        "保费收入 × 10⁸ ÷（常住人口 × 10⁴）",
    ),
    Derived(
        "emerging_share",
        ("emerging_fin_value_added", "fin_value_added"),
        lambda e, f: e / f * 100,
        "新兴金融业增加值 ÷ 金融业增加值 × 100",
    ),
)


def _year_end(year: int) -> pd.Timestamp:
    return pd.Timestamp(date(year, 12, 31))


def _institutions(session: Session) -> pd.DataFrame:
    rows = session.execute(
        select(
            Institution.type_code,
            Institution.level,
            Institution.cluster_code,
            Institution.established_on,
            Institution.deregistered_on,
            InstitutionType.counts_as_bsi,
            InstitutionType.category,
        ).join(InstitutionType, InstitutionType.code == Institution.type_code)
    ).all()
    columns = ["type_code", "level", "cluster", "established", "deregistered", "bsi", "category"]
    df = pd.DataFrame(rows, columns=columns)
    df["level"] = df["level"].map(lambda v: getattr(v, "value", v))
    df["category"] = df["category"].map(lambda v: getattr(v, "value", v))
    df["established"] = pd.to_datetime(df["established"])
    df["deregistered"] = pd.to_datetime(df["deregistered"])
    return df


def _open_at(df: pd.DataFrame, year: int) -> pd.Series:
    end = _year_end(year)
    return (df["established"] <= end) & (df["deregistered"].isna() | (df["deregistered"] > end))


def _established_in(df: pd.DataFrame, year: int) -> pd.Series:
    return df["established"].dt.year == year


def registry_values(session: Session, *, base_year: int, last_year: int) -> dict[str, dict[int, float]]:
    """Every registry-backed indicator, per year-end from ``base_year`` to ``last_year``."""
    years = range(base_year, last_year + 1)
    inst = _institutions(session)
    out: dict[str, dict[int, float]] = {}
    if not inst.empty:
        bsi = inst[inst["bsi"]]
        pfm = inst[inst["type_code"] == "private_fund_manager"]
        other = inst[~inst["bsi"] & (inst["type_code"] != "private_fund_manager")]
        core_codes = set(
            session.scalars(select(Cluster.code).where(Cluster.group == ClusterGroup.CORE)).all()
        )
        # Licensed institutions only: the plan counts 省级以上总部 of financial institutions, not the
        # hundreds of small private-fund and local-organisation head offices.
        core = inst[
            inst["cluster"].isin(core_codes)
            & inst["level"].isin(HQ_LEVELS)
            & (inst["category"] == "licensed")
        ]
        new_hq = bsi[bsi["level"].isin(HQ_LEVELS) & (bsi["established"] > _year_end(base_year))]
        out["banking_securities_insurance_institutions"] = {y: float(_open_at(bsi, y).sum()) for y in years}
        out["private_fund_managers"] = {y: float(_open_at(pfm, y).sum()) for y in years}
        out["core_hq_count"] = {y: float(_open_at(core, y).sum()) for y in years}
        out["new_hq_branches"] = {y: float((new_hq["established"] <= _year_end(y)).sum()) for y in years}
        # Flows start the year after the base year: the base year itself is the starting point.
        out["new_pe_hedge_managers"] = {
            y: float(_established_in(pfm, y).sum()) for y in years if y > base_year
        }
        out["new_other_institutions"] = {
            y: float(_established_in(other, y).sum()) for y in years if y > base_year
        }
    out.update(_listing_values(session, base_year=base_year, years=years))
    out.update(_fund_values(session, years=years))
    return {code: values for code, values in out.items() if values}


def _listing_values(session: Session, *, base_year: int, years: range) -> dict[str, dict[int, float]]:
    rows = session.execute(
        select(Enterprise.listing_status, Enterprise.listed_on, Enterprise.deregistered_on).where(
            Enterprise.listing_status != ListingStatus.UNLISTED
        )
    ).all()
    if not rows:
        return {}
    df = pd.DataFrame(rows, columns=["status", "listed", "deregistered"])
    df["status"] = df["status"].map(lambda v: getattr(v, "value", v))
    df["listed"] = pd.to_datetime(df["listed"])
    df["deregistered"] = pd.to_datetime(df["deregistered"])

    def listed_at(mask: pd.Series, year: int) -> float:
        end = _year_end(year)
        alive = df["deregistered"].isna() | (df["deregistered"] > end)
        return float((mask & alive & (df["listed"] <= end)).sum())

    exchange = df["status"].isin([ListingStatus.LISTED_DOMESTIC.value, ListingStatus.LISTED_OVERSEAS.value])
    neeq = df["status"] == ListingStatus.NEEQ.value
    regional = df["status"] == ListingStatus.REGIONAL_EQUITY.value
    otc_new = (neeq | regional) & (df["listed"] > _year_end(base_year))
    return {
        "listed_companies": {y: listed_at(exchange, y) for y in years},
        "neeq_listings": {y: listed_at(neeq, y) for y in years},
        "zhejiang_equity_exchange_listings": {y: listed_at(regional, y) for y in years},
        "otc_new_listings": {y: float((otc_new & (df["listed"] <= _year_end(y))).sum()) for y in years},
    }


def _fund_values(session: Session, *, years: range) -> dict[str, dict[int, float]]:
    """Fund counts and AUM from private fund managers' fourth-quarter filings (current revisions)."""
    town_codes = set(session.scalars(select(Cluster.code).where(Cluster.group == ClusterGroup.TOWN)).all())
    ends = [date(y, 12, 31) for y in years]
    rows = session.execute(
        select(Filing.period_end, Filing.data, Institution.cluster_code)
        .join(Institution, Institution.id == Filing.institution_id)
        .where(
            Filing.template_code == "private_fund_manager",
            Filing.is_current.is_(True),
            Filing.period_end.in_(ends),
        )
    ).all()
    if not rows:
        return {}
    aum: dict[int, float] = {}
    funds: dict[int, float] = {}
    town: dict[int, float] = {}
    for period_end, data, cluster in rows:
        y = period_end.year
        value = float(data.get("aum") or 0.0) / WAN_PER_YI
        aum[y] = aum.get(y, 0.0) + value
        funds[y] = funds.get(y, 0.0) + float(data.get("fund_count") or 0)
        if cluster in town_codes:
            town[y] = town.get(y, 0.0) + value
    return {
        "private_fund_aum": {y: round(v, 2) for y, v in aum.items()},
        "private_funds": funds,
        "town_fund_total": {y: round(v, 2) for y, v in town.items()},
    }


def derived_values(
    best: Mapping[str, Mapping[int, tuple[float, str, str]]],
) -> dict[str, dict[int, tuple[float, list[dict]]]]:
    """Derived indicators for every year in which all inputs have a value.

    ``best`` maps input code → year → (value, quality, source). Returns code → year → (value, inputs).
    """
    out: dict[str, dict[int, tuple[float, list[dict]]]] = {}
    for d in DERIVED:
        series = [best.get(code, {}) for code in d.inputs]
        common = set.intersection(*(set(s) for s in series)) if series else set()
        values: dict[int, tuple[float, list[dict]]] = {}
        for year in sorted(common):
            args = [s[year][0] for s in series]
            if any(a == 0 for a in args[1:]):
                continue
            used = [
                {
                    "indicator": code,
                    "year": year,
                    "value": s[year][0],
                    "quality": s[year][1],
                    "source": s[year][2],
                }
                for code, s in zip(d.inputs, series, strict=True)
            ]
            values[year] = (round(d.formula(*args), 4), used)
        if values:
            out[d.code] = values
    return out
