"""Eligibility rules on both sides of every bound, the ranking, and the vectorised run vs a plain loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qiantang.matching import engine

LPR = 3.0


def product(**kw):
    base = dict(
        id=1,
        institution_id=10,
        min_amount=500_000.0,  # 50 万元
        max_amount=5_000_000.0,  # 500 万元
        min_term_months=6,
        max_term_months=36,
        min_spread_bp=50,
        sizes=["small", "micro"],
        industries=["C", "I"],
        districts=["330106"],
        min_age_years=2.0,
        collateral=[],
        first_loan_only=False,
    )
    base.update(kw)
    return base


def need(**kw):
    base = dict(
        id=1,
        amount=1_000_000.0,
        term_months=12,
        max_rate_pct=6.0,
        collateral=["real_estate"],
        size_class="small",
        industry_section="C",
        district_code="330106",
        age_years=5.0,
        has_loan=True,
        pd=0.02,
        group_level=None,
    )
    base.update(kw)
    return base


def why_not(p, n):
    return (
        [r["rule"] for r in engine.explain(p, n, lpr=LPR)["reasons"]]
        if not engine.explain(p, n, lpr=LPR)["eligible"]
        else []
    )


@pytest.mark.parametrize(
    ("rule", "inside", "outside"),
    [
        ("amount_min", need(amount=500_000.0), need(amount=499_999.0)),
        ("amount_max", need(amount=5_000_000.0), need(amount=5_000_001.0)),
        ("term_min", need(term_months=6), need(term_months=5)),
        ("term_max", need(term_months=36), need(term_months=37)),
        ("size", need(size_class="micro"), need(size_class="medium")),
        ("industry", need(industry_section="I"), need(industry_section="F")),
        ("district", need(district_code="330106"), need(district_code="330108")),
        ("age", need(age_years=2.0), need(age_years=1.99)),
        ("rate", need(max_rate_pct=3.5), need(max_rate_pct=3.49)),  # LPR 3.00 + 50 bp = 3.50 %
        ("rate", need(max_rate_pct=None), need(max_rate_pct=3.0)),
    ],
)
def test_each_rule_on_both_sides_of_its_bound(rule, inside, outside):
    assert rule not in why_not(product(), inside)
    assert why_not(product(), outside) == [rule]


def test_collateral_and_first_loan_rules():
    secured = product(collateral=["real_estate", "equipment"])
    assert why_not(secured, need(collateral=["equipment"])) == []
    assert why_not(secured, need(collateral=["receivables"])) == ["collateral"]
    assert why_not(product(collateral=[]), need(collateral=[])) == []  # nothing needed
    first = product(first_loan_only=True)
    assert why_not(first, need(has_loan=False)) == []
    assert why_not(first, need(has_loan=True)) == ["first_loan"]


def test_open_lists_admit_everyone_and_reasons_are_words():
    open_product = product(sizes=[], industries=[], districts=[])
    assert why_not(open_product, need(size_class="large", industry_section="K", district_code="330110")) == []
    out = engine.explain(product(), need(amount=6_000_000.0, term_months=48), lpr=LPR)
    texts = [r["text"] for r in out["reasons"]]
    assert "金额超过产品上限 500 万元" in texts and "期限长于产品最长期限 36 个月" in texts
    assert out["rules_version"].startswith("eligibility-")


def test_ranking_prefers_a_safer_firm_and_a_better_lender():
    p = product()
    safe = engine.explain(p, need(pd=0.01), lpr=LPR)["score"]
    risky = engine.explain(p, need(pd=0.2), lpr=LPR)["score"]
    assert safe > risky
    assert (
        engine.explain(p, need(), lpr=LPR, lender_record=0.9)["score"]
        > engine.explain(p, need(), lpr=LPR, lender_record=0.1)["score"]
    )
    red = engine.explain(p, need(group_level="red"), lpr=LPR)["score"]
    assert red < engine.explain(p, need(group_level=None), lpr=LPR)["score"]


def test_lpr_in_force_by_date():
    from datetime import date

    assert engine.lpr_on(date(2025, 5, 20)) == 3.0 and engine.lpr_on(date(2025, 5, 19)) == 3.1


def random_tables(rng, n_products=60, n_needs=80):
    sizes, sections, districts = (
        ["micro", "small", "medium", "large"],
        list("CFIKM"),
        ["330102", "330106", "330108"],
    )
    coll = ["real_estate", "equipment", "receivables", "guarantor"]
    products = pd.DataFrame(
        [
            product(
                id=i + 1,
                institution_id=int(rng.integers(1, 8)),
                min_amount=float(rng.choice([1e5, 5e5, 1e6])),
                max_amount=float(rng.choice([2e6, 5e6, 1e7])),
                min_term_months=int(rng.choice([3, 6, 12])),
                max_term_months=int(rng.choice([12, 36, 60])),
                min_spread_bp=int(rng.integers(-20, 200)),
                sizes=list(rng.choice(sizes, size=int(rng.integers(0, 3)), replace=False)),
                industries=list(rng.choice(sections, size=int(rng.integers(0, 3)), replace=False)),
                districts=list(rng.choice(districts, size=int(rng.integers(0, 2)), replace=False)),
                min_age_years=float(rng.choice([0, 1, 2, 3])),
                collateral=list(rng.choice(coll, size=int(rng.integers(0, 2)), replace=False)),
                first_loan_only=bool(rng.random() < 0.1),
            )
            for i in range(n_products)
        ]
    )
    needs = pd.DataFrame(
        [
            need(
                id=i + 1,
                amount=float(rng.choice([2e5, 8e5, 3e6, 8e6])),
                term_months=int(rng.choice([6, 12, 24, 48])),
                max_rate_pct=float(rng.choice([3.2, 4.5, 6.0])) if rng.random() < 0.8 else None,
                collateral=list(rng.choice(coll, size=int(rng.integers(0, 3)), replace=False)),
                size_class=str(rng.choice(sizes)),
                industry_section=str(rng.choice(sections)),
                district_code=str(rng.choice(districts)),
                age_years=float(rng.uniform(0, 10)),
                has_loan=bool(rng.random() < 0.6),
                pd=float(rng.uniform(0, 0.3)),
                group_level=rng.choice([None, "yellow", "red"]),
            )
            for i in range(n_needs)
        ]
    )
    return products, needs


def test_vectorised_run_equals_a_plain_loop_over_pairs():
    rng = np.random.default_rng(7)
    products, needs = random_tables(rng)
    result = engine.match_all(products, needs, lpr=LPR, top=5, block=17)
    expected = {}
    for n in needs.to_dict("records"):
        scored = []
        for p in products.to_dict("records"):
            out = engine.explain(p, n, lpr=LPR)
            if out["eligible"]:
                scored.append((-round(out["raw_score"], 6), p["id"]))
        expected[n["id"]] = [pid for _s, pid in sorted(scored)[:5]]
    got: dict[int, list[int]] = {}
    for m in result.matches:
        got.setdefault(m.need_id, []).append(m.product_id)
    assert any(expected.values()), "the random tables should give some eligible pairs"
    for need_id, ids in expected.items():
        assert got.get(need_id, []) == ids, need_id
    assert result.eligible_pairs == sum(
        engine.explain(p, n, lpr=LPR)["eligible"]
        for n in needs.to_dict("records")
        for p in products.to_dict("records")
    )


def reference_score(p: dict, n: dict, lender: float) -> float:
    """The ranking written out once more as plain Python for one pair, from data/ranking.toml's words."""
    import math

    r = engine.load_ranking()

    def middle(v, lo, hi):
        if hi <= lo:
            return 1.0
        pos = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return min(max(1.0 - abs(2.0 * pos - 1.0), 0.0), 1.0)

    f = r.fit
    fit = (
        f["amount"] * middle(n["amount"], p["min_amount"], p["max_amount"])
        + f["term"] * middle(n["term_months"], p["min_term_months"], p["max_term_months"])
        + f["size"] * (1.0 if n["size_class"] in p["sizes"] else 0.5)
        + f["industry"] * (1.0 if n["industry_section"] in p["industries"] else 0.5)
        + f["collateral"] * (r.collateral["pledge"] if p["collateral"] else r.collateral["none_needed"])
    ) / sum(f.values())
    pd_ = n["pd"]
    credit = 0.5 if pd_ is None or pd_ != pd_ else 1.0 - min(max(pd_, 0.0), 0.25) / 0.25
    network = r.network.get(n["group_level"], r.network["green"]) if n["group_level"] else 1.0
    w = r.weights
    return (w["fit"] * fit + w["credit"] * credit + w["network"] * network + w["lender"] * lender) / sum(
        w.values()
    )


