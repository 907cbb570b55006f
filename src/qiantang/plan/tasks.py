"""Plan reports as background jobs: the progress PDF (on request, and monthly)."""

from __future__ import annotations

from sqlalchemy import select

from qiantang.db import get_meta
from qiantang.jobs.service import JobContext, task
from qiantang.plan import report, service
from qiantang.plan.models import Plan


@task("plan.report_pdf", title_zh="规划进展报告（PDF）", title_en="Plan progress report (PDF)")
def report_pdf(ctx: JobContext) -> dict:
    with ctx.session() as session:
        plan_id = ctx.params.get("plan_id")
        if plan_id is None:  # the monthly schedule: the newest plan
            plan_id = session.scalar(
                select(Plan.id).order_by(Plan.period_end.desc(), Plan.id.desc()).limit(1)
            )
            if plan_id is None:
                return {"skipped": "尚未录入规划"}
        ctx.progress(10, "计算各项目标进展")
        plan, progress = service.plan_progress(session, plan_id=int(plan_id))
        demo = get_meta(session, "demo_scale") is not None
    ctx.progress(40, "生成图表和 PDF")
    pdf = report.progress_pdf(plan, progress, demo=demo)
    ctx.attach(pdf, f"plan-{plan.code}.pdf", "application/pdf")
    return {"plan_id": plan.id, "plan": plan.name_zh, "targets": len(progress)}
