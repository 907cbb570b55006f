"""The stored cells equal an independent computation from the raw tables; partial refresh is partial."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import func, select, text

from qiantang.filings.models import Filing
from qiantang.statistics import measures as M
from qiantang.statistics import service
from qiantang.statistics.models import StatCell, StatRefresh

PERIODS = [date(2015, 3, 31), date(2017, 9, 30), date(2019, 6, 30), date(2020, 12, 31), date(2025, 12, 31)]
CHECKED = [
    "open",
    "entries",
    "exits",
    "distressed",
    "expected",
    "filed",
    "filed_late",
    "total_assets",
    "small_loan.loan_balance",
    "small_loan.npl_balance",
    "private_fund_manager.aum",
    "financing_guarantee.financing_guarantee_balance",
]


def _day(value) -> date | None:
    return None if value is None else date.fromisoformat(str(value)[:10])


def _quarter_start(period_end: date) -> date:
    return date(period_end.year, period_end.month - 2, 1)


def raw_expected(db, periods: list[date]) -> dict[tuple, float]:
    """(period, type, district, measure) → value, computed row by row in plain Python from raw SQL."""
    institutions = {
        r.id: r
        for r in db.execute(
            text(
                "SELECT i.id, i.type_code, i.district_code, i.established_on, i.deregistered_on, "
                "t.filing_template FROM institutions i JOIN institution_types t ON t.code = i.type_code"
            )
        ).all()
    }
    history: dict[int, list[tuple[date, int, str]]] = defaultdict(list)
    for r in db.execute(
        text("SELECT id, institution_id, effective_on, status_after FROM institution_status_changes")
    ).all():
        history[r.institution_id].append((_day(r.effective_on), r.id, r.status_after))
    out: dict[tuple, float] = defaultdict(float)
    for pe in periods:
        start = _quarter_start(pe)
        for inst in institutions.values():
            key = (pe, inst.type_code, inst.district_code)
            est, dereg = _day(inst.established_on), _day(inst.deregistered_on)
            is_open = est <= pe and (dereg is None or dereg > pe)
            if is_open:
                out[(*key, "open")] += 1
                if inst.filing_template:
                    out[(*key, "expected")] += 1
                past = sorted(h for h in history[inst.id] if h[0] <= pe)
                if past and past[-1][2] in ("suspended", "resolving"):
                    out[(*key, "distressed")] += 1
            if start <= est <= pe:
                out[(*key, "entries")] += 1
            if dereg is not None and start <= dereg <= pe:
                out[(*key, "exits")] += 1
        rows = db.execute(
            text(
                "SELECT institution_id, template_code, data, due_on, submitted_at FROM filings "
                "WHERE period_end = :pe AND is_current = :yes"
            ),
            {"pe": pe, "yes": True},
        ).all()
        for r in rows:
            inst = institutions[r.institution_id]
            key = (pe, inst.type_code, inst.district_code)
            data = json.loads(r.data) if isinstance(r.data, str) else r.data
            out[(*key, "filed")] += 1
            if _day(r.submitted_at) > _day(r.due_on):
                out[(*key, "filed_late")] += 1
            out[(*key, "total_assets")] += float(data.get("total_assets", 0))
            for code in CHECKED:
                m = M.get(code)
                if m.template and m.template == r.template_code:
                    out[(*key, code)] += float(data.get(m.field, 0))
    return {k: v for k, v in out.items() if k[-1] in CHECKED and v != 0}


def stored(db, periods: list[date]) -> dict[tuple, float]:
    stmt = (
        select(
            StatCell.period_end,
            StatCell.type_code,
            StatCell.district_code,
            StatCell.measure,
            func.sum(StatCell.value),
        )
        .where(StatCell.period_end.in_(periods), StatCell.measure.in_(CHECKED))
        .group_by(StatCell.period_end, StatCell.type_code, StatCell.district_code, StatCell.measure)
    )
    return {(p, t, d, m): float(v) for p, t, d, m, v in db.execute(stmt).all() if v != 0}


def test_refresh_equals_an_independent_computation(db):
    record = service.refresh(db)
    assert record.periods == "all" and record.cells > 0
    periods = db.scalars(select(StatCell.period_end).distinct()).all()
    assert min(periods) == date(2015, 3, 31) and max(periods) == date(2025, 12, 31)
    expected = raw_expected(db, PERIODS)
    got = stored(db, PERIODS)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    # Every checked measure is exercised by the tiny city in at least one of the periods.
    assert {k[-1] for k in expected} == set(CHECKED)


def test_refresh_covers_every_quarter_and_is_idempotent(db):
    first = service.refresh(db)
    n = db.scalar(select(func.count()).select_from(StatCell))
    second = service.refresh(db)
    assert first.cells == second.cells == n == db.scalar(select(func.count()).select_from(StatCell))
    quarters = db.scalars(select(StatCell.period_end).distinct()).all()
    assert len(quarters) == 44  # 2015Q1 … 2025Q4
    assert db.scalar(select(func.count()).where(StatCell.value == 0)) == 0  # zeros are not stored


def _all_cells(db) -> set[tuple]:
    return set(
        db.execute(
            select(
                StatCell.period_end,
                StatCell.type_code,
                StatCell.district_code,
                StatCell.cluster_code,
                StatCell.level,
                StatCell.measure,
                StatCell.value,
            )
        ).all()
    )


def test_refresh_periods_changes_only_the_given_quarters(db):
    service.refresh(db)
    target = date(2020, 6, 30)
    filing = db.scalars(
        select(Filing)
        .where(Filing.template_code == "small_loan", Filing.period_end == target, Filing.is_current.is_(True))
        .order_by(Filing.id)
        .limit(1)
    ).one()
    before = _all_cells(db)
    loans_before = service.aggregate(
        db, scope=service.Scope.system(), measures=["small_loan.loan_balance"], by=["period_end"]
    )["small_loan.loan_balance"]
    # A corrected return for 2020Q2 lands (as a filings upload would store it), plus one for 2021Q1.
    filing.data = {**filing.data, "loan_balance": float(filing.data["loan_balance"]) + 1234.5}
    other = db.scalars(
        select(Filing)
        .where(Filing.template_code == "small_loan", Filing.period_end == date(2021, 3, 31))
        .limit(1)
    ).one()
    other.data = {**other.data, "loan_balance": float(other.data["loan_balance"]) + 99.0}
    db.flush()
    n = service.refresh_periods(db, period_ends=[date(2020, 5, 17)])  # any day of the quarter
    assert n > 0
    after = _all_cells(db)
    untouched = {c for c in before if c[0] != target}
    assert {c for c in after if c[0] != target} == untouched  # 2021Q1 is not recomputed
    assert {c for c in after if c[0] == target} != {c for c in before if c[0] == target}
    loans_after = service.aggregate(
        db, scope=service.Scope.system(), measures=["small_loan.loan_balance"], by=["period_end"]
    )["small_loan.loan_balance"]
    assert loans_after[target] - loans_before[target] == pytest.approx(1234.5)
    assert loans_after[date(2021, 3, 31)] == loans_before[date(2021, 3, 31)]
    last = db.scalars(select(StatRefresh).order_by(StatRefresh.id.desc()).limit(1)).one()
    assert last.periods == "2020-06-30" and last.cells == n
    assert service.refresh_periods(db, period_ends=[]) == 0


def test_refresh_periods_replaces_stale_cells(db):
    service.refresh(db)
    later = date(2031, 3, 31)  # no filings yet; the registry still says who is open
    db.add(
        StatCell(
            period_end=later,
            type_code="stale",
            district_code="330106",
            cluster_code="",
            level="hq",
            measure="filed",
            value=1,
        )
    )
    db.flush()
    service.refresh_periods(db, period_ends=[later])
    cells = db.execute(select(StatCell.type_code, StatCell.measure).where(StatCell.period_end == later)).all()
    assert cells and all(t != "stale" for t, _m in cells)
    assert {m for _t, m in cells} <= {"open", "expected", "distressed"}


def test_an_early_return_fills_the_quarters_before_it(db):
    """Cells up to 2025Q4, then one early return for 2026Q3: 2026Q1 and Q2 get their cells too."""
    service.refresh(db)
    assert service.latest_period(db) == date(2025, 12, 31)
    early = date(2026, 9, 30)
    gap = [date(2026, 3, 31), date(2026, 6, 30)]
    service.refresh_periods(db, period_ends=[early])
    assert set(service.available_periods(db)[:3]) == {early, *gap}
    quarters = [*gap, early]
    expected = raw_expected(db, quarters)
    assert {k[-1] for k in expected} >= {"open", "expected"}
    got = stored(db, quarters)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    trend = service.aggregate(db, scope=service.Scope.system(), measures=["open"], by=["period_end"])["open"]
    assert all(trend.get(q, 0) > 0 for q in quarters)
    last = db.scalars(select(StatRefresh).order_by(StatRefresh.id.desc()).limit(1)).one()
    assert last.periods == ",".join(q.isoformat() for q in quarters)
    # A quarter that already has cells is not recomputed again unless asked.
    assert service.periods_to_refresh(db, [date(2020, 6, 30)]) == [date(2020, 6, 30)]


def test_quarter_helpers():
    assert service.quarter_end(date(2020, 2, 29)) == date(2020, 3, 31)
    assert service.quarter_end(date(2020, 12, 1)) == date(2020, 12, 31)
    assert service.previous_quarter_end(date(2021, 3, 31)) == date(2020, 12, 31)
    assert service.quarter_ends(date(2015, 1, 1), date(2015, 12, 31)) == [
        date(2015, 3, 31),
        date(2015, 6, 30),
        date(2015, 9, 30),
        date(2015, 12, 31),
    ]
    assert service.quarter_label(date(2025, 9, 30)) == "2025Q3"


def test_measure_registry_is_consistent():
    codes = [m.code for m in M.MEASURES]
    assert len(codes) == len(set(codes))
    for m in M.MEASURES:
        assert m.name_zh and m.name_en and m.unit and m.how
        if m.kind == M.Kind.RATIO:
            assert m.unit == "%" and M.get(m.numerator).stored and M.get(m.denominator).stored
        if m.kind == M.Kind.SUM:
            assert m.field
    npl = M.get("small_loan.npl_ratio")
    assert npl.parts == ("small_loan.npl_balance", "small_loan.loan_balance")
    assert M.get("total_assets").header() == "资产总额（亿元）"
    assert M.get("total_assets").display(12345.0) == 1.23
