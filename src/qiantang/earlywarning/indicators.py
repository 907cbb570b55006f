"""Indicator definitions (with a version) and their vectorised computation over the panel.

Every indicator has a Chinese and English name, a unit and a direction of risk:

* ``up``   — higher is riskier (leverage, concentration, overdue share, lateness …)
* ``down`` — lower is riskier (capital, liquidity, profitability, coverage …)
* ``both`` — both tails are adverse (growth: a sudden expansion or a run-off)
* ``none`` — descriptive only

Ratios are stored in percent (``%``) or as multiples (``倍``). A ratio over net assets or registered
capital whose denominator is zero or negative while its numerator is positive cannot be computed; it is
stored as :data:`CAP_PCT` / :data:`CAP_MULT` (the limit is certainly breached) and the evidence says so.
Ratios over a balance that is zero are not applicable (NaN, not stored).

Changing a formula changes :data:`VERSION`; every stored value carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qiantang.earlywarning.panel import KEY, Panel, lag_lookup, lookup_at_or_before

# 2026.2: prior-year-end net assets from the latest return before it when the Q4 return is missing.
VERSION = "ind-2026.2"
CAP_PCT = 9_999.0  # a percentage over a non-positive denominator
CAP_MULT = 999.0  # a multiple over a non-positive denominator
# Beyond ±1000% a percentage indicator is almost surely a reporting error (a tiny or wrong denominator):
# it is shown with a note asking to check the filing, never as if it were a real rate.
PLAUSIBLE_PCT = 1_000.0

ALL = None  # every template

# The main business balance of each template (growth is measured on it).
MAIN_BALANCE = {
    "small_loan": "loan_balance",
    "financing_guarantee": "financing_guarantee_balance",
    "pawnshop": "pawn_balance",
    "finance_leasing": "leasing_assets",
    "commercial_factoring": "factoring_balance",
    "p2p_lending": "outstanding_balance",
    "private_fund_manager": "aum",
}
# Year-to-date flows that can never fall within a year (income, compensation): a fall is inconsistent.
YTD_NON_DECREASING = (
    "interest_income",
    "guarantee_fee_income",
    "compensation_paid",
    "compensation_recovered",
    "fee_income",
    "lease_income",
    "management_fee_income",
)
CAPITAL_TOLERANCE = 0.005  # filed registered capital may differ from the registry's by 0.5 %


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    name_en: str
    unit: str  # "%", "倍", "天", "次", "项", "万元"
    direction: str  # up | down | both | none
    templates: tuple[str, ...] | None
    formula_zh: str
    peer: bool = True  # checked against peers of the same type and quarter
    group: str = ""  # capital | leverage | … | earnings | filing | conduct

    def applies_to(self, template: str) -> bool:
        return self.templates is None or template in self.templates


SL, FG, PW = ("small_loan",), ("financing_guarantee",), ("pawnshop",)
FL, CF, P2P, PFM = (
    ("finance_leasing",),
    ("commercial_factoring",),
    ("p2p_lending",),
    ("private_fund_manager",),
)
LENDERS_CASH = ("small_loan", "financing_guarantee", "pawnshop", "finance_leasing", "commercial_factoring")

INDICATORS: tuple[Indicator, ...] = (
    # --- every template -------------------------------------------------------------------------
    Indicator(
        "equity_to_capital",
        "净资产/注册资本",
        "Net assets / registered capital",
        "%",
        "down",
        ALL,
        "所有者权益 ÷ 注册资本（报表注册资本，缺则用登记注册资本）",
        group="capital",
    ),
    Indicator(
        "debt_ratio",
        "资产负债率",
        "Liabilities / assets",
        "%",
        "up",
        ALL,
        "负债总额 ÷ 资产总额",
        group="leverage",
    ),
    Indicator(
        "roa",
        "年化总资产收益率",
        "Return on assets (annualised)",
        "%",
        "down",
        ALL,
        "本年累计净利润 × 4/季度数 ÷ 资产总额",
        group="earnings",
    ),
    Indicator(
        "roe",
        "年化净资产收益率",
        "Return on equity (annualised)",
        "%",
        "down",
        ALL,
        "本年累计净利润 × 4/季度数 ÷ 所有者权益（净资产≤0时不计算）",
        group="earnings",
    ),
    Indicator(
        "cash_ratio",
        "货币资金/资产总额",
        "Cash / total assets",
        "%",
        "down",
        LENDERS_CASH,
        "货币资金 ÷ 资产总额",
        group="liquidity",
    ),
    Indicator(
        "growth_qoq",
        "主营余额环比增长",
        "Main balance, quarter on quarter",
        "%",
        "both",
        ALL,
        "主营业务余额（贷款/在保/典当/租赁/保理/借贷余额/在管规模）较上季末变化",
        group="growth",
    ),
    Indicator(
        "growth_yoy",
        "主营余额同比增长",
        "Main balance, year on year",
        "%",
        "both",
        ALL,
        "主营业务余额较上年同季末变化",
        group="growth",
    ),
    Indicator(
        "equity_qoq",
        "净资产环比变化",
        "Net assets, quarter on quarter",
        "%",
        "down",
        ALL,
        "所有者权益较上季末变化（上季末净资产≤0时不计算）",
        group="capital",
    ),
    # --- filing behaviour (every template; also for quarters with no return) ------------------------
    Indicator(
        "filing_missing",
        "本季未报送",
        "Return missing this quarter",
        "次",
        "up",
        ALL,
        "应报未报为 1",
        peer=False,
        group="filing",
    ),
    Indicator(
        "filing_missing_4q",
        "近4季缺报次数",
        "Missing returns, last 4 quarters",
        "次",
        "up",
        ALL,
        "本季及前3季中应报未报的季度数",
        peer=False,
        group="filing",
    ),
    Indicator(
        "filing_late",
        "逾期报送",
        "Filed late",
        "次",
        "up",
        ALL,
        "首次报送晚于截止日为 1",
        peer=False,
        group="filing",
    ),
    Indicator(
        "filing_days_late",
        "迟报天数",
        "Days late",
        "天",
        "up",
        ALL,
        "首次报送日 − 报送截止日（不早于 0）",
        peer=False,
        group="filing",
    ),
    Indicator(
        "filing_revisions",
        "更正次数",
        "Revisions",
        "次",
        "up",
        ALL,
        "同一报告期的报表版本数 − 1",
        peer=False,
        group="filing",
    ),
    Indicator(
        "filing_inconsistent",
        "报表内部不一致项数",
        "Internal inconsistencies",
        "项",
        "up",
        ALL,
        "本年累计数较上季下降的项数 + 注册资本与登记不一致（>0.5%）",
        peer=False,
        group="filing",
    ),
    # --- conduct: the dispute register (every quarter, filed or not) -------------------------------
    Indicator(
        "disputes_received",
        "本季收到的金融纠纷",
        "Disputes received this quarter",
        "件",
        "up",
        ALL,
        "金融纠纷登记中本季收到的、以该机构为被申请方的纠纷件数（调解、仲裁、诉讼）",
        peer=False,
        group="conduct",
    ),
    # --- small-loan companies ---------------------------------------------------------------------
    Indicator(
        "sl_nonstd_leverage",
        "非标准化融资/净资产",
        "Non-standard financing / net assets",
        "倍",
        "up",
        SL,
        "（银行借款 + 股东借款）÷ 所有者权益",
        group="leverage",
    ),
    Indicator(
        "sl_std_leverage",
        "标准化债权融资/净资产",
        "Bonds and ABS / net assets",
        "倍",
        "up",
        SL,
        "债券及资产证券化融资余额 ÷ 所有者权益",
        group="leverage",
    ),
    Indicator(
        "sl_bank_funding",
        "银行融入资金/资本净额",
        "Bank funding / net capital",
        "%",
        "up",
        SL,
        "银行借款余额 ÷ 所有者权益（以净资产近似资本净额）",
        group="leverage",
    ),
    Indicator(
        "sl_single_borrower",
        "同一借款人贷款/净资产",
        "Largest borrower / net assets",
        "%",
        "up",
        SL,
        "最大单一借款人贷款余额 ÷ 本期所有者权益",
        group="concentration",
    ),
    Indicator(
        "sl_single_related",
        "同一借款人及关联方/净资产",
        "Borrower and related / net assets",
        "%",
        "up",
        SL,
        "最大单一借款人及其关联方贷款余额 ÷ 本期所有者权益",
        group="concentration",
    ),
    Indicator(
        "sl_single_borrower_pye",
        "同一借款人贷款/上年末净资产",
        "Largest borrower / prior year-end net assets",
        "%",
        "up",
        SL,
        "最大单一借款人贷款余额 ÷ 上年末所有者权益（新设公司用本期）",
        group="concentration",
    ),
    Indicator(
        "sl_single_related_pye",
        "同一借款人及关联方/上年末净资产",
        "Borrower and related / prior year-end net assets",
        "%",
        "up",
        SL,
        "最大单一借款人及其关联方贷款余额 ÷ 上年末所有者权益（新设公司用本期）",
        group="concentration",
    ),
    Indicator(
        "sl_overdue90_share",
        "逾期90天以上贷款占比",
        "Loans 90+ days overdue",
        "%",
        "up",
        SL,
        "（逾期91-180天 + 181-360天 + 360天以上）÷ 贷款余额",
        group="asset",
    ),
    Indicator(
        "sl_npl_ratio", "不良贷款率", "NPL ratio", "%", "up", SL, "不良贷款余额 ÷ 贷款余额", group="asset"
    ),
    Indicator(
        "sl_provision_coverage",
        "拨备覆盖率",
        "Provision coverage",
        "%",
        "down",
        SL,
        "贷款损失准备 ÷ 不良贷款余额（无不良时不计算）",
        group="asset",
    ),
    Indicator(
        "sl_top10_share",
        "前十大借款人占比",
        "Top-10 borrowers share",
        "%",
        "up",
        SL,
        "前十大借款人贷款余额 ÷ 贷款余额",
        group="concentration",
    ),
    Indicator(
        "sl_related_loans",
        "关联方贷款占比",
        "Related-party loans share",
        "%",
        "up",
        SL,
        "关联方贷款余额 ÷ 贷款余额",
        group="concentration",
    ),
    # --- financing guarantee ----------------------------------------------------------------------
    Indicator(
        "fg_leverage",
        "融资担保放大倍数",
        "Financing guarantees / net assets",
        "倍",
        "up",
        FG,
        "融资担保责任余额 ÷ 所有者权益",
        group="leverage",
    ),
    Indicator(
        "fg_sma_share",
        "小微和“三农”业务占比",
        "Small, micro and agricultural share",
        "%",
        "none",
        FG,
        "报表所填小微企业和“三农”融资担保业务占比",
        peer=False,
        group="leverage",
    ),
    Indicator(
        "fg_sma_share_8q",
        "小微和“三农”业务占比（近8季均值）",
        "Small, micro and agricultural share, 8-quarter mean",
        "%",
        "none",
        FG,
        "本季及前7季所报占比的平均数（认定“主要为小微和三农服务”用）",
        peer=False,
        group="leverage",
    ),
    Indicator(
        "fg_single_party",
        "同一被担保人责任余额/净资产",
        "Largest guaranteed party / net assets",
        "%",
        "up",
        FG,
        "最大单一被担保人融资担保责任余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fg_single_related",
        "同一被担保人及关联方/净资产",
        "Party and related / net assets",
        "%",
        "up",
        FG,
        "最大单一被担保人及其关联方融资担保责任余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fg_compensation_rate",
        "年化代偿率",
        "Compensation rate (annualised)",
        "%",
        "up",
        FG,
        "本年累计代偿金额 × 4/季度数 ÷ 融资担保责任余额",
        group="asset",
    ),
    Indicator(
        "fg_receivable_to_equity",
        "应收代偿款/净资产",
        "Compensation receivable / net assets",
        "%",
        "up",
        FG,
        "应收代偿款 ÷ 所有者权益",
        group="asset",
    ),
    Indicator(
        "fg_reserve_coverage",
        "准备金/融资担保责任余额",
        "Reserves / financing guarantees",
        "%",
        "down",
        FG,
        "（未到期责任准备金 + 担保赔偿准备金）÷ 融资担保责任余额",
        group="asset",
    ),
    Indicator(
        "fg_level1_proxy",
        "货币资金/（资产总额−应收代偿款）",
        "Cash / (assets − compensation receivable)",
        "%",
        "down",
        FG,
        "货币资金 ÷（资产总额 − 应收代偿款）；货币资金只是Ⅰ级资产的一部分",
        group="liquidity",
    ),
    # --- pawnshops --------------------------------------------------------------------------------
    Indicator(
        "pw_single_customer",
        "同一当户典当余额/注册资本",
        "Largest customer / registered capital",
        "%",
        "up",
        PW,
        "同一当户最大典当余额 ÷ 注册资本",
        group="concentration",
    ),
    Indicator(
        "pw_property_rights",
        "财产权利质押典当余额/注册资本",
        "Property-rights pawns / registered capital",
        "%",
        "up",
        PW,
        "财产权利质押典当余额 ÷ 注册资本",
        group="concentration",
    ),
    Indicator(
        "pw_real_estate",
        "房地产抵押典当余额/注册资本",
        "Real-estate pawns / registered capital",
        "%",
        "up",
        PW,
        "房地产抵押典当余额 ÷ 注册资本",
        group="concentration",
    ),
    Indicator(
        "pw_bank_loans",
        "银行贷款/上年末净资产",
        "Bank loans / prior year-end net assets",
        "%",
        "up",
        PW,
        "银行贷款余额 ÷ 上年末所有者权益（新设公司用本期）",
        group="leverage",
    ),
    Indicator(
        "pw_overdue_share",
        "逾期（绝当）占比",
        "Overdue (forfeited) share",
        "%",
        "up",
        PW,
        "逾期（绝当）余额 ÷ 典当余额",
        group="asset",
    ),
    # --- commercial factoring ---------------------------------------------------------------------
    Indicator(
        "cf_risk_leverage",
        "风险资产/净资产",
        "Risk assets / net assets",
        "倍",
        "up",
        CF,
        "（资产总额 − 货币资金 − 国债）÷ 所有者权益",
        group="leverage",
    ),
    Indicator(
        "cf_single_debtor",
        "同一债务人应收账款/风险资产",
        "Largest debtor / risk assets",
        "%",
        "up",
        CF,
        "受让同一债务人应收账款余额 ÷ 风险资产",
        group="concentration",
    ),
    Indicator(
        "cf_related_debtor",
        "关联企业为债务人的应收账款/风险资产",
        "Related-party debtors / risk assets",
        "%",
        "up",
        CF,
        "以关联企业为债务人的应收账款余额 ÷ 风险资产",
        group="concentration",
    ),
    Indicator(
        "cf_reserve_ratio",
        "风险准备金/保理融资款余额",
        "Risk reserve / factoring balance",
        "%",
        "down",
        CF,
        "风险准备金 ÷ 保理融资款余额",
        group="asset",
    ),
    Indicator(
        "cf_overdue90_share",
        "逾期90天以上占比",
        "Overdue 90+ days share",
        "%",
        "up",
        CF,
        "逾期90天以上未收回余额 ÷ 保理融资款余额",
        group="asset",
    ),
    # --- finance leasing --------------------------------------------------------------------------
    Indicator(
        "fl_risk_leverage",
        "风险资产/净资产",
        "Risk assets / net assets",
        "倍",
        "up",
        FL,
        "（资产总额 − 货币资金 − 国债）÷ 所有者权益",
        group="leverage",
    ),
    Indicator(
        "fl_leasing_share",
        "租赁资产/资产总额",
        "Lease assets / total assets",
        "%",
        "down",
        FL,
        "融资租赁和其他租赁资产 ÷ 资产总额",
        group="leverage",
    ),
    Indicator(
        "fl_fixed_income",
        "固定收益类证券投资/净资产",
        "Fixed-income securities / net assets",
        "%",
        "up",
        FL,
        "固定收益类证券投资 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fl_single_lessee",
        "单一承租人融资余额/净资产",
        "Largest lessee / net assets",
        "%",
        "up",
        FL,
        "单一承租人融资余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fl_single_group",
        "单一集团融资余额/净资产",
        "Largest group / net assets",
        "%",
        "up",
        FL,
        "单一集团融资余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fl_single_related",
        "单一客户关联度",
        "Largest related customer / net assets",
        "%",
        "up",
        FL,
        "单一客户关联方融资余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fl_all_related",
        "全部关联度",
        "All related parties / net assets",
        "%",
        "up",
        FL,
        "全部关联方融资余额 ÷ 所有者权益",
        group="concentration",
    ),
    Indicator(
        "fl_overdue_share",
        "逾期租赁资产占比",
        "Overdue lease assets share",
        "%",
        "up",
        FL,
        "逾期租赁资产余额 ÷ 租赁资产",
        group="asset",
    ),
    Indicator(
        "fl_npl_ratio",
        "不良租赁资产率",
        "Non-performing lease ratio",
        "%",
        "up",
        FL,
        "不良租赁资产余额 ÷ 租赁资产",
        group="asset",
    ),
    Indicator(
        "fl_provision_coverage",
        "拨备覆盖率",
        "Provision coverage",
        "%",
        "down",
        FL,
        "租赁资产减值准备 ÷ 不良租赁资产（无不良时不计算）",
        group="asset",
    ),
    # --- online lending (P2P) ---------------------------------------------------------------------
    Indicator(
        "p2p_overdue_share",
        "逾期金额占比",
        "Overdue share",
        "%",
        "up",
        P2P,
        "逾期金额 ÷ 借贷余额",
        group="asset",
    ),
    Indicator(
        "p2p_overdue90_share",
        "逾期90天以上占比",
        "Overdue 90+ days share",
        "%",
        "up",
        P2P,
        "逾期90天以上金额 ÷ 借贷余额",
        group="asset",
    ),
    Indicator(
        "p2p_top10_share",
        "前十大借款人占比",
        "Top-10 borrowers share",
        "%",
        "up",
        P2P,
        "前十大借款人借款余额 ÷ 借贷余额",
        group="concentration",
    ),
    Indicator(
        "p2p_largest_borrower",
        "单一借款人最大借款余额",
        "Largest single borrower",
        "万元",
        "up",
        P2P,
        "报表所填单一借款人最大借款余额",
        group="concentration",
    ),
    Indicator(
        "p2p_reserve_ratio",
        "风险准备金/借贷余额",
        "Risk reserve / outstanding",
        "%",
        "down",
        P2P,
        "风险准备金 ÷ 借贷余额",
        group="liquidity",
    ),
    # --- private fund managers --------------------------------------------------------------------
    Indicator(
        "pfm_fee_rate",
        "年化管理费率",
        "Management fee rate (annualised)",
        "%",
        "down",
        PFM,
        "本年累计管理费收入 × 4/季度数 ÷ 在管基金规模",
        group="earnings",
    ),
)
BY_CODE: dict[str, Indicator] = {i.code: i for i in INDICATORS}


def ratio(num, den, *, scale: float = 100.0, nonpositive: str = "cap", cap: float = CAP_PCT) -> np.ndarray:
    """``scale · num / den``; a non-positive denominator gives ``cap`` (if num > 0, else 0) or NaN."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = scale * num / den
    bad = ~(den > 0)
    if nonpositive == "cap":
        out = np.where(bad, np.where(num > 0, cap, np.where(num == 0, 0.0, np.nan)), out)
    else:
        out = np.where(bad, np.nan, out)
    out = np.where(np.isnan(num) | np.isnan(den), np.nan, out)
    return out


