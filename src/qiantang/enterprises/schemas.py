"""API shapes of enterprises and their loans."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from qiantang.enterprises.models import GuaranteeMode, ListingStatus
from qiantang.standards.loan_class import LoanClass
from qiantang.standards.sme_size import SizeClass


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    uscc: str
    uscc_warning: str | None
    name: str
    industry_section: str
    industry_code: str
    district_code: str
    size_class: SizeClass | None
    founded_on: date
    registered_capital: float | None
    employees: int | None
    revenue: float | None
    total_assets: float | None
    financials_year: int | None
    listing_status: ListingStatus
    listed_on: date | None
    high_tech: bool


class LoanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    contract_no: str
    lender_id: int
    amount: float
    balance: float
    start_date: date
    maturity_date: date
    guarantee_mode: GuaranteeMode
    classification: LoanClass
    days_past_due: int
    as_of: date


class FinancialOut(BaseModel):
    """One year of financial statements (元)."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    revenue: float | None
    net_profit: float | None
    total_assets: float | None
    total_liabilities: float | None
    equity: float | None
    current_assets: float | None
    current_liabilities: float | None
    operating_cash_flow: float | None
    interest_expense: float | None
    tax_paid: float | None
    employees: int | None
    source: str


class EnterpriseDetailOut(EnterpriseOut):
    loans: list[LoanOut]
    financials: list[FinancialOut] = []
