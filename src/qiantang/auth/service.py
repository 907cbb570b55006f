"""Passwords, logins with rate limiting, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import ApiToken, LoginAttempt, Role, User, UserSession
from qiantang.config import get_settings
from qiantang.db import after_read, utcnow
from qiantang.errors import RowError as FieldError
from qiantang.errors import TooManyRequests, Unauthorized, ValidationFailed
from qiantang.registry.models import Area, Institution

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class SessionExpired(Unauthorized):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_new_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    district_code: str | None,
    institution_id: int | None,
) -> list[FieldError]:
    """Every problem with a new user's data, in Chinese."""
    errors: list[FieldError] = []
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").isalnum():
        errors.append(FieldError(None, "username", "用户名须为 1–64 位字母、数字、下划线或连字符"))
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors.append(FieldError(None, "username", f"用户名 {username} 已存在"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(FieldError(None, "password", f"密码至少 {MIN_PASSWORD_LENGTH} 位"))
    if role == Role.DISTRICT_OFFICER:
        area = session.get(Area, district_code) if district_code else None
        if area is None or not area.is_current:
            errors.append(FieldError(None, "district_code", "区县工作人员须指定一个现行区县代码"))
    elif district_code:
        errors.append(FieldError(None, "district_code", "只有区县工作人员可以指定区县"))
    if role == Role.INSTITUTION_REPORTER:
        if institution_id is None or session.get(Institution, institution_id) is None:
            errors.append(FieldError(None, "institution_id", "机构填报员须指定一个已登记的机构"))
    elif institution_id is not None:
        errors.append(FieldError(None, "institution_id", "只有机构填报员可以指定机构"))
    return errors


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    district_code: str | None = None,
    institution_id: int | None = None,
    actor=None,
) -> User:
    """Create a user after validating every field; raises ValidationFailed listing all problems."""
    role = Role(role)
    errors = validate_new_user(
        session,
        username=username,
        password=password,
        role=role,
        district_code=district_code,
        institution_id=institution_id,
    )
    if errors:
        raise ValidationFailed("用户信息有误，未创建", errors)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        district_code=district_code,
        institution_id=institution_id,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="create",
        user=actor,
        object_type="user",
        object_id=user.id,
        detail={"username": username, "role": role.value},
    )
    return user


def login_delay(failures: int) -> float:
    """Seconds an account waits after ``failures`` wrong passwords in a row (0 for the first few)."""
    settings = get_settings()
    extra = failures - settings.login_free_failures
    if extra < 0:
        return 0.0
    return min(settings.login_delay_max_seconds, settings.login_delay_seconds * 2 ** min(extra, 30))


def _serialise(session: Session, *keys: str) -> None:
    """Make concurrent logins for the same account or address take turns (checked, then counted).

    PostgreSQL: transaction-scoped advisory locks, always in the same order (account, then address).
    SQLite: the login request is a write transaction (``BEGIN IMMEDIATE``), which already takes turns.
    """
    if session.get_bind().dialect.name == "postgresql":
        for key in keys:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _check_rate_limit(session: Session, *, username: str, ip: str | None) -> None:
    settings = get_settings()
    now = utcnow()
    since = now - timedelta(minutes=settings.login_window_minutes)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.at >= since
        )
    )
    streak_since = max(since, last_success) if last_success else since
    failures, last_failure = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.success.is_(False),
            LoginAttempt.at >= streak_since,
        )
    ).one()
    wait = login_delay(failures or 0)
    if wait and last_failure is not None:
        remaining = (last_failure + timedelta(seconds=wait) - now).total_seconds()
        if remaining > 0:
            seconds = max(1, math.ceil(remaining))
            raise TooManyRequests(
                f"该账号连续登录失败，请 {seconds} 秒后再试",
                message_en=f"Several failed logins for this account; try again in {seconds} seconds",
                retry_after_seconds=seconds,
            )
    if ip:
        by_ip = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.ip == ip, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
        )
        if (by_ip or 0) >= settings.login_max_failures_per_ip:
            minutes = settings.login_window_minutes
            raise TooManyRequests(
                f"此网络地址登录失败次数过多，请 {minutes} 分钟后再试",
                message_en=f"Too many failed logins from this address; try again in {minutes} minutes",
                retry_after_seconds=minutes * 60,
            )


