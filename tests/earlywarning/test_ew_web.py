"""Pages, exports, the monthly report and the API, within the user's scope: a district officer sees
its district only, a reporter nothing (403)."""

from __future__ import annotations

import io
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from qiantang.earlywarning.models import Alert, EwRating
from qiantang.registry.models import Institution

XIHU = "330106"


def rated_institution(db, *, district: str, other: bool = False) -> int:
    stmt = select(EwRating.institution_id).join(Institution, Institution.id == EwRating.institution_id)
    stmt = stmt.where(
        Institution.district_code != district if other else Institution.district_code == district
    )
    return db.scalars(stmt.order_by(EwRating.institution_id).limit(1)).first()


def test_heat_map_page(clients, db):
    c = clients.as_user("admin")
    r = c.get("/early-warning")
    assert r.status_code == 200
    assert 'data-testid="heatmap"' in r.text and "&#34;kind&#34;: &#34;heatmap&#34;" in r.text
    assert 'data-testid="card-monitored"' in r.text and 'data-testid="report-form"' in r.text
    r = c.get("/early-warning?period=2020Q2")
    assert r.status_code == 200 and "2020Q2" in r.text


def test_institution_page_shows_rating_signals_and_indicator_charts(clients, db):
    c = clients.as_user("admin")
    inst = rated_institution(db, district=XIHU)
    r = c.get(f"/early-warning/institutions/{inst}")
    assert r.status_code == 200
    assert f'href="/institutions/{inst}"' in r.text  # the registry page
    assert "&#34;kind&#34;: &#34;score&#34;" in r.text and "&#34;kind&#34;: &#34;indicator&#34;" in r.text
    assert 'data-testid="signals"' in r.text and 'data-testid="current-rating"' in r.text


def test_institution_page_links_to_its_case(clients, db):
    from qiantang.cases.models import Case, CaseState, Owner

    alert = db.scalars(select(Alert).order_by(Alert.id).limit(1)).first()
    case = db.scalars(select(Case).where(Case.alert_id == alert.id)).first()
    if case is None:
        case = Case(
            alert_id=alert.id,
            institution_id=alert.institution_id,
            district_code=alert.institution.district_code,
            level=alert.level,
            owner=Owner.CITY,
            state=CaseState.PENDING,
            title="测试案件",
            due_on=alert.last_period,
        )
        db.add(case)
        db.flush()
    r = clients.as_user("admin").get(f"/early-warning/institutions/{alert.institution_id}")
    assert f'href="/cases/{case.id}"' in r.text


def test_alert_inbox_filters_and_export(clients, db):
    c = clients.as_user("admin")
    body = c.get("/api/v1/early-warning/alerts?limit=5000").json()
    assert body["total"] > 0 and {a["status"] for a in body["items"]} == {"open"}  # open by default
    for params, key, value in (
        ("level=red&status=", "level", "red"),
        ("family=limit&status=", "family", "limit"),
        ("status=cleared", "status", "cleared"),
        ("type=small_loan&status=", "type_code", "small_loan"),
    ):
        items = c.get(f"/api/v1/early-warning/alerts?limit=5000&{params}").json()["items"]
        assert items and {a[key] for a in items} == {value}, params
    r = c.get("/early-warning/alerts?family=limit&status=")
    assert r.status_code == 200 and 'data-testid="alerts"' in r.text
    x = c.get("/early-warning/alerts/export?family=limit&status=")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(x.content)).active
    total = c.get("/api/v1/early-warning/alerts?limit=1&family=limit&status=").json()["total"]
    data_rows = [row for row in ws.iter_rows(values_only=True) if isinstance(row[0], int)]
    assert len(data_rows) == total
    # Search by the institution's name (any part) or USCC, through the register's text index.
    from qiantang.earlywarning.models import Alert
    from qiantang.registry.models import Institution

    inst = db.get(Institution, db.scalar(select(Alert.institution_id).order_by(Alert.id).limit(1)))
    for q in (inst.name[-6:], inst.uscc):
        found = c.get("/api/v1/early-warning/alerts", params={"limit": 5000, "status": "", "q": q}).json()
        assert found["total"] > 0 and inst.id in {a["institution_id"] for a in found["items"]}, q
        names = {db.get(Institution, a["institution_id"]).name for a in found["items"]}
        assert all(q in n or q == inst.uscc for n in names), q
    page = c.get("/early-warning/alerts", params={"q": inst.name[-6:], "status": ""})
    assert page.status_code == 200 and "data-alert=" in page.text and inst.name in page.text
    assert (
        c.get("/api/v1/early-warning/alerts", params={"q": "无此机构名称XYZ", "status": ""}).json()["total"]
        == 0
    )


