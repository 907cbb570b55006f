"""The listing reserve on the demo database: stage rules, imports, scoping, pages, API, plan forecast."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, ListingStatus
from qiantang.listing import imports, service
from qiantang.listing.models import Board, ReserveFirm, Stage, StageEvent
from qiantang.listing.service import ReserveFilters, StageRuleBroken

XIHU = "330106"
TODAY = date(2026, 6, 30)


class Actor:
    id = None
    username = "tester"


def fresh_firm(db, *, district: str | None = None) -> Enterprise:
    stmt = select(Enterprise).where(
        Enterprise.listing_status == ListingStatus.UNLISTED,
        Enterprise.deregistered_on.is_(None),
        ~Enterprise.id.in_(select(ReserveFirm.enterprise_id)),
    )
    if district:
        stmt = stmt.where(Enterprise.district_code == district)
    return db.scalars(stmt.order_by(Enterprise.id).limit(1)).one()


def test_the_demo_reserve_is_consistent_with_the_register(db):
    firms = db.scalars(select(ReserveFirm)).all()
    assert firms, "the demo load builds a reserve"
    for f in firms:
        days = [e.on for e in f.events]
        assert days == sorted(days)
        if f.stage == Stage.LISTED:
            assert f.enterprise.listing_status in (
                ListingStatus.LISTED_DOMESTIC,
                ListingStatus.LISTED_OVERSEAS,
            )
            assert f.stage_since == f.enterprise.listed_on
        elif f.stage != Stage.WITHDRAWN:
            assert f.enterprise.listing_status in (
                ListingStatus.UNLISTED,
                ListingStatus.NEEQ,
                ListingStatus.REGIONAL_EQUITY,
            )


def test_stage_rules_on_both_sides(db):
    ent = fresh_firm(db)
    firm = service.enrol(db, enterprise=ent, on=date(2024, 3, 1), actor=Actor())
    # forward, skipping a stage, is allowed (a firm already joint-stock goes straight to tutoring)
    service.record_stage(
        db, firm=firm, stage=Stage.TUTORING, on=date(2024, 9, 1), reason=None, actor=Actor(), today=TODAY
    )
    # a date before the last step is refused, the day of it is not
    with pytest.raises(StageRuleBroken, match="早于上一次记录"):
        service.record_stage(
            db, firm=firm, stage=Stage.ACCEPTED, on=date(2024, 8, 31), reason=None, actor=Actor(), today=TODAY
        )
    # a date in the future is refused
    with pytest.raises(StageRuleBroken, match="晚于今天"):
        service.record_stage(
            db,
            firm=firm,
            stage=Stage.ACCEPTED,
            on=TODAY + timedelta(days=1),
            reason=None,
            actor=Actor(),
            today=TODAY,
        )
    # back without a reason: refused; with one: recorded
    with pytest.raises(StageRuleBroken, match="须填写原因"):
        service.record_stage(
            db, firm=firm, stage=Stage.REFORMED, on=date(2024, 10, 1), reason="  ", actor=Actor(), today=TODAY
        )
    service.record_stage(
        db,
        firm=firm,
        stage=Stage.REFORMED,
        on=date(2024, 10, 1),
        reason="辅导终止",
        actor=Actor(),
        today=TODAY,
    )
    assert firm.stage == Stage.REFORMED
    # an OTC quotation does not move the main-path stage
    service.record_stage(
        db, firm=firm, stage=Stage.NEEQ, on=date(2024, 11, 1), reason=None, actor=Actor(), today=TODAY
    )
    assert firm.stage == Stage.REFORMED
    # leaving needs a reason, and nothing can follow it
    with pytest.raises(StageRuleBroken, match="退出培育库须填写原因"):
        service.record_stage(
            db, firm=firm, stage=Stage.WITHDRAWN, on=date(2025, 1, 1), reason=None, actor=Actor(), today=TODAY
        )
    service.record_stage(
        db,
        firm=firm,
        stage=Stage.WITHDRAWN,
        on=date(2025, 1, 1),
        reason="经营调整",
        actor=Actor(),
        today=TODAY,
    )
    with pytest.raises(StageRuleBroken, match="不能再登记"):
        service.record_stage(
            db, firm=firm, stage=Stage.ACCEPTED, on=date(2025, 2, 1), reason=None, actor=Actor(), today=TODAY
        )


def test_a_listing_recorded_in_the_pipeline_lists_the_firm_in_the_register(db):
    ent = fresh_firm(db)
    firm = service.enrol(db, enterprise=ent, on=date(2023, 1, 1), board=Board.STAR, actor=Actor())
    for stage, day in ((Stage.REVIEW, date(2024, 1, 1)), (Stage.LISTED, date(2025, 5, 20))):
        service.record_stage(db, firm=firm, stage=stage, on=day, reason=None, actor=Actor(), today=TODAY)
    assert ent.listing_status == ListingStatus.LISTED_DOMESTIC and ent.listed_on == date(2025, 5, 20)


def sheet(rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append([c.header_zh for c in imports.COLUMNS])
    for r in rows:
        ws.append([r.get(c.key) for c in imports.COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_import_is_checked_whole_and_written_in_one_go(db):
    a, b = db.scalars(
        select(Enterprise)
        .where(
            Enterprise.listing_status == ListingStatus.UNLISTED,
            ~Enterprise.id.in_(select(ReserveFirm.enterprise_id)),
        )
        .order_by(Enterprise.id)
        .limit(2)
    ).all()
    before = db.scalar(select(func.count()).select_from(StageEvent))
    bad = sheet(
        [
            {"uscc": a.uscc, "enrolled": date(2024, 5, 1), "reformed": date(2024, 3, 1), "board": "科创板"},
            {"uscc": b.uscc, "enrolled": date(2024, 5, 1), "withdrawn": date(2025, 1, 1)},
            {"uscc": "91330100MA00000000", "enrolled": date(2024, 5, 1)},
            {"uscc": b.uscc, "enrolled": date(2024, 6, 1)},
        ]
    )
    with pytest.raises(Exception) as exc:
        imports.import_reserve(db, content=bad, filename="r.xlsx", actor=Actor(), today=TODAY)
    errors = {(e.row, e.column) for e in exc.value.errors}
    assert (2, "股改完成日期") in errors  # before the enrolment
    assert (3, "退出或退回原因") in errors  # left without a reason
    assert any(r == 4 for r, _c in errors)  # unknown firm
    assert (5, "统一社会信用代码") in errors  # the same firm twice
    assert db.scalar(select(func.count()).select_from(StageEvent)) == before
    good = sheet(
        [
            {
                "uscc": a.uscc,
                "enrolled": date(2024, 1, 1),
                "reformed": date(2024, 6, 1),
                "sponsor": "财通证券",
            },
            {
                "uscc": b.uscc,
                "enrolled": date(2024, 5, 1),
                "withdrawn": date(2025, 1, 1),
                "reason": "放弃上市计划",
            },
        ]
    )
    assert imports.import_reserve(db, content=good, filename="r.xlsx", actor=Actor(), today=TODAY) == 2
    fa = db.scalar(select(ReserveFirm).where(ReserveFirm.enterprise_id == a.id))
    fb = db.scalar(select(ReserveFirm).where(ReserveFirm.enterprise_id == b.id))
    assert fa.stage == Stage.REFORMED and fa.sponsor == "财通证券"
    assert fb.stage == Stage.WITHDRAWN


def test_district_officer_sees_only_its_district(db):
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    rows, total = service.list_reserve(db, scope=scope, filters=ReserveFilters(), limit=None)
    assert all(f.enterprise.district_code == XIHU for f in rows)
    everyone, all_total = service.list_reserve(db, scope=Scope.system(), filters=ReserveFilters(), limit=None)
    other = next(f for f in everyone if f.enterprise.district_code != XIHU)
    from qiantang.errors import Forbidden

    with pytest.raises(Forbidden):
        service.get_firm(db, scope=scope, firm_id=other.id)
    assert total < all_total


def test_pages_exports_pdf_and_api(clients, db):
    c = clients.as_user("admin")
    for url in (
        "/listing",
        "/listing/funnel",
        "/listing/funnel?by=district",
        "/listing/funnel?by=industry",
        "/listing?stage=&board=&district=&industry=",
        "/listing/import",
    ):
        assert c.get(url).status_code == 200, url
    firm = db.scalars(select(ReserveFirm).order_by(ReserveFirm.id)).first()
    assert c.get(f"/listing/{firm.id}").status_code == 200
    assert c.get("/listing/export").headers["content-type"].startswith("application/vnd.openxml")
    pdf = c.get("/listing/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    api = c.get("/api/v1/listing/firms?limit=5").json()
    assert api["total"] >= 1 and len(api["items"]) <= 5
    assert c.get(f"/api/v1/listing/firms/{firm.id}").json()["history"]
    fc = c.get("/api/v1/listing/forecast").json()
    assert len(fc["years"]) == 5 and all(
        lo <= e + 1e-9 or lo == 0 for lo, e in zip(fc["low_p10"], fc["expected"], strict=True)
    )
    assert c.get("/api/v1/listing/funnel?by=district").status_code == 200
    # the reporter cannot see enterprises, so no reserve either
    assert clients.as_user("reporter").get("/listing").status_code == 403


def test_plan_page_shows_the_forecast_beside_the_register_with_published_counts(clients, db):
    from qiantang.plan.models import Plan

    plan_id = db.scalar(select(Plan.id).where(Plan.code == "hz-fin-13fyp"))
    html = clients.as_user("analyst").get(f"/plan/indicators/listed_companies?plan={plan_id}").text
    assert 'data-testid="listing-forecast"' in html and "培育库预测" in html
    assert "ehangzhou.gov.cn" in html and "仅 A 股" in html
