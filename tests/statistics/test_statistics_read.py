"""Reading the cells: pivot totals, ratios of sums, trends, yearly flows, districts, clusters, scope."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import select, text

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.errors import Forbidden, NotFound, QiantangError
from qiantang.filings.models import Filing
from qiantang.plan import indicators
from qiantang.registry.models import Cluster
from qiantang.statistics import measures as M
from qiantang.statistics import service
from qiantang.statistics.service import Dimension, Filters

CITY = Scope.system()
XIHU = Scope(role=Role.DISTRICT_OFFICER, district_code="330106")
LAST = date(2025, 12, 31)
STORED = [m.code for m in M.STORED]


@pytest.fixture
def fresh(db):
    """Cells recomputed inside the test's transaction, so that they describe the raw tables the test
    reads even if an earlier test in the session committed a registry change."""
    service.refresh(db)
    return db


def _raw_small_loans(db, period_end: date, district: str | None = None) -> list[tuple[str, float, float]]:
    """(district, loan_balance, npl_balance) of each current small-loan return of a quarter."""
    rows = db.execute(
        text(
            "SELECT i.district_code, f.data FROM filings f JOIN institutions i ON i.id = f.institution_id "
            "WHERE f.template_code = 'small_loan' AND f.period_end = :pe AND f.is_current = :yes"
        ),
        {"pe": period_end, "yes": True},
    ).all()
    out = []
    for d, data in rows:
        data = json.loads(data) if isinstance(data, str) else data
        if district is None or d == district:
            out.append((d, float(data["loan_balance"]), float(data["npl_balance"])))
    return out


@pytest.mark.parametrize("dim", list(Dimension))
def test_pivot_totals_equal_the_sum_of_rows(db, dim):
    p = service.pivot(db, scope=CITY, period_end=LAST, rows=dim, measures=[*STORED, "filing_rate"])
    assert p.period_end == LAST and p.rows
    for code in STORED:
        assert p.total.values[code] == pytest.approx(sum(r.values[code] for r in p.rows)), code
    # The ratio of the totals row is the ratio of the totals, not a sum or mean of the rows.
    assert p.total.values["filing_rate"] == pytest.approx(
        100 * p.total.values["filed"] / p.total.values["expected"]
    )
    # Every dimension sees the same city.
    city = service.pivot(db, scope=CITY, period_end=LAST, rows="type", measures=["open"])
    assert p.total.values["open"] == city.total.values["open"]


def test_pivot_rows_are_named_and_ordered(db):
    p = service.pivot(db, scope=CITY, period_end=LAST, rows="cluster", measures=["open"])
    codes = [r.code for r in p.rows]
    assert codes[-1] == service.NO_CLUSTER and p.rows[-1].name_zh == "不在集聚区"
    names = {c.code: c.name_zh for c in db.scalars(select(Cluster)).all()}
    assert all(r.name_zh == names[r.code] for r in p.rows[:-1])
    levels = service.pivot(db, scope=CITY, period_end=LAST, rows="level", measures=["open"])
    assert [r.code for r in levels.rows] == [
        c for c in ("hq", "regional_hq", "provincial_branch", "branch") if c in {r.code for r in levels.rows}
    ]


def test_npl_ratio_is_a_ratio_of_sums(fresh):
    db = fresh
    loans = _raw_small_loans(db, LAST)
    assert len({d for d, _l, _n in loans}) > 1
    expected = 100 * sum(n for _d, _l, n in loans) / sum(lb for _d, lb, _n in loans)
    p = service.pivot(db, scope=CITY, period_end=LAST, rows="district", measures=["small_loan.npl_ratio"])
    total = p.total.values["small_loan.npl_ratio"]
    assert total == pytest.approx(expected)
    row_ratios = [
        r.values["small_loan.npl_ratio"] for r in p.rows if r.values["small_loan.npl_ratio"] is not None
    ]
    per_company = [100 * n / lb for _d, lb, n in loans]
    if len(set(row_ratios)) > 1:
        assert total != pytest.approx(sum(row_ratios) / len(row_ratios))  # not a mean of districts
    assert total != pytest.approx(sum(per_company) / len(per_company))  # nor of companies
    for r in p.rows:
        mine = [(lb, n) for d, lb, n in loans if d == r.code]
        if mine:
            assert r.values["small_loan.npl_ratio"] == pytest.approx(
                100 * sum(n for _l, n in mine) / sum(lb for lb, _n in mine)
            )
        else:
            assert r.values["small_loan.npl_ratio"] is None  # 0 / 0 is no ratio, not 0%


def test_trend_of_a_ratio_uses_each_quarters_sums(fresh):
    db = fresh
    t = service.trend(db, scope=CITY, measure="small_loan.npl_ratio")
    assert t.periods[0] == date(2015, 3, 31) and t.periods[-1] == LAST and len(t.series) == 1
    for pe in (date(2018, 3, 31), LAST):
        loans = _raw_small_loans(db, pe)
        value = t.series[0].values[t.periods.index(pe)]
        assert value == pytest.approx(100 * sum(n for *_x, n in loans) / sum(lb for _d, lb, _n in loans))


def test_trend_split_adds_up_to_the_total(db):
    total = service.trend(db, scope=CITY, measure="open")
    split = service.trend(db, scope=CITY, measure="open", split="type", top=3)
    assert len(split.series) == 4 and split.series[-1].code == service.OTHERS
    for i in range(len(total.periods)):
        assert sum(s.values[i] or 0 for s in split.series) == total.series[0].values[i]
    assert service.trend(db, scope=CITY, measure="open", split="district").series


def test_flows_by_year_sum_the_quarters(fresh):
    db = fresh
    flows = service.flows_by_year(db, scope=CITY)
    assert [f.year for f in flows] == list(range(2015, 2026))
    q = service.aggregate(db, scope=CITY, measures=["entries", "exits", "open"], by=["period_end"])
    y2020 = q[[d.year == 2020 for d in q.index]]
    f2020 = next(f for f in flows if f.year == 2020)
    assert f2020.entries == y2020["entries"].sum() and f2020.exits == y2020["exits"].sum()
    assert f2020.open_at_end == q.loc[date(2020, 12, 31), "open"] and not f2020.partial
    established = db.execute(
        text("SELECT COUNT(*) FROM institutions WHERE established_on BETWEEN '2020-01-01' AND '2020-12-31'")
    ).scalar()
    assert f2020.entries == established


def test_by_district_lists_every_current_district(fresh):
    db = fresh
    p = service.by_district(db, scope=CITY, period_end=LAST)
    codes = [r.code for r in p.rows]
    assert len(codes) == 13 and "330103" not in codes and "330104" not in codes  # no 下城/江干
    raw = db.execute(
        text(
            "SELECT district_code, COUNT(*) FROM institutions WHERE established_on <= :d "
            "AND (deregistered_on IS NULL OR deregistered_on > :d) GROUP BY district_code"
        ),
        {"d": LAST},
    ).all()
    assert {r.code: r.values["open"] for r in p.rows if r.values["open"]} == {d: n for d, n in raw}


def test_district_officer_sees_only_its_district(fresh):
    db = fresh
    p = service.pivot(
        db, scope=XIHU, period_end=LAST, rows="district", measures=["open", "filed", "total_assets"]
    )
    assert [r.code for r in p.rows] == ["330106"]
    open_raw = db.execute(
        text(
            "SELECT COUNT(*) FROM institutions WHERE district_code = '330106' AND established_on <= :d "
            "AND (deregistered_on IS NULL OR deregistered_on > :d)"
        ),
        {"d": LAST},
    ).scalar()
    filed_raw = db.execute(
        text(
            "SELECT COUNT(*) FROM filings f JOIN institutions i ON i.id = f.institution_id "
            "WHERE i.district_code = '330106' AND f.period_end = :d AND f.is_current = :yes"
        ),
        {"d": LAST, "yes": True},
    ).scalar()
    assert p.total.values["open"] == open_raw and p.total.values["filed"] == filed_raw
    by_type = service.pivot(db, scope=XIHU, period_end=LAST, rows="type", measures=["open"])
    assert by_type.total.values["open"] == open_raw
    # Asking for another district gives nothing rather than its numbers.
    other = service.pivot(
        db, scope=XIHU, period_end=LAST, rows="type", measures=["open"], filters=Filters(district="330108")
    )
    assert other.rows == [] and other.total.values["open"] == 0
    assert [r.code for r in service.by_district(db, scope=XIHU, period_end=LAST).rows] == ["330106"]
    trend = service.trend(db, scope=XIHU, measure="open")
    assert trend.series[0].values[-1] == open_raw
    _period, groups = service.clusters_overview(db, scope=XIHU)
    _city_period, city_groups = service.clusters_overview(db, scope=CITY)
    xihu_open = sum(c.open for g in groups for c in g.clusters)
    assert 0 < xihu_open < sum(c.open for g in city_groups for c in g.clusters)


def test_reporters_see_no_statistics(db):
    reporter = Scope(role=Role.INSTITUTION_REPORTER, institution_id=1)
    with pytest.raises(Forbidden):
        service.pivot(db, scope=reporter)
    with pytest.raises(Forbidden):
        service.trend(db, scope=reporter, measure="open")


def test_bad_parameters_are_refused(db):
    with pytest.raises(QiantangError):
        service.pivot(db, scope=CITY, measures=["nope"])
    with pytest.raises(QiantangError):
        service.pivot(db, scope=CITY, filters=Filters(district="999999"))
    with pytest.raises(NotFound):
        service.cluster_profile(db, scope=CITY, code="nowhere")


def test_filters_combine(db):
    f = Filters(category="local", level="hq")
    p = service.pivot(db, scope=CITY, period_end=LAST, rows="type", measures=["open"], filters=f)
    lab = service.labels(db)
    assert p.rows and all(lab.category_of(r.code) == "local" for r in p.rows)
    by_level = service.pivot(
        db, scope=CITY, period_end=LAST, rows="level", measures=["open"], filters=Filters(category="local")
    )
    hq = next(r for r in by_level.rows if r.code == "hq")
    assert p.total.values["open"] == hq.values["open"]
    outside = service.pivot(
        db, scope=CITY, period_end=LAST, rows="type", measures=["open"], filters=Filters(cluster="none")
    )
    by_cluster = service.pivot(db, scope=CITY, period_end=LAST, rows="cluster", measures=["open"])
    assert outside.total.values["open"] == next(r for r in by_cluster.rows if r.code == "none").values["open"]


def test_cluster_figures_agree_with_the_plan_indicators(fresh):
    db = fresh
    """The core's HQ count and the towns' fund total, from cells, match the plan's registry computation."""
    registry = indicators.registry_values(db, base_year=2015, last_year=2025)
    core = service.cluster_profile(db, scope=CITY, code="core_qjxc")
    assert {d.year: v for d, v in core.core_hq_trend} == {
        y: int(v) for y, v in registry["core_hq_count"].items()
    }
    assert [t.progress.indicator.code for t in core.targets] == ["core_hq_count"]
    _period, groups = service.clusters_overview(db, scope=CITY, period_end=date(2020, 12, 31))
    towns = next(g for g in groups if g.group.value == "town")
    assert len(towns.clusters) == 5
    assert sum(c.aum for c in towns.clusters) / 1e4 == pytest.approx(
        registry["town_fund_total"][2020], abs=0.01
    )
    assert sum(len(g.clusters) for g in groups) == 19
    town = service.cluster_profile(db, scope=CITY, code="town_yuhuangshan")
    assert town.aum_trend is not None and town.aum_trend.measure.code == "private_fund_manager.aum"
    assert [t.progress.indicator.code for t in town.targets] == ["town_fund_total"]
    assert service.cluster_profile(db, scope=CITY, code="zone_binjiang").targets == []


