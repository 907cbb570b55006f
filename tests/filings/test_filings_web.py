"""Filings pages, downloads, uploads and the API, for each role: what each may see and do."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.auth.models import User
from qiantang.filings.models import Filing
from qiantang.filings.samples import sample_values, workbook
from qiantang.filings.templates import get_template
from qiantang.registry.models import Institution

SMALL_LOAN = get_template("small_loan")
BS_COLUMN = "资产总额（万元）、负债总额（万元）、所有者权益（净资产）（万元）"


def count_filings(db) -> int:
    return db.scalar(select(func.count()).select_from(Filing))


def reporter_institution(db) -> Institution:
    u = db.scalar(select(User).where(User.username == "reporter"))
    return db.get(Institution, u.institution_id)


def other_small_loan(db, inst: Institution, *, district: str | None = None) -> Institution:
    stmt = select(Institution).where(
        Institution.type_code == "small_loan",
        Institution.id != inst.id,
        Institution.deregistered_on.is_(None),
    )
    if district:
        stmt = stmt.where(Institution.district_code != district)
    return db.scalar(stmt.order_by(Institution.id))


def filing_of(db, institution_id: int) -> Filing:
    return db.scalar(select(Filing).where(Filing.institution_id == institution_id).order_by(Filing.id))


def row(inst: Institution, period: str = "2025Q4", **changes) -> dict:
    return {"uscc": inst.uscc, "name": inst.name, "period": period, **sample_values(SMALL_LOAN), **changes}


def post_file(client, content: bytes, template: str = "small_loan", name: str = "r.xlsx"):
    return client.post(
        "/filings/upload",
        data={"template": template},
        files={"file": (name, content, "application/octet-stream")},
    )


# ------------------------------------------------------------------------------------------ reporter


def test_reporter_page_shows_its_institution_filings_and_missing_periods(clients, db):
    inst = reporter_institution(db)
    other = other_small_loan(db, inst)
    r = clients.as_user("reporter").get("/filings")
    assert r.status_code == 200
    assert inst.name in r.text and inst.uscc in r.text and other.name not in r.text
    assert 'data-testid="upload-form"' in r.text and 'href="/filings/template?template=small_loan"' in r.text
    own = db.scalar(select(func.count()).select_from(Filing).where(Filing.institution_id == inst.id))
    assert r.text.count("data-revision=") == own
    assert 'data-testid="missing-periods"' in r.text


def test_reporter_api_sees_only_its_own_filings(clients, db):
    inst = reporter_institution(db)
    c = clients.as_user("reporter")
    body = c.get("/api/v1/filings?limit=1000&include_superseded=true").json()
    assert body["total"] == len(body["items"]) > 40
    assert {i["institution_id"] for i in body["items"]} == {inst.id}
    other = filing_of(db, other_small_loan(db, inst).id)
    assert c.get(f"/api/v1/filings/{other.id}").status_code == 403
    assert c.get(f"/filings/{other.id}").status_code == 403
    assert c.get("/api/v1/filings/999999999").status_code == 404
    own = filing_of(db, inst.id)
    got = c.get(f"/api/v1/filings/{own.id}").json()
    assert got["uscc"] == inst.uscc and got["period"] and set(got["data"]) == set(SMALL_LOAN.field_codes)
    comp = c.get("/api/v1/filings/compliance?period=2025Q4").json()
    assert [x["institution_id"] for x in comp["rows"]] == [inst.id]


def test_reporter_template_download_is_prefilled(clients, db):
    inst = reporter_institution(db)
    r = clients.as_user("reporter").get("/filings/template")
    assert r.status_code == 200 and "small_loan" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    first = list(wb.worksheets[0].iter_rows(values_only=True))[1]
    assert first[:2] == (inst.uscc, inst.name) and re.fullmatch(r"\d{4}Q[1-4]", first[2])
    assert "说明" in wb.sheetnames


def test_reporter_upload_rejected_then_stored(clients, db):
    inst = reporter_institution(db)
    c = clients.as_user("reporter")
    before = count_filings(db)
    bad = workbook(SMALL_LOAN, [row(inst, total_assets=1.0)])
    r = post_file(c, bad)
    assert r.status_code == 422
    assert 'data-testid="upload-errors"' in r.text and BS_COLUMN in r.text
    assert "资产总额 1.00 ≠ 负债总额" in r.text and "Traceback" not in r.text
    assert count_filings(db) == before
    r = post_file(c, workbook(SMALL_LOAN, [row(inst)]))
    assert r.status_code == 200 and 'data-testid="upload-stored"' in r.text
    assert count_filings(db) == before + 1
    new = db.scalar(select(Filing).order_by(Filing.id.desc()).limit(1))
    assert new.institution_id == inst.id and new.revision >= 2 and new.is_current
    assert f'href="/filings/{new.id}"' in r.text


def test_reporter_cannot_upload_for_another_institution(clients, db):
    inst = reporter_institution(db)
    other = other_small_loan(db, inst)
    before = count_filings(db)
    r = post_file(clients.as_user("reporter"), workbook(SMALL_LOAN, [row(other)]))
    assert r.status_code == 422 and "只能报送本机构" in r.text
    assert count_filings(db) == before


def test_filing_page_shows_values_checks_and_history(clients, db):
    inst = reporter_institution(db)
    revised = db.scalar(
        select(Filing)
        .where(Filing.revision == 2, Filing.template_code == "small_loan")
        .order_by(Filing.id)
        .limit(1)
    )
    c = clients.as_user("analyst")
    target = revised or filing_of(db, inst.id)
    r = c.get(f"/filings/{target.id}")
    assert r.status_code == 200
    assert "资产总额" in r.text and "万元" in r.text and 'data-testid="checks"' in r.text
    assert "资产总额 = 负债总额 + 所有者权益（净资产）" in r.text
    assert f'href="/institutions/{target.institution_id}"' in r.text
    history = r.text.split('data-testid="history"')[1]
    assert history.count("<tr") == 1 + target.revision  # header + every revision
    assert c.get("/filings/999999999").status_code == 404


# ------------------------------------------------------------------------------ district officer


def test_district_officer_sees_only_its_district(clients, db):
    c = clients.as_user("xihu")
    r = c.get("/filings?period=2025Q4")
    assert r.status_code == 200 and 'data-testid="compliance-summary"' in r.text
    assert "batch-upload" not in r.text
    body = c.get("/api/v1/filings?period=2025Q4&limit=1000").json()
    assert body["items"] and {i["district_code"] for i in body["items"]} == {"330106"}
    comp = c.get("/api/v1/filings/compliance?period=2025Q4").json()
    ids = [x["institution_id"] for x in comp["rows"]]
    districts = set(db.scalars(select(Institution.district_code).where(Institution.id.in_(ids))).all())
    assert districts == {"330106"}
    outside = db.scalar(
        select(Filing.id)
        .join(Institution, Institution.id == Filing.institution_id)
        .where(Institution.district_code != "330106")
        .limit(1)
    )
    assert c.get(f"/api/v1/filings/{outside}").status_code == 403


def test_district_officer_cannot_upload(clients, db):
    inst = reporter_institution(db)  # in the officer's own district
    c = clients.as_user("xihu")
    before = count_filings(db)
    assert post_file(c, workbook(SMALL_LOAN, [row(inst)])).status_code == 403
    items = [{"uscc": inst.uscc, "period": "2025Q4", "data": sample_values(SMALL_LOAN)}]
    assert c.post("/api/v1/filings?template=small_loan", json=items).status_code == 403
    assert count_filings(db) == before


# ------------------------------------------------------------------------------------ city staff


def test_city_page_summary_filters_and_export(clients, db):
    c = clients.as_user("analyst")
    r = c.get("/filings?period=2025Q4&template=small_loan&status=on_time")
    assert r.status_code == 200
    statuses = set(re.findall(r'<tr data-status="(\w+)"', r.text))
    assert statuses == {"on_time"}
    assert 'data-type="small_loan"' in r.text and 'data-type="private_fund_manager"' not in r.text
    assert 'data-testid="batch-upload"' in r.text
    x = c.get("/filings/export?period=2025Q4&template=small_loan")
    assert x.status_code == 200
    rows = list(load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    header = next(i for i, rr in enumerate(rows) if rr[0] == "统一社会信用代码")
    assert rows[header][:3] == ("统一社会信用代码", "名称", "类型")
    api = c.get("/api/v1/filings/compliance?period=2025Q4&template=small_loan").json()
    assert len(rows) - header - 1 == len(api["rows"]) == api["total"]["expected"]


def test_default_quarter_is_the_latest_with_returns_and_the_page_says_so(clients, db, monkeypatch):
    from datetime import date

    from qiantang.filings import service

    latest = db.scalar(select(func.max(Filing.period_end)))
    monkeypatch.setattr(service, "today_utc", lambda: date(latest.year + 1, 11, 26))
    c = clients.as_user("analyst")
    r = c.get("/filings")
    label = f"{latest.year}Q{(latest.month - 1) // 3 + 1}"
    # Later quarters are past due without any return: the page opens on the latest with returns …
    assert r.status_code == 200 and f'value="{label}" selected' in r.text
    assert 'data-reason="latest_filed"' in r.text
    # … and names the quarter past due, which stays one choice away.
    assert f"{latest.year + 1}年第3季度 已过报送截止日，但尚无报表" in r.text
    assert f'value="{latest.year + 1}Q3"' in r.text
    assert 'data-reason="latest_filed"' not in c.get(f"/filings?period={latest.year + 1}Q2").text


def test_auditor_reads_but_cannot_upload(clients, db):
    c = clients.as_user("auditor")
    r = c.get("/filings?period=2025Q4")
    assert r.status_code == 200 and "batch-upload" not in r.text
    assert post_file(c, b"x").status_code == 403


def test_api_submit_201_and_422(clients, db):
    inst = reporter_institution(db)
    c = clients.as_user("analyst")
    before = count_filings(db)
    good = {"uscc": inst.uscc, "period": "2025Q4", "data": sample_values(SMALL_LOAN)}
    bad = {
        "uscc": inst.uscc,
        "period": "2025Q3",
        "data": sample_values(SMALL_LOAN) | {"borrower_count": "many"},
    }
    r = c.post("/api/v1/filings?template=small_loan", json=[good, bad])
    assert r.status_code == 422
    errors = r.json()["error"]["errors"]
    assert errors == [{"row": 2, "column": "贷款户数（户）", "message": "应为数字，实为“many”"}]
    assert count_filings(db) == before
    r = c.post("/api/v1/filings?template=small_loan", json=[good])
    assert r.status_code == 201
    out = r.json()
    assert len(out) == 1 and out[0]["period"] == "2025Q4" and out[0]["is_current"] and out[0]["revision"] >= 2
    assert count_filings(db) == before + 1


def test_bad_requests_never_show_a_trace(clients, db):
    c = clients.as_user("admin")
    r = c.get("/filings?period=2025Q9")
    assert r.status_code == 400 and "报告期应为季度末" in r.text and "Traceback" not in r.text
    r = c.get("/api/v1/filings?period=yesterday")
    assert r.status_code == 400 and "报告期应为季度末" in r.json()["error"]["message"]
    assert c.get("/filings?status=bogus").status_code == 400
    r = c.post("/api/v1/filings?template=nope", json=[])
    assert r.status_code == 400 and "未知的报表模板" in r.json()["error"]["message"]
    r = c.post("/api/v1/filings?template=small_loan", json={"not": "a list"})
    assert r.status_code == 422
    r = post_file(c, b"just text", name="r.pdf")
    assert r.status_code == 422 and "只接受 Excel" in r.text and "Traceback" not in r.text
    r = c.post("/filings/upload", data={"template": "small_loan"})  # no file
    assert r.status_code == 422 and "Traceback" not in r.text
    assert c.get("/filings/template?template=nope").status_code == 400


def test_staff_template_for_an_institution_respects_scope(clients, db):
    inst = reporter_institution(db)  # 西湖区
    elsewhere = other_small_loan(db, inst, district="330106")
    r = clients.as_user("analyst").get(f"/filings/template?template=small_loan&institution_id={elsewhere.id}")
    assert r.status_code == 200
    first = list(load_workbook(io.BytesIO(r.content)).worksheets[0].iter_rows(values_only=True))[1]
    assert first[:2] == (elsewhere.uscc, elsewhere.name)
    xihu = clients.as_user("xihu")
    assert xihu.get(f"/filings/template?template=small_loan&institution_id={elsewhere.id}").status_code == 403
    assert xihu.get(f"/filings/template?template=small_loan&institution_id={inst.id}").status_code == 200


def test_pages_render_in_english(clients, db):
    c = clients.as_user("admin")
    c.cookies.set("lang", "en")
    r = c.get("/filings?period=2025Q4")
    assert r.status_code == 200 and "Compliance for 2025Q4" in r.text and "On time" in r.text
    target = filing_of(db, reporter_institution(db).id)
    r = c.get(f"/filings/{target.id}")
    assert r.status_code == 200 and "Total assets" in r.text and "Revision history" in r.text


def test_missing_quarters_api_is_scoped(clients, db):
    inst = reporter_institution(db)
    elsewhere = other_small_loan(db, inst, district="330106")
    mine = clients.as_user("reporter").get("/api/v1/filings/missing").json()
    assert mine["institution_id"] == inst.id and all(
        p.endswith(("Q1", "Q2", "Q3", "Q4")) for p in mine["periods"]
    )
    assert (
        clients.as_user("reporter").get(f"/api/v1/filings/missing?institution_id={elsewhere.id}").status_code
        == 403
    )
    assert (
        clients.as_user("xihu").get(f"/api/v1/filings/missing?institution_id={elsewhere.id}").status_code
        == 403
    )
    r = clients.as_user("admin").get(f"/api/v1/filings/missing?institution_id={elsewhere.id}")
    assert r.status_code == 200 and r.json()["uscc"] == elsewhere.uscc
    assert clients.as_user("admin").get("/api/v1/filings/missing").status_code == 400