def mult(num, den) -> np.ndarray:
    return ratio(num, den, scale=1.0, cap=CAP_MULT)


class Frame:
    """Column access for one template's rows, with lags by exact quarter."""

    def __init__(self, panel: Panel, mask: np.ndarray):
        self.rows = panel.rows[mask]
        self.f = panel.fields[mask]
        self.keys = panel.key()[mask]
        self.pq = self.rows["pq"].to_numpy(np.int64)
        self.quarter = self.pq % 4 + 1
        self.n = int(mask.sum())

    def __call__(self, name: str) -> np.ndarray:
        if name in self.f.columns:
            return self.f[name].to_numpy(np.float64)
        return np.full(self.n, np.nan)

    def lag(self, values: np.ndarray, k: int) -> np.ndarray:
        return lag_lookup(self.keys, values, k)

    def at_prior_year_end(self, values: np.ndarray) -> np.ndarray:
        """The value at the end of the previous year, or the latest one reported before it.

        "Before it" includes returns of earlier quarters when the Q4 return itself is missing (the
        method in docs/methods/early-warning.md): an institution without a 2024Q4 return is measured
        against its 2024Q3 net assets, not its current ones.
        """
        inst = self.keys // KEY
        s = pd.Series(values, index=self.rows.index)
        filled = s.groupby(inst).ffill().to_numpy(np.float64)
        wanted = inst * KEY + (self.pq // 4 - 1) * 4 + 3
        return lookup_at_or_before(self.keys, filled, wanted)

    def annualised(self, ytd: np.ndarray) -> np.ndarray:
        return ytd * 4.0 / self.quarter


def _common(x: Frame, template: str) -> dict[str, np.ndarray]:
    eq, ta = x("equity"), x("total_assets")
    capital = x("registered_capital")
    capital = np.where(np.isnan(capital), x.rows["capital_registry_wan"].to_numpy(np.float64), capital)
    profit = x.annualised(x("net_profit"))
    main = x(MAIN_BALANCE[template])
    main_prev, main_ly = x.lag(main, 1), x.lag(main, 4)
    eq_prev = x.lag(eq, 1)
    out = {
        "equity_to_capital": ratio(eq, capital, nonpositive="nan"),
        "debt_ratio": ratio(x("total_liabilities"), ta, nonpositive="nan"),
        "roa": ratio(profit, ta, nonpositive="nan"),
        "roe": ratio(profit, eq, nonpositive="nan"),
        "growth_qoq": ratio(main - main_prev, main_prev, nonpositive="nan"),
        "growth_yoy": ratio(main - main_ly, main_ly, nonpositive="nan"),
        "equity_qoq": ratio(eq - eq_prev, eq_prev, nonpositive="nan"),
    }
    if template in LENDERS_CASH:
        out["cash_ratio"] = ratio(x("cash_and_deposits"), ta, nonpositive="nan")
    return out


def _small_loan(x: Frame) -> dict[str, np.ndarray]:
    eq, loans = x("equity"), x("loan_balance")
    pye = x.at_prior_year_end(eq)
    pye = np.where(np.isnan(pye), eq, pye)
    od90 = x("overdue_91_180") + x("overdue_181_360") + x("overdue_over_360")
    npl = x("npl_balance")
    return {
        "sl_nonstd_leverage": mult(x("bank_borrowings") + x("shareholder_borrowings"), eq),
        "sl_std_leverage": mult(x("bond_abs_financing"), eq),
        "sl_bank_funding": ratio(x("bank_borrowings"), eq),
        "sl_single_borrower": ratio(x("largest_borrower_balance"), eq),
        "sl_single_related": ratio(x("largest_borrower_related_balance"), eq),
        "sl_single_borrower_pye": ratio(x("largest_borrower_balance"), pye),
        "sl_single_related_pye": ratio(x("largest_borrower_related_balance"), pye),
        "sl_overdue90_share": ratio(od90, loans, nonpositive="nan"),
        "sl_npl_ratio": ratio(npl, loans, nonpositive="nan"),
        "sl_provision_coverage": ratio(x("loan_loss_provision"), npl, nonpositive="nan"),
        "sl_top10_share": ratio(x("top10_borrowers_balance"), loans, nonpositive="nan"),
        "sl_related_loans": ratio(x("related_party_loans"), loans, nonpositive="nan"),
    }


def _guarantee(x: Frame) -> dict[str, np.ndarray]:
    eq, g = x("equity"), x("financing_guarantee_balance")
    share = x("small_micro_agri_share")
    lags = np.vstack([share] + [x.lag(share, k) for k in range(1, 8)])
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            mean8 = np.nanmean(lags, axis=0)
    receivable = x("compensation_receivable")
    return {
        "fg_leverage": mult(g, eq),
        "fg_sma_share": share,
        "fg_sma_share_8q": mean8,
        "fg_single_party": ratio(x("largest_party_balance"), eq),
        "fg_single_related": ratio(x("largest_party_related_balance"), eq),
        "fg_compensation_rate": ratio(x.annualised(x("compensation_paid")), g, nonpositive="nan"),
        "fg_receivable_to_equity": ratio(receivable, eq),
        "fg_reserve_coverage": ratio(
            x("unearned_premium_reserve") + x("compensation_reserve"), g, nonpositive="nan"
        ),
        "fg_level1_proxy": ratio(x("cash_and_deposits"), x("total_assets") - receivable, nonpositive="nan"),
    }


def _pawnshop(x: Frame) -> dict[str, np.ndarray]:
    cap, eq, pawn = x("registered_capital"), x("equity"), x("pawn_balance")
    pye = x.at_prior_year_end(eq)
    pye = np.where(np.isnan(pye), eq, pye)
    return {
        "pw_single_customer": ratio(x("largest_customer_balance"), cap),
        "pw_property_rights": ratio(x("property_rights_pawn_balance"), cap),
        "pw_real_estate": ratio(x("real_estate_pawn_balance"), cap),
        "pw_bank_loans": ratio(x("bank_loans"), pye),
        "pw_overdue_share": ratio(x("overdue_pawn_balance"), pawn, nonpositive="nan"),
    }


def _risk_assets(x: Frame) -> np.ndarray:
    return x("total_assets") - x("cash_and_deposits") - x("government_bonds")


def _factoring(x: Frame) -> dict[str, np.ndarray]:
    eq, book, risk = x("equity"), x("factoring_balance"), _risk_assets(x)
    return {
        "cf_risk_leverage": mult(risk, eq),
        "cf_single_debtor": ratio(x("largest_debtor_balance"), risk, nonpositive="nan"),
        "cf_related_debtor": ratio(x("related_debtor_balance"), risk, nonpositive="nan"),
        "cf_reserve_ratio": ratio(x("risk_reserve"), book, nonpositive="nan"),
        "cf_overdue90_share": ratio(x("overdue_90_balance"), book, nonpositive="nan"),
    }


def _leasing(x: Frame) -> dict[str, np.ndarray]:
    eq, lease = x("equity"), x("leasing_assets")
    npl = x("npl_balance")
    return {
        "fl_risk_leverage": mult(_risk_assets(x), eq),
        "fl_leasing_share": ratio(lease, x("total_assets"), nonpositive="nan"),
        "fl_fixed_income": ratio(x("fixed_income_investments"), eq),
        "fl_single_lessee": ratio(x("largest_lessee_balance"), eq),
        "fl_single_group": ratio(x("largest_group_balance"), eq),
        "fl_single_related": ratio(x("largest_lessee_related_balance"), eq),
        "fl_all_related": ratio(x("related_party_balance"), eq),
        "fl_overdue_share": ratio(x("overdue_balance"), lease, nonpositive="nan"),
        "fl_npl_ratio": ratio(npl, lease, nonpositive="nan"),
        "fl_provision_coverage": ratio(x("provision"), npl, nonpositive="nan"),
    }


def _p2p(x: Frame) -> dict[str, np.ndarray]:
    out = x("outstanding_balance")
    return {
        "p2p_overdue_share": ratio(x("overdue_balance"), out, nonpositive="nan"),
        "p2p_overdue90_share": ratio(x("overdue_90_balance"), out, nonpositive="nan"),
        "p2p_top10_share": ratio(x("top10_borrowers_balance"), out, nonpositive="nan"),
        "p2p_largest_borrower": x("largest_borrower_balance"),
        "p2p_reserve_ratio": ratio(x("risk_reserve"), out, nonpositive="nan"),
    }


def _pfm(x: Frame) -> dict[str, np.ndarray]:
    return {"pfm_fee_rate": ratio(x.annualised(x("management_fee_income")), x("aum"), nonpositive="nan")}


PER_TEMPLATE: dict[str, Callable[[Frame], dict[str, np.ndarray]]] = {
    "small_loan": _small_loan,
    "financing_guarantee": _guarantee,
    "pawnshop": _pawnshop,
    "commercial_factoring": _factoring,
    "finance_leasing": _leasing,
    "p2p_lending": _p2p,
    "private_fund_manager": _pfm,
}


def _filing(panel: Panel) -> dict[str, np.ndarray]:
    rows = panel.rows
    keys = panel.key()
    filed = rows["filed"].to_numpy(bool)
    expected = rows["expected"].to_numpy(bool)
    missing = (expected & ~filed).astype(np.float64)
    missing_4q = missing.copy()
    for k in range(1, 4):
        missing_4q += np.nan_to_num(lag_lookup(keys, missing, k), nan=0.0)
    late_days = (rows["first_submitted"] - rows["due_on"]).dt.days.to_numpy(dtype=np.float64, na_value=np.nan)
    late_days = np.where(filed, np.maximum(np.nan_to_num(late_days, nan=0.0), 0.0), np.nan)
    revisions = np.where(filed, rows["n_revisions"].to_numpy(dtype=np.float64, na_value=np.nan), np.nan)
    inconsistent, ytd_falls, capital_mismatch = inconsistencies(panel)
    nan_if_missing = np.where(filed, 0.0, np.nan)
    return {
        "filing_missing": missing,
        "filing_missing_4q": missing_4q,
        "filing_late": np.where(filed, (np.nan_to_num(late_days, nan=0.0) > 0).astype(np.float64), np.nan),
        "filing_days_late": late_days,
        "filing_revisions": np.nan_to_num(revisions, nan=0.0) + nan_if_missing,
        "filing_inconsistent": inconsistent + nan_if_missing,
        "_ytd_falls": ytd_falls,
        "_capital_mismatch": capital_mismatch,
        # From the dispute register, for every quarter (filed or not).
        "disputes_received": panel.rows["disputes"].to_numpy(np.float64)
        if "disputes" in panel.rows
        else np.zeros(len(rows)),
    }


def inconsistencies(panel: Panel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(total, year-to-date falls, capital mismatch) per panel row."""
    rows, f = panel.rows, panel.fields
    keys = panel.key()
    quarter = rows["pq"].to_numpy(np.int64) % 4 + 1
    falls = np.zeros(len(rows))
    for name in YTD_NON_DECREASING:
        if name not in f.columns:
            continue
        v = f[name].to_numpy(np.float64)
        prev = lag_lookup(keys, v, 1)
        falls += ((quarter > 1) & (v < prev - 0.015)).astype(np.float64)
    mismatch = np.zeros(len(rows))
    if "registered_capital" in f.columns:
        filed_cap = f["registered_capital"].to_numpy(np.float64)
        reg = rows["capital_registry_wan"].to_numpy(np.float64)
        with np.errstate(all="ignore"):
            rel = np.abs(filed_cap - reg) / np.maximum(np.abs(reg), 1e-9)
        mismatch = ((rel > CAPITAL_TOLERANCE) & ~np.isnan(filed_cap) & ~np.isnan(reg)).astype(np.float64)
    return falls + mismatch, falls, mismatch


def compute(panel: Panel) -> pd.DataFrame:
    """Every indicator for every panel row, wide (one column per indicator code, NaN if not applicable).

    Helper columns starting with ``_`` (details of inconsistencies) are kept for the evidence.
    """
    wide = pd.DataFrame(index=panel.rows.index)
    columns: dict[str, np.ndarray] = {code: np.full(len(wide), np.nan) for code in BY_CODE}
    filing = _filing(panel)
    for code, values in filing.items():
        columns[code] = values
    template = panel.rows["template"].to_numpy(object)
    filed = panel.rows["filed"].to_numpy(bool)
    for name in panel.templates:
        mask = (template == name) & filed
        if not mask.any():
            continue
        x = Frame(panel, mask)
        values = _common(x, name)
        values.update(PER_TEMPLATE.get(name, lambda _x: {})(x))
        idx = np.nonzero(mask)[0]
        for code, v in values.items():
            columns[code][idx] = v
    for code, values in columns.items():
        wide[code] = values
    return wide


def to_long(panel: Panel, wide: pd.DataFrame) -> pd.DataFrame:
    """Long format (institution_id, pq, code, value) without NaN, for storage and peers."""
    codes = [c for c in wide.columns if not c.startswith("_")]
    values = wide[codes].to_numpy(np.float64)
    r, c = np.nonzero(~np.isnan(values))
    return pd.DataFrame(
        {
            "row": r,
            "institution_id": panel.rows["institution_id"].to_numpy(np.int64)[r],
            "pq": panel.rows["pq"].to_numpy(np.int64)[r],
            "type_code": panel.rows["type_code"].to_numpy(object)[r],
            "code": np.asarray(codes, dtype=object)[c],
            "value": values[r, c],
        }
    )
