"""Every regulatory limit rule, on hand-made filings below, near, at and beyond its limit; the
small-loan rules switching by effective date; per-city overrides."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import numpy as np
import pytest

from qiantang.earlywarning import indicators, rules
from qiantang.earlywarning.panel import panel_from_records, period_of, pq_of
from qiantang.earlywarning.rules import _package_doc

EQUITY = 10_000.0  # 万元
CAPITAL = 10_000.0

BASE = {
    "small_loan": {
        "registered_capital": CAPITAL,
        "total_assets": 15_000.0,
        "cash_and_deposits": 1_500.0,
        "loan_balance": 12_000.0,
        "loan_loss_provision": 300.0,
        "total_liabilities": 5_000.0,
        "bank_borrowings": 1_000.0,
        "shareholder_borrowings": 500.0,
        "bond_abs_financing": 0.0,
        "equity": EQUITY,
        "borrower_count": 100,
        "largest_borrower_balance": 200.0,
        "largest_borrower_related_balance": 300.0,
        "top10_borrowers_balance": 1_500.0,
        "related_party_loans": 100.0,
        "overdue_1_90": 100.0,
        "overdue_91_180": 50.0,
        "overdue_181_360": 20.0,
        "overdue_over_360": 10.0,
        "npl_balance": 150.0,
        "interest_income": 400.0,
        "net_profit": 150.0,
    },
    "financing_guarantee": {
        "registered_capital": CAPITAL,
        "total_assets": 20_000.0,
        "cash_and_deposits": 12_000.0,
        "compensation_receivable": 0.0,
        "total_liabilities": 10_000.0,
        "unearned_premium_reserve": 200.0,
        "compensation_reserve": 400.0,
        "equity": EQUITY,
        "financing_guarantee_balance": 30_000.0,
        "non_financing_guarantee_balance": 3_000.0,
        "small_micro_agri_share": 30.0,
        "guaranteed_party_count": 100,
        "largest_party_balance": 300.0,
        "largest_party_related_balance": 500.0,
        "compensation_paid": 50.0,
        "compensation_recovered": 10.0,
        "guarantee_fee_income": 200.0,
        "net_profit": 80.0,
    },
    "pawnshop": {
        "registered_capital": CAPITAL,
        "total_assets": 12_000.0,
        "total_liabilities": 2_000.0,
        "equity": EQUITY,
        "cash_and_deposits": 2_000.0,
        "pawn_balance": 8_000.0,
        "real_estate_pawn_balance": 4_000.0,
        "property_rights_pawn_balance": 1_000.0,
        "movable_pawn_balance": 3_000.0,
        "largest_customer_balance": 1_000.0,
        "shareholder_pawn_balance": 0.0,
        "bank_loans": 1_000.0,
        "overdue_pawn_balance": 300.0,
        "customer_count": 200,
        "fee_income": 300.0,
        "net_profit": 100.0,
    },
    "commercial_factoring": {
        "registered_capital": CAPITAL,
        "total_assets": 20_500.0,
        "total_liabilities": 10_500.0,
        "equity": EQUITY,
        "cash_and_deposits": 500.0,
        "government_bonds": 0.0,
        "factoring_balance": 10_000.0,
        "largest_debtor_balance": 1_000.0,
        "related_debtor_balance": 1_000.0,
        "overdue_90_balance": 100.0,
        "risk_reserve": 200.0,
        "bank_borrowings": 5_000.0,
        "interest_income": 300.0,
        "net_profit": 100.0,
    },
    "finance_leasing": {
        "registered_capital": CAPITAL,
        "total_assets": 20_000.0,
        "total_liabilities": 10_000.0,
        "equity": EQUITY,
        "cash_and_deposits": 500.0,
        "government_bonds": 0.0,
        "leasing_assets": 16_000.0,
        "fixed_income_investments": 500.0,
        "largest_lessee_balance": 1_000.0,
        "largest_group_balance": 1_500.0,
        "largest_lessee_related_balance": 500.0,
        "related_party_balance": 1_000.0,
        "overdue_balance": 300.0,
        "npl_balance": 100.0,
        "provision": 150.0,
        "bank_borrowings": 6_000.0,
        "lease_income": 400.0,
        "net_profit": 120.0,
    },
    "p2p_lending": {
        "outstanding_balance": 50_000.0,
        "lender_count": 1_000,
        "borrower_count": 500,
        "overdue_balance": 500.0,
        "overdue_90_balance": 200.0,
        "largest_borrower_balance": 20.0,
        "top10_borrowers_balance": 150.0,
        "period_volume": 20_000.0,
        "total_assets": 5_000.0,
        "total_liabilities": 1_000.0,
        "equity": 4_000.0,
        "risk_reserve": 800.0,
        "net_profit": 50.0,
    },
}


# For every indicator a limit rule reads: the field changes that give it the value v exactly.
def _set(**fields):
    return lambda v: {k: f(v) for k, f in fields.items()}


BUILDERS = {
    "sl_single_borrower": _set(largest_borrower_balance=lambda v: v / 100 * EQUITY),
    "sl_single_related": _set(largest_borrower_related_balance=lambda v: v / 100 * EQUITY),
    "sl_single_borrower_pye": _set(largest_borrower_balance=lambda v: v / 100 * EQUITY),
    "sl_single_related_pye": _set(largest_borrower_related_balance=lambda v: v / 100 * EQUITY),
    "sl_bank_funding": _set(bank_borrowings=lambda v: v / 100 * EQUITY),
    "sl_nonstd_leverage": _set(bank_borrowings=lambda v: v * EQUITY, shareholder_borrowings=lambda v: 0.0),
    "sl_std_leverage": _set(bond_abs_financing=lambda v: v * EQUITY),
    "fg_leverage": _set(financing_guarantee_balance=lambda v: v * EQUITY),
    "fg_single_party": _set(largest_party_balance=lambda v: v / 100 * EQUITY),
    "fg_single_related": _set(largest_party_related_balance=lambda v: v / 100 * EQUITY),
    "fg_level1_proxy": _set(cash_and_deposits=lambda v: v / 100 * 20_000.0),
    "pw_single_customer": _set(largest_customer_balance=lambda v: v / 100 * CAPITAL),
    "pw_property_rights": _set(property_rights_pawn_balance=lambda v: v / 100 * CAPITAL),
    "pw_real_estate": _set(real_estate_pawn_balance=lambda v: v / 100 * CAPITAL),
    "pw_bank_loans": _set(bank_loans=lambda v: v / 100 * EQUITY),
    "equity_to_capital": _set(equity=lambda v: v / 100 * CAPITAL),
    "cf_risk_leverage": _set(total_assets=lambda v: v * EQUITY + 500.0),
    "cf_single_debtor": _set(largest_debtor_balance=lambda v: v / 100 * 20_000.0),
    "cf_related_debtor": _set(related_debtor_balance=lambda v: v / 100 * 20_000.0),
    "cf_reserve_ratio": _set(risk_reserve=lambda v: v / 100 * 10_000.0),
    "fl_leasing_share": _set(leasing_assets=lambda v: v / 100 * 20_000.0),
    "fl_risk_leverage": _set(total_assets=lambda v: v * EQUITY + 500.0),
    "fl_fixed_income": _set(fixed_income_investments=lambda v: v / 100 * EQUITY),
    "fl_single_lessee": _set(largest_lessee_balance=lambda v: v / 100 * EQUITY),
    "fl_single_group": _set(largest_group_balance=lambda v: v / 100 * EQUITY),
    "fl_single_related": _set(largest_lessee_related_balance=lambda v: v / 100 * EQUITY),
    "fl_all_related": _set(related_party_balance=lambda v: v / 100 * EQUITY),
    "p2p_largest_borrower": _set(largest_borrower_balance=lambda v: v),
}
# Rules that apply only under a condition: the field values that meet it.
CONDITIONS = {
    ("fg_sma_share_8q", "<"): {"small_micro_agri_share": 30.0},
    ("fg_sma_share_8q", ">="): {"small_micro_agri_share": 80.0},
}


def quarter_in_force(rule: rules.LimitRule) -> date:
    """A quarter end judged by the rule, at least a year into it when it lasts that long (≥ 2015Q1)."""
    start = max(rule.effective_from or date(2015, 1, 1), date(2015, 1, 1))
    candidate = period_of(pq_of(start + timedelta(days=400)))
    if rule.effective_to and candidate >= rule.effective_to:
        candidate = period_of(pq_of(start))
        if candidate < start:
            candidate = period_of(pq_of(start) + 1)
    assert rule.in_force(np.array([pq_of(candidate)]))[0]
    return candidate


def signals_for(rule: rules.LimitRule, value: float, ruleset: rules.RuleSet | None = None):
    """The rule's signals for one hand-made return whose indicator equals ``value``."""
    template = rule.templates[0]
    day = quarter_in_force(rule)
    data = copy.deepcopy(BASE[template])
    if rule.when is not None:
        data.update(CONDITIONS[(rule.when.indicator, rule.when.comparison)])
    prior = copy.deepcopy(data)
    data.update(BUILDERS[rule.indicator](value))
    prior_year_end = date(day.year - 1, 12, 31)
    filings = [
        {"institution_id": 1, "period_end": prior_year_end, "data": prior},
        {"institution_id": 1, "period_end": day, "data": data},
    ]
    panel = panel_from_records(
        [
            {
                "id": 1,
                "template": template,
                "registered_capital": CAPITAL * 10_000,
                "established_on": date(2005, 1, 1),
            }
        ],
        filings,
    )
    wide = indicators.compute(panel)
    row = int(panel.rows.index[panel.rows["pq"] == pq_of(day)][0])
    assert wide.loc[row, rule.indicator] == pytest.approx(value, rel=1e-12), "builder does not hit the value"
    ruleset = ruleset or rules.RuleSet(version="test", rules=(rule,))
    out = rules.evaluate_limits(panel, wide, ruleset, rules.History(panel, wide))
    return out[(out["pq"] == pq_of(day)) & (out["code"] == rule.code)]


