"""Calibration of the demo city: counts, growth, shocks and the latent health process.

Targets with a source:

- ``docs/reference/plan-baseline-2015.csv`` (the plan's section 一): 409 银证保金融机构 and
  995 备案私募基金管理人 at the end of 2015; 118 境内外上市公司; 155 新三板挂牌; 793 浙江股权交易所挂牌.
- ``docs/reference/plan-targets.csv``: 35 new BSI HQs / provincial branches / regional HQs over
  2016–2020 (三(四)3; the demo city adds 33, "nearly met").
- ``docs/reference/hangzhou-actuals.csv``: 260 listed companies on 2021-12-20.

Everything else here (type counts of local financial organizations, growth, shock sizes, the health
process) is a judgement made to look like Hangzhou, documented in ``docs/methods/demo-city.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qiantang.demo.calendar import quarter_index

# --- Plan baseline (plan-baseline-2015.csv) -------------------------------------------------------
BSI_OPEN_2015 = 409
PFM_OPEN_2015 = 995
LISTED_2015 = 118
NEEQ_2015 = 155
REGIONAL_EQUITY_2015 = 793
# hangzhou-actuals.csv: 260 listed on 2021-12-20 (199 domestic + 63 overseas incl. 2 A+H).
LISTED_2021 = 260
LISTED_OVERSEAS_SHARE = 63 / 262
# plan-targets.csv new_hq_branches = 35 (2016–2020); the demo city gets 33.
NEW_HIGH_LEVEL_2016_2020 = 33


@dataclass(frozen=True)
class Scale:
    """Sizes of one demo scale."""

    name: str
    enterprises: int
    loans: int
    guarantees: int
    institution_share: float  # 1.0: the real-sized registry; tiny keeps ~15 %
    listed_share: float  # share of the 118/260 exchange-listed firms kept
    quoted_share: float  # share of the NEEQ / regional-equity counts kept
    giant_component: int  # firms in the largest guarantee circle


SCALE_SPECS: dict[str, Scale] = {
    "tiny": Scale("tiny", 2_000, 5_000, 3_000, 0.15, 0.10, 0.01, 24),
    "small": Scale("small", 20_000, 60_000, 40_000, 1.0, 1.0, 0.10, 120),
    "city": Scale("city", 1_000_000, 3_000_000, 2_000_000, 1.0, 1.0, 1.0, 4_200),
}


# --- Licensed (BSI and others without filings) -----------------------------------------------------
@dataclass(frozen=True)
class StockSpec:
    """Institutions of one type and level open at the end of 2015."""

    type_code: str
    level: str
    count: int
    first_year: int
    last_year: int
    closed_in_2015: int = 0  # extra ones that closed during 2015 (not in the 2015 count)


# The 409 BSI institutions open on 2015-12-31, by type and level (sum = 409).
BSI_STOCK: tuple[StockSpec, ...] = (
    StockSpec("bank_policy", "provincial_branch", 3, 1995, 2000),
    StockSpec("bank_large", "provincial_branch", 6, 1990, 2008),
    StockSpec("bank_large", "branch", 6, 1990, 2008),
    StockSpec("bank_joint_stock", "branch", 12, 1993, 2013),
    StockSpec("bank_city", "hq", 1, 1996, 1996),
    StockSpec("bank_city", "branch", 13, 2007, 2015),
    StockSpec("bank_rural", "hq", 8, 2005, 2014),
    StockSpec("bank_village", "hq", 12, 2008, 2013),
    StockSpec("bank_private", "hq", 1, 2015, 2015),
    StockSpec("bank_foreign", "branch", 10, 2004, 2014),
    StockSpec("trust", "hq", 2, 2000, 2008),
    StockSpec("financial_leasing", "hq", 1, 2014, 2014),
    StockSpec("consumer_finance", "hq", 1, 2015, 2015),
    StockSpec("auto_finance", "hq", 1, 2013, 2013),
    StockSpec("finance_company", "hq", 8, 1998, 2014),
    StockSpec("amc_national", "provincial_branch", 4, 2000, 2001),
    StockSpec("securities", "hq", 3, 1993, 2002),
    StockSpec("securities", "provincial_branch", 20, 2003, 2015),
    StockSpec("securities", "branch", 67, 1995, 2015, closed_in_2015=2),
    StockSpec("fund_management", "hq", 2, 2010, 2015),
    StockSpec("futures", "hq", 10, 1995, 2006),
    StockSpec("futures", "branch", 30, 2000, 2015, closed_in_2015=1),
    StockSpec("securities_advisory", "hq", 5, 1997, 2010),
    StockSpec("insurance_property", "hq", 1, 2006, 2006),
    StockSpec("insurance_property", "provincial_branch", 45, 1996, 2015),
    StockSpec("insurance_property", "branch", 29, 2000, 2015),
    StockSpec("insurance_life", "hq", 1, 2010, 2010),
    StockSpec("insurance_life", "provincial_branch", 60, 1996, 2015),
    StockSpec("insurance_life", "branch", 46, 2000, 2015),
    StockSpec("insurance_asset_mgmt", "hq", 1, 2013, 2013),
)


@dataclass(frozen=True)
class NewEntry:
    """``count`` new institutions of one type and level in ``year``."""

    type_code: str
    level: str
    year: int
    count: int = 1


def _spread(type_code: str, level: str, per_year: dict[int, int]) -> tuple[NewEntry, ...]:
    return tuple(NewEntry(type_code, level, y, n) for y, n in per_year.items() if n)


# New HQ / regional-HQ / provincial-branch BSI institutions: 33 in 2016–2020 (the plan wanted 35),
# 11 in 2021–2025.
BSI_NEW_HIGH: tuple[NewEntry, ...] = (
    *_spread("insurance_property", "provincial_branch", {2016: 1, 2017: 1, 2018: 1, 2019: 1, 2020: 1}),
    *_spread("insurance_life", "provincial_branch", {2016: 2, 2017: 2, 2018: 1, 2019: 2, 2020: 1}),
    *_spread("securities", "provincial_branch", {2016: 1, 2017: 1, 2018: 2, 2019: 1, 2020: 1}),
    NewEntry("futures", "hq", 2017),
    NewEntry("fund_management", "hq", 2017),
    NewEntry("fund_management", "hq", 2019),
    NewEntry("consumer_finance", "hq", 2018),
    NewEntry("insurance_property", "hq", 2016),
    NewEntry("insurance_life", "hq", 2019),
    NewEntry("securities", "regional_hq", 2018),
    NewEntry("securities", "regional_hq", 2020),
    NewEntry("insurance_life", "regional_hq", 2017),
    NewEntry("bank_joint_stock", "regional_hq", 2020),
    NewEntry("amc_national", "provincial_branch", 2017),
    NewEntry("financial_leasing", "hq", 2016),
    NewEntry("finance_company", "hq", 2016),
    NewEntry("finance_company", "hq", 2018),
    # 2021–2025
    NewEntry("wealth_mgmt_subsidiary", "hq", 2021),
    NewEntry("wealth_mgmt_subsidiary", "hq", 2023),
    *_spread("insurance_property", "provincial_branch", {2021: 1, 2023: 1}),
    *_spread("insurance_life", "provincial_branch", {2022: 1, 2024: 1}),
    *_spread("securities", "provincial_branch", {2021: 1, 2022: 1, 2025: 1}),
    NewEntry("consumer_finance", "hq", 2022),
    NewEntry("fund_management", "hq", 2024),
)

# New branch-level BSI institutions per year (type, level) → {year: count}.
BSI_NEW_BRANCH: tuple[NewEntry, ...] = (
    *_spread(
        "securities",
        "branch",
        {2016: 3, 2017: 3, 2018: 2, 2019: 2, 2020: 2, 2021: 2, 2022: 1, 2023: 1, 2024: 1, 2025: 1},
    ),
    *_spread("futures", "branch", {2016: 1, 2017: 1, 2018: 1, 2019: 1, 2020: 1, 2021: 1, 2023: 1}),
    *_spread("insurance_property", "branch", {y: 1 for y in range(2016, 2026)}),
    *_spread("insurance_life", "branch", {y: 1 for y in range(2016, 2026)}),
    *_spread("bank_city", "branch", {2016: 1, 2018: 1, 2021: 1}),
    *_spread("bank_foreign", "branch", {2017: 1, 2024: 1}),
    *_spread("bank_village", "hq", {2021: 1}),
    *_spread("bank_large", "branch", {2022: 1, 2024: 1}),
    *_spread("bank_joint_stock", "branch", {2019: 1, 2023: 1}),
)

# Closures of branch-level BSI institutions (撤并) per year, drawn among these types.
BSI_EXITS_PER_YEAR: dict[int, int] = {
    2016: 2,
    2017: 3,
    2018: 4,
    2019: 4,
    2020: 4,
    2021: 4,
    2022: 3,
    2023: 4,
    2024: 3,
    2025: 3,
}
BSI_EXIT_TYPES = ("securities", "futures", "insurance_property", "insurance_life", "bank_foreign")


@dataclass(frozen=True)
class OtherSpec:
    """A type without filings and outside the BSI count: a stock, yearly entries and an exit hazard."""

    type_code: str
    stock: int
    first_year: int
    last_year: int
    new_per_year: dict[int, int] = field(default_factory=dict)
    exit_hazard: float = 0.0  # per year
    exit_years: tuple[int, int] = (2016, 2025)
    revoked_share: float = 0.3


OTHER_TYPES: tuple[OtherSpec, ...] = (
    OtherSpec("insurance_intermediary", 70, 2003, 2015, {y: 3 for y in range(2016, 2026)}, 0.025),
    OtherSpec("payment", 11, 2011, 2014, {2016: 1}, 0.025, revoked_share=0.5),
    OtherSpec("credit_reporting", 2, 2014, 2015, {2018: 1, 2020: 1}, 0.02),
    OtherSpec("regional_equity", 1, 2012, 2012),
    OtherSpec("local_exchange", 7, 2009, 2015, {2016: 1}, 0.12, (2017, 2019)),
    OtherSpec("local_amc", 1, 2013, 2013, {2018: 1}),
    OtherSpec("investment_company", 4, 2008, 2015, {2017: 1, 2019: 1}, 0.02),
)


# --- Local financial organizations and private fund managers: the latent health process ------------
def q(year: int, quarter: int) -> int:
    return quarter_index(year, quarter)


# Common shocks (innovations to every health-process institution's health), by quarter.
COMMON_SHOCKS: dict[int, float] = {
    q(2018, 3): -0.25,  # private-firm credit squeeze, trade war
    q(2018, 4): -0.20,
    q(2020, 1): -0.80,  # COVID-19
    q(2020, 2): -0.40,
    q(2022, 2): -0.35,  # 2022 lockdowns in the Yangtze delta
    q(2025, 2): -0.30,  # 2025 tariff shock
}


@dataclass(frozen=True)
class HealthSpec:
    """Parameters of the quarterly AR(1) health of one type (see docs/methods/demo-city.md)."""

    type_code: str
    stock: int  # established before 2016 (PFMs: the number open on 2015-12-31, exact)
    first_year: int
    last_year: int
    new_per_year: dict[int, int]
    mu: float = 0.0  # long-run mean of health
    phi: float = 0.8  # persistence
    sigma: float = 0.42  # idiosyncratic innovation s.d.
    fixed_sd: float = 0.45  # s.d. of the institution's own long-run level
    type_loading: float = 0.25  # loading on the type-wide quarterly factor
    theta: float = -2.1  # distress threshold
    voluntary_exit: float = 0.004  # per quarter, healthy institutions closing by choice
    resolving_share: float = 0.5  # distress events that are 风险处置 (else 停业整顿)
    direct_exit_share: float = 0.0  # distress events that are an immediate 注销 (PFMs)
    shocks: dict[int, float] = field(default_factory=dict)


def _quarters(year_from: int, year_to: int, value: float) -> dict[int, float]:
    return {q(y, k): value for y in range(year_from, year_to + 1) for k in range(1, 5)}


HEALTH_TYPES: tuple[HealthSpec, ...] = (
    HealthSpec(
        "small_loan",
        58,
        2008,
        2015,
        {2016: 1, 2018: 1, 2020: 1},
        theta=-2.3,
        shocks={**_quarters(2015, 2015, -0.12), q(2016, 1): -0.10, q(2018, 3): -0.35, q(2019, 1): -0.20},
    ),
    HealthSpec(
        "financing_guarantee",
        64,
        1999,
        2015,
        {2017: 1, 2018: 2, 2019: 2, 2020: 1, 2022: 1},
        shocks={**_quarters(2015, 2015, -0.12), q(2016, 1): -0.10, q(2018, 3): -0.35, q(2019, 1): -0.20},
    ),
    HealthSpec(
        "pawnshop",
        96,
        1993,
        2015,
        {y: 1 for y in range(2016, 2026)},
        mu=0.1,
        theta=-2.2,
        shocks={**_quarters(2015, 2015, -0.08), q(2019, 3): -0.20},
    ),
    HealthSpec(
        "finance_leasing",
        95,
        2009,
        2015,
        {2016: 55, 2017: 45, 2018: 20, 2019: 8, 2020: 3, 2021: 2, 2022: 2, 2023: 2, 2024: 2, 2025: 2},
        theta=-2.2,
        voluntary_exit=0.006,
        shocks={q(2019, 4): -0.30, q(2020, 3): -0.20},
    ),
    HealthSpec(
        "commercial_factoring",
        30,
        2012,
        2015,
        {2016: 25, 2017: 25, 2018: 15, 2019: 8, 2020: 4, 2021: 3, 2022: 3, 2023: 3, 2024: 3, 2025: 3},
        voluntary_exit=0.006,
        shocks={q(2019, 4): -0.30, q(2020, 3): -0.20},
    ),
    HealthSpec(
        "p2p_lending",
        185,
        2011,
        2015,
        {2016: 35, 2017: 6},
        mu=-0.2,
        sigma=0.45,
        theta=-2.0,
        voluntary_exit=0.01,
        resolving_share=0.7,
        shocks={
            q(2016, 2): -0.30,
            q(2016, 3): -0.20,  # 网贷风险专项整治 begins
            q(2018, 2): -1.50,
            q(2018, 3): -1.80,
            q(2018, 4): -1.00,  # the 2018 P2P collapse
            **_quarters(2019, 2019, -0.60),
            **_quarters(2020, 2020, -0.40),
        },
    ),
    HealthSpec(
        "private_fund_manager",
        995,
        2014,
        2015,
        {
            2016: 150,
            2017: 210,
            2018: 175,
            2019: 170,
            2020: 165,
            2021: 120,
            2022: 95,
            2023: 70,
            2024: 55,
            2025: 50,
        },
        sigma=0.45,
        theta=-2.3,
        voluntary_exit=0.005,
        resolving_share=0.35,
        direct_exit_share=0.6,
        shocks={
            q(2015, 3): -0.60,
            q(2016, 1): -0.50,
            q(2016, 2): -0.30,
            q(2018, 2): -0.20,
            q(2018, 3): -0.25,
            q(2024, 1): -0.30,
        },
    ),
)
HEALTH_TYPE_CODES = tuple(s.type_code for s in HEALTH_TYPES)

# Regulatory clean-ups that are policy, not health: every P2P platform gone by 2020-12-31; shell (空壳)
# leasing and factoring firms cleared 2020Q3–2022Q4.
P2P_WIND_DOWN_FROM = q(2019, 1)
P2P_WIND_DOWN_HAZARD = 0.22  # per quarter, healthy platforms entering 良性退出
P2P_ALL_GONE_BY = q(2020, 4)
SHELL_TYPES = ("finance_leasing", "commercial_factoring")
SHELL_SHARE = 0.15
SHELL_CLEANUP = (q(2020, 3), q(2022, 4))
SHELL_CLEANUP_HAZARD = 0.12

# Distress dynamics (quarters).
TRIGGER_LAGS = (1, 2, 3, 4)  # from the health crossing to the regulator's action
TRIGGER_LAG_P = (0.3, 0.3, 0.25, 0.15)
NEAR_MISS_MARGIN = 0.8  # no action if health has recovered above theta + margin by then
RECOVERY_MARGIN = 1.2  # health above theta + margin may lead to 恢复经营
RECOVERY_P = 0.6
EXIT_HAZARD_BASE = 0.12
EXIT_HAZARD_SLOPE = 0.04  # per quarter spent in distress
MAX_DISTRESS_QUARTERS = 10
