"""The user guide's pages: which module each covers, where its Markdown lives, and its HTML.

The guide is written in Markdown under ``docs/guide/zh/`` (Chinese, always complete) and
``docs/guide/en/`` (English where written; a missing English page falls back to the Chinese one),
with screenshots in ``docs/guide/img/`` made by ``scripts/guide_screenshots.py``. The same files read
well on a code host (relative links) and are rendered here, links rewritten to ``/help/...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt

from qiantang.errors import NotFound
from qiantang.web.i18n import N_

GUIDE_DIR = Path(__file__).resolve().parents[3] / "docs" / "guide"
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(png|jpg)$")
MD_LINK = re.compile(r"^(?:\./|\.\./(?:zh|en)/)?([a-z0-9-]+)\.md(#[\w-]*)?$")


@dataclass(frozen=True)
class GuidePage:
    slug: str
    title: str  # msgid
    nav_codes: tuple[str, ...]  # the navigation modules whose help link opens this page


PAGES: tuple[GuidePage, ...] = (
    GuidePage("overview", N_("Overview"), ("overview",)),
    GuidePage("plan", N_("Plan monitoring"), ("plan",)),
    GuidePage("institutions", N_("Institutions"), ("registry",)),
    GuidePage("filings", N_("Filings"), ("filings",)),
    GuidePage("statistics", N_("Statistics"), ("statistics",)),
    GuidePage("early-warning", N_("Early warning and cases"), ("earlywarning", "cases")),
    GuidePage("enterprises", N_("Enterprises and credit scoring"), ("enterprises", "credit")),
    GuidePage("network", N_("Guarantee networks"), ("network",)),
    GuidePage("listing", N_("Listing reserve"), ("listing",)),
    GuidePage("talent", N_("Finance talent"), ("talent",)),
    GuidePage("matching", N_("Financing matchmaking"), ("matching",)),
    GuidePage("disputes", N_("Financial disputes"), ("disputes",)),
    GuidePage("fundraising", N_("Illegal fundraising"), ("fundraising",)),
    # No menu item of its own: the fundraising module's pages link here (its index page has its own).
    GuidePage("tips", N_("Public tips and fundraising cases"), ()),
    GuidePage("audit", N_("Audit log and users"), ("audit", "users")),
)
BY_SLUG = {p.slug: p for p in PAGES}
BY_NAV = {code: p for p in PAGES for code in p.nav_codes}


def help_url(nav_code: str) -> str:
    """Where a page's help link goes: its module's guide page, or the guide's contents."""
    page = BY_NAV.get(nav_code)
    return f"/help/{page.slug}" if page else "/help"


def _rewrite(tokens) -> None:
    """Relative links of the Markdown files, made absolute for the app (inline tokens, recursively)."""
    for token in tokens:
        if token.type == "link_open":
            href = token.attrGet("href") or ""
            if m := MD_LINK.match(href):
                slug = "" if m.group(1) == "index" else f"/{m.group(1)}"
                token.attrSet("href", f"/help{slug}{m.group(2) or ''}")
        elif token.type == "image":
            src = token.attrGet("src") or ""
            if src.startswith("../img/"):
                token.attrSet("src", "/help/img/" + src.removeprefix("../img/"))
            token.attrSet("loading", "lazy")
        if token.children:
            _rewrite(token.children)


@cache
def _parser() -> MarkdownIt:
    # Raw HTML off: the guide is text, tables and pictures, and the page stays safe to render.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _source(slug: str, locale: str) -> Path:
    lang = "zh" if locale == "zh_CN" else "en"
    path = GUIDE_DIR / lang / f"{slug}.md"
    return path if path.is_file() else GUIDE_DIR / "zh" / f"{slug}.md"


@dataclass(frozen=True)
class RenderedPage:
    title: str
    html: str
    fallback: bool  # the English page is not written: the Chinese one is shown


def render_page(slug: str, *, locale: str) -> RenderedPage:
    """The guide page ``slug`` ("index" for the contents) as HTML, in ``locale`` where written."""
    if slug != "index" and slug not in BY_SLUG:
        raise NotFound("没有这一页帮助", message_en="No such help page")
    path = _source(slug, locale)
    if not path.is_file():
        raise NotFound("本安装未附带用户指南（docs/guide）", message_en="The user guide is not installed")
    text = path.read_text(encoding="utf-8")
    parser = _parser()
    tokens = parser.parse(text)
    _rewrite(tokens)
    title = next(
        (tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1"),
        slug,
    )
    fallback = locale != "zh_CN" and path.parent.name == "zh"
    return RenderedPage(
        title=title, html=parser.renderer.render(tokens, parser.options, {}), fallback=fallback
    )


def image_path(name: str) -> Path:
    """A screenshot of the guide; only plain file names, never a path."""
    path = GUIDE_DIR / "img" / name
    if not IMAGE_NAME.match(name) or not path.is_file():
        raise NotFound("没有这张图片", message_en="No such image")
    return path
