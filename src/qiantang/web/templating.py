"""Jinja2 set-up: one environment for every domain's templates, with the shell's helpers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape
from starlette.responses import Response

from qiantang import __version__, formatting
from qiantang.auth.permissions import Permission, has_any
from qiantang.help.service import help_url
from qiantang.masking import jinja_mask
from qiantang.standards.industry import industry_label
from qiantang.versions import version_words
from qiantang.web.i18n import N_, get_locale, gettext, label

# Domain packages whose ``templates/`` folder is reachable as "<package>/<file>.html".
TEMPLATE_PACKAGES = (
    "overview",
    "registry",
    "enterprises",
    "audit",
    "auth",
    "plan",
    "filings",
    "statistics",
    "earlywarning",
    "cases",
    "credit",
    "network",
    "listing",
    "disputes",
    "talent",
    "matching",
    "fundraising",
    "help",
    "jobs",
    "notify",
    "fundraising",
)


@dataclass(frozen=True)
class NavItem:
    code: str
    label: str  # msgid
    url: str
    built: bool
    plan_section: str = ""
    permissions: tuple[Permission, ...] = (Permission.VIEW_CITY_DATA,)  # any of them shows the item
    description: str = ""  # msgid


VIEW = Permission.VIEW_CITY_DATA
FILE = Permission.SUBMIT_FILINGS
NAV: tuple[NavItem, ...] = (
    NavItem("overview", N_("Overview"), "/", True, "", (VIEW, FILE)),
    NavItem("plan", N_("Plan monitoring"), "/plan", True, "三(四)、五"),
    NavItem("registry", N_("Institutions"), "/institutions", True, "六(三)3", (VIEW, FILE)),
    NavItem("filings", N_("Filings"), "/filings", True, "六(三)3", (VIEW, FILE)),
    NavItem("statistics", N_("Statistics"), "/statistics", True, "六(三)3", (VIEW,)),
    NavItem("earlywarning", N_("Early warning"), "/early-warning", True, "六(三)3", (VIEW,)),
    NavItem("cases", N_("Cases"), "/cases", True, "六(三)4", (VIEW,)),
    NavItem("enterprises", N_("Enterprises"), "/enterprises", True, "四(四)2"),
    NavItem("credit", N_("Credit scoring"), "/credit", True, "四(四)2", (VIEW,)),
    NavItem("network", N_("Guarantee networks"), "/network", True, "六(三)4", (VIEW,)),
    NavItem("listing", N_("Listing reserve"), "/listing", True, "四(二)1", (VIEW,)),
    NavItem(
        "talent",
        N_("Finance talent"),
        "/talent",
        True,
        "六(二)2",
        (VIEW, FILE),
        N_("Annual talent returns by supervision basis, type, district and cluster; certifying talent."),
    ),
    NavItem(
        "matching",
        N_("Financing matchmaking"),
        "/matching",
        True,
        "四(四)3、六(三)2",
        (VIEW, Permission.MATCHING_POST, Permission.MATCHING_LEND),
        N_("Financing products, firms' demands, matching and response tracking."),
    ),
    NavItem(
        "disputes",
        N_("Financial disputes"),
        "/disputes",
        True,
        "六(三)4",
        (VIEW,),
        N_("Mediation, arbitration and litigation of financial disputes: times and success rates."),
    ),
    NavItem(
        "fundraising",
        N_("Illegal fundraising"),
        "/fundraising",
        True,
        "六(三)1",
        (VIEW,),
        N_("An explainable risk index of quasi-financial firms: signals, evidence, grades."),
    ),
    NavItem("audit", N_("Audit log"), "/audit", True, "六(一)2", (Permission.VIEW_AUDIT_LOG,)),
    NavItem("users", N_("Users"), "/users", True, "六(一)2", (Permission.MANAGE_USERS,)),
)


def nav_permissions(code: str) -> tuple[Permission, ...]:
    """The permissions that show menu item ``code``; its pages require the same (``require_any``)."""
    return next(item.permissions for item in NAV if item.code == code)


def query_without(request: Request, *names: str) -> str:
    """The request's query string without ``names`` (e.g. to build pager links), URL-encoded."""
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in names and v])


def pagination(request: Request, *, page: int, total: int, per_page: int) -> dict[str, Any]:
    """What the ``pager`` macro needs: the page, the page count and the other query parameters."""
    return {
        "page": page,
        "pages": max(1, -(-total // per_page)),
        "total": total,
        "query": query_without(request, "page"),
    }


def nav_for(user) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAV if has_any(user.role, item.permissions)]


@cache
def environment() -> Environment:
    # A domain without pages yet has no templates folder (git keeps no empty folders).
    loaders = {
        pkg: PackageLoader(f"qiantang.{pkg}", "templates")
        for pkg in TEMPLATE_PACKAGES
        if (resources.files(f"qiantang.{pkg}") / "templates").is_dir()
    }
    env = Environment(
        loader=ChoiceLoader([PackageLoader("qiantang.web", "templates"), PrefixLoader(loaders)]),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext, lambda s, p, n: gettext(s if n == 1 else p), newstyle=True)
    env.globals.update(
        _=gettext,
        label=label,
        get_locale=get_locale,
        version=__version__,
        unit_label=formatting.unit_label,
        colon=formatting.colon,
        list_words=formatting.list_words,
        join_clauses=formatting.join_clauses,
        quarters_count=formatting.quarters_count,
    )
    env.filters.update(
        amount=formatting.fmt_amount,
        money=formatting.fmt_money,
        number=formatting.fmt_number,
        int=formatting.fmt_int,
        pct=formatting.fmt_pct,
        date=formatting.fmt_date,
        sig=formatting.fmt_sig,
        mask=jinja_mask,
        quarter=formatting.fmt_quarter,
        quarter_span=formatting.fmt_quarter_span,
        localised=formatting.localised,
        localtime=formatting.fmt_local,
        version_words=version_words,
        industry=lambda ent: industry_label(
            ent.industry_section, ent.industry_code, zh=str(get_locale()).startswith("zh")
        ),
    )
    return env


@cache
def templates() -> Jinja2Templates:
    return Jinja2Templates(env=environment())


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render a page with the shell's context (user, navigation, CSRF token, demo banner)."""
    auth = getattr(request.state, "auth", None)
    user = auth.user if auth else None
    context.setdefault("user", user)
    context.setdefault("csrf_token", auth.csrf_token if auth else None)
    context.setdefault("nav", nav_for(user))
    context.setdefault("is_demo", getattr(request.app.state, "is_demo", lambda _request: False)(request))
    context.setdefault("active", "")
    context.setdefault("help_url", help_url(context["active"]))
    context["locale"] = get_locale()
    return templates().TemplateResponse(request, name, context, status_code=status_code)