ALL_RULES = rules.load_rules("330100").rules


def test_every_rule_has_a_builder_and_a_known_indicator():
    assert ALL_RULES, "no rules loaded"
    missing = sorted({r.indicator for r in ALL_RULES} - set(BUILDERS))
    assert not missing, f"add a builder for {missing}"
    for r in ALL_RULES:
        assert r.citation and r.mark in "✅⚠️❓" and r.article_mark in "✅⚠️❓"


@pytest.mark.parametrize("rule", ALL_RULES, ids=[r.code for r in ALL_RULES])
def test_rule_both_sides_and_at_the_limit(rule: rules.LimitRule):
    def value(usage: float) -> float:
        return rule.limit * usage if rule.comparison == "<=" else rule.limit / usage

    def level(usage: float) -> str | None:
        s = signals_for(rule, value(usage))
        assert len(s) <= 1
        return None if s.empty else s["level"].iloc[0]

    assert level(0.5) is None  # well inside
    near = 0.97
    expected_near = rule.warn_level if rule.warn_at is not None and rule.warn_at <= near else None
    assert level(near) == expected_near
    # At the limit the rule holds ("不得超过" allows the limit itself): a warning at most.
    expected_at = rule.warn_level if rule.warn_at is not None else None
    assert level(1.0) == expected_at
    beyond = 1.02
    assert level(beyond) == (rule.severe_level if rule.severe_at and rule.severe_at <= beyond else rule.level)
    if rule.severe_at:
        assert level(rule.severe_at * 1.01) == rule.severe_level
    breach = signals_for(rule, value(beyond)).iloc[0]
    ev = breach["evidence"]
    assert ev["rule"] == rule.code and ev["limit"] == rule.limit and ev["breached"] is True
    assert ev["citation"] == rule.citation and ev["mark"] == rule.mark
    assert len(ev["last4"]) == 4 and ev["last4"][-1]["value"] == pytest.approx(value(beyond), rel=1e-3)
    assert "违反" in breach["message_zh"]


