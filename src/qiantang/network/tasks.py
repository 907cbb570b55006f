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


@task(
    "network.import",
    title_zh="导入担保关系",
    title_en="Import of guarantees",
    result_template="network/import_result.html",
)
def import_file(ctx: JobContext) -> dict:
    """Check the uploaded guarantee file whole and store it (in the worker: a 200k-row file takes a while)."""
    from qiantang.auth.models import User
    from qiantang.network.imports import import_guarantees

    filename = ctx.params.get("filename", "")
    ctx.progress(5, "校验并导入担保关系")
    with ctx.session() as session:
        actor = session.get(User, ctx.user_id) if ctx.user_id else None
        stored = import_guarantees(session, content=ctx.input_data(), filename=filename, actor=actor)
    return {"filename": filename, "stored": stored}
