"""非法集资监测月报: the month's figures (grades and their change, new red/orange firms with reasons,
tips, cases and hand-off breaches, collapses, versions), scoped to a district office; the PDF, its job
and its monthly schedule."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from qiantang.auth.models import Role, User
from qiantang.auth.scope import Scope
from qiantang.cases.models import Case
from qiantang.enterprises.models import Enterprise
from qiantang.errors import ValidationFailed
from qiantang.fundraising import report, tips
from qiantang.fundraising.models import Collapse, FirmScore, ScoreRun
from qiantang.fundraising.routing import route_scores
from qiantang.jobs import service as jobs
from tests.fundraising.tip_fixtures import (  # noqa: F401 (fixtures)
    XIHU,
    Row,
    firm_in,
    xihu_firm_fixture,
)
from tests.helpers import page_csrf_token

XIHU_SCOPE = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _runs(db) -> tuple[ScoreRun, ScoreRun]:
    runs = db.scalars(select(ScoreRun).order_by(ScoreRun.as_of.desc())).all()
    return runs[0], runs[1]


def test_month_arithmetic():
    assert report.parse_month("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert report.parse_month("2025-12") == (date(2025, 12, 1), date(2025, 12, 31))
    assert report.previous_month(date(2026, 1, 1)) == "2025-12"
    for bad in ("2025-13", "2025-1", "12-2025", ""):
        with pytest.raises(ValidationFailed):
            report.parse_month(bad)


def test_grades_and_their_change_against_last_months_run(db):
    run, prev = _runs(db)
    r = report.monthly(db, scope=Scope.system(), month=_month(run.as_of))
    assert r.run.id == run.id and r.prev_run.id == prev.id and not r.same_run
    for g in r.grades:
        assert g["now"] == run.counts[g["grade"]] and g["before"] == prev.counts[g["grade"]]
        assert g["change"] == g["now"] - g["before"]
    assert sum(d["red"] + d["orange"] + d["yellow"] + d["green"] for d in r.districts) == run.firms
    assert r.versions["index"] == run.version and r.versions["keywords"] == run.keywords_version
    assert r.data_date is not None and r.demo


def test_new_red_and_orange_firms_come_with_their_top_reasons(db):
    run, prev = _runs(db)
    r = report.monthly(db, scope=Scope.system(), month=_month(run.as_of))
    before = set(
        db.scalars(
            select(FirmScore.enterprise_id).where(
                FirmScore.run_id == prev.id, FirmScore.grade.in_(("red", "orange"))
            )
        )
    )
    now = db.execute(
        select(FirmScore.enterprise_id, Enterprise.name)
        .join(Enterprise, Enterprise.id == FirmScore.enterprise_id)
        .where(FirmScore.run_id == run.id, FirmScore.grade.in_(("red", "orange")))
    ).all()
    expected = {name for eid, name in now if eid not in before}
    assert r.new_flagged_total == len(expected) and {f["name"] for f in r.new_flagged} <= expected
    assert r.new_flagged, "the demo's last run flags new firms"
    for f in r.new_flagged:
        assert 1 <= len(f["reasons"]) <= report.REASONS_SHOWN and f["grade_zh"] in ("红", "橙")
        assert all(len(x["snippet"]) <= report.SNIPPET_CHARS for x in f["reasons"])
    scores = [f["score"] for f in r.new_flagged]
    assert scores == sorted(scores, reverse=True)


def test_a_month_without_a_new_run_compares_the_run_with_itself(db):
    run, _prev = _runs(db)
    later = date(run.as_of.year + 1, 3, 1)
    r = report.monthly(db, scope=Scope.system(), month=_month(later))
    assert r.same_run and r.new_flagged == [] and all(g["change"] == 0 for g in r.grades)


def test_a_district_office_gets_its_district_only(db):
    run, _ = _runs(db)
    r = report.monthly(db, scope=XIHU_SCOPE, month=_month(run.as_of))
    assert r.scope_label == "西湖区" and [d["name"] for d in r.districts] == ["西湖区"]
    xihu_firms = db.scalar(
        select(FirmScore.id).where(FirmScore.run_id == run.id, FirmScore.district_code == XIHU).limit(1)
    )
    assert xihu_firms is not None
    assert all(f["district"] == "西湖区" for f in r.new_flagged)
    city = report.monthly(db, scope=Scope.system(), month=_month(run.as_of))
    assert sum(g["now"] for g in r.grades) < sum(g["now"] for g in city.grades)


def test_tips_cases_breaches_and_collapses_of_the_month(db, xihu_firm):
    today = date.today()
    month = _month(today)
    base = report.monthly(db, scope=XIHU_SCOPE, month=month)
    receipt = tips.submit_tip(
        db,
        firm=xihu_firm.name,
        what_happened="推销理财产品，承诺保本年化百分之十五，拉人入群。",
        ip="10.8.0.1",
    )
    officer = db.scalar(select(User).where(User.username == "xihu"))
    tips.forward_to_case(db, tip_id=receipt.tip_id, actor=officer)
    other = firm_in(db, XIHU, skip=4)
    # A red case whose hand-off fell due on the month's first day and has not been made: a breach
    # (unless the month has just begun: nothing is late before its due day).
    red = route_scores(db, [Row(other.id, "red", 92, category="private_fund")], as_of=today).opened[0]
    case = db.get(Case, red)
    case.handoff_due_on = today.replace(day=1)
    db.add(
        Collapse(enterprise_id=other.id, collapsed_on=today, victims=321, loss=123_456_789.0, source="test")
    )
    db.flush()
    r = report.monthly(db, scope=XIHU_SCOPE, month=month)
    assert r.tips["reports"] == base.tips["reports"] + 1 and r.tips["new"] == base.tips["new"] + 1
    assert r.tips["forwarded"] == base.tips["forwarded"] + 1
    assert r.cases["opened_total"] == base.cases["opened_total"] + 2
    assert r.cases["opened"]["red"] == base.cases["opened"]["red"] + 1
    assert r.cases["from_tips"] == base.cases["from_tips"] + 1
    assert r.cases["copied"] >= base.cases["copied"] + 1  # the red case names 证监局
    breach_ids = {b["id"] for b in r.cases["breaches"]}
    assert (red in breach_ids) == (today.day > 1)
    collapse = next(c for c in r.collapses if c["name"] == other.name)
    assert collapse["victims"] == 321 and collapse["loss"] == "1.23 亿元"
    # Another district's office sees none of it.
    binjiang = report.monthly(
        db, scope=Scope(role=Role.DISTRICT_OFFICER, district_code="330108"), month=month
    )
    assert red not in {b["id"] for b in binjiang.cases["breaches"]}
    assert other.name not in {c["name"] for c in binjiang.collapses}
    # A hand-off made in time is no breach.
    case.handed_off_at = datetime.combine(case.handoff_due_on, datetime.min.time())
    db.flush()
    assert red not in {b["id"] for b in report.monthly(db, scope=XIHU_SCOPE, month=month).cases["breaches"]}


def test_amounts_read_in_wan_or_yi_yuan():
    assert report.amount_text(None) == "—"
    assert report.amount_text(4_788_700) == "479 万元"
    assert report.amount_text(230_000_000) == "2.3 亿元"


def test_the_pdf_is_chinese_with_the_versions_and_the_demo_note(clients, db):
    run, _ = _runs(db)
    r = clients.as_user("admin").get(f"/fundraising/report.pdf?month={_month(run.as_of)}")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    compact = text.replace("\n", "").replace(" ", "")
    for words in (
        "非法集资监测月报",
        "风险等级分布及变化",
        "本月新增红色、橙色企业",
        "举报线索",
        "案件办理",
        "暴雷企业",
    ):
        assert words in compact, words
    from qiantang.versions import describe_version

    for code in (run.version, run.keywords_version):  # the versions in words, not their codes
        assert describe_version(code, zh=True).replace(" ", "") in compact and code not in text
    assert "演示数据为合成数据" in compact
    assert "范围：全市" in compact
    district = clients.as_user("xihu").get(f"/fundraising/report.pdf?month={_month(run.as_of)}")
    dtext = "".join(p.extract_text() for p in PdfReader(io.BytesIO(district.content)).pages).replace(" ", "")
    assert "范围：西湖区" in dtext.replace("\n", "")
    assert clients.as_user("admin").get("/fundraising/report.pdf?month=2025-13").status_code == 422
    assert clients.as_user("firm").get("/fundraising/report.pdf").status_code == 403


def test_the_report_job_keeps_the_district_and_attaches_the_pdf(clients, db, run_jobs):
    run, _ = _runs(db)
    c = clients.as_user("xihu")
    page = c.get("/fundraising")
    assert 'action="/fundraising/report-job"' in page.text
    r = c.post(
        "/fundraising/report-job",
        data={"csrf_token": page_csrf_token(page.text), "month": _month(run.as_of)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert run_jobs("fundraising.report_pdf") == [job_id]
    from qiantang.jobs.models import Job, JobStatus

    job = db.get(Job, job_id)
    assert job.status == JobStatus.DONE and job.params["district"] == XIHU
    assert job.result and job.result["scope"] == "西湖区"
    pdf = c.get(f"/jobs/{job_id}/download")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_report_is_on_the_monthly_schedule():
    schedules = {s.name: s for s in jobs.load_schedules()}
    monthly = schedules["fundraising-monthly"]
    assert monthly.task == "fundraising.report_pdf" and jobs.spec_of(monthly.task) is not None
    assert monthly.next_run(datetime(2026, 12, 5, 9, 0)) == datetime(2027, 1, 1, 6, 30)


def test_the_monthly_schedule_gives_each_district_office_its_own_report(clients, db, run_jobs):
    from qiantang.jobs.models import Job, JobStatus
    from qiantang.notify.models import Notification

    run, _ = _runs(db)
    monthly = {s.name: s for s in jobs.load_schedules()}["fundraising-monthly"]
    city = jobs.enqueue(
        db, monthly.task, params={**monthly.params, "month": _month(run.as_of)}, schedule=monthly.name
    )
    assert run_jobs(monthly.task) == [city.id]
    officers = db.scalars(
        select(User).where(User.role == Role.DISTRICT_OFFICER, User.is_active.is_(True)).order_by(User.id)
    ).all()
    assert officers and city.status == JobStatus.DONE and city.result["district_jobs"] == len(officers)
    queued = db.scalars(select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id)).all()
    assert sorted(j.user_id for j in queued) == sorted(u.id for u in officers)
    assert all(j.params["district"] == db.get(User, j.user_id).district_code for j in queued)
    run_jobs(monthly.task)
    xihu = next(u for u in officers if u.username == "xihu")
    mine = next(j for j in queued if j.user_id == xihu.id)
    assert mine.status == JobStatus.DONE and mine.result["scope"] == "西湖区" and "西湖区" in mine.title
    assert "district_jobs" not in mine.result  # a district's copy queues nothing further
    c = clients.as_user("xihu")
    pdf = c.get(f"/jobs/{mine.id}/download")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    note = db.scalar(select(Notification).where(Notification.link == f"/jobs/{mine.id}"))
    assert note is not None and note.user_id == xihu.id and "非法集资监测月报" in note.title
    other = next(j for j in queued if j.user_id != xihu.id)
    assert c.get(f"/jobs/{other.id}/download").status_code == 403  # another district's copy
