"""Setting cookies with the right flags."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from qiantang.config import get_settings


def is_secure(request: Request) -> bool:
    mode = get_settings().secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    http_only: bool = True,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=http_only,
        secure=is_secure(request),
        samesite="lax",
    )
