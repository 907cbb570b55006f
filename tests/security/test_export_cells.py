"""Issue 12 items 4 and 5: every text cell of every export is text, and control characters never break one."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from qiantang.exports import build_xlsx
from qiantang.registry.models import Institution
from tests.helpers import login_form_token

PAYLOADS = ['=HYPERLINK("http://x.invalid/a","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _cells(content: bytes):
    ws = load_workbook(io.BytesIO(content)).active
    return [cell for row in ws.iter_rows() for cell in row]


def test_formula_looking_text_is_written_as_text():
    content = build_xlsx(sheet_title="t", headers=["=h"], rows=[[p] for p in PAYLOADS], notes=["=note"])
    cells = [c for c in _cells(content) if c.value is not None]
    # XML reads a carriage return back as a line feed.
    assert {c.value for c in cells} >= {p.replace("\r", "\n") for p in PAYLOADS} | {"=h", "=note"}
    assert all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]


def test_control_characters_are_dropped_not_fatal():
    content = build_xlsx(sheet_title="t", headers=["名称"], rows=[["坏\x07名\x00称\x1b"], ["好\t名\n称"]])
    values = [c.value for c in _cells(content)]
    assert values == ["名称", "坏名称", "好\t名\n称"]


def test_audit_export_keeps_an_attackers_username_as_text(client, clients):
    page = client.get("/login")
    client.post(
        "/login",
        data={"username": PAYLOADS[0], "password": "x", "login_csrf": login_form_token(page.text)},
        headers={"X-Forwarded-For": "=1+1"},
    )
    r = clients.as_user("auditor").get("/audit/export")
    assert r.status_code == 200
    cells = _cells(r.content)
    hits = [c for c in cells if c.value == PAYLOADS[0]]
    assert hits, "the failed login is in the export"
    assert all(c.data_type == "s" for c in cells if isinstance(c.value, str))
    assert not any(c.value == "=1+1" for c in cells), "a forged X-Forwarded-For is not the audit IP"


def test_institution_with_a_control_character_still_exports(db, clients):
    inst = db.scalars(select(Institution).order_by(Institution.id)).first()
    inst.name = "铃声\x07机构"  # as stored before input was checked
    db.commit()
    c = clients.as_user("admin")
    for url in ("/institutions/export", "/filings/export"):
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "铃声机构" in [c.value for c in _cells(c.get("/institutions/export").content)]


def test_control_characters_are_refused_on_input(clients):
    c = clients.as_user("admin")
    r = c.get("/api/v1/institutions", params={"limit": 1})
    body = r.json()
    item = (body.get("items") or body)[0] if isinstance(body, dict) else body[0]
    r = c.patch(f"/api/v1/institutions/{item['id']}", json={"name": "铃声\u0007机构"})
    assert r.status_code == 422, r.text
    assert "控制字符" in r.json()["error"]["message"]
    form = c.post("/institutions/new", data={"name": "坏\x07名", "uscc": "x"})
    assert form.status_code == 422
    assert "控制字符" in form.text


def test_attachment_names_lose_bidirectional_controls():
    """Item 14: U+202E made ``‮txt.exe`` read as ``exe.txt``; the stored name is what it really is."""
    from qiantang.cases.service import sanitize_filename

    assert sanitize_filename("报告\u202etxt.exe") == "报告txt.exe"
    assert sanitize_filename("\u2066a\u2069.pdf\u200f") == "a.pdf"
