"""Interface language: Simplified Chinese by default, English available.

Message ids are the English text; the zh_CN catalogue (``locales/zh_CN/LC_MESSAGES/messages.po``,
a standard gettext file maintained with Babel) holds the Chinese. The current locale is kept in a
context variable that an ASGI middleware sets for each request from the ``lang`` cookie.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from importlib import resources

from babel.messages.pofile import read_po

from qiantang.masking import viewer_scope

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_COOKIE = "lang"

_current: ContextVar[str] = ContextVar("qiantang_locale", default=DEFAULT_LOCALE)


@cache
def catalogue(locale: str) -> dict[str, str]:
    """msgid → translation for a locale (English needs none: the ids are English)."""
    if locale == "en":
        return {}
    path = resources.files("qiantang.web") / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    return {m.id: m.string for m in cat if m.id and m.string and not m.fuzzy}


def normalise_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    value = value.replace("-", "_")
    if value.lower().startswith("en"):
        return "en"
    if value.lower().startswith("zh"):
        return "zh_CN"
    return DEFAULT_LOCALE


def get_locale() -> str:
    return _current.get()


def set_locale(locale: str):
    return _current.set(normalise_locale(locale))


def gettext(message: str, **params) -> str:
    """Translate into the current locale; ``params`` fill ``%(name)s`` placeholders."""
    text = catalogue(get_locale()).get(message, message)
    return text % params if params else text


_ = gettext


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated where it is shown)."""
    return message


def is_zh() -> bool:
    return get_locale() == "zh_CN"


def label(member) -> str:
    """Display name of an enum member (or any object with ``zh``/``en``) in the current locale."""
    if is_zh() and hasattr(member, "zh"):
        return member.zh
    if hasattr(member, "en"):
        return member.en
    value = getattr(member, "value", str(member))
    return str(value).replace("_", " ").capitalize()


class LocaleMiddleware:
    """Pure ASGI middleware (so the context variable reaches the worker threads of sync routes)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        locale = DEFAULT_LOCALE
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    key, _sep, val = part.strip().partition("=")
                    if key == LOCALE_COOKIE:
                        locale = normalise_locale(val)
        token = set_locale(locale)
        try:
            with viewer_scope():  # whose view of personal data applies (qiantang.masking)
                await self.app(scope, receive, send)
        finally:
            _current.reset(token)
