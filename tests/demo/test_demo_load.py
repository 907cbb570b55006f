"""Loading the tiny city into a fresh SQLite database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang import migrate
from qiantang.auth.models import Role, User
from qiantang.auth.service import verify_password
from qiantang.db import get_meta, make_engine
from qiantang.demo import DEMO_USERS, database_is_empty, load
from qiantang.fundraising.models import FirmProfile
from qiantang.models import Base
from qiantang.registry.models import Institution
from qiantang.registry.reference import sync_reference_data

pytestmark = pytest.mark.xdist_group("demo_load")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        sync_reference_data(session)
        session.commit()
    assert database_is_empty(engine)
    steps = []
    stats = load(engine, scale="tiny", progress=lambda step, fraction: steps.append((step, fraction)))
    yield engine, stats, steps
    engine.dispose()


def test_row_counts_match_generate(loaded, tiny_city):
    engine, stats, _ = loaded
    assert {k: v for k, v in stats.rows.items() if k != "users"} == tiny_city.rows
    with engine.connect() as conn:
        for table, n in tiny_city.rows.items():
            stmt = select(func.count()).select_from(Base.metadata.tables[table])
            if table == "loans":  # the demo matchmaking's disbursed loans come on top (contracts PT…)
                stmt = stmt.where(~Base.metadata.tables[table].c.contract_no.startswith("PT"))
            if table == "loan_classifications":  # and the classes of those that defaulted (risk pools)
                stmt = stmt.where(Base.metadata.tables[table].c.source != "demo_matching")
            if table == "enterprises":  # the demo's quasi-financial firms (fundraising) come on top
                stmt = stmt.where(~Base.metadata.tables[table].c.id.in_(select(FirmProfile.enterprise_id)))
            assert conn.scalar(stmt) == n
    assert stats.total_rows == sum(stats.rows.values())
    assert stats.seconds > 0 and stats.rows_per_second > 0 and stats.peak_rss_mb > 0


def test_progress_is_reported_in_order(loaded):
    _, _, steps = loaded
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0 <= f <= 1 for f in fractions)
    assert any("贷款" in s and "loans" in s for s, _ in steps)


def test_demo_users_and_meta(loaded):
    engine, _, _ = loaded
    with Session(engine) as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert set(users) == {u.username for u in DEMO_USERS}
        for demo in DEMO_USERS:
            user = users[demo.username]
            assert user.role == demo.role
            assert verify_password(user.password_hash, demo.password)
            assert user.district_code == demo.district_code
        reporter = users["reporter"]
        assert reporter.role == Role.INSTITUTION_REPORTER
        inst = session.get(Institution, reporter.institution_id)
        assert (inst.type_code, inst.district_code, inst.status.value) == ("small_loan", "330106", "active")
        first = session.scalar(
            select(func.min(Institution.id)).where(
                Institution.type_code == "small_loan",
                Institution.district_code == "330106",
                Institution.status == "active",
            )
        )
        assert reporter.institution_id == first
        assert get_meta(session, "demo_scale") == "tiny"
        assert get_meta(session, "demo_seed") == "2016"
        assert get_meta(session, "demo_loaded_at")


def test_loaded_rows_read_back_through_the_orm(loaded, tiny_city):
    from qiantang.enterprises.models import Enterprise, Guarantee, Loan
    from qiantang.filings.models import Filing

    engine, _, _ = loaded
    with Session(engine) as session:
        inst = session.get(Institution, 1)
        assert inst.name == tiny_city.tables["institutions"]["name"][0]
        assert inst.status_history[0].event.value == "established"
        ent = session.get(Enterprise, 10)
        assert ent.uscc == tiny_city.tables["enterprises"]["uscc"][9]
        assert str(ent.founded_on) == str(tiny_city.tables["enterprises"]["founded_on"][9])
        loan = session.get(Loan, 100)
        assert loan.amount == tiny_city.tables["loans"]["amount"][99]
        guarantee = session.get(Guarantee, 5)
        assert guarantee.loan_id == tiny_city.tables["guarantees"]["loan_id"][4]
        filing = session.get(Filing, 7)
        assert isinstance(filing.data, dict) and filing.data
        assert filing.submitted_at.year >= 2015


def test_second_load_refuses(loaded):
    engine, _, _ = loaded
    assert not database_is_empty(engine)
    with pytest.raises(ValueError, match="空数据库"):
        load(engine, scale="tiny")