def test_run_and_explanation_give_the_same_score_for_random_pairs():
    rng = np.random.default_rng(11)
    products, needs = random_tables(rng, n_products=80, n_needs=150)
    record = rng.uniform(0, 1, len(products))
    result = engine.match_all(products, needs, lpr=LPR, lender_record=record, top=len(products), block=13)
    assert len(result.matches) == result.eligible_pairs > 100
    by_id_p = {p["id"]: (i, p) for i, p in enumerate(products.to_dict("records"))}
    by_id_n = {n["id"]: n for n in needs.to_dict("records")}
    for m in rng.choice(result.matches, size=100, replace=False):
        i, p = by_id_p[m.product_id]
        n = by_id_n[m.need_id]
        out = engine.explain(p, n, lpr=LPR, lender_record=float(record[i]))
        assert out["eligible"]
        assert out["raw_score"] == pytest.approx(m.score, abs=1e-6)
        assert m.score == pytest.approx(reference_score(p, n, float(record[i])), abs=1e-6)
        # the reasons' points add up to the score
        assert sum(r["points"] for r in out["reasons"]) == pytest.approx(out["score"], abs=0.3)


def test_collateral_component_prefers_a_product_that_needs_no_pledge():
    n = need(collateral=["real_estate"])
    unsecured = engine.explain(product(collateral=[]), n, lpr=LPR)
    secured = engine.explain(product(collateral=["real_estate"]), n, lpr=LPR)
    assert unsecured["eligible"] and secured["eligible"]
    assert unsecured["raw_score"] > secured["raw_score"]


