"""The demo's financial statements by year: consistent with the enterprises, driven by credit quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qiantang.demo import generate


@pytest.fixture(scope="module")
def city():
    return generate("tiny", 7)


def test_every_enterprise_has_years_up_to_its_latest_financial_year(city):
    ent = city.tables["enterprises"]
    fin = pd.DataFrame(city.tables["enterprise_financials"])
    assert np.array_equal(fin["id"], np.arange(1, len(fin) + 1))
    assert fin["year"].min() == 2021 and fin["year"].max() == 2025
    assert set(fin["enterprise_id"]) == set(ent["id"].tolist())
    span = fin.groupby("enterprise_id")["year"].agg(["min", "max", "count"])
    latest = pd.Series(ent["financials_year"], index=ent["id"])
    founded = pd.Series(pd.to_datetime(ent["founded_on"]).year, index=ent["id"])
    assert (span["max"] == latest[span.index]).all()
    assert (span["min"] == np.maximum(2021, founded[span.index])).all()
    assert (span["count"] == span["max"] - span["min"] + 1).all()
    older = founded[founded <= 2021].index
    assert (span.loc[older, "min"] == 2021).all() and (span.loc[older, "max"] >= 2024).all()


def test_latest_year_equals_the_enterprise_figures_and_statements_add_up(city):
    ent = pd.DataFrame(
        {
            k: city.tables["enterprises"][k]
            for k in ("id", "revenue", "total_assets", "employees", "financials_year")
        }
    )
    fin = pd.DataFrame(city.tables["enterprise_financials"])
    last = fin.merge(
        ent, left_on=["enterprise_id", "year"], right_on=["id", "financials_year"], suffixes=("", "_e")
    )
    assert len(last) == len(ent)
    assert np.array_equal(last["revenue"], last["revenue_e"])
    assert np.array_equal(last["total_assets"], last["total_assets_e"])
    assert np.array_equal(last["employees"], last["employees_e"])
    assert np.allclose(fin["equity"], fin["total_assets"] - fin["total_liabilities"], atol=0.011)
    assert (fin["revenue"] > 0).all() and (fin["total_assets"] > 0).all() and (fin["employees"] >= 1).all()
    assert (fin["current_assets"] < fin["total_assets"]).all()
    assert (fin["current_liabilities"] <= fin["total_liabilities"] + 0.01).all()
    assert (fin["interest_expense"] >= 0).all() and (fin["tax_paid"] >= 0).all()
    assert 0.1 < (fin["net_profit"] < 0).mean() < 0.45  # some loss-makers, most firms profitable


def test_ratios_follow_the_latent_quality_behind_bad_loans(city):
    loans = city.tables["loans"]
    bad_firms = set(
        loans["borrower_id"][np.isin(loans["classification"], ["substandard", "doubtful", "loss"])].tolist()
    )
    fin = pd.DataFrame(city.tables["enterprise_financials"])
    y2024 = fin[fin["year"] == 2024].set_index("enterprise_id")
    borrowers = sorted(set(loans["borrower_id"][loans["balance"] > 0].tolist()) & set(y2024.index))
    frame = y2024.loc[borrowers]
    bad = frame.index.isin(bad_firms)
    debt = frame["total_liabilities"] / frame["total_assets"]
    margin = frame["net_profit"] / frame["revenue"]
    assert debt[bad].median() > debt[~bad].median() + 0.03
    assert margin[bad].median() < margin[~bad].median() - 0.01


def test_same_seed_same_statements():
    a = generate("tiny", 7).tables["enterprise_financials"]
    b = generate("tiny", 7).tables["enterprise_financials"]
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a if k != "source")
