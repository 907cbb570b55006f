"""Name-list pages: city staff preview and push a list; a lender answers for the firms pushed to it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission, has_permission
from qiantang.enterprises.models import Enterprise
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.matching import namelists as svc
from qiantang.registry.models import Institution
from qiantang.web.deps import DB, Auth, CurrentAuth, require
from qiantang.web.i18n import is_zh
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
Manager = Annotated[Auth, require(Permission.MATCHING_MANAGE)]
Lender = Annotated[Auth, require(Permission.MATCHING_LEND)]


def _lenders(db) -> list[tuple[int, str]]:
    """Institutions that publish products (the lenders a list can go to)."""
    from qiantang.matching.models import Product

    ids = select(Product.institution_id).distinct()
    return [
        tuple(r)
        for r in db.execute(
            select(Institution.id, Institution.name).where(Institution.id.in_(ids)).order_by(Institution.name)
        )
    ]


def _flags(db, ids) -> dict:
    """Each firm's fundraising grade and 失信 flag today (matching.service.risk_of, one batch)."""
    from qiantang.matching.service import risk_of

    return risk_of(db, ids, as_of=date.today())


@router.get("/matching/namelists")
def namelists_page(request: Request, db: DB, auth: CurrentAuth):
    manage = has_permission(auth.user.role, Permission.MATCHING_MANAGE)
    if not manage and auth.user.role != Role.LENDER:
        raise Forbidden(
            "名单推送仅市级工作人员与受推送机构可见", message_en="Name lists are for city staff and lenders"
        )
    rows = [] if manage else svc.entries(db, scope=auth.scope)
    firms = dict(
        db.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_({e.enterprise_id for e in rows}))
        ).all()
    )
    return render(
        request,
        "matching/namelists.html",
        active="matching",
        flags=_flags(db, {e.enterprise_id for e in rows}),
        manage=manage,
        lists=svc.lists(),
        pushes=svc.pushes(db) if manage else [],
        entries=rows,
        firms=firms,
        zh=is_zh(),
    )


@router.get("/matching/namelists/{code}")
def preview_page(request: Request, db: DB, auth: Manager, code: str = Path(pattern="^[a-z_]{1,32}$")):
    return render(
        request,
        "matching/namelist_preview.html",
        active="matching",
        spec=svc.spec(code),
        drawn=svc.draw(db, code=code, scope=auth.scope, as_of=date.today(), zh=is_zh()),
        lenders=_lenders(db),
        errors=None,
        zh=is_zh(),
    )


@router.post("/matching/namelists/{code}/push")
async def push(request: Request, db: DB, auth: Manager, code: str = Path(pattern="^[a-z_]{1,32}$")):
    form = await request.form()
    try:
        institution_ids = [int(v) for v in form.getlist("institution_id")]
        chosen = [int(v) for v in form.getlist("enterprise_id")] if form.get("some") else None
    except ValueError:
        institution_ids, chosen = [], None
    try:
        pushed = svc.push(
            db,
            code=code,
            institution_ids=institution_ids,
            enterprise_ids=chosen,
            scope=auth.scope,
            actor=auth.user,
            as_of=date.today(),
        )
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "matching/namelist_preview.html",
            status_code=422,
            active="matching",
            spec=svc.spec(code),
            drawn=svc.draw(db, code=code, scope=auth.scope, as_of=date.today(), zh=is_zh()),
            lenders=_lenders(db),
            errors=exc,
            zh=is_zh(),
        )
    return RedirectResponse(f"/matching/namelists/pushes/{pushed.id}", status_code=303)


@router.get("/matching/namelists/pushes/{push_id:int}")
def push_page(request: Request, db: DB, auth: CurrentAuth, push_id: int):
    from qiantang.matching.models import NameListPush

    pushed = db.get(NameListPush, push_id)
    rows = svc.entries(db, scope=auth.scope, push_id=push_id)
    if pushed is None or not rows:
        from qiantang.errors import NotFound

        raise NotFound(f"未找到推送名单（{push_id}）", message_en=f"Push {push_id} not found")
    firms = dict(
        db.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_({e.enterprise_id for e in rows}))
        ).all()
    )
    lenders = dict(db.execute(select(Institution.id, Institution.name)).all())
    return render(
        request,
        "matching/namelist_push.html",
        active="matching",
        flags=_flags(db, {e.enterprise_id for e in rows}),
        pushed=pushed,
        spec=svc.lists().get(pushed.list_code, {"zh": pushed.list_code, "en": pushed.list_code}),
        entries=rows,
        firms=firms,
        lenders=lenders,
        is_lender=auth.user.role == Role.LENDER,
        zh=is_zh(),
    )


@router.post("/matching/namelists/entries/{entry_id:int}")
def respond(
    request: Request,
    db: DB,
    auth: Lender,
    entry_id: int,
    response: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=500)] = "",
):
    entry = svc.respond(
        db,
        entry_id=entry_id,
        institution_id=auth.user.institution_id,
        actor=auth.user,
        response=response,
        reason=reason,
    )
    return RedirectResponse(f"/matching/namelists/pushes/{entry.push_id}", status_code=303)
