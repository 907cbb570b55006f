"""Deliveries of notifications: e-mail and group-robot messages, retried while the server is down."""

from __future__ import annotations

from qiantang.jobs.service import JobContext, task
from qiantang.notify import service


@task(
    "notify.email", title_zh="发送通知邮件", title_en="Send a notification e-mail", retries=3, retry_delay=60
)
def email(ctx: JobContext) -> dict:
    with ctx.session() as session:
        to = service.send_email(session, notification_id=int(ctx.params["notification_id"]))
    return {"to": to}


@task(
    "notify.webhook",
    title_zh="发送群机器人消息",
    title_en="Post to the group robots",
    retries=3,
    retry_delay=60,
)
def webhook(ctx: JobContext) -> dict:
    with ctx.session() as session:
        n = service.send_webhook(session, notification_ids=[int(i) for i in ctx.params["notification_ids"]])
    return {"robots": n}
