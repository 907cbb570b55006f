"""A burst of parallel reports from one client against a real server (SQLite and PostgreSQL): exactly
the per-client limit is taken, the rest get 429, none gets a 5xx."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest

from qiantang.fundraising import tips
from tests.security.test_concurrency import live, server_db  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
N = 20


def _report(base: str, i: int) -> int:
    with httpx.Client(base_url=base, timeout=120) as c:
        token = re.search(r'name="tip_csrf" value="([^"]+)"', c.get("/report-tip").text).group(1)
        r = c.post(
            "/report-tip",
            data={
                "tip_csrf": token,
                "firm": f"并发测试某某投资咨询有限公司{i}",
                "what_happened": f"第 {i} 位举报人：该公司承诺月息百分之三，保本保息，拉亲友入伙。",
            },
            follow_redirects=False,
        )
        return r.status_code


def test_a_parallel_flood_from_one_client_takes_exactly_the_limit(live):  # noqa: F811
    with ThreadPoolExecutor(max_workers=N) as pool:
        statuses = Counter(pool.map(lambda i: _report(live["base"], i), range(N)))
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses == Counter({303: tips.LIMIT_PER_HOUR, 429: N - tips.LIMIT_PER_HOUR}), statuses
