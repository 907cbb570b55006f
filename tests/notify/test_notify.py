"""Notifications reach the inbox, a real SMTP server (aiosmtpd) and a local robot webhook receiver:
in Chinese, with the link to the case; per user and per event type; a failed delivery is retried."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.cases import service as cases
from qiantang.earlywarning.models import Alert, AlertStatus, Level, SignalFamily
from qiantang.jobs.models import Job, JobStatus
from qiantang.notify import service as notify
from qiantang.notify.models import Notification
from qiantang.registry.models import Institution

XIHU = "330106"
BASE = "https://jrb.example.gov.cn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler.messages
    controller.stop()


@pytest.fixture
def robot():
    """A local stand-in for a DingTalk group robot: records each JSON body, answers errcode 0."""
    received: list[dict] = []
    state = {"fail": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state["fail"]:
                state["fail"] -= 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(
                    json.dumps({"errcode": 310000, "errmsg": "keywords not in content"}).encode()
                )
                return
            received.append({"path": self.path, "json": json.loads(body.decode("utf-8"))})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/robot/send?access_token=test", received, state
    server.shutdown()


@pytest.fixture
def configured(monkeypatch, smtp_server, robot):
    from qiantang.config import get_settings

    controller, _ = smtp_server
    url, _, _ = robot
    monkeypatch.setenv("QIANTANG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QIANTANG_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("QIANTANG_SMTP_FROM", "qiantang@jrb.example.gov.cn")
    monkeypatch.setenv("QIANTANG_WEBHOOK_URLS", url)
    monkeypatch.setenv("QIANTANG_WEBHOOK_FORMAT", "dingtalk")
    monkeypatch.setenv("QIANTANG_BASE_URL", BASE)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def district_alert(db) -> Alert:
    inst = db.scalars(
        select(Institution).where(Institution.district_code == XIHU).order_by(Institution.id)
    ).first()
    alert = Alert(
        institution_id=inst.id,
        family=SignalFamily.LIMIT,
        level=Level.ORANGE,
        status=AlertStatus.OPEN,
        first_period=date(2030, 12, 31),
        last_period=date(2030, 12, 31),
        summary_zh="监管指标超限：测试预警",
        evidence=[],
        periods=["2030-12-31"],
        version="test",
    )
    db.add(alert)
    db.flush()
    return alert


def test_a_case_landing_in_a_district_inbox_reaches_inbox_mail_and_robot(
    db, configured, smtp_server, robot, run_jobs
):
    _, mails = smtp_server
    _, posts, _ = robot
    xihu = db.scalar(select(User).where(User.username == "xihu"))
    notify.set_email(db, user_id=xihu.id, email="xihu-officer@example.gov.cn")
    case = cases.open_case(db, alert=district_alert(db), today=date(2031, 1, 5))
    db.commit()
    # The inbox at once; the deliveries as jobs, sent after the commit.
    mine = db.scalars(
        select(Notification).where(Notification.user_id == xihu.id).order_by(Notification.id.desc())
    ).first()
    assert mine.event_type == "case_assigned" and mine.link == f"/cases/{case.id}" and mine.read_at is None
    assert notify.unread_count(db, user_id=xihu.id) >= 1
    kinds = set(db.scalars(select(Job.kind).where(Job.status == JobStatus.QUEUED)))
    assert {"notify.email", "notify.webhook"} <= kinds
    run_jobs()
    # The e-mail: to the officer, in Chinese, with the absolute link to the case.
    assert len(mails) == 1
    rcpt, raw = mails[0]
    assert rcpt == ["xihu-officer@example.gov.cn"]
    msg = message_from_bytes(raw, policy=policy.default)
    assert "新案件待办理" in msg["Subject"] and "【钱塘】" in msg["Subject"]
    text = msg.get_content()
    assert f"{BASE}/cases/{case.id}" in text and "办结期限 2031-02-04" in text and xihu.display_name in text
    # The robot: DingTalk's markdown message, Chinese, the officer named, the link.
    assert len(posts) == 1
    body = posts[0]["json"]
    assert body["msgtype"] == "markdown" and "新案件待办理" in body["markdown"]["title"]
    assert (
        f"]({BASE}/cases/{case.id})" in body["markdown"]["text"]
        and xihu.display_name in body["markdown"]["text"]
    )
    assert posts[0]["path"].startswith("/robot/send?access_token=")


def test_channels_per_user_and_event_type(db, configured, smtp_server, robot, run_jobs):
    _, mails = smtp_server
    _, posts, _ = robot
    xihu = db.scalar(select(User).where(User.username == "xihu"))
    notify.set_email(db, user_id=xihu.id, email="xihu-officer@example.gov.cn")
    prefs = notify.preferences(db, user_id=xihu.id)
    prefs["case_assigned"] = {"inapp"}  # no e-mail, no robot for new cases
    notify.set_preferences(db, user_id=xihu.id, chosen=prefs)
    cases.open_case(db, alert=district_alert(db), today=date(2031, 1, 5))
    db.commit()
    run_jobs()
    assert mails == [] and all("xihu" not in json.dumps(p, ensure_ascii=False) for p in posts)
    # Without the in-app channel the inbox stays empty too, while e-mail still goes.
    prefs["fundraising_red"] = {"email"}
    notify.set_preferences(db, user_id=xihu.id, chosen=prefs)
    before = notify.unread_count(db, user_id=xihu.id)
    notify.notify(
        db, "fundraising_red", user_ids=[xihu.id], title="西湖区出现红色非法集资风险等级", link="/fundraising"
    )
    db.commit()
    run_jobs()
    assert notify.unread_count(db, user_id=xihu.id) == before and len(mails) == 1


def test_a_failing_robot_is_retried_and_reminders_go_once(db, configured, robot, run_jobs):
    _, posts, state = robot
    state["fail"] = 1
    admin = db.scalar(select(User).where(User.username == "admin"))
    notify.notify(db, "case_escalated", user_ids=[admin.id], title="案件逾期上报市级：测试", link="/cases/1")
    db.commit()
    run_jobs("notify.webhook")
    job = db.scalars(select(Job).where(Job.kind == "notify.webhook").order_by(Job.id.desc())).first()
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and "重试" in job.message  # will retry
    run_jobs("notify.webhook")
    db.refresh(job)
    assert job.status == JobStatus.DONE and job.attempts == 2 and len(posts) == 1
    # A reminder with a key goes out once however often the daily schedule runs.
    for _ in range(2):
        notify.notify(db, "case_due_soon", user_ids=[admin.id], title="提醒", dedupe_key="case:1:2031-02-04")
    assert db.scalar(
        select(Notification.id).where(
            Notification.user_id == admin.id, Notification.dedupe_key == "case:1:2031-02-04"
        )
    )
    rows = db.scalars(select(Notification).where(Notification.dedupe_key == "case:1:2031-02-04")).all()
    assert len(rows) == 1


def test_escalation_and_due_reminders_notify_the_city_and_the_district(db, configured, run_jobs):
    admin = db.scalar(select(User).where(User.username == "admin"))
    xihu = db.scalar(select(User).where(User.username == "xihu"))
    opened = date(2031, 1, 5)
    case = cases.open_case(db, alert=district_alert(db), today=opened)
    assert cases.remind_due(db, today=case.due_on - timedelta(days=2)) >= 1
    assert cases.remind_due(db, today=case.due_on - timedelta(days=1)) >= 1  # the same due date: no repeat
    due = db.scalars(
        select(Notification).where(
            Notification.event_type == "case_due_soon", Notification.user_id == xihu.id
        )
    ).all()
    assert len(due) == 1 and "距办结期限还有 2 天" in due[0].body
    cases.escalate_overdue(db, today=case.due_on + timedelta(days=1))
    for user in (admin, xihu):
        row = db.scalars(
            select(Notification).where(
                Notification.user_id == user.id,
                Notification.event_type == "case_escalated",
                Notification.link == f"/cases/{case.id}",
            )
        ).first()
        assert row is not None and "上报市级" in row.title


def test_inbox_pages(clients, db):
    xihu = db.scalar(select(User).where(User.username == "xihu"))
    [row] = notify.notify(
        db,
        "filing_missing",
        user_ids=[xihu.id],
        title="某小贷公司：2030年第4季度报表逾期未报",
        link="/filings?status=missing",
    )
    db.commit()
    c = clients.as_user("xihu")
    assert 'data-testid="unread"' in c.get("/notifications/badge").text
    page = c.get("/notifications")
    assert page.status_code == 200 and "逾期未报" in page.text and "报表逾期未报" in page.text
    opened = c.get(f"/notifications/{row.id}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/filings?status=missing"
    db.refresh(row)
    assert row.read_at is not None
    # Someone else's notification is refused; the settings page saves the e-mail address.
    assert clients.as_user("binjiang").get(f"/notifications/{row.id}").status_code == 403
    settings = c.get("/notifications/settings")
    assert settings.status_code == 200 and "案件分派给我" in settings.text
    bad = c.post("/notifications/settings", data={"email": "不是邮箱"})
    assert bad.status_code == 422 and "电子邮件地址格式不正确" in bad.text
    ok = c.post(
        "/notifications/settings",
        data={"email": "xihu@example.gov.cn", "case_assigned:inapp": "1"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    db.expire_all()
    assert db.get(User, xihu.id).email == "xihu@example.gov.cn"
    assert notify.preferences(db, user_id=xihu.id)["case_assigned"] == {"inapp"}


def test_filing_reminders_a_week_before_and_the_day_after(db):
    from qiantang.filings import service as filings

    reporter = db.scalar(select(User).where(User.username == "reporter"))
    xihu = db.scalar(select(User).where(User.username == "xihu"))

    def mine(user, event):
        return db.scalars(
            select(Notification).where(Notification.user_id == user.id, Notification.event_type == event)
        ).all()

    # 2030Q4 returns are due 2031-01-15 (15 days after the quarter); nobody has filed them.
    first = filings.send_reminders(db, today=date(2031, 1, 10))
    assert first.due_soon > 0 and first.missing == 0
    [soon] = mine(reporter, "filing_due_soon")
    assert "2031-01-15 前报送" in soon.title and "还有 5 天" in soon.body
    filings.send_reminders(db, today=date(2031, 1, 11))  # the next daily run: no second reminder
    assert len(mine(reporter, "filing_due_soon")) == 1
    assert mine(xihu, "filing_due_soon") == []  # a week before: the reporters only
    late = filings.send_reminders(db, today=date(2031, 1, 16))
    assert late.missing > 0 and late.due_soon == 0
    [missing] = mine(reporter, "filing_missing")
    assert "逾期未报" in missing.title and "status=missing" in missing.link
    assert any(n.title == missing.title for n in mine(xihu, "filing_missing"))  # and its district office


def test_the_inbox_speaks_the_readers_language(clients, db):
    """Notifications carry their English wording; an English reader sees it, a Chinese one not."""
    case = cases.open_case(db, alert=district_alert(db), today=date(2031, 1, 5))
    row = db.scalars(select(Notification).where(Notification.link == f"/cases/{case.id}")).first()
    assert row.title.startswith("新案件待办理") and row.title_en.startswith("New case to handle: ")
    assert case.institution.name in row.title_en and "due by 2031-02-04" in row.body_en
    xihu = db.scalar(select(User).where(User.username == "xihu"))
    notify.notify(
        db,
        "filing_missing",
        user_ids=[xihu.id],
        title="某小贷公司：2030Q4季报逾期未报",
        body="截止日为 2031-01-31，至今未收到该期报表。",
        title_en="A small-loan company: quarterly return for 2030Q4 is overdue",
        body_en="The deadline was 2031-01-31; the return has not arrived.",
        link="/filings?status=missing",
    )
    db.commit()
    c = clients.as_user("xihu")
    assert "季报逾期未报" in c.get("/notifications").text
    c.get("/lang/en?next=/")
    english = c.get("/notifications").text
    assert "quarterly return for 2030Q4 is overdue" in english and "The deadline was 2031-01-31" in english
    assert "季报逾期未报" not in english
