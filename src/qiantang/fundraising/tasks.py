"""The fundraising monitoring round as a background job: nightly on schedule, or started by hand."""

from __future__ import annotations

from qiantang.fundraising import monitor
from qiantang.jobs.service import JobContext, task


@task("fundraising.run", title_zh="非法集资风险指数计算与分派", title_en="Fundraising index and routing")
def run(ctx: JobContext) -> dict:
    with ctx.session() as session:
        ctx.progress(5, "汇总举报与投诉，计算风险指数，分派案件")
        done = monitor.monitor(session, actor=ctx.params.get("triggered_by", "job"))
        return {
            "run_id": done.run.id,
            "seconds": round(done.run.seconds or 0.0, 1),
            "counts": done.run.counts,
            "routed": done.routed.as_dict(),
        }
