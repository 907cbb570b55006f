"""API shapes of the registry."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from qiantang.registry.models import InstitutionLevel, InstitutionStatus, StatusEvent


class AreaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    kind: str
    valid_from: date | None
    valid_to: date | None
    successor_codes: list[str]


class ClusterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    group: str
    positioning: str
    area_codes: list[str]
    plan_section: str


class InstitutionTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    category: str
    sector_zh: str
    supervisor_zh: str
    supervisor_en: str
    regulation_zh: str
    filing_template: str | None


class InstitutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    uscc: str
    uscc_warning: str | None
    name: str
    type_code: str
    level: InstitutionLevel
    parent_name: str | None
    district_code: str
    cluster_code: str | None
    established_on: date
    deregistered_on: date | None
    status: InstitutionStatus
    registered_capital: float | None
    licence_no: str | None


class StatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    effective_on: date
    event: StatusEvent
    status_after: InstitutionStatus
    reason: str


class InstitutionDetailOut(InstitutionOut):
    status_history: list[StatusChangeOut]
