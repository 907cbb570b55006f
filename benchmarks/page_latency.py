"""Benchmark: every list and dashboard page and each search, at concurrency 1 and 8, on a city database.

Against a demo database (``--database-url``, SQLite or PostgreSQL; loaded with the ``city`` demo if it is
empty — that takes minutes), it

1. starts a real server (``uvicorn``, ``--workers`` processes, default 1 like ``qiantang serve``);
2. logs in a city administrator and a district officer (demo users ``admin`` and ``xihu``);
3. drives each page with ``--concurrency`` parallel clients (default 1 and 8), ``--requests`` requests
   per page, user and level after one warm-up request, and prints p50/p95 against the 300 ms goal;
4. as the named baseline "LIKE scan", times in process what each search cost before the text index:
   ``name LIKE '%q%'`` over the table with its exact count and the page's 50 rows (the old query).

It prints figures; it asserts nothing.

    python benchmarks/page_latency.py --database-url sqlite:////tmp/city.db
    python benchmarks/page_latency.py --database-url postgresql+psycopg://u:p@host:5432/city
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx  # the maintained fork the test extra installs (pyproject.toml)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from statistics_latency import build_demo, free_port, percentile, session_cookie, wait_until_up

GOAL_MS = 300.0
PAGES = (
    "/",
    "/institutions",
    "/enterprises",
    "/early-warning",
    "/early-warning/alerts",
    "/statistics",
    "/statistics/clusters",
    "/credit",
    "/cases",
    "/filings",
    "/plan/1",
    "/network",
)
# Searches: two characters (too short for a trigram), common and rarer words, a rare name, a code.
SEARCHES = (
    "/enterprises?q=科技",
    "/enterprises?q=有限公司",
    "/enterprises?q=智能",
    "/enterprises?q=新材料科技",
    "/enterprises?q=鑫",
    "/institutions?q=小额贷款",
    "/cases?q=资本",
)


def drive(base: str, token: str, url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, worst status) of ``n`` GETs of ``url`` by ``concurrency`` parallel clients."""
    clients = [
        httpx.Client(base_url=base, cookies={"qt_session": token}, timeout=120.0) for _ in range(concurrency)
    ]
    try:
        clients[0].get(url)  # warm-up

        def one(i: int) -> tuple[float, int]:
            started = time.perf_counter()
            r = clients[i % concurrency].get(url)
            return (time.perf_counter() - started) * 1000, r.status_code

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            out = list(pool.map(one, range(n)))
    finally:
        for c in clients:
            c.close()
    times = [t for t, _s in out]
    return percentile(times, 50), percentile(times, 95), max(s for _t, s in out)


