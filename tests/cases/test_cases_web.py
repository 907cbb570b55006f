"""The case pages and API for each role: the board, the table and its export, a case with its
actions, plain form posts and htmx, attachments, and the 403s."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from qiantang.audit.models import AuditEvent
from qiantang.cases import service
from qiantang.cases.models import CaseState, Owner
from qiantang.earlywarning.models import Level
from tests.cases.conftest import BINJIANG, TODAY, XIHU
from tests.helpers import page_csrf_token

VIEWERS = ("admin", "analyst", "xihu", "binjiang", "auditor")
MINE = quote("测试预警")  # in the titles of this file's cases only


@pytest.fixture
def cases(db, make_alert):
    """A red and a yellow case in Xihu, an orange one in Binjiang (committed for the app's requests)."""
    made = {
        "xihu_red": service.open_case(db, alert=make_alert(XIHU, Level.RED), today=TODAY),
        "xihu_yellow": service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY),
        "binjiang_orange": service.open_case(db, alert=make_alert(BINJIANG, Level.ORANGE), today=TODAY),
    }
    db.commit()
    return made


def card_ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-case="(\d+)"', html)}


# --- the board and the table ---------------------------------------------------------------------


@pytest.mark.parametrize("who", VIEWERS)
def test_board_and_table_render_for_each_role(clients, cases, who):
    c = clients.as_user(who)
    board = c.get(f"/cases?q={MINE}")  # the demo city may hold cases of its own
    assert board.status_code == 200, board.text
    assert 'data-testid="case-board"' in board.text
    table = c.get(f"/cases?view=table&q={MINE}")
    assert table.status_code == 200 and 'data-testid="cases"' in table.text
    expected = {
        "admin": {"xihu_red", "xihu_yellow", "binjiang_orange"},
        "analyst": {"xihu_red", "xihu_yellow", "binjiang_orange"},
        "auditor": {"xihu_red", "xihu_yellow", "binjiang_orange"},
        "xihu": {"xihu_yellow"},
        "binjiang": {"binjiang_orange"},
    }[who]
    ids = {k: v.id for k, v in cases.items()}
    for html in (board.text, table.text):
        seen = card_ids(html) & set(ids.values())
        assert seen == {ids[k] for k in expected}
    # Cards are coloured by level.
    if who == "admin":
        assert f'class="case-card red" href="/cases/{ids["xihu_red"]}"' in board.text
        assert f'class="case-card orange" href="/cases/{ids["binjiang_orange"]}"' in board.text


def test_board_filters_and_counts(clients, cases):
    c = clients.as_user("admin")
    red = c.get(f"/cases?level=red&view=table&q={MINE}")
    assert cases["xihu_red"].id in card_ids(red.text) and cases["xihu_yellow"].id not in card_ids(red.text)
    binjiang = c.get(f"/cases?district={BINJIANG}&q={MINE}")
    assert card_ids(binjiang.text) & {x.id for x in cases.values()} == {cases["binjiang_orange"].id}
    board = c.get("/cases?state=pending&level=&overdue=&q=")  # empty parameters are ignored
    assert board.status_code == 200 and 'data-state="pending"' in board.text
    assert 'data-state="closed"' not in board.text.split('data-testid="case-board"')[1]
    counts = c.get(f"/cases?district={XIHU}").text
    assert re.search(r'data-count="red">(\d+)<', counts).group(1) != "0"
    # An officer asking for another district through the filter gets nothing of it.
    xihu = clients.as_user("xihu").get(f"/cases?district={BINJIANG}&view=table")
    assert card_ids(xihu.text) & {x.id for x in cases.values()} == set()


def test_reporter_gets_403_everywhere(clients, cases):
    c = clients.as_user("reporter")
    case_id = cases["xihu_yellow"].id
    assert c.get("/cases").status_code == 403
    assert c.get(f"/cases/{case_id}").status_code == 403
    assert c.get("/api/v1/cases").status_code == 403
    assert c.get(f"/api/v1/cases/{case_id}").status_code == 403
    r = c.post(f"/api/v1/cases/{case_id}/transitions", json={"to_state": "verifying"})
    assert r.status_code == 403
    assert c.get("/cases/export").status_code == 403


