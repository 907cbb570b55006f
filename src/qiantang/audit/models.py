"""The audit log: who did what, when, from where — a hash chain, so edits and deletions show.

Each row holds ``seq`` (1, 2, 3 … with no gaps), the previous row's hash and its own hash over its
content and that previous hash (SM3, GB/T 32905-2016; see :mod:`qiantang.audit.chain`). Triggers
(migration 0016) refuse UPDATE and DELETE on both backends, even for the table's owner.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, JSONType, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __label_zh__ = "审计记录"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    object_type: Mapped[str | None] = mapped_column(String(48))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
