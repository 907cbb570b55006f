"""Product pages and API: a lender edits its institution's products, city staff approve each version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission, has_permission
from qiantang.errors import ValidationFailed
from qiantang.matching import products as svc
from qiantang.matching.models import Collateral, Product, ProductKind
from qiantang.registry.models import Area, Institution
from qiantang.standards.industry import SECTIONS
from qiantang.standards.sme_size import SizeClass
from qiantang.web.deps import DB, Auth, CurrentAuth, require
from qiantang.web.i18n import is_zh
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["融资对接 Financing matchmaking"])
Lender = Annotated[Auth, require(Permission.MATCHING_LEND)]
Manager = Annotated[Auth, require(Permission.MATCHING_MANAGE)]
ProductId = Annotated[int, Path(ge=1, le=2**62)]
LIST_FIELDS = ("sizes", "industries", "districts", "collateral", "policy_tags")


def _choices(db) -> dict[str, Any]:
    zh = is_zh()
    return {
        "kinds": [(k.value, k.zh if zh else k.en) for k in ProductKind],
        "size_choices": [(s.value, s.zh if zh else s.value) for s in SizeClass],
        "section_choices": [(s.code, s.name_zh if zh else s.name_en) for s in SECTIONS],
        "district_choices": [
            (a.code, a.name_zh if zh else a.name_en)
            for a in db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order))
        ],
        "collateral_choices": [(c.value, c.zh if zh else c.en) for c in Collateral if c != Collateral.NONE],
        "tag_choices": svc.POLICY_TAGS,
        "guarantors": db.execute(select(Institution.id, Institution.name).order_by(Institution.name)).all(),
    }


def _form_page(request, db, *, product: Product | None, form: dict, errors=None, status_code: int = 200):
    return render(
        request,
        "matching/product_form.html",
        status_code=status_code,
        active="matching",
        product=product,
        form=form,
        errors=errors,
        **_choices(db),
    )


async def _raw_form(request: Request) -> dict[str, Any]:
    data = await request.form()
    raw: dict[str, Any] = {k: v for k, v in data.items() if k not in LIST_FIELDS and k != "csrf_token"}
    for key in LIST_FIELDS:
        raw[key] = data.getlist(key)
    return raw


@router.get("/matching/products/new")
def new_product_page(request: Request, db: DB, auth: Lender):
    form = {"promise_contact_days": 2, "promise_decision_days": 10, "min_age_years": 0}
    return _form_page(request, db, product=None, form=form)


@router.post("/matching/products")
async def create_product(request: Request, db: DB, auth: Lender):
    raw = await _raw_form(request)
    try:
        product = svc.create_product(db, raw=raw, institution_id=auth.user.institution_id, actor=auth.user)
    except ValidationFailed as exc:
        db.rollback()
        return _form_page(request, db, product=None, form=raw, errors=exc, status_code=422)
    return RedirectResponse(f"/matching/products/{product.id}", status_code=303)


@router.get("/matching/products/{product_id:int}")
def product_page(request: Request, db: DB, auth: CurrentAuth, product_id: int):
    product = svc.get_product(db, scope=auth.scope, product_id=product_id)
    zh = is_zh()
    words = svc.labels(db, zh=zh)
    pending = svc.pending_versions(db, product)
    latest = max(pending, key=lambda v: v.version) if pending else None
    role = auth.user.role
    return render(
        request,
        "matching/product.html",
        active="matching",
        product=product,
        facts=[
            (name_zh if zh else name_en, svc.show(k, getattr(product, k), words, zh=zh))
            for k, (name_zh, name_en) in svc.FIELDS.items()
        ],
        pending=latest,
        pending_changes=svc.diff(svc.snapshot_of(product), latest.snapshot, words, zh=zh) if latest else [],
        history=[] if role == Role.FIRM else svc.history(db, product=product, zh=zh),
        lender=db.get(Institution, product.institution_id),
        can_edit=role == Role.LENDER and product.institution_id == auth.user.institution_id,
        can_review=has_permission(role, Permission.MATCHING_MANAGE),
    )


@router.get("/matching/products/{product_id:int}/edit")
def edit_product_page(request: Request, db: DB, auth: Lender, product_id: int):
    product = svc.get_product(db, scope=auth.scope, product_id=product_id, edit=True)
    pending = svc.pending_versions(db, product)
    source = max(pending, key=lambda v: v.version).snapshot if pending else product
    return _form_page(request, db, product=product, form=svc.raw_of(source))


@router.post("/matching/products/{product_id:int}")
async def save_product(request: Request, db: DB, auth: Lender, product_id: int):
    product = svc.get_product(db, scope=auth.scope, product_id=product_id, edit=True)
    raw = await _raw_form(request)
    try:
        svc.edit_product(db, product=product, raw=raw, actor=auth.user)
    except ValidationFailed as exc:
        db.rollback()
        product = db.get(Product, product_id)
        return _form_page(request, db, product=product, form=raw, errors=exc, status_code=422)
    return RedirectResponse(f"/matching/products/{product_id}", status_code=303)


@router.post("/matching/products/{product_id:int}/{decision}")
def review_product(
    request: Request,
    db: DB,
    auth: Manager,
    product_id: int,
    decision: str = Path(pattern="^(approve|reject)$"),
    reason: Annotated[str, Form(max_length=500)] = "",
):
    product = svc.get_product(db, scope=auth.scope, product_id=product_id)
    svc.review(db, product=product, actor=auth.user, approved=decision == "approve", reason=reason)
    return RedirectResponse(f"/matching/products/{product_id}", status_code=303)


# ---------------------------------------------------------------------------------------------- API
class ProductBody(BaseModel):
    """A product as a lender's system sends it (PATCH: only the fields that change)."""

    name: str | None = Field(None, max_length=100)
    kind: str | None = Field(None, max_length=16)
    min_amount_wan: float | None = None
    max_amount_wan: float | None = None
    min_term_months: int | None = None
    max_term_months: int | None = None
    min_spread_bp: int | None = None
    max_spread_bp: int | None = None
    sizes: list[str] | None = Field(None, max_length=10)
    industries: list[str] | None = Field(None, max_length=30)
    districts: list[str] | None = Field(None, max_length=50)
    min_age_years: float | None = None
    collateral: list[str] | None = Field(None, max_length=10)
    partner_guarantor_id: int | None = None
    policy_tags: list[str] | None = Field(None, max_length=10)
    documents: list[str] | None = Field(None, max_length=30)
    first_loan_only: bool | None = None
    promise_contact_days: int | None = None
    promise_decision_days: int | None = None


