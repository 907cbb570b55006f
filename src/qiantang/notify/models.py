"""The inbox and each user's choice of channels per event type."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.db import Base, utcnow
from qiantang.web.i18n import is_zh


class Notification(Base):
    """One message in one user's inbox (also what e-mail and webhook deliveries are made from)."""

    __tablename__ = "notifications"
    __label_zh__ = "通知"
    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at", "id"),
        # A reminder sent by a daily schedule is sent once: (user, event, key) is unique.
        UniqueConstraint("user_id", "event_type", "dedupe_key", name="uq_notifications_user_event_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(4000), default="")
    # The English wording, shown when the user reads English ("" where the sender gave none).
    title_en: Mapped[str] = mapped_column(String(300), default="")
    body_en: Mapped[str] = mapped_column(String(4000), default="")
    link: Mapped[str] = mapped_column(String(500), default="")  # a path on the platform, e.g. /cases/12
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    in_inbox: Mapped[bool] = mapped_column(Boolean, default=True)  # False: the user chose no in-app message
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def title_text(self) -> str:
        return self.title if is_zh() or not self.title_en else self.title_en

    @property
    def body_text(self) -> str:
        return self.body if is_zh() or not self.title_en else self.body_en


class NotificationPreference(Base):
    """A user's choice for one event type and channel (absent: the event type's default)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
