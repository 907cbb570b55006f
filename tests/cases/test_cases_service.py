"""The case service: routing by level, the state machine, who may see and act, escalation,
attachments and the audit trail — without HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.cases import service
from qiantang.cases.models import Case, CaseEvent, CaseState, Owner
from qiantang.cases.service import CaseFilters
from qiantang.earlywarning.models import AlertStatus, Level
from qiantang.errors import Conflict, Forbidden, ValidationFailed
from tests.cases.conftest import AS_OF, BINJIANG, TODAY, XIHU

HANGZHOU_OTHER = "330105"  # 拱墅区: neither demo district officer's


def case_of(db, alert) -> Case:
    return db.scalar(select(Case).where(Case.alert_id == alert.id))


def events(db, case) -> list[str]:
    return [e.action for e in service.timeline(db, case_id=case.id)]


def audit_actions(db, case) -> list[str]:
    return list(
        db.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "case", AuditEvent.object_id == str(case.id))
            .order_by(AuditEvent.id)
        )
    )


# --- policy and sync -------------------------------------------------------------------------------


def test_policy_is_data_with_a_source():
    policy = service.load_policy()
    assert policy.routing == {
        Level.RED: Owner.CITY,
        Level.ORANGE: Owner.DISTRICT,
        Level.YELLOW: Owner.DISTRICT,
    }
    assert policy.due_days == {Level.RED: 15, Level.ORANGE: 30, Level.YELLOW: 45}
    assert "项目默认" in policy.source_zh and "not a rule" in policy.source_en
    assert policy.max_attachment_bytes == 10 * 1024 * 1024
    with pytest.raises(ValueError):
        service.parse_policy('version = "x"\n[routing]\nred = "province"\n[due_days]\nred = 15\n')
    with pytest.raises(ValueError):
        service.parse_policy('version = "x"\n[routing]\nred = "city"\n[due_days]\nred = 0\n')


def test_sync_cases_routes_by_level_and_is_idempotent(db, make_alert):
    red = make_alert(XIHU, Level.RED)
    orange = make_alert(BINJIANG, Level.ORANGE)
    yellow = make_alert(XIHU, Level.YELLOW)
    green = make_alert(XIHU, Level.GREEN)
    cleared = make_alert(XIHU, Level.RED, status=AlertStatus.CLEARED)
    older = make_alert(XIHU, Level.RED, last_period=AS_OF - timedelta(days=92))

    assert service.sync_cases(db, as_of=AS_OF, today=TODAY) == 3
    assert service.sync_cases(db, as_of=AS_OF, today=TODAY) == 0  # idempotent
    assert service.sync_cases(db, as_of=AS_OF) == 0  # the real date as "today" changes nothing either

    c_red, c_orange, c_yellow = case_of(db, red), case_of(db, orange), case_of(db, yellow)
    assert (c_red.owner, c_red.level, c_red.due_on) == (Owner.CITY, Level.RED, TODAY + timedelta(days=15))
    assert (c_orange.owner, c_orange.district_code, c_orange.due_on) == (
        Owner.DISTRICT,
        BINJIANG,
        TODAY + timedelta(days=30),
    )
    assert (c_yellow.owner, c_yellow.due_on) == (Owner.DISTRICT, TODAY + timedelta(days=45))
    assert all(
        c.state == CaseState.PENDING and not c.shared_with_district for c in (c_red, c_orange, c_yellow)
    )
    # The title names the institution and carries the alert's summary.
    assert c_red.title.startswith(red.institution.name) and red.summary_zh in c_red.title
    # Green, cleared and older-quarter alerts open nothing.
    assert case_of(db, green) is None and case_of(db, cleared) is None and case_of(db, older) is None
    # Exactly one "create" event and one audit event per case, even after three syncs.
    assert events(db, c_red) == ["create"]
    assert audit_actions(db, c_red) == ["case_create"]


def test_sync_raises_the_level_of_an_open_case_when_its_alert_gets_worse(db, make_alert):
    alert = make_alert(XIHU, Level.YELLOW)
    service.sync_cases(db, as_of=AS_OF, today=TODAY)
    case = case_of(db, alert)
    alert.level = Level.RED
    db.flush()
    assert service.sync_cases(db, as_of=AS_OF, today=TODAY + timedelta(days=1)) == 0
    assert (case.level, case.owner) == (Level.RED, Owner.CITY)
    assert case.due_on == TODAY + timedelta(days=16)  # the earlier of the two due dates
    assert events(db, case) == ["create", "relevel"]
    service.sync_cases(db, as_of=AS_OF, today=TODAY + timedelta(days=1))
    assert events(db, case) == ["create", "relevel"]


def test_open_case_refuses_a_second_case_for_the_same_alert(db, make_alert, users):
    alert = make_alert(XIHU, Level.ORANGE)
    service.open_case(db, alert=alert, actor=users["analyst"], today=TODAY)
    with pytest.raises(Conflict):
        service.open_case(db, alert=alert, actor=users["analyst"], today=TODAY)
    other = make_alert(BINJIANG, Level.YELLOW)
    with pytest.raises(Forbidden):  # a district officer may not open a case in another district
        service.open_case(db, alert=other, actor=users["xihu"], today=TODAY)


# --- the state machine ---------------------------------------------------------------------------


def test_city_red_case_goes_through_every_state_by_the_analyst(db, make_alert, users):
    alert = make_alert(XIHU, Level.RED)
    service.sync_cases(db, as_of=AS_OF, today=TODAY)
    case = case_of(db, alert)
    analyst = users["analyst"]
    service.transition(db, case_id=case.id, to_state="verifying", actor=analyst, comment="调取账册")
    assert case.state == CaseState.VERIFYING and case.assignee == "analyst"
    service.transition(
        db, case_id=case.id, to_state=CaseState.RECTIFYING, actor=analyst, comment="限期压降单户贷款"
    )
    service.transition(
        db, case_id=case.id, to_state=CaseState.CLOSED, actor=analyst, resolution="已压降至 8%，符合要求"
    )
    assert case.state == CaseState.CLOSED and case.closed_at is not None
    assert case.resolution == "已压降至 8%，符合要求"
    steps = service.timeline(db, case_id=case.id)
    assert [(e.action, e.from_state, e.to_state) for e in steps] == [
        ("create", None, "pending"),
        ("transition", "pending", "verifying"),
        ("transition", "verifying", "rectifying"),
        ("transition", "rectifying", "closed"),
    ]
    assert [e.username for e in steps] == [None, "analyst", "analyst", "analyst"]
    assert audit_actions(db, case) == ["case_create"] + ["case_transition"] * 3
    last = db.scalar(
        select(AuditEvent).where(AuditEvent.object_id == str(case.id)).order_by(AuditEvent.id.desc()).limit(1)
    )
    assert (
        last.username == "analyst" and last.detail["from"] == "rectifying" and last.detail["to"] == "closed"
    )
    # Nothing leaves a closed case.
    for to in CaseState:
        with pytest.raises(Conflict):
            service.transition(db, case_id=case.id, to_state=to, actor=analyst, comment="x", resolution="x")
    with pytest.raises(Conflict):
        service.add_comment(db, case_id=case.id, actor=analyst, text="补充")


def test_district_yellow_case_is_handled_by_its_district_officer(db, make_alert, users):
    alert = make_alert(XIHU, Level.YELLOW)
    service.sync_cases(db, as_of=AS_OF, today=TODAY)
    case = case_of(db, alert)
    xihu = users["xihu"]
    service.transition(db, case_id=case.id, to_state="verifying", actor=xihu)
    service.add_comment(db, case_id=case.id, actor=xihu, text="已约谈机构负责人")
    service.transition(db, case_id=case.id, to_state="rectifying", actor=xihu, comment="补报季度报表")
    service.transition(db, case_id=case.id, to_state="closed", actor=xihu, resolution="已补报")
    assert case.state == CaseState.CLOSED and case.assignee == "xihu"
    assert events(db, case) == ["create", "transition", "comment", "transition", "transition"]
    assert audit_actions(db, case) == [
        "case_create",
        "case_transition",
        "case_comment",
        "case_transition",
        "case_transition",
    ]


def test_verifying_may_close_without_rectification(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.ORANGE), today=TODAY)
    service.transition(db, case_id=case.id, to_state="verifying", actor=users["xihu"])
    service.transition(db, case_id=case.id, to_state="closed", actor=users["xihu"], resolution="核实无问题")
    assert case.state == CaseState.CLOSED


@pytest.mark.parametrize("start", ["pending", "verifying"])
def test_false_positive_requires_a_reason(db, make_alert, users, start):
    case = service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY)
    if start == "verifying":
        service.transition(db, case_id=case.id, to_state="verifying", actor=users["xihu"])
    with pytest.raises(ValidationFailed):
        service.transition(db, case_id=case.id, to_state="false_positive", actor=users["xihu"])
    with pytest.raises(ValidationFailed):
        service.transition(
            db, case_id=case.id, to_state="false_positive", actor=users["xihu"], resolution="   "
        )
    assert case.state == CaseState(start)
    service.transition(
        db, case_id=case.id, to_state="false_positive", actor=users["xihu"], resolution="报表单位填错，已更正"
    )
    assert case.state == CaseState.FALSE_POSITIVE and case.resolution == "报表单位填错，已更正"
    with pytest.raises(Conflict):
        service.transition(db, case_id=case.id, to_state="verifying", actor=users["xihu"])


def test_forbidden_moves_and_missing_texts_are_rejected(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY)
    a = users["admin"]
    for to in ("rectifying", "closed", "pending"):
        with pytest.raises(Conflict):
            service.transition(db, case_id=case.id, to_state=to, actor=a, comment="x", resolution="x")
    with pytest.raises(ValidationFailed):
        service.transition(db, case_id=case.id, to_state="no-such-state", actor=a)
    service.transition(db, case_id=case.id, to_state="verifying", actor=a)
    with pytest.raises(ValidationFailed):  # rectification needs what must be rectified
        service.transition(db, case_id=case.id, to_state="rectifying", actor=a)
    with pytest.raises(ValidationFailed):  # closing needs the resolution
        service.transition(db, case_id=case.id, to_state="closed", actor=a)
    with pytest.raises(Conflict):
        service.transition(db, case_id=case.id, to_state="pending", actor=a, comment="back")
    service.transition(db, case_id=case.id, to_state="rectifying", actor=a, comment="整改")
    with pytest.raises(Conflict):  # rectifying is no longer a false positive
        service.transition(db, case_id=case.id, to_state="false_positive", actor=a, resolution="x")
    with pytest.raises(ValidationFailed):
        service.add_comment(db, case_id=case.id, actor=a, text="  ")
    assert case.state == CaseState.RECTIFYING
    assert events(db, case) == ["create", "transition", "transition"]


# --- who may see and act -------------------------------------------------------------------------


def test_district_officer_cannot_act_on_another_district_nor_on_an_unshared_red_case(db, make_alert, users):
    binjiang_yellow = service.open_case(db, alert=make_alert(BINJIANG, Level.YELLOW), today=TODAY)
    xihu_red = service.open_case(db, alert=make_alert(XIHU, Level.RED), today=TODAY)
    xihu = users["xihu"]
    scope = Scope.for_user(xihu)
    assert not service.can_view(scope, binjiang_yellow) and not service.can_act(scope, binjiang_yellow)
    assert not service.can_view(scope, xihu_red) and not service.can_act(scope, xihu_red)
    for case in (binjiang_yellow, xihu_red):
        with pytest.raises(Forbidden):
            service.transition(db, case_id=case.id, to_state="verifying", actor=xihu)
        with pytest.raises(Forbidden):
            service.add_comment(db, case_id=case.id, actor=xihu, text="越权")
        with pytest.raises(Forbidden):
            service.attach(
                db, case_id=case.id, actor=xihu, filename="a.txt", content_type="text/plain", data=b"x"
            )
        with pytest.raises(Forbidden):
            service.get_case(db, scope=scope, case_id=case.id)
    # A district officer cannot share either; the city can, once.
    with pytest.raises(Forbidden):
        service.share_with_district(db, case_id=xihu_red.id, actor=xihu)
    service.share_with_district(db, case_id=xihu_red.id, actor=users["analyst"], comment="请西湖区协查")
    with pytest.raises(Conflict):
        service.share_with_district(db, case_id=xihu_red.id, actor=users["analyst"])
    assert service.can_view(scope, xihu_red) and service.can_act(scope, xihu_red)
    service.transition(db, case_id=xihu_red.id, to_state="verifying", actor=xihu, comment="已到现场")
    assert xihu_red.state == CaseState.VERIFYING
    # Binjiang's officer still sees nothing of the shared Xihu case.
    assert not service.can_view(Scope.for_user(users["binjiang"]), xihu_red)
    assert events(db, xihu_red) == ["create", "share", "transition"]
    assert audit_actions(db, xihu_red)[-2:] == ["case_share", "case_transition"]
    # Sharing applies to city cases only.
    with pytest.raises(Conflict):
        service.share_with_district(db, case_id=binjiang_yellow.id, actor=users["admin"])


def test_auditor_reads_everything_and_acts_on_nothing_and_reporter_sees_nothing(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY)
    auditor, reporter = users["auditor"], users["reporter"]
    assert service.get_case(db, scope=Scope.for_user(auditor), case_id=case.id) is case
    with pytest.raises(Forbidden):
        service.transition(db, case_id=case.id, to_state="verifying", actor=auditor)
    with pytest.raises(Forbidden):
        service.add_comment(db, case_id=case.id, actor=auditor, text="审计意见")
    with pytest.raises(Forbidden):
        service.get_case(db, scope=Scope.for_user(reporter), case_id=case.id)
    with pytest.raises(Forbidden):
        service.transition(db, case_id=case.id, to_state="verifying", actor=reporter)
    rows, total = service.list_cases(db, scope=Scope.for_user(reporter))
    assert (rows, total) == ([], 0)
    assert case.state == CaseState.PENDING and events(db, case) == ["create"]


def test_lists_are_scoped_in_sql_exactly_as_can_view(db, make_alert, users):
    made = [
        service.open_case(db, alert=make_alert(d, lv), today=TODAY)
        for d in (XIHU, BINJIANG, HANGZHOU_OTHER)
        for lv in (Level.RED, Level.ORANGE, Level.YELLOW)
    ]
    service.share_with_district(db, case_id=made[3].id, actor=users["admin"])  # Binjiang's red
    made[2].due_on = TODAY - timedelta(days=1)  # Xihu's yellow, overdue → escalated
    service.escalate_overdue(db, today=TODAY)
    ids = {c.id for c in made}
    for name in ("admin", "analyst", "xihu", "binjiang", "reporter", "auditor"):
        scope = Scope.for_user(users[name])
        rows, _total = service.list_cases(db, scope=scope, limit=None)
        listed = {c.id for c in rows} & ids
        assert listed == {c.id for c in made if service.can_view(scope, c)}, name
        acting, _ = service.list_cases(db, scope=scope, filters=CaseFilters(actionable=True), limit=None)
        assert {c.id for c in acting} & ids == {c.id for c in made if service.can_act(scope, c)}, name
    xihu_seen = {c.id for c in service.list_cases(db, scope=Scope.for_user(users["xihu"]), limit=None)[0]}
    assert xihu_seen & ids == {made[1].id, made[2].id}  # orange, and the escalated yellow
    assert {
        c.id for c in service.list_cases(db, scope=Scope.for_user(users["binjiang"]), limit=None)[0]
    } & ids == {
        made[3].id,
        made[4].id,
        made[5].id,
    }


def test_filters_and_counts(db, make_alert, users):
    made = [
        service.open_case(db, alert=make_alert(d, lv), today=TODAY)
        for d, lv in [(XIHU, Level.RED), (XIHU, Level.YELLOW), (BINJIANG, Level.ORANGE)]
    ]
    made[1].due_on = TODAY - timedelta(days=3)
    service.transition(db, case_id=made[2].id, to_state="verifying", actor=users["binjiang"])
    scope = Scope.system()
    ids = {c.id for c in made}

    def listed(**kw):
        return {
            c.id for c in service.list_cases(db, scope=scope, filters=CaseFilters(**kw), today=TODAY)[0]
        } & ids

    assert listed(level=Level.RED) == {made[0].id}
    assert listed(district_code=BINJIANG) == {made[2].id}
    assert listed(state=CaseState.VERIFYING) == {made[2].id}
    assert listed(overdue=True) == {made[1].id}
    assert listed(owner=Owner.CITY) == {made[0].id}
    binjiang = Scope.for_user(users["binjiang"])
    mine = service.list_cases(db, scope=binjiang, filters=CaseFilters(mine=True), username="binjiang")[0]
    assert {c.id for c in mine} == {made[2].id}
    counts = service.count_cases(db, scope=scope, filters=CaseFilters(q=made[0].title[:8]), today=TODAY)
    assert counts.total >= 1 and counts.by_level.get("red", 0) >= 1
    xihu_counts = service.count_cases(db, scope=Scope.for_user(users["xihu"]), today=TODAY)
    # Xihu's officer counts its overdue yellow case but not the city's unshared red one.
    assert xihu_counts.overdue >= 1 and xihu_counts.by_level.get("yellow", 0) >= 1
    assert xihu_counts.by_level.get("red", 0) == 0


def test_board_shows_the_cards_list_cases_gives_per_state(db, make_alert, users):
    """The board's window query keeps, per state, the cases ``list_cases`` lists first, in its order,
    with the state's total; for every role, with filters, and with only the state asked for."""
    made = [
        service.open_case(db, alert=make_alert(d, lv), today=TODAY)
        for d in (XIHU, BINJIANG, HANGZHOU_OTHER)
        for lv in (Level.RED, Level.ORANGE, Level.YELLOW, Level.YELLOW)
    ]
    made[1].due_on = TODAY - timedelta(days=2)  # an older due date sorts first within a level
    made[3].due_on = TODAY - timedelta(days=1)  # a district case overdue: escalated to the city
    service.escalate_overdue(db, today=TODAY)
    service.transition(db, case_id=made[5].id, to_state="verifying", actor=users["binjiang"])
    service.transition(db, case_id=made[6].id, to_state="verifying", actor=users["binjiang"])
    service.transition(
        db, case_id=made[6].id, to_state="closed", actor=users["binjiang"], resolution="已核实"
    )
    db.flush()
    filter_sets = [
        CaseFilters(),
        CaseFilters(level=Level.YELLOW),
        CaseFilters(district_code=BINJIANG),
        CaseFilters(state=CaseState.PENDING),
        CaseFilters(q=made[0].title[:6]),
    ]
    for name in ("admin", "xihu", "binjiang", "auditor"):
        scope = Scope.for_user(users[name])
        for filters in filter_sets:
            columns = service.board_columns(
                db, scope=scope, filters=filters, today=TODAY, username=name, per_column=3
            )
            wanted = [filters.state] if filters.state else list(CaseState)
            assert [col.state for col in columns] == wanted
            for col in columns:
                rows, total = service.list_cases(
                    db,
                    scope=scope,
                    filters=replace(filters, state=col.state),
                    today=TODAY,
                    username=name,
                    limit=3,
                )
                assert [c.id for c in col.rows] == [c.id for c in rows], (name, filters, col.state)
                assert col.total == total, (name, filters, col.state)
            # The page passes the sizes count_cases found under the same scope and filters.
            counted = service.count_cases(db, scope=scope, filters=filters, today=TODAY, username=name)
            every, _n = service.list_cases(
                db, scope=scope, filters=filters, today=TODAY, username=name, limit=None
            )
            assert counted.total == len(every)
            assert counted.overdue == sum(service.is_overdue(c, TODAY) for c in every)
            assert counted.escalated == sum(c.escalated_at is not None for c in every)
            given = service.board_columns(
                db,
                scope=scope,
                filters=filters,
                today=TODAY,
                username=name,
                per_column=3,
                sizes=counted.by_state,
            )
            assert [(c.state, [r.id for r in c.rows], c.total) for c in given] == [
                (c.state, [r.id for r in c.rows], c.total) for c in columns
            ]
    pending = service.board_columns(db, scope=Scope.system(), today=TODAY, per_column=3)[0]
    assert pending.state == CaseState.PENDING and len(pending.rows) == 3 and pending.total > 3


