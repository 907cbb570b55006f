"""Issue 12 item 9: every unsafe route, tried as every role, agrees with the permission table.

The routes are read from the application itself, so a new POST route without a permission fails here
until it declares one (``require(Permission.X)``) or is listed below with the reason it needs none.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, inspect, select, table

from qiantang.auth.permissions import ROLE_PERMISSIONS, Permission
from qiantang.demo import DEMO_USERS
from qiantang.web.app import create_app

SAFE = {"GET", "HEAD", "OPTIONS"}
# Unsafe routes that need no permission, and why.
NO_PERMISSION = {
    ("POST", "/login"): "logging in is how a permission is obtained",
    ("POST", "/logout"): "anyone signed in may end their own session",
    ("POST", "/account/password"): "anyone signed in may change their own password (the old one is asked)",
    ("POST", "/account/tokens/{token_id}/revoke"): "anyone signed in may revoke their own API tokens",
    ("POST", "/notifications/read-all"): "anyone signed in may mark their own inbox read",
    ("POST", "/notifications/settings"): "anyone signed in may choose how they are notified",
    ("POST", "/report-tip"): "the public tip page (举报) takes reports without login: rate-limited per "
    "client, size-capped, CSRF by a double-submit cookie (docs/security.md)",
}
# Background jobs a read-only role may start: exports made off the request (a job row, no data changed).
EXPORT_JOBS = {"plan.report_pdf", "fundraising.report_pdf"}
ROLE_REFUSAL = "您的角色无权进行此操作"
READ_ONLY = {Permission.VIEW_CITY_DATA, Permission.EXPORT, Permission.VIEW_AUDIT_LOG}


def _contexts(app):
    for route in app.routes:
        if type(route).__name__ == "_IncludedRouter":
            yield from route.effective_route_contexts()
        elif hasattr(route, "dependant"):
            yield route


def _permission(dependant) -> Permission | None:
    for sub in dependant.dependencies:
        found = getattr(sub.call, "permission", None) or _permission(sub)
        if found is not None:
            return found
    return None


def unsafe_routes() -> list[tuple[str, str, Permission | None]]:
    app = create_app()
    found = []
    for ctx in _contexts(app):
        for method in sorted(set(ctx.methods) - SAFE):
            found.append((method, ctx.path, _permission(ctx.dependant)))
    return found


ROUTES = unsafe_routes()


def test_every_unsafe_route_declares_a_permission_or_a_reason():
    assert len(ROUTES) > 20
    missing = [(m, p) for m, p, perm in ROUTES if perm is None and (m, p) not in NO_PERMISSION]
    assert not missing, f"unsafe routes without a permission: {missing}"


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _row_counts(db) -> dict[str, int]:
    names = inspect(db.get_bind()).get_table_names()
    return {n: db.scalar(select(func.count()).select_from(table(n))) for n in names if n != "alembic_version"}


@pytest.mark.parametrize("user", DEMO_USERS, ids=lambda u: u.username)
def test_each_role_gets_what_the_permission_table_says(clients, db, user):
    c = clients.as_user(user.username)
    allowed = ROLE_PERMISSIONS[user.role]
    before = _row_counts(db)
    wrong = []
    for method, path, permission in ROUTES:
        if permission is None:
            continue
        if path.startswith("/api/"):
            r = c.request(method, _url(path), json={})
        else:
            r = c.request(method, _url(path), data={}, follow_redirects=False)
        refused_for_role = r.status_code == 403 and ROLE_REFUSAL in r.text
        if (permission in allowed) == refused_for_role:
            wrong.append((method, path, permission.value, r.status_code))
    assert not wrong, f"{user.username}: {wrong}"
    if allowed <= READ_ONLY:
        # A read-only role changed nothing (its own sign-in and the audit log aside).
        after = _row_counts(db)
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        changed.pop("audit_events", None)
        changed.pop("user_sessions", None)
        if "jobs" in changed:
            from qiantang.jobs.models import Job

            kinds = set(db.scalars(select(Job.kind).where(Job.user_id == _user_id(db, user.username))))
            assert kinds <= EXPORT_JOBS, kinds
            changed.pop("jobs")
        assert not changed, changed


def _user_id(db, username: str) -> int:
    from qiantang.auth.models import User

    return db.scalar(select(User.id).where(User.username == username))


def test_auditor_cannot_run_a_scenario(clients, db):
    """The probe's reproducer: POST /network/scenarios with an auditor's session made a row."""
    from qiantang.network.models import ContagionScenario

    before = db.scalar(select(func.count()).select_from(ContagionScenario))
    r = clients.as_user("auditor").post(
        "/network/scenarios", data={"kind": "single", "firms": "1"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(ContagionScenario)) == before