def test_excel_export_is_scoped_and_audited(clients, cases, db):
    r = clients.as_user("xihu").get("/cases/export")
    assert r.status_code == 200
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [row for row in ws.iter_rows(values_only=True)]
    ids = {row[0] for row in values if isinstance(row[0], int)}
    assert cases["xihu_yellow"].id in ids
    assert cases["xihu_red"].id not in ids and cases["binjiang_orange"].id not in ids
    assert db.scalar(
        select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.object_type == "cases")
    )


# --- a case page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", VIEWERS)
def test_case_page_for_each_role(clients, cases, who):
    c = clients.as_user(who)
    yellow, red, orange = cases["xihu_yellow"], cases["xihu_red"], cases["binjiang_orange"]
    visible = {
        "admin": {yellow, red, orange},
        "analyst": {yellow, red, orange},
        "auditor": {yellow, red, orange},
        "xihu": {yellow},
        "binjiang": {orange},
    }[who]
    for case in (yellow, red, orange):
        r = c.get(f"/cases/{case.id}")
        if case not in visible:
            assert r.status_code == 403, (who, case.id)
            continue
        assert r.status_code == 200, r.text
        html = r.text
        assert 'data-testid="evidence"' in html and "单户贷款余额占资本净额 12.5%" in html
        assert f'href="/institutions/{case.institution_id}"' in html
        assert f'href="/early-warning/institutions/{case.institution_id}"' in html
        assert 'data-testid="timeline"' in html and 'data-action="create"' in html
        if who == "auditor":
            assert 'data-testid="read-only"' in html and "data-transition=" not in html
        else:
            assert 'data-transition="verifying"' in html and 'data-transition="false_positive"' in html
            assert 'data-action="comment"' in html and 'data-action="attach"' in html
            assert 'name="csrf_token"' in html
        # Only city staff are offered sharing, and only for city cases.
        assert ('data-action="share"' in html) == (who in ("admin", "analyst") and case is red)


def test_case_page_in_english(clients, cases):
    c = clients.as_user("admin")
    c.cookies.set("lang", "en")
    html = c.get(f"/cases/{cases['xihu_red'].id}").text
    assert "Largest single borrower 12.5%" in html and "To verify" in html


def test_escalated_and_overdue_badges(clients, cases, db):
    case = cases["xihu_yellow"]
    case.due_on = date(2020, 1, 1)  # overdue by the real date the page uses
    service.escalate_overdue(db, today=TODAY)
    db.commit()
    page = clients.as_user("xihu").get(f"/cases/{case.id}").text
    assert 'data-flag="escalated"' in page and 'data-flag="overdue"' in page
    assert 'data-action="escalate"' in page and 'data-testid="read-only"' in page
    board = clients.as_user("admin").get(f"/cases?escalated=1&view=table&q={MINE}").text
    assert case.id in card_ids(board)


# --- acting through the pages ---------------------------------------------------------------------


