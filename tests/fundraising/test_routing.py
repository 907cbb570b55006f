"""Routing of fundraising grades into cases: red → city with the 移送公安 clock, orange/yellow → the
district, green → the watch list; idempotent per version; a rising grade escalates; scoping."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.auth.scope import Scope
from qiantang.cases import service as cases
from qiantang.cases.models import Case, CaseSource, Owner
from qiantang.errors import Conflict, Forbidden
from qiantang.fundraising.routing import route_scores, watch_list
from qiantang.fundraising.tip_models import WatchEntry
from qiantang.matching import workdays
from tests.fundraising.tip_fixtures import (  # noqa: F401 (fixtures)
    XIHU,
    Row,
    binjiang_firm_fixture,
    firm_in,
    xihu_firm_fixture,
)
from tests.helpers import page_csrf_token

# Friday 2026-09-25, 中秋节 (09-25 … 09-27 off), before 国庆 (10-01 … 10-07 off; 10-10 a 调休 workday).
FRIDAY = date(2026, 9, 25)


def _user(db, username):
    from qiantang.auth.models import User

    return db.scalar(select(User).where(User.username == username))


def test_red_row_becomes_a_city_case_with_its_evidence(db, xihu_firm):
    result = route_scores(db, [Row(xihu_firm.id, "red", 87.5)], as_of=FRIDAY)
    assert len(result.opened) == 1
    case = db.get(Case, result.opened[0])
    assert case.owner == Owner.CITY and case.level.value == "red"
    assert case.source == CaseSource.FUNDRAISING
    assert case.enterprise_id == xihu_firm.id and case.alert_id is None and case.institution_id is None
    assert case.district_code == xihu_firm.district_code
    assert case.index_version == "test-1" and case.index_score == 87.5
    assert case.opened_evidence[0]["dimension"] == "收益率偏离"
    assert case.opened_evidence[0]["evidence"]["yield"] == 18.0
    assert xihu_firm.name in case.title
    assert case.handoff_due_on == workdays.add_workdays(FRIDAY, 3)


def test_orange_and_yellow_go_to_the_district_green_to_the_watch_list(db, xihu_firm, binjiang_firm):
    green = firm_in(db, XIHU, skip=1)
    result = route_scores(
        db,
        [Row(xihu_firm.id, "orange", 70), Row(binjiang_firm.id, "yellow", 55), Row(green.id, "green", 20)],
        as_of=FRIDAY,
    )
    assert len(result.opened) == 2 and result.watched == [green.id]
    opened = {c.enterprise_id: c for c in db.scalars(select(Case).where(Case.id.in_(result.opened)))}
    assert opened[xihu_firm.id].owner == Owner.DISTRICT and opened[xihu_firm.id].handoff_due_on is None
    assert opened[binjiang_firm.id].owner == Owner.DISTRICT
    entry = db.scalar(select(WatchEntry).where(WatchEntry.enterprise_id == green.id))
    assert entry.active and entry.score == 20
    xihu = Scope.for_user(_user(db, "xihu"))
    binjiang = Scope.for_user(_user(db, "binjiang"))
    assert green.id in {w.enterprise_id for w in watch_list(db, scope=xihu)}
    assert green.id not in {w.enterprise_id for w in watch_list(db, scope=binjiang)}


def test_rerunning_a_version_does_not_duplicate_and_a_rising_grade_escalates(db, xihu_firm):
    first = route_scores(db, [Row(xihu_firm.id, "yellow", 50)], as_of=FRIDAY)
    again = route_scores(db, [Row(xihu_firm.id, "yellow", 50)], as_of=FRIDAY)
    assert again.opened == [] and again.unchanged == first.opened
    up = route_scores(db, [Row(xihu_firm.id, "red", 90, version="test-2")], as_of=FRIDAY)
    assert up.escalated == first.opened and up.opened == []
    case = db.get(Case, first.opened[0])
    assert case.level.value == "red" and case.owner == Owner.CITY
    assert case.handoff_due_on is not None
    assert case.index_version == "test-1"  # the evidence it was opened on is kept
    n = db.scalar(select(Case.id).where(Case.enterprise_id == xihu_firm.id).order_by(Case.id.desc()))
    assert n == case.id  # still one case


def test_handoff_clock_counts_working_days_with_holidays():
    # Friday 2026-09-25 (中秋, off) + 3 working days: Mon 28, Tue 29, Wed 30.
    assert workdays.add_workdays(FRIDAY, 3) == date(2026, 9, 30)
    case = Case(handoff_due_on=date(2026, 9, 30), handed_off_at=None)
    assert cases.handoff_clock(case, FRIDAY).workdays_left == 3
    assert "还剩 3 个工作日" in cases.handoff_clock(case, FRIDAY).text_zh
    assert cases.handoff_clock(case, date(2026, 9, 30)).text_zh.endswith("今天到期")
    # 10-01 … 10-07 are holidays: on 10-08 the hand-off is one working day late, not eight days.
    late = cases.handoff_clock(case, date(2026, 10, 8))
    assert late.workdays_left == -1 and late.overdue and "已逾期 1 个工作日" in late.text_zh
    assert cases.handoff_clock(case, date(2026, 10, 10)).workdays_left == -3  # a 调休 Saturday counts


def test_handoff_is_city_only_once_and_audited(db, xihu_firm):
    case = db.get(Case, route_scores(db, [Row(xihu_firm.id, "red", 88)], as_of=FRIDAY).opened[0])
    case.shared_with_district = True  # even a shared case is handed off by the city only
    with pytest.raises(Forbidden):
        cases.hand_off(db, case_id=case.id, actor=_user(db, "xihu"), comment="")
    cases.hand_off(db, case_id=case.id, actor=_user(db, "admin"), comment="移送市公安局经侦支队")
    assert case.handed_off_at is not None and case.handed_off_by == "admin"
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "case_handoff")) is not None
    with pytest.raises(Conflict):
        cases.hand_off(db, case_id=case.id, actor=_user(db, "admin"))
    assert "已于" in cases.handoff_clock(case, date.today()).text_zh


def test_district_officer_cannot_see_another_districts_fundraising_case(
    db, clients, xihu_firm, binjiang_firm
):
    result = route_scores(
        db, [Row(xihu_firm.id, "orange", 70), Row(binjiang_firm.id, "yellow", 55)], as_of=FRIDAY
    )
    db.commit()
    by_firm = {c.enterprise_id: c.id for c in db.scalars(select(Case).where(Case.id.in_(result.opened)))}
    binjiang = clients.as_user("binjiang")
    assert binjiang.get(f"/cases/{by_firm[xihu_firm.id]}").status_code == 403
    assert binjiang.get(f"/api/v1/cases/{by_firm[xihu_firm.id]}").status_code == 403
    page = binjiang.get(f"/cases/{by_firm[binjiang_firm.id]}")
    assert page.status_code == 200 and f"/enterprises/{binjiang_firm.id}" in page.text
    table = binjiang.get("/cases?view=table&source=fundraising")
    assert table.status_code == 200
    assert f'data-case="{by_firm[binjiang_firm.id]}"' in table.text
    assert f'data-case="{by_firm[xihu_firm.id]}"' not in table.text
    listed = binjiang.get("/api/v1/cases?source=fundraising").json()
    # The demo's own monitoring round opened cases too: the officer sees its district's only.
    ids = {i["id"] for i in listed["items"]}
    assert by_firm[binjiang_firm.id] in ids and by_firm[xihu_firm.id] not in ids
    assert {i["district_code"] for i in listed["items"]} == {binjiang_firm.district_code}
    mine = next(i for i in listed["items"] if i["id"] == by_firm[binjiang_firm.id])
    assert mine["subject_name"] == binjiang_firm.name


def test_case_page_shows_the_enterprise_evidence_and_the_handoff_action(db, clients, xihu_firm):
    today = date.today()
    case_id = route_scores(db, [Row(xihu_firm.id, "red", 91)], as_of=today).opened[0]
    db.commit()
    admin = clients.as_user("admin")
    page = admin.get(f"/cases/{case_id}")
    assert page.status_code == 200, page.text
    assert f'href="/enterprises/{xihu_firm.id}"' in page.text
    assert "收益率偏离" in page.text and "test-1" in page.text
    assert 'data-testid="handoff-clock"' in page.text and "移送公安期限" in page.text
    assert f'action="/cases/{case_id}/handoff"' in page.text
    # The district office (not shared) gets 403; an analyst hands off with the page's CSRF token.
    assert clients.as_user("xihu").get(f"/cases/{case_id}").status_code == 403
    r = admin.post(
        f"/cases/{case_id}/handoff",
        data={"csrf_token": page_csrf_token(page.text), "comment": "移送经侦"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    after = admin.get(f"/cases/{case_id}")
    assert "已于" in after.text and f'action="/cases/{case_id}/handoff"' not in after.text
    export = admin.get("/cases/export?source=fundraising")
    assert export.status_code == 200
    api = admin.get(f"/api/v1/cases/{case_id}").json()
    assert api["enterprise_id"] == xihu_firm.id and api["alert"] is None and api["handed_off_at"]


def test_handoff_without_csrf_is_refused(db, clients, xihu_firm):
    case_id = route_scores(db, [Row(xihu_firm.id, "red", 91)]).opened[0]
    db.commit()
    admin = clients.as_user("admin")
    admin.headers.pop("X-CSRF-Token")
    r = admin.post(f"/cases/{case_id}/handoff", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert db.get(Case, case_id).handed_off_at is None


def test_watch_list_page_is_scoped(db, clients):
    green = firm_in(db, XIHU, skip=2)
    route_scores(db, [Row(green.id, "green", 18)])
    db.commit()
    xihu = clients.as_user("xihu").get("/fundraising/watchlist")
    assert xihu.status_code == 200 and f'data-enterprise="{green.id}"' in xihu.text
    binjiang = clients.as_user("binjiang").get("/fundraising/watchlist")
    assert binjiang.status_code == 200 and f'data-enterprise="{green.id}"' not in binjiang.text
    assert clients.as_user("firm").get("/fundraising/watchlist").status_code == 403


def test_city_is_reminded_of_a_handoff_clock_running_out(db, xihu_firm):
    from qiantang.notify.models import Notification

    case_id = route_scores(db, [Row(xihu_firm.id, "red", 95)], as_of=FRIDAY).opened[0]

    def mine() -> int:  # the demo's own red cases are reminded too: count this case's reminders
        return db.scalar(
            select(func.count(func.distinct(Notification.title))).where(
                Notification.link == f"/cases/{case_id}",
                Notification.event_type == "case_due_soon",
                Notification.title.like("%移送公安%"),
            )
        )

    cases.remind_handoff(db, today=FRIDAY)
    assert mine() == 0  # three working days left
    cases.remind_handoff(db, today=date(2026, 9, 29))
    assert mine() == 1  # one left
    cases.remind_handoff(db, today=date(2026, 10, 8))
    assert mine() == 2  # overdue
    titles = list(
        db.scalars(
            select(Notification.title).where(
                Notification.link == f"/cases/{case_id}", Notification.event_type == "case_due_soon"
            )
        )
    )
    assert any("即将到移送公安期限" in t for t in titles) and any("移送公安已逾期" in t for t in titles)
    n = len(titles)
    cases.remind_handoff(db, today=date(2026, 10, 9))  # once per stage
    assert (
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.link == f"/cases/{case_id}", Notification.event_type == "case_due_soon")
        )
        == n
    )


def test_case_titles_keep_the_index_decimal_in_both_languages(db, xihu_firm):
    result = route_scores(db, [Row(xihu_firm.id, "red", 84.5)], as_of=FRIDAY)
    case = db.get(Case, result.opened[0])
    assert "非法集资风险指数 84.5 分（红色）" in case.title
    assert case.title_en == f"{xihu_firm.name}: fundraising risk 84.5 (Red)"