def _small_loan_codes(day: date, largest: float, equity_now: float, equity_prior_ye: float) -> set[str]:
    data = copy.deepcopy(BASE["small_loan"])
    data.update(equity=equity_now, largest_borrower_balance=largest, largest_borrower_related_balance=largest)
    prior = copy.deepcopy(BASE["small_loan"])
    prior["equity"] = equity_prior_ye
    panel = panel_from_records(
        [{"id": 1, "template": "small_loan", "registered_capital": CAPITAL * 10_000}],
        [
            {"institution_id": 1, "period_end": date(day.year - 1, 12, 31), "data": prior},
            {"institution_id": 1, "period_end": day, "data": data},
        ],
    )
    wide = indicators.compute(panel)
    ruleset = rules.load_rules("330100")
    out = rules.evaluate_limits(panel, wide, ruleset, rules.History(panel, wide))
    out = out[(out["pq"] == pq_of(day)) & (out["level"].isin(["orange", "red"]))]
    return set(out["code"])


def test_small_loan_rules_switch_by_effective_date():
    # Largest borrower 7% of current net assets: beyond the 2008 guidance (5% of 资本净额), within the
    # 2020 notice (10%); under the 2024 rules the denominator is the previous year-end net assets.
    assert _small_loan_codes(date(2020, 6, 30), 700.0, EQUITY, EQUITY) == {"SL-SINGLE-2008"}
    assert _small_loan_codes(date(2020, 9, 30), 700.0, EQUITY, EQUITY) == set()  # notice of 2020-09-07
    assert _small_loan_codes(date(2024, 12, 31), 700.0, EQUITY, EQUITY / 2) == set()  # 2020 notice: 7%
    # 2025Q1 (after 2025-01-17): 700 / 5,000 of the 2024 year end = 14% > 10%, though 7% of today's.
    assert _small_loan_codes(date(2025, 3, 31), 700.0, EQUITY, EQUITY / 2) == {"SL-SINGLE-2024"}
    assert _small_loan_codes(date(2025, 3, 31), 700.0, EQUITY, EQUITY) == set()