def test_plain_form_posts_take_a_case_through_its_states(clients, cases, db):
    c = clients.as_user("xihu")
    case = cases["xihu_yellow"]
    token = page_csrf_token(c.get(f"/cases/{case.id}").text)
    del c.headers["X-CSRF-Token"]  # a plain form: the token travels as a field
    steps = [
        ("transition", {"to_state": "verifying", "comment": "开始核查"}),
        ("comment", {"comment": "已约谈"}),
        ("transition", {"to_state": "rectifying", "comment": "限期整改"}),
        ("transition", {"to_state": "closed", "resolution": "整改完成"}),
    ]
    for path, data in steps:
        r = c.post(f"/cases/{case.id}/{path}", data={**data, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith(f"/cases/{case.id}")
    db.refresh(case)
    assert case.state == CaseState.CLOSED and case.resolution == "整改完成"
    # Without the token the form is refused.
    r = c.post(f"/cases/{case.id}/comment", data={"comment": "x"}, follow_redirects=False)
    assert r.status_code == 403
    # The audit log names the case actions in Chinese.
    log = clients.as_user("auditor").get("/audit?action=case_transition")
    assert log.status_code == 200 and "案件流转" in log.text and ">case_transition<" not in log.text


def test_a_refused_move_shows_the_form_again_with_the_reason(clients, cases, db):
    c = clients.as_user("xihu")
    case = cases["xihu_yellow"]
    r = c.post(f"/cases/{case.id}/transition", data={"to_state": "false_positive", "resolution": ""})
    assert r.status_code == 422 and 'data-testid="case-error"' in r.text
    r = c.post(f"/cases/{case.id}/transition", data={"to_state": "closed", "resolution": "x"})
    assert r.status_code == 409 and 'data-testid="case-error"' in r.text
    # htmx gets 200 so that the panel with the message is swapped in.
    r = c.post(
        f"/cases/{case.id}/transition",
        data={"to_state": "false_positive"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and 'data-testid="case-error"' in r.text and 'id="case"' in r.text
    r = c.post(
        f"/cases/{case.id}/transition",
        data={"to_state": "false_positive", "resolution": "数据录入错误"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and 'data-state="false_positive"' in r.text
    db.refresh(case)
    assert case.state == CaseState.FALSE_POSITIVE


def test_form_posts_are_refused_outside_the_users_rights(clients, cases, db):
    xihu = clients.as_user("xihu")
    for case in (cases["binjiang_orange"], cases["xihu_red"]):
        r = xihu.post(f"/cases/{case.id}/transition", data={"to_state": "verifying"})
        assert r.status_code == 403
        r = xihu.post(f"/cases/{case.id}/attachments", files={"file": ("a.txt", b"x", "text/plain")})
        assert r.status_code == 403
    auditor = clients.as_user("auditor")
    assert auditor.post(f"/cases/{cases['xihu_yellow'].id}/comment", data={"comment": "x"}).status_code == 403
    assert xihu.post(f"/cases/{cases['xihu_red'].id}/share", data={}).status_code == 403
    assert {c.state for c in cases.values()} == {CaseState.PENDING}


# --- the API ---------------------------------------------------------------------------------------


def test_api_list_and_detail_are_scoped(clients, cases):
    admin = clients.as_user("admin").get("/api/v1/cases?limit=1000").json()
    ids = {x.id for x in cases.values()}
    assert {i["id"] for i in admin["items"]} >= ids
    xihu = clients.as_user("xihu").get("/api/v1/cases?limit=1000").json()
    assert {i["id"] for i in xihu["items"]} & ids == {cases["xihu_yellow"].id}
    assert all(i["district_code"] == XIHU for i in xihu["items"])
    red_only = clients.as_user("admin").get("/api/v1/cases?level=red&limit=1000").json()
    assert {i["level"] for i in red_only["items"]} == {"red"}
    detail = clients.as_user("xihu").get(f"/api/v1/cases/{cases['xihu_yellow'].id}").json()
    assert detail["owner"] == "district" and detail["can_act"] is True
    assert detail["allowed_transitions"] == ["verifying", "false_positive"]
    assert detail["alert"]["evidence"][0]["message_zh"].startswith("单户贷款")
    assert [e["action"] for e in detail["events"]] == ["create"]
    assert clients.as_user("xihu").get(f"/api/v1/cases/{cases['xihu_red'].id}").status_code == 403
    assert clients.as_user("binjiang").get(f"/api/v1/cases/{cases['xihu_yellow'].id}").status_code == 403
    assert clients.as_user("admin").get("/api/v1/cases/999999999").status_code == 404


def test_api_district_officer_is_refused_until_the_city_shares(clients, cases, db):
    xihu, admin = clients.as_user("xihu"), clients.as_user("admin")
    red, orange = cases["xihu_red"], cases["binjiang_orange"]
    move = {"to_state": "verifying", "comment": "核查"}
    assert xihu.post(f"/api/v1/cases/{orange.id}/transitions", json=move).status_code == 403
    assert xihu.post(f"/api/v1/cases/{orange.id}/comments", json={"comment": "x"}).status_code == 403
    r = xihu.post(f"/api/v1/cases/{red.id}/transitions", json=move)
    assert r.status_code == 403 and r.json()["error"]["status"] == 403
    assert xihu.post(f"/api/v1/cases/{red.id}/share", json={}).status_code == 403
    shared = admin.post(f"/api/v1/cases/{red.id}/share", json={"comment": "请协查"})
    assert shared.status_code == 200 and shared.json()["shared_with_district"] is True
    assert admin.post(f"/api/v1/cases/{red.id}/share", json={}).status_code == 409
    r = xihu.post(f"/api/v1/cases/{red.id}/transitions", json=move)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "verifying" and r.json()["owner"] == "city"
    r = xihu.post(f"/api/v1/cases/{red.id}/comments", json={"comment": "已到现场"})
    assert r.status_code == 201 and r.json()["action"] == "comment" and r.json()["username"] == "xihu"
    # Binjiang still cannot touch it.
    assert clients.as_user("binjiang").get(f"/api/v1/cases/{red.id}").status_code == 403


def test_api_transitions_validate(clients, cases):
    analyst = clients.as_user("analyst")
    red = cases["xihu_red"]
    r = analyst.post(f"/api/v1/cases/{red.id}/transitions", json={"to_state": "closed", "resolution": "x"})
    assert r.status_code == 409
    r = analyst.post(f"/api/v1/cases/{red.id}/transitions", json={"to_state": "false_positive"})
    assert r.status_code == 422
    assert (
        analyst.post(f"/api/v1/cases/{red.id}/transitions", json={"to_state": "nonsense"}).status_code == 422
    )
    for step in (
        {"to_state": "verifying"},
        {"to_state": "rectifying", "comment": "压降"},
        {"to_state": "closed", "resolution": "已压降"},
    ):
        r = analyst.post(f"/api/v1/cases/{red.id}/transitions", json=step)
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "closed" and body["allowed_transitions"] == [] and body["closed_at"]
    assert (
        clients.as_user("auditor")
        .post(f"/api/v1/cases/{cases['xihu_yellow'].id}/transitions", json={"to_state": "verifying"})
        .status_code
        == 403
    )


# --- attachments ---------------------------------------------------------------------------------


def test_attachment_upload_and_download_round_trip(clients, cases, db):
    case = cases["xihu_yellow"]
    data = "现场核查记录 2025\n".encode() * 50
    name = "西湖区核查报告.pdf"
    r = clients.as_user("xihu").post(
        f"/cases/{case.id}/attachments",
        files={"file": (name, data, "application/pdf")},
        data={"comment": "现场核查"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    att = service.list_attachments(db, case_id=case.id)[-1]
    url = f"/cases/{case.id}/attachments/{att.id}"
    assert url in clients.as_user("xihu").get(f"/cases/{case.id}").text
    for who in ("xihu", "admin", "auditor"):
        got = clients.as_user(who).get(url)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "application/pdf"
        assert f"filename*=UTF-8''{quote(name)}" in got.headers["content-disposition"]
        assert got.headers["content-disposition"].startswith("attachment;")
    assert clients.as_user("binjiang").get(url).status_code == 403
    assert clients.as_user("reporter").get(url).status_code == 403
    other = cases["binjiang_orange"]
    assert clients.as_user("admin").get(f"/cases/{other.id}/attachments/{att.id}").status_code == 404


def test_attachment_limits_through_the_page(clients, cases, monkeypatch):
    c = clients.as_user("xihu")
    case = cases["xihu_yellow"]
    big = b"\0" * (10 * 1024 * 1024 + 1)
    r = c.post(f"/cases/{case.id}/attachments", files={"file": ("big.bin", big, "application/octet-stream")})
    assert r.status_code == 413
    r = c.post(f"/cases/{case.id}/attachments", data={"comment": "no file"})
    assert r.status_code == 422
    html = c.post(
        f"/cases/{case.id}/attachments",
        files={"file": ("x.html", b"<script>alert(1)</script>", "text/html")},
        follow_redirects=False,
    )
    assert html.status_code == 303
    url = re.findall(r'href="(/cases/\d+/attachments/\d+)"', c.get(f"/cases/{case.id}").text)[-1]
    got = c.get(url)
    assert got.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in got.headers["content-security-policy"]


def test_the_district_keeps_seeing_an_escalated_case_via_the_api(clients, cases, db):
    case = cases["xihu_yellow"]
    case.due_on = TODAY - timedelta(days=1)
    service.escalate_overdue(db, today=TODAY)
    db.commit()
    body = clients.as_user("xihu").get(f"/api/v1/cases/{case.id}").json()
    assert body["owner"] == Owner.CITY.value and body["escalated_at"] and body["can_act"] is False
    assert body["events"][-1]["action"] == "escalate"
    r = clients.as_user("xihu").post(f"/api/v1/cases/{case.id}/comments", json={"comment": "x"})
    assert r.status_code == 403
    r = clients.as_user("analyst").post(f"/api/v1/cases/{case.id}/comments", json={"comment": "市级督办"})
    assert r.status_code == 201


def test_evidence_rows_read_the_early_warning_signal_shapes():
    from qiantang.cases.views import evidence_rows

    limit = {
        "period": "2025Q4",
        "code": "PW-CAPITAL",
        "level": "orange",
        "value": 72.2531,
        "threshold": 90.0,
        "message_zh": "净资产/注册资本 72.25%，违反规定（应≥90.00%）",
        "message_en": "Net assets / registered capital 72.25% (must be ≥ 90.00%)",
        "evidence": {
            "unit": "%",
            "limit": 90.0,
            "comparison": ">=",
            "citation": "《典当管理办法》（商务部、公安部 2005）",
            "last4": [{"period": "2025Q3", "value": 71.29}, {"period": "2025Q4", "value": 72.2531}],
        },
    }
    peer = {
        "period": "2016Q3",
        "level": "yellow",
        "value": 7.3534,
        "threshold": 1.5992,  # the peer median, not a limit
        "message_zh": "银行贷款/上年末净资产 7.35%，显著高于同类机构中位数1.60%",
        "evidence": {"unit": "%", "band": {"n": 13.0, "p10": 0.98, "median": 1.5992, "p90": 23.66}},
    }
    rating = {
        "level": "orange",
        "value": 54.71,
        "message_zh": "风险评级橙色（54.7分）",
        "evidence": {"reasons": ["资产质量：逾期占比 28.67%"], "dimensions": {"C": 92.0}},
    }
    rows = evidence_rows([limit, peer, rating, "free text", None])
    assert rows[0]["limit"] == "≥90 %" and rows[0]["value"] == "72.25 %"
    assert "典当管理办法" in rows[0]["citation"] and "2025Q3 71.29" in rows[0]["trend"]
    assert rows[0]["level"] == Level.ORANGE and rows[0]["period"] == "2025Q4"
    assert rows[1]["limit"] == "" and rows[1]["band"] == "p10 0.98 · median 1.599 · p90 23.66"
    assert rows[2]["reasons"] == ["资产质量：逾期占比 28.67%"] and rows[2]["limit"] == ""
    assert rows[3]["message"] == "free text" and rows[4]["message"] == "None"
    assert evidence_rows(None) == [] and evidence_rows({"not": "a list"}) == []


def test_the_district_inbox_links_only_to_cases_the_district_may_open(clients, cases):
    """A city-level case in Xihu is named in Xihu's alert inbox and institution page, not linked."""
    red, yellow = cases["xihu_red"], cases["xihu_yellow"]
    assert red.owner == Owner.CITY and not red.shared_with_district and red.escalated_at is None
    assert yellow.owner == Owner.DISTRICT
    xihu = clients.as_user("xihu")
    pages = [
        "/early-warning/alerts?status=&district=",
        f"/early-warning/institutions/{red.institution_id}",
        f"/early-warning/institutions/{yellow.institution_id}",
    ]
    seen = set()
    for url in pages:
        html = xihu.get(url).text
        for case_id in {int(x) for x in re.findall(r'href="/cases/(\d+)"', html)}:
            assert xihu.get(f"/cases/{case_id}").status_code == 200, (url, case_id)
            seen.add(case_id)
        if str(red.institution_id) in url:
            assert f'href="/cases/{red.id}"' not in html
            assert f"案件 {red.id}（市级处置）" in html
    assert yellow.id in seen and red.id not in seen
    assert (
        clients.as_user("admin")
        .get(f"/early-warning/institutions/{red.institution_id}")
        .text.count(f'href="/cases/{red.id}"')
    )
