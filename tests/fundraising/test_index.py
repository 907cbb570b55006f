"""Every indicator on hand-made records on both sides of its threshold; the index and its reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from qiantang.fundraising.features import Bundle, features_as_of, lpr_on, table_features
from qiantang.fundraising.index import config, indicator_points, score_frame
from qiantang.fundraising.watch import categorise, clean_scope

AS_OF = date(2025, 6, 30)


@pytest.mark.parametrize("ind", config().indicators, ids=lambda i: i.code)
def test_every_tier_on_both_sides_of_its_threshold(ind):
    for k, tier in enumerate(ind.tiers):
        below = tier.at - (0.01 if tier.at < 5 else 1)
        pts, reached = indicator_points(pd.Series([below, tier.at]), ind)
        assert reached[1] == k and pts[1] == tier.points
        assert reached[0] == k - 1
        assert pts[0] == (ind.tiers[k - 1].points if k else 0)


def one(**cols) -> pd.DataFrame:
    base = {
        "name": "杭州甲科技有限公司",
        "founded_on": "2015-01-01",
        "registered_capital": 100,
        "paid_in_capital": 100,
        "business_scope": "软件开发",
        "licensed": "否",
    }
    base.update(cols)
    return pd.DataFrame([base])


def score_of(**cols) -> pd.Series:
    f = table_features(one(**cols), AS_OF)
    return score_frame(f).iloc[0]


def test_promised_return_against_four_times_lpr():
    cap = 4 * float(lpr_on([AS_OF])[0])  # 4 × 3.00 = 12.0 in mid-2025
    assert cap == pytest.approx(12.0)
    above = score_of(promised_return=cap + 0.1)
    below = score_of(promised_return=cap - 0.1)
    assert above["sub_yield"] >= 70 and below["sub_yield"] < 70
    texts = [r["text"] for r in above["reasons"]]
    assert any("LPR四倍" in t and "12.0%" in t for t in texts)


def test_lpr_cap_uses_the_rate_on_the_day_of_the_promise():
    assert lpr_on(["2020-08-20"])[0] == pytest.approx(3.85)
    assert lpr_on(["2023-09-01"])[0] == pytest.approx(3.45)


@pytest.mark.parametrize(
    ("column", "below", "at", "dimension"),
    [
        ("investors", 149, 150, "spread"),
        ("complaints", 0, 1, "complaints"),
        ("investor_growth", 49, 50, "spread"),
    ],
)
def test_counts_on_both_sides(column, below, at, dimension):
    assert score_of(**{column: at})[f"sub_{dimension}"] > score_of(**{column: below})[f"sub_{dimension}"]


def test_criminal_thresholds_are_severity_tiers():
    assert score_of(investors=150)["sub_spread"] == 70
    assert score_of(investors=75)["sub_spread"] == 40
    assert score_of(investors=74)["sub_spread"] == 20


def test_financial_name_without_licence():
    assert score_of(name="杭州乙财富管理有限公司")["sub_licence"] > 0
    assert score_of(name="杭州乙财富管理有限公司", licensed="是")["sub_licence"] == 0
    assert score_of(name="杭州乙科技有限公司")["sub_licence"] == 0


def test_scope_that_forbids_the_activity_is_not_a_claim():
    scope = "企业管理咨询（未经金融等监管部门批准，不得从事向公众融资存款、融资担保、代客理财等金融服务）"
    assert "融资" not in clean_scope(scope)
    assert score_of(business_scope=scope)["sub_licence"] == 0
    assert score_of(business_scope="吸收存款、发放贷款")["sub_licence"] > 0


def test_registered_far_above_paid_in():
    assert score_of(registered_capital=10_000, paid_in_capital=1_000)["sub_registration"] > 0
    assert score_of(registered_capital=10_000, paid_in_capital=1_001)["sub_registration"] == 0
    # a small firm's gap does not count
    assert score_of(registered_capital=900, paid_in_capital=10)["sub_registration"] == 0


def test_young_firm_with_large_capital():
    young = score_of(founded_on="2024-01-01", registered_capital=5000, paid_in_capital=5000)
    old = score_of(founded_on="2023-06-01", registered_capital=5000, paid_in_capital=5000)
    small = score_of(founded_on="2024-01-01", registered_capital=4999, paid_in_capital=4999)
    assert young["sub_registration"] > 0 and old["sub_registration"] == 0 and small["sub_registration"] == 0


def test_ad_keywords_and_negation():
    bad = score_of(ad_text="保本保息，稳赚不赔，年化１８％")
    good = score_of(ad_text="本公司不承诺保本，谨防高息诱惑")
    assert bad["sub_keywords"] >= 50 and good["sub_keywords"] == 0
    assert any("【" in r["evidence"] for r in bad["reasons"])


def test_index_grades_and_reasons_are_plain_chinese():
    s = score_of(
        name="杭州丙财富管理有限公司",
        promised_return=20,
        investors=200,
        complaints=5,
        ad_text="保本保息，稳赚不赔",
    )
    assert s["grade"] == "red" and 0 <= s["score"] <= 100
    assert s["version"] == config().version
    for r in s["reasons"]:
        assert set(r) == {"dimension", "text", "evidence"}
        assert "[" not in r["text"] and "_" not in r["text"] and ".toml" not in r["text"]
    quiet = score_of()
    assert quiet["grade"] == "green" and quiet["score"] == 0 and quiet["reasons"] == []


def test_missing_columns_count_as_not_observed():
    f = table_features(pd.DataFrame({"name": ["杭州丁投资咨询有限公司"]}), AS_OF)
    s = score_frame(f)
    assert s.iloc[0]["score"] >= 0


def test_watched_categories_from_code_and_words():
    cats = categorise(
        pd.Series(
            ["杭州甲投资咨询有限公司", "杭州乙科技有限公司", "杭州丙实业有限公司", "杭州丁养老服务有限公司"]
        ),
        pd.Series(["", "软件开发", "区块链技术服务；数字资产管理", ""]),
        pd.Series(["7243", "6510", "7290", "8514"]),
    )
    assert list(cats) == ["investment_consulting", "", "wealth_management", "pension_rebate"]


# --- indicators that need the database tables, on a hand-made bundle ------------------------------
def bundle(**over) -> Bundle:
    firms = pd.DataFrame(
        {
            "enterprise_id": [1, 2, 3],
            "name": ["杭州甲投资咨询有限公司", "杭州乙投资咨询有限公司", "杭州丙投资咨询有限公司"],
            "district_code": ["330106"] * 3,
            "industry_code": ["7243"] * 3,
            "founded_on": pd.to_datetime(["2015-01-01"] * 3),
            "registered_capital": [1e6] * 3,
            "paid_in_capital": [1e6] * 3,
            "business_scope": [""] * 3,
            "category": ["investment_consulting"] * 3,
            "licensed": [False] * 3,
            "firms_at_address": [1, 1, 1],
            "firms_at_phone": [1, 1, 1],
        }
    ).set_index("enterprise_id")
    empty = {
        "hits": ["enterprise_id", "published_on", "cls", "weight", "snippet"],
        "yields": ["enterprise_id", "published_on", "rate", "phrase"],
        "spread": [
            "enterprise_id",
            "observed_on",
            "investors",
            "amount_raised",
            "realised_return",
            "districts",
            "provinces",
        ],
        "complaints": ["enterprise_id", "received_on", "amount", "summary"],
        "changes": ["enterprise_id", "kind", "changed_on", "kind_zh"],
        "people": ["enterprise_id", "person_key", "since", "until"],
        "dishonest": ["enterprise_id", "person_key", "listed_on", "removed_on"],
        "funds": ["enterprise_id", "reported_on", "kind"],
        "collapses": ["enterprise_id", "collapsed_on", "victims"],
    }
    dates = {
        "published_on",
        "observed_on",
        "received_on",
        "changed_on",
        "since",
        "until",
        "listed_on",
        "removed_on",
        "reported_on",
        "collapsed_on",
    }
    tables = {}
    for name, cols in empty.items():
        df = over.get(name, pd.DataFrame(columns=cols))
        for c in cols:
            if c in dates:
                df[c] = pd.to_datetime(df[c])
        tables[name] = df
    return Bundle(firms, **tables, extra={"names": {1: "甲", 2: "乙", 3: "丙", 9: "已暴雷公司"}})


def test_shared_people_with_a_collapsed_or_dishonest_firm():
    people = pd.DataFrame(
        {
            "enterprise_id": [1, 9, 2],
            "person_key": ["p1", "p1", "p2"],
            "since": [None] * 3,
            "until": [None] * 3,
        }
    )
    collapses = pd.DataFrame({"enterprise_id": [9], "collapsed_on": ["2025-01-01"], "victims": [300]})
    f = features_as_of(bundle(people=people, collapses=collapses), AS_OF)
    assert f.loc[1, "linked_flagged"] == 1 and "已暴雷公司" in f.loc[1, "linked_text"]
    assert f.loc[2, "linked_flagged"] == 0
    # before the collapse the link does not count
    early = features_as_of(bundle(people=people, collapses=collapses), date(2024, 12, 31))
    assert early.loc[1, "linked_flagged"] == 0
    dishonest = pd.DataFrame(
        {"enterprise_id": [None], "person_key": ["p2"], "listed_on": ["2025-03-01"], "removed_on": [None]}
    )
    f = features_as_of(bundle(people=people, dishonest=dishonest), AS_OF)
    assert f.loc[2, "person_dishonest"] == 1 and f.loc[1, "person_dishonest"] == 0
    assert score_frame(f).loc[2, "sub_links"] > 0


def test_frequent_changes_within_the_year():
    days = ["2025-01-10", "2025-03-10", "2025-05-10", "2023-01-01"]
    changes = pd.DataFrame(
        {
            "enterprise_id": [1, 1, 1, 2],
            "kind": ["address", "capital", "legal_rep", "name"],
            "changed_on": days,
            "kind_zh": ["住所变更", "注册资本变更", "法定代表人变更", "名称变更"],
        }
    )
    f = features_as_of(bundle(changes=changes), AS_OF)
    assert f.loc[1, "changes"] == 3 and f.loc[2, "changes"] == 0
    assert f.loc[1, "people_changes"] == 1
    s = score_frame(f)
    assert s.loc[1, "sub_registration"] >= 30 and s.loc[2, "sub_registration"] == 0


def test_spread_growth_and_realised_return():
    spread = pd.DataFrame(
        {
            "enterprise_id": [1, 1, 2],
            "observed_on": ["2024-12-01", "2025-06-01", "2025-06-01"],
            "investors": [40, 160, 20],
            "amount_raised": [2e5, 1.2e6, 1e5],
            "realised_return": [np.nan, 15.0, np.nan],
            "districts": [1, 3, 1],
            "provinces": [1, 2, 1],
        }
    )
    f = features_as_of(bundle(spread=spread), AS_OF)
    assert f.loc[1, "investor_growth"] == pytest.approx(300.0)
    assert f.loc[1, "amount_raised_wan"] == pytest.approx(120.0)
    assert f.loc[1, "promised_return"] == 15.0  # the realised return counts as a promise
    s = score_frame(f)
    assert s.loc[1, "sub_spread"] == 100 and s.loc[2, "sub_spread"] == 0
    assert s.loc[1, "sub_yield"] >= 70


def test_fund_anomalies_and_dishonest_firm():
    funds = pd.DataFrame({"enterprise_id": [3], "reported_on": ["2025-05-01"], "kind": ["分散转入集中转出"]})
    dishonest = pd.DataFrame(
        {
            "enterprise_id": [3],
            "person_key": [None],
            "listed_on": ["2025-02-01"],
            "removed_on": ["2025-04-01"],
        }
    )
    f = features_as_of(bundle(funds=funds, dishonest=dishonest), AS_OF)
    assert f.loc[3, "fund_anomalies"] == 1 and f.loc[1, "fund_anomalies"] == 0
    assert f.loc[3, "firm_dishonest"] == 0  # removed from the list before the date
