"""The overview's key figures equal an independent computation from the raw tables."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Loan
from qiantang.overview.service import build_overview
from qiantang.registry.models import Institution


def frame(db, stmt) -> pd.DataFrame:
    # dtype=object keeps enum members as they are: with pyarrow installed pandas would turn a StrEnum
    # column into plain strings.
    return pd.DataFrame(db.execute(stmt).mappings().all(), dtype=object)


@pytest.mark.parametrize("district", [None, "330106"])
def test_loan_book_and_npl_ratio(db, district):
    scope = Scope.system() if district is None else Scope(role=Role.DISTRICT_OFFICER, district_code=district)
    ov = build_overview(db, scope=scope)
    loans = frame(
        db,
        select(Loan.balance, Loan.classification, Enterprise.district_code).join(
            Enterprise, Enterprise.id == Loan.borrower_id
        ),
    )
    if district:
        loans = loans[loans.district_code == district]
    loans = loans[loans.balance > 0]
    npl = loans[
        loans.classification.map(lambda c: c.value in ("substandard", "doubtful", "loss"))
    ].balance.sum()
    assert ov.loan_balance == pytest.approx(loans.balance.sum())
    assert ov.loan_count == len(loans)
    assert ov.npl_ratio == pytest.approx(100 * npl / loans.balance.sum())


def test_institution_counts_only_open_ones(db):
    ov = build_overview(db, scope=Scope.system())
    inst = frame(db, select(Institution.status))
    open_count = inst.status.map(lambda s: s.is_open).sum()
    assert ov.institutions_total == open_count
    assert sum(ov.institutions_by_category.values()) == open_count


def test_enterprise_sizes_add_up(db):
    ov = build_overview(db, scope=Scope.system())
    ents = frame(db, select(Enterprise.size_class).where(Enterprise.deregistered_on.is_(None)))
    assert ov.enterprises_total == len(ents)
    assert set(ov.enterprises_by_size) <= {"large", "medium", "small", "micro", "unknown"}


def test_overview_page_shows_units_and_demo_label(clients):
    page = clients.as_user("admin").get("/").text
    assert "亿元" in page and "不良贷款率" in page
    assert "演示数据" in page  # the synthetic city says so
    assert 'data-chart="' in page


def test_summary_refresh_picks_up_new_loans(db):
    from datetime import date

    from qiantang.overview.service import refresh_summary
    from qiantang.standards.loan_class import LoanClass

    before = build_overview(db, scope=Scope.system())
    borrower = db.scalars(select(Enterprise).limit(1)).one()
    lender = db.scalars(select(Institution).where(Institution.type_code.like("bank_%")).limit(1)).one()
    db.add(
        Loan(
            contract_no="T-1",
            lender_id=lender.id,
            borrower_id=borrower.id,
            amount=1e9,
            balance=1e9,
            start_date=date(2025, 1, 1),
            maturity_date=date(2026, 1, 1),
            guarantee_mode="credit",
            classification=LoanClass.LOSS,
            days_past_due=400,
            as_of=date(2025, 12, 31),
        )
    )
    db.flush()
    assert build_overview(db, scope=Scope.system()).loan_balance == before.loan_balance  # stored, not live
    refresh_summary(db)
    after = build_overview(db, scope=Scope.system())
    assert after.loan_balance == pytest.approx(before.loan_balance + 1e9)
    assert after.balance_by_class["loss"] == pytest.approx(before.balance_by_class["loss"] + 1e9)
    assert after.npl_ratio > before.npl_ratio
