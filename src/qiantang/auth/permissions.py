"""What each role may do. Data scoping (which rows a user sees) lives in :mod:`qiantang.auth.scope`."""

from __future__ import annotations

from enum import StrEnum

from qiantang.auth.models import Role


class Permission(StrEnum):
    VIEW_CITY_DATA = "view_city_data"  # statistics, registry, enterprises (within scope)
    EDIT_REGISTRY = "edit_registry"
    EDIT_PLAN = "edit_plan"  # enter actual values, upload plans
    SUBMIT_FILINGS = "submit_filings"
    EXPORT = "export"
    VIEW_AUDIT_LOG = "view_audit_log"
    MANAGE_USERS = "manage_users"


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
        }
    ),
    Role.DISTRICT_OFFICER: frozenset({Permission.VIEW_CITY_DATA, Permission.EXPORT}),
    Role.INSTITUTION_REPORTER: frozenset({Permission.SUBMIT_FILINGS}),
    Role.AUDITOR: frozenset({Permission.VIEW_CITY_DATA, Permission.EXPORT, Permission.VIEW_AUDIT_LOG}),
}


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def has_any(role: Role, permissions) -> bool:
    return any(p in ROLE_PERMISSIONS[role] for p in permissions)
