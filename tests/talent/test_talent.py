"""Finance talent on the demo database: the annual return through the filings path, the certification
lifecycle by role, masking of personal data on pages, exports and the API, district scoping."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import User
from qiantang.auth.scope import Scope
from qiantang.errors import Conflict, Forbidden, ValidationFailed
from qiantang.filings import service as filings
from qiantang.filings.models import AnnualFiling, Filing
from qiantang.filings.samples import talent_values, workbook
from qiantang.filings.templates import get_template
from qiantang.registry.models import Institution, InstitutionCategory, InstitutionType
from qiantang.talent import service
from qiantang.talent.models import CertStatus, TalentCertification

TALENT = get_template("finance_talent")
NOW = datetime(2026, 2, 1, 3, 0)
XIHU = "330106"
ID_NUMBER = "33010619800101118X"  # a made-up ID with a valid check character
MOBILE = "17012345678"


def user(db, name: str) -> User:
    return db.scalar(select(User).where(User.username == name))


def upload(db, rows, who: User, **kw):
    return filings.upload_filings(
        db,
        content=workbook(TALENT, rows),
        filename="talent.xlsx",
        template_code="finance_talent",
        actor=who,
        scope=Scope.for_user(who),
        now=NOW,
        **kw,
    )


def test_a_reporter_files_the_talent_return_beside_the_quarterly_one(db):
    rep = user(db, "reporter")
    inst = db.get(Institution, rep.institution_id)
    quarterly_before = db.scalar(select(func.count()).select_from(Filing))
    result = upload(db, [{"uscc": inst.uscc, "period": "2025年度", **talent_values(40, seed=1)}], rep)
    assert [s.filing.period_end for s in result.stored] == [date(2025, 12, 31)]
    stored = db.scalars(select(AnnualFiling).where(AnnualFiling.institution_id == inst.id)).all()
    assert any(f.period_end == date(2025, 12, 31) and f.data["total_staff"] == 40 for f in stored)
    # the quarterly table (and with it compliance, statistics and plan indicators) is untouched
    assert db.scalar(select(func.count()).select_from(Filing)) == quarterly_before
    # a second filing of the year is a correction: revision 2, the first kept but no longer current
    upload(db, [{"uscc": inst.uscc, "period": 2025, **talent_values(41, seed=2)}], rep)
    revs = db.execute(
        select(AnnualFiling.revision, AnnualFiling.is_current).where(
            AnnualFiling.institution_id == inst.id, AnnualFiling.period_end == date(2025, 12, 31)
        )
    ).all()
    assert sorted(revs) == [(1, False), (2, True)]


def test_a_bad_talent_return_is_refused_whole_with_chinese_row_and_column_errors(db):
    admin = user(db, "admin")
    insts = db.scalars(
        select(Institution).where(Institution.deregistered_on.is_(None)).order_by(Institution.id).limit(3)
    ).all()
    good = {"uscc": insts[0].uscc, "period": "2025", **talent_values(50, seed=3)}
    bad_sum = {"uscc": insts[1].uscc, "period": "2025", **talent_values(50, seed=4), "management_staff": 999}
    bad_year = {"uscc": insts[2].uscc, "period": "2025Q3", **talent_values(20, seed=5)}
    before = db.scalar(select(func.count()).select_from(AnnualFiling))
    with pytest.raises(ValidationFailed) as err:
        upload(db, [good, bad_sum, bad_year], admin)
    assert "整个文件未导入" in err.value.message
    found = {(e.row, e.column): e.message for e in err.value.errors}
    assert any(row == 3 and "管理人员" in col for row, col in found), found
    assert found[(4, "报告期")].startswith("年度报表的报告期应为年份")
    assert (
        db.scalar(select(func.count()).select_from(AnnualFiling)) == before
    )  # nothing stored, not even row 2


def test_an_unfinished_year_and_another_institution_are_refused(db):
    rep = user(db, "reporter")
    other = db.scalar(select(Institution).where(Institution.id != rep.institution_id).limit(1))
    own = db.get(Institution, rep.institution_id)
    with pytest.raises(ValidationFailed) as err:
        upload(
            db,
            [
                {"uscc": own.uscc, "period": "2026", **talent_values(9)},
                {"uscc": other.uscc, "period": "2025", **talent_values(9)},
            ],
            rep,
        )
    messages = [e.message for e in err.value.errors]
    assert any("尚未结束" in m for m in messages)
    assert any("只能报送本机构" in m for m in messages)


def _totals_by_hand(db, year: int, scope: Scope) -> dict[str, int]:
    out = {"national": 0, "local": 0}
    rows = db.execute(
        select(AnnualFiling.data, InstitutionType.category, Institution.district_code)
        .join(Institution, Institution.id == AnnualFiling.institution_id)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .where(AnnualFiling.period_end == date(year, 12, 31), AnnualFiling.is_current.is_(True))
    ).all()
    for data, category, district in rows:
        if scope.district_code and district != scope.district_code:
            continue
        out["local" if category == InstitutionCategory.LOCAL else "national"] += data["total_staff"]
    return out


def test_statistics_by_basis_match_the_returns_and_respect_the_district(db):
    admin, xihu = Scope.for_user(user(db, "admin")), Scope.for_user(user(db, "xihu"))
    city = service.statistics(db, scope=admin, by="basis")
    assert city.year is not None
    expected = _totals_by_hand(db, city.year, admin)
    got = {g.key: g.counts["total_staff"] for g in city.groups}
    assert got == {k: v for k, v in expected.items() if v}
    district = service.statistics(db, scope=xihu, year=city.year, by="district")
    assert [g.key for g in district.groups] == [XIHU]
    assert district.total.counts["total_staff"] == sum(_totals_by_hand(db, city.year, xihu).values())
    assert district.total.counts["total_staff"] < city.total.counts["total_staff"]
    by_cluster = service.statistics(db, scope=admin, year=city.year, by="cluster")
    assert by_cluster.total.counts == city.total.counts


def _apply(db, who: str, inst: Institution, **kw) -> TalentCertification:
    u = user(db, who)
    return service.apply(
        db,
        scope=Scope.for_user(u),
        actor=u,
        institution_id=inst.id,
        applicant_name="测试申请人",
        id_number=ID_NUMBER,
        mobile=MOBILE,
        level="senior",
        criterion=1,
        evidence=[{"name": "证书.pdf", "size": 1000}],
        today=kw.pop("today", date(2026, 3, 1)),
        **kw,
    )


def test_a_certification_goes_from_application_to_expiry_by_the_right_roles(db):
    xihu_inst = db.scalar(select(Institution).where(Institution.district_code == XIHU).limit(1))
    cert = _apply(db, "xihu", xihu_inst)
    assert cert.status == CertStatus.APPLIED and cert.standard_version == "2026.1"
    admin, xihu = user(db, "admin"), user(db, "xihu")
    with pytest.raises(Forbidden):  # a district officer applies but does not review
        service.decide(
            db,
            scope=Scope.for_user(xihu),
            actor=xihu,
            cert_id=cert.id,
            action="review",
            today=date(2026, 3, 2),
        )
    a = Scope.for_user(admin)
    service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="review", today=date(2026, 3, 2))
    with pytest.raises(ValidationFailed):  # refusing needs a reason
        service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="refuse", today=date(2026, 3, 3))
    service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="certify", today=date(2026, 3, 10))
    assert cert.status == CertStatus.CERTIFIED and cert.valid_until == date(2029, 3, 10)
    with pytest.raises(Conflict):  # a step that is not open now
        service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="certify", today=date(2026, 3, 11))
    assert cert not in service.expire_due(db, today=date(2029, 3, 10))  # still valid on its last day
    assert cert in service.expire_due(db, today=date(2029, 3, 11))
    assert cert.status == CertStatus.RE_REVIEW
    service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="review", today=date(2029, 3, 12))
    service.decide(db, scope=a, actor=admin, cert_id=cert.id, action="certify", today=date(2029, 4, 1))
    assert (cert.status, cert.valid_until, cert.renewals) == (CertStatus.CERTIFIED, date(2032, 4, 1), 1)
    service.expire_due(db, today=date(2032, 4, 2))
    service.decide(
        db, scope=a, actor=admin, cert_id=cert.id, action="lapse", today=date(2032, 5, 1), note="未按期复审"
    )
    assert cert.status == CertStatus.LAPSED
    actions = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.object_type == "talent_certifications", AuditEvent.object_id == str(cert.id)
        )
    ).all()
    assert actions.count("certify") == 2 and "lapse" in actions and "create" in actions


def test_an_application_lists_every_problem_in_chinese(db):
    inst = db.scalar(select(Institution).limit(1))
    with pytest.raises(ValidationFailed) as err:
        service.apply(
            db,
            scope=Scope.system(),
            actor=None,
            institution_id=inst.id,
            applicant_name="",
            id_number="330106198001011231",
            mobile="123",
            level="nope",
            criterion=0,
            evidence=[],
            today=date(2026, 3, 1),
        )
    cols = {e.column for e in err.value.errors}
    assert cols == {"申请人姓名", "身份证号码", "手机号码", "申请层级", "证明材料"}


def test_a_reporter_applies_only_for_its_own_institution(db):
    rep = user(db, "reporter")
    other = db.scalar(select(Institution).where(Institution.id != rep.institution_id).limit(1))
    with pytest.raises(Forbidden):
        _apply(db, "reporter", other)
    assert _apply(db, "reporter", db.get(Institution, rep.institution_id)).status == CertStatus.APPLIED


FULL_ID = re.compile(r"\d{17}[\dX]")


@pytest.mark.parametrize("who", ["admin", "analyst", "xihu", "auditor", "reporter"])
def test_no_page_export_or_api_shows_a_full_id_number_or_a_mobile_to_a_role_without_need(clients, db, who):
    inst = db.get(Institution, user(db, "reporter").institution_id)  # a Xihu institution everyone may see
    cert = _apply(db, "admin", inst)
    db.commit()
    c = clients.as_user(who)
    mobile_allowed = who in ("admin", "xihu")  # the masking policy: city administrators and district officers
    texts = [
        c.get(f"/talent/certifications/{cert.id}").text,
        c.get("/talent/certifications").text,
        c.get("/api/v1/talent/certifications").text,
    ]
    export = c.get("/talent/certifications/export")
    if export.status_code == 200:
        ws = load_workbook(io.BytesIO(export.content)).active
        texts.append(" ".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None))
    else:
        assert who == "reporter" or export.status_code == 200
    for text in texts:
        assert ID_NUMBER not in text and not FULL_ID.search(text)
        assert (MOBILE in text) == mobile_allowed or MOBILE not in text
    assert any(MOBILE in t for t in texts) == mobile_allowed
    assert any("3****************X" in t or "3" + "*" * 16 + "X" in t for t in texts)


def test_pages_exports_pdf_and_api_with_district_scoping(clients, db):
    admin = clients.as_user("admin")
    for path in (
        "/talent",
        "/talent?by=type",
        "/talent?by=cluster&basis=local",
        "/talent/certifications",
        "/talent/certifications/new",
    ):
        r = admin.get(path)
        assert r.status_code == 200, path
    x = admin.get("/talent/export?by=district")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    assert any(row and row[0] == "合计" for row in ws.iter_rows(values_only=True))
    pdf = admin.get("/talent/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    api = admin.get("/api/v1/talent/statistics?by=district").json()
    assert len(api["groups"]) > 1
    xihu = clients.as_user("xihu")
    scoped = xihu.get("/api/v1/talent/statistics?by=district").json()
    assert [g["key"] for g in scoped["groups"]] == [XIHU]
    certs = xihu.get("/api/v1/talent/certifications?limit=1000").json()
    assert certs["items"] and {i["district_code"] for i in certs["items"]} == {XIHU}
    foreign = db.scalar(select(TalentCertification).where(TalentCertification.district_code != XIHU).limit(1))
    assert foreign is not None
    assert xihu.get(f"/talent/certifications/{foreign.id}").status_code == 403
    assert xihu.post(f"/talent/certifications/{foreign.id}/review").status_code == 403
    assert clients.as_user("auditor").post("/talent/certifications/new", data={}).status_code == 403


def test_review_through_the_pages(clients, db):
    inst = db.get(Institution, user(db, "reporter").institution_id)
    cert = _apply(db, "reporter", inst)
    db.commit()
    admin = clients.as_user("admin")
    assert admin.post(f"/talent/certifications/{cert.id}/review").status_code in (200, 303)
    assert admin.post(f"/talent/certifications/{cert.id}/refuse", data={"note": ""}).status_code == 422
    assert admin.post(f"/talent/certifications/{cert.id}/certify").status_code in (200, 303)
    db.refresh(cert)
    assert cert.status == CertStatus.CERTIFIED
    page = admin.get(f"/talent/certifications/{cert.id}").text
    assert "已认定" in page or "Certified" in page
    assert clients.as_user("reporter").post(f"/talent/certifications/{cert.id}/lapse").status_code == 403


def test_the_daily_job_moves_expired_certifications_to_re_review_and_notifies(db):
    from qiantang.jobs.service import TASKS, load_schedules, load_tasks
    from qiantang.notify.models import Notification

    load_tasks()
    assert "talent.expire" in TASKS
    assert any(s.task == "talent.expire" for s in load_schedules())
    inst = db.scalar(select(Institution).where(Institution.district_code == XIHU).limit(1))
    cert = _apply(db, "admin", inst)
    cert.status, cert.valid_until = CertStatus.CERTIFIED, date(2020, 1, 1)
    db.flush()
    moved = service.expire_due(db, today=date(2020, 1, 2))
    assert cert in moved and cert.status == CertStatus.RE_REVIEW
    told = set(
        db.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.event_type == "talent_re_review")
        )
    )
    assert {"admin", "xihu"} <= told and "reporter" not in told


def test_the_application_form_stores_evidence_metadata_or_lists_errors(clients, db):
    rep = user(db, "reporter")
    c = clients.as_user("reporter")
    bad = c.post(
        "/talent/certifications/new", data={"institution_id": rep.institution_id, "applicant_name": "王五"}
    )
    assert (
        bad.status_code == 422 and "身份证号码应为 18 位" in bad.text and "请至少提供一份证明材料" in bad.text
    )
    ok = c.post(
        "/talent/certifications/new",
        data={
            "institution_id": rep.institution_id,
            "applicant_name": "王五",
            "id_number": ID_NUMBER,
            "mobile": MOBILE,
            "level_criterion": "core:0",
            "evidence_note": "学位证书",
        },
        files=[("evidence", ("学位证书.pdf", b"%PDF-1.4 test", "application/pdf"))],
        follow_redirects=False,
    )
    assert ok.status_code == 303
    cert = db.get(TalentCertification, int(ok.headers["location"].rsplit("/", 1)[1]))
    assert cert.evidence == [{"name": "学位证书.pdf", "size": 13, "note": "学位证书"}]
    assert cert.level == "core" and cert.status == CertStatus.APPLIED
