"""Notify users of events: the inbox row now, e-mail and group-robot messages by background jobs.

One call for every module::

    notify(session, "case_assigned", user_ids=[…], title="…", body="…", link="/cases/12")

writes an inbox row for each user who keeps the in-app channel, and queues one ``notify.email`` job
per user who wants e-mail (and has an address) and one ``notify.webhook`` job for the group robots —
sent after the caller's transaction commits, retried if the mail server or robot is down. Event types
and their default channels are data (``data/events.toml``); each user may change them.
"""

from __future__ import annotations

import json
import logging
import smtplib
import tomllib
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from importlib import resources
from urllib.parse import urlparse

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qiantang.auth.models import Role, User
from qiantang.config import Settings, get_settings
from qiantang.db import get_or_404, utcnow
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.notify.models import Notification, NotificationPreference

log = logging.getLogger(__name__)

CHANNELS = ("inapp", "email", "webhook")
CHANNEL_ZH = {"inapp": "站内消息", "email": "电子邮件", "webhook": "钉钉/企业微信群机器人"}
CITY_STAFF = (Role.CITY_ADMIN, Role.CITY_ANALYST)


@dataclass(frozen=True)
class EventType:
    key: str
    name_zh: str
    name_en: str
    module: str
    channels: tuple[str, ...]


@cache
def event_types() -> dict[str, EventType]:
    raw = tomllib.loads(
        (resources.files("qiantang.notify") / "data" / "events.toml").read_text(encoding="utf-8")
    )
    out = {}
    for key, e in raw.items():
        bad = set(e["channels"]) - set(CHANNELS)
        if bad:
            raise ValueError(f"event type {key}: unknown channels {sorted(bad)}")
        out[key] = EventType(key, e["name_zh"], e["name_en"], e["module"], tuple(e["channels"]))
    return out


# ------------------------------------------------------------------------------------------ recipients
def staff(session: Session, *, district_code: str | None = None, city: bool = False) -> list[int]:
    """Active users who work a level: the city's staff, and/or one district office's officers."""
    clauses = []
    if city:
        clauses.append(User.role.in_(CITY_STAFF))
    if district_code:
        clauses.append((User.role == Role.DISTRICT_OFFICER) & (User.district_code == district_code))
    if not clauses:
        return []
    from sqlalchemy import or_

    return list(
        session.scalars(select(User.id).where(User.is_active.is_(True), or_(*clauses)).order_by(User.id))
    )


def user_ids_by_username(session: Session, usernames: Iterable[str | None]) -> list[int]:
    names = [u for u in usernames if u]
    if not names:
        return []
    return list(session.scalars(select(User.id).where(User.username.in_(names), User.is_active.is_(True))))


# ---------------------------------------------------------------------------------------- preferences
def channels_for(session: Session, *, user_ids: Sequence[int], event_type: str) -> dict[int, set[str]]:
    """Each user's channels for ``event_type``: the default, changed by the user's own choices."""
    default = set(event_types()[event_type].channels)
    out = {uid: set(default) for uid in user_ids}
    rows = session.execute(
        select(
            NotificationPreference.user_id, NotificationPreference.channel, NotificationPreference.enabled
        ).where(
            NotificationPreference.user_id.in_(list(user_ids)),
            NotificationPreference.event_type == event_type,
        )
    )
    for uid, channel, enabled in rows:
        (out[uid].add if enabled else out[uid].discard)(channel)
    return out


def preferences(session: Session, *, user_id: int) -> dict[str, set[str]]:
    """Every event type → the channels the user gets it on."""
    return {key: channels_for(session, user_ids=[user_id], event_type=key)[user_id] for key in event_types()}


def set_preferences(session: Session, *, user_id: int, chosen: dict[str, set[str]]) -> None:
    """Store the user's channels for every event type (as explicit choices)."""
    session.query(NotificationPreference).filter(NotificationPreference.user_id == user_id).delete()
    for key in event_types():
        on = chosen.get(key, set())
        for channel in CHANNELS:
            session.add(
                NotificationPreference(
                    user_id=user_id, event_type=key, channel=channel, enabled=channel in on
                )
            )
    session.flush()


def set_email(session: Session, *, user_id: int, email: str) -> None:
    email = email.strip()
    if email and ("@" not in email or " " in email or len(email) > 254 or "." not in email.split("@")[-1]):
        raise ValidationFailed(f"电子邮件地址格式不正确：{email}")
    session.get(User, user_id).email = email or None
    session.flush()