class ReviewIn(BaseModel):
    approved: bool
    reason: str = Field("", max_length=500)


def _out(db, product: Product) -> dict[str, Any]:
    pending = svc.pending_versions(db, product)
    return {
        "id": product.id,
        "institution_id": product.institution_id,
        "status": product.status.value,
        "live_version": product.version
        if product.approved_at or product.status.value == "approved"
        else None,
        "pending_version": max(v.version for v in pending) if pending else None,
        **svc.snapshot_of(product),
    }


def _raw_body(body: ProductBody, base: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = dict(base or {})
    raw.update(body.model_dump(exclude_unset=True))
    if "first_loan_only" in raw:
        raw["first_loan_only"] = "1" if raw["first_loan_only"] in (True, "1") else ""
    return raw


@api_router.get("/matching/products/{product_id}", summary="融资产品 One product")
def product_api(db: DB, auth: CurrentAuth, product_id: ProductId) -> dict:
    return _out(db, svc.get_product(db, scope=auth.scope, product_id=product_id))


@api_router.post("/matching/products", summary="新建产品（待审批） Create a product", status_code=201)
def create_product_api(db: DB, auth: Lender, body: ProductBody) -> dict:
    product = svc.create_product(
        db, raw=_raw_body(body), institution_id=auth.user.institution_id, actor=auth.user
    )
    return _out(db, product)


@api_router.patch("/matching/products/{product_id}", summary="修改产品（新版本待审批） Edit a product")
def edit_product_api(db: DB, auth: Lender, body: ProductBody, product_id: ProductId) -> dict:
    product = svc.get_product(db, scope=auth.scope, product_id=product_id, edit=True)
    pending = svc.pending_versions(db, product)
    base = svc.raw_of(max(pending, key=lambda v: v.version).snapshot if pending else product)
    svc.edit_product(db, product=product, raw=_raw_body(body, base), actor=auth.user)
    return _out(db, product)


@api_router.post("/matching/products/{product_id}/approve", summary="审批产品 Approve or reject")
def review_product_api(db: DB, auth: Manager, body: ReviewIn, product_id: ProductId) -> dict:
    product = svc.get_product(db, scope=auth.scope, product_id=product_id)
    svc.review(db, product=product, actor=auth.user, approved=body.approved, reason=body.reason)
    return _out(db, product)
