"""The jobs module's own task: a self-test an administrator starts to see that the worker runs."""

from __future__ import annotations

import time

from qiantang.jobs.service import JobContext, task


@task("jobs.selftest", title_zh="后台任务自检", title_en="Background job self-test")
def selftest(ctx: JobContext) -> dict:
    """Count through ``steps`` steps of ``seconds`` each, reporting progress (checks the worker)."""
    steps = max(1, min(int(ctx.params.get("steps", 5)), 600))
    pause = max(0.0, min(float(ctx.params.get("seconds", 1.0)), 10.0))
    for i in range(steps):
        ctx.progress(100 * i / steps, f"第 {i + 1}/{steps} 步")
        time.sleep(pause)
    return {"steps": steps, "attempt": ctx.attempt}