def like_baseline(q: str, username: str, repeat: int = 3) -> float:
    """Median ms of the old enterprise search: LIKE '%q%' with its exact count and the first 50 rows."""
    from sqlalchemy import func, or_, select, text

    from qiantang.auth.scope import Scope
    from qiantang.auth.service import get_user_by_username
    from qiantang.db import session_scope
    from qiantang.enterprises.models import Enterprise

    times = []
    with session_scope() as session:
        if session.get_bind().dialect.name == "postgresql":
            # LIKE would use the new pg_trgm index; the baseline is the scan it did before.
            session.execute(text("SET LOCAL enable_bitmapscan = off"))
        scope = Scope.for_user(get_user_by_username(session, username))
        stmt = select(Enterprise).where(
            scope.district_clause(Enterprise.district_code),
            or_(Enterprise.name.like(f"%{q}%"), Enterprise.uscc == q.upper()),
        )
        for _ in range(repeat):
            started = time.perf_counter()
            session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
            session.scalars(stmt.order_by(Enterprise.id).limit(50)).all()
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def index_uncached(q: str, username: str, repeat: int = 3) -> float:
    """Median ms of today's search (``page_enterprises``) with its minute caches emptied first."""
    from qiantang import paging, search
    from qiantang.auth.scope import Scope
    from qiantang.auth.service import get_user_by_username
    from qiantang.db import session_scope
    from qiantang.enterprises import service
    from qiantang.enterprises.service import EnterpriseFilters

    times = []
    with session_scope() as session:
        scope = Scope.for_user(get_user_by_username(session, username))
        for _ in range(repeat):
            paging.clear_count_cache()
            search.clear_hits_cache()
            started = time.perf_counter()
            service.page_enterprises(session, scope=scope, filters=EnterpriseFilters(q=q))
            times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="SQLite or PostgreSQL URL of a city database")
    parser.add_argument("--scale", default="city", help="demo scale loaded when the database is empty")
    parser.add_argument("--requests", type=int, default=24, help="measured requests per page, user and level")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels of parallel clients")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--users", default="admin,xihu", help="a city administrator and a district officer")
    parser.add_argument("--pages", default="", help="only URLs containing this text (comma-separated)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LIKE-scan baseline")
    args = parser.parse_args()

    url = args.database_url
    os.environ["QIANTANG_DATABASE_URL"] = url
    from qiantang import demo
    from qiantang.config import get_settings
    from qiantang.db import make_engine, reset_engine, use_engine
    from qiantang.web.serving import HTTP_PROTOCOL

    get_settings.cache_clear()
    reset_engine()
    engine = make_engine(url)
    if demo.database_is_empty(engine):
        build_demo(url, args.scale)
    use_engine(engine)
    users = args.users.split(",")
    tokens = {u: session_cookie(u) for u in users}
    levels = [int(c) for c in args.concurrency.split(",")]
    wanted = [p for p in args.pages.split(",") if p]
    urls = [p for p in (*PAGES, *SEARCHES) if not wanted or any(w in p for w in wanted)]

    baseline: dict[tuple[str, str], tuple[float, float]] = {}
    if not args.no_baseline:
        for page in urls:
            if page.startswith("/enterprises?q="):
                q = page.split("=", 1)[1]
                for u in users:
                    baseline[(u, page)] = (like_baseline(q, u), index_uncached(q, u))
    engine.dispose()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "qiantang.web.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--http",  # the protocol `qiantang serve` uses (TCP_NODELAY, qiantang.web.serving)
            HTTP_PROTOCOL,
            "--log-level",
            "warning",
        ],
        env={**os.environ, "QIANTANG_DATABASE_URL": url},
    )
    rows = []
    try:
        wait_until_up(base, server, timeout=120)
        for page in urls:
            for u in users:
                for c in levels:
                    n = max(args.requests, c)
                    p50, p95, status = drive(base, tokens[u], page, n, c)
                    rows.append((page, u, c, status, p50, p95))
                    print(
                        f"  … {page} {u} c={c}: p50 {p50:.0f} ms, p95 {p95:.0f} ms",
                        flush=True,
                        file=sys.stderr,
                    )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"\n数据库 database: {backend} · {args.workers} worker(s) · {args.requests} requests per row")
    head = f"  {'page':<28} {'user':<6} {'conc':>4} {'status':>6} {'p50 ms':>8} {'p95 ms':>8}  goal"
    print(head + f"   {'LIKE scan ms':>12} {'index, uncached ms':>18}")
    over = 0
    for page, u, c, status, p50, p95 in rows:
        ok = p95 < GOAL_MS
        over += not ok
        base_ms = baseline.get((u, page))
        tail = f"   {base_ms[0]:>12.1f} {base_ms[1]:>18.1f}" if base_ms is not None and c == 1 else ""
        print(
            f"  {page:<28} {u:<6} {c:>4} {status:>6} {p50:>8.1f} {p95:>8.1f}  {'ok' if ok else 'OVER'}{tail}"
        )
    print(f"\n{len(rows) - over} of {len(rows)} rows under the {GOAL_MS:.0f} ms goal at p95.")
    print("LIKE scan: the old search's SQL alone (exact count + first page), in process, median of 3.")
    print("index, uncached: the new search in process with its one-minute count and probe caches emptied")
    print("(a query nobody ran in the last minute); the pages above repeat one query, so mostly hit them.")


if __name__ == "__main__":
    main()
