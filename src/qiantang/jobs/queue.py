"""The queue library underneath the jobs table: huey (a maintained task queue with a scheduler).

Storage follows the database: ``SqliteHuey`` in a file beside the SQLite database (the embedded
default), or huey's SQL storage (peewee, psycopg 3) in a schema of its own (``qiantang_queue``) in the
PostgreSQL database, so several servers share one queue and the application's schema stays as the
migrations describe it. ``QIANTANG_JOBS_QUEUE_URL`` overrides ("memory" keeps the queue in the process:
tests). Pages never read huey: they read ``jobs`` (see service.py), so the library could be swapped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, SqliteHuey, crontab

from qiantang.config import get_settings

log = logging.getLogger(__name__)

QUEUE_NAME = "qiantang"
PG_SCHEMA = "qiantang_queue"

_huey: Huey | None = None
_run_job = None  # the huey task that runs one job


def default_queue_url(database_url: str) -> str:
    """The queue beside the database: ``var/qiantang.db`` → ``var/qiantang-queue.db``; PostgreSQL itself."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1] if "///" in database_url else ""
        if path in ("", ":memory:"):
            return "memory"
        p = Path(path)
        return f"sqlite:///{p.with_name(p.stem + '-queue' + (p.suffix or '.db'))}"
    return database_url


def _pg_storage(url: str) -> dict[str, Any]:
    from huey.contrib.sql_huey import SqlStorage
    from peewee import PostgresqlDatabase
    from sqlalchemy.engine import make_url

    u = make_url(url)
    database = PostgresqlDatabase(
        u.database, user=u.username, password=u.password, host=u.host, port=u.port or 5432
    )
    with database:
        database.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"')

    class QueueStorage(SqlStorage):
        """huey's SQL storage, its tables (huey_task, huey_schedule, …) in a schema of their own."""

        def create_models(self):
            from huey.contrib.sql_huey import BytesBlobField
            from peewee import CharField, CompositeKey, FloatField, IntegerField, Model, TimestampField

            class Base(Model):
                class Meta:
                    database = self.database
                    schema = PG_SCHEMA

            class KV(Base):
                queue = CharField()
                key = CharField()
                value = BytesBlobField()

                class Meta:
                    table_name = "huey_kv"
                    primary_key = CompositeKey("queue", "key")

            class Schedule(Base):
                queue = CharField()
                data = BytesBlobField()
                timestamp = TimestampField(resolution=1000)

                class Meta:
                    table_name = "huey_schedule"
                    indexes = ((("queue", "timestamp"), False),)

            class Task(Base):
                queue = CharField()
                data = BytesBlobField()
                priority = FloatField(default=0.0)

                class Meta:
                    table_name = "huey_task"

            Task.add_index(Task.priority.desc(), Task.id)

            class Counter(Base):
                queue = CharField()
                key = CharField()
                value = IntegerField()

                class Meta:
                    table_name = "huey_counter"
                    primary_key = CompositeKey("queue", "key")

            return KV, Schedule, Task, Counter

    return {"storage_class": QueueStorage, "database": database}


def make_huey(url: str) -> Huey:
    if url == "memory":
        return MemoryHuey(QUEUE_NAME, results=False, utc=True)
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, utc=True, timeout=30)
    return Huey(QUEUE_NAME, results=False, utc=True, **_pg_storage(url))


def get_huey() -> Huey:
    """The process's queue, with the job runner, the schedules and the stale-job check registered."""
    global _huey, _run_job
    if _huey is None:
        settings = get_settings()
        huey = make_huey(settings.jobs_queue_url or default_queue_url(settings.database_url))
        _run_job = _register(huey)
        _huey = huey
    return _huey


def reset_huey() -> None:
    """Forget the queue (tests and the CLI switch databases)."""
    global _huey, _run_job
    _huey = _run_job = None


def submit(job_id: int, *, delay: float = 0.0) -> None:
    """Put one job on the queue (``delay`` seconds from now); the worker runs ``service.execute``."""
    get_huey()
    if delay > 0:
        _run_job.schedule(args=(job_id,), delay=delay)
    else:
        _run_job(job_id)


def _register(huey: Huey):
    from qiantang.jobs import service

    @huey.task(name="qiantang.run_job")
    def run_job(job_id: int) -> None:
        service.execute(job_id, heartbeat=True)

    @huey.periodic_task(crontab(minute="*"), name="qiantang.recover_stale")
    def recover_stale() -> None:
        service.recover_now()

    if not get_settings().job_schedules:
        return run_job
    for schedule in service.load_schedules():

        def run(schedule=schedule) -> None:
            service.run_schedule(schedule)

        huey.periodic_task(schedule.validator(), name=f"schedule.{schedule.name}")(run)
    return run_job


def run_worker(*, threads: int | None = None) -> None:
    """The worker process: recover jobs a stopped worker left, then run jobs and schedules until stopped."""
    from qiantang.jobs import service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service.load_tasks()
    huey = get_huey()
    recovery = service.on_worker_start()
    log.info(
        "worker starting: %d job(s) re-queued, %d failed after a stop, %d queued job(s) re-submitted",
        len(recovery.requeued),
        len(recovery.failed),
        recovery.resubmitted,
    )
    threads = threads or get_settings().job_worker_threads
    consumer = huey.create_consumer(workers=threads, worker_type="thread", periodic=True, initial_delay=0.1)
    consumer.run()
