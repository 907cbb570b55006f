"""Keeping the registry: register, edit and change the status of institutions, all audit-logged."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.errors import ValidationFailed
from qiantang.registry import service
from qiantang.registry.models import Institution, InstitutionStatus, StatusEvent
from qiantang.standards.uscc import make_uscc
from tests.helpers import page_csrf_token


class Actor:
    id = None
    username = "tester"


def new_input(**overrides) -> service.InstitutionInput:
    values = {
        "uscc": make_uscc("9", "1", "330106", "QT000001"),
        "name": "杭州测试小额贷款股份有限公司",
        "type_code": "small_loan",
        "level": "hq",
        "district_code": "330106",
        "established_on": date(2024, 3, 1),
        "cluster_code": "town_xixigu",
        "registered_capital_wan": 30000.0,
    }
    values.update(overrides)
    return service.InstitutionInput(**values)


def test_register_an_institution(db):
    inst = service.create_institution(db, data=new_input(), actor=Actor())
    assert inst.status == InstitutionStatus.ACTIVE and inst.registered_capital == 3e8
    assert [c.event for c in inst.status_history] == [StatusEvent.ESTABLISHED]
    assert db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "institution")
    )


def test_registration_lists_every_problem(db):
    taken = db.scalar(select(Institution.uscc).limit(1))
    with pytest.raises(ValidationFailed) as info:
        service.create_institution(
            db,
            data=new_input(
                uscc=taken,
                name="",
                district_code="330103",
                cluster_code="core_qjsjc",
                established_on=date.today() + timedelta(days=3),
                type_code="nope",
                registered_capital_wan=-1,
            ),
            actor=Actor(),
        )
    columns = {e.column for e in info.value.errors}
    assert columns == {
        "统一社会信用代码",
        "名称",
        "所在区县",
        "集聚区",
        "设立日期",
        "机构类型",
        "注册资本（万元）",
    }


def test_cluster_must_lie_in_the_district(db):
    with pytest.raises(ValidationFailed) as info:
        service.create_institution(db, data=new_input(cluster_code="core_qjsjc"), actor=Actor())  # 萧山
    assert "不在所选区县" in info.value.errors[0].message


def test_pilot_code_is_kept_with_a_warning(db):
    inst = service.create_institution(db, data=new_input(uscc="91350100M0001TGQXM"), actor=Actor())
    assert inst.uscc_warning and "人工核实" in inst.uscc_warning


def test_edit_records_a_change_event_with_the_differences(db):
    inst = service.create_institution(db, data=new_input(), actor=Actor())
    data = service.input_of(inst)
    data.name = "杭州测试小额贷款有限公司"
    data.registered_capital_wan = 50000.0
    service.update_institution(
        db, institution_id=inst.id, data=data, actor=Actor(), effective_on=date(2025, 1, 2)
    )
    change = inst.status_history[-1]
    assert change.event == StatusEvent.CHANGED and change.effective_on == date(2025, 1, 2)
    assert "名称" in change.reason and "30,000.00 万元 → 50,000.00 万元" in change.reason


@pytest.mark.parametrize(
    "steps,final",
    [
        ([StatusEvent.SUSPENDED, StatusEvent.RESUMED], InstitutionStatus.ACTIVE),
        ([StatusEvent.RESOLUTION, StatusEvent.DEREGISTERED], InstitutionStatus.DEREGISTERED),
        ([StatusEvent.REVOKED], InstitutionStatus.REVOKED),
    ],
)
def test_status_changes(db, steps, final):
    inst = service.create_institution(db, data=new_input(), actor=Actor())
    day = date(2024, 6, 1)
    for event in steps:
        service.change_status(
            db, institution_id=inst.id, event=event, effective_on=day, reason="测试", actor=Actor()
        )
        day += timedelta(days=30)
    assert inst.status == final
    assert (inst.deregistered_on is not None) == (not final.is_open)


def test_invalid_status_changes_are_refused(db):
    inst = service.create_institution(db, data=new_input(), actor=Actor())
    with pytest.raises(ValidationFailed) as info:
        service.change_status(
            db,
            institution_id=inst.id,
            event=StatusEvent.RESUMED,
            effective_on=date(2024, 6, 1),
            reason="x",
            actor=Actor(),
        )
    assert "不能“恢复经营”" in info.value.errors[0].message
    with pytest.raises(ValidationFailed) as info:
        service.change_status(
            db,
            institution_id=inst.id,
            event=StatusEvent.SUSPENDED,
            effective_on=date(2020, 1, 1),
            reason="",
            actor=Actor(),
        )
    assert {e.column for e in info.value.errors} == {"生效日期", "原因"}
    service.change_status(
        db,
        institution_id=inst.id,
        event=StatusEvent.DEREGISTERED,
        effective_on=date(2024, 7, 1),
        reason="解散",
        actor=Actor(),
    )
    with pytest.raises(ValidationFailed):
        service.change_status(
            db,
            institution_id=inst.id,
            event=StatusEvent.RESUMED,
            effective_on=date(2024, 8, 1),
            reason="x",
            actor=Actor(),
        )
    with pytest.raises(ValidationFailed):
        service.update_institution(db, institution_id=inst.id, data=service.input_of(inst), actor=Actor())


def test_pages_for_city_staff(clients, db):
    c = clients.as_user("analyst")
    page = c.get("/institutions/new")
    assert page.status_code == 200
    csrf = page_csrf_token(page.text)
    form = {
        "csrf_token": csrf,
        "uscc": make_uscc("9", "1", "330108", "QT000002"),
        "name": "杭州滨江测试保理有限公司",
        "type_code": "commercial_factoring",
        "established_on": "2023-05-06",
        "level": "hq",
        "district_code": "330108",
        "cluster_code": "zone_binjiang",
        "registered_capital_wan": "5,000",
    }
    r = c.post("/institutions/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    inst_id = int(r.headers["location"].rsplit("/", 1)[1])
    detail = c.get(f"/institutions/{inst_id}")
    assert "杭州滨江测试保理有限公司" in detail.text and "5,000.00 万元" in detail.text
    r = c.post(
        f"/institutions/{inst_id}/status",
        data={"csrf_token": csrf, "event": "suspended", "effective_on": "2024-01-02", "reason": "违规经营"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "停业整顿" in c.get(f"/institutions/{inst_id}").text
    bad = c.post("/institutions/new", data={**form, "registered_capital_wan": "五千"})
    assert bad.status_code == 422 and "应为数字" in bad.text


def test_district_officers_and_reporters_cannot_edit(clients, db):
    inst = db.scalar(select(Institution.id).where(Institution.district_code == "330106").limit(1))
    assert clients.as_user("xihu").get("/institutions/new").status_code == 403
    r = clients.as_user("xihu").post(
        f"/api/v1/institutions/{inst}/status-changes",
        json={"event": "suspended", "effective_on": "2025-01-01", "reason": "x"},
    )
    assert r.status_code == 403
    assert clients.as_user("reporter").get(f"/institutions/{inst}/edit").status_code == 403


def test_api_register_edit_and_change_status(clients, db):
    c = clients.as_user("admin")
    body = {
        "uscc": make_uscc("9", "1", "330102", "QT000003"),
        "name": "杭州上城测试典当有限公司",
        "type_code": "pawnshop",
        "level": "hq",
        "district_code": "330102",
        "established_on": "2022-02-02",
    }
    r = c.post("/api/v1/institutions", json=body)
    assert r.status_code == 201, r.text
    inst_id = r.json()["id"]
    r = c.patch(
        f"/api/v1/institutions/{inst_id}",
        json={"address": "杭州市上城区某路 1 号", "effective_on": "2024-01-01"},
    )
    assert r.status_code == 200 and r.json()["status_history"][-1]["event"] == "changed"
    r = c.post(
        f"/api/v1/institutions/{inst_id}/status-changes",
        json={"event": "deregistered", "effective_on": "2024-12-31", "reason": "股东决议解散"},
    )
    assert r.status_code == 201
    assert c.get(f"/api/v1/institutions/{inst_id}").json()["status"] == "deregistered"
    r = c.post("/api/v1/institutions", json={**body, "district_code": "330103"})
    assert r.status_code == 422 and "现行的区县代码" in r.text


def test_supervisor_filter(clients):
    page = clients.as_user("analyst").get("/api/v1/institutions?supervisor=中国人民银行&limit=1000").json()
    assert page["total"] > 0
    assert {i["type_code"] for i in page["items"]} <= {"payment", "credit_reporting"}
