"""Request dependencies: the database session, the current user, permissions and CSRF.

A request is one transaction: ``get_db`` commits when the route returns and rolls back when it
raises. Routes declare what they need (``CurrentUser``, ``require(Permission.X)``); the 401/403
decisions are made here, in one place.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from qiantang import masking
from qiantang.auth import service as auth_service
from qiantang.auth.models import Role, User
from qiantang.auth.permissions import Permission, has_permission
from qiantang.auth.scope import Scope
from qiantang.db import AFTER_READ, after_read, new_session, run_after_read
from qiantang.errors import Forbidden, Unauthorized
from qiantang.web.guards import PENDING_WRITES

SESSION_COOKIE = "qt_session"
LOGIN_CSRF_COOKIE = "qt_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where a user with a temporary password may go before choosing their own.
PASSWORD_CHANGE_PATHS = frozenset({"/account", "/account/password", "/logout"})


def get_db(request: Request) -> Iterator[Session]:
    """The request's one session: a write transaction for unsafe methods, a read for the others.

    The page's other readers (the demo banner) use it through ``request.state.db`` rather than take
    a second pooled connection; bookkeeping writes (``after_read``: a token's last use, an export's
    audit row) run after it in their own short transaction, so no request holds a lock on a shared
    row (every request with one token touches the same row) while it moves between threads.
    """
    write = request.method not in SAFE_METHODS
    session = new_session(write=write)
    session.info[AFTER_READ] = []
    request.state.db = session
    try:
        yield session
        session.commit()
        pending = session.info.pop(AFTER_READ, None)
        session.close()  # give the connection back before taking one to write
        if pending:
            queue = getattr(request.state, PENDING_WRITES, None)
            if queue is not None:
                queue.extend(pending)  # written by web.guards before the response starts
            else:
                run_after_read(pending)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        request.state.db = None


# "function" scope: commit before the response is sent, so a failed commit is an error response.
DB = Annotated[Session, Depends(get_db, scope="function")]


@dataclass(frozen=True)
class CurrentUser:
    """A plain snapshot of the user, still readable after the request's transaction rolled back."""

    id: int
    username: str
    display_name: str
    role: Role
    district_code: str | None
    institution_id: int | None
    enterprise_id: int | None = None
    must_change_password: bool = False

    @classmethod
    def of(cls, user: User) -> CurrentUser:
        return cls(
            user.id,
            user.username,
            user.display_name,
            user.role,
            user.district_code,
            user.institution_id,
            user.enterprise_id,
            bool(user.must_change_password),
        )


@dataclass(frozen=True)
class Auth:
    user: CurrentUser
    csrf_token: str | None  # None when the request came with an API token (no CSRF needed)
    session_id: int | None = None  # the browser session's row (None for API tokens)

    @property
    def scope(self) -> Scope:
        return Scope(
            role=self.user.role,
            user_id=self.user.id,
            district_code=self.user.district_code,
            institution_id=self.user.institution_id,
            enterprise_id=self.user.enterprise_id,
        )


def client_ip(request: Request) -> str | None:
    """The client's address: the peer, or what a trusted proxy forwarded (``QIANTANG_TRUSTED_PROXIES``).

    X-Forwarded-For from anyone else is ignored (the proxy middleware in ``web.app`` only rewrites
    the peer for listed proxies); whatever is not an IP address is not recorded as one.
    """
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def record_export(
    db: Session, request: Request, auth: Auth, object_type: str, *, object_id=None, detail: dict | None = None
) -> None:
    """Every download of data (Excel, PDF) goes into the audit log: who, what, from where."""
    from qiantang.audit import service as audit

    ip = client_ip(request)
    after_read(
        db,
        lambda session: audit.record(
            session,
            action="export",
            user=auth.user,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            ip=ip,
        ),
    )


def _resolve(request: Request, db: Session) -> Auth | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = auth_service.resolve_api_token(db, header[7:].strip())
        return Auth(user=CurrentUser.of(user), csrf_token=None)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    record = auth_service.resolve_session(db, token)
    return Auth(user=CurrentUser.of(record.user), csrf_token=record.csrf_token, session_id=record.id)


async def _check_csrf(request: Request, auth: Auth) -> None:
    if request.method in SAFE_METHODS or auth.csrf_token is None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, auth.csrf_token):
        raise Forbidden(
            "表单已失效（CSRF 校验未通过），请刷新页面后重试",
            message_en="The form has expired (CSRF check failed); reload the page and retry",
        )


def optional_auth(request: Request, db: DB) -> Auth | None:
    auth = _resolve(request, db)
    request.state.auth = auth
    masking.use_role(auth.user.role if auth else None)  # whose view of personal data applies
    return auth


async def require_auth(request: Request, auth: Annotated[Auth | None, Depends(optional_auth)]) -> Auth:
    if auth is None:
        raise Unauthorized("请先登录", message_en="Please log in")
    await _check_csrf(request, auth)
    if (
        auth.user.must_change_password
        and auth.session_id is not None
        and request.url.path not in PASSWORD_CHANGE_PATHS
    ):
        raise auth_service.PasswordChangeRequired()
    return auth


CurrentAuth = Annotated[Auth, Depends(require_auth)]
MaybeAuth = Annotated[Auth | None, Depends(optional_auth)]


def require_any(*permissions: Permission):
    """A dependency that admits users whose role has any of ``permissions`` (a menu item's rule)."""

    def check(auth: CurrentAuth) -> Auth:
        if not any(has_permission(auth.user.role, p) for p in permissions):
            raise Forbidden("您的角色无权进行此操作", message_en="Your role does not allow this")
        return auth

    return Depends(check)


def require(permission: Permission):
    """A dependency that admits users whose role has ``permission``."""

    def check(auth: CurrentAuth) -> Auth:
        if not has_permission(auth.user.role, permission):
            raise Forbidden("您的角色无权进行此操作", message_en="Your role does not allow this")
        return auth

    check.permission = permission  # read by tests/security/test_unsafe_routes.py
    return Depends(check)
