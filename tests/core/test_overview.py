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
    return pd.DataFrame(db.execute(stmt).mappings().all())


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
