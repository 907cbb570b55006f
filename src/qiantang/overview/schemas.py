"""API shape of the overview figures."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from qiantang.overview.service import Overview


class TypeCountOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    category: str
    count: int


class OverviewOut(BaseModel):
    institutions_total: int
    institutions_by_type: list[TypeCountOut]
    enterprises_total: int | None
    enterprises_by_size: dict[str, int] | None
    loan_balance_yuan: float | None = Field(description="贷款余额，元")
    loan_count: int | None
    balance_by_class_yuan: dict[str, float] | None = Field(description="按五级分类的贷款余额，元")
    npl_ratio_pct: float | None = Field(description="不良贷款率，%")
    loans_as_of: date | None

    @classmethod
    def from_overview(cls, ov: Overview) -> OverviewOut:
        return cls(
            institutions_total=ov.institutions_total,
            institutions_by_type=[
                TypeCountOut(
                    code=t.code,
                    name_zh=t.name_zh,
                    name_en=t.name_en,
                    category=t.category.value,
                    count=t.count,
                )
                for t in ov.institutions_by_type
            ],
            enterprises_total=ov.enterprises_total,
            enterprises_by_size=ov.enterprises_by_size,
            loan_balance_yuan=ov.loan_balance,
            loan_count=ov.loan_count,
            balance_by_class_yuan=ov.balance_by_class,
            npl_ratio_pct=ov.npl_ratio,
            loans_as_of=ov.loans_as_of,
        )