# --- escalation ----------------------------------------------------------------------------------


def test_an_overdue_district_case_is_escalated_to_the_city_once(db, make_alert, users):
    alert = make_alert(XIHU, Level.ORANGE)
    service.sync_cases(db, as_of=AS_OF, today=TODAY)
    case = case_of(db, alert)
    service.transition(db, case_id=case.id, to_state="verifying", actor=users["xihu"])
    assert service.escalate_overdue(db, today=case.due_on).escalated == 0  # due today: not yet overdue
    result = service.escalate_overdue(db, today=case.due_on + timedelta(days=1))
    assert result.escalated >= 1
    assert case.owner == Owner.CITY and case.escalated_at is not None
    assert events(db, case)[-1] == "escalate"
    assert audit_actions(db, case)[-1] == "case_escalate"
    escalation = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "case_escalate", AuditEvent.object_id == str(case.id))
    )
    assert escalation.username == "system" and escalation.detail["district_code"] == XIHU
    # Again: nothing more happens to it.
    service.escalate_overdue(db, today=case.due_on + timedelta(days=2))
    assert events(db, case).count("escalate") == 1 and "overdue" not in events(db, case)
    # The district keeps seeing it, read-only; the city acts on it.
    xihu = Scope.for_user(users["xihu"])
    assert service.can_view(xihu, case) and not service.can_act(xihu, case)
    with pytest.raises(Forbidden):
        service.add_comment(db, case_id=case.id, actor=users["xihu"], text="补充说明")
    service.transition(
        db, case_id=case.id, to_state="rectifying", actor=users["analyst"], comment="市级督办整改"
    )
    # … unless the city shares it back with the district.
    service.share_with_district(db, case_id=case.id, actor=users["analyst"])
    service.add_comment(db, case_id=case.id, actor=users["xihu"], text="整改进度：已完成一半")


