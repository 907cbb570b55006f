"""Passwords, logins, rate limiting, sessions and API tokens (service layer, no HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.auth import service
from qiantang.auth.models import LoginAttempt, Role, User
from qiantang.config import get_settings
from qiantang.db import utcnow
from qiantang.errors import TooManyRequests, Unauthorized, ValidationFailed
from qiantang.registry.models import Institution


def make_user(db, username="tester", role=Role.CITY_ANALYST, **kw) -> User:
    return service.create_user(db, username=username, password="correct-horse-1", role=role, **kw)


def test_password_hash_is_argon2_and_verifies():
    h = service.hash_password("s3cret-password")
    assert h.startswith("$argon2")
    assert service.verify_password(h, "s3cret-password")
    assert not service.verify_password(h, "s3cret-passwore")
    assert not service.verify_password("not a hash", "x")


def test_authenticate_success_records_attempt_and_audit(db):
    user = make_user(db)
    assert service.authenticate(db, username="tester", password="correct-horse-1", ip="10.0.0.1") is user
    attempt = db.scalars(select(LoginAttempt).where(LoginAttempt.username == "tester")).one()
    assert attempt.success
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.username == "tester")) == "login"
    assert user.last_login_at is not None


@pytest.mark.parametrize("username,password", [("tester", "wrong-password"), ("nobody", "correct-horse-1")])
def test_wrong_credentials_give_one_message(db, username, password):
    make_user(db)
    with pytest.raises(Unauthorized) as info:
        service.authenticate(db, username=username, password=password)
    assert info.value.message == "用户名或密码错误"  # the same whether the user exists or not


def test_inactive_user_cannot_log_in(db):
    user = make_user(db)
    user.is_active = False
    with pytest.raises(Unauthorized):
        service.authenticate(db, username="tester", password="correct-horse-1")


def test_failures_make_the_account_wait_a_growing_delay_not_a_lockout(db):
    make_user(db)
    free = get_settings().login_free_failures
    for _ in range(free):
        with pytest.raises(Unauthorized):
            service.authenticate(db, username="tester", password="nope-nope-nope")
    with pytest.raises(TooManyRequests) as info:
        service.authenticate(db, username="tester", password="correct-horse-1")
    assert "秒后再试" in info.value.message
    first_wait = info.value.retry_after_seconds
    assert 0 < first_wait <= get_settings().login_delay_seconds + 1
    # Once the delay has passed the right password works again: nobody can lock an account for good.
    for attempt in db.scalars(select(LoginAttempt).where(LoginAttempt.username == "tester")):
        attempt.at -= timedelta(seconds=first_wait + 1)
    db.flush()
    assert service.authenticate(db, username="tester", password="correct-horse-1")
    # Another user is not affected.
    make_user(db, username="other")
    assert service.authenticate(db, username="other", password="correct-horse-1")


def test_delay_doubles_and_is_capped():
    settings = get_settings()
    free, base, cap = (
        settings.login_free_failures,
        settings.login_delay_seconds,
        settings.login_delay_max_seconds,
    )
    assert service.login_delay(free - 1) == 0
    assert service.login_delay(free) == base
    assert service.login_delay(free + 1) == 2 * base
    assert service.login_delay(free + 100) == cap


def test_per_address_limit(db, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_max_failures_per_ip", 4)
    for i in range(4):
        with pytest.raises(Unauthorized):
            service.authenticate(db, username=f"guess{i}", password="x", ip="203.0.113.9")
    with pytest.raises(TooManyRequests, match="此网络地址"):
        service.authenticate(db, username="guess-new", password="x", ip="203.0.113.9")
    with pytest.raises(Unauthorized):  # another address is not affected
        service.authenticate(db, username="guess-new", password="x", ip="203.0.113.10")


def test_old_failures_outside_the_window_do_not_count(db):
    make_user(db)
    old = utcnow() - timedelta(minutes=get_settings().login_window_minutes + 1)
    for _ in range(10):
        db.add(LoginAttempt(username="tester", ip=None, success=False, at=old))
    db.flush()
    assert service.authenticate(db, username="tester", password="correct-horse-1")


def test_session_lifecycle_and_expiry(db):
    user = make_user(db)
    new = service.start_session(db, user=user, ip="1.2.3.4")
    assert len(new.token) >= 40
    assert new.record.token_hash != new.token  # only the digest is stored
    assert service.resolve_session(db, new.token).user_id == user.id
    # Idle too long.
    new.record.last_seen_at = utcnow() - timedelta(minutes=get_settings().session_idle_minutes + 1)
    with pytest.raises(service.SessionExpired) as info:
        service.resolve_session(db, new.token)
    assert "过期" in info.value.message
    # Absolute expiry.
    fresh = service.start_session(db, user=user)
    fresh.record.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(service.SessionExpired):
        service.resolve_session(db, fresh.token)
    # Logout ends it.
    third = service.start_session(db, user=user)
    service.end_session(db, third.token)
    with pytest.raises(service.SessionExpired):
        service.resolve_session(db, third.token)
    with pytest.raises(service.SessionExpired):
        service.resolve_session(db, "forged-token")


def test_api_tokens(db):
    user = make_user(db)
    token = service.create_api_token(db, user=user, name="sync", days=30)
    assert service.resolve_api_token(db, token) is user
    with pytest.raises(Unauthorized):
        service.resolve_api_token(db, token + "x")
    audited = db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "token_create")
    )
    assert audited >= 1
    expired = service.create_api_token(db, user=user, name="old", days=1)
    from qiantang.auth.models import ApiToken

    row = db.scalars(select(ApiToken).where(ApiToken.name == "old")).one()
    row.expires_at = utcnow() - timedelta(days=1)
    with pytest.raises(Unauthorized):
        service.resolve_api_token(db, expired)


def test_new_user_validation_lists_every_problem(db):
    with pytest.raises(ValidationFailed) as info:
        service.create_user(db, username="bad name!", password="short", role=Role.DISTRICT_OFFICER)
    columns = {e.column for e in info.value.errors}
    assert columns == {"username", "password", "district_code"}
    assert all(e.message for e in info.value.errors)


def test_district_officer_needs_a_current_district(db):
    with pytest.raises(ValidationFailed) as info:
        make_user(db, role=Role.DISTRICT_OFFICER, district_code="330103")  # 下城区, abolished 2021
    assert info.value.errors[0].column == "district_code"
    assert make_user(db, role=Role.DISTRICT_OFFICER, district_code="330105").district_code == "330105"


def test_reporter_needs_an_institution_and_others_must_not_have_one(db):
    with pytest.raises(ValidationFailed):
        make_user(db, role=Role.INSTITUTION_REPORTER)
    inst_id = db.scalar(select(Institution.id).limit(1))
    with pytest.raises(ValidationFailed):
        make_user(db, role=Role.CITY_ANALYST, institution_id=inst_id)
    assert make_user(db, role=Role.INSTITUTION_REPORTER, institution_id=inst_id).institution_id == inst_id


def test_duplicate_username_rejected(db):
    make_user(db)
    with pytest.raises(ValidationFailed) as info:
        make_user(db)
    assert "已存在" in info.value.errors[0].message
