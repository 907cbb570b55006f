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


def test_two_officers_forwarding_one_tip_open_one_case(database, server_db):  # noqa: F811
    """Both transactions read the new tip first, then both forward it: one opens the case, the other
    is refused, and the firm gets no second case (PostgreSQL; SQLite's writers take turns)."""
    import threading

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from qiantang.auth.models import User
    from qiantang.cases.models import Case
    from qiantang.db import WRITE_OPTION, make_engine
    from qiantang.errors import Conflict
    from qiantang.fundraising.tip_models import Tip, TipStatus
    from tests.fundraising.tip_fixtures import XIHU, firm_in

    if database.backend != "postgresql":
        pytest.skip("SQLite's write lock makes the second officer wait; the race is real on PostgreSQL")
    engine = make_engine(server_db)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with Session(writer) as s:
        firm = firm_in(s, XIHU, skip=3)
        firm_id = firm.id
        before = s.scalar(select(func.count()).select_from(Case).where(Case.enterprise_id == firm_id))
        receipt = tips.submit_tip(
            s, firm=firm.uscc, what_happened="承诺年化20%，保本保息，拉人头返利。", ip="10.9.0.1"
        )
        s.commit()
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def press(username: str) -> None:
        with Session(writer) as s:
            user = s.scalar(select(User).where(User.username == username))
            assert s.get(Tip, receipt.tip_id).status == TipStatus.NEW
            barrier.wait()
            try:
                tips.forward_to_case(s, tip_id=receipt.tip_id, actor=user, note=f"{username} 转立案")
                s.commit()
                results[username] = "won"
            except Conflict as exc:
                s.rollback()
                results[username] = exc.message

    try:
        threads = [threading.Thread(target=press, args=(u,)) for u in ("admin", "analyst")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        outcomes = list(results.values())
        assert len(outcomes) == 2 and outcomes.count("won") == 1, results
        assert "刚由他人处理" in next(r for r in outcomes if r != "won"), results
        with Session(engine) as s:
            tip = s.get(Tip, receipt.tip_id)
            opened = s.scalar(select(func.count()).select_from(Case).where(Case.enterprise_id == firm_id))
            assert tip.status == TipStatus.FORWARDED and tip.case_id is not None
            assert opened - before <= 1  # one case at most (none when it joined an open one)
            assert tip.handled_by == next(u for u, r in results.items() if r == "won")
    finally:
        engine.dispose()
