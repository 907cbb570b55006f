"""Financing matchmaking pages and API: needs, recommendations with reasons, the lender's inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from qiantang.auth.models import Role
from qiantang.auth.permissions import Permission, has_permission
from qiantang.enterprises.models import Enterprise
from qiantang.errors import Forbidden, QiantangError, ValidationFailed
from qiantang.exports import build_xlsx, xlsx_response
from qiantang.matching import engine, service
from qiantang.matching.models import (
    Collateral,
    NeedChannel,
    NeedStatus,
    Offer,
    OfferState,
    Product,
    ProductKind,
    ProductStatus,
)
from qiantang.matching.service import NeedIn
from qiantang.registry.models import Institution
from qiantang.registry.service import area_names
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.params import Blank
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["融资对接 Financing matchmaking"])
Lender = Annotated[Auth, require(Permission.MATCHING_LEND)]
Poster = Annotated[Auth, require(Permission.MATCHING_POST)]
PER_PAGE = 50


def _can_see_matching(auth: Auth) -> None:
    role = auth.user.role
    if role == Role.INSTITUTION_REPORTER:
        raise Forbidden("您的角色不能查看融资对接", message_en="Your role cannot see the matchmaking")


def _status(value: str | None) -> NeedStatus | None:
    if not value:
        return None
    try:
        return NeedStatus(value)
    except ValueError:
        raise QiantangError(f"无法识别的状态“{value}”", message_en=f"Unknown status {value!r}") from None


def _district_choices(db, auth: Auth) -> list[tuple[str, str]]:
    """The districts a user can filter by: a district officer only its own."""
    from qiantang.registry.models import Area

    stmt = select(Area.code, Area.name_zh if is_zh() else Area.name_en).where(Area.valid_to.is_(None))
    if auth.user.role == Role.DISTRICT_OFFICER:
        stmt = stmt.where(Area.code == auth.user.district_code)
    return [tuple(r) for r in db.execute(stmt.order_by(Area.sort_order))]


def _names(db) -> dict:
    return {
        "areas": area_names(db, zh=is_zh()),
        "lenders": dict(db.execute(select(Institution.id, Institution.name)).all()),
        "collateral": {c.value: (c.zh if is_zh() else c.en) for c in Collateral},
        "declines": {k: v[0] if is_zh() else v[1] for k, v in service.decline_reasons().items()},
    }


@dataclass(frozen=True)
class NeedSearch:
    """The needs list's filters; a blank field (the form's "全部" or an untouched date) means "all"."""

    status: str | None = None
    q: str | None = None
    district: str | None = None
    since: date | None = None
    until: date | None = None

    def kwargs(self) -> dict:
        return {
            "status": _status(self.status),
            "q": (self.q or "").strip() or None,
            "district_code": (self.district or "")[:6] or None,
            "since": self.since,
            "until": self.until,
        }


def _search(
    status: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    district: Blank[str] = None,
    since: Blank[date] = None,
    until: Blank[date] = None,
) -> NeedSearch:
    return NeedSearch(status, q, district, since, until)


Search = Annotated[NeedSearch, Depends(_search)]


@router.get("/matching")
def home(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    search: Search,
    page: int = Query(1, ge=1, le=100_000),
):
    _can_see_matching(auth)
    scope = auth.scope
    rows, total = service.list_needs(
        db, scope=scope, offset=(page - 1) * PER_PAGE, limit=PER_PAGE, **search.kwargs()
    )
    enterprises = dict(
        db.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_({n.enterprise_id for n in rows}))
        ).all()
    )
    today = date.today()
    return render(
        request,
        "matching/home.html",
        active="matching",
        needs=rows,
        enterprises=enterprises,
        flags=_risk_for(auth, service.risk_of(db, {n.enterprise_id for n in rows}, as_of=today)),
        funnel=service.funnel(db, scope=scope),
        overdue=service.overdue_offers(db, scope=scope, today=today) if auth.user.role != Role.FIRM else [],
        statuses=list(NeedStatus),
        status=_status(search.status),
        search=search,
        district_choices=_district_choices(db, auth),
        can_post=has_permission(auth.user.role, Permission.MATCHING_POST),
        can_namelists=auth.user.role == Role.LENDER
        or has_permission(auth.user.role, Permission.MATCHING_MANAGE),
        is_lender=auth.user.role == Role.LENDER,
        policy=service.policy(),
        today=today,
        **_names(db),
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/matching/export")
def export(request: Request, db: DB, auth: Annotated[Auth, require(Permission.EXPORT)], search: Search):
    rows, _total = service.list_needs(db, scope=auth.scope, limit=None, **search.kwargs())
    enterprises = dict(
        db.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_({n.enterprise_id for n in rows}))
        ).all()
    )
    names = area_names(db, zh=is_zh())
    flags = service.risk_of(db, {n.enterprise_id for n in rows}, as_of=date.today())
    grades = {"red": _("Red"), "orange": _("Orange"), "yellow": _("Yellow"), "green": _("Green")}
    record_export(db, request, auth, "matching_needs", detail={"rows": len(rows)})
    content = build_xlsx(
        sheet_title=_("Financing needs"),
        headers=[
            _("Enterprise"),
            _("District"),
            _("Amount (CNY 10k)"),
            _("Term (months)"),
            _("Purpose"),
            _("Status"),
            _("Posted"),
            _("Fundraising risk grade"),
            _("Dishonest debtor"),
        ],
        rows=(
            [
                enterprises.get(n.enterprise_id, ""),
                names.get(n.district_code, n.district_code),
                round(n.amount / 1e4, 2),
                n.term_months,
                n.purpose,
                n.status.zh if is_zh() else n.status.value,
                n.posted_on,
                grades.get(getattr(flags.get(n.enterprise_id), "grade", None) or "", ""),
                _("Yes") if getattr(flags.get(n.enterprise_id), "dishonest", False) else "",
            ]
            for n in rows
        ),
        number_formats={2: "#,##0.00"},
    )
    return xlsx_response(content, _("financing-needs") + ".xlsx")


@router.get("/matching/needs/new")
def new_need_page(request: Request, db: DB, auth: Poster):
    own = db.get(Enterprise, auth.user.enterprise_id) if auth.user.role == Role.FIRM else None
    return render(
        request,
        "matching/new_need.html",
        active="matching",
        own=own,
        errors=None,
        form={},
        collateral=list(Collateral),
    )


@router.post("/matching/needs")
def post_need(
    request: Request,
    db: DB,
    auth: Poster,
    uscc: Annotated[str, Form(max_length=18)] = "",
    amount_wan: Annotated[str, Form(max_length=20)] = "",
    term_months: Annotated[str, Form(max_length=5)] = "",
    purpose: Annotated[str, Form(max_length=200)] = "",
    collateral: Annotated[list[str] | None, Form()] = None,
    max_rate_pct: Annotated[str, Form(max_length=10)] = "",
    urgent: Annotated[str, Form(max_length=5)] = "",
):
    own = db.get(Enterprise, auth.user.enterprise_id) if auth.user.role == Role.FIRM else None
    if own is not None:
        uscc = own.uscc  # a firm posts only for itself

    def num(text: str, kind=float):
        try:
            return kind(text.replace(",", "").strip()) if text.strip() else None
        except ValueError:
            return float("nan") if kind is float else -1

    data = NeedIn(
        uscc=uscc.strip().upper(),
        amount_wan=num(amount_wan),
        term_months=num(term_months, int),
        purpose=purpose,
        collateral=tuple(collateral or ()),
        max_rate_pct=num(max_rate_pct),
        urgent=bool(urgent),
    )
    channel = NeedChannel.ONLINE if auth.user.role == Role.FIRM else NeedChannel.VISIT
    try:
        need = service.post_need(
            db, data=data, channel=channel, actor=auth.user, scope=_poster_scope(auth), today=date.today()
        )
        service.offer(db, need=need, today=date.today(), actor=auth.user)
    except ValidationFailed as exc:
        db.rollback()
        form = {
            "uscc": uscc,
            "amount_wan": amount_wan,
            "term_months": term_months,
            "purpose": purpose,
            "max_rate_pct": max_rate_pct,
            "collateral": collateral or [],
        }
        return render(
            request,
            "matching/new_need.html",
            status_code=422,
            active="matching",
            own=own,
            errors=exc,
            form=form,
            collateral=list(Collateral),
        )
    return RedirectResponse(f"/matching/needs/{need.id}", status_code=303)


def _poster_scope(auth: Auth):
    from qiantang.auth.scope import Scope

    if auth.user.role == Role.FIRM:
        return Scope.system()  # the firm's own USCC was forced above
    return auth.scope


@router.get("/matching/needs/{need_id:int}")
def need_page(request: Request, db: DB, auth: CurrentAuth, need_id: int):
    _can_see_matching(auth)
    need = service.get_need(db, scope=auth.scope, need_id=need_id)
    ent = db.get(Enterprise, need.enterprise_id)
    role = auth.user.role
    explanations = (
        [] if role == Role.LENDER else service.explain_need(db, need=need, today=date.today(), zh=is_zh())
    )
    for e in explanations:
        if not e["eligible"]:
            e["reasons"] = _exclusions_for(auth, e["reasons"])
    from qiantang.matching.models import NeedEvent

    events = db.scalars(select(NeedEvent).where(NeedEvent.need_id == need.id).order_by(NeedEvent.id)).all()
    today = date.today()
    return render(
        request,
        "matching/need.html",
        active="matching",
        need=need,
        ent=ent,
        risk=_risk_for(auth, service.risk_of(db, [ent.id], as_of=today)).get(ent.id),
        exclusions=_exclusions_for(
            auth, service.firm_exclusions(db, enterprise_id=ent.id, as_of=today, zh=is_zh())
        ),
        offers=service.visible_offers(need, auth.scope),
        explanations=explanations,
        versions=_versions_text(explanations),
        events=events
        if role != Role.LENDER
        else [
            e
            for e in events
            if e.offer_id is None or any(o.id == e.offer_id for o in service.visible_offers(need, auth.scope))
        ],
        is_lender=role == Role.LENDER,
        is_firm=role == Role.FIRM,
        my_institution=auth.user.institution_id,
        **_names(db),
    )


def _risk_for(auth: Auth, flags: dict) -> dict:
    """A firm does not see its own fundraising grade (a supervisory lead, not a public fact): only the
    失信被执行人 flag, which is public. Everyone else who sees the firm in matching sees both."""
    if auth.user.role != Role.FIRM:
        return flags
    from dataclasses import replace

    return {eid: replace(f, grade=None, score=None) for eid, f in flags.items() if f.dishonest}


def _exclusions_for(auth: Auth, exclusions: list[dict]) -> list[dict]:
    """The firm-level exclusions as the viewer may read them: a firm is told its matching is paused,
    not its fundraising grade."""
    if auth.user.role != Role.FIRM:
        return exclusions
    paused = _("Matching is paused for this firm for now; please contact the district's financial office.")
    return [
        {**r, "text": paused, "source": ""} if r.get("rule") == "fundraising_grade" else r for r in exclusions
    ]


def _versions_text(explanations: list[dict]) -> str:
    """The rule and ranking versions behind the explanations, in words (not their codes)."""
    if not explanations:
        return ""
    codes = [explanations[0]["rules_version"]]
    codes.append(next((e["ranking_version"] for e in explanations if e.get("ranking_version")), None))
    words = [engine.describe_version(c, zh=is_zh()) for c in codes if c]
    return ("；" if is_zh() else "; ").join(words)


OFFER_ACTIONS = ("claim", "contact", "approve", "decline", "disburse")


def _act_on_offer(
    db,
    auth: Auth,
    offer_id: int,
    action: str,
    *,
    amount_wan: float | None = None,
    decline_code: str | None = None,
    contract_no: str = "",
) -> Offer:
    """One lender step on one offer — the single dispatcher behind the page's buttons and the API.

    Only the lender the need was offered to may act (403 otherwise); the service checks the step.
    """
    offer = db.get(Offer, offer_id)
    if offer is None or offer.institution_id != auth.user.institution_id:
        raise Forbidden("只能处理推送给本机构的需求", message_en="You may only act on needs offered to you")
    who = {"offer_id": offer.id, "institution_id": auth.user.institution_id, "actor": auth.user}
    today = date.today()
    if action == "claim":
        return service.claim(db, today=today, **who)
    if action == "contact":
        return service.record_contact(db, on=today, **who)
    if action in ("approve", "decline"):
        approved = action == "approve"
        return service.decide(
            db,
            on=today,
            approved=approved,
            amount_wan=amount_wan if approved else None,
            decline_code=None if approved else decline_code,
            **who,
        )
    if action == "disburse":
        contract = contract_no.strip() or f"PT{today:%Y%m%d}{offer.id:06d}"
        return service.disburse(db, on=today, contract_no=contract, **who)
    raise QiantangError(f"无法识别的操作“{action}”", message_en=f"Unknown action {action!r}")


@router.post("/matching/offers/{offer_id:int}/{action}")
def offer_action(
    request: Request,
    db: DB,
    auth: Lender,
    offer_id: int,
    action: str = Path(pattern="^(" + "|".join(OFFER_ACTIONS) + ")$"),
    amount_wan: Annotated[str, Form(max_length=20)] = "",
    decline_code: Annotated[str, Form(max_length=32)] = "",
    contract_no: Annotated[str, Form(max_length=40)] = "",
):
    try:
        amount = float(amount_wan) if action == "approve" else None
    except ValueError:
        amount = None
    offer = _act_on_offer(
        db, auth, offer_id, action, amount_wan=amount, decline_code=decline_code, contract_no=contract_no
    )
    return RedirectResponse(f"/matching/needs/{offer.need_id}", status_code=303)


@router.post("/matching/needs/{need_id:int}/choose")
def choose(
    request: Request, db: DB, auth: Poster, need_id: int, offer_id: Annotated[int, Form(ge=1, le=2**62)]
):
    need = service.get_need(db, scope=auth.scope, need_id=need_id)
    service.choose(db, need=need, offer_id=offer_id, actor=auth.user, on=date.today())
    return RedirectResponse(f"/matching/needs/{need.id}", status_code=303)


@router.post("/matching/needs/{need_id:int}/withdraw")
def withdraw(request: Request, db: DB, auth: Poster, need_id: int):
    need = service.get_need(db, scope=auth.scope, need_id=need_id)
    service.withdraw(db, need=need, actor=auth.user, today=date.today())
    return RedirectResponse(f"/matching/needs/{need.id}", status_code=303)


@router.get("/matching/products")
def products_page(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    kind: Annotated[Blank[ProductKind], Query()] = None,
    status: Annotated[Blank[ProductStatus], Query()] = None,
):
    """The products a user may see (matching/products.py decides), filtered by kind and status."""
    from qiantang.matching.products import product_clause

    _can_see_matching(auth)
    stmt = select(Product).where(product_clause(auth.scope)).order_by(Product.institution_id, Product.id)
    if kind is not None:
        stmt = stmt.where(Product.kind == kind)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    return render(
        request,
        "matching/products.html",
        active="matching",
        products=db.scalars(stmt).all(),
        can_create=auth.user.role == Role.LENDER,
        kinds=list(ProductKind),
        kind=kind,
        status=status,
        statuses=[] if auth.user.role == Role.FIRM else list(ProductStatus),
        **_names(db),
    )


# ---------------------------------------------------------------------------------------------- API


class NeedOut(BaseModel):
    id: int
    enterprise_id: int
    district_code: str
    amount_yuan: float
    term_months: int
    purpose: str
    status: str
    posted_on: date


class OfferOut(BaseModel):
    id: int
    need_id: int
    product_id: int
    state: str
    claimed_on: date | None
    contact_due: date | None
    decision_due: date | None
    decided_on: date | None
    decline_code: str | None


def _need_out(n) -> NeedOut:
    return NeedOut(
        id=n.id,
        enterprise_id=n.enterprise_id,
        district_code=n.district_code,
        amount_yuan=n.amount,
        term_months=n.term_months,
        purpose=n.purpose,
        status=n.status.value,
        posted_on=n.posted_on,
    )


def _offer_out(o: Offer) -> OfferOut:
    return OfferOut(
        id=o.id,
        need_id=o.need_id,
        product_id=o.product_id,
        state=o.state.value,
        claimed_on=o.claimed_on,
        contact_due=o.contact_due,
        decision_due=o.decision_due,
        decided_on=o.decided_on,
        decline_code=o.decline_code,
    )


@api_router.get("/matching/needs", summary="融资需求（按权限） Financing needs within scope")
def needs_api(
    db: DB,
    auth: CurrentAuth,
    status: str | None = None,
    offset: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    _can_see_matching(auth)
    rows, total = service.list_needs(db, scope=auth.scope, status=_status(status), offset=offset, limit=limit)
    return {"total": total, "items": [_need_out(n) for n in rows]}


@api_router.get("/matching/offers", summary="推送给本机构的需求 Offers to my institution")
def offers_api(
    db: DB, auth: Lender, state: str | None = Query(None, pattern="^[a-z_]{1,16}$")
) -> list[OfferOut]:
    stmt = (
        select(Offer)
        .where(Offer.institution_id == auth.user.institution_id)
        .order_by(Offer.id.desc())
        .limit(1000)
    )
    if state:
        try:
            stmt = stmt.where(Offer.state == OfferState(state))
        except ValueError:
            raise QiantangError(f"无法识别的状态“{state}”", message_en=f"Unknown state {state!r}") from None
    return [_offer_out(o) for o in db.scalars(stmt)]


class DecisionIn(BaseModel):
    approved: bool
    amount_wan: float | None = Field(None, gt=0, le=1_000_000)
    decline_code: str | None = Field(None, max_length=32)


@api_router.post("/matching/offers/{offer_id}/claim", summary="接单 Pick up a need")
def claim_api(db: DB, auth: Lender, offer_id: int = Path(..., ge=1, le=2**62)) -> OfferOut:
    return _offer_out(_act_on_offer(db, auth, offer_id, "claim"))


@api_router.post("/matching/offers/{offer_id}/contact", summary="登记首次对接 Record first contact")
def contact_api(db: DB, auth: Lender, offer_id: int = Path(..., ge=1, le=2**62)) -> OfferOut:
    return _offer_out(_act_on_offer(db, auth, offer_id, "contact"))


@api_router.post("/matching/offers/{offer_id}/decision", summary="授信或拒绝 Approve or decline")
def decision_api(
    db: DB, auth: Lender, body: DecisionIn, offer_id: int = Path(..., ge=1, le=2**62)
) -> OfferOut:
    action = "approve" if body.approved else "decline"
    return _offer_out(
        _act_on_offer(db, auth, offer_id, action, amount_wan=body.amount_wan, decline_code=body.decline_code)
    )
