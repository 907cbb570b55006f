"""Fundraising-monitoring data imports for city staff: the upload page per kind, its Excel template, and
the JSON API. Checking and storing is ``imports`` (one transaction, every problem listed in Chinese);
a large file goes to the job worker, like the guarantee imports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from qiantang.auth.permissions import Permission
from qiantang.errors import ValidationFailed
from qiantang.exports import xlsx_response
from qiantang.fundraising import imports
from qiantang.web.deps import DB, Auth, require
from qiantang.web.i18n import N_
from qiantang.web.i18n import gettext as _
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["非法集资监测 Fundraising monitoring"])
# City staff who keep the register's data (as the guarantee and listing imports).
Importer = Annotated[Auth, require(Permission.EDIT_REGISTRY)]
KIND_PATTERN = "^(" + "|".join(imports.KINDS) + ")$"
KIND_NAMES = {
    "profiles": N_("Business scope and paid-in capital"),
    "changes": N_("Registration changes"),
    "people": N_("Shareholders and legal representatives"),
    "texts": N_("Advertising and web texts"),
    "spread": N_("Investors and spread"),
    "complaints": N_("Complaints"),
    "dishonest": N_("Dishonest judgment debtors"),
    "funds": N_("Fund anomalies reported by banks"),
}
COLUMN_KINDS = {
    "uscc": N_("USCC"),
    "date": N_("Date (YYYY-MM-DD)"),
    "number": N_("Number"),
    "int": N_("Whole number"),
    "enum": N_("One of the listed words"),
    "text": N_("Text"),
}


def _page(request: Request, kind: str, *, error=None, stored=None, status_code: int = 200):
    spec = imports.kind_of(kind)
    return render(
        request,
        "fundraising/import.html",
        status_code=status_code,
        active="fundraising",
        kind=kind,
        kinds={k: _(v) for k, v in KIND_NAMES.items()},
        columns=[(c.zh, _(COLUMN_KINDS[c.kind]), c.required) for c in spec.columns],
        large_mb=imports.LARGE_BYTES / (1024 * 1024),
        error=error,
        stored=stored,
    )


@router.get("/fundraising/import")
def import_page(
    request: Request, auth: Importer, kind: Annotated[str, Query(pattern=KIND_PATTERN)] = "profiles"
):
    return _page(request, kind)


@router.get("/fundraising/import/{kind}/template")
def import_template(auth: Importer, kind: str = Path(pattern=KIND_PATTERN)):
    return xlsx_response(imports.template(kind), _("fundraising-%(kind)s-template", kind=kind) + ".xlsx")


@router.post("/fundraising/import")
def import_upload(
    request: Request,
    db: DB,
    auth: Importer,
    kind: Annotated[str, Form(pattern=KIND_PATTERN)],
    file: Annotated[UploadFile, File()],
):
    """A small file is checked and stored now (the page lists every problem); a large one by the worker."""
    content = file.file.read()  # a plain route: runs in a worker thread, off the event loop
    filename = file.filename or ""
    if len(content) > imports.LARGE_BYTES:
        from qiantang.jobs import service as jobs

        job = jobs.enqueue(
            db,
            "fundraising.import",
            title=f"导入{imports.KINDS[kind].zh}：{filename}",
            user_id=auth.user.id,
            params={"kind": kind, "filename": filename},
            input_data=content,
        )
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    try:
        stored = imports.import_upload(
            db, kind_name=kind, content=content, filename=filename, actor=auth.user
        )
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, kind, error=exc, status_code=422)
    return _page(request, kind, stored=stored)


class ImportIn(BaseModel):
    rows: list[dict[str, Any]] = Field(
        ...,
        description="每行一个对象，键为字段名（如 uscc、listed_on）或模板的中文列名；金额单位万元",
        max_length=200_000,
    )


class ImportOut(BaseModel):
    kind: str
    stored: int


@api_router.post(
    "/fundraising/imports/{kind}",
    response_model=ImportOut,
    status_code=201,
    summary="导入非法集资监测数据（整批校验，出错则一行不存）",
)
def import_api(db: DB, auth: Importer, body: ImportIn, kind: str = Path(pattern=KIND_PATTERN)) -> ImportOut:
    stored = imports.import_records(db, kind_name=kind, records=body.rows, actor=auth.user)
    return ImportOut(kind=kind, stored=stored)
