"""One place that turns errors into responses: a JSON body under /api, a friendly page elsewhere.

A user never sees a stack trace; unexpected errors are logged with an incident id that the page shows.
"""

from __future__ import annotations

import logging
import secrets
from html import escape
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from qiantang.auth.service import PasswordChangeRequired, SessionExpired
from qiantang.errors import QiantangError, TooManyRequests, Unauthorized, ValidationFailed
from qiantang.web.i18n import is_zh

log = logging.getLogger("qiantang.web")

_STATUS_TEXT = {
    400: ("请求有误", "Bad request"),
    401: ("请先登录", "Please log in"),
    403: ("无权访问", "Forbidden"),
    404: ("页面或记录不存在", "Not found"),
    405: ("不支持的请求方式", "Method not allowed"),
    409: ("与现有数据冲突", "Conflict"),
    413: ("上传的文件过大", "Upload too large"),
    422: ("提交的数据有误", "Invalid data"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("系统内部错误", "Internal error"),
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _text(status: int) -> tuple[str, str]:
    return _STATUS_TEXT.get(status, (f"错误 {status}", f"Error {status}"))


def error_response(
    request: Request,
    status: int,
    message_zh: str,
    message_en: str,
    *,
    errors: list[dict] | None = None,
    headers: dict | None = None,
    incident: str | None = None,
):
    if wants_json(request):
        body = {"error": {"status": status, "message": message_zh, "message_en": message_en}}
        if errors:
            body["error"]["errors"] = errors
        if incident:
            body["error"]["incident"] = incident
        return JSONResponse(body, status_code=status, headers=headers)
    from qiantang.web.templating import render

    title_zh, title_en = _text(status)
    try:
        return render(
            request,
            "error.html",
            status_code=status,
            status=status,
            title=title_zh if is_zh() else title_en,
            message=message_zh if is_zh() else message_en,
            errors=errors or [],
            incident=incident,
        )
    except Exception:  # the page shell itself failed: a bare page, still without a trace
        log.exception("error page failed to render")
        body = f"<!doctype html><meta charset=utf-8><h1>{status} {escape(title_zh)} / {escape(title_en)}</h1>"
        body += f"<p>{escape(message_zh)}</p><p>{escape(message_en)}</p>"
        return HTMLResponse(body, status_code=status, headers=headers)


def _login_redirect(request: Request, expired: bool):
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target)}" + ("&expired=1" if expired else "")
    response = RedirectResponse(url, status_code=303)
    if expired:
        response.delete_cookie("qt_session", path="/")
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(QiantangError)
    async def domain_error(request: Request, exc: QiantangError):
        if isinstance(exc, Unauthorized) and not wants_json(request):
            return _login_redirect(request, expired=isinstance(exc, SessionExpired))
        if isinstance(exc, PasswordChangeRequired) and not wants_json(request):
            return RedirectResponse("/account?must_change=1", status_code=303)
        headers = None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        errors = [e.as_dict() for e in exc.errors] if isinstance(exc, ValidationFailed) else None
        return error_response(
            request, exc.status_code, exc.message, exc.message_en, errors=errors, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        zh, en = _text(exc.status_code)
        if (
            isinstance(exc.detail, str)
            and exc.detail
            and exc.detail not in ("Not Found", "Method Not Allowed")
        ):
            zh = en = exc.detail
        return error_response(request, exc.status_code, zh, en, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            if err.get("type") == "json_invalid":
                errors.append({"row": None, "column": None, "message": "请求体不是合法的 JSON"})
                continue
            errors.append({"row": None, "column": ".".join(loc) or None, "message": _zh_validation(err)})
        return error_response(request, 422, "提交的数据有误", "The request data is invalid", errors=errors)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception):
        # A number beyond what the database stores (e.g. an id >= 2**63 in a URL): the request's fault.
        return error_response(
            request, 422, "请求中的数值超出允许范围", "A number in the request is out of range"
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        incident = secrets.token_hex(4)
        log.exception("incident %s on %s %s", incident, request.method, request.url.path)
        return error_response(
            request,
            500,
            f"系统内部错误，请联系管理员并提供事件编号 {incident}",
            f"Internal error; please report incident {incident} to the administrator",
            incident=incident,
        )


_ZH_TYPES = {
    "missing": "缺少必填项",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为是/否",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "string_too_long": "文本过长",
    "string_too_short": "文本过短",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "model_attributes_type": "格式有误",
    "dict_type": "应为对象",
    "list_type": "应为列表",
}


def _zh_validation(err: dict) -> str:
    base = _ZH_TYPES.get(err.get("type", ""), "格式有误")
    return f"{base}（{err.get('msg', '')}）"
