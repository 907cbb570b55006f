"""Cases (分级管理、部门联动): an alert, or a firm flagged for illegal fundraising, handled by the city
or a district office, step by step."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qiantang.audit import service as audit
from qiantang.db import Base, utcnow
from qiantang.earlywarning.models import Alert, Level, summary_en
from qiantang.enterprises.models import Enterprise
from qiantang.enums import str_enum
from qiantang.registry.models import Institution
from qiantang.web.i18n import is_zh


class CaseState(StrEnum):
    PENDING = "pending"  # 待核实
    VERIFYING = "verifying"  # 核查中
    RECTIFYING = "rectifying"  # 整改中
    CLOSED = "closed"  # 已办结
    FALSE_POSITIVE = "false_positive"  # 误报

    @property
    def zh(self) -> str:
        return {
            "pending": "待核实",
            "verifying": "核查中",
            "rectifying": "整改中",
            "closed": "已办结",
            "false_positive": "误报",
        }[self.value]

    @property
    def en(self) -> str:
        return {
            "pending": "To verify",
            "verifying": "Verifying",
            "rectifying": "Rectifying",
            "closed": "Closed",
            "false_positive": "False positive",
        }[self.value]

    @property
    def is_final(self) -> bool:
        return self in (CaseState.CLOSED, CaseState.FALSE_POSITIVE)


class CaseSource(StrEnum):
    """Where a case came from: an institution's early-warning alert, or a firm's fundraising risk."""

    EARLY_WARNING = "early_warning"  # 机构预警
    FUNDRAISING = "fundraising"  # 非法集资风险指数
    TIP = "tip"  # 群众举报

    @property
    def zh(self) -> str:
        return {"early_warning": "机构预警", "fundraising": "非法集资风险指数", "tip": "群众举报"}[self.value]

    @property
    def en(self) -> str:
        return {
            "early_warning": "Early-warning alert",
            "fundraising": "Fundraising risk index",
            "tip": "Public tip",
        }[self.value]


class Owner(StrEnum):
    CITY = "city"
    DISTRICT = "district"

    @property
    def zh(self) -> str:
        return {"city": "市级", "district": "区县"}[self.value]


class Case(Base):
    __tablename__ = "cases"
    __label_zh__ = "案件"
    __table_args__ = (Index("ix_cases_owner_state", "owner", "district_code", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The subject: an institution's alert (early warning), or an enterprise (fundraising, tip).
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("ew_alerts.id"), unique=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    source: Mapped[CaseSource] = mapped_column(str_enum(CaseSource, 16), default=CaseSource.EARLY_WARNING)
    # What a fundraising case was opened on: the index version, score and its reasons with evidence.
    index_version: Mapped[str | None] = mapped_column(String(32))
    index_score: Mapped[float | None] = mapped_column(Float)
    opened_evidence: Mapped[list | None] = mapped_column(JSON)
    # 移送公安: the hand-off clock (working days) of a red fundraising case, and who handed it off.
    handoff_due_on: Mapped[date | None] = mapped_column(Date)
    handed_off_at: Mapped[datetime | None] = mapped_column(DateTime)
    handed_off_by: Mapped[str | None] = mapped_column(String(64))
    # 抄送行业主管部门: the sector's supervisor a fundraising case is copied to (fundraising/data/
    # supervisors.toml), by code and by its Chinese name as routed.
    supervisor_code: Mapped[str | None] = mapped_column(String(32))
    supervisor_name: Mapped[str | None] = mapped_column(String(100))
    district_code: Mapped[str] = mapped_column(String(6))
    level: Mapped[Level] = mapped_column(str_enum(Level, 8))
    owner: Mapped[Owner] = mapped_column(str_enum(Owner, 8))
    state: Mapped[CaseState] = mapped_column(str_enum(CaseState, 16), default=CaseState.PENDING)
    title: Mapped[str] = mapped_column(String(300))
    due_on: Mapped[date] = mapped_column(Date)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    shared_with_district: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    alert: Mapped[Alert] = relationship(lazy="joined")
    institution: Mapped[Institution | None] = relationship(lazy="joined")
    enterprise: Mapped[Enterprise | None] = relationship(lazy="joined")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")

    @property
    def title_text(self) -> str:
        """The title in the current language: the stored Chinese one, or the institution and the alert's
        English summary."""
        return self.title if is_zh() else self.title_en

    @property
    def subject_name(self) -> str:
        """The institution's or the enterprise's name."""
        if self.institution is not None:
            return self.institution.name
        if self.enterprise is not None:
            return self.enterprise.name
        return f"#{self.institution_id or self.enterprise_id}"

    @property
    def supervisor_text(self) -> str | None:
        """The sector's supervisor copied on the case, in the current language (None: none)."""
        return self.supervisor_label(zh=is_zh())

    def supervisor_label(self, *, zh: bool) -> str | None:
        if not self.supervisor_name or zh:
            return self.supervisor_name
        from qiantang.fundraising.supervisors import supervisors

        return supervisors().name(self.supervisor_code, zh=False) or self.supervisor_name

    @property
    def subject_url(self) -> str:
        if self.enterprise_id is not None and self.institution_id is None:
            return f"/enterprises/{self.enterprise_id}"
        return f"/institutions/{self.institution_id}"

    @property
    def title_en(self) -> str:
        if self.alert is None:
            if self.source != CaseSource.EARLY_WARNING and self.enterprise is not None:
                grade = Level(self.level).en
                # one decimal, as the Chinese title and the dashboard (84.5 is not 84)
                score = f" {self.index_score:.1f}" if self.index_score is not None else ""
                return f"{self.enterprise.name}: fundraising risk{score} ({grade})"
            return self.title
        name = self.institution.name if self.institution else f"#{self.institution_id}"
        return f"{name}: {summary_en(self.alert.summary_zh, self.alert.family, self.alert.evidence)}"


class CaseEvent(Base):
    """Every step of a case: creation, transitions, comments, attachments, escalation, sharing."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(
        String(24)
    )  # create | transition | comment | attach | escalate | share
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("case_attachments.id", ondelete="SET NULL"))

    case: Mapped[Case] = relationship(back_populates="events")


class CaseAttachment(Base):
    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# The audit log names these codes in event details.
audit.register_detail_values(Level, "level", "from_level", "to_level")
audit.register_detail_values(CaseState, "from", "to")
audit.register_detail_values(Owner, "owner")
audit.register_detail_values(CaseSource, "source")