def test_district_officer_sees_only_its_district(clients, db):
    c = clients.as_user("xihu")
    assert c.get("/early-warning").status_code == 200
    ratings = c.get("/api/v1/early-warning/ratings").json()
    assert ratings["total"] > 0 and {r["district_code"] for r in ratings["items"]} == {XIHU}
    alerts = c.get("/api/v1/early-warning/alerts?status=&limit=5000").json()
    assert alerts["total"] > 0 and {a["district_code"] for a in alerts["items"]} == {XIHU}
    assert c.get("/api/v1/early-warning/alerts?district=330108&status=").json()["total"] == 0
    own, other = rated_institution(db, district=XIHU), rated_institution(db, district=XIHU, other=True)
    assert c.get(f"/early-warning/institutions/{own}").status_code == 200
    assert c.get(f"/api/v1/early-warning/institutions/{own}").status_code == 200
    assert c.get(f"/early-warning/institutions/{other}").status_code == 403
    assert c.get(f"/api/v1/early-warning/institutions/{other}").status_code == 403
    # The heat map counts only the district's institutions.
    page = c.get("/early-warning").text
    spec = json.loads(
        re.search(r'id="ew-heatmap"[^>]*data-chart="([^"]+)"', page).group(1).replace("&#34;", '"')
    )
    assert len(spec["x"]) <= 1
    # Exports and the report are scoped too.
    ws = load_workbook(io.BytesIO(c.get("/early-warning/report?month=2026-01&format=xlsx").content)).active
    districts = {row[2] for row in ws.iter_rows(values_only=True) if row[1] and row[2] and row[0] != "机构"}
    assert districts <= {"西湖区", None} and "西湖区" in districts


@pytest.mark.parametrize(
    "path",
    [
        "/early-warning",
        "/early-warning/alerts",
        "/early-warning/alerts/export",
        "/early-warning/report?month=2026-01",
        "/api/v1/early-warning/ratings",
        "/api/v1/early-warning/alerts",
    ],
)
def test_reporter_sees_nothing(clients, db, path):
    assert clients.as_user("reporter").get(path).status_code == 403


def test_reporter_cannot_open_even_its_own_institution(clients, db):
    from qiantang.auth.service import get_user_by_username

    own = get_user_by_username(db, "reporter").institution_id
    c = clients.as_user("reporter")
    assert c.get(f"/early-warning/institutions/{own}").status_code == 403
    assert c.get(f"/api/v1/early-warning/institutions/{own}").status_code == 403


def test_anonymous_is_sent_to_log_in(client):
    assert client.get("/api/v1/early-warning/ratings").status_code == 401


def test_api_institution_profile(clients, db):
    c = clients.as_user("analyst")
    inst = rated_institution(db, district=XIHU)
    body = c.get(f"/api/v1/early-warning/institutions/{inst}").json()
    assert body["institution"]["id"] == inst and body["ratings"]
    codes = {i["code"] for i in body["indicators"]}
    assert {"equity_to_capital", "roa", "filing_days_late"} <= codes
    limited = [i for i in body["indicators"] if i["limits"]]
    if body["institution"]["type_code"] in ("small_loan", "financing_guarantee", "pawnshop"):
        assert limited and all(lim["citation"] for i in limited for lim in i["limits"])
    r = body["ratings"][-1]
    assert r["level_zh"] in ("红色", "橙色", "黄色", "绿色") and set(r["dimensions"]) == {
        "C",
        "A",
        "M",
        "E",
        "L",
        "RR",
    }


def test_api_ratings_by_period(clients, db):
    c = clients.as_user("admin")
    latest = c.get("/api/v1/early-warning/ratings?limit=10").json()
    assert latest["items"][0]["period"] == "2025Q4"
    older = c.get("/api/v1/early-warning/ratings?period=2019Q3&level=green&limit=10").json()
    assert older["total"] > 0 and {r["period"] for r in older["items"]} == {"2019Q3"}
    assert {r["level"] for r in older["items"]} == {"green"}
    assert c.get("/api/v1/early-warning/ratings?period=2019-13").status_code in (400, 422)


def test_monthly_report_pdf_is_chinese(clients, db):
    from pypdf import PdfReader

    c = clients.as_user("analyst")
    r = c.get("/early-warning/report?month=2026-01")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "地方金融组织风险监测月报" in text and "总体情况" in text and "2025Q4" in text.replace(" ", "")
    # A month inside 2025Q3 reports 2025Q2's results: returns arrive after the quarter.
    x = c.get("/early-warning/report?month=2025-08&format=xlsx")
    ws = load_workbook(io.BytesIO(x.content)).active
    assert "2025Q2" in ws.cell(1, 1).value and "地方金融组织风险监测月报" in ws.cell(1, 1).value
    assert c.get("/early-warning/report?month=2010-01").status_code == 404
    assert c.get("/early-warning/report?month=2026-1").status_code == 422
