"""Scheduled filing work: deadline reminders (a week before) and missing filings (the day after)."""

from __future__ import annotations

from qiantang.filings import service
from qiantang.jobs.service import JobContext, task


@task("filings.reminders", title_zh="报表报送提醒", title_en="Filing-deadline reminders")
def reminders(ctx: JobContext) -> dict:
    with ctx.session() as session:
        result = service.send_reminders(session)
    return {"due_soon": result.due_soon, "missing": result.missing}