def test_2008_bank_funding_and_2020_leverage_are_separate_eras():
    data = copy.deepcopy(BASE["small_loan"])
    data.update(
        bank_borrowings=8_000.0, shareholder_borrowings=4_000.0
    )  # 80% bank funding, 1.2× non-standard
    for day, expected in ((date(2019, 12, 31), {"SL-BANK-2008"}), (date(2021, 12, 31), {"SL-NONSTD-2020"})):
        panel = panel_from_records(
            [{"id": 1, "template": "small_loan", "registered_capital": CAPITAL * 10_000}],
            [{"institution_id": 1, "period_end": day, "data": data}],
        )
        wide = indicators.compute(panel)
        out = rules.evaluate_limits(panel, wide, rules.load_rules("330100"), rules.History(panel, wide))
        assert set(out.loc[out["level"].isin(["orange", "red"]), "code"]) == expected


def test_guarantee_leverage_limit_depends_on_the_small_micro_share():
    data = copy.deepcopy(BASE["financing_guarantee"])
    data["financing_guarantee_balance"] = 12 * EQUITY  # 12×: beyond 10×, within 15×

    def codes(share: float) -> set[str]:
        filings = []
        for k, day in enumerate(
            (date(2023, 3, 31), date(2023, 6, 30), date(2023, 9, 30), date(2023, 12, 31))
        ):
            d = dict(data, small_micro_agri_share=share if k else 50.0)
            filings.append({"institution_id": 1, "period_end": day, "data": d})
        panel = panel_from_records(
            [{"id": 1, "template": "financing_guarantee", "registered_capital": CAPITAL * 10_000}], filings
        )
        wide = indicators.compute(panel)
        out = rules.evaluate_limits(panel, wide, rules.load_rules("330100"), rules.History(panel, wide))
        last = out[out["pq"] == pq_of(date(2023, 12, 31))]
        return set(last.loc[last["level"].isin(["orange", "red"]), "code"])

    assert codes(30.0) == {"FG-LEV-2017"}  # mean share (50+30·3)/4 = 35% < 50%: the 10× limit
    assert codes(70.0) == set()  # mean 65% ≥ 50%: mainly serving small/micro and agriculture, 15×


def test_negative_equity_breaches_every_ratio_over_net_assets():
    data = copy.deepcopy(BASE["finance_leasing"])
    data.update(equity=-500.0, total_liabilities=20_500.0)
    panel = panel_from_records(
        [{"id": 1, "template": "finance_leasing", "registered_capital": CAPITAL * 10_000}],
        [{"institution_id": 1, "period_end": date(2022, 12, 31), "data": data}],
    )
    wide = indicators.compute(panel)
    assert wide.loc[0, "fl_risk_leverage"] == indicators.CAP_MULT
    out = rules.evaluate_limits(panel, wide, rules.load_rules("330100"), rules.History(panel, wide))
    lev = out[out["code"] == "FL-LEV-2020"].iloc[0]
    assert lev["level"] == "red" and "无法计算" in lev["message_zh"]


