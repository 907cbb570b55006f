"""An analysis as of an earlier date sees only what was known then: loan classes and balances reported
by that date and financial statements filed by it (no look-ahead)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select, update

from qiantang.enterprises import service as ent_service
from qiantang.enterprises.models import EnterpriseFinancial, Loan, LoanClassification
from qiantang.network import service
from qiantang.standards.loan_class import LoanClass

EARLIER = date(2024, 6, 30)


def fingerprint(db, as_of: date) -> dict:
    """Everything a run and a scenario as of ``as_of`` compute, as plain arrays."""
    net = service.load_network(db, as_of=as_of)
    s = service.structure(net)
    metrics = service.group_metrics(net, s)
    defaults, losses = service._impacts(net, s, service.Params())
    return {
        "equity": net.equity.round(2),
        "loans": net.loans[["id", "balance", "classification"]].to_numpy(),
        "metrics": metrics.round(9).to_numpy(),
        "impact_defaults": defaults,
        "impact_loss": np.nan_to_num(losses.round(2)),
    }


def assert_same(a: dict, b: dict) -> None:
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_statement_known_from_april_30_of_the_next_year_unless_a_filing_date_says_otherwise():
    assert ent_service.statement_cutoff_year(date(2024, 4, 29)) == 2022
    assert ent_service.statement_cutoff_year(date(2024, 4, 30)) == 2023
    assert ent_service.statement_cutoff_year(date(2025, 12, 31)) == 2024


def test_earlier_analysis_is_the_same_whether_or_not_later_data_exist(db):
    before = fingerprint(db, EARLIER)
    latest = db.scalar(select(func.max(Loan.as_of)))
    now = fingerprint(db, latest)
    # Later information: every current class becomes 损失 with a larger balance, later history rows
    # become 可疑, statements not yet filed on the date report a large negative net worth.
    db.execute(update(Loan).values(classification=LoanClass.LOSS, balance=Loan.amount))
    db.execute(
        update(LoanClassification)
        .where(LoanClassification.as_of > EARLIER)
        .values(classification=LoanClass.DOUBTFUL, balance=1.0)
    )
    cutoff = ent_service.statement_cutoff_year(EARLIER)
    db.execute(update(EnterpriseFinancial).where(EnterpriseFinancial.year > cutoff).values(equity=-1e12))
    db.flush()
    changed = fingerprint(db, EARLIER)
    # …or none of it: the later history rows and statements deleted.
    assert not np.array_equal(fingerprint(db, latest)["loans"], now["loans"])  # the edits do matter
    db.execute(delete(LoanClassification).where(LoanClassification.as_of > EARLIER))
    db.execute(delete(EnterpriseFinancial).where(EnterpriseFinancial.year > cutoff))
    db.flush()
    removed = fingerprint(db, EARLIER)
    assert_same(before, changed)
    assert_same(before, removed)


def test_a_filing_date_after_the_analysis_date_hides_the_statement(db):
    cutoff = ent_service.statement_cutoff_year(EARLIER)
    firm = db.scalar(select(EnterpriseFinancial.enterprise_id).where(EnterpriseFinancial.year == cutoff))

    def known_years():
        return set(
            db.scalars(
                select(EnterpriseFinancial.year).where(
                    EnterpriseFinancial.enterprise_id == firm, ent_service.statement_known(EARLIER)
                )
            ).all()
        )

    assert cutoff in known_years() and cutoff + 1 not in known_years()
    db.execute(
        update(EnterpriseFinancial)
        .where(EnterpriseFinancial.enterprise_id == firm, EnterpriseFinancial.year == cutoff)
        .values(filed_on=date(2024, 9, 1))
    )
    assert cutoff not in known_years()


def test_loans_known_on_a_year_end_are_that_year_ends_classes(db):
    as_of = date(2024, 12, 31)
    known = ent_service.loans_known(db, as_of=as_of)
    rows = pd.DataFrame(
        db.execute(
            select(
                LoanClassification.loan_id, LoanClassification.classification, LoanClassification.balance
            ).where(LoanClassification.as_of == as_of, LoanClassification.balance > 0)
        ).all(),
        columns=["id", "cls", "balance"],
    )
    if rows.empty:
        pytest.skip("no loans outstanding at the year-end in this database")
    merged = rows.merge(known, on="id", how="left")
    assert merged["classification"].notna().all()
    # str(): with pyarrow installed pandas stores the StrEnum column as plain strings.
    assert (merged["classification"] == [str(c) for c in merged["cls"]]).all()
    assert np.allclose(merged["balance_x"].astype(float), merged["balance_y"])
    # No loan signed after the date, and fewer non-performing loans than at the current date.
    started = dict(db.execute(select(Loan.id, Loan.start_date)).all())
    assert all(started[i] <= as_of for i in known["id"])
    npl = [c.value for c in LoanClass if c.is_npl]
    current = ent_service.loans_known(db, as_of=date(2025, 12, 31))
    assert known["classification"].isin(npl).sum() < current["classification"].isin(npl).sum()


def test_loans_known_rules_for_missing_and_stale_records(db):
    as_of = date(2024, 6, 30)
    loan = db.scalars(
        select(Loan)
        .where(Loan.start_date < date(2023, 12, 31), Loan.maturity_date > date(2024, 12, 31))
        .order_by(Loan.id)
    ).first()
    db.execute(delete(LoanClassification).where(LoanClassification.loan_id == loan.id))
    db.flush()
    # No record by the date: 正常, the whole amount outstanding.
    known = ent_service.loans_known(db, as_of=as_of).set_index("id")
    assert known.loc[loan.id, "classification"] == LoanClass.NORMAL.value
    assert known.loc[loan.id, "balance"] == pytest.approx(float(loan.amount))
    # A 关注 record at the last year-end is carried forward to the date.
    db.add(
        LoanClassification(
            loan_id=loan.id,
            as_of=date(2023, 12, 31),
            classification=LoanClass.SPECIAL_MENTION,
            balance=123.0,
            source="test",
        )
    )
    db.flush()
    known = ent_service.loans_known(db, as_of=as_of).set_index("id")
    assert known.loc[loan.id, "classification"] == LoanClass.SPECIAL_MENTION.value
    assert known.loc[loan.id, "balance"] == pytest.approx(123.0)
    # Past maturity with an older, performing record: repaid, not counted.
    repaid = db.scalars(
        select(Loan)
        .where(
            Loan.start_date < date(2023, 12, 31),
            Loan.maturity_date.between(date(2024, 1, 1), date(2024, 12, 30)),
            Loan.balance == 0,
        )
        .order_by(Loan.id)
    ).first()
    if repaid is not None:
        assert repaid.id in set(ent_service.loans_known(db, as_of=date(2023, 12, 31))["id"])
        assert repaid.id not in set(ent_service.loans_known(db, as_of=date(2024, 12, 31))["id"])