# --------------------------------------------------------------------------------------------- notify
def notify(
    session: Session,
    event_type: str,
    *,
    user_ids: Iterable[int],
    title: str,
    body: str = "",
    title_en: str = "",
    body_en: str = "",
    link: str = "",
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Notify users of an event (see the module doc); returns the inbox rows written."""
    from qiantang.jobs import service as jobs

    if event_type not in event_types():
        raise ValueError(f"unknown event type {event_type!r}")
    ids = sorted(set(user_ids))
    if not ids:
        return []
    if dedupe_key is not None:
        seen = set(
            session.scalars(
                select(Notification.user_id).where(
                    Notification.user_id.in_(ids),
                    Notification.event_type == event_type,
                    Notification.dedupe_key == dedupe_key,
                )
            )
        )
        ids = [i for i in ids if i not in seen]
    settings = get_settings()
    channels = channels_for(session, user_ids=ids, event_type=event_type)
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    written: list[Notification] = []
    to_robot: list[int] = []
    for uid in ids:
        row = Notification(
            user_id=uid,
            event_type=event_type,
            title=title[:300],
            body=body[:4000],
            title_en=title_en[:300],
            body_en=body_en[:4000],
            link=link[:500],
            dedupe_key=dedupe_key,
            # Only the in-app channel shows it in the inbox; the row is still what deliveries read.
            in_inbox="inapp" in channels[uid],
        )
        session.add(row)
        session.flush()
        written.append(row)
        if "email" in channels[uid] and emails.get(uid) and settings.smtp_host:
            jobs.enqueue(
                session, "notify.email", title=f"发送邮件：{title}"[:300], params={"notification_id": row.id}
            )
        if "webhook" in channels[uid]:
            to_robot.append(row.id)
    if to_robot and webhook_urls(settings):
        jobs.enqueue(
            session,
            "notify.webhook",
            title=f"群机器人消息：{title}"[:300],
            params={"notification_ids": to_robot},
        )
    return written


# ---------------------------------------------------------------------------------------------- inbox
def unread_count(session: Session, *, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.user_id == user_id,
                Notification.in_inbox.is_(True),
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def inbox(session: Session, *, user_id: int, limit: int = 200) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.in_inbox.is_(True))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def open_notification(session: Session, *, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read and return it (to follow its link)."""
    row = get_or_404(session, Notification, notification_id)
    if row.user_id != user_id:
        raise Forbidden("这是其他用户的通知", message_en="This notification belongs to another user")
    if row.read_at is None:
        row.read_at = utcnow()
    return row


def mark_all_read(session: Session, *, user_id: int) -> int:
    return session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    ).rowcount


# ------------------------------------------------------------------------------------------- delivery
def _absolute(settings: Settings, link: str) -> str:
    return settings.public_url(link) if link.startswith("/") else link


def email_message(
    session: Session, *, notification_id: int, settings: Settings | None = None
) -> EmailMessage:
    """The e-mail for one notification: Chinese subject and text, with the absolute link."""
    settings = settings or get_settings()
    row = get_or_404(session, Notification, notification_id)
    user = session.get(User, row.user_id)
    if not user.email:
        raise ValidationFailed(f"用户 {user.display_name} 未设置电子邮件地址")
    msg = EmailMessage()
    msg["Subject"] = f"【钱塘】{row.title}"
    msg["From"] = settings.smtp_from
    msg["To"] = user.email
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="qiantang")
    lines = [f"{user.display_name}，您好：", "", row.title]
    if row.body:
        lines += ["", row.body]
    if row.link:
        lines += ["", f"查看详情：{_absolute(settings, row.link)}"]
    lines += ["", "—— 钱塘地方金融监管平台（自动发送，请勿回复；可在“我的通知”中调整通知方式）"]
    msg.set_content("\n".join(lines), charset="utf-8")
    return msg


def send_email(session: Session, *, notification_id: int) -> str:
    """Send one notification by SMTP (QIANTANG_SMTP_*); returns the address it went to."""
    settings = get_settings()
    if not settings.smtp_host:
        raise ValidationFailed("未配置邮件服务器（QIANTANG_SMTP_HOST），邮件未发送")
    msg = email_message(session, notification_id=notification_id, settings=settings)
    klass = smtplib.SMTP_SSL if settings.smtp_security == "ssl" else smtplib.SMTP
    with klass(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)
    return str(msg["To"])


def webhook_urls(settings: Settings | None = None) -> list[str]:
    settings = settings or get_settings()
    return [u.strip() for u in settings.webhook_urls.split(",") if u.strip()]


def robot_format(url: str, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.webhook_format != "auto":
        return settings.webhook_format
    return "wecom" if "weixin.qq.com" in (urlparse(url).hostname or "") else "dingtalk"


def robot_payload(session: Session, *, notification_ids: Sequence[int], fmt: str) -> dict:
    """The group-robot message (DingTalk or WeCom ``msgtype: markdown``): the event, who, the link."""
    settings = get_settings()
    rows = [get_or_404(session, Notification, i) for i in notification_ids]
    first = rows[0]
    names = [session.get(User, r.user_id).display_name for r in rows]
    lines = [f"### {first.title}", ""]
    if first.body:
        lines += [first.body, ""]
    lines.append(f"通知：{'、'.join(names)}")
    if first.link:
        lines += ["", f"[查看详情]({_absolute(settings, first.link)})"]
    text = "\n".join(lines)
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    return {"msgtype": "markdown", "markdown": {"title": first.title, "text": text}}


def send_webhook(session: Session, *, notification_ids: Sequence[int]) -> int:
    """Post the message to every configured robot; a robot's own error code counts as a failure."""
    urls = webhook_urls()
    for url in urls:
        payload = robot_payload(session, notification_ids=notification_ids, fmt=robot_format(url))
        request = urllib.request.Request(
            url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            answer = response.read()
        try:
            code = json.loads(answer or b"{}").get("errcode", 0)
        except ValueError:
            code = 0
        if code:
            raise RuntimeError(f"webhook {urlparse(url).hostname} answered errcode {code}: {answer[:200]!r}")
    return len(urls)
