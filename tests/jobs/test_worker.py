"""A real worker process (``qiantang worker``), killed mid-run: its job is retried once, then marked
failed — never lost, never left running; queued jobs run after the restart; progress shows meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.db import make_engine
from qiantang.jobs import service
from qiantang.jobs.models import Job, JobStatus
from tests.jobs.conftest import child

pytestmark = pytest.mark.slow


def wait_for(engine, job_id: int, ok: Callable[[Job], bool], *, timeout: float = 90) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            job = session.get(Job, job_id)
            if ok(job):
                return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there: {job.status} {job.progress}% {job.message}")


def enqueue(engine, kind: str, **params) -> int:
    with Session(engine) as session:
        job = service.enqueue(session, kind, params=params)
        session.commit()
        return job.id


def test_a_job_killed_with_its_worker_is_retried_once_then_failed(database, tmp_path):
    import os

    engine = make_engine(database.url)
    env = {
        **os.environ,
        "QIANTANG_DATABASE_URL": database.url,
        "QIANTANG_JOB_STALE_SECONDS": "2",
        "QIANTANG_JOB_SCHEDULES": "false",
    }
    env.pop("QIANTANG_JOBS_QUEUE_URL", None)  # the worker's real queue (SQLite file / PostgreSQL schema)
    if database.backend == "sqlite":
        env["QIANTANG_JOBS_QUEUE_URL"] = f"sqlite:///{tmp_path / 'queue.db'}"
    log = tmp_path / "worker.log"
    long = enqueue(engine, "jobs.selftest", steps=200, seconds=0.2)

    def running_with_progress(attempt: int) -> Callable[[Job], bool]:
        return lambda j: j.status == JobStatus.RUNNING and j.attempts == attempt and j.progress > 0

    with child(["worker"], env, log) as worker:
        job = wait_for(engine, long, running_with_progress(1))
        assert job.message.startswith("第 ") and job.heartbeat_at is not None  # progress is visible
        worker.kill()  # a crash, mid-run
        worker.wait()
    # While no worker runs, the job still says running, and a new job waits in the queue.
    short = enqueue(engine, "jobs.selftest", steps=2, seconds=0.1)
    time.sleep(2.5)  # past the stale threshold
    with child(["worker"], env, log) as worker:
        wait_for(engine, long, running_with_progress(2))  # retried once
        done = wait_for(engine, short, lambda j: j.status == JobStatus.DONE)
        assert done.result == {"steps": 2, "attempt": 1}
        worker.kill()
        worker.wait()
    time.sleep(2.5)
    with child(["worker"], env, log):
        failed = wait_for(engine, long, lambda j: j.status == JobStatus.FAILED)
    assert failed.attempts == 2 and failed.finished_at is not None
    assert "重试" in failed.error and "请重新提交" in failed.error, failed.error
    with Session(engine) as session:
        assert session.scalar(select(Job.status).where(Job.id == long)) == JobStatus.FAILED
    engine.dispose()
