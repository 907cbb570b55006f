"""Statistics pages, the Excel export and the API, as each role sees them."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from qiantang.statistics import measures as M
from qiantang.statistics import service

LAST = "2025-12-31"


def _table(html: str, testid: str) -> dict[str, dict[str, str]]:
    """row code → measure code → the text of that cell, from a table marked with data-testid."""
    body = html[html.index(f'data-testid="{testid}"') :]
    body = body[: body.index("</table>")]
    out: dict[str, dict[str, str]] = {}
    for row, cells in re.findall(r'<tr data-row="([^"]+)">(.*?)</tr>', body, flags=re.S):
        out[row] = dict(re.findall(r'data-measure="([^"]+)">([^<]*)<', cells))
    return out


def test_statistics_page_shows_pivot_trend_flows_and_districts(clients):
    r = clients.as_user("analyst").get("/statistics")
    assert r.status_code == 200
    html = r.text
    assert f'value="{LAST}" selected' in html  # the latest quarter with data is the default
    pivot = _table(html, "pivot")
    assert "total" in pivot and "private_fund_manager" in pivot
    assert "存续机构数（家）" in html and "资产总额（亿元）" in html  # units in the headers
    assert html.count('data-chart="') == 3  # trend, entries/exits, districts
    assert "&#34;kind&#34;: &#34;line&#34;" in html and "2025Q4" in html
    districts = _table(html, "districts")
    assert len(districts) == 13
    assert 'data-testid="flows"' in html and 'data-year="2020"' in html


def test_pivot_page_follows_dimension_filters_and_measures(clients):
    c = clients.as_user("analyst")
    r = c.get(
        "/statistics",
        params={
            "period": "2020-12-31",
            "rows": "district",
            "measures": ["open", "small_loan.npl_ratio"],
            "category": "local",
            "trend": "small_loan.npl_ratio",
            "split": "total",
        },
    )
    assert r.status_code == 200
    pivot = _table(r.text, "pivot")
    assert set(next(iter(pivot.values()))) == {"open", "small_loan.npl_ratio"}
    assert all(re.fullmatch(r"\d+", cells["open"]) for cells in pivot.values())
    assert 'value="2020-12-31" selected' in r.text
    assert c.get("/statistics", params={"rows": "planet"}).status_code == 422
    assert c.get("/statistics", params={"measures": "nope"}).status_code == 400
    assert c.get("/statistics", params={"split": "nope"}).status_code == 400


def test_excel_export_matches_the_page(clients):
    c = clients.as_user("analyst")
    params = {
        "period": "2024-06-30",
        "rows": "cluster",
        "measures": ["open", "entries", "total_assets", "private_fund_manager.aum", "filing_rate"],
    }
    page = _table(c.get("/statistics", params=params).text, "pivot")
    r = c.get("/statistics/export", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(rows) if row[1] == M.get("open").header())
    header = rows[header_at]
    assert list(header[1:]) == [M.get(code).header() for code in params["measures"]]
    body = rows[header_at + 1 :]
    assert len(body) == len(page)  # the same rows, the totals row included
    assert body[-1][0] == "合计"
    for (code, cells), xrow in zip(page.items(), body, strict=True):
        for i, measure in enumerate(params["measures"]):
            m = M.get(measure)
            assert cells[measure] == m.format(xrow[i + 1]), (code, measure)
    assert any("2024Q2" in (row[0] or "") for row in rows[:header_at])


def test_export_is_audited(clients, db):
    before = db.execute(
        text("SELECT COUNT(*) FROM audit_events WHERE object_type = 'statistics_pivot'")
    ).scalar()
    assert clients.as_user("xihu").get("/statistics/export").status_code == 200
    after = db.execute(
        text("SELECT COUNT(*) FROM audit_events WHERE object_type = 'statistics_pivot'")
    ).scalar()
    assert after == before + 1


def test_district_officer_sees_only_its_district_on_pages_and_api(clients, db):
    service.refresh(db)  # the cells describe the raw rows compared below
    c = clients.as_user("xihu")
    html = c.get("/statistics", params={"rows": "district"}).text
    assert list(_table(html, "pivot")) == ["330106", "total"]
    assert list(_table(html, "districts")) == ["330106"]
    assert 'data-testid="scope">西湖区<' in html
    r = c.get("/api/v1/statistics/pivot", params={"period": LAST, "rows": "type", "measures": "open,filed"})
    assert r.status_code == 200
    body = r.json()
    open_raw = db.execute(
        text(
            "SELECT COUNT(*) FROM institutions WHERE district_code = '330106' AND established_on <= :d "
            "AND (deregistered_on IS NULL OR deregistered_on > :d)"
        ),
        {"d": date(2025, 12, 31)},
    ).scalar()
    filed_raw = db.execute(
        text(
            "SELECT COUNT(*) FROM filings f JOIN institutions i ON i.id = f.institution_id "
            "WHERE i.district_code = '330106' AND f.period_end = :d AND f.is_current = :yes"
        ),
        {"d": date(2025, 12, 31), "yes": True},
    ).scalar()
    assert body["total"]["values"]["open"] == open_raw and body["total"]["values"]["filed"] == filed_raw
    assert sum(row["values"]["open"] for row in body["rows"]) == open_raw
    by_district = c.get("/api/v1/statistics/pivot", params={"rows": "district"}).json()
    assert [row["code"] for row in by_district["rows"]] == ["330106"]
    elsewhere = c.get("/api/v1/statistics/pivot", params={"district": "330108"}).json()
    assert elsewhere["rows"] == [] and elsewhere["total"]["values"]["open"] == 0
    city = clients.as_user("analyst").get("/api/v1/statistics/pivot", params={"rows": "district"}).json()
    assert len(city["rows"]) > 1 and city["total"]["values"]["open"] > open_raw


@pytest.mark.parametrize(
    "url",
    [
        "/statistics",
        "/statistics/export",
        "/statistics/clusters",
        "/statistics/clusters/core_qjxc",
        "/api/v1/statistics/measures",
        "/api/v1/statistics/pivot",
        "/api/v1/statistics/trend?measure=open",
        "/api/v1/statistics/clusters",
        "/api/v1/statistics/clusters/core_qjxc",
    ],
)
def test_reporter_gets_403(clients, url):
    assert clients.as_user("reporter").get(url).status_code == 403


def test_anonymous_api_request_is_refused(client):
    assert client.get("/api/v1/statistics/pivot").status_code == 401


def test_clusters_page_groups_the_nineteen_clusters(clients):
    html = clients.as_user("analyst").get("/statistics/clusters").text
    assert html.count("data-cluster=") == 19
    groups = re.findall(r'data-group="([a-z]+)"', html)
    assert groups == ["core", "belt", "town", "road", "zone", "county"]
    for zh in ("一核", "两带", "五镇", "两路", "五区", "县域金融"):
        assert zh in html
    assert 'href="/statistics/clusters/town_yuhuangshan"' in html


def test_core_cluster_page_shows_its_target_with_status(clients, db):
    html = clients.as_user("analyst").get("/statistics/clusters/core_qjxc").text
    assert "钱江新城" in html and 'data-testid="positioning"' in html
    targets = html[html.index('data-testid="targets"') :]
    assert 'data-indicator="core_hq_count"' in targets
    assert re.search(r'href="/plan/indicators/core_hq_count\?plan=\d+"', targets)
    status = re.search(r'data-testid="status">([^<]+)<', targets).group(1)
    assert status in {"目标已实现", "进展良好", "进展一般，需加快", "进展有限", "出现倒退", "无法评估"}
    assert "<li>" in targets  # the reasons from plan.service
    assert 'data-testid="hq-chart"' in html and 'data-testid="by-type-level"' in html


def test_town_cluster_page_shows_fund_target_and_aum_trend(clients):
    html = clients.as_user("analyst").get("/statistics/clusters/town_yuhuangshan").text
    assert 'data-indicator="town_fund_total"' in html and 'data-testid="aum-chart"' in html
    assert "亿元" in html
    assert clients.as_user("analyst").get("/statistics/clusters/nowhere").status_code == 404


def test_api_measures_pivot_trend_and_clusters(clients):
    c = clients.as_user("analyst")
    measures = c.get("/api/v1/statistics/measures").json()
    by_code = {m["code"]: m for m in measures}
    assert by_code["total_assets"]["unit"] == "万元" and by_code["total_assets"]["display_unit"] == "亿元"
    assert by_code["small_loan.npl_ratio"]["kind"] == "ratio"
    assert by_code["small_loan.npl_ratio"]["numerator"] == "small_loan.npl_balance"
    pivot = c.get(
        "/api/v1/statistics/pivot",
        params={"period": LAST, "rows": "type", "measures": "open,entries", "district": "330106"},
    ).json()
    assert pivot["period_end"] == LAST and pivot["filters"] == {"district": "330106"}
    assert [m["code"] for m in pivot["measures"]] == ["open", "entries"]
    assert pivot["total"]["values"]["open"] == sum(r["values"]["open"] for r in pivot["rows"])
    assert c.get("/api/v1/statistics/pivot", params={"measures": "open,nope"}).status_code == 400
    trend = c.get(
        "/api/v1/statistics/trend", params={"measure": "private_fund_manager.aum", "split": "district"}
    ).json()
    assert trend["periods"][0] == "2015-03-31" and trend["periods"][-1] == LAST
    assert trend["split"] == "district" and all(
        len(s["values"]) == len(trend["periods"]) for s in trend["series"]
    )
    clusters = c.get("/api/v1/statistics/clusters").json()
    assert sum(len(g["clusters"]) for g in clusters["groups"]) == 19
    core = c.get("/api/v1/statistics/clusters/core_qjxc").json()
    assert core["targets"][0]["indicator_code"] == "core_hq_count" and core["targets"][0]["status"]
    assert core["targets"][0]["url"].startswith("/plan/indicators/core_hq_count")
    assert (
        core["hq_count_by_year"] and core["figures"]["hq_licensed"] == core["hq_count_by_year"][-1]["value"]
    )
    assert c.get("/api/v1/statistics/clusters/nowhere").status_code == 404


@pytest.mark.parametrize("url", ["/statistics", "/statistics/clusters"])
def test_pages_say_which_quarter_they_show(clients, url):
    c = clients.as_user("analyst")
    html = c.get(url).text
    shown = service.shown_period(clients.db)
    label = f"{shown.period_end.year}年第{(shown.period_end.month - 1) // 3 + 1}季度"
    assert 'data-testid="shown-period"' in html and f"显示 {label}" in html
    assert f'value="{shown.period_end.isoformat()}" selected' in html
    chosen = c.get(url, params={"period": "2020-06-30"}).text
    assert "显示 2020年第2季度。" in chosen and 'value="2020-06-30" selected' in chosen
