"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic and tests)."""

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import ApiToken, LoginAttempt, User, UserSession
from qiantang.cases.models import Case, CaseAttachment, CaseEvent
from qiantang.credit.models import CreditModel, CreditMonitoring, CreditScore
from qiantang.db import Base, SystemMeta
from qiantang.earlywarning.models import Alert, EwIndicator, EwPeerBand, EwRating, EwRun, EwSignal
from qiantang.enterprises.models import Enterprise, EnterpriseFinancial, Guarantee, Loan
from qiantang.filings.models import Filing
from qiantang.jobs.models import Job
from qiantang.network.models import ContagionScenario, GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.notify.models import Notification, NotificationPreference
from qiantang.overview.models import SummaryCell, SummarySnapshot
from qiantang.plan.models import Indicator, IndicatorValue, Plan, PlanTarget
from qiantang.registry.models import Area, Cluster, Institution, InstitutionStatusChange, InstitutionType
from qiantang.statistics.models import StatCell, StatRefresh

__all__ = [
    "Alert",
    "ApiToken",
    "Area",
    "AuditEvent",
    "Base",
    "Case",
    "CaseAttachment",
    "CaseEvent",
    "Cluster",
    "ContagionScenario",
    "CreditModel",
    "CreditMonitoring",
    "CreditScore",
    "Enterprise",
    "EnterpriseFinancial",
    "EwIndicator",
    "EwPeerBand",
    "EwRating",
    "EwRun",
    "EwSignal",
    "Filing",
    "Guarantee",
    "GuaranteeGroup",
    "Indicator",
    "IndicatorValue",
    "Institution",
    "InstitutionStatusChange",
    "InstitutionType",
    "Job",
    "Loan",
    "LoginAttempt",
    "NetworkNode",
    "NetworkRun",
    "Notification",
    "NotificationPreference",
    "Plan",
    "PlanTarget",
    "StatCell",
    "StatRefresh",
    "SummaryCell",
    "SummarySnapshot",
    "SystemMeta",
    "User",
    "UserSession",
]
