"""Credit pages, PDFs, the bring-your-own-data page and the scoring API, with permissions."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from qiantang.credit import registry
from qiantang.credit.models import CreditModel
from qiantang.enterprises.models import Enterprise
from tests.helpers import page_csrf_token

XIHU = "330106"


def champion_id(db) -> int:
    return registry.champion(db, "all").id


def test_credit_home_lists_champion_registry_and_monitoring(clients, db):
    c = clients.as_user("analyst")
    r = c.get("/credit")
    assert r.status_code == 200
    html = r.text
    assert 'data-testid="champion"' in html and 'data-testid="models"' in html
    assert 'data-testid="monitoring-status"' in html and 'data-testid="master-scale"' in html
    assert "/credit/upload" in html
    assert "/credit/upload" not in clients.as_user("xihu").get("/credit").text  # district officers only read


def test_validation_report_page_and_pdf(clients, db):
    c = clients.as_user("admin")
    mid = champion_id(db)
    html = c.get(f"/credit/models/{mid}").text
    for testid in ("model-facts", "discrimination", "ks-table", "calibration", "psi-status", "feature-psi"):
        assert f'data-testid="{testid}"' in html, testid
    assert 'data-testid="bins-debt_ratio"' in html and "WOE" in html and "data-chart" in html
    lgb = db.scalar(select(CreditModel).where(CreditModel.kind == "lightgbm"))
    assert 'data-testid="importance"' in c.get(f"/credit/models/{lgb.id}").text
    r = c.get(f"/credit/models/{mid}?format=pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    for words in ("模型验证报告", "区分能力", "分等级校准", "人群稳定性", "分箱"):
        assert words in text, words


def test_enterprise_credit_report_page_and_pdf(clients, db):
    c = clients.as_user("admin")
    ent = db.scalar(select(Enterprise).where(Enterprise.deregistered_on.is_(None)).order_by(Enterprise.id))
    html = c.get(f"/enterprises/{ent.uscc}/credit-report").text
    for testid in ("credit-summary", "grade", "ratios", "exposure", "financials"):
        assert f'data-testid="{testid}"' in html, testid
    r = c.get(f"/enterprises/{ent.uscc}/credit-report?format=pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "信用分析报告" in text and "同业" in text and "担保敞口" in text


def test_credit_pages_follow_roles_and_districts(clients, db):
    reporter = clients.as_user("reporter")
    assert reporter.get("/credit").status_code == 403
    assert reporter.post("/api/v1/credit/score", json={"enterprise": {}}).status_code == 403
    xihu = clients.as_user("xihu")
    assert xihu.get("/credit/upload").status_code == 403
    other = db.scalar(select(Enterprise).where(Enterprise.district_code != XIHU).limit(1))
    own = db.scalar(select(Enterprise).where(Enterprise.district_code == XIHU).limit(1))
    assert xihu.get(f"/enterprises/{other.uscc}/credit-report").status_code == 403
    assert xihu.get(f"/api/v1/enterprises/{other.uscc}/credit").status_code == 403
    assert xihu.get(f"/api/v1/enterprises/{own.uscc}/credit").status_code == 200
    assert clients.as_user("analyst").post(f"/credit/models/{champion_id(db)}/promote").status_code == 403


def upload_csv(credit_data, rows: int = 300) -> bytes:
    frame = credit_data.X.iloc[:rows].copy().astype(object)
    frame["Status"] = ["bad" if v else "good" for v in credit_data.y[:rows]]
    frame.loc[5, "Income"] = "不详"
    return frame.to_csv(index=False).encode("utf-8")


def test_bring_your_own_data_page_cross_validates_and_registers(clients, db, credit_data, run_jobs):
    c = clients.as_user("analyst")
    page = c.get("/credit/upload")
    assert page.status_code == 200
    token = page_csrf_token(page.text)
    r = c.post(
        "/credit/upload",
        data={
            "csrf_token": token,
            "target": "Status",
            "bad": "bad",
            "mode": "quick",
            "register": "1",
            "name": "上传测试",
        },
        files={"file": ("applicants.csv", upload_csv(credit_data), "text/csv")},
        follow_redirects=False,
    )
    # The table is checked at once, then cross-validated by a background job with a progress bar.
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text[:2000]
    job_url = r.headers["location"]
    waiting = c.get(job_url).text
    assert 'data-testid="job-progress"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert 'data-testid="cv-table"' not in waiting
    assert run_jobs("credit.cv") == [int(job_url.rsplit("/", 1)[1])]
    html = c.get(job_url + "/progress").text
    assert 'hx-trigger="every 1s"' not in html  # done: the partial stops polling and shows the result
    assert 'data-testid="cv-table"' in html and 'data-testid="registered"' in html
    workbook = c.get(job_url + "/download")  # the results table, for Excel
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")
    assert "cv-applicants.xlsx" in workbook.headers["content-disposition"]
    for label in (
        "评分卡（本平台）",
        "optbinning Scorecard（默认设置）",
        "普通逻辑回归",
        "LightGBM（默认设置）",
    ):
        assert label in html
    row = db.scalar(select(CreditModel).where(CreditModel.name == "上传测试"))
    assert row.spec["input"] == registry.INPUT_TABLE and row.status.value == "candidate"
    assert row.metrics["cv"]["folds"] == 5 and row.created_by == "analyst"
    # Score one row of that table through the API; text in a number field is a clear 422.
    api = clients.as_user("analyst")
    record = {"Seniority": 5, "Home": "owner", "Income": 150, "Records": "no", "Job": "fixed"}
    ok = api.post("/api/v1/credit/score", json={"model_id": row.id, "record": record})
    assert ok.status_code == 200, ok.text
    assert ok.json()["model"] == "上传测试 v1" and ok.json()["notes"]  # the columns not given are explained
    bad = api.post("/api/v1/credit/score", json={"model_id": row.id, "record": {**record, "Income": "很多"}})
    assert bad.status_code == 422
    assert "应为数字" in bad.json()["error"]["errors"][0]["message"]
    unseen = api.post(
        "/api/v1/credit/score", json={"model_id": row.id, "record": {**record, "Home": "castle"}}
    )
    assert unseen.status_code == 200 and any("castle" in n for n in unseen.json()["notes"])


def test_bad_uploads_are_refused_in_chinese_and_nothing_is_stored(clients, db, credit_data):
    c = clients.as_user("analyst")
    token = page_csrf_token(c.get("/credit/upload").text)
    before = db.scalar(select(CreditModel.id).order_by(CreditModel.id.desc()).limit(1))
    r = c.post(
        "/credit/upload",
        data={"csrf_token": token, "target": "Outcome", "bad": "bad", "register": "1"},
        files={"file": ("applicants.csv", upload_csv(credit_data), "text/csv")},
    )
    assert r.status_code == 422 and "没有目标列" in r.text and 'data-testid="upload-error"' in r.text
    r = c.post(
        "/credit/upload",
        data={"csrf_token": token, "target": "Status", "bad": "bad"},
        files={"file": ("notes.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert r.status_code == 422 and "只接受" in r.text
    assert db.scalar(select(CreditModel.id).order_by(CreditModel.id.desc()).limit(1)) == before


@pytest.mark.parametrize(
    ("change", "status", "expect"),
    [
        ({}, 200, None),
        ({"industry_code": "ZZ99"}, 200, "行业代码"),
        ({"revenue": -1.0e6}, 200, "营业收入"),
        ({"revenue": "一千万"}, 422, "应为数字"),
        ({"founded_on": "去年"}, 422, "日期"),
    ],
)
def test_score_api_one_enterprise(clients, change, status, expect):
    c = clients.as_user("analyst")
    body = {
        "enterprise": {
            "industry_code": "5191",
            "size_class": "micro",
            "founded_on": "2019-03-01",
            "revenue": 5.0e6,
            "total_assets": 3.0e6,
            "total_liabilities": 2.1e6,
            **change,
        }
    }
    r = c.post("/api/v1/credit/score", json=body)
    assert r.status_code == status, r.text
    if status == 200:
        out = r.json()
        assert {"score", "grade", "pd", "reasons", "model", "model_id"} <= set(out)
        assert len(out["reasons"]) <= 4 and all(x["text"] for x in out["reasons"])
        if expect:
            assert any(expect in n for n in out["notes"])
    else:
        assert expect in str(r.json()["error"]["errors"])


def test_enterprise_credit_api_and_model_api(clients, db):
    c = clients.as_user("admin")
    ent = db.scalar(select(Enterprise).where(Enterprise.deregistered_on.is_(None)).limit(1))
    body = c.get(f"/api/v1/enterprises/{ent.uscc}/credit").json()
    assert body["latest"]["grade"] and body["latest"]["model"] and body["history"]
    models = c.get("/api/v1/credit/models").json()
    assert any(m["status"] == "champion" for m in models)
    detail = c.get(f"/api/v1/credit/models/{champion_id(db)}").json()
    assert detail["spec_model"]["bins"] and detail["metrics"]["validation"]
