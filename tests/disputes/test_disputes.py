"""The dispute register on the demo database: checks on both sides, statistics by hand, scoping,
imports, pages, exports, the PDF and the API."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.disputes import imports, service
from qiantang.disputes.models import Channel, Dispute, Outcome, ProductType
from qiantang.disputes.service import DisputeFilters, DisputeIn
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.registry.models import Institution, InstitutionStatus

XIHU, BINJIANG = "330106", "330108"
TODAY = date(2032, 1, 1)  # the hand-made disputes live in 2031, apart from the demo's


class Actor:
    id = None
    username = "tester"


def institution(db, district: str) -> Institution:
    return db.scalars(
        select(Institution)
        .where(Institution.district_code == district, Institution.status == InstitutionStatus.ACTIVE)
        .order_by(Institution.id)
        .limit(1)
    ).one()


def dispute(db, **kw) -> DisputeIn:
    values = {
        "ref_no": f"T-{kw.get('ref', 'x')}",
        "complainant": "王小明",
        "product_type": ProductType.LOAN,
        "amount": 100_000.0,
        "channel": Channel.MEDIATION,
        "body_code": "ybtw",
        "received_on": date(2031, 3, 1),
        "institution_id": institution(db, XIHU).id,
    }
    values.update({k: v for k, v in kw.items() if k != "ref"})
    return DisputeIn(**values)


def messages(db, data: DisputeIn) -> dict[str, str]:
    return {e.column: e.message for e in service.check(db, data, today=TODAY)}


def test_the_checks_on_both_sides_of_each_rule(db):
    assert messages(db, dispute(db)) == {}
    assert "争议金额" in messages(db, dispute(db, amount=-1.0))
    assert messages(db, dispute(db, amount=0.0)) == {}
    # Dates in order: accepted on the day received is fine, the day before is not.
    assert messages(db, dispute(db, accepted_on=date(2031, 3, 1))) == {}
    assert "受理日期" in messages(db, dispute(db, accepted_on=date(2031, 2, 28)))
    closed = {"closed_on": date(2031, 3, 10), "outcome": Outcome.SETTLED}
    assert messages(db, dispute(db, accepted_on=date(2031, 3, 10), **closed)) == {}
    assert "结案日期" in messages(db, dispute(db, accepted_on=date(2031, 3, 11), **closed))
    assert "收到日期" in messages(db, dispute(db, received_on=date(2032, 1, 2)))
    assert messages(db, dispute(db, received_on=TODAY)) == {}
    # Closing needs both a date and an outcome; the amount recovered at most the amount in dispute.
    assert "结果" in messages(db, dispute(db, closed_on=date(2031, 3, 10)))
    assert "结果" in messages(db, dispute(db, outcome=Outcome.FAILED))
    assert messages(db, dispute(db, recovered=100_000.0, **closed)) == {}
    assert "挽回金额" in messages(db, dispute(db, recovered=100_000.01, **closed))
    assert "挽回金额" in messages(db, dispute(db, recovered=1.0))  # not closed yet
    # The body must serve the channel; a respondent is a licensed institution or a named firm.
    assert "调解/仲裁机构" in messages(db, dispute(db, channel=Channel.ARBITRATION))
    assert messages(db, dispute(db, channel=Channel.ARBITRATION, body_code="hz_arbitration")) == {}
    assert "调解/仲裁机构" in messages(db, dispute(db, body_code="nobody"))
    unlicensed = {"institution_id": None, "respondent_name": "某投资咨询有限公司"}
    assert "区县" in messages(db, dispute(db, **unlicensed))
    assert messages(db, dispute(db, district_code=XIHU, **unlicensed)) == {}
    assert "区县" in messages(db, dispute(db, district_code="999999", **unlicensed))
    assert "被申请机构" in messages(db, dispute(db, institution_id=None))
    # A refused registration writes nothing.
    before = db.scalar(select(func.count()).select_from(Dispute))
    with pytest.raises(ValidationFailed):
        service.register(db, dispute(db, amount=-5.0), actor=Actor(), today=TODAY)
    assert db.scalar(select(func.count()).select_from(Dispute)) == before


def test_statistics_computed_by_hand(db):
    """Five disputes: the success rate leaves out the withdrawal, the days are calendar days."""
    made = [
        dispute(
            db,
            ref="a",
            amount=100_000.0,
            closed_on=date(2031, 3, 11),
            outcome=Outcome.SETTLED,
            recovered=50_000.0,
        ),
        dispute(db, ref="b", amount=200_000.0, closed_on=date(2031, 3, 21), outcome=Outcome.FAILED),
        dispute(db, ref="c", amount=40_000.0, closed_on=date(2031, 3, 5), outcome=Outcome.WITHDRAWN),
        dispute(
            db,
            ref="d",
            amount=300_000.0,
            channel=Channel.ARBITRATION,
            body_code="hz_arbitration",
            closed_on=date(2031, 6, 9),
            outcome=Outcome.UPHELD,
            recovered=300_000.0,
        ),
        dispute(db, ref="e", amount=60_000.0, channel=Channel.LITIGATION, body_code="court"),
    ]
    for d in made:
        service.register(db, d, actor=Actor(), today=TODAY)
    stats = service.statistics(
        db, scope=Scope.system(), filters=DisputeFilters(received_from=date(2031, 1, 1))
    )
    t = stats.total
    assert (t.received, t.closed, t.open, t.resolved, t.withdrawn) == (5, 4, 1, 2, 1)
    assert t.success_rate == pytest.approx(2 / 3)  # a and d resolved, of a, b and d (c withdrew)
    # Days to close: 10, 20, 4, 100 → median 15; 90th percentile 20 + 0.7 × 80 = 76 (linear).
    assert t.median_days == 15 and t.p90_days == pytest.approx(76)
    assert t.amount == 700_000 and t.recovered == 350_000
    body = {g.key: g for g in stats.by_body}
    assert body["ybtw"].received == 3 and body["ybtw"].success_rate == pytest.approx(1 / 2)
    assert body["hz_arbitration"].success_rate == 1 and body["court"].success_rate is None
    assert {g.key for g in stats.by_district} == {XIHU}
    # The counts the early warning and the fundraising module read.
    inst = institution(db, XIHU)
    counts = service.counts_by_institution(db, start=date(2031, 1, 1), end=date(2031, 12, 31))
    assert counts == {inst.id: 5}


def test_a_district_officer_sees_and_records_only_its_district(db):
    xihu = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    rows, total = service.list_disputes(db, scope=xihu, filters=DisputeFilters(), limit=None)
    assert total > 0 and {d.district_code for d in rows} == {XIHU}
    other = db.scalars(select(Dispute).where(Dispute.district_code != XIHU).limit(1)).one()
    with pytest.raises(Forbidden):
        service.get_dispute(db, scope=xihu, dispute_id=other.id)
    with pytest.raises(ValidationFailed) as refused:
        service.register(
            db,
            dispute(db, institution_id=institution(db, BINJIANG).id),
            actor=Actor(),
            scope=xihu,
            today=TODAY,
        )
    assert "只能登记本区县的纠纷" in str([e.message for e in refused.value.errors])
    mine = service.register(db, dispute(db, ref="mine"), actor=Actor(), scope=xihu, today=TODAY)
    assert mine.district_code == XIHU and mine.respondent_name == institution(db, XIHU).name
    reporter = Scope(role=Role.INSTITUTION_REPORTER, institution_id=institution(db, XIHU).id)
    rows, _ = service.list_disputes(db, scope=reporter, filters=DisputeFilters(), limit=None)
    assert {d.institution_id for d in rows} == {institution(db, XIHU).id}


def workbook(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append([c.header_zh for c in imports.columns()])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def row(uscc: str, ref: str, **kw) -> list:
    values = {
        "ref_no": ref,
        "complainant": "李四",
        "complainant_kind": "个人",
        "institution_uscc": uscc,
        "respondent_name": None,
        "district": None,
        "product_type": "贷款",
        "amount_wan": 12.5,
        "channel": "调解",
        "body": "浙江省（杭州市）银行业保险业人民调解委员会",
        "received_on": "2031-04-01",
        "accepted_on": "2031-04-02",
        "closed_on": None,
        "outcome": None,
        "recovered_wan": None,
        "summary": None,
    }
    values.update(kw)
    return [values[c.key] for c in imports.columns()]


def test_an_import_is_checked_whole_then_written(db):
    uscc = institution(db, XIHU).uscc
    before = db.scalar(select(func.count()).select_from(Dispute))
    bad = workbook(
        [
            row(uscc, "IMP-1"),
            row(uscc, "IMP-2", received_on="2031-05-01", accepted_on="2031-04-01"),
            row("91330000000000000X", "IMP-3"),
            row(uscc, "IMP-1"),
            row(uscc, "IMP-4", channel="仲裁"),
        ]
    )
    with pytest.raises(ValidationFailed) as refused:
        imports.import_disputes(db, content=bad, filename="d.xlsx", actor=Actor(), today=TODAY)
    where = {(e.row, e.column) for e in refused.value.errors}
    assert (3, "受理日期") in where and (4, "被申请机构统一社会信用代码") in where
    assert (5, "案号") in where and (6, "调解/仲裁机构") in where and not any(r == 2 for r, _ in where)
    assert db.scalar(select(func.count()).select_from(Dispute)) == before
    good = workbook(
        [
            row(uscc, "IMP-1"),
            row(
                None,
                "IMP-2",
                respondent_name="某财富管理咨询有限公司",
                district="西湖区",
                closed_on="2031-04-20",
                outcome="调解成功",
                recovered_wan=3,
            ),
        ]
    )
    assert imports.import_disputes(db, content=good, filename="d.xlsx", actor=Actor(), today=TODAY) == 2
    stored = db.scalar(select(Dispute).where(Dispute.ref_no == "IMP-2"))
    assert stored.amount == 125_000 and stored.recovered == 30_000 and stored.district_code == XIHU
    assert service.unlicensed_complaints(db, start=date(2031, 1, 1), end=date(2031, 12, 31)) == {
        "某财富管理咨询有限公司": 1
    }


def test_pages_exports_pdf_and_api(clients, db):
    admin = clients.as_user("admin")
    page = admin.get(
        "/disputes?status=&channel=&body=&product=&outcome=&district=&received_from=&received_to="
    )
    assert page.status_code == 200 and 'data-testid="disputes"' in page.text and "成功率" in page.text
    assert admin.get("/disputes/statistics").status_code == 200
    bad_date = admin.get("/disputes?received_from=2025-13-01")
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    xlsx = admin.get("/disputes/export?status=closed")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    headers = [c.value for c in next(r for r in sheet.iter_rows() if r[0].value == "案号")]
    assert headers[:3] == ["案号", "申请人", "被申请方"] and "结案天数" in headers[-1]
    assert admin.get("/disputes/statistics/export").content.startswith(b"PK")
    pdf = admin.get("/disputes/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    one = db.scalars(
        select(Dispute).where(Dispute.district_code == XIHU, Dispute.complainant_is_firm.is_(False))
    ).first()
    # An analyst sees the complainant's name masked, on the page and through the API.
    analyst = clients.as_user("analyst")
    detail = analyst.get(f"/disputes/{one.id}").text
    assert one.complainant not in detail and one.complainant[0] + "*" in detail
    api = analyst.get(f"/api/v1/disputes/{one.id}").json()
    assert api["complainant"] != one.complainant and api["complainant"].startswith(one.complainant[0])
    assert admin.get(f"/api/v1/disputes/{one.id}").json()["complainant"] == one.complainant
    stats = analyst.get("/api/v1/disputes/statistics").json()
    assert stats["total"]["received"] == db.scalar(select(func.count()).select_from(Dispute))
    # Roles without the menu item get a 403; a district officer another district's dispute too.
    for username in ("reporter", "lender", "firm"):
        assert clients.as_user(username).get("/disputes").status_code == 403
    other = db.scalars(select(Dispute).where(Dispute.district_code != XIHU)).first()
    assert clients.as_user("xihu").get(f"/disputes/{other.id}").status_code == 403
    assert clients.as_user("auditor").post("/disputes/new", data={}).status_code == 403


def test_register_and_close_through_the_pages(clients, db):
    c = clients.as_user("xihu")
    inst = institution(db, XIHU)
    form = {
        "ref_no": "WEB-1",
        "complainant": "赵六",
        "institution_uscc": inst.uscc,
        "product_type": "card",
        "amount_wan": "8",
        "channel": "mediation",
        "body_code": "ybtw_station",
        "received_on": "2025-11-03",
    }
    bad = c.post("/disputes/new", data={**form, "channel": "litigation"})
    assert bad.status_code == 422 and "办理的是调解" in bad.text and 'value="WEB-1"' in bad.text
    made = c.post("/disputes/new", data=form, follow_redirects=False)
    assert made.status_code == 303
    url = made.headers["location"]
    assert "赵六" in c.get(url).text  # a district officer sees names in full (masking policy)
    closed = c.post(
        url + "/close", data={"closed_on": "2025-11-20", "outcome": "settled", "recovered_wan": "8"}
    )
    assert closed.status_code == 200 and "调解成功" in closed.text and "收到后 17 天" in closed.text
    again = c.post(url + "/close", data={"closed_on": "2025-11-21", "outcome": "failed"})
    assert again.status_code == 422 and "已结案的纠纷不能再次结案" in again.text
    stored = db.scalar(select(Dispute).where(Dispute.ref_no == "WEB-1"))
    assert stored.outcome == Outcome.SETTLED and stored.recovered == 80_000 and stored.created_by == "xihu"


def test_many_disputes_raise_a_conduct_signal_on_the_institutions_risk_profile(clients, db):
    from qiantang.earlywarning import service as ew
    from qiantang.earlywarning.models import EwSignal, SignalFamily
    from qiantang.filings.models import Filing

    quarter_end = db.scalar(select(func.max(Filing.period_end)))
    target = db.scalars(
        select(Institution)
        .join(Filing, Filing.institution_id == Institution.id)
        .where(
            Institution.type_code == "small_loan",
            Institution.status == InstitutionStatus.ACTIVE,
            Filing.period_end == quarter_end,
        )
        .order_by(Institution.id)
        .limit(1)
    ).one()
    already = db.scalar(
        select(func.count())
        .select_from(Dispute)
        .where(Dispute.institution_id == target.id, Dispute.received_on > quarter_end - timedelta(days=80))
    )
    # Six disputes in the quarter reach the orange threshold (signals.toml: 3 yellow, 6 orange).
    for k in range(max(0, 6 - already)):
        service.register(
            db,
            dispute(
                db,
                ref=f"EW-{k}",
                institution_id=target.id,
                received_on=quarter_end - timedelta(days=10 + k),
            ),
            actor=Actor(),
            today=TODAY,
        )
    ew.run(db, triggered_by="test")
    signal = db.scalars(
        select(EwSignal).where(EwSignal.institution_id == target.id, EwSignal.family == SignalFamily.CONDUCT)
    ).all()
    assert any(s.level.value == "orange" and s.value >= 6 for s in signal)
    page = clients.as_user("admin").get(f"/early-warning/institutions/{target.id}").text
    assert "金融纠纷较多" in page and "本季收到的金融纠纷" in page
