"""Jobs: enqueue named tasks, report progress, run them, recover them after a restart; schedules.

A domain declares its background work in its own ``tasks.py``::

    @task("credit.cv", title_zh="自有数据交叉验证", title_en="Cross-validation of uploaded data")
    def cv(ctx: JobContext) -> dict:
        with ctx.session() as session:       # a committed unit of work
            ...
        ctx.progress(40, "第 2/5 折：评分卡")   # what the progress bar shows
        return {"summary": ...}              # kept as the job's result

and a view (or the CLI, or a schedule) starts it with ``enqueue(session, "credit.cv", user_id=…,
params=…)``. The job row is written in the caller's transaction and handed to the queue only when
that transaction commits, so a rolled-back request starts nothing and a worker never sees a job
that is not there yet. Whatever runs a job first *claims* it (queued → running, one UPDATE), so a
job handed to the queue twice still runs once.
"""

from __future__ import annotations

import importlib
import logging
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session

from qiantang.config import get_settings
from qiantang.db import get_or_404, session_scope, utcnow
from qiantang.errors import Forbidden, QiantangError
from qiantang.jobs.models import Job, JobStatus
from qiantang.uploads import MAX_ERRORS_SHOWN

log = logging.getLogger(__name__)

# Every domain's tasks.py; the worker imports them all (names as in DESIGN.md: "domain.action").
TASK_MODULES = (
    "qiantang.jobs.tasks",
    "qiantang.notify.tasks",
    "qiantang.cases.tasks",
    "qiantang.credit.tasks",
    "qiantang.earlywarning.tasks",
    "qiantang.filings.tasks",
    "qiantang.fundraising.tasks",
    "qiantang.network.tasks",
    "qiantang.plan.tasks",
    "qiantang.statistics.tasks",
    "qiantang.talent.tasks",
)
# A job whose worker died is retried this many times at most, then marked failed.
RESTART_RETRIES = 1
INTERNAL_ERROR_ZH = "任务运行出错（详情已记入服务器日志），请稍后重试或联系系统管理员"

Sessions = Callable[[], AbstractContextManager[Session]]


# ---------------------------------------------------------------------------------------- task registry
@dataclass(frozen=True)
class TaskSpec:
    name: str
    title_zh: str
    title_en: str
    fn: Callable[[JobContext], dict[str, Any] | None]
    retries: int = 0  # extra attempts after a failure (e.g. an SMTP server that is down)
    retry_delay: float = 60.0
    result_template: str | None = None  # how the job page shows the result


TASKS: dict[str, TaskSpec] = {}


def task(
    name: str,
    *,
    title_zh: str,
    title_en: str,
    retries: int = 0,
    retry_delay: float = 60.0,
    result_template: str | None = None,
):
    """Declare a background task by name (``"domain.action"``)."""

    def decorator(fn):
        TASKS[name] = TaskSpec(name, title_zh, title_en, fn, retries, retry_delay, result_template)
        return fn

    return decorator


@cache
def load_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def spec_of(kind: str) -> TaskSpec | None:
    load_tasks()
    return TASKS.get(kind)


# -------------------------------------------------------------------------------------------- enqueue
_PENDING = "qiantang.jobs.pending"


@event.listens_for(Session, "after_commit")
def _submit_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        from qiantang.jobs import queue

        for job_id, delay in pending:
            try:
                queue.submit(job_id, delay=delay)
            except Exception:  # the row stays queued; the worker picks it up when it starts
                log.exception("could not hand job %s to the queue", job_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)


def _submit_on_commit(session: Session, job_id: int, delay: float = 0.0) -> None:
    session.info.setdefault(_PENDING, []).append((job_id, delay))


def enqueue(
    session: Session,
    kind: str,
    *,
    title: str | None = None,
    user_id: int | None = None,
    params: dict[str, Any] | None = None,
    input_data: bytes | None = None,
    schedule: str | None = None,
) -> Job:
    """Start the task ``kind`` in the background: a queued job, handed to the worker on commit."""
    spec = spec_of(kind)
    if spec is None:
        raise ValueError(f"unknown task {kind!r}")
    job = Job(
        kind=kind,
        title=(title or spec.title_zh)[:300],
        user_id=user_id,
        schedule=schedule,
        status=JobStatus.QUEUED,
        progress=0,
        message="排队等待运行",
        params=params or {},
        input_data=input_data,
        attempts=0,
    )
    session.add(job)
    session.flush()
    _submit_on_commit(session, job.id)
    return job


