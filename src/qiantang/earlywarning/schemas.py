"""API shapes of the early-warning module."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel


class RatingOut(BaseModel):
    institution_id: int
    institution_name: str
    type_code: str
    district_code: str
    period_end: date
    period: str
    score: float
    level: str
    level_zh: str
    dimensions: dict[str, float | None]
    reasons: list[str]
    challenger_pd: float | None
    version: str


class SignalOut(BaseModel):
    period_end: date
    period: str
    family: str
    family_zh: str
    code: str
    level: str
    level_zh: str
    value: float | None
    threshold: float | None
    message_zh: str
    message_en: str
    evidence: dict[str, Any]
    version: str


class AlertOut(BaseModel):
    id: int
    institution_id: int
    institution_name: str
    type_code: str
    district_code: str
    family: str
    family_zh: str
    level: str
    level_zh: str
    status: str
    first_period: date
    last_period: date
    cleared_period: date | None
    periods: list[str]
    summary_zh: str
    evidence: list[dict[str, Any]]
    case_id: int | None
    version: str


class IndicatorValueOut(BaseModel):
    period_end: date
    value: float


class LimitOut(BaseModel):
    rule: str
    name_zh: str
    comparison: str
    limit: float
    effective_from: date | None
    effective_to: date | None
    citation: str


class IndicatorSeriesOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    values: list[IndicatorValueOut]
    limits: list[LimitOut]


class InstitutionRef(BaseModel):
    id: int
    name: str
    type_code: str
    district_code: str
    status: str


class InstitutionRiskOut(BaseModel):
    institution: InstitutionRef
    latest_period: date | None
    ratings: list[RatingOut]
    signals: list[SignalOut]
    alerts: list[AlertOut]
    indicators: list[IndicatorSeriesOut]
