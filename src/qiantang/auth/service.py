"""Passwords, logins with rate limiting, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import ApiToken, LoginAttempt, Role, User, UserSession
from qiantang.config import get_settings
from qiantang.db import utcnow
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
    enterprise_id: int | None = None,
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
    if role in (Role.INSTITUTION_REPORTER, Role.LENDER):
        if institution_id is None or session.get(Institution, institution_id) is None:
            errors.append(FieldError(None, "institution_id", f"{role.zh}须指定一个已登记的机构"))
    elif institution_id is not None:
        errors.append(FieldError(None, "institution_id", "只有机构填报员和贷款机构用户可以指定机构"))
    if role == Role.FIRM:
        from qiantang.enterprises.models import Enterprise

        if enterprise_id is None or session.get(Enterprise, enterprise_id) is None:
            errors.append(FieldError(None, "enterprise_id", "企业用户须指定一家已登记的企业"))
    elif enterprise_id is not None:
        errors.append(FieldError(None, "enterprise_id", "只有企业用户可以指定企业"))
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
    enterprise_id: int | None = None,
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
        enterprise_id=enterprise_id,
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
        enterprise_id=enterprise_id,
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


def _recent_failures(session: Session, *, column, value: str, since) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
        )
        or 0
    )


def _check_rate_limit(session: Session, *, username: str, ip: str | None) -> None:
    settings = get_settings()
    window = timedelta(minutes=settings.login_window_minutes)
    since = utcnow() - window
    by_user = _recent_failures(session, column=LoginAttempt.username, value=username, since=since)
    by_ip = _recent_failures(session, column=LoginAttempt.ip, value=ip, since=since) if ip else 0
    if by_user >= settings.login_max_failures or by_ip >= settings.login_max_failures_per_ip:
        minutes = settings.login_window_minutes
        raise TooManyRequests(
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            message_en=f"Too many failed logins; try again in {minutes} minutes",
            retry_after_seconds=int(window.total_seconds()),
        )


def authenticate(session: Session, *, username: str, password: str, ip: str | None = None) -> User:
    """Check a username and password; records the attempt. Raises Unauthorized or TooManyRequests.

    The attempt row and audit event are part of the caller's transaction, which the caller commits
    even when this raises (a failed login must still count against the limit).
    """
    username = username.strip()
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
    # Write the last-seen time at most once a minute, not on every request.
    if now - record.last_seen_at > timedelta(minutes=1):
        record.last_seen_at = now
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
        record.last_used_at = now
    return record.user


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))
