"""Filing templates are data; their checks are parsed safely and evaluated with a rounding tolerance."""

from __future__ import annotations

import pytest

from qiantang.filings.templates import (
    all_templates,
    check_names,
    evaluate_check,
    failed_checks,
    get_template,
    parse_check,
    quarterly_templates,
)


def test_every_template_loads_with_units_and_checks():
    templates = quarterly_templates()
    assert set(all_templates()) - set(templates) == {"finance_talent"}
    assert set(templates) == {
        "small_loan",
        "financing_guarantee",
        "pawnshop",
        "commercial_factoring",
        "finance_leasing",
        "private_fund_manager",
        "p2p_lending",
    }
    for t in templates.values():
        assert t.due_days == 15 and t.frequency == "quarterly"
        assert all(f.unit and f.name_zh and f.name_en for f in t.fields)
        assert any(c.code == "balance_sheet" for c in t.checks)
        assert len(set(t.field_codes)) == len(t.field_codes)


def test_balance_sheet_check_both_sides():
    expr = "total_assets == total_liabilities + equity"
    assert evaluate_check(expr, {"total_assets": 100.0, "total_liabilities": 60.0, "equity": 40.0})
    assert evaluate_check(
        expr, {"total_assets": 100.01, "total_liabilities": 60.0, "equity": 40.0}
    )  # rounding
    assert not evaluate_check(expr, {"total_assets": 100.1, "total_liabilities": 60.0, "equity": 40.0})
    assert evaluate_check(expr, {"total_assets": 100.0, "total_liabilities": None, "equity": 40.0}) is None


def test_chained_comparison():
    expr = "a <= b <= c"
    assert evaluate_check(expr, {"a": 1, "b": 2, "c": 3})
    assert not evaluate_check(expr, {"a": 1, "b": 4, "c": 3})
    assert not evaluate_check(expr, {"a": 5, "b": 4, "c": 6})
    assert check_names("a + b * 2 <= c - d") == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    "expr", ["__import__('os').system('x') == 0", "a.b == 1", "a", "f(a) == 1", "a == 'text'", "[a] == [1]"]
)
def test_unsafe_or_malformed_checks_are_rejected(expr):
    with pytest.raises((ValueError, SyntaxError)):
        parse_check(expr)


def test_small_loan_overdue_buckets_cannot_exceed_balance():
    t = get_template("small_loan")
    values = {f.code: 0.0 for f in t.fields}
    values.update(
        total_assets=1000,
        total_liabilities=300,
        equity=700,
        loan_balance=800,
        cash_and_deposits=100,
        overdue_1_90=500,
        overdue_91_180=400,
        largest_borrower_balance=50,
        largest_borrower_related_balance=60,
        top10_borrowers_balance=300,
    )
    failed = {c.code for c in failed_checks(t, values)}
    assert failed == {"overdue_within_balance"}
    values["overdue_91_180"] = 200
    assert failed_checks(t, values) == []
