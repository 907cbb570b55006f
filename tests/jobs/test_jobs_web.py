"""The jobs pages, the progress partial, results to download, batch runs from the web, schedules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from qiantang.jobs import service
from qiantang.jobs.models import Job, JobStatus
from qiantang.network.imports import COLUMNS
from qiantang.notify.models import Notification
from qiantang.plan.models import Plan
from tests.helpers import page_csrf_token


def plan_id(db) -> int:
    return db.scalar(select(Plan.id).order_by(Plan.id).limit(1))


def test_the_plan_pdf_is_made_by_a_job_and_downloaded_from_its_page(clients, db, run_jobs):
    c = clients.as_user("analyst")
    overview = c.get(f"/plan/{plan_id(db)}")
    assert f'action="/plan/{plan_id(db)}/report-job"' in overview.text
    r = c.post(f"/plan/{plan_id(db)}/report-job", follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    job_id = int(url.rsplit("/", 1)[1])
    page = c.get(url)
    assert page.status_code == 200 and "规划进展报告" in page.text and "排队中" in page.text
    assert f'hx-get="/jobs/{job_id}/progress"' in page.text
    assert c.get(f"/jobs/{job_id}/download").status_code == 403  # nothing to download yet
    assert run_jobs() == [job_id]
    done = c.get(f"/jobs/{job_id}/progress").text
    assert "已完成" in done and f'href="/jobs/{job_id}/download"' in done and "every 1s" not in done
    pdf = c.get(f"/jobs/{job_id}/download")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and "pdf" in pdf.headers["content-type"]
    # The one who started it is told it ended; nobody else may see it; the administrator may.
    note = db.scalars(select(Notification).where(Notification.link == f"/jobs/{job_id}")).one()
    assert note.event_type == "job_finished" and "已完成" in note.title
    assert clients.as_user("xihu").get(url).status_code == 403
    assert clients.as_user("admin").get(url).status_code == 200
    listed = c.get("/jobs").text
    assert url in listed and 'data-testid="schedules"' not in listed


def test_a_rejected_guarantee_file_fails_its_job_with_every_problem_in_chinese(clients, db, run_jobs):
    c = clients.as_user("analyst")
    token = page_csrf_token(c.get("/network/import").text)
    bad = ",".join(c.header_zh for c in COLUMNS) + "\n"
    bad += "91330100MA0000000X,91330100MA0000000X,NO-SUCH,0,单向,,2024-01-01,\n"
    r = c.post(
        "/network/import",
        data={"csrf_token": token},
        files={"file": ("g.csv", bad.encode("utf-8"), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    run_jobs("network.import")
    page = c.get(r.headers["location"]).text
    assert "失败" in page and 'data-testid="job-errors"' in page and "整个文件未导入" in page
    job = db.get(Job, int(r.headers["location"].rsplit("/", 1)[1]))
    assert job.status == JobStatus.FAILED and job.input_data is None  # the file is not kept


def test_batch_runs_from_the_web_are_the_administrators(clients, db):
    admin = clients.as_user("admin")
    page = admin.get("/jobs?all=1")
    assert page.status_code == 200 and 'data-testid="schedules"' in page.text
    for s in service.load_schedules():
        assert s.name_zh in page.text
    r = admin.post("/jobs/start", data={"kind": "stats.refresh"}, follow_redirects=False)
    assert r.status_code == 303
    job = db.get(Job, int(r.headers["location"].rsplit("/", 1)[1]))
    assert job.kind == "stats.refresh" and job.status == JobStatus.QUEUED
    assert admin.post("/jobs/start", data={"kind": "notify.email"}).status_code == 403
    assert clients.as_user("analyst").post("/jobs/start", data={"kind": "stats.refresh"}).status_code == 403


def test_schedules_are_data_in_the_citys_time():
    schedules = {s.name: s for s in service.load_schedules()}
    monthly = schedules["plan-monthly"]
    assert monthly.next_run(datetime(2026, 12, 5, 9, 0)) == datetime(2027, 1, 1, 6, 0)
    daily = schedules["cases-escalate"]
    assert daily.next_run(datetime(2026, 12, 5, 6, 59)) == datetime(2026, 12, 5, 7, 0)
    assert daily.next_run(datetime(2026, 12, 5, 7, 0)) == datetime(2026, 12, 6, 7, 0)
    # huey asks in UTC: 23:00 UTC is 07:00 the next morning in Hangzhou.
    assert daily.validator()(datetime(2026, 12, 4, 23, 0))
    assert not daily.validator()(datetime(2026, 12, 5, 7, 0))
    with pytest.raises(ValueError):
        service.parse_schedules(
            '[[schedule]]\nname="x"\ntask="ew.run"\ncron="0 7 * *"\nname_zh="x"\nname_en="x"\n'
        )


def test_a_stale_running_job_is_requeued_once_then_failed(db):
    job = service.enqueue(db, "jobs.selftest", params={"steps": 1})
    job.status, job.attempts = JobStatus.RUNNING, 1
    job.heartbeat_at = datetime(2026, 1, 1)
    db.flush()
    now = datetime(2026, 1, 1) + timedelta(seconds=120)
    assert job.id in service.recover(db, now=now, stale_seconds=60).requeued
    assert job.status == JobStatus.QUEUED
    job.status, job.attempts = JobStatus.RUNNING, 2
    db.flush()
    assert job.id in service.recover(db, now=now, stale_seconds=60).failed
    assert job.status == JobStatus.FAILED and "重试" in job.error
    fresh = service.enqueue(db, "jobs.selftest")
    fresh.status, fresh.attempts, fresh.heartbeat_at = JobStatus.RUNNING, 1, now
    db.flush()
    out = service.recover(db, now=now + timedelta(seconds=5), stale_seconds=60)
    assert fresh.id not in out.requeued + out.failed  # alive: left alone
