"""Loans and guarantees of the tiny city: classes, amounts, parties and dates."""

from __future__ import annotations

import numpy as np

from qiantang.demo.calendar import AS_OF
from qiantang.standards.loan_class import LoanClass, floor_for_days_past_due_array

RANK = {c.value: c.rank for c in LoanClass}


def test_loan_class_never_beats_the_days_past_due_floor(tiny_city):
    loans = tiny_city.tables["loans"]
    rank = np.array([RANK[c] for c in loans["classification"]])
    floor = floor_for_days_past_due_array(loans["days_past_due"])
    assert np.all(rank >= floor)
    assert np.any(rank > floor)  # a few are judged worse than the floor (关注 without overdue …)
    assert set(loans["classification"]) == {c.value for c in LoanClass}


def test_loan_amounts_balances_and_dates(tiny_city):
    loans = tiny_city.tables["loans"]
    inst = tiny_city.tables["institutions"]
    ent = tiny_city.tables["enterprises"]
    assert np.all(loans["amount"] > 0)
    assert np.all((loans["balance"] >= 0) & (loans["balance"] <= loans["amount"]))
    assert np.all(loans["maturity_date"] >= loans["start_date"])
    assert np.all(loans["start_date"] <= AS_OF) and np.all(loans["as_of"] == AS_OF)
    term_years = (loans["maturity_date"] - loans["start_date"]).astype(int) / 365.25
    assert term_years.min() >= 0.49 and term_years.max() <= 5.01
    assert (loans["start_date"] < np.datetime64("2016-01-01")).mean() < 0.05
    outstanding = loans["balance"] > 0
    assert 0.5 < outstanding.mean() < 0.9
    # Matured loans are either repaid or overdue; overdue ones have days past due.
    overdue = outstanding & (loans["maturity_date"] < AS_OF)
    assert np.all(loans["days_past_due"][overdue] > 0)
    assert np.all(loans["days_past_due"][~outstanding] == 0)
    assert np.all(np.array([RANK[c] for c in loans["classification"][~outstanding]]) == 0)
    # Lenders are banks (branch or HQ) or small-loan companies open when the loan started.
    pos = {iid: k for k, iid in enumerate(inst["id"].tolist())}
    rows = np.array([pos[i] for i in loans["lender_id"].tolist()])
    types = inst["type_code"][rows].astype(str)
    assert all(t.startswith("bank_") or t == "small_loan" for t in set(types))
    banks = np.char.startswith(types, "bank_")
    assert set(inst["level"][rows][banks]) <= {"branch", "hq"}
    assert np.all(inst["established_on"][rows] <= loans["start_date"])
    assert not np.any(inst["deregistered_on"][rows] <= loans["start_date"])
    slc = types == "small_loan"
    assert slc.any() and np.median(loans["amount"][slc]) < np.median(loans["amount"][banks])
    # Borrowers exist, were founded before borrowing, and larger firms borrow more.
    founded = ent["founded_on"][loans["borrower_id"] - 1]
    assert np.all(founded < loans["start_date"])
    size = ent["size_class"][loans["borrower_id"] - 1]
    assert np.median(loans["amount"][size == "medium"]) > np.median(loans["amount"][size == "micro"])
    assert len(set(loans["contract_no"].tolist())) == len(loans["id"])


def test_npl_ratio_and_special_mention(tiny_city):
    loans = tiny_city.tables["loans"]
    rank = np.array([RANK[c] for c in loans["classification"]])
    total = loans["balance"].sum()
    npl = loans["balance"][rank >= 2].sum() / total
    watch = loans["balance"][rank == 1].sum() / total
    assert 0.008 < npl < 0.025
    assert 0.01 < watch < 0.05


def test_guarantees_back_a_loan_of_the_borrower(tiny_city):
    g = tiny_city.tables["guarantees"]
    loans = tiny_city.tables["loans"]
    loan = g["loan_id"] - 1
    assert np.all(g["borrower_id"] == loans["borrower_id"][loan])
    assert np.all((g["amount"] > 0) & (g["amount"] <= loans["amount"][loan]))
    enterprise = g["guarantor_enterprise_id"]
    institution = g["guarantor_institution_id"]
    assert np.all(np.ma.getmaskarray(enterprise) != np.ma.getmaskarray(institution))  # exactly one guarantor
    firm = ~np.ma.getmaskarray(enterprise)
    assert np.all(enterprise[firm] != g["borrower_id"][firm])
    assert 0.01 < (~firm).mean() < 0.08  # a few percent from financing-guarantee companies
    inst = tiny_city.tables["institutions"]
    type_of = dict(zip(inst["id"].tolist(), inst["type_code"].tolist(), strict=True))
    assert {type_of[i] for i in institution[~firm].tolist()} == {"financing_guarantee"}
    assert np.all(g["start_date"] == loans["start_date"][loan])
    assert np.all(g["end_date"] >= loans["maturity_date"][loan])
    assert set(loans["guarantee_mode"][np.unique(loan)]) == {"guarantee"}
    assert set(loans["guarantee_mode"]) == {"credit", "guarantee", "mortgage", "pledge"}
    joint = g["kind"] == "joint"
    assert all(a for a in g["agreement_no"][joint]) and not any(g["agreement_no"][~joint])
