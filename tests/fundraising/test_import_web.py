"""Web and API imports of the monitoring data: per-kind templates, a bad file refused whole with every
row and column listed, large files through the job worker, the JSON API with a token, roles, audit."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.enterprises.models import Enterprise
from qiantang.errors import ValidationFailed
from qiantang.fundraising import imports
from qiantang.fundraising.models import Complaint, DishonestDebtor, FirmPerson
from tests.helpers import page_csrf_token


def usccs(db, n=2) -> list[str]:
    return list(db.scalars(select(Enterprise.uscc).order_by(Enterprise.id).limit(n)))


def csv_bytes(rows: list[list]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


@pytest.mark.parametrize("kind", list(imports.KINDS))
def test_every_kind_has_a_template_listing_its_columns(kind):
    wb = load_workbook(io.BytesIO(imports.template(kind)))
    headers = [c.value for c in wb.worksheets[0][1]]
    assert headers == [c.zh for c in imports.KINDS[kind].columns]
    assert "说明" in wb.sheetnames


def test_template_round_trip_reads_back(db):
    a, b = usccs(db)
    wb = load_workbook(io.BytesIO(imports.template("complaints")))
    ws = wb.worksheets[0]
    ws.append([a, "2025-03-01", "12345", 12.5, "承诺月息3分"])
    ws.append([])  # a blank row is skipped, and row numbers still follow the sheet
    ws.append([b, date(2025, 4, 2), "信访", None, ""])
    buf = io.BytesIO()
    wb.save(buf)
    before = db.scalar(select(func.count()).select_from(Complaint))
    n = imports.import_upload(
        db,
        kind_name="complaints",
        content=buf.getvalue(),
        filename="t.xlsx",
        actor=None,
        today=date(2025, 12, 31),
    )
    assert n == 2 and db.scalar(select(func.count()).select_from(Complaint)) == before + 2
    amounts = set(db.scalars(select(Complaint.amount).where(Complaint.summary == "承诺月息3分")))
    assert 125_000.0 in {float(x) for x in amounts}
    ev = db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert ev.action == "upload" and ev.object_type == "fundraising_data" and ev.detail["rows"] == 2


def test_a_bad_file_is_refused_whole_with_every_row_and_column(db):
    a, _b = usccs(db)
    content = csv_bytes(
        [
            ["统一社会信用代码", "名称或姓名", "列入日期", "移出日期", "案号"],
            [a, "甲公司", "2024-01-05", "", "（2024）浙01执1号"],  # fine
            ["91330100MA0000000X", "乙公司", "2024-13-01", "", ""],  # unknown firm, bad date
            [a, "丙公司", "2024-06-01", "2024-05-01", ""],  # removed before listed
            ["", "", "2024-01-01", "", ""],  # neither USCC nor ID; no name
        ]
    )
    before = db.scalar(select(func.count()).select_from(DishonestDebtor))
    with pytest.raises(ValidationFailed) as exc:
        imports.import_upload(db, kind_name="dishonest", content=content, filename="d.csv", actor=None)
    where = {(e.row, e.column) for e in exc.value.errors}
    assert (3, "列入日期") in where
    assert (4, "移出日期") in where
    assert (5, "名称或姓名") in where
    # every problem of a row, not only its first: the unknown firm beside the bad date, the missing
    # USCC or ID number beside the missing name
    assert (3, "统一社会信用代码") in where and (5, "统一社会信用代码") in where
    assert not any(e.row == 2 for e in exc.value.errors)
    assert "未导入任何数据" in exc.value.summary
    assert db.scalar(select(func.count()).select_from(DishonestDebtor)) == before


def test_unknown_or_repeated_headers_refuse_the_file(db):
    content = csv_bytes([["统一社会信用代码", "收到日期", "收到日期", "颜色"], ["x", "2024-01-01", "", "红"]])
    with pytest.raises(ValidationFailed) as exc:
        imports.import_upload(db, kind_name="complaints", content=content, filename="c.csv", actor=None)
    msgs = " ".join(e.message for e in exc.value.errors)
    assert "无法识别的列「颜色」" in msgs and "重复" in msgs and all(e.row == 1 for e in exc.value.errors)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_page_lists_the_templates_chinese_headers_without_field_names_or_api_paths(clients, lang):
    from qiantang.fundraising import imports as imp

    analyst = clients.as_user("analyst")
    analyst.cookies.set("lang", lang)
    page = analyst.get("/fundraising/import?kind=dishonest").text
    table = page.split('data-testid="import-columns"')[1].split("</table>")[0]
    for column in imp.kind_of("dishonest").columns:
        assert f">{column.zh}<" in table  # the header as the template file has it
        assert column.name not in table  # no internal field name (uscc, listed_on …)
    assert "/api/v1" not in page and "POST " not in page
    assert 'href="/api/docs"' in page


def test_the_page_for_staff_and_not_for_others(clients, db):
    analyst = clients.as_user("analyst")
    page = analyst.get("/fundraising/import?kind=people")
    assert page.status_code == 200 and 'data-testid="import-columns"' in page.text and "证件号码" in page.text
    r = analyst.get("/fundraising/import/dishonest/template")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    assert analyst.get("/fundraising/import?kind=nope").status_code == 422
    for user in ("xihu", "auditor", "lender", "firm"):
        assert clients.as_user(user).get("/fundraising/import").status_code == 403, user
    dash = analyst.get("/fundraising").text
    assert 'data-testid="import-link"' in dash
    assert 'data-testid="import-link"' not in clients.as_user("xihu").get("/fundraising").text


def test_upload_through_the_page(clients, db):
    a, b = usccs(db)
    analyst = clients.as_user("analyst")
    token = page_csrf_token(analyst.get("/fundraising/import?kind=people").text)
    bad = csv_bytes([["uscc", "name", "id_number", "role"], [a, "张三", "330106199001011234", "董事长"]])
    r = analyst.post(
        "/fundraising/import",
        data={"kind": "people", "csrf_token": token},
        files={"file": ("p.csv", bad, "text/csv")},
    )
    assert r.status_code == 422 and 'data-testid="upload-errors"' in r.text and "身份" in r.text
    good = csv_bytes(
        [
            ["uscc", "name", "id_number", "role"],
            [a, "张三", "330106199001011234", "法定代表人"],
            [b, "张三", "330106199001011234", "股东"],
        ]
    )
    r = analyst.post(
        "/fundraising/import",
        data={"kind": "people", "csrf_token": token},
        files={"file": ("p.csv", good, "text/csv")},
    )
    assert r.status_code == 200 and 'data-testid="stored"' in r.text
    assert db.scalar(select(func.count()).select_from(FirmPerson).where(FirmPerson.name == "张三")) == 2


def test_a_large_file_goes_to_the_job_worker(clients, db, run_jobs, monkeypatch):
    from qiantang.jobs.models import Job, JobStatus

    monkeypatch.setattr(imports, "LARGE_BYTES", 10)
    a, _b = usccs(db)
    analyst = clients.as_user("analyst")
    token = page_csrf_token(analyst.get("/fundraising/import").text)
    content = csv_bytes([["uscc", "received_on", "summary"], [a, "2025-01-02", "高息揽储"]])
    r = analyst.post(
        "/fundraising/import",
        data={"kind": "complaints", "csrf_token": token},
        files={"file": ("c.csv", content, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    run_jobs("fundraising.import")
    job = db.scalar(select(Job).where(Job.kind == "fundraising.import").order_by(Job.id.desc()).limit(1))
    assert job.status == JobStatus.DONE and job.result["stored"] == 1
    assert db.scalar(select(func.count()).select_from(Complaint).where(Complaint.summary == "高息揽储")) == 1
    page = analyst.get(r.headers["location"])
    assert page.status_code == 200


def test_json_api_with_a_token(client, db):
    from qiantang.auth.service import create_api_token, get_user_by_username

    a, _b = usccs(db)
    token = create_api_token(db, user=get_user_by_username(db, "analyst"), name="sync")
    officer = create_api_token(db, user=get_user_by_username(db, "xihu"), name="sync")
    db.commit()
    auth = {"Authorization": f"Bearer {token}"}
    body = {
        "rows": [{"uscc": a, "name": "某公司", "listed_on": "2025-02-01", "case_no": "（2025）浙01执9号"}]
    }
    r = client.post("/api/v1/fundraising/imports/dishonest", json=body, headers=auth)
    assert r.status_code == 201 and r.json() == {"kind": "dishonest", "stored": 1}
    bad = {"rows": [{"uscc": a, "name": "某公司", "listed_on": "明天"}, {"uscc": a, "colour": "红"}]}
    r = client.post("/api/v1/fundraising/imports/dishonest", json=bad, headers=auth)
    assert r.status_code == 422 and "colour" in r.text
    r = client.post("/api/v1/fundraising/imports/dishonest", json={"rows": bad["rows"][:1]}, headers=auth)
    assert r.status_code == 422 and "列入日期" in r.text
    assert client.post("/api/v1/fundraising/imports/dishonest", json=body).status_code == 401
    r = client.post(
        "/api/v1/fundraising/imports/dishonest", json=body, headers={"Authorization": f"Bearer {officer}"}
    )
    assert r.status_code == 403
    assert client.post("/api/v1/fundraising/imports/nope", json=body, headers=auth).status_code == 422
    n = db.scalar(
        select(func.count())
        .select_from(DishonestDebtor)
        .where(DishonestDebtor.case_no == "（2025）浙01执9号")
    )
    assert n == 1


def test_a_bad_large_file_fails_its_job_with_the_errors(clients, db, run_jobs, monkeypatch):
    from qiantang.jobs.models import Job, JobStatus

    monkeypatch.setattr(imports, "LARGE_BYTES", 10)
    analyst = clients.as_user("analyst")
    token = page_csrf_token(analyst.get("/fundraising/import").text)
    content = csv_bytes([["uscc", "received_on"], ["91330100MA0000000X", "2025-01-02"]])
    r = analyst.post(
        "/fundraising/import",
        data={"kind": "complaints", "csrf_token": token},
        files={"file": ("c.csv", content, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    run_jobs("fundraising.import")
    job = db.scalar(select(Job).where(Job.kind == "fundraising.import").order_by(Job.id.desc()).limit(1))
    assert job.status == JobStatus.FAILED
    page = analyst.get(r.headers["location"]).text
    assert "企业库中没有统一社会信用代码为 91330100MA0000000X 的企业" in page
