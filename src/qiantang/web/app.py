"""The FastAPI application: shell, middleware, static files, every domain's router, error pages."""

from __future__ import annotations

import time
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from qiantang import __version__
from qiantang.db import get_meta, new_session
from qiantang.web import errors
from qiantang.web.i18n import LocaleMiddleware
from qiantang.web.security import SecurityHeadersMiddleware

API_PREFIX = "/api/v1"
FONT_FILE = "NotoSansSC-Regular.otf"


class DemoFlag:
    """Whether this database holds the synthetic demo city (re-read at most every 30 s)."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._value = False
        self._read_at = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._read_at > self.ttl:
            try:
                with new_session() as session:
                    self._value = get_meta(session, "demo_scale") is not None
            except Exception:  # a database without tables yet: not demo
                self._value = False
            self._read_at = now
        return self._value

    def invalidate(self) -> None:
        self._read_at = 0.0


def create_app() -> FastAPI:
    app = FastAPI(
        title="钱塘 Qiantang API",
        version=__version__,
        description=(
            "地方金融监管平台的数据接口。登录后浏览器会话或 `Authorization: Bearer <令牌>` 均可调用；"
            "区县工作人员只能读取本区县数据，机构填报员只能读取本机构数据。\n\n"
            "The data API of the Qiantang platform. Use a logged-in browser session or a bearer token."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.is_demo = DemoFlag()
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(LocaleMiddleware)
    errors.install(app)

    @app.get(f"/static/fonts/{FONT_FILE}", include_in_schema=False)
    def cjk_font() -> FileResponse:
        # Served from the font wheel, so pages and charts have a CJK font even on a bare machine.
        import pylopdf_fonts_zh_cn

        return FileResponse(
            pylopdf_fonts_zh_cn.sans_path(),
            media_type="font/otf",
            headers={"Cache-Control": "public, max-age=2592000"},
        )

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> Response:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "",
            title="钱塘 Qiantang API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        # Chinese in the API description must not render as boxes: add the sheet with the bundled CJK font.
        sheet = f'<link rel="stylesheet" href="/static/css/swagger-cjk.css?v={__version__}">'
        html = bytes(page.body).decode("utf-8").replace("</head>", sheet + "\n</head>", 1)
        return HTMLResponse(html)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        try:
            with new_session() as session:
                session.execute(text("SELECT 1"))
            return JSONResponse({"status": "ok", "version": __version__, "database": "ok"})
        except Exception:
            return JSONResponse(
                {"status": "error", "version": __version__, "database": "unreachable"}, status_code=503
            )

    from qiantang.audit.views import router as audit_router
    from qiantang.auth.views import api_router as auth_api_router
    from qiantang.auth.views import router as auth_router
    from qiantang.cases.views import api_router as cases_api
    from qiantang.cases.views import router as cases_router
    from qiantang.credit.views import api_router as credit_api
    from qiantang.credit.views import router as credit_router
    from qiantang.earlywarning.views import api_router as earlywarning_api
    from qiantang.earlywarning.views import router as earlywarning_router
    from qiantang.enterprises.views import api_router as enterprises_api
    from qiantang.enterprises.views import router as enterprises_router
    from qiantang.filings.views import api_router as filings_api
    from qiantang.filings.views import router as filings_router
    from qiantang.help.views import router as help_router
    from qiantang.jobs.views import api_router as jobs_api
    from qiantang.jobs.views import router as jobs_router
    from qiantang.listing.views import api_router as listing_api
    from qiantang.listing.views import router as listing_router
    from qiantang.matching.views import api_router as matching_api
    from qiantang.matching.views import router as matching_router
    from qiantang.network.views import api_router as network_api
    from qiantang.network.views import router as network_router
    from qiantang.notify.views import api_router as notify_api
    from qiantang.notify.views import router as notify_router
    from qiantang.overview.views import api_router as overview_api
    from qiantang.overview.views import router as overview_router
    from qiantang.plan.views import api_router as plan_api
    from qiantang.plan.views import router as plan_router
    from qiantang.registry.views import api_router as registry_api
    from qiantang.registry.views import router as registry_router
    from qiantang.statistics.views import api_router as statistics_api
    from qiantang.statistics.views import router as statistics_router
    from qiantang.talent.views import api_router as talent_api
    from qiantang.talent.views import router as talent_router
    from qiantang.web.shell import router as shell_router

    html_routers = (
        auth_router,
        overview_router,
        plan_router,
        registry_router,
        filings_router,
        statistics_router,
        earlywarning_router,
        cases_router,
        credit_router,
        network_router,
        listing_router,
        talent_router,
        matching_router,
        enterprises_router,
        audit_router,
        help_router,
        jobs_router,
        notify_router,
    )
    api_routers = (
        auth_api_router,
        overview_api,
        plan_api,
        registry_api,
        filings_api,
        statistics_api,
        earlywarning_api,
        cases_api,
        credit_api,
        network_api,
        listing_api,
        talent_api,
        matching_api,
        enterprises_api,
        jobs_api,
        notify_api,
    )
    for router in html_routers:
        app.include_router(router)
    for router in api_routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(shell_router)  # last: the "not built yet" pages and the language switch
    # After the routes, so that the font route above wins over the static folder.
    static_dir = resources.files("qiantang.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    return app