def test_an_overdue_city_case_is_flagged_once_and_final_cases_are_left_alone(db, make_alert, users):
    red = service.open_case(db, alert=make_alert(XIHU, Level.RED), today=TODAY)
    done = service.open_case(db, alert=make_alert(BINJIANG, Level.YELLOW), today=TODAY)
    service.transition(
        db, case_id=done.id, to_state="false_positive", actor=users["binjiang"], resolution="误报"
    )
    later = TODAY + timedelta(days=100)
    service.escalate_overdue(db, today=later)
    service.escalate_overdue(db, today=later + timedelta(days=1))
    assert red.owner == Owner.CITY and red.escalated_at is None
    assert events(db, red) == ["create", "overdue"]
    assert service.is_overdue(red, later) and not service.is_overdue(done, later)
    assert done.owner == Owner.DISTRICT and done.escalated_at is None
    assert events(db, done) == ["create", "transition"]


def test_escalate_overdue_now_is_what_the_cli_runs(db, make_alert):
    case = service.open_case(db, alert=make_alert(BINJIANG, Level.YELLOW), today=TODAY)
    case.due_on = date(2020, 1, 1)  # long past by the real date
    result = service.escalate_overdue_now(db)
    assert result.escalated >= 1 and case.escalated_at is not None


# --- attachments ---------------------------------------------------------------------------------