# -------------------------------------------------------------------------------------------- running
# Jobs running in this process: the stale-job check leaves them alone (on SQLite their heartbeat may
# wait for their own write transaction to commit).
RUNNING_HERE: set[int] = set()


@dataclass
class JobContext:
    """What a task gets: its parameters, its input file, a session, and a way to report progress."""

    job_id: int
    kind: str
    params: dict[str, Any]
    user_id: int | None
    sessions: Sessions
    attempt: int = 1
    result_file: tuple[bytes, str, str] | None = field(default=None, repr=False)
    _open: Session | None = field(default=None, repr=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work, committed when the block ends (rolled back if it raises).

        On SQLite its first statement writes the job's heartbeat, so the block holds the write lock
        from its start: a task that reads and then writes can never find its snapshot outdated by
        the progress and heartbeat writes made meanwhile (SQLite's "database is locked").
        """
        with self.sessions() as session:
            if session.get_bind().dialect.name == "sqlite":
                self._touch(session)
            self._open = session
            try:
                yield session
            finally:
                self._open = None

    def input_data(self) -> bytes:
        query = select(Job.input_data).where(Job.id == self.job_id)
        if self._open is not None:
            # Inside ``session()``: read through it. A second session would, on SQLite, begin a write
            # transaction (BEGIN IMMEDIATE) behind the lock this task already holds, and wait forever.
            return self._open.scalar(query) or b""
        with self.sessions() as session:
            data = session.scalar(query)
        return data or b""

    def _touch(self, session: Session, **values: Any) -> None:
        session.execute(update(Job).where(Job.id == self.job_id).values(heartbeat_at=utcnow(), **values))

    def progress(self, percent: float, message: str) -> None:
        """Show ``percent`` (0–100) and what is happening, in Chinese, on the job's progress bar."""
        values = {"progress": max(0, min(99, int(percent))), "message": message[:300]}
        if self._open is not None and self._open.get_bind().dialect.name == "sqlite":
            # This task holds SQLite's write lock: write through its own transaction (seen at commit).
            self._touch(self._open, **values)
            return
        with self.sessions() as session:
            self._touch(session, **values)

    def attach(self, data: bytes, filename: str, media_type: str) -> None:
        """Keep a file (a PDF, an Excel workbook) as the job's result, downloadable from the job page."""
        self.result_file = (data, filename, media_type)


def _claim(sessions: Sessions, job_id: int) -> Job | None:
    now = utcnow()
    with sessions() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                progress=0,
                message="开始运行",
            )
        ).rowcount
        if not claimed:
            return None
        job = session.get(Job, job_id)
        session.refresh(job)
        return job


class _Heartbeat:
    """Touch the job's heartbeat while it runs, so a restart can tell a live job from a dead one."""

    def __init__(self, ctx: JobContext, interval: float):
        self.ctx = ctx
        self.job_id = ctx.job_id
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"job-{self.job_id}-heartbeat")

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            held = self.ctx._open
            if held is not None and held.get_bind().dialect.name == "sqlite":
                continue  # the task holds the write lock; its session writes the heartbeat itself
            try:
                with session_scope() as session:
                    session.execute(update(Job).where(Job.id == self.job_id).values(heartbeat_at=utcnow()))
            except Exception:  # a busy database: the next beat will do
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


