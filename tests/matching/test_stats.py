"""Matchmaking statistics on hand-made needs around 国庆 2024 (holiday 10-01..10-07, 调休 workdays
Sunday 09-29 and Saturday 10-12): exact working-day percentiles, funnel amounts, decline shares, the
first-loan share, scoping, the report workbook, the open data and its documented schema."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import exists, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, GuaranteeMode, Loan
from qiantang.matching import report, stats
from qiantang.matching.models import Need, NeedEvent, Offer, OfferState, Product
from qiantang.standards.loan_class import LoanClass

XIHU, BINJIANG = "330106", "330108"
CLAIMED = date(2024, 9, 27)  # a Friday before 国庆
PERIOD = stats.parse_period("2024-09")
ROOT = Path(__file__).resolve().parents[2]


def _firm(db, district: str, *, with_loan: bool | None, skip=()) -> Enterprise:
    has = exists(select(Loan.id).where(Loan.borrower_id == Enterprise.id, Loan.start_date < CLAIMED))
    stmt = select(Enterprise).where(Enterprise.district_code == district, Enterprise.id.not_in(skip or [0]))
    if with_loan is not None:
        stmt = stmt.where(has if with_loan else ~has)
    return db.scalars(stmt.order_by(Enterprise.id).limit(1)).one()


@pytest.fixture
def made(db):
    """Four needs posted 2024-09-20 and picked up 2024-09-27 by two lenders."""
    products = db.scalars(select(Product).order_by(Product.id)).all()
    p1 = products[0]
    p2 = next(p for p in products if p.institution_id != p1.institution_id)
    f1 = _firm(db, XIHU, with_loan=False)
    f2 = _firm(db, XIHU, with_loan=True)
    f3 = _firm(db, XIHU, with_loan=None, skip=[f1.id, f2.id])
    f4 = _firm(db, BINJIANG, with_loan=None)
    plan = [
        # firm, product, contacted, decided, outcome, approved 万元, guarantee mode
        (f1, p1, date(2024, 9, 29), date(2024, 10, 8), "disbursed", 50, GuaranteeMode.CREDIT),  # 1, 3
        (f2, p1, date(2024, 9, 30), date(2024, 10, 12), "disbursed", 80, GuaranteeMode.MORTGAGE),  # 2, 7
        (f3, p2, date(2024, 10, 8), date(2024, 10, 14), "high_leverage", None, None),  # 3, 8
        (f4, p2, date(2024, 9, 30), date(2024, 10, 8), "other", None, None),  # 2, 3
    ]
    for i, (ent, product, contacted, decided, outcome, wan, mode) in enumerate(plan):
        need = Need(
            enterprise_id=ent.id,
            district_code=ent.district_code,
            amount=1_000_000,
            term_months=12,
            purpose="测试",
            posted_on=date(2024, 9, 20),
        )
        db.add(need)
        db.flush()
        offer = Offer(
            need_id=need.id,
            product_id=product.id,
            institution_id=product.institution_id,
            rank=1,
            score=0.5,
            offered_on=date(2024, 9, 20),
            claimed_on=CLAIMED,
            contacted_on=contacted,
            decided_on=decided,
            policy_version="t",
        )
        db.add(offer)
        db.flush()
        events = [("posted", None), ("offered", offer.id), ("claimed", offer.id), ("contacted", offer.id)]
        if wan:
            loan = Loan(
                contract_no=f"T{i}",
                lender_id=product.institution_id,
                borrower_id=ent.id,
                amount=wan * 1e4,
                balance=wan * 1e4,
                start_date=date(2024, 10, 9),
                maturity_date=date(2025, 10, 9),
                guarantee_mode=mode,
                classification=LoanClass.NORMAL,
                days_past_due=0,
                as_of=date(2024, 10, 9),
            )
            db.add(loan)
            db.flush()
            offer.state, offer.approved_amount, offer.loan_id = OfferState.DISBURSED, wan * 1e4, loan.id
            events += [("approved", offer.id), ("disbursed", offer.id)]
        else:
            offer.state, offer.decline_code = OfferState.DECLINED, outcome
            events += [("declined", offer.id)]
        for event, offer_id in events:
            db.add(NeedEvent(need_id=need.id, offer_id=offer_id, event=event, on=decided))
    db.flush()
    return {"p1": p1, "p2": p2}


def test_the_workday_index_agrees_with_the_clock_across_the_holiday():
    from qiantang.matching import workdays

    index = stats.WorkdayIndex(date(2024, 9, 1), date(2024, 10, 31))
    import numpy as np

    ends = [date(2024, 9, d) for d in (27, 28, 29, 30)] + [date(2024, 10, d) for d in range(1, 15)]
    got = index.between(
        np.array([CLAIMED] * len(ends), dtype="datetime64[D]"), np.array(ends, dtype="datetime64[D]")
    )
    assert list(got) == [workdays.workdays_between(CLAIMED, e) for e in ends]
    assert list(got)[:4] == [0, 0, 1, 2]  # Saturday off, 调休 Sunday counts


def test_percentiles_in_working_days_are_exact(db, made):
    s = stats.compute(db, scope=Scope.system(), filters=stats.Filters(PERIOD))
    # contact days 1, 2, 3, 2 → sorted 1 2 2 3; decision days 3, 7, 8, 3 → 3 3 7 8 (nearest rank)
    assert s.overall["contact_p50"] == 2 and s.overall["contact_p90"] == 3
    assert s.overall["decision_p50"] == 3 and s.overall["decision_p90"] == 8
    by_district = {r["key"]: r for r in s.by_district}
    assert (by_district[XIHU]["contact_p50"], by_district[XIHU]["decision_p50"]) == (2, 7)
    assert (by_district[BINJIANG]["contact_p50"], by_district[BINJIANG]["decision_p90"]) == (2, 3)
    by_lender = {r["key"]: r for r in s.by_lender}
    assert by_lender[made["p1"].institution_id]["contact_p50"] == 1
    assert by_lender[made["p1"].institution_id]["decision_p90"] == 7


def test_funnel_amounts_declines_and_first_loans(db, made):
    s = stats.compute(db, scope=Scope.system(), filters=stats.Filters(PERIOD))
    f = {x["step"]: x for x in s.funnel}
    assert [f[k]["needs"] for k in stats.STEPS] == [4, 4, 4, 2, 2]
    assert f["posted"]["amount"] == 4_000_000 and f["disbursed"]["amount"] == 2_000_000
    assert f["approved"]["approved_amount"] == 1_300_000 and f["posted"]["approved_amount"] is None
    assert {(d["code"], d["count"], d["share"]) for d in s.declines} == {
        ("high_leverage", 1, 0.5),
        ("other", 1, 0.5),
    }
    assert s.declines[0]["zh"] in ("负债率过高", "其他原因")
    assert s.disbursed["loans"] == 2 and s.disbursed["first"] == 1 and s.disbursed["first_share"] == 0.5
    assert s.disbursed["credit_share"] == 0.5
    assert [r["key"] for r in s.by_district_loans] == [XIHU]


def test_a_district_sees_its_district_and_a_lender_its_own_offers(db, made):
    f = stats.Filters(PERIOD)
    binjiang = stats.compute(db, scope=Scope(role=Role.DISTRICT_OFFICER, district_code=BINJIANG), filters=f)
    assert binjiang.funnel[0]["needs"] == 1 and [r["key"] for r in binjiang.by_district] == [BINJIANG]
    # the district filter of a city user does not widen a district officer's view
    xihu = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    assert stats.compute(db, scope=xihu, filters=stats.Filters(PERIOD, BINJIANG)).funnel[0]["needs"] == 0
    lender = Scope(role=Role.LENDER, institution_id=made["p2"].institution_id)
    own = stats.compute(db, scope=lender, filters=f)
    assert [x["needs"] for x in own.funnel] == [2, 2, 2, 0, 0]
    assert {r["key"] for r in own.by_lender} == {made["p2"].institution_id}
    assert own.disbursed["loans"] == 0 and len(own.declines) == 2
    table = stats.league(db, scope=lender, filters=f, today=date(2024, 12, 31))
    assert {r["name"] is None for r in table if not r["own"]} == {True}
    assert [r["own"] for r in table].count(True) == 1
    with pytest.raises(Exception, match="不能查看"):
        stats.compute(db, scope=Scope(role=Role.FIRM, enterprise_id=1), filters=f)


def test_small_samples_are_not_ranked(db, made):
    table = stats.league(db, scope=Scope.system(), filters=stats.Filters(PERIOD), today=date(2024, 12, 31))
    assert table and all(r["speed_rank"] is None and r["approval_rank"] is None for r in table)
    p1 = next(r for r in table if r["institution_id"] == made["p1"].institution_id)
    assert (p1["approved"], p1["approval_rate"], p1["promised_contact"] is not None) == (2, 1.0, True)


def test_periods_parse_or_explain():
    assert stats.parse_period("2024-Q4").start == date(2024, 10, 1)
    assert stats.parse_period("2024-Q4").end == date(2024, 12, 31)
    assert stats.parse_period("2024-02").end == date(2024, 2, 29)
    with pytest.raises(Exception, match="无法识别的统计期"):
        stats.parse_period("2024/02")


def documented_columns() -> list[str]:
    text = (ROOT / "docs" / "open-data" / "matching.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.M)


def test_open_data_suppresses_small_cells_and_follows_its_schema(db, made):
    rows = list(csv.DictReader(io.StringIO(report.open_data_csv(db, period=PERIOD))))
    assert list(rows[0]) == documented_columns() == list(report.OPEN_COLUMNS)
    city = rows[0]
    assert city["district"] == "全市" and city["suppressed"] == "1"
    # 4 needs < 5: the count and the amount computed from it are empty
    assert city["needs_posted"] == "" and city["amount_posted_wan"] == "" and city["contact_days_p50"] == ""
    assert {r["district"] for r in rows[1:]} == {"西湖区", "滨江区"}
    assert not any(c in "".join(",".join(r.values()) for r in rows) for c in ("9133", "有限公司"))


def test_open_data_publishes_counts_at_the_threshold(db, made, monkeypatch):
    monkeypatch.setitem(stats.rules()["open_data"], "suppress_below", 4)
    city = next(csv.DictReader(io.StringIO(report.open_data_csv(db, period=PERIOD))))
    assert (city["needs_posted"], city["amount_posted_wan"], city["contact_days_p90"]) == (
        "4",
        "400.0",
        "3.0",
    )
    assert city["needs_disbursed"] == "" and city["suppressed"] == "1"


def test_the_report_workbook_and_the_page_export_open(clients, db):
    r = clients.as_user("admin").get("/matching/report?month=2025-06&format=xlsx")
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    assert len(book.sheetnames) == 7
    funnel = book[book.sheetnames[0]]
    header = next(row for row in funnel.iter_rows(values_only=True) if row[0] == "环节")
    assert header[1:3] == ("需求数", "占发布数比例（%）")
    r = clients.as_user("xihu").get("/matching/stats?period=2025&table=declines")
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert ("原因", "拒绝笔数", "占比（%）") in rows  # the page language (zh-CN by default)


def test_pages_and_api_by_role(clients):
    for user in ("admin", "xihu", "lender"):
        for url in ("/matching/stats?period=2025", "/matching/lenders?period=2025"):
            assert clients.as_user(user).get(url).status_code == 200, (user, url)
    assert clients.as_user("firm").get("/matching/stats").status_code == 403
    body = clients.as_user("xihu").get("/api/v1/matching/stats?period=2025").json()
    assert {d["key"] for d in body["by_district"]} <= {XIHU}
    assert body["funnel"][0]["step"] == "posted"
    assert clients.as_user("admin").get("/matching/stats?period=2025/1").status_code == 400
