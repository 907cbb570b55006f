"""API shapes of plans, progress and indicator values."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qiantang.plan.models import Quality


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name_zh: str
    name_en: str
    period_start: int
    period_end: int
    source_document: str


class ValueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    indicator_code: str
    year: int
    quarter: int | None
    value: float
    unit: str
    quality: Quality
    source: str
    note: str
    is_computed: bool
    revision: int
    entered_at: datetime
    entered_by: str | None


class ProjectionOut(BaseModel):
    method: str
    value_at_target_year: float | None
    year_met: int | None


class TargetProgressOut(BaseModel):
    indicator_code: str
    name_zh: str
    name_en: str
    unit: str
    kind: str
    plan_section: str
    baseline_year: int | None
    baseline_value: float | None
    target_year: int
    target_value: float
    comparison: str
    status: Literal[
        "target_achieved",
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
        "not_available",
    ] = Field(description="open-sdg (sdg-build) progress status; see docs/methods/progress.md §3")
    status_zh: str
    base_year: int | None
    base_value: float | None
    assessed_year: int | None
    assessed_value: float | None
    cagr_observed: float | None = Field(description="observed compound annual growth, as a fraction")
    cagr_required: float | None
    ratio: float | None = Field(description="R = observed / required growth")
    required_growth_from_latest: float | None
    required_per_year_from_latest: float | None
    secured: bool = Field(
        description="a yearly-average target the flows so far already guarantee (nothing more is needed)"
    )
    after_target_year: bool
    projections: list[ProjectionOut]
    reasons: list[str]
    reasons_en: list[str]
    values_used: list[ValueOut]
    series: list[ValueOut]


class ValueIn(BaseModel):
    indicator_code: str = Field(max_length=64)
    year: int = Field(ge=1978, le=2100)
    quarter: int | None = Field(default=None, ge=1, le=4)
    value: float
    unit: str = Field(max_length=16)
    quality: Quality
    source: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=2000)