def execute(job_id: int, *, sessions: Sessions = session_scope, heartbeat: bool = False) -> JobStatus | None:
    """Run one queued job to its end: done with its result, failed with a Chinese error, or re-queued
    for a retry. Returns the status it ended in (None if someone else had claimed it)."""
    job = _claim(sessions, job_id)
    if job is None:
        return None
    spec = spec_of(job.kind)
    ctx = JobContext(job.id, job.kind, dict(job.params or {}), job.user_id, sessions, attempt=job.attempts)
    error: str | None = None
    retryable = False
    result: dict[str, Any] | None = None
    errors: list[dict] = []
    try:
        if spec is None:
            raise QiantangError(f"未知的任务类型：{job.kind}")
        interval = max(0.5, min(10.0, get_settings().job_stale_seconds / 4))
        RUNNING_HERE.add(job.id)
        try:
            with _Heartbeat(ctx, interval) if heartbeat else _nothing():
                result = spec.fn(ctx)
        finally:
            RUNNING_HERE.discard(job.id)
    except QiantangError as exc:  # the task's own words: bad input, nothing to do, not allowed
        error = exc.message
        # A rejected upload: every row/column problem, shown as a table on the job page.
        errors = [e.as_dict() for e in getattr(exc, "errors", [])[:MAX_ERRORS_SHOWN]]
    except Exception:
        log.exception("job %s (%s) failed", job.id, job.kind)
        error = INTERNAL_ERROR_ZH
        retryable = True
    with sessions() as session:
        row = session.get(Job, job.id)
        if error is None:
            row.status = JobStatus.DONE
            row.progress = 100
            row.message = "已完成"
            row.result = result
            if ctx.result_file is not None:
                row.result_data, row.result_filename, row.result_media_type = ctx.result_file
        elif retryable and spec is not None and row.attempts <= spec.retries:
            row.status = JobStatus.QUEUED
            row.message = f"第 {row.attempts} 次运行失败，{int(spec.retry_delay)} 秒后重试"
            row.error = error
            _submit_on_commit(session, row.id, delay=spec.retry_delay)
        else:
            row.status = JobStatus.FAILED
            row.message = "失败"
            row.error = error[:2000]
            row.result = {"errors": errors} if errors else None
        if row.status != JobStatus.QUEUED:
            row.finished_at = utcnow()
            row.input_data = None  # the uploaded file is no longer needed
        status = row.status
    _notify_finished(sessions, job_id, status)
    return status


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _title_en(job: Job) -> str:
    spec = TASKS.get(job.kind)
    return spec.title_en if spec else job.title


def _notify_finished(sessions: Sessions, job_id: int, status: JobStatus) -> None:
    """Tell whoever started a job that it ended (in-app), unless it is itself a delivery."""
    if status == JobStatus.QUEUED:
        return
    with sessions() as session:
        job = session.get(Job, job_id)
        if job.user_id is None or job.kind.startswith("notify."):
            return
        from qiantang.notify import service as notify

        done = status == JobStatus.DONE
        notify.notify(
            session,
            "job_finished",
            user_ids=[job.user_id],
            title=f"后台任务{'已完成' if done else '失败'}：{job.title}",
            body=("结果已可查看。" if done else f"原因：{job.error}"),
            title_en=f"Background job {'finished' if done else 'failed'}: {_title_en(job)}",
            body_en=("The result is ready." if done else "It failed; the job page gives the reason."),
            link=f"/jobs/{job.id}",
        )


# ------------------------------------------------------------------------------------------- recovery
@dataclass
class Recovery:
    requeued: list[int]
    failed: list[int]
    resubmitted: int = 0


def recover(session: Session, *, now: datetime | None = None, stale_seconds: float | None = None) -> Recovery:
    """Jobs left running by a worker that stopped (no heartbeat for ``stale_seconds``): queue them
    again once, then mark them failed — never leave them running for ever."""
    now = now or utcnow()
    stale = now - timedelta(
        seconds=get_settings().job_stale_seconds if stale_seconds is None else stale_seconds
    )
    rows = session.scalars(
        select(Job).where(
            Job.status == JobStatus.RUNNING,
            or_(Job.heartbeat_at < stale, Job.heartbeat_at.is_(None)),
            Job.id.not_in(sorted(RUNNING_HERE)),
        )
    ).all()
    out = Recovery([], [])
    for job in rows:
        spec = spec_of(job.kind)
        allowed = 1 + max(RESTART_RETRIES, spec.retries if spec else 0)
        if job.attempts < allowed:
            job.status = JobStatus.QUEUED
            job.message = "后台进程曾中断，任务已重新排队"
            _submit_on_commit(session, job.id)
            out.requeued.append(job.id)
        else:
            job.status = JobStatus.FAILED
            job.message = "失败"
            job.error = f"后台进程在运行中停止，已重试 {job.attempts - 1} 次仍未完成；请重新提交"
            job.finished_at = now
            out.failed.append(job.id)
    session.flush()
    return out


def resubmit_queued(session: Session) -> int:
    """Hand every queued job to the queue again (after a restart; the claim makes repeats harmless)."""
    ids = list(session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.id)))
    for job_id in ids:
        _submit_on_commit(session, job_id)
    return len(ids)


def recover_now() -> Recovery:
    with session_scope() as session:
        return recover(session)


def on_worker_start() -> Recovery:
    """What the worker does before taking work: recover dead jobs and re-submit queued ones."""
    with session_scope() as session:
        out = recover(session)
        out.resubmitted = resubmit_queued(session)
    return out


# -------------------------------------------------------------------------------------------- reading
def get_job(session: Session, *, job_id: int, user) -> Job:
    """One job, if ``user`` started it or administers the platform."""
    job = get_or_404(session, Job, job_id)
    if not can_view(user, job):
        raise Forbidden("这是其他用户的后台任务", message_en="This job belongs to another user")
    return job


