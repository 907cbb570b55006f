"""The overview page and its API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from qiantang.auth.permissions import has_any
from qiantang.errors import Forbidden
from qiantang.overview import schemas, service
from qiantang.registry.models import InstitutionCategory
from qiantang.registry.service import area_names
from qiantang.standards.loan_class import LoanClass
from qiantang.standards.sme_size import SizeClass
from qiantang.web.deps import DB, CurrentAuth
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.templating import NAV, nav_for, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["概览 Overview"])


def _charts(ov: service.Overview) -> dict:
    zh = is_zh()
    charts = {
        "institutions": {
            "kind": "bar",
            "title": _("Open institutions by type"),
            "categories": [t.name_zh if zh else t.name_en for t in ov.institutions_by_type],
            "series": [{"name": _("Institutions"), "data": [t.count for t in ov.institutions_by_type]}],
            "horizontal": True,
        }
    }
    if ov.enterprises_by_size is not None:
        charts["sizes"] = {
            "kind": "pie",
            "title": _("Enterprises by size class"),
            "data": [
                {"name": label(SizeClass(k)) if k != "unknown" else _("Unknown"), "value": v}
                for k, v in ov.enterprises_by_size.items()
            ],
        }
    if ov.balance_by_class is not None:
        charts["classes"] = {
            "kind": "bar",
            "title": _("Loan balance by five-tier class (CNY 100m)"),
            "categories": [label(LoanClass(k)) for k in ov.balance_by_class],
            "series": [
                {"name": _("Balance"), "data": [round(v / 1e8, 2) for v in ov.balance_by_class.values()]}
            ],
        }
    return charts


# The overview opens for exactly the roles whose menu shows it.
_OVERVIEW = next(item.permissions for item in NAV if item.code == "overview")


def _sees_overview(auth) -> bool:
    return has_any(auth.user.role, _OVERVIEW)


@router.get("/")
def overview_page(request: Request, db: DB, auth: CurrentAuth):
    if not _sees_overview(auth):
        # Lenders and firms see no city figures: their home is the first page of their own menu.
        items = nav_for(auth.user)
        if not items:
            raise Forbidden("您的角色没有可打开的页面", message_en="Your role has no pages to open")
        return RedirectResponse(items[0].url, status_code=303)
    ov = service.build_overview(db, scope=auth.scope)
    return render(
        request,
        "overview/index.html",
        ov=ov,
        district_name=(
            area_names(db, zh=is_zh()).get(auth.user.district_code, "") if auth.user.district_code else ""
        ),
        charts=_charts(ov),
        categories=list(InstitutionCategory),
        active="overview",
    )


@api_router.get("/overview", response_model=schemas.OverviewOut, summary="概览关键指标 Key figures")
def overview_api(db: DB, auth: CurrentAuth) -> schemas.OverviewOut:
    if not _sees_overview(auth):
        raise Forbidden("您的角色不能查看全市概览", message_en="Your role cannot see the city overview")
    ov = service.build_overview(db, scope=auth.scope)
    return schemas.OverviewOut.from_overview(ov)
