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


@task(
    "fundraising.report_pdf",
    title_zh="非法集资监测月报（PDF）",
    title_en="Illegal-fundraising monthly report (PDF)",
)
def report_pdf(ctx: JobContext) -> dict:
    """The monthly report: ``month`` (YYYY-MM; the schedule leaves it out: the previous month) and
    ``district`` (a district office's own, set by the page from the user's scope; none: the city).
    With ``district_copies`` (the monthly schedule) the city report is followed by each district's own,
    one job per active district officer, which lands in that officer's jobs and inbox."""
    from datetime import date

    from qiantang.auth.models import Role
    from qiantang.auth.scope import Scope
    from qiantang.fundraising import report

    month = ctx.params.get("month") or report.previous_month(date.today())
    district = ctx.params.get("district")
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=district) if district else Scope.system()
    with ctx.session() as session:
        ctx.progress(10, f"汇总 {month} 的评分、举报、案件和暴雷记录")
        r = report.monthly(session, scope=scope, month=month)
    ctx.progress(50, "生成 PDF")
    pdf = report.report_pdf(r)
    ctx.attach(pdf, report.filename(r), "application/pdf")
    out = {
        "month": r.month,
        "scope": r.scope_label,
        "red": r.grades[0]["now"],
        "orange": r.grades[1]["now"],
        "new_flagged": r.new_flagged_total,
    }
    if ctx.params.get("district_copies") and not district:
        ctx.progress(90, "为各区县金融办生成本区月报")
        with ctx.session() as session:
            out["district_jobs"] = report.queue_district_copies(session, month=month)
    return out


@task(
    "fundraising.import",
    title_zh="导入非法集资监测数据",
    title_en="Import of fundraising-monitoring data",
    result_template="fundraising/import_result.html",
)
def import_file(ctx: JobContext) -> dict:
    """A large monitoring-data file, checked whole and stored by the worker (nothing on any error)."""
    from qiantang.auth.models import User
    from qiantang.fundraising.imports import import_upload

    kind = ctx.params.get("kind", "")
    filename = ctx.params.get("filename", "")
    ctx.progress(5, "校验并导入监测数据")
    with ctx.session() as session:
        actor = session.get(User, ctx.user_id) if ctx.user_id else None
        stored = import_upload(
            session, kind_name=kind, content=ctx.input_data(), filename=filename, actor=actor
        )
    return {"kind": kind, "filename": filename, "stored": stored}