def test_attachments_are_stored_with_their_hash_and_a_safe_name(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY)
    data = "核查报告\n".encode() * 100
    att = service.attach(
        db,
        case_id=case.id,
        actor=users["xihu"],
        filename="../../etc/核查报告<2025>.pdf",
        content_type="application/pdf",
        data=data,
        comment="现场核查报告",
    )
    assert att.filename == "核查报告_2025_.pdf"
    assert (att.size, att.sha256, att.data) == (len(data), hashlib.sha256(data).hexdigest(), data)
    assert att.uploaded_by == "xihu"
    step = service.timeline(db, case_id=case.id)[-1]
    assert (step.action, step.attachment_id) == ("attach", att.id)
    logged = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "case_attach", AuditEvent.object_id == str(case.id))
    )
    assert logged.detail["sha256"] == att.sha256
    # Read back through the scope check.
    assert (
        service.get_attachment(
            db, scope=Scope.for_user(users["auditor"]), case_id=case.id, attachment_id=att.id
        )
        is att
    )
    with pytest.raises(Forbidden):
        service.get_attachment(
            db, scope=Scope.for_user(users["binjiang"]), case_id=case.id, attachment_id=att.id
        )
    other = service.open_case(db, alert=make_alert(XIHU, Level.ORANGE), today=TODAY)
    from qiantang.errors import NotFound

    with pytest.raises(NotFound):  # an attachment is only reachable through its own case
        service.get_attachment(db, scope=Scope.system(), case_id=other.id, attachment_id=att.id)


