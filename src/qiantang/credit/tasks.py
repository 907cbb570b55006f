"""Bring-your-own-data cross-validation (and training) as a background job with progress."""

from __future__ import annotations

import re

from qiantang.credit import registry
from qiantang.errors import ValidationFailed
from qiantang.exports import XLSX_MEDIA_TYPE, build_xlsx
from qiantang.jobs.service import JobContext, task

# Above this many rows the web form does not register a model (the CLI does: qiantang credit train).
MAX_REGISTER_ROWS = 200_000
_FOLD = re.compile(r"第 (\d+)/(\d+) 折")


@task(
    "credit.cv",
    title_zh="自有数据交叉验证",
    title_en="Cross-validation of uploaded data",
    result_template="credit/cv_result.html",
)
def cv(ctx: JobContext) -> dict:
    """Read the uploaded table, cross-validate our models against the baselines, optionally register."""
    from qiantang.credit.pipeline import cross_validate, train
    from qiantang.credit.tabular import prepare, read_upload

    p = ctx.params
    filename = p.get("filename", "")
    ctx.progress(2, "读取上传的数据表")
    frame = read_upload(ctx.input_data(), filename)
    ctx.progress(8, "识别各列类型")
    data = prepare(
        frame,
        target=p["target"].strip(),
        bad=p["bad"].strip(),
        name=filename,
        allow_personal=bool(p.get("allow_personal")),
    )
    register = bool(p.get("register"))
    if register and data.n > MAX_REGISTER_ROWS:
        raise ValidationFailed(
            f"网页上登记模型最多 {MAX_REGISTER_ROWS:,} 行，更大的数据请由管理员在服务器上训练"
        )
    cv_share = 80 if register else 90

    def on_step(message: str) -> None:
        m = _FOLD.search(message)
        done = (int(m.group(1)) - 1) / int(m.group(2)) if m else 0.0
        ctx.progress(10 + cv_share * done, f"交叉验证 {message}")

    report = cross_validate(data, nested=(p.get("mode") == "nested"), progress=on_step)
    registered = None
    if register:
        ctx.progress(92, "用全部数据训练模型并登记")
        trained = train(data, kind="auto" if p.get("mode") == "nested" else "scorecard")
        with ctx.session() as session:
            row = registry.register(
                session,
                trained=trained,
                data=data,
                name=(p.get("name", "").strip() or filename.rsplit(".", 1)[0] or "上传数据模型")[:100],
                target_text=f"「{p['target']}」列取值为「{p['bad']}」视为坏样本（{filename}）",
                segment=(p.get("segment", "").strip() or "upload")[:64],
                input_kind=registry.INPUT_TABLE,
                created_by=p.get("username"),
                cv=report,
            )
            registered = {"id": row.id, "name": row.name, "version": row.version, "status": str(row.status)}
    ctx.attach(
        _summary_xlsx(report.summary(), filename), f"cv-{filename.rsplit('.', 1)[0]}.xlsx", XLSX_MEDIA_TYPE
    )
    return {
        "filename": filename,
        "rows": data.n,
        "bad_rate": data.bad_rate,
        "features": [{"name": f.name, "kind": f.kind, "personal": bool(f.personal)} for f in data.features],
        "dropped": dict(data.dropped),
        "coerced": dict(data.coerced),
        "rows_without_target": data.rows_without_target,
        "summary": report.summary(),
        "registered": registered,
    }


def _summary_xlsx(summary: list[dict], filename: str) -> bytes:
    """The cross-validated results as a workbook (the job page offers it for download)."""
    return build_xlsx(
        sheet_title="交叉验证结果",
        headers=["模型", "AUC 均值", "AUC 标准差", "KS 均值", "KS 标准差", "每折耗时（秒）", "说明"],
        rows=[
            [m["label"], m["auc_mean"], m["auc_sd"], m["ks_mean"], m["ks_sd"], m["seconds"], m["note"]]
            for m in summary
        ],
        notes=[f"数据：{filename}；分层 K 折交叉验证，各模型只在训练折上拟合"],
        number_formats={1: "0.0000", 2: "0.0000", 3: "0.0000", 4: "0.0000", 5: "0.0"},
    )


@task("credit.score", title_zh="企业信用批量评分", title_en="Batch credit scoring")
def score(ctx: JobContext) -> dict:
    """Score every enterprise with its segment's champion (nightly, and from the jobs page)."""
    from qiantang.credit.service import batch_score

    steps = {"读取": 10, "评分": 30, "写入": 80}  # batch_score's own steps, as it names them

    def say(message: str) -> None:
        ctx.progress(next((p for k, p in steps.items() if message.startswith(k)), 50), message)

    with ctx.session() as session:
        stats = batch_score(session, say=say)
    return {"rows": stats.rows, "as_of": str(stats.as_of), "seconds": round(stats.seconds, 1)}
