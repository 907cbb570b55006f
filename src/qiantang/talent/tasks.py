"""Scheduled talent work: certifications past their validity go to re-review (动态调整)."""

from __future__ import annotations

from datetime import date

from qiantang.jobs.service import JobContext, task
from qiantang.talent import service


@task("talent.expire", title_zh="金融人才认定到期转复审", title_en="Talent certifications due for re-review")
def expire(ctx: JobContext) -> dict:
    with ctx.session() as session:
        moved = service.expire_due(session, today=date.today())
    return {"re_review": len(moved)}
