"""The login form, sessions, logout and the language switch, through HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from qiantang.auth.models import LoginAttempt, UserSession
from qiantang.config import get_settings
from qiantang.db import utcnow
from qiantang.demo import DEMO_USERS
from qiantang.web.deps import SESSION_COOKIE
from tests.helpers import login_form_token, page_csrf_token

PASSWORDS = {u.username: u.password for u in DEMO_USERS}


def login(client, username, password, next="/"):
    token = login_form_token(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": token, "next": next},
        follow_redirects=False,
    )


def test_every_demo_login_works(client):
    for user in DEMO_USERS:
        client.cookies.clear()
        r = login(client, user.username, user.password)
        assert r.status_code == 303, (user.username, r.text[:200])
        page = client.get("/")
        assert page.status_code == 200
        assert user.role.zh in page.text


def test_anonymous_page_redirects_to_login_and_back(client):
    r = client.get("/institutions?district=330106", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/institutions")
    r = login(client, "admin", PASSWORDS["admin"], next="/institutions?district=330106")
    assert r.headers["location"] == "/institutions?district=330106"


def test_open_redirect_is_refused(client):
    r = login(client, "admin", PASSWORDS["admin"], next="https://evil.example/")
    assert r.headers["location"] == "/"


def test_wrong_password_message_and_no_session(client, db):
    before = db.scalar(select(func.count()).select_from(UserSession))
    r = login(client, "admin", "definitely-wrong")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text
    assert "Traceback" not in r.text
    assert db.scalar(select(func.count()).select_from(UserSession)) == before
    # The failed attempt was kept although the request "failed".
    assert (
        db.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.success.is_(False))) >= 1
    )


def test_login_without_form_token_is_refused(client):
    client.get("/login")
    r = client.post(
        "/login", data={"username": "admin", "password": PASSWORDS["admin"]}, follow_redirects=False
    )
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.cookies


def test_repeated_failures_make_the_account_wait_with_a_clear_message(client):
    for _ in range(get_settings().login_free_failures):
        assert login(client, "analyst", "nope-nope").status_code == 401
    r = login(client, "analyst", PASSWORDS["analyst"])
    assert r.status_code == 429
    assert "秒后再试" in r.text


def test_expired_session_goes_back_to_login_with_a_message(client, db):
    assert login(client, "admin", PASSWORDS["admin"]).status_code == 303
    record = db.scalars(select(UserSession).order_by(UserSession.id.desc())).first()
    record.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    api = client.get("/api/v1/me")
    assert api.status_code == 401
    assert api.json()["error"]["message"] == "会话已过期，请重新登录"
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "会话已过期" in page.text


def test_logout_ends_the_session(client):
    login(client, "admin", PASSWORDS["admin"])
    page = client.get("/")
    csrf = page_csrf_token(page.text)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_is_refused(clients):
    c = clients.as_user("admin")
    del c.headers["X-CSRF-Token"]
    r = c.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert "CSRF" in r.text


def test_cookie_flags(client):
    r = login(client, "admin", PASSWORDS["admin"])
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_language_switch(clients):
    c = clients.as_user("admin")
    assert "概览" in c.get("/").text
    r = c.get("/lang/en?next=/institutions", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/institutions"
    c.cookies.set("lang", "en")
    page = c.get("/")
    assert "Overview" in page.text and 'lang="en"' in page.text
    assert c.get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"] == "/"
