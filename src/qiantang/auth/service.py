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
from qiantang.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from qiantang.errors import RowError as FieldError
from qiantang.registry.models import Area, Institution

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class SessionExpired(Unauthorized):
    pass


class PasswordChangeRequired(Forbidden):
    """The user logged in with a temporary password and must choose their own first."""

    def __init__(self) -> None:
        super().__init__(
            "请先修改管理员为您重置的临时密码",
            message_en="Please change the temporary password an administrator set for you first",
        )


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


def create_api_token(session: Session, *, user: User, name: str, days: int | None = None) -> str:
    """Issue a bearer token; only its digest is stored, so it is shown once.

    ``days`` defaults to ``QIANTANG_TOKEN_DAYS`` (90); 0 means no expiry.
    """
    token = "qt_" + secrets.token_urlsafe(32)
    days = get_settings().token_days if days is None else days
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


# --- account lifecycle ---------------------------------------------------------------------------
def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在", message_en=f"No user {user_id}")
    return user


def _end_sessions(session: Session, *, user: User, keep_session_id: int | None = None) -> int:
    now = utcnow()
    live = session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ).all()
    ended = 0
    for record in live:
        if record.id != keep_session_id:
            record.ended_at = now
            ended += 1
    return ended


def _revoke_tokens(session: Session, *, user: User) -> int:
    now = utcnow()
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        token.revoked_at = now
    return len(live)


def _active_admins(session: Session) -> int:
    return (
        session.scalar(select(func.count()).where(User.role == Role.CITY_ADMIN, User.is_active.is_(True)))
        or 0
    )


def _record_user(session: Session, action: str, *, user: User, actor, ip: str | None, **detail) -> None:
    """One audit event about an account: who did it, to whom, from where."""
    audit.record(
        session,
        action=action,
        user=actor,
        object_type="user",
        object_id=user.id,
        detail={"username": user.username, **detail},
        ip=ip,
    )


def disable_user(session: Session, *, user: User, actor=None, ip: str | None = None) -> None:
    """Disable an account: its browser sessions end and its API tokens are revoked at once."""
    if actor is not None and actor.id == user.id:
        raise Conflict("不能停用自己的账号", message_en="You cannot disable your own account")
    if user.role == Role.CITY_ADMIN and user.is_active and _active_admins(session) <= 1:
        raise Conflict(
            "这是最后一个启用的市级管理员账号，不能停用",
            message_en="This is the last active city administrator; it cannot be disabled",
        )
    user.is_active = False
    sessions = _end_sessions(session, user=user)
    tokens = _revoke_tokens(session, user=user)
    _record_user(
        session, "user_disable", user=user, actor=actor, ip=ip, sessions_ended=sessions, tokens_revoked=tokens
    )


def enable_user(session: Session, *, user: User, actor=None, ip: str | None = None) -> None:
    """Re-enable an account. Ended sessions and revoked tokens stay ended: the user logs in afresh."""
    user.is_active = True
    _record_user(session, "user_enable", user=user, actor=actor, ip=ip)


def temporary_password() -> str:
    """12 characters without look-alikes (0/O, 1/l/I), to read out over the phone."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def reset_password(session: Session, *, user: User, actor=None, ip: str | None = None) -> str:
    """Set a one-time temporary password (returned once) that must be changed at the next login.

    The user's browser sessions end; API tokens are left alone (disable the account to stop them).
    """
    if actor is not None and actor.id == user.id:
        raise Conflict(
            "请在“我的账号”中修改自己的密码", message_en="Change your own password under My account"
        )
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    ended = _end_sessions(session, user=user)
    _record_user(session, "password_reset", user=user, actor=actor, ip=ip, sessions_ended=ended)
    return password


def change_password(
    session: Session,
    *,
    user: User,
    old_password: str,
    new_password: str,
    keep_session_id: int | None = None,
    ip: str | None = None,
) -> None:
    """Change one's own password, proving the old one; the user's other sessions end."""
    errors: list[FieldError] = []
    if not verify_password(user.password_hash, old_password):
        errors.append(FieldError(None, "old_password", "原密码不正确"))
    if len(new_password) < MIN_PASSWORD_LENGTH:
        errors.append(FieldError(None, "new_password", f"新密码至少 {MIN_PASSWORD_LENGTH} 位"))
    elif new_password == old_password:
        errors.append(FieldError(None, "new_password", "新密码不能与原密码相同"))
    if errors:
        _record_user(session, "password_change", user=user, actor=user, ip=ip, ok=False)
        raise ValidationFailed("密码未修改", errors)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    ended = _end_sessions(session, user=user, keep_session_id=keep_session_id)
    _record_user(session, "password_change", user=user, actor=user, ip=ip, ok=True, sessions_ended=ended)


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    """API tokens, newest first; one user's when ``user_id`` is given."""
    stmt = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return list(session.scalars(stmt).all())


def token_state(token: ApiToken) -> str:
    """ "active", "revoked" or "expired"."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and utcnow() >= token.expires_at:
        return "expired"
    return "active"


def revoke_token(
    session: Session, *, token_id: int, actor=None, owner_id: int | None = None, ip: str | None = None
) -> ApiToken:
    """Revoke one token. With ``owner_id`` only that user's token may be revoked (self-service)."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner_id is not None and token.user_id != owner_id):
        raise NotFound(f"API 令牌 {token_id} 不存在", message_en=f"No API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            action="token_revoke",
            user=actor,
            object_type="api_token",
            object_id=token.id,
            detail={"name": token.name, "owner": token.user.username},
            ip=ip,
        )
    return token