def test_attachment_limits(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.YELLOW), today=TODAY)
    too_big = b"\0" * (10 * 1024 * 1024 + 1)
    with pytest.raises(service.PayloadTooLarge) as exc:
        service.attach(
            db, case_id=case.id, actor=users["xihu"], filename="big.bin", content_type=None, data=too_big
        )
    assert exc.value.status_code == 413
    with pytest.raises(ValidationFailed):
        service.attach(
            db,
            case_id=case.id,
            actor=users["xihu"],
            filename="empty.txt",
            content_type="text/plain",
            data=b"",
        )
    ok = service.attach(
        db,
        case_id=case.id,
        actor=users["xihu"],
        filename="x",
        content_type="no type\r\nX: y",
        data=b"1",
    )
    assert ok.content_type == "application/octet-stream"
    with pytest.raises(Forbidden):
        service.attach(
            db,
            case_id=case.id,
            actor=users["auditor"],
            filename="a.txt",
            content_type="text/plain",
            data=b"1",
        )


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("报告.pdf", "报告.pdf"),
        ("C:\\Users\\x\\整改.docx", "整改.docx"),
        ("..", "attachment"),
        (".htaccess", "htaccess"),
        ("a\x00b\nc.txt", "a_b_c.txt"),
        ("", "attachment"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_sanitize_filename(raw, safe):
    assert service.sanitize_filename(raw) == safe


def test_every_step_is_in_the_audit_log(db, make_alert, users):
    case = service.open_case(db, alert=make_alert(XIHU, Level.RED), actor=users["admin"], today=TODAY)
    service.share_with_district(db, case_id=case.id, actor=users["admin"])
    service.transition(db, case_id=case.id, to_state="verifying", actor=users["xihu"])
    service.add_comment(db, case_id=case.id, actor=users["analyst"], text="请加快")
    service.attach(
        db, case_id=case.id, actor=users["xihu"], filename="a.txt", content_type="text/plain", data=b"1"
    )
    case.due_on = TODAY - timedelta(days=1)
    service.escalate_overdue(db, today=TODAY)
    steps = service.timeline(db, case_id=case.id)
    logged = audit_actions(db, case)
    assert logged == [f"case_{e.action}" for e in steps]
    assert logged == [
        "case_create",
        "case_share",
        "case_transition",
        "case_comment",
        "case_attach",
        "case_overdue",
    ]
    who = list(
        db.scalars(
            select(AuditEvent.username)
            .where(AuditEvent.object_type == "case", AuditEvent.object_id == str(case.id))
            .order_by(AuditEvent.id)
        )
    )
    assert who == ["admin", "admin", "xihu", "analyst", "xihu", "system"]
    assert {e.role for e in users.values()} >= {Role.AUDITOR}  # the demo users are all there
    assert all(isinstance(e, CaseEvent) for e in steps)
