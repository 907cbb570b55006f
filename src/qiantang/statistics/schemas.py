"""API shapes of comprehensive statistics. Values are in each measure's stored unit (万元 for amounts)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class MeasureOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    unit: str = Field(description="Unit of the values in the API (万元 for amounts, as filed)")
    display_unit: str = Field(description="Unit the pages show (亿元 for amounts)")
    source: str = Field(description="registry | filings | derived")
    kind: str = Field(description="count | sum | ratio (ratio = Σ numerator / Σ denominator × 100)")
    how: str
    template: str | None = None
    field: str | None = None
    numerator: str | None = None
    denominator: str | None = None


class RowOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    values: dict[str, float | None]


class PivotOut(BaseModel):
    period_end: date | None
    rows_dimension: str
    filters: dict[str, str]
    measures: list[MeasureOut]
    rows: list[RowOut]
    total: RowOut


class SeriesOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    values: list[float | None]


class TrendOut(BaseModel):
    measure: MeasureOut
    split: str | None
    filters: dict[str, str]
    periods: list[date]
    series: list[SeriesOut]


class ClusterFiguresOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    group: str
    open: int = Field(description="Open institutions (家)")
    hq_licensed: int = Field(
        description="Open licensed institutions at HQ, regional-HQ or provincial-branch level"
    )
    fund_managers: int = Field(description="Open private fund managers (家)")
    aum: float = Field(description="Private-fund AUM, 万元")
    fund_count: int = Field(description="Private funds managed (支)")
    total_assets: float = Field(description="Total assets of institutions that file returns, 万元")


class ClusterGroupOut(BaseModel):
    group: str
    name_zh: str
    clusters: list[ClusterFiguresOut]


class ClustersOut(BaseModel):
    period_end: date | None
    groups: list[ClusterGroupOut]


class TargetOut(BaseModel):
    indicator_code: str
    name_zh: str
    name_en: str
    unit: str
    target_year: int
    target_value: float
    comparison: str
    status: str
    status_zh: str
    assessed_year: int | None
    assessed_value: float | None
    reasons: list[str]
    reasons_en: list[str]
    note_zh: str
    note_en: str
    url: str


class YearCountOut(BaseModel):
    period_end: date
    value: int


class ClusterProfileOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    group: str
    positioning: str
    plan_section: str
    area_codes: list[str]
    period_end: date | None
    figures: ClusterFiguresOut
    by_type_level: list[RowOut]
    aum_trend: TrendOut | None
    hq_count_by_year: list[YearCountOut]
    targets: list[TargetOut]
