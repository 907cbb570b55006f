"""The jobs table: what pages and restarts read, independent of the queue library underneath."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum
from qiantang.web.i18n import is_zh


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def zh(self) -> str:
        return {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}[self.value]

    @property
    def en(self) -> str:
        return {"queued": "Queued", "running": "Running", "done": "Done", "failed": "Failed"}[self.value]


class Job(Base):
    """One piece of long work: who started it, how far it got, its result or its error (in Chinese)."""

    __tablename__ = "jobs"
    __label_zh__ = "后台任务"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_schedule_created", "schedule", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # task name, e.g. "credit.cv"
    title: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    schedule: Mapped[str | None] = mapped_column(String(64))  # the schedule that started it, if any
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, 16), default=JobStatus.QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0–100
    message: Mapped[str] = mapped_column(String(300), default="")  # what it is doing now, in Chinese
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The uploaded file a job works on (kept in the database so any worker can read it after a restart).
    input_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    result_filename: Mapped[str | None] = mapped_column(String(200))
    result_media_type: Mapped[str | None] = mapped_column(String(100))
    result_data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    error: Mapped[str | None] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def title_text(self) -> str:
        """The title in the reader's language: the stored (Chinese) one, or the task's English name."""
        from qiantang.jobs.service import spec_of

        spec = None if is_zh() else spec_of(self.kind)
        return self.title if spec is None else spec.title_en
