"""Bad input gets a clear message or status; never a stack trace; nothing changes."""

from __future__ import annotations

from sqlalchemy import func, select

from qiantang.auth.models import User


def test_malformed_json_is_a_clear_422_and_nothing_is_written(clients, db):
    before = db.scalar(select(func.count()).select_from(User))
    c = clients.as_user("admin")
    r = c.post("/api/v1/users", content=b'{"username": "x", ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["message"] == "请求体不是合法的 JSON"
    r = c.post("/api/v1/users", json={"username": "x"})
    assert r.status_code == 422
    assert {e["column"] for e in r.json()["error"]["errors"]} == {"password", "role"}
    r = c.post("/api/v1/users", json={"username": "x", "password": "short", "role": "district_officer"})
    assert r.status_code == 422
    assert {e["column"] for e in r.json()["error"]["errors"]} == {"password", "district_code"}
    assert db.scalar(select(func.count()).select_from(User)) == before


def test_valid_user_creation_through_the_api(clients, db):
    c = clients.as_user("admin")
    r = c.post(
        "/api/v1/users",
        json={"username": "new-analyst", "password": "long-enough-pw", "role": "city_analyst"},
    )
    assert r.status_code == 201 and r.json()["username"] == "new-analyst"
    assert "password" not in r.text


def test_unknown_page_is_a_friendly_404(clients):
    r = clients.as_user("admin").get("/no/such/page")
    assert r.status_code == 404
    assert "页面或记录不存在" in r.text and "<html" in r.text


def test_unexpected_error_shows_an_incident_not_a_trace(app, clients):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    c = clients.as_user("admin")
    r = c.get("/boom")
    assert r.status_code == 500
    assert "事件编号" in r.text
    assert "secret internals" not in r.text and "Traceback" not in r.text
    r = c.get("/boom", headers={"accept": "application/json"})
    assert r.json()["error"]["incident"]


def test_security_headers(client):
    r = client.get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "unsafe-inline" not in r.headers["content-security-policy"].split("style-src")[0]


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/institutions" in spec["paths"]
    docs = client.get("/api/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
