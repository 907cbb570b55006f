"""Shell routes: the language switch and the pages of modules not built yet."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from qiantang.web.cookies import set_cookie
from qiantang.web.deps import CurrentAuth
from qiantang.web.i18n import LOCALE_COOKIE, LOCALES, normalise_locale
from qiantang.web.templating import NAV, render

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths, so the switch cannot be used to redirect elsewhere."""
    if not value:
        return "/"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str | None = None):
    chosen = normalise_locale(locale)
    response = RedirectResponse(_safe_next(next), status_code=303)
    if chosen in LOCALES:
        set_cookie(request, response, LOCALE_COOKIE, chosen, max_age=365 * 24 * 3600, http_only=False)
    return response


def _not_built(item):
    def page(request: Request, auth: CurrentAuth):
        return render(request, "not_built.html", item=item, active=item.code)

    page.__name__ = f"not_built_{item.code}"
    return page


for _item in NAV:
    if not _item.built:
        router.add_api_route(_item.url, _not_built(_item), methods=["GET"])
