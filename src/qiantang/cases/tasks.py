"""Scheduled case work: daily escalation of overdue cases and reminders of cases nearing their due date."""

from __future__ import annotations

from datetime import date

from qiantang.cases import service
from qiantang.jobs.service import JobContext, task


@task("cases.escalate", title_zh="案件逾期上报", title_en="Escalate overdue cases")
def escalate(ctx: JobContext) -> dict:
    with ctx.session() as session:
        result = service.escalate_overdue(session, today=date.today())
    return {"escalated": result.escalated, "flagged": result.flagged}


@task("cases.due_reminders", title_zh="案件到期提醒", title_en="Reminders of cases nearing their due date")
def due_reminders(ctx: JobContext) -> dict:
    with ctx.session() as session:
        n = service.remind_due(session, today=date.today())
        handoff = service.remind_handoff(session, today=date.today())
    return {"reminded": n, "handoff": handoff}
