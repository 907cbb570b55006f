"""API shapes of the registry."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

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


class InstitutionIn(BaseModel):
    """A new institution; registered capital in 万元."""

    uscc: str = Field(max_length=40)
    name: str = Field(max_length=128)
    type_code: str = Field(max_length=32)
    level: InstitutionLevel
    district_code: str = Field(max_length=6)
    established_on: date
    cluster_code: str | None = Field(default=None, max_length=32)
    parent_name: str | None = Field(default=None, max_length=128)
    registered_capital_wan: float | None = None
    licence_no: str | None = Field(default=None, max_length=64)
    registration_no: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)


class InstitutionUpdate(BaseModel):
    """Fields that may change; omitted ones keep their value. Capital in 万元."""

    name: str | None = Field(default=None, max_length=128)
    level: InstitutionLevel | None = None
    district_code: str | None = Field(default=None, max_length=6)
    cluster_code: str | None = Field(default=None, max_length=32)
    parent_name: str | None = Field(default=None, max_length=128)
    registered_capital_wan: float | None = None
    licence_no: str | None = Field(default=None, max_length=64)
    registration_no: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)
    effective_on: date | None = None


class StatusChangeIn(BaseModel):
    event: StatusEvent
    effective_on: date
    reason: str = Field(min_length=1, max_length=2000)