def can_view(user, job: Job) -> bool:
    from qiantang.auth.models import Role

    return job.user_id == user.id or user.role == Role.CITY_ADMIN


def list_jobs(session: Session, *, user, everyone: bool = False, limit: int = 100) -> list[Job]:
    """The user's jobs, newest first; every job (scheduled ones included) for the administrator."""
    from qiantang.auth.models import Role

    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if not (everyone and user.role == Role.CITY_ADMIN):
        stmt = stmt.where(Job.user_id == user.id)
    return list(session.scalars(stmt))


def count_active(session: Session, *, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.user_id == user_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        )
        or 0
    )


# ------------------------------------------------------------------------------------------- schedules
WEEKDAYS = "day_of_week"


@dataclass(frozen=True)
class Schedule:
    """A recurring job: which task, when (cron: minute hour day month weekday, in the city's time)."""

    name: str
    task: str
    cron: str
    name_zh: str
    name_en: str
    source: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def fields(self) -> dict[str, str]:
        parts = self.cron.split()
        if len(parts) != 5:
            raise ValueError(f"schedule {self.name}: cron needs 5 fields, got {self.cron!r}")
        return dict(zip(("minute", "hour", "day", "month", WEEKDAYS), parts, strict=True))

    def _matcher(self, **override: str) -> Callable[[datetime], bool]:
        from huey import crontab

        return crontab(**{**self.fields(), **override}, strict=True)

    def validator(self) -> Callable[[datetime], bool]:
        """For huey's scheduler, which asks with naive UTC times: match in the city's time zone."""
        match = self._matcher()
        tz = ZoneInfo(get_settings().timezone)

        def validate(ts: datetime) -> bool:
            return match(ts.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None))

        return validate

    def next_run(self, after: datetime) -> datetime | None:
        """The first minute after ``after`` (naive, city time) the schedule fires: day, hour, minute."""
        day_ok = self._matcher(hour="*", minute="*")
        hour_ok = self._matcher(minute="*")
        minute_ok = self._matcher()
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for d in range(0, 400):
            day = (start + timedelta(days=d)).replace(hour=0, minute=0) if d else start
            if not day_ok(day):
                continue
            for h in range(day.hour, 24):
                hour = day.replace(hour=h, minute=day.minute if h == day.hour else 0)
                if not hour_ok(hour):
                    continue
                for m in range(hour.minute, 60):
                    t = hour.replace(minute=m)
                    if minute_ok(t):
                        return t
        return None


def parse_schedules(text: str) -> list[Schedule]:
    raw = tomllib.loads(text)
    out = []
    for entry in raw.get("schedule", []):
        s = Schedule(
            name=entry["name"],
            task=entry["task"],
            cron=entry["cron"],
            name_zh=entry["name_zh"],
            name_en=entry["name_en"],
            source=entry.get("source", ""),
            params=dict(entry.get("params", {})),
        )
        s.fields()
        s.validator()  # a malformed cron fails here, at load, not at 2 a.m.
        out.append(s)
    return out


@cache
def load_schedules() -> list[Schedule]:
    return parse_schedules(
        (resources.files("qiantang.jobs") / "data" / "schedules.toml").read_text(encoding="utf-8")
    )


def run_schedule(schedule: Schedule) -> JobStatus | None:
    """What the scheduler does when a schedule fires: a job row (so it shows with its last run), run now."""
    with session_scope() as session:
        job = enqueue(
            session, schedule.task, title=schedule.name_zh, params=schedule.params, schedule=schedule.name
        )
        session.info.pop(_PENDING, None)  # run here, not through the queue
        job_id = job.id
    return execute(job_id, heartbeat=True)


@dataclass
class ScheduleView:
    schedule: Schedule
    last: Job | None
    next_run: datetime | None


def schedules_overview(session: Session, *, now: datetime | None = None) -> list[ScheduleView]:
    """Every schedule with its last job and next run (city time), for the jobs page."""
    tz = ZoneInfo(get_settings().timezone)
    local_now = (now or datetime.now(UTC)).astimezone(tz).replace(tzinfo=None)
    out = []
    for s in load_schedules():
        last = session.scalars(
            select(Job).where(Job.schedule == s.name).order_by(Job.id.desc()).limit(1)
        ).first()
        out.append(ScheduleView(s, last, s.next_run(local_now)))
    return out
