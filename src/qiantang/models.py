"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic and tests)."""

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import ApiToken, LoginAttempt, User, UserSession
from qiantang.cases.models import Case, CaseAttachment, CaseEvent
from qiantang.credit.models import CreditModel, CreditMonitoring, CreditScore
from qiantang.db import Base, SystemMeta
from qiantang.disputes.models import Dispute
from qiantang.earlywarning.models import Alert, EwIndicator, EwPeerBand, EwRating, EwRun, EwSignal
from qiantang.enterprises.models import Enterprise, EnterpriseFinancial, Guarantee, Loan
from qiantang.filings.models import AnnualFiling, Filing
from qiantang.fundraising.models import (
    Collapse,
    Complaint,
    DishonestDebtor,
    FirmPerson,
    FirmProfile,
    FirmScore,
    FirmText,
    FundAnomaly,
    RegistrationChange,
    ScoreRun,
    SpreadObservation,
)
from qiantang.fundraising.tip_models import Tip, TipReport, WatchEntry
from qiantang.jobs.models import Job
from qiantang.listing.models import ListingAward, ReserveFirm, StageEvent
from qiantang.matching.models import (
    Need,
    NeedEvent,
    Offer,
    Product,
    ProductVersion,
    Recommendation,
)
from qiantang.network.models import ContagionScenario, GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.notify.models import Notification, NotificationPreference
from qiantang.overview.models import SummaryCell, SummarySnapshot
from qiantang.plan.models import Indicator, IndicatorValue, Plan, PlanTarget
from qiantang.registry.models import Area, Cluster, Institution, InstitutionStatusChange, InstitutionType
from qiantang.results import StoredResult
from qiantang.statistics.models import StatCell, StatRefresh
from qiantang.talent.models import TalentCertification

__all__ = [
    "Alert",
    "AnnualFiling",
    "ApiToken",
    "Area",
    "AuditEvent",
    "Base",
    "Case",
    "CaseAttachment",
    "CaseEvent",
    "Cluster",
    "Collapse",
    "Complaint",
    "ContagionScenario",
    "CreditModel",
    "CreditMonitoring",
    "CreditScore",
    "DishonestDebtor",
    "Dispute",
    "Enterprise",
    "EnterpriseFinancial",
    "EwIndicator",
    "EwPeerBand",
    "EwRating",
    "EwRun",
    "EwSignal",
    "Filing",
    "FirmPerson",
    "FirmProfile",
    "FirmScore",
    "FirmText",
    "FundAnomaly",
    "Guarantee",
    "GuaranteeGroup",
    "Indicator",
    "IndicatorValue",
    "Institution",
    "InstitutionStatusChange",
    "InstitutionType",
    "Job",
    "ListingAward",
    "Loan",
    "LoginAttempt",
    "Need",
    "NeedEvent",
    "NetworkNode",
    "NetworkRun",
    "Notification",
    "NotificationPreference",
    "Offer",
    "Plan",
    "PlanTarget",
    "Product",
    "ProductVersion",
    "Recommendation",
    "RegistrationChange",
    "ReserveFirm",
    "ScoreRun",
    "SpreadObservation",
    "StageEvent",
    "StatCell",
    "StatRefresh",
    "StoredResult",
    "SummaryCell",
    "SummarySnapshot",
    "SystemMeta",
    "TalentCertification",
    "Tip",
    "TipReport",
    "User",
    "UserSession",
    "WatchEntry",
]
