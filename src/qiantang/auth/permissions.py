"""What each role may do. Data scoping (which rows a user sees) lives in :mod:`qiantang.auth.scope`."""

from __future__ import annotations

from enum import StrEnum

from qiantang.auth.models import Role


class Permission(StrEnum):
    VIEW_CITY_DATA = "view_city_data"  # statistics, registry, enterprises (within scope)
    EDIT_REGISTRY = "edit_registry"
    EDIT_PLAN = "edit_plan"  # enter actual values, upload plans
    SUBMIT_FILINGS = "submit_filings"
    ACT_ON_CASES = "act_on_cases"  # transitions, comments, shares, attachments (then cases.service.can_act)
    RUN_SCENARIOS = "run_scenarios"  # contagion scenarios on the guarantee network
    BUILD_CREDIT_MODELS = "build_credit_models"
    PROMOTE_CREDIT_MODELS = "promote_credit_models"
    EXPORT = "export"
    VIEW_AUDIT_LOG = "view_audit_log"
    MANAGE_USERS = "manage_users"
    RUN_JOBS = "run_jobs"  # start batch jobs (statistics refresh, early warning …) from the jobs page
    MATCHING_MANAGE = "matching_manage"  # approve products, push name lists, see every need
    MATCHING_POST = "matching_post"  # post a financing need (a firm for itself, an officer after a visit)
    MATCHING_LEND = "matching_lend"  # publish products, pick up and answer needs (own institution)
    RECORD_DISPUTES = "record_disputes"  # register and close financial disputes (own district for officers)
    TALENT_APPLY = "talent_apply"  # file a talent certification application (within scope)
    TALENT_REVIEW = "talent_review"  # review and decide talent certifications (city staff)


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CITY_ADMIN: frozenset(Permission),
    # City staff keep the registry, enter plan data and may file on an institution's behalf.
    Role.CITY_ANALYST: frozenset(
        {
            Permission.VIEW_CITY_DATA,
            Permission.EXPORT,
            Permission.EDIT_PLAN,
            Permission.EDIT_REGISTRY,
            Permission.SUBMIT_FILINGS,
            Permission.MATCHING_MANAGE,
            Permission.MATCHING_POST,
            Permission.ACT_ON_CASES,
            Permission.RUN_SCENARIOS,
            Permission.BUILD_CREDIT_MODELS,
            Permission.RECORD_DISPUTES,
            Permission.TALENT_APPLY,
        }
    ),
    Role.DISTRICT_OFFICER: frozenset(
        {
            Permission.VIEW_CITY_DATA,
            Permission.EXPORT,
            Permission.MATCHING_POST,
            Permission.ACT_ON_CASES,
            Permission.RECORD_DISPUTES,
            Permission.TALENT_APPLY,
        }
    ),
    Role.INSTITUTION_REPORTER: frozenset({Permission.SUBMIT_FILINGS, Permission.TALENT_APPLY}),
    # Read-only: sees what city staff see and the audit log, changes nothing (issue 12, item 9).
    Role.AUDITOR: frozenset({Permission.VIEW_CITY_DATA, Permission.EXPORT, Permission.VIEW_AUDIT_LOG}),
    Role.LENDER: frozenset({Permission.MATCHING_LEND}),
    Role.FIRM: frozenset({Permission.MATCHING_POST}),
}


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def has_any(role: Role, permissions) -> bool:
    return any(p in ROLE_PERMISSIONS[role] for p in permissions)
