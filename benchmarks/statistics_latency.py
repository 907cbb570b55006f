"""Benchmark: the statistics refresh, and page/API latency read from the stored cells.

Against a demo database (``--database-url``; by default a ``small`` demo city is built in a temporary
SQLite file — the real target is a ``city`` database), it

1. runs the full refresh (``statistics.service.refresh``) and times it;
2. starts a real uvicorn server on a free port and measures, with httpx, p50/p95 latency (after a
   warm-up) of ``/statistics``, ``/statistics/clusters/core_qjxc`` and ``/api/v1/statistics/pivot``
   for a city user and a district officer, against the 300 ms goal;
3. as a named baseline, computes the same pivot (the page's default: latest quarter by type) on the
   fly from raw filings — loading that quarter's current filings' JSON and the registry, and
   aggregating in pandas — and prints its time next to the stored-cells pivot and their ratio.

It prints figures; it asserts nothing.

    python benchmarks/statistics_latency.py                                   # small, temp SQLite
    python benchmarks/statistics_latency.py --database-url sqlite:////tmp/city.db
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx  # the maintained fork the test extra installs (pyproject.toml)
import pandas as pd
from sqlalchemy import select

GOAL_MS = 300.0
ENDPOINTS = (
    "/statistics",
    "/statistics/clusters/core_qjxc",
    "/api/v1/statistics/pivot",
)


def build_demo(url: str, scale: str) -> None:
    """Migrate, sync reference data and load a demo city into an empty database."""
    from qiantang import demo, migrate
    from qiantang.bootstrap import sync_all
    from qiantang.db import make_engine, session_scope, use_engine

    migrate.upgrade(url)
    engine = make_engine(url)
    use_engine(engine)
    with session_scope() as session:
        sync_all(session)
    print(f"加载演示城市 loading the {scale} demo city …", flush=True)
    started = time.perf_counter()
    demo.load(engine, scale=scale)
    print(f"  loaded in {time.perf_counter() - started:.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(base + "/login", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def session_cookie(username: str) -> str:
    """A fresh login session for a demo user, made directly in the database."""
    from qiantang.auth.service import get_user_by_username, start_session
    from qiantang.db import session_scope

    with session_scope() as session:
        user = get_user_by_username(session, username)
        if user is None:
            raise SystemExit(f"no user {username!r} in this database (load a demo city)")
        return start_session(session, user=user).token


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(client: httpx.Client, url: str, n: int, warmup: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, status) of ``n`` sequential GETs after ``warmup`` unmeasured ones."""
    status = 0
    for _ in range(warmup):
        status = client.get(url).status_code
    times = []
    for _ in range(n):
        started = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        status = r.status_code
    return percentile(times, 50), percentile(times, 95), status