def test_one_early_return_does_not_move_the_pages_to_its_quarter(db):
    """Cells up to 2025Q4, then one early return for 2026Q3 (stored, cells refreshed): pages stay on
    2025Q4 — the latest complete quarter — and say why; 2026Q3 can still be chosen."""
    filing = db.scalars(select(Filing).where(Filing.period_end == LAST).order_by(Filing.id).limit(1)).one()
    early = date(2026, 9, 30)
    db.add(
        Filing(
            institution_id=filing.institution_id,
            template_code=filing.template_code,
            template_version=filing.template_version,
            period_end=early,
            data=filing.data,
            due_on=date(2026, 10, 15),
            submitted_at=datetime(2026, 10, 2, 9),
            source=filing.source,
        )
    )
    db.flush()
    service.refresh_periods(db, period_ends=[early])
    today = date(2026, 10, 5)
    assert service.latest_period(db) == early
    assert service.default_period(db, today=today) == LAST
    shown = service.shown_period(db, today=today)
    assert (shown.period_end, shown.reason) == (LAST, "latest_filed")
    assert service.shown_period(db, early, today=today).period_end == early


def test_pages_open_on_the_last_quarter_whose_returns_are_in(db):
    assert service.default_period(db) == LAST
    service.refresh_periods(db, period_ends=[date(2026, 3, 31)])  # registry counts only, no returns yet
    assert service.latest_period(db) == date(2026, 3, 31)
    assert service.default_period(db) == LAST
    assert service.pivot(db, scope=CITY).period_end == LAST
    assert service.available_periods(db)[0] == date(2026, 3, 31)
    assert service.pivot(db, scope=CITY, period_end=date(2026, 2, 1)).period_end == date(2026, 3, 31)


