"""Plan pages, exports, the PDF report and the API."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from qiantang.plan.models import IndicatorValue, Plan


def default_plan_id(db) -> int:
    return db.scalar(select(Plan.id).where(Plan.code == "hz-fin-13fyp"))


def test_overview_page_lists_every_target_with_status(clients, db):
    c = clients.as_user("analyst")
    r = c.get("/plan", follow_redirects=True)
    assert r.status_code == 200
    assert r.text.count("data-indicator=") == 21
    assert "金融业增加值" in r.text and "目标已实现" in r.text
    assert 'class="status' in r.text


def test_indicator_page_shows_values_sources_and_chart(clients, db):
    c = clients.as_user("analyst")
    r = c.get(f"/plan/indicators/listed_companies?plan={default_plan_id(db)}")
    assert r.status_code == 200
    assert "cnbzol.com" in r.text and "杭政办函〔2016〕128号" in r.text
    assert 'data-chart="' in r.text and "合成" in r.text
    assert c.get("/plan/indicators/nope").status_code == 404


def test_excel_export(clients, db):
    r = clients.as_user("analyst").get(f"/plan/{default_plan_id(db)}/export")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    header_index = next(i for i, row in enumerate(rows) if row[0] == "规划章节")
    body = rows[header_index + 1 :]
    assert len(body) == 21
    assert any("演示数据" in (row[0] or "") for row in rows[:header_index])


def test_pdf_report_is_chinese_text(clients, db):
    r = clients.as_user("analyst").get(f"/plan/{default_plan_id(db)}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "进展评估报告" in text and "金融业增加值" in text and "目标已实现" in text
    assert "演示数据" in text


def test_upload_page_rejects_bad_file_with_errors(clients, db):
    before = db.scalar(select(func.count()).select_from(IndicatorValue))
    wb = Workbook()
    wb.active.append(["指标代码", "年份", "季度", "数值", "单位", "数据质量", "来源", "备注"])
    wb.active.append(["gdp", 2019, None, "一万五", "亿元", "官方", "公报", ""])
    buf = io.BytesIO()
    wb.save(buf)
    c = clients.as_user("analyst")
    r = c.post(
        "/plan/values/upload",
        data={"plan_id": default_plan_id(db)},
        files={"file": ("v.xlsx", buf.getvalue(), "application/octet-stream")},
    )
    assert r.status_code == 422
    assert "应为数字" in r.text and "一万五" in r.text
    assert db.scalar(select(func.count()).select_from(IndicatorValue)) == before


def test_district_officer_cannot_upload(clients, db):
    r = clients.as_user("xihu").post(
        "/plan/values/upload", data={"plan_id": 1}, files={"file": ("v.csv", b"x", "text/csv")}
    )
    assert r.status_code == 403


def test_api_progress(clients, db):
    c = clients.as_user("analyst")
    plans = c.get("/api/v1/plans").json()
    assert any(p["code"] == "hz-fin-13fyp" for p in plans)
    body = c.get(f"/api/v1/plans/{default_plan_id(db)}/progress").json()
    assert len(body) == 21
    listed = next(t for t in body if t["indicator_code"] == "listed_companies")
    assert listed["status"] in (
        "target_achieved",
        "substantial_progress",
        "moderate_progress",
        "limited_progress",
        "deterioration",
    )
    assert listed["values_used"] and listed["reasons"]
    assert all(v["source"] for v in listed["values_used"])


def test_api_enter_values_all_or_nothing(clients, db):
    c = clients.as_user("analyst")
    good = {
        "indicator_code": "premiums",
        "year": 2016,
        "value": 420.0,
        "unit": "亿元",
        "quality": "official",
        "source": "浙江保监局",
    }
    bad = {**good, "indicator_code": "insurance_depth", "unit": "%"}
    before = db.scalar(select(func.count()).select_from(IndicatorValue))
    r = c.post("/api/v1/indicator-values", json=[good, bad])
    assert r.status_code == 422 and "由系统根据其他指标计算" in r.text
    assert db.scalar(select(func.count()).select_from(IndicatorValue)) == before
    r = c.post("/api/v1/indicator-values", json=[good])
    assert r.status_code == 201 and r.json()[0]["value"] == 420.0