def authenticate(session: Session, *, username: str, password: str, ip: str | None = None) -> User:
    """Check a username and password; records the attempt. Raises Unauthorized or TooManyRequests.

    Logins for one account, and from one address, take turns (:func:`_serialise`), so a burst of
    parallel attempts is counted one by one: after a few failures the account must wait a delay that
    doubles with each further failure (never a lockout), and an address with too many failures is
    refused for a while. The attempt row and audit event are part of the caller's transaction, which
    the caller commits even when this raises (a failed login must still count against the limit).
    """
    username = username.strip()
    _serialise(session, f"login-user:{username}", f"login-ip:{ip or ''}")
    try:
        _check_rate_limit(session, username=username, ip=ip)
    except TooManyRequests:
        audit.record(session, action="login_blocked", username=username, ip=ip)
        raise
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    ok = ok and user is not None and user.is_active
    session.add(LoginAttempt(username=username, ip=ip, success=ok))
    if not ok:
        audit.record(session, action="login_failed", username=username, ip=ip)
        raise Unauthorized("用户名或密码错误", message_en="Wrong username or password")
    assert user is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit.record(session, action="login", user=user, ip=ip)
    return user


@dataclass
class NewSession:
    token: str
    record: UserSession


def start_session(
    session: Session, *, user: User, ip: str | None = None, user_agent: str | None = None
) -> NewSession:
    settings = get_settings()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = UserSession(
        token_hash=token_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
        ip=ip,
        user_agent=(user_agent or "")[:256],
    )
    session.add(record)
    session.flush()
    return NewSession(token=token, record=record)


def resolve_session(session: Session, token: str) -> UserSession:
    """The live session for a cookie token; raises SessionExpired when it is unknown, ended or stale."""
    record = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if record is None or record.ended_at is not None:
        raise SessionExpired(
            "会话已失效，请重新登录", message_en="Your session has ended; please log in again"
        )
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if now >= record.expires_at or now - record.last_seen_at > idle or not record.user.is_active:
        record.ended_at = now
        raise SessionExpired(
            "会话已过期，请重新登录", message_en="Your session has expired; please log in again"
        )
    # Write the last-seen time at most once a minute, not on every request; after the read (after_read).
    if now - record.last_seen_at > timedelta(minutes=1):
        record_id = record.id
        after_read(
            session,
            lambda s: s.execute(
                update(UserSession).where(UserSession.id == record_id).values(last_seen_at=now)
            ),
        )
    return record


def end_session(session: Session, token: str) -> None:
    record = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if record is not None and record.ended_at is None:
        record.ended_at = utcnow()
        audit.record(session, action="logout", user=record.user, ip=record.ip)


def create_api_token(session: Session, *, user: User, name: str, days: int | None = 365) -> str:
    """Issue a bearer token; only its digest is stored, so it is shown once."""
    token = "qt_" + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token_digest(token), expires_at=expires))
    audit.record(session, action="token_create", user=user, object_type="api_token", detail={"name": name})
    return token


def resolve_api_token(session: Session, token: str) -> User:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = utcnow()
    if (
        record is None
        or record.revoked_at is not None
        or (record.expires_at is not None and now >= record.expires_at)
        or not record.user.is_active
    ):
        raise Unauthorized("API 令牌无效或已过期", message_en="Invalid or expired API token")
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1):
        record_id = record.id
        after_read(
            session,
            lambda s: s.execute(update(ApiToken).where(ApiToken.id == record_id).values(last_used_at=now)),
        )
    return record.user


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))
