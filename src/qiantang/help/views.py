"""The user guide inside the app: /help (contents) and /help/<module>, open to anyone, logged in or not."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from qiantang.help import service
from qiantang.web.deps import MaybeAuth
from qiantang.web.i18n import get_locale
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, slug: str):
    page = service.render_page(slug, locale=get_locale())
    current = service.BY_SLUG.get(slug)
    return render(
        request,
        "help/guide.html",
        page=page,
        pages=service.PAGES,
        slug=slug,
        help_url=f"/help/{current.slug}" if current else "/help",
    )


@router.get("/help")
def help_index(request: Request, auth: MaybeAuth):
    return _page(request, "index")


@router.get("/help/img/{name}")
def help_image(name: str):
    return FileResponse(service.image_path(name), headers={"Cache-Control": "public, max-age=86400"})


@router.get("/help/{slug}")
def help_page(request: Request, auth: MaybeAuth, slug: str):
    return _page(request, slug)