def test_city_overrides_apply_only_to_their_city():
    doc = copy.deepcopy(_package_doc("rules.toml"))
    doc["overrides"] = [
        {"city": "330100", "rule": "SL-SINGLE-2024", "limit": 8, "note": "示例"},
        {"city": "330100", "rule": "P2P-BORROWER-2016", "enabled": False},
        {"city": "330200", "rule": "PW-SINGLE", "limit": 20},
    ]
    hz = rules.parse_rules(doc, city="330100")
    assert hz.get("SL-SINGLE-2024").limit == 8 and "示例" in hz.get("SL-SINGLE-2024").note
    assert "P2P-BORROWER-2016" not in {r.code for r in hz.rules}
    assert hz.get("PW-SINGLE").limit == 25
    assert set(hz.overrides_applied) == {"SL-SINGLE-2024", "P2P-BORROWER-2016"}
    nb = rules.parse_rules(doc, city="330200")
    assert nb.get("PW-SINGLE").limit == 20 and nb.get("SL-SINGLE-2024").limit == 10
    # An 8% limit makes 9% of the prior year-end net assets a breach in Hangzhou only.
    rule_hz, rule_nb = hz.get("SL-SINGLE-2024"), nb.get("SL-SINGLE-2024")
    assert not signals_for(rule_hz, 9.0, hz).empty
    assert signals_for(rule_nb, 9.0, nb)["level"].tolist() == ["yellow"]  # 90% of 10%: near the limit
    doc["overrides"] = [{"city": "330100", "rule": "NO-SUCH-RULE", "limit": 1}]
    with pytest.raises(ValueError):
        rules.parse_rules(doc, city="330100")


def test_rules_load_with_dates_and_marks_as_in_the_reference():
    rs = rules.load_rules("330100")
    sl = {r.code: r for r in rs.rules if r.templates == ("small_loan",)}
    assert sl["SL-SINGLE-2008"].effective_to == sl["SL-SINGLE-2020"].effective_from
    assert sl["SL-SINGLE-2020"].effective_to == sl["SL-SINGLE-2024"].effective_from == date(2025, 1, 17)
    assert sl["SL-SINGLE-2008"].limit == 5 and sl["SL-BANK-2008"].limit == 50
    assert (sl["SL-NONSTD-2024"].limit, sl["SL-STD-2024"].limit) == (1, 4)
    assert rs.get("CF-LEV-2019").limit == 10 and rs.get("FL-LEV-2020").limit == 8
    assert "❓" in rs.get("FG-LEV-2017-SMA").note  # how "mainly small/micro" is decided is unverified


@pytest.mark.parametrize(
    ("template", "indicator", "field"),
    [
        ("small_loan", "sl_single_borrower_pye", "largest_borrower_balance"),
        ("pawnshop", "pw_bank_loans", "bank_loans"),
    ],
)
def test_prior_year_end_net_assets_fall_back_to_the_latest_earlier_return(template, indicator, field):
    """No Q4 return: the method takes the latest return before the year end (here Q3), never the
    current quarter's equity (the bug: 39 stored values in the small demo divided by current equity)."""
    q3 = dict(BASE[template], equity=19_188.14)
    now = dict(BASE[template], equity=18_038.79, **{field: 1_358.0})
    panel = panel_from_records(
        [{"id": 1, "template": template, "registered_capital": CAPITAL * 10_000}],
        [
            {"institution_id": 1, "period_end": date(2024, 9, 30), "data": q3},
            {"institution_id": 1, "period_end": date(2025, 3, 31), "data": now},
        ],
    )
    wide = indicators.compute(panel)
    row = int(panel.rows.index[panel.rows["pq"] == pq_of(date(2025, 3, 31))][0])
    # 1,358 ÷ 19,188.14 = 7.077 % (÷ the current 18,038.79 it would be 7.528 %)
    assert wide.loc[row, indicator] == pytest.approx(1_358.0 / 19_188.14 * 100, rel=1e-9)
    # With the Q4 return present, Q4 is used.
    q4 = dict(BASE[template], equity=20_000.0)
    panel = panel_from_records(
        [{"id": 1, "template": template, "registered_capital": CAPITAL * 10_000}],
        [
            {"institution_id": 1, "period_end": date(2024, 9, 30), "data": q3},
            {"institution_id": 1, "period_end": date(2024, 12, 31), "data": q4},
            {"institution_id": 1, "period_end": date(2025, 3, 31), "data": now},
        ],
    )
    wide = indicators.compute(panel)
    row = int(panel.rows.index[panel.rows["pq"] == pq_of(date(2025, 3, 31))][0])
    assert wide.loc[row, indicator] == pytest.approx(1_358.0 / 20_000.0 * 100, rel=1e-9)
