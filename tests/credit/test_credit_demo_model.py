"""The demo's credit model: registered champion, stored scores for every enterprise, monitoring."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
from sqlalchemy import func, select

from qiantang.credit import features as feats
from qiantang.credit import policy as pol
from qiantang.credit import registry
from qiantang.credit.demo_model import DEMO_NAME, demo_dataset
from qiantang.credit.models import CreditModel, CreditMonitoring, CreditScore, ModelKind, ModelStatus
from qiantang.credit.reasons import describe_stored
from qiantang.credit.service import batch_score, score_record
from qiantang.enterprises.models import Enterprise, Guarantee, Loan
from qiantang.matching.models import Offer

AS_OF = date(2025, 12, 31)


def test_demo_load_registers_a_champion_and_a_challenger(db):
    champion = registry.champion(db, "all")
    assert champion is not None and champion.name == DEMO_NAME and champion.kind == ModelKind.SCORECARD
    assert (
        champion.spec["input"] == registry.INPUT_ENTERPRISE
        and champion.spec["feature_set"] == feats.FEATURE_SET
    )
    assert len(champion.training_hash) == 64 and champion.training_rows > 300
    assert champion.created_by == "demo" and champion.features
    assert "次级" in champion.target
    v = champion.metrics["validation"]
    assert 0.65 < v["out_of_fold"]["auc"]["value"] < 0.95
    bins = champion.spec["model"]["bins"]
    assert all({"splits", "woe", "count", "bad", "points", "coef"} <= set(b) for b in bins)
    others = db.scalars(select(CreditModel).where(CreditModel.id != champion.id)).all()
    assert any(
        m.kind == ModelKind.LIGHTGBM and m.status == ModelStatus.CANDIDATE and m.artifact for m in others
    )
    # The registered training hash is the hash of the demo's development table.
    assert demo_dataset(db).fingerprint() == champion.training_hash


def test_every_live_enterprise_has_a_stored_score_grade_and_reasons(db):
    champion = registry.champion(db, "all")
    live = db.scalar(
        select(func.count())
        .select_from(Enterprise)
        .where((Enterprise.deregistered_on.is_(None)) | (Enterprise.deregistered_on > AS_OF))
    )
    rows = db.scalars(select(CreditScore).where(CreditScore.model_id == champion.id)).all()
    assert len(rows) == live and {r.as_of for r in rows} == {AS_OF}
    grades = set(pol.grade_names())
    for r in rows[:200]:
        assert r.grade in grades and 0 < r.pd < 1
        assert pol.grade_of(r.pd)[0] == r.grade
        assert len(r.reasons) <= 4 and all(x["points_lost"] > 0 and "bin" in x for x in r.reasons)
    model = registry.load(champion)
    words = describe_stored(rows[0].reasons, model)
    assert all(w["text"] and w["label"] for w in words)
    assert len({r.grade for r in rows}) >= 4
    mon = db.scalar(select(CreditMonitoring).where(CreditMonitoring.model_id == champion.id))
    assert mon is not None and mon.status in ("ok", "warn", "alert")
    # Stability compares like with like: the firms with a loan running on the as-of date — in the
    # book as it was scored, before the demo matchmaking disbursed its loans (it ranks by these PDs).
    disbursed = select(Offer.loan_id).where(Offer.loan_id.is_not(None))
    running = db.scalar(
        select(func.count(func.distinct(Loan.borrower_id)))
        .join(Enterprise, Enterprise.id == Loan.borrower_id)
        .where(Loan.start_date <= AS_OF, Loan.maturity_date >= AS_OF, Loan.id.not_in(disbursed))
        .where((Enterprise.deregistered_on.is_(None)) | (Enterprise.deregistered_on > AS_OF))
    )
    assert 0 < running < live
    assert mon.population_rows == running and mon.details["scored_rows"] == live
    assert set(mon.psi_features) <= set(feats.FEATURE_NAMES) and "peers" in mon.details


def test_batch_scoring_again_replaces_the_run_and_matches_single_record_scoring(db):
    champion = registry.champion(db, "all")
    before = db.scalar(select(func.count()).select_from(CreditScore))
    stats = batch_score(db, as_of=AS_OF)
    assert db.scalar(select(func.count()).select_from(CreditScore)) == before
    assert stats.rows > 0 and stats.monitoring
    # The stored score of one firm equals scoring its features one at a time.
    stored = db.scalars(select(CreditScore).where(CreditScore.model_id == champion.id).limit(5)).all()
    raw = feats.read_raw(db.connection(), as_of=AS_OF, enterprise_ids=[s.enterprise_id for s in stored])
    X = feats.compute_features(raw.frame, AS_OF)
    model = registry.load(champion)
    by_id = dict(zip(raw.frame["enterprise_id"], model.score(X), strict=True))
    for s in stored:
        assert s.score == round(by_id[s.enterprise_id], 2)


def test_features_see_only_contracts_signed_by_the_as_of_date(db):
    """A one-year-ahead PD: features at 2024-12-31 must not count the loans and guarantees of 2025."""
    obs = date(2024, 12, 31)
    late = db.execute(
        select(Loan.borrower_id).where(Loan.start_date > obs).group_by(Loan.borrower_id).limit(50)
    ).scalars()
    ids = list(late)
    assert ids, "the demo has loans signed after the observation date"
    raw = feats.read_raw(db.connection(), as_of=obs, enterprise_ids=ids).frame.set_index("enterprise_id")
    for firm in ids:
        signed = db.scalar(
            select(func.count()).select_from(Loan).where(Loan.borrower_id == firm, Loan.start_date <= obs)
        )
        guarantors = db.scalar(
            select(func.count())
            .select_from(Guarantee)
            .where(Guarantee.borrower_id == firm, Guarantee.start_date <= obs)
            .where((Guarantee.end_date.is_(None)) | (Guarantee.end_date >= obs))
        )
        assert raw.loc[firm, "loan_count"] == signed
        assert raw.loc[firm, "guarantor_count"] <= guarantors


def test_promoting_retires_the_previous_champion(db):
    champion = registry.champion(db, "all")
    challenger = db.scalar(select(CreditModel).where(CreditModel.kind == ModelKind.LIGHTGBM))
    registry.promote(db, model_id=challenger.id, by="test")
    db.flush()
    db.refresh(champion)
    assert champion.status == ModelStatus.RETIRED
    assert registry.champion(db, "all").id == challenger.id
    assert (
        db.scalar(
            select(func.count()).select_from(CreditModel).where(CreditModel.status == ModelStatus.CHAMPION)
        )
        == 1
    )
    stats = batch_score(db, as_of=AS_OF)  # the LightGBM path of batch scoring, with SHAP reasons
    row = db.scalar(select(CreditScore).where(CreditScore.model_id == challenger.id).limit(1))
    assert stats.rows > 0 and row is not None and all("shap" in r for r in row.reasons)
    json.dumps(row.reasons, ensure_ascii=False)


def test_demo_financial_ratios_carry_signal_about_bad_loans(db):
    data = demo_dataset(db)
    from qiantang.credit.metrics import auc

    debt = data.X["debt_ratio"].to_numpy()
    ok = ~np.isnan(debt)
    assert 0.55 < auc(data.y[ok], debt[ok]) < 0.95  # higher leverage, more bad loans — noisily


def test_single_enterprise_record_scores_and_explains_odd_values(db):
    good = {
        "industry_code": "3511",
        "size_class": "small",
        "founded_on": "2012-05-01",
        "listing_status": "unlisted",
        "high_tech": True,
        "employees": 60,
        "revenue": 3.2e7,
        "revenue_prev": 3.0e7,
        "net_profit": 2.0e6,
        "net_profit_prev": 1.5e6,
        "net_profit_prev2": 1.0e6,
        "total_assets": 4.0e7,
        "total_liabilities": 1.6e7,
        "current_assets": 2.0e7,
        "current_liabilities": 1.0e7,
        "operating_cash_flow": 2.5e6,
        "interest_expense": 4.0e5,
        "tax_paid": 1.2e6,
        "loan_count": 3,
        "lender_count": 2,
        "guarantee_given": 0,
        "guarantor_count": 1,
        "mutual_guarantee": False,
    }
    out = score_record(db, enterprise=good)
    assert out["grade"] in pol.grade_names() and 0 < out["pd"] < 1 and out["model"].startswith(DEMO_NAME)
    odd = {**good, "industry_code": "ZZ99", "revenue": -5.0e6, "total_assets": None}
    out = score_record(db, enterprise=odd)
    notes = " ".join(out["notes"])
    assert "行业代码" in notes and "营业收入" in notes and "资产总额" in notes
    assert all(r["text"] for r in out["reasons"])
    empty = score_record(db, enterprise={})
    assert np.isfinite(empty["score"]) and empty["notes"]


def test_grade_distribution_keeps_a_district_officer_to_the_district(db):
    from qiantang.auth.models import Role
    from qiantang.auth.scope import Scope
    from qiantang.credit.service import grade_distribution

    champion = registry.champion(db, "all")
    city = grade_distribution(db, model_id=champion.id, as_of=AS_OF)
    xihu = grade_distribution(
        db, model_id=champion.id, as_of=AS_OF, scope=Scope(role=Role.DISTRICT_OFFICER, district_code="330106")
    )
    in_xihu = db.scalar(
        select(func.count())
        .select_from(CreditScore)
        .join(Enterprise, Enterprise.id == CreditScore.enterprise_id)
        .where(CreditScore.model_id == champion.id, Enterprise.district_code == "330106")
    )
    assert list(xihu) == list(city) == pol.grade_names()
    assert sum(xihu.values()) == in_xihu < sum(city.values())
    assert all(xihu[g] <= city[g] for g in city)


def test_target_at_an_earlier_year_end_reads_the_classification_history(db):
    from qiantang.enterprises.models import LoanClassification
    from qiantang.standards.loan_class import LoanClass

    earlier = date(2024, 12, 31)
    target = feats.read_target(db.connection(), performance_date=earlier)
    npl = [c for c in LoanClass if c.is_npl]
    rows = db.execute(
        select(Loan.borrower_id, LoanClassification.classification)
        .join(Loan, Loan.id == LoanClassification.loan_id)
        .where(LoanClassification.as_of == earlier, LoanClassification.balance > 0)
    ).all()
    assert rows, "the demo writes a year-end history"
    expected_bad = {b for b, c in rows if c in npl}
    got = dict(zip(target["enterprise_id"].astype(int), target["bad"].astype(int), strict=True))
    assert set(got) == {b for b, _c in rows}
    assert {b for b, bad in got.items() if bad} == expected_bad
    # Fewer firms were non-performing a year earlier than on the current date.
    now = feats.read_target(db.connection(), performance_date=AS_OF)
    assert target["bad"].sum() < now["bad"].sum()