def test_version_codes_in_words():
    assert engine.describe_version("eligibility-2026.2") == "匹配规则 2026 年第 2 版，2026-12-06 起施行"
    assert engine.describe_version("eligibility-2026.1") == "匹配规则 2026 年第 1 版"  # superseded
    assert engine.describe_version("eligibility-2025.3") == "匹配规则 2025 年第 3 版"  # no longer in the file
    assert engine.describe_version("ranking-2026.2", zh=False).startswith("Ranking weights, 2026 edition 2")
    assert engine.describe_version("odd") == "odd"


# --- firm-level rules from the fundraising monitoring ---------------------------------------------
def test_dishonest_firm_is_excluded_from_every_product_with_the_reason():
    from datetime import date

    listed = need(dishonest_since=date(2026, 3, 1))
    assert why_not(product(), listed) == ["dishonest"]
    out = engine.explain(product(), listed, lpr=LPR)
    assert "失信被执行人" in out["reasons"][0]["text"] and "2026-03-01" in out["reasons"][0]["text"]
    assert "64号" in out["reasons"][0]["source"]
    en = engine.explain(product(), listed, lpr=LPR, zh=False)["reasons"][0]["text"]
    assert "dishonest judgment debtors" in en
    assert why_not(product(), need(dishonest_since=None)) == []  # the other side
    # the vectorised run agrees: no pair of the listed firm's need is eligible
    products = pd.DataFrame([product(id=1), product(id=2, districts=[])])
    needs = pd.DataFrame([need(id=1, dishonest_since=date(2026, 3, 1)), need(id=2, dishonest_since=None)])
    result = engine.match_all(products, needs, lpr=LPR)
    assert {m.need_id for m in result.matches} == {2}
    assert result.excluded_by["dishonest"] == 2


@pytest.mark.parametrize(
    "grade, excluded", [("red", True), ("orange", False), ("yellow", False), ("green", False), (None, False)]
)
def test_fundraising_grade_rule_excludes_red_only(grade, excluded):
    from datetime import date

    n = need(fr_grade=grade, fr_scored_on=date(2026, 6, 30))
    assert (why_not(product(), n) == ["fundraising_grade"]) is excluded
    if excluded:
        text = engine.explain(product(), n, lpr=LPR, names={"grade": {"red": "红色"}})["reasons"][0]["text"]
        assert "红色" in text and "2026-06-30" in text
    assert engine.load_rules().exclude_grades == ("red",)


def test_firm_rules_come_first_and_other_reasons_still_listed():
    from datetime import date

    n = need(dishonest_since=date(2025, 1, 1), fr_grade="red", amount=100.0)
    rules = why_not(product(), n)
    assert rules[:2] == ["dishonest", "fundraising_grade"] and "amount_min" in rules


def test_rules_without_the_fundraising_columns_still_work():
    products = pd.DataFrame([product()])
    needs = pd.DataFrame([need()])  # no dishonest_since / fr_grade columns at all
    assert len(engine.match_all(products, needs, lpr=LPR).matches) == 1
