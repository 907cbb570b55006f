"""Jobs pages: my jobs (every job and the schedules for the administrator), one job with its
progress bar (an htmx partial polled every second, reusable by any page) and its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission
from qiantang.errors import Forbidden
from qiantang.jobs import service
from qiantang.jobs.models import JobStatus
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["后台任务 Jobs"])


# Starting batch jobs by hand is the city administrator's (the permission table, docs/security.md).
Admin = Annotated[Auth, require(Permission.RUN_JOBS)]


def _context(job) -> dict:
    spec = service.spec_of(job.kind)
    return {"job": job, "result_template": spec.result_template if spec else None}


@router.get("/jobs")
def jobs_page(request: Request, db: DB, auth: CurrentAuth, all: bool = False):
    everyone = all and auth.user.role == Role.CITY_ADMIN
    return render(
        request,
        "jobs/list.html",
        jobs=service.list_jobs(db, user=auth.user, everyone=everyone),
        everyone=everyone,
        is_admin=auth.user.role == Role.CITY_ADMIN,
        schedules=service.schedules_overview(db) if auth.user.role == Role.CITY_ADMIN else [],
        batches=[service.spec_of(k) for k in BATCH_FROM_WEB],
        active="jobs",
    )


@router.get("/jobs/{job_id:int}")
def job_page(request: Request, db: DB, auth: CurrentAuth, job_id: int):
    job = service.get_job(db, job_id=job_id, user=auth.user)
    return render(request, "jobs/detail.html", **_context(job), active="jobs")


@router.get("/jobs/{job_id:int}/progress")
def job_progress(request: Request, db: DB, auth: CurrentAuth, job_id: int):
    """The progress partial: polls itself every second until the job ends, then shows the result."""
    job = service.get_job(db, job_id=job_id, user=auth.user)
    return render(request, "jobs/_progress.html", **_context(job))


@router.get("/jobs/{job_id:int}/download")
def job_download(request: Request, db: DB, auth: CurrentAuth, job_id: int):
    from qiantang.exports import _disposition, pdf_response

    job = service.get_job(db, job_id=job_id, user=auth.user)
    if job.status != JobStatus.DONE or job.result_data is None:
        raise Forbidden("该任务没有可下载的结果", message_en="This job has no file to download")
    record_export(db, request, auth, "job_result", object_id=job.id, detail={"kind": job.kind})
    if job.result_media_type == "application/pdf":
        return pdf_response(job.result_data, job.result_filename or f"job-{job.id}.pdf")
    return Response(
        job.result_data,
        media_type=job.result_media_type or "application/octet-stream",
        headers={"Content-Disposition": _disposition("attachment", job.result_filename or "", "result")},
    )


# Batch runs the administrator may start from the jobs page (they also run on their schedules).
BATCH_FROM_WEB = (
    "ew.run",
    "credit.score",
    "network.analyse",
    "stats.refresh",
    "cases.escalate",
    "filings.reminders",
)


@router.post("/jobs/start")
async def job_start(request: Request, db: DB, auth: Admin):
    kind = str((await request.form()).get("kind", ""))
    if kind not in BATCH_FROM_WEB:
        raise Forbidden("不能从网页启动该任务", message_en="This job cannot be started from the web")
    job = await run_in_threadpool(
        service.enqueue, db, kind, user_id=auth.user.id, params={"triggered_by": auth.user.username}
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/jobs/selftest")
def job_selftest(db: DB, auth: Admin):
    job = service.enqueue(db, "jobs.selftest", user_id=auth.user.id, params={"steps": 5, "seconds": 1})
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@api_router.get("/jobs/{job_id:int}", summary="后台任务状态 A job's status and progress")
def job_api(db: DB, auth: CurrentAuth, job_id: int):
    job = service.get_job(db, job_id=job_id, user=auth.user)
    return {
        "id": job.id,
        "kind": job.kind,
        "title": job.title,
        "status": job.status.value if hasattr(job.status, "value") else job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "result": job.result,
        "download": f"/jobs/{job.id}/download" if job.result_filename else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "attempts": job.attempts,
    }
