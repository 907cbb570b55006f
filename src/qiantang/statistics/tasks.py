"""Refreshing the overview summaries and the statistics cells as a background job."""

from __future__ import annotations

from qiantang.jobs.service import JobContext, task
from qiantang.overview.service import refresh_summary
from qiantang.statistics.service import refresh


@task("stats.refresh", title_zh="综合统计更新", title_en="Statistics refresh")
def stats_refresh(ctx: JobContext) -> dict:
    with ctx.session() as session:
        ctx.progress(5, "更新首页汇总")
        snapshot = refresh_summary(session)
        ctx.progress(40, "更新综合统计单元格")
        stats = refresh(session)
    return {
        "summary_seconds": round(snapshot.seconds, 1),
        "cells": stats.cells,
        "seconds": round(stats.seconds, 1),
    }
