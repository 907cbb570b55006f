"""Account lifecycle: disable/enable, password reset and change, token lifetime and revocation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from qiantang.audit.models import AuditEvent
from qiantang.auth import service
from qiantang.auth.models import ApiToken, Role
from qiantang.auth.service import SessionExpired
from qiantang.db import utcnow
from qiantang.errors import Conflict, NotFound, Unauthorized, ValidationFailed


def _user(db, username="lc_user", role=Role.CITY_ANALYST):
    return service.create_user(db, username=username, password="correct-horse-1", role=role)


def _actions(db, user) -> list[str]:
    return list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id))
            .order_by(AuditEvent.seq)
        )
    )


def test_new_tokens_last_90_days_by_default(db, monkeypatch):
    user = _user(db)
    service.create_api_token(db, user=user, name="sync")
    token = db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert abs((token.expires_at - utcnow()) - timedelta(days=90)) < timedelta(minutes=1)
    from qiantang.config import get_settings

    monkeypatch.setenv("QIANTANG_TOKEN_DAYS", "7")
    get_settings.cache_clear()
    try:
        service.create_api_token(db, user=user, name="short")
        short = db.scalars(select(ApiToken).where(ApiToken.name == "short")).one()
        assert (short.expires_at - utcnow()) < timedelta(days=7, minutes=1)
    finally:
        monkeypatch.delenv("QIANTANG_TOKEN_DAYS")
        get_settings.cache_clear()


def test_disabling_ends_sessions_and_tokens_at_once(db):
    user = _user(db)
    browser = service.start_session(db, user=user)
    token = service.create_api_token(db, user=user, name="sync")
    service.disable_user(db, user=user)
    with pytest.raises(SessionExpired):
        service.resolve_session(db, browser.token)
    with pytest.raises(Unauthorized):
        service.resolve_api_token(db, token)
    # Re-enabling does not bring the old session or token back.
    service.enable_user(db, user=user)
    assert browser.record.ended_at is not None
    with pytest.raises(Unauthorized):
        service.resolve_api_token(db, token)
    assert _actions(db, user) == ["create", "user_disable", "user_enable"]


def test_the_last_city_admin_cannot_be_disabled(db):
    admins = db.scalars(select(service.User).where(service.User.role == Role.CITY_ADMIN)).all()
    for extra in admins[1:]:
        extra.is_active = False
    with pytest.raises(Conflict):
        service.disable_user(db, user=admins[0])


def test_reset_password_gives_a_one_time_password_that_must_be_changed(db):
    user = _user(db)
    old_session = service.start_session(db, user=user)
    temporary = service.reset_password(db, user=user)
    assert user.must_change_password and len(temporary) == 12
    assert old_session.record.ended_at is not None
    assert service.authenticate(db, username=user.username, password=temporary) is user
    with pytest.raises(ValidationFailed) as info:
        service.change_password(db, user=user, old_password="wrong-one-123", new_password="my-own-password")
    assert "原密码不正确" in [e.message for e in info.value.errors]
    service.change_password(db, user=user, old_password=temporary, new_password="my-own-password")
    assert not user.must_change_password
    with pytest.raises(Unauthorized):
        service.authenticate(db, username=user.username, password=temporary)
    assert "password_reset" in _actions(db, user) and "password_change" in _actions(db, user)


def test_an_admin_changes_their_own_password_under_my_account(db):
    admin = _user(db, "lc_admin", Role.CITY_ADMIN)
    with pytest.raises(Conflict):
        service.reset_password(db, user=admin, actor=admin)
    with pytest.raises(Conflict):
        service.disable_user(db, user=admin, actor=admin)


def test_revoke_token_and_owner_check(db):
    owner, other = _user(db, "lc_owner"), _user(db, "lc_other")
    token = service.create_api_token(db, user=owner, name="sync")
    row = db.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)).one()
    with pytest.raises(NotFound):
        service.revoke_token(db, token_id=row.id, owner_id=other.id)
    service.revoke_token(db, token_id=row.id, owner_id=owner.id, actor=owner)
    assert service.token_state(row) == "revoked"
    with pytest.raises(Unauthorized):
        service.resolve_api_token(db, token)
    assert (
        db.scalar(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "api_token")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
        == "token_revoke"
    )


def test_admin_pages_disable_reset_and_revoke(db, clients):
    user = _user(db)
    token = service.create_api_token(db, user=user, name="sync")
    victim = clients.as_user(user.username)
    assert victim.get("/account").status_code == 200
    admin = clients.as_user("admin")
    page = admin.get("/users")
    assert page.status_code == 200 and "lc_user" in page.text and "sync" in page.text
    r = admin.post(f"/users/{user.id}/disable")
    assert r.status_code == 200 and "lc_user 已停用" in r.text
    assert victim.get("/account", follow_redirects=False).status_code == 303  # back to the login page
    bare = TestClient(clients.app)
    assert bare.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    admin.post(f"/users/{user.id}/enable")
    r = admin.post(f"/users/{user.id}/reset-password")
    assert r.status_code == 200
    temporary = re.search(r'data-testid="temporary-password">.*?<code>([^<]+)</code>', r.text, re.S).group(1)
    db.expire_all()
    assert service.authenticate(db, username=user.username, password=temporary) is not None
    # With the temporary password every page leads to "my account" until the password is changed.
    fresh = clients.as_user(user.username)
    r = fresh.get("/institutions", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account")
    assert "请先修改" in fresh.get("/api/v1/me").json()["error"]["message"]
    r = fresh.post(
        "/account/password",
        data={
            "old_password": temporary,
            "new_password": "my-own-password",
            "new_password2": "my-own-password",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert fresh.get("/institutions").status_code == 200


def test_admin_api_lifecycle(db, clients):
    user = _user(db)
    token = service.create_api_token(db, user=user, name="sync")
    admin = clients.as_user("admin")
    assert admin.post(f"/api/v1/users/{user.id}/disable").json()["is_active"] is False
    listed = admin.get("/api/v1/tokens", params={"user_id": user.id}).json()
    assert [t["state"] for t in listed] == ["revoked"]
    assert admin.post(f"/api/v1/users/{user.id}/enable").json()["is_active"] is True
    body = admin.post(f"/api/v1/users/{user.id}/reset-password").json()
    assert body["username"] == user.username and len(body["temporary_password"]) == 12
    new = service.create_api_token(db, user=user, name="again")
    new_id = db.scalars(select(ApiToken.id).where(ApiToken.name == "again")).one()
    assert admin.delete(f"/api/v1/tokens/{new_id}").json()["state"] == "revoked"
    assert token != new
    analyst = clients.as_user("analyst")
    assert analyst.post(f"/api/v1/users/{user.id}/disable").status_code == 403


def test_cli_lifecycle(snapshot_copy):
    from qiantang.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["users", "token", "analyst", "--name", "cli-sync"])
    assert out.exit_code == 0, out.output
    listed = runner.invoke(app, ["users", "tokens", "analyst"])
    assert "cli-sync" in listed.output and "有效" in listed.output
    assert runner.invoke(app, ["users", "disable", "analyst"]).exit_code == 0
    assert "已吊销" in runner.invoke(app, ["users", "tokens", "analyst"]).output
    assert runner.invoke(app, ["users", "enable", "analyst"]).exit_code == 0
    reset = runner.invoke(app, ["users", "reset-password", "analyst"])
    assert reset.exit_code == 0 and "临时密码" in reset.output
    assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 1
    assert runner.invoke(app, ["users", "revoke-token", "99999"]).exit_code == 1
    from qiantang.db import session_scope

    with session_scope() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"user_disable", "user_enable", "password_reset", "token_create"} <= actions
