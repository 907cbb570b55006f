"""Two city users hand the same red case off to the police at the same moment (SQLite and PostgreSQL):
exactly one hand-off is recorded, the other user gets a clear Chinese conflict message (409, no 5xx),
and the 3-working-day clock stops once.

The live-server test sends both forms at once through a real server; the service test makes the race
certain on PostgreSQL (both transactions have read the case before either writes), where SQLite's
write lock would serialise them anyway.
"""

from __future__ import annotations

import re
import threading
from datetime import date

import httpx2 as httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import User
from qiantang.cases import service as cases
from qiantang.cases.models import Case, CaseEvent
from qiantang.db import WRITE_OPTION, make_engine
from qiantang.demo import DEMO_USERS
from qiantang.errors import Conflict
from qiantang.fundraising.routing import route_scores
from tests.fundraising.tip_fixtures import Row, firm_in
from tests.helpers import login_form_token, page_csrf_token
from tests.security.test_concurrency import live, server_db  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
CITY_USERS = ("admin", "analyst")


def _red_case(engine) -> int:
    """A new red case of the city (the 移送公安 clock running) on a firm without an open case."""
    with Session(engine.execution_options(**{WRITE_OPTION: True})) as s:
        open_firms = set(s.scalars(select(Case.enterprise_id).where(Case.enterprise_id.is_not(None))))
        skip = 0
        while (firm := firm_in(s, "330106", skip=skip)).id in open_firms:
            skip += 1
        case_id = route_scores(s, [Row(firm.id, "red", 93)], as_of=date.today()).opened[0]
        s.commit()
    return case_id


def _recorded(engine, case_id: int) -> tuple[Case, int, int]:
    with Session(engine) as s:
        case = s.get(Case, case_id)
        events = s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action == "handoff")
        )
        audited = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "case_handoff", AuditEvent.object_id == str(case_id))
        )
        s.expunge(case)
    return case, events, audited


def _logged_in(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=120)
    token = login_form_token(c.get("/login").text)
    r = c.post(
        "/login",
        data={"username": username, "password": PASSWORDS[username], "login_csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def test_two_city_users_hand_off_one_case_at_once_through_the_server(live, server_db):  # noqa: F811
    engine = make_engine(server_db)
    try:
        case_id = _red_case(engine)
        clients = [_logged_in(live["base"], u) for u in CITY_USERS]
        tokens = [page_csrf_token(c.get(f"/cases/{case_id}").text) for c in clients]
        barrier = threading.Barrier(len(clients))
        results: dict[str, httpx.Response] = {}

        def press(k: int) -> None:
            barrier.wait()
            results[CITY_USERS[k]] = clients[k].post(
                f"/cases/{case_id}/handoff",
                data={"csrf_token": tokens[k], "comment": f"{CITY_USERS[k]} 移送经侦"},
                follow_redirects=False,
            )

        threads = [threading.Thread(target=press, args=(k,)) for k in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in clients:
            c.close()
        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [303, 409], {u: (r.status_code, r.text[-500:]) for u, r in results.items()}
        winner = next(u for u, r in results.items() if r.status_code == 303)
        loser = results[next(u for u in CITY_USERS if u != winner)]
        assert "该案件已移送公安" in loser.text and "Traceback" not in loser.text
        assert re.search(r'action="/cases/\d+/handoff"', loser.text) is None  # the page shows it done
        case, events, audited = _recorded(engine, case_id)
        assert case.handed_off_by == winner and case.handed_off_at is not None
        assert events == 1 and audited == 1
        clock = cases.handoff_clock(case, date.today())
        assert clock.done_at == case.handed_off_at.date() and not clock.overdue
    finally:
        engine.dispose()


def test_the_race_is_decided_in_the_database(database, server_db):  # noqa: F811
    """Both transactions read the open case first, then both hand it off: one wins, one is refused."""
    if database.backend != "postgresql":
        pytest.skip("SQLite's write lock makes the second hand-off wait; the race is real on PostgreSQL")
    engine = make_engine(server_db)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    case_id = _red_case(engine)
    barrier = threading.Barrier(len(CITY_USERS))
    results: dict[str, str] = {}

    def press(username: str) -> None:
        with Session(writer) as s:
            user = s.scalar(select(User).where(User.username == username))
            assert s.get(Case, case_id).handed_off_at is None
            barrier.wait()
            try:
                cases.hand_off(s, case_id=case_id, actor=user, comment=f"{username} 移送经侦")
                s.commit()
                results[username] = "won"
            except Conflict as exc:
                s.rollback()
                results[username] = exc.message

    try:
        threads = [threading.Thread(target=press, args=(u,)) for u in CITY_USERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results.values()) == ["won", "该案件已移送公安"], results
        case, events, audited = _recorded(engine, case_id)
        assert case.handed_off_by == next(u for u, r in results.items() if r == "won")
        assert events == 1 and audited == 1
    finally:
        engine.dispose()
