"""API shapes of the cases module."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from qiantang.cases.models import CaseSource, CaseState, Owner
from qiantang.earlywarning.models import Level


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int | None
    institution_id: int | None
    institution_name: str | None
    enterprise_id: int | None
    enterprise_name: str | None
    subject_name: str
    source: CaseSource
    index_version: str | None
    index_score: float | None
    opened_evidence: list | None
    handoff_due_on: date | None
    handed_off_at: datetime | None
    handed_off_by: str | None
    district_code: str
    level: Level
    owner: Owner
    state: CaseState
    title: str
    due_on: date
    overdue: bool
    escalated_at: datetime | None
    shared_with_district: bool
    assignee: str | None
    resolution: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    can_act: bool


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    username: str | None
    action: str
    from_state: str | None
    to_state: str | None
    comment: str
    attachment_id: int | None


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str | None
    uploaded_at: datetime
    url: str


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    family: str
    level: Level
    status: str
    first_period: date
    last_period: date
    summary_zh: str
    evidence: list


class CaseDetailOut(CaseOut):
    alert: AlertOut | None
    events: list[EventOut]
    attachments: list[AttachmentOut]
    allowed_transitions: list[CaseState]
    handoff_clock_zh: str | None = None


class TransitionIn(BaseModel):
    to_state: CaseState
    comment: str = Field("", max_length=4000)
    resolution: str | None = Field(None, max_length=4000)


class CommentIn(BaseModel):
    comment: str = Field(..., min_length=1, max_length=4000)


class ShareIn(BaseModel):
    comment: str = Field("", max_length=4000)
