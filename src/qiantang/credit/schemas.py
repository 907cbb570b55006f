"""API shapes of credit scoring."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qiantang.enterprises.models import ListingStatus
from qiantang.standards.sme_size import SizeClass


class EnterpriseRecord(BaseModel):
    """One enterprise's data for scoring (amounts in 元; the latest financial year unless noted)."""

    model_config = ConfigDict(extra="forbid")

    industry_code: str | None = Field(
        None, description="GB/T 4754-2017 代码（门类字母或数字代码）", max_length=8
    )
    industry_section: str | None = Field(
        None, description="行业门类字母（可代替 industry_code）", max_length=1
    )
    size_class: SizeClass | None = Field(None, description="企业规模（工信部联企业〔2011〕300号）")
    founded_on: date | None = Field(None, description="成立日期")
    listing_status: ListingStatus | None = None
    high_tech: bool | None = None
    employees: float | None = Field(None, description="从业人员（人）")
    revenue: float | None = Field(None, description="营业收入（元）")
    revenue_prev: float | None = Field(None, description="上一年营业收入（元）")
    net_profit: float | None = Field(None, description="净利润（元）")
    net_profit_prev: float | None = None
    net_profit_prev2: float | None = None
    total_assets: float | None = Field(None, description="资产总额（元）")
    total_liabilities: float | None = Field(None, description="负债总额（元）")
    current_assets: float | None = None
    current_liabilities: float | None = None
    operating_cash_flow: float | None = None
    interest_expense: float | None = None
    tax_paid: float | None = None
    loan_count: float | None = Field(None, description="贷款笔数")
    lender_count: float | None = Field(None, description="贷款机构家数")
    guarantee_given: float | None = Field(None, description="对外担保合同金额（元）")
    guarantor_count: float | None = Field(None, description="为其担保的担保方数量")
    mutual_guarantee: bool | None = Field(None, description="是否参与互保/联保")
    as_of: date | None = Field(None, description="评分基准日（默认：贷款分类日）")


class ScoreIn(BaseModel):
    model_id: int | None = Field(None, description="模型版本 id；缺省为“all”分群的冠军模型")
    enterprise: EnterpriseRecord | None = None
    record: dict[str, Any] | None = Field(None, description="表格一行（列名 → 取值），用于基于上传数据的模型")


class ScoreOut(BaseModel):
    model_id: int
    model: str
    model_kind: str
    model_status: str
    segment: str
    as_of: date
    score: float
    pd: float
    grade: str
    grade_name: str
    reasons: list[dict[str, Any]]
    notes: list[str]


class StoredScoreOut(BaseModel):
    as_of: date
    score: float
    pd: float
    grade: str
    reasons: list[dict[str, Any]]
    model_id: int
    model: str
    model_status: str


class EnterpriseCreditOut(BaseModel):
    uscc: str
    name: str
    latest: StoredScoreOut | None
    history: list[StoredScoreOut]


class ModelOut(BaseModel):
    id: int
    name: str
    version: int
    segment: str
    kind: str
    status: str
    target: str
    input: str
    features: list[str]
    training_rows: int
    training_bad_rate: float | None
    training_hash: str
    auc_out_of_fold: float | None
    ks_out_of_fold: float | None
    created_by: str | None
    created_at: datetime


class ModelDetailOut(ModelOut):
    params: dict[str, Any]
    metrics: dict[str, Any]
    spec_model: dict[str, Any]