def _open_by_cluster(groups) -> dict[str, int]:
    return {c.cluster.code: c.open for g in groups for c in g.clusters}


def test_cluster_figures_are_kept_until_the_next_refresh(fresh):
    """The clusters page's figures are computed once per refresh, scope and quarter: the same as
    computed afresh, kept while the cells are unchanged, and recomputed after a refresh."""
    from qiantang.registry.models import Institution

    db = fresh
    before = service.clusters_overview_cached(db, scope=CITY, period_end=LAST)
    assert _open_by_cluster(before[1]) == _open_by_cluster(service.clusters_overview(db, scope=CITY)[1])
    assert service.clusters_overview_cached(db, scope=CITY, period_end=LAST) is before  # kept
    xihu = service.clusters_overview_cached(db, scope=XIHU, period_end=LAST)
    assert _open_by_cluster(xihu[1]) == _open_by_cluster(service.clusters_overview(db, scope=XIHU)[1])
    assert _open_by_cluster(xihu[1]) != _open_by_cluster(before[1])  # the scope is part of the key

    # One open institution in a cluster leaves it: the kept figures stay until cells are refreshed.
    inst = db.scalar(
        select(Institution)
        .where(Institution.cluster_code.is_not(None), Institution.deregistered_on.is_(None))
        .order_by(Institution.id)
        .limit(1)
    )
    cluster = inst.cluster_code
    inst.cluster_code = None
    db.flush()
    assert service.clusters_overview_cached(db, scope=CITY, period_end=LAST) is before
    service.refresh(db)
    after = service.clusters_overview_cached(db, scope=CITY, period_end=LAST)
    assert _open_by_cluster(after[1])[cluster] == _open_by_cluster(before[1])[cluster] - 1
    assert _open_by_cluster(after[1]) == _open_by_cluster(service.clusters_overview(db, scope=CITY)[1])
