"""The FastAPI application: shell, middleware, static files, every domain's router, error pages."""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager
from importlib import resources

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qiantang import __version__
from qiantang.config import get_settings
from qiantang.db import get_meta, new_session
from qiantang.web import errors
from qiantang.web.guards import RequestGuardMiddleware
from qiantang.web.i18n import LocaleMiddleware
from qiantang.web.security import SecurityHeadersMiddleware

API_PREFIX = "/api/v1"
FONT_FILE = "NotoSansSC-Regular.otf"


class DemoFlag:
    """Whether this database holds the synthetic demo city (re-read at most every ``ttl`` seconds).

    Called with the request, it reads through the request's own session (``request.state.db``): a
    request that already holds a pooled connection must never ask the pool for a second one, or a
    burst of requests can take every connection and then wait for each other (issue 12).
    """

    def __init__(self, ttl: float | None = None):
        self.ttl = get_settings().demo_flag_ttl_seconds if ttl is None else ttl
        self._value = False
        self._read_at = float("-inf")

    def __call__(self, request: Request | None = None) -> bool:
        now = time.monotonic()
        if now - self._read_at > self.ttl:
            session = getattr(request.state, "db", None) if request is not None else None
            try:
                if session is not None:
                    self._value = get_meta(session, "demo_scale") is not None
                else:
                    with new_session() as own:
                        self._value = get_meta(own, "demo_scale") is not None
            except Exception:  # a database without tables yet, or a failed transaction: keep the value
                return self._value
            self._read_at = now
        return self._value

    def invalidate(self) -> None:
        self._read_at = float("-inf")


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Sync routes run in anyio's thread pool; the database pool is sized to match (config.web_threads).
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().web_threads
    warm_up()
    yield


_warmed_up = False


def warm_up() -> None:
    """Once per process: compile every page template (Jinja2 compiles one on its first use), then move
    everything built so far — the routers, pandas, the templates … which live as long as the process —
    out of the garbage collector's generations (``gc.freeze``). A full collection then no longer walks
    them, so its pauses, which stop every request thread, are shorter under load (docs/performance.md)."""
    global _warmed_up
    if _warmed_up:
        return
    from qiantang.web.templating import environment

    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    gc.collect()
    gc.freeze()
    _warmed_up = True


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
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
    settings = get_settings()
    app.state.is_demo = DemoFlag()
    app.add_middleware(RequestGuardMiddleware)  # innermost: error pages have the locale and headers
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(LocaleMiddleware)
    if settings.trusted_proxies.strip():
        # X-Forwarded-For/-Proto only from the proxies named in the setting (docs/security.md).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
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
            with new_session() as session:  # the only connection this request takes
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
    from qiantang.disputes.views import api_router as disputes_api
    from qiantang.disputes.views import router as disputes_router
    from qiantang.earlywarning.views import api_router as earlywarning_api
    from qiantang.earlywarning.views import router as earlywarning_router
    from qiantang.enterprises.views import api_router as enterprises_api
    from qiantang.enterprises.views import router as enterprises_router
    from qiantang.filings.views import api_router as filings_api
    from qiantang.filings.views import router as filings_router
    from qiantang.fundraising.import_views import api_router as fundraising_import_api
    from qiantang.fundraising.import_views import router as fundraising_import_router
    from qiantang.fundraising.tip_views import api_router as fundraising_tips_api
    from qiantang.fundraising.tip_views import router as fundraising_tips_router
    from qiantang.fundraising.views import api_router as fundraising_api
    from qiantang.fundraising.views import router as fundraising_router
    from qiantang.help.views import router as help_router
    from qiantang.jobs.views import api_router as jobs_api
    from qiantang.jobs.views import router as jobs_router
    from qiantang.listing.views import api_router as listing_api
    from qiantang.listing.views import router as listing_router
    from qiantang.matching.namelist_views import router as matching_namelists_router
    from qiantang.matching.pool_views import api_router as matching_pools_api
    from qiantang.matching.pool_views import router as matching_pools_router
    from qiantang.matching.product_views import api_router as matching_products_api
    from qiantang.matching.product_views import router as matching_products_router
    from qiantang.matching.stats_views import api_router as matching_stats_api
    from qiantang.matching.stats_views import router as matching_stats_router
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
        disputes_router,
        fundraising_import_router,
        fundraising_router,
        matching_products_router,
        matching_namelists_router,
        talent_router,
        matching_router,
        matching_pools_router,
        matching_stats_router,
        enterprises_router,
        audit_router,
        help_router,
        jobs_router,
        notify_router,
        fundraising_tips_router,
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
        disputes_api,
        fundraising_import_api,
        fundraising_api,
        matching_products_api,
        talent_api,
        matching_api,
        matching_pools_api,
        matching_stats_api,
        enterprises_api,
        jobs_api,
        notify_api,
        fundraising_tips_api,
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
