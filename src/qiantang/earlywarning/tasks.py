"""Early warning as a background job: started from the web, or nightly after new filings."""

from __future__ import annotations

from sqlalchemy import func, select

from qiantang.earlywarning import service
from qiantang.earlywarning.models import EwRun
from qiantang.filings.models import Filing
from qiantang.jobs.service import JobContext, task


def new_filings_since_last_run(session) -> bool:
    """Whether a filing came in after the last early-warning run started (or there was none)."""
    last = session.scalar(select(func.max(EwRun.started_at)))
    if last is None:
        return True
    return session.scalar(select(func.count()).select_from(Filing).where(Filing.submitted_at > last)) > 0


@task("ew.run", title_zh="预警计算", title_en="Early-warning run")
def run(ctx: JobContext) -> dict:
    with ctx.session() as session:
        if ctx.params.get("if_new_filings") and not new_filings_since_last_run(session):
            return {"skipped": "上次预警计算后没有新的报表，本次未重算"}
        ctx.progress(5, "计算指标、信号、评级和预警")
        record = service.run(session, triggered_by=ctx.params.get("triggered_by", "job"))
        return {"run_id": record.id, "seconds": round(record.seconds, 1), "counts": record.counts}
