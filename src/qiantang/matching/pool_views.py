"""Risk pools, claims, subsidies and 联保 checks: pages and API (thin: the logic is in pools.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse

from qiantang.auth.permissions import Permission, has_permission
from qiantang.enterprises.panels import Panel
from qiantang.enterprises.panels import register as register_panel
from qiantang.errors import Forbidden
from qiantang.exports import build_xlsx, xlsx_response
from qiantang.matching import pools
from qiantang.matching.models import ClaimState
from qiantang.registry.service import area_names
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["融资对接 Financing matchmaking"])
Manager = Annotated[Auth, require(Permission.MATCHING_MANAGE)]


def _may_see(auth: Auth) -> None:
    if not pools.can_see_pools(auth.scope):
        raise Forbidden("您的角色不能查看风险补偿资金池", message_en="Your role cannot see the risk pools")


def _context(db, auth: Auth) -> dict:
    return {
        "parties": pools.party_names(is_zh()),
        "can_manage": has_permission(auth.user.role, Permission.MATCHING_MANAGE),
        "states": {s.value: (s.zh if is_zh() else s.en) for s in ClaimState},
    }


@router.get("/matching/pools")
def pools_page(request: Request, db: DB, auth: CurrentAuth):
    _may_see(auth)
    return render(
        request,
        "matching/pools.html",
        active="matching",
        summaries=pools.pool_summaries(db, scope=auth.scope),
        claims=pools.list_claims(db, scope=auth.scope),
        pool_names={
            s["pool"].id: s["rule"]["name_zh" if is_zh() else "name_en"]
            for s in pools.pool_summaries(db, scope=auth.scope)
        },
        **_context(db, auth),
    )


@router.get("/matching/pools/{pool_id:int}")
def pool_page(request: Request, db: DB, auth: CurrentAuth, pool_id: int):
    _may_see(auth)
    pool = pools.get_pool(db, pool_id=pool_id)
    summary = next(s for s in pools.pool_summaries(db, scope=auth.scope) if s["pool"].id == pool.id)
    return render(
        request,
        "matching/pool.html",
        active="matching",
        s=summary,
        claims=pools.list_claims(db, scope=auth.scope, pool_id=pool.id),
        covered=pools.list_covered(db, scope=auth.scope, pool_id=pool.id),
        ledger=pools.ledger(db, pool_id=pool.id) if auth.scope.is_citywide else [],
        **_context(db, auth),
    )


@router.post("/matching/pools/claims/{claim_id:int}/{action}")
def claim_action(
    request: Request, db: DB, auth: Manager, claim_id: int, action: str = Path(pattern="^(approve|pay)$")
):
    claim = pools.get_claim(db, scope=auth.scope, claim_id=claim_id)
    step = pools.approve if action == "approve" else pools.pay
    step(db, claim_id=claim.id, actor=auth.user, on=date.today())
    return RedirectResponse(f"/matching/pools/{claim.pool_id}", status_code=303)


@router.get("/matching/pools/export")
def pools_export(request: Request, db: DB, auth: Annotated[Auth, require(Permission.EXPORT)]):
    _may_see(auth)
    rows = pools.list_claims(db, scope=auth.scope)
    names = {
        s["pool"].id: s["rule"]["name_zh" if is_zh() else "name_en"]
        for s in pools.pool_summaries(db, scope=auth.scope)
    }
    states = _context(db, auth)["states"]
    record_export(db, request, auth, "matching_pool_claims", detail={"rows": len(rows)})
    content = build_xlsx(
        sheet_title=_("Compensation claims"),
        headers=[
            _("Pool"),
            _("Enterprise"),
            _("Contract number"),
            _("Default date"),
            _("Loss (CNY 10k)"),
            _("Pool pays (CNY 10k)"),
            _("Shortfall (CNY 10k)"),
            _("Status"),
            _("Rule version"),
        ],
        rows=(
            [
                names.get(c.pool_id, ""),
                name,
                loan.contract_no,
                c.default_on,
                round(c.loss / 1e4, 2),
                round(c.pool_amount / 1e4, 2),
                round(c.shortfall / 1e4, 2),
                states[c.state.value],
                c.rules_version,
            ]
            for c, loan, name in rows
        ),
        number_formats={4: "#,##0.00", 5: "#,##0.00", 6: "#,##0.00"},
    )
    return xlsx_response(content, _("compensation-claims") + ".xlsx")


@router.get("/matching/subsidies")
def subsidies_page(request: Request, db: DB, auth: CurrentAuth):
    _may_see(auth)
    rules = {r["code"]: r["name_zh" if is_zh() else "name_en"] for r in pools.rules().get("subsidy", [])}
    return render(
        request,
        "matching/subsidies.html",
        active="matching",
        rows=pools.list_subsidies(db, scope=auth.scope),
        rules=rules,
    )


@router.get("/matching/joint-groups")
def joint_groups_page(request: Request, db: DB, auth: Annotated[Auth, require(Permission.MATCHING_POST)]):
    _may_see(auth)
    return render(
        request,
        "matching/joint_groups.html",
        active="matching",
        groups=pools.list_joint_groups(db, scope=auth.scope),
        areas=area_names(db, zh=is_zh()),
        error=None,
    )


@router.post("/matching/joint-groups")
def propose_joint_group(
    request: Request,
    db: DB,
    auth: Annotated[Auth, require(Permission.MATCHING_POST)],
    name: Annotated[str, Form(max_length=100)] = "",
    usccs: Annotated[str, Form(max_length=2000)] = "",
    amount_wan: Annotated[str, Form(max_length=20)] = "",
):
    _may_see(auth)
    try:
        amount = float(amount_wan.replace(",", "")) * 1e4
    except ValueError:
        amount = 0.0
    error = None
    try:
        pools.propose_joint_group(
            db,
            name=name,
            usccs=usccs.replace("，", ",").replace("\n", ",").split(","),
            amount=amount,
            scope=auth.scope,
            actor=auth.user,
            on=date.today(),
        )
    except pools.PoolRefused as exc:
        error = exc.message if is_zh() else exc.message_en
    if error is None:
        return RedirectResponse("/matching/joint-groups", status_code=303)
    return render(
        request,
        "matching/joint_groups.html",
        status_code=422,
        active="matching",
        groups=pools.list_joint_groups(db, scope=auth.scope),
        areas=area_names(db, zh=is_zh()),
        error=error,
    )


# --- API -----------------------------------------------------------------------------------------------
@api_router.get("/matching/pools", summary="风险补偿资金池")
def pools_api(db: DB, auth: CurrentAuth):
    _may_see(auth)
    return [
        {
            "id": s["pool"].id,
            "code": s["pool"].code,
            "name": s["rule"]["name_zh"],
            "balance": s["balance"],
            "covered_loans": s["covered"],
            "covered_balance": s["covered_balance"],
            "leverage": s["leverage"],
            "paid": s["paid"],
            "split": s["rule"]["split"],
            "per_loan_cap": s["rule"]["per_loan_cap"],
            "yearly_cap": s["rule"]["yearly_cap"],
            "rules_version": s["pool"].rules_version,
        }
        for s in pools.pool_summaries(db, scope=auth.scope)
    ]


def _claim_out(c, loan, name) -> dict:
    return {
        "id": c.id,
        "pool_id": c.pool_id,
        "loan_id": c.loan_id,
        "contract_no": loan.contract_no,
        "enterprise": name,
        "state": c.state.value,
        "default_on": c.default_on.isoformat(),
        "loss": c.loss,
        "shares": c.shares,
        "pool_amount": c.pool_amount,
        "shortfall": c.shortfall,
        "steps": c.steps,
        "rules_version": c.rules_version,
        "approved_by": c.approved_by,
        "paid_on": c.paid_on.isoformat() if c.paid_on else None,
    }


@api_router.get("/matching/pools/claims", summary="代偿申请")
def claims_api(db: DB, auth: CurrentAuth):
    _may_see(auth)
    return [_claim_out(*row) for row in pools.list_claims(db, scope=auth.scope)]


@api_router.post("/matching/pools/claims/{claim_id:int}/{action}", summary="审核或拨付代偿")
def claim_action_api(db: DB, auth: Manager, claim_id: int, action: str = Path(pattern="^(approve|pay)$")):
    claim = pools.get_claim(db, scope=auth.scope, claim_id=claim_id)
    (pools.approve if action == "approve" else pools.pay)(
        db, claim_id=claim.id, actor=auth.user, on=date.today()
    )
    row = next(r for r in pools.list_claims(db, scope=auth.scope) if r[0].id == claim.id)
    return _claim_out(*row)


# --- the firm's profile (一企一档): its needs, their outcomes, pool coverage and subsidies ------------------
def _firm_panel(session, *, enterprise, scope):
    from sqlalchemy import select

    from qiantang.matching.service import decline_reasons
    from qiantang.registry.models import Institution

    data = pools.firm_panel(session, enterprise_id=enterprise.id)
    if not (data["needs"] or data["covered"] or data["subsidies"]):
        return None
    ids = {o.institution_id for offers in data["outcomes"].values() for o in offers}
    lenders = dict(
        session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids))).all()
    )
    return Panel(
        "matching/_firm_panel.html",
        {
            **data,
            "lenders": lenders,
            "declines": {k: v[0] if is_zh() else v[1] for k, v in decline_reasons().items()},
            "states": {s.value: (s.zh if is_zh() else s.en) for s in ClaimState},
            "sees_pools": pools.can_see_pools(scope),
        },
    )


register_panel("matching", _firm_panel)
