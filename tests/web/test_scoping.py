"""Scoping is enforced in the service layer: a district officer sees its district only, a reporter its
own institution only — in lists, single records, pages, exports and the API."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import Role, User
from qiantang.auth.scope import Scope
from qiantang.enterprises import service as enterprise_service
from qiantang.enterprises.models import Enterprise
from qiantang.enterprises.service import EnterpriseFilters
from qiantang.errors import Forbidden
from qiantang.registry import service as registry_service
from qiantang.registry.models import Institution
from qiantang.registry.service import InstitutionFilters

XIHU = "330106"


def other_district_institution(db) -> Institution:
    return db.scalars(
        select(Institution).where(Institution.district_code != XIHU).order_by(Institution.id)
    ).first()


def other_district_enterprise(db) -> Enterprise:
    return db.scalars(
        select(Enterprise).where(Enterprise.district_code != XIHU).order_by(Enterprise.id)
    ).first()


def test_service_lists_are_filtered_for_a_district_officer(db):
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    rows, total = registry_service.list_institutions(
        db, scope=scope, filters=InstitutionFilters(), limit=10_000
    )
    assert total > 0 and {r.district_code for r in rows} == {XIHU}
    assert total == db.scalar(
        select(func.count()).select_from(Institution).where(Institution.district_code == XIHU)
    )
    # Asking for another district through the filter gives nothing, not the other district.
    _rows, other = registry_service.list_institutions(
        db, scope=scope, filters=InstitutionFilters(district_code="330108")
    )
    assert other == 0
    ents, etotal = enterprise_service.list_enterprises(
        db, scope=scope, filters=EnterpriseFilters(), limit=10_000
    )
    assert etotal > 0 and {e.district_code for e in ents} == {XIHU}


def test_service_single_records_are_refused_outside_the_district(db):
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    with pytest.raises(Forbidden):
        registry_service.get_institution(db, scope=scope, institution_id=other_district_institution(db).id)
    with pytest.raises(Forbidden):
        enterprise_service.get_enterprise(db, scope=scope, uscc=other_district_enterprise(db).uscc)


def test_api_district_officer_lists_only_its_district(clients, db):
    c = clients.as_user("xihu")
    body = c.get("/api/v1/institutions?limit=1000").json()
    assert body["total"] > 0
    assert {i["district_code"] for i in body["items"]} == {XIHU}
    body = c.get("/api/v1/enterprises?limit=1000&district=330108").json()
    assert body["total"] == 0 and body["items"] == []
    body = c.get("/api/v1/enterprises?limit=1000").json()
    assert {e["district_code"] for e in body["items"]} == {XIHU}


def test_api_district_officer_gets_403_for_another_districts_records(clients, db):
    c = clients.as_user("xihu")
    inst = other_district_institution(db)
    ent = other_district_enterprise(db)
    for url in (f"/api/v1/institutions/{inst.id}", f"/api/v1/enterprises/{ent.uscc}"):
        r = c.get(url)
        assert r.status_code == 403, url
        assert r.json()["error"]["message"].startswith("无权访问")
    # The HTML page refuses too, with a page and no trace.
    r = c.get(f"/institutions/{inst.id}")
    assert r.status_code == 403 and "Traceback" not in r.text and "无权访问" in r.text
    own = db.scalars(select(Institution).where(Institution.district_code == XIHU)).first()
    assert c.get(f"/api/v1/institutions/{own.id}").status_code == 200


def test_overview_is_scoped(clients, db):
    city = clients.as_user("admin").get("/api/v1/overview").json()
    xihu = clients.as_user("xihu").get("/api/v1/overview").json()
    assert 0 < xihu["enterprises_total"] < city["enterprises_total"]
    assert xihu["enterprises_total"] == db.scalar(
        select(func.count())
        .select_from(Enterprise)
        .where(Enterprise.district_code == XIHU, Enterprise.deregistered_on.is_(None))
    )
    assert xihu["loan_balance_yuan"] < city["loan_balance_yuan"]


def test_reporter_sees_only_its_own_institution(clients, db):
    reporter = db.scalars(select(User).where(User.role == Role.INSTITUTION_REPORTER)).first()
    c = clients.as_user(reporter.username)
    body = c.get("/api/v1/institutions?limit=1000").json()
    assert [i["id"] for i in body["items"]] == [reporter.institution_id]
    assert c.get(f"/api/v1/institutions/{reporter.institution_id}").status_code == 200
    other = db.scalar(select(Institution.id).where(Institution.id != reporter.institution_id).limit(1))
    assert c.get(f"/api/v1/institutions/{other}").status_code == 403
    assert c.get("/api/v1/enterprises").status_code == 403
    assert c.get(f"/api/v1/enterprises/{other_district_enterprise(db).uscc}").status_code == 403


def test_export_is_scoped_and_audited(clients, db):
    c = clients.as_user("xihu")
    r = c.get("/institutions/export")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.active
    header_row = next(
        i for i, row in enumerate(ws.iter_rows(values_only=True), 1) if row[0] == "统一社会信用代码"
    )
    districts = {row[4] for row in ws.iter_rows(min_row=header_row + 1, values_only=True)}
    assert districts == {"西湖区"}
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "export", AuditEvent.username == "xihu")
        )
        == 1
    )


def test_role_permissions(clients):
    assert clients.as_user("analyst").get("/audit").status_code == 403
    assert clients.as_user("auditor").get("/audit").status_code == 200
    assert clients.as_user("auditor").get("/users").status_code == 403
    assert clients.as_user("admin").get("/users").status_code == 200
    assert clients.as_user("xihu").get("/api/v1/users").status_code == 403
    # finance talent: auditors only read, only city administrators review, lenders see nothing
    assert clients.as_user("auditor").get("/talent/certifications").status_code == 200
    assert clients.as_user("auditor").post("/talent/certifications/new", data={}).status_code == 403
    assert clients.as_user("analyst").post("/talent/certifications/1/review").status_code == 403
    assert clients.as_user("xihu").post("/talent/certifications/1/certify").status_code == 403
    assert clients.as_user("lender").get("/talent").status_code == 403


def test_unknown_ids_give_404(clients):
    c = clients.as_user("admin")
    assert c.get("/api/v1/institutions/987654321").status_code == 404
    assert c.get("/api/v1/institutions/not-a-number").status_code == 422
    r = c.get("/api/v1/enterprises/91350100M000100Y43")
    assert r.status_code == 404 and "91350100M000100Y43" in r.json()["error"]["message"]


def test_audit_log_filters_and_export(clients, db):
    c = clients.as_user("auditor")
    c.get("/institutions/export")  # auditors may export; this is audited too
    page = c.get("/audit?action=export")
    assert page.status_code == 200 and "导出" in page.text
    r = c.get("/audit/export?action=export")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    assert rows and all(row[3] == "导出" for row in rows)
    assert (
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "audit_log"))
        == 1
    )
