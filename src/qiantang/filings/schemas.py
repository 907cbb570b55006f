"""API shapes of filings and compliance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class FilingIn(BaseModel):
    """One return: the institution, the quarter and the values keyed by the template's field codes.

    Values are checked like spreadsheet cells (numbers, whole counts, ranges, cross-field checks);
    every problem comes back with its position in the list as ``row``.
    """

    uscc: str | None = Field(None, description="统一社会信用代码", examples=["91330106735183055F"])
    period: str | None = Field(
        None, description="报告期：2025Q4、2025年第4季度或 2025-12-31", examples=["2025Q4"]
    )
    data: dict[str, Any] = Field(default_factory=dict, description="字段代码 → 数值（模板单位，如万元）")


class FilingOut(BaseModel):
    id: int
    institution_id: int
    uscc: str
    institution_name: str
    district_code: str
    template_code: str
    template_version: str
    period: str = Field(description="2025Q4")
    period_end: date
    revision: int
    is_current: bool
    due_on: date
    submitted_at: datetime
    is_late: bool
    source: str
    data: dict[str, Any]


class TypeSummaryOut(BaseModel):
    type_code: str
    name_zh: str
    name_en: str
    expected: int
    on_time: int
    late: int
    missing: int
    pending: int
    rate: float | None = Field(description="已报送 / 应报送，%")
    on_time_rate: float | None = Field(description="按时报送 / 应报送，%")


class ComplianceRowOut(BaseModel):
    institution_id: int
    uscc: str
    name: str
    type_code: str
    district_code: str
    template_code: str
    due_on: date
    status: str = Field(description="on_time | late | missing | pending")
    status_zh: str
    first_submitted_at: datetime | None
    last_submitted_at: datetime | None
    revisions: int = Field(description="该报告期已存报表版本数（1 = 报送一次）")
    current_filing_id: int | None


class ComplianceOut(BaseModel):
    period: str
    period_end: date
    template_code: str | None
    as_of: date
    total: TypeSummaryOut
    by_type: list[TypeSummaryOut]
    rows: list[ComplianceRowOut]


class MissingOut(BaseModel):
    institution_id: int
    uscc: str
    as_of: date
    periods: list[str] = Field(description="应报未报的报告期，如 2025Q4")
    period_ends: list[date]
