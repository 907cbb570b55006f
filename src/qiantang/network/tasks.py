"""Guarantee-network analysis as a background job."""

from __future__ import annotations

from datetime import date

from qiantang.jobs.service import JobContext, task
from qiantang.network.service import Params, analyse


@task("network.analyse", title_zh="担保网络分析", title_en="Guarantee-network analysis")
def network_analyse(ctx: JobContext) -> dict:
    as_of = ctx.params.get("as_of")
    with ctx.session() as session:
        ctx.progress(5, "读取担保关系并识别担保圈")
        run = analyse(session, as_of=date.fromisoformat(as_of) if as_of else None, params=Params())
    return {"run_id": run.id, "seconds": round(run.seconds, 1), "counts": run.counts}