def baseline_pivot(session, period_end) -> pd.DataFrame:
    """The default pivot (by type) computed on the fly: registry + that quarter's filings' JSON."""
    from qiantang.filings.models import Filing
    from qiantang.registry.models import Institution, InstitutionType

    inst = pd.DataFrame(
        session.execute(
            select(
                Institution.id,
                Institution.type_code,
                Institution.established_on,
                Institution.deregistered_on,
                InstitutionType.filing_template,
            ).join(InstitutionType, InstitutionType.code == Institution.type_code)
        ).all(),
        columns=["id", "type_code", "established_on", "deregistered_on", "template"],
    ).set_index("id")
    qe = pd.Timestamp(period_end)
    qs = pd.Timestamp(period_end.year, period_end.month - 2, 1)
    est = pd.to_datetime(inst["established_on"])
    dereg = pd.to_datetime(inst["deregistered_on"])
    inst["open"] = ((est <= qe) & ~(dereg <= qe)).astype(int)
    inst["entries"] = ((est >= qs) & (est <= qe)).astype(int)
    inst["exits"] = ((dereg >= qs) & (dereg <= qe)).astype(int)
    inst["expected"] = inst["open"] * inst["template"].notna()
    rows = session.execute(
        select(Filing.institution_id, Filing.data).where(
            Filing.period_end == period_end, Filing.is_current.is_(True)
        )
    ).all()
    filings = pd.DataFrame(
        [(i, float((d or {}).get("total_assets", 0.0))) for i, d in rows], columns=["id", "total_assets"]
    )
    filings["filed"] = 1
    per = filings.groupby("id").sum()
    joined = inst.join(per, how="left").fillna({"filed": 0, "total_assets": 0.0})
    out = joined.groupby("type_code")[["open", "entries", "exits", "expected", "filed", "total_assets"]].sum()
    out["filing_rate"] = out["filed"] / out["expected"].where(out["expected"] != 0) * 100
    return out


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a demo database (default: build a small one in a temp file)")
    parser.add_argument("--scale", default="small", help="scale of the database built when no URL is given")
    parser.add_argument("--requests", type=int, default=40, help="measured requests per endpoint and user")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--city-user", default="analyst")
    parser.add_argument("--district-user", default="xihu")
    args = parser.parse_args()

    tmp = None
    url = args.database_url
    if not url:
        tmp = tempfile.TemporaryDirectory(prefix="qiantang-bench-")
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
        build_demo(url, args.scale)
    os.environ["QIANTANG_DATABASE_URL"] = url

    from qiantang.auth.scope import Scope
    from qiantang.config import get_settings
    from qiantang.db import make_engine, reset_engine, session_scope, use_engine
    from qiantang.statistics import service

    get_settings.cache_clear()
    reset_engine()
    engine = make_engine(url)
    use_engine(engine)

    with session_scope() as session:
        started = time.perf_counter()
        record = service.refresh(session)
        refresh_s = time.perf_counter() - started
    print(f"\n数据库 database: {url}")
    print(f"全量刷新 full refresh: {refresh_s:.2f} s ({record.cells:,} cells, 44 quarters)")

    with session_scope() as session:
        period = service.default_period(session)
        scope = Scope.system()
        cells_ms = timed(lambda: service.pivot(session, scope=scope, period_end=period), 20)
        base_ms = timed(lambda: baseline_pivot(session, period), 5)
        check = baseline_pivot(session, period)
        ours = service.pivot(session, scope=scope, period_end=period)
        same = all(
            abs(check.loc[r.code, "open"] - r.values["open"]) < 1e-9
            and abs(check.loc[r.code, "total_assets"] - r.values["total_assets"]) < 1e-6
            for r in ours.rows
        )
    cookies = {u: session_cookie(u) for u in (args.city_user, args.district_user)}
    engine.dispose()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QIANTANG_DATABASE_URL": url}
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
            "--log-level",
            "warning",
        ],
        env=env,
    )
    results: list[tuple[str, str, float, float, int]] = []
    try:
        wait_until_up(base, server)
        for user, token in cookies.items():
            with httpx.Client(base_url=base, cookies={"qt_session": token}, timeout=30.0) as client:
                for endpoint in ENDPOINTS:
                    p50, p95, status = measure(client, endpoint, args.requests, args.warmup)
                    results.append((user, endpoint, p50, p95, status))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    print(
        f"\n延迟 latency, {args.requests} requests each after {args.warmup} warm-up (goal {GOAL_MS:.0f} ms):"
    )
    print(f"  {'user':<10} {'endpoint':<34} {'status':>6} {'p50 ms':>8} {'p95 ms':>8}  goal")
    for user, endpoint, p50, p95, status in results:
        verdict = "ok" if p95 <= GOAL_MS else "OVER"
        print(f"  {user:<10} {endpoint:<34} {status:>6} {p50:>8.1f} {p95:>8.1f}  {verdict}")
    print(f"\n基线 baseline (period {period}): the default pivot by type")
    print(f"  from stored cells (service.pivot, in process):               {cells_ms:8.1f} ms")
    print(f"  on the fly from raw filings (JSON of the quarter + registry): {base_ms:8.1f} ms")
    print(f"  ratio on-the-fly / cells: {base_ms / cells_ms:.1f}×   (same open and assets by type: {same})")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
