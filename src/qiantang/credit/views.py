"""Credit scoring pages and API: the model registry, validation reports, bring-your-own-data
evaluation, the enterprise credit report, and scoring one record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from qiantang.audit import service as audit
from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission
from qiantang.credit import policy as pol
from qiantang.credit import registry, report, schemas
from qiantang.credit import service as credit_service
from qiantang.credit.models import CreditModel, CreditScore, segment_label
from qiantang.credit.reasons import describe_stored
from qiantang.credit.tasks import MAX_REGISTER_ROWS
from qiantang.enterprises import service as ent_service
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.exports import pdf_response
from qiantang.web.deps import DB, Auth, CurrentAuth, client_ip, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["信用评分 Credit scoring"])
Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]


# Model building is for city-level staff (市级管理员、市级分析员); promoting a champion for the administrator.
CityStaff = Annotated[Auth, require(Permission.BUILD_CREDIT_MODELS)]
CityAdmin = Annotated[Auth, require(Permission.PROMOTE_CREDIT_MODELS)]


def _can_build(auth: Auth) -> bool:
    return auth.user.role in (Role.CITY_ADMIN, Role.CITY_ANALYST)


# ------------------------------------------------------------------------------------------ pages
@router.get("/credit")
def credit_home(request: Request, db: DB, auth: Viewer):
    models = registry.list_models(db)
    latest_mon = {m.id: credit_service.latest_monitoring(db, model_id=m.id) for m in models}
    runs = dict(credit_service.current_runs(db))
    champions = []
    for row in registry.champions(db):
        mon = latest_mon.get(row.id)
        as_of = runs.get(row.id)
        dist = (
            credit_service.grade_distribution(db, model_id=row.id, as_of=as_of, scope=auth.scope)
            if as_of
            else {}
        )
        champions.append(
            {
                "row": row,
                "monitoring": mon,
                "as_of": as_of,
                "scored": sum(dist.values()),
                "chart": {
                    "kind": "bar",
                    "title": _("Enterprises by grade")
                    if auth.scope.is_citywide
                    else _("Enterprises of your district by grade"),
                    "unit": _("firms"),
                    "categories": list(dist),
                    "series": [{"name": _("Enterprises"), "data": list(dist.values())}],
                }
                if dist
                else None,
            }
        )
    return render(
        request,
        "credit/home.html",
        segment_label=segment_label,
        models=models,
        champions=champions,
        monitoring=latest_mon,
        can_build=_can_build(auth),
        can_promote=auth.user.role == Role.CITY_ADMIN,
        master_scale=pol.master_scale(),
        scaling=pol.scaling(),
        psi=pol.psi_thresholds(),
        status_colour=report.STATUS_COLOUR,
        status_names=report.status_names(),
        active="credit",
    )


def _pdf_export(request: Request, db, auth: Auth, build, *, object_type: str, object_id, filename: str):
    """A PDF for a role that may export, audit-logged."""
    from qiantang.auth.permissions import has_permission

    if not has_permission(auth.user.role, Permission.EXPORT):
        raise Forbidden("您的角色无权导出", message_en="Your role may not export")
    pdf = build()
    record_export(db, request, auth, object_type, object_id=object_id)
    return pdf_response(pdf, filename)


@router.get("/credit/models/{model_id:int}")
def model_page(request: Request, db: DB, auth: Viewer, model_id: int, format: str = "html"):
    row = registry.get(db, model_id)
    if format == "pdf":
        return _pdf_export(
            request,
            db,
            auth,
            lambda: report.validation_pdf(db, row, demo=request.app.state.is_demo(request)),
            object_type="credit_validation",
            object_id=row.id,
            filename=f"credit-model-{row.id}-validation.pdf",
        )
    ctx = report.validation_context(db, row)
    return render(
        request,
        "credit/model.html",
        **ctx,
        segment_label=segment_label,
        can_promote=auth.user.role == Role.CITY_ADMIN,
        status_colour=report.STATUS_COLOUR,
        status_names=report.status_names(),
        active="credit",
    )


@router.post("/credit/models/{model_id:int}/promote")
def model_promote(request: Request, db: DB, auth: CityAdmin, model_id: int):
    registry.promote(db, model_id=model_id, by=auth.user.username)
    return RedirectResponse(f"/credit/models/{model_id}", status_code=303)


@router.get("/credit/upload")
def upload_page(request: Request, db: DB, auth: CityStaff):
    return render(request, "credit/upload.html", form={}, cv_settings=pol.cv_settings(), active="credit")


@router.post("/credit/upload")
def upload_run(
    request: Request,
    db: DB,
    auth: CityStaff,
    file: Annotated[UploadFile, File()],
    target: Annotated[str, Form(min_length=1, max_length=200)],
    bad: Annotated[str, Form(min_length=1, max_length=200)],
    mode: Annotated[str, Form()] = "quick",
    save: Annotated[str | None, Form(alias="register")] = None,
    name: Annotated[str, Form(max_length=100)] = "",
    segment: Annotated[str, Form(max_length=64)] = "",
    allow_personal: Annotated[str | None, Form()] = None,
):
    """Check the table here (row and column errors at once), then cross-validate it as a job."""
    from qiantang.credit.tabular import prepare, read_upload
    from qiantang.jobs import service as jobs

    # A plain (sync) route: FastAPI runs it in a worker thread, so parsing never blocks the event loop.
    content = file.file.read()
    filename = file.filename or ""
    form = {
        "target": target,
        "bad": bad,
        "mode": mode,
        "register": save,
        "name": name,
        "segment": segment,
        "allow_personal": allow_personal,
    }
    try:
        frame = read_upload(content, filename)
        data = prepare(
            frame, target=target.strip(), bad=bad.strip(), name=filename, allow_personal=bool(allow_personal)
        )
        if save and data.n > MAX_REGISTER_ROWS:
            raise ValidationFailed(
                f"网页上登记模型最多 {MAX_REGISTER_ROWS:,} 行；更大的数据请交由系统管理员在服务器上训练", []
            )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "credit/upload.html",
            status_code=422,
            error=exc,
            filename=filename,
            form=form,
            cv_settings=pol.cv_settings(),
            active="credit",
        )
    job = jobs.enqueue(
        db,
        "credit.cv",
        title=f"自有数据交叉验证：{filename}",
        user_id=auth.user.id,
        params={**form, "filename": filename, "username": auth.user.username},
        input_data=content,
    )
    audit.record(
        db,
        action="upload",
        user=auth.user,
        object_type="credit_dataset",
        object_id=job.id,
        ip=client_ip(request),
        detail={
            "file": filename,
            "rows": data.n,
            "target": target,
            "bad": bad,
            "mode": mode,
            "job": job.id,
            "personal_columns": [f.name for f in data.features if f.personal],
        },
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/enterprises/{uscc}/credit-report")
def credit_report_page(request: Request, db: DB, auth: Viewer, uscc: str, format: str = "html"):
    ent = ent_service.get_enterprise(db, scope=auth.scope, uscc=uscc)
    if format == "pdf":
        return _pdf_export(
            request,
            db,
            auth,
            lambda: report.credit_report_pdf(db, ent, demo=request.app.state.is_demo(request)),
            object_type="credit_report",
            object_id=ent.uscc,
            filename=f"credit-report-{ent.uscc}.pdf",
        )
    ctx = report.credit_report_context(db, ent)
    return render(
        request,
        "credit/credit_report.html",
        **ctx,
        fin_chart=report.financials_chart(ctx["financials"]),
        active="enterprises",
    )


# -------------------------------------------------------------------------------------------- API
def _model_out(row: CreditModel) -> schemas.ModelOut:
    v = (row.metrics or {}).get("validation") or {}
    oof = v.get("out_of_fold") or {}
    return schemas.ModelOut(
        id=row.id,
        name=row.name,
        version=row.version,
        segment=row.segment,
        kind=row.kind.value,
        status=row.status.value,
        target=row.target,
        input=row.spec.get("input", ""),
        features=[f["name"] for f in row.features],
        training_rows=row.training_rows,
        training_bad_rate=row.training_bad_rate,
        training_hash=row.training_hash,
        auc_out_of_fold=(oof.get("auc") or {}).get("value"),
        ks_out_of_fold=(oof.get("ks") or {}).get("value"),
        created_by=row.created_by,
        created_at=row.created_at,
    )


@api_router.get("/credit/models", response_model=list[schemas.ModelOut], summary="评分模型登记册")
def models_api(db: DB, auth: Viewer):
    return [_model_out(r) for r in registry.list_models(db)]


@api_router.get("/credit/models/{model_id}", response_model=schemas.ModelDetailOut, summary="模型版本详情")
def model_api(db: DB, auth: Viewer, model_id: int):
    row = registry.get(db, model_id)
    return schemas.ModelDetailOut(
        **_model_out(row).model_dump(),
        params=row.params,
        metrics=row.metrics,
        spec_model=row.spec.get("model", {}),
    )


@api_router.post(
    "/credit/score",
    response_model=schemas.ScoreOut,
    summary="单户评分：评分、等级、违约概率、原因",
    description=(
        "给出 `enterprise`（企业信息，由冠军模型按企业特征评分）或 `record`（表格一行，需 `model_id` "
        "指定基于上传数据训练的模型）。缺失或异常取值按“缺失/未知”分箱计分并在 `notes` 中说明；"
        "数字字段填了文字返回 422（中文说明）。"
    ),
)
def score_api(db: DB, auth: Viewer, body: schemas.ScoreIn):
    result = credit_service.score_record(
        db,
        model_id=body.model_id,
        enterprise=body.enterprise.model_dump() if body.enterprise is not None else None,
        record=body.record,
    )
    return schemas.ScoreOut(**result)


@api_router.get(
    "/enterprises/{uscc}/credit", response_model=schemas.EnterpriseCreditOut, summary="企业信用评分与历史"
)
def enterprise_credit_api(db: DB, auth: CurrentAuth, uscc: str):
    ent = ent_service.get_enterprise(db, scope=auth.scope, uscc=uscc)
    credit = report.enterprise_credit(db, ent)
    latest = credit["latest"]

    def out(score: CreditScore, model: CreditModel) -> schemas.StoredScoreOut:
        return schemas.StoredScoreOut(
            as_of=score.as_of,
            score=round(score.score, 1),
            pd=score.pd,
            grade=score.grade,
            reasons=describe_stored(score.reasons, registry.load(model)),
            model_id=model.id,
            model=registry.model_label(model),
            model_status=model.status.value,
        )

    return schemas.EnterpriseCreditOut(
        uscc=ent.uscc,
        name=ent.name,
        latest=out(latest["score"], latest["model"]) if latest else None,
        history=[out(s, m) for s, m in credit["history"]],
    )
