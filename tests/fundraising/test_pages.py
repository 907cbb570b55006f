"""The demo's scoring runs, the dashboard, a firm's risk page, the export and the profile panel."""

from __future__ import annotations

import re
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise
from qiantang.fundraising import service
from qiantang.fundraising.index import config
from qiantang.fundraising.models import Collapse, FirmScore, FirmText, ScoreRun


def latest(db) -> ScoreRun:
    run = service.latest_run(db)
    assert run is not None
    return run


def test_demo_has_monitoring_data_and_runs(db):
    assert db.scalar(select(func.count()).select_from(FirmText)) > 100
    assert db.scalar(select(func.count()).select_from(Collapse)) > 0
    runs = db.scalars(select(ScoreRun).order_by(ScoreRun.as_of)).all()
    assert len(runs) >= 2 and runs[-1].firms > 0
    s = db.scalars(select(FirmScore).where(FirmScore.run_id == runs[-1].id)).first()
    # the attributes the case routing consumes
    assert s.grade in ("red", "orange", "yellow", "green") and 0 <= s.score <= 100
    assert s.version == config().version and isinstance(s.enterprise_id, int)
    assert all(set(r) == {"dimension", "text", "evidence"} for r in s.reasons)


def test_run_is_reproducible(db):
    from qiantang.fundraising.monitor import outside_reports

    before = latest(db)
    # The demo's runs count the tips and disputes known on their day, as the monitoring round does.
    again = service.run(db, as_of=before.as_of, tips=outside_reports(db, as_of=before.as_of))
    assert again.counts == before.counts and again.firms == before.firms


def test_dashboard_for_the_city(clients, db):
    r = clients.as_user("admin").get("/fundraising")
    assert r.status_code == 200
    assert 'data-testid="firms"' in r.text and "/fundraising/firms/" in r.text
    assert "尚未建成" not in r.text


def test_district_officer_sees_only_its_district(clients, db):
    run = latest(db)
    xihu = clients.as_user("xihu")
    mine = service.scores(db, scope=Scope(role=_officer_role(), district_code="330106"), run=run, limit=None)
    assert all(s.district_code == "330106" for s, _ in mine)
    other = db.scalar(
        select(FirmScore.enterprise_id).where(FirmScore.run_id == run.id, FirmScore.district_code != "330106")
    )
    assert xihu.get(f"/fundraising/firms/{other}").status_code == 404
    page = xihu.get("/fundraising")
    assert page.status_code == 200
    assert f'/fundraising/firms/{other}"' not in page.text
    if mine:
        assert xihu.get(f"/fundraising/firms/{mine[0][0].enterprise_id}").status_code == 200


def _officer_role():
    from qiantang.auth.models import Role

    return Role.DISTRICT_OFFICER


def test_firm_page_shows_reasons_evidence_and_masked_people(clients, db):
    run = latest(db)
    top = db.scalar(
        select(FirmScore).where(FirmScore.run_id == run.id).order_by(FirmScore.score.desc()).limit(1)
    )
    r = clients.as_user("analyst").get(f"/fundraising/firms/{top.enterprise_id}")
    assert r.status_code == 200
    assert top.reasons[0]["text"] in r.text
    assert 'data-testid="timeline"' in r.text and 'data-testid="linked"' in r.text
    assert "*" in r.text  # names and ID numbers masked for an analyst


def test_export_is_an_excel_of_the_scope(clients, db):
    r = clients.as_user("admin").get("/fundraising/export?grade=red")
    assert r.status_code == 200
    wb = load_workbook(BytesIO(r.content))
    ws = wb.active
    values = [row for row in ws.iter_rows(values_only=True)]
    n_red = db.scalar(select(func.count()).where(FirmScore.run_id == latest(db).id, FirmScore.grade == "red"))
    header = next(i for i, row in enumerate(values) if row and row[0] in ("企业", "Enterprise"))
    assert len(values) - header - 1 == n_red


def test_roles_without_the_module_are_refused(clients):
    assert clients.as_user("lender").get("/fundraising").status_code == 403
    assert clients.as_user("firm").get("/fundraising/export").status_code == 403


def test_profile_panel(clients, db):
    run = latest(db)
    uscc = db.scalar(
        select(Enterprise.uscc)
        .join(FirmScore, FirmScore.enterprise_id == Enterprise.id)
        .where(FirmScore.run_id == run.id)
        .limit(1)
    )
    r = clients.as_user("admin").get(f"/enterprises/{uscc}")
    assert r.status_code == 200
    assert 'data-testid="fundraising-panel"' in r.text


def test_keyword_dictionary_page(clients):
    r = clients.as_user("xihu").get("/fundraising/keywords")
    assert r.status_code == 200
    assert "保本保息" in r.text and "特征词词库 2026 年第 1 版" in r.text and "不承诺" in r.text
    assert "kw-2026.1" not in r.text  # the version in words, not its code


def test_a_run_notifies_district_offices_of_firms_turning_red(db):
    from qiantang.notify.models import Notification
    from qiantang.notify.service import staff

    run = latest(db)
    # the xihu officer's district first, any district with a red firm otherwise
    red = db.scalar(
        select(FirmScore)
        .where(FirmScore.run_id == run.id, FirmScore.grade == "red")
        .order_by((FirmScore.district_code != "330106"), FirmScore.id)
        .limit(1)
    )
    assert red is not None
    district = red.district_code
    # pretend it was green in the previous run
    db.execute(FirmScore.__table__.update().where(FirmScore.id == red.id).values(grade="green"))
    new = service.run(db, as_of=run.as_of)
    rows = db.scalars(
        select(Notification).where(
            Notification.event_type == "fundraising_red",
            Notification.dedupe_key == f"fundraising-run-{new.id}-{district}",
        )
    ).all()
    officers = staff(db, district_code=district)
    assert {n.user_id for n in rows} == set(officers)
    if officers:
        assert "红色非法集资风险" in rows[0].title


def test_api_scores_scoped_with_reasons(clients, db):
    run = latest(db)
    r = clients.as_user("xihu").get("/api/v1/fundraising/scores?limit=5000")
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == run.version
    assert all(item["district_code"] == "330106" for item in body["items"])
    other = db.scalar(
        select(FirmScore.enterprise_id).where(FirmScore.run_id == run.id, FirmScore.district_code != "330106")
    )
    assert clients.as_user("xihu").get(f"/api/v1/fundraising/firms/{other}").status_code == 404
    one = clients.as_user("analyst").get(f"/api/v1/fundraising/firms/{other}").json()
    assert set(one["reasons"][0]) == {"dimension", "text", "evidence"} if one["reasons"] else True
    assert clients.as_user("lender").get("/api/v1/fundraising/scores").status_code == 403


def _page_firms(html: str) -> list[str]:
    table = html.split('data-testid="firms"')[1].split("</table>")[0]
    return re.findall(r'href="/fundraising/firms/(\d+)"', table)


def test_lists_leave_out_firms_without_a_risk_signal_and_say_how_many(clients, db):
    run = latest(db)
    quiet = db.scalars(
        select(FirmScore.enterprise_id).where(FirmScore.run_id == run.id, FirmScore.score <= 0)
    ).all()
    assert quiet, "the tiny demo has watched firms without any signal"
    admin = clients.as_user("admin")
    page = admin.get("/fundraising?grade=green").text
    assert not set(_page_firms(page)) & {str(i) for i in quiet}
    assert f"另有 {len(quiet)} 家企业未见风险信号" in page
    admin.cookies.set("lang", "en")
    assert f"Another {len(quiet)} firms show no risk signal." in admin.get("/fundraising?grade=green").text
    assert 'data-testid="without-signal"' not in admin.get("/fundraising?grade=red").text  # none among red
    admin.cookies.set("lang", "zh_CN")
    rows = list(load_workbook(BytesIO(admin.get("/fundraising/export?grade=green").content)).active.values)
    header = next(i for i, row in enumerate(rows) if row and row[0] == "企业")
    reasons = rows[header].index("主要原因")
    marked = [row for row in rows[header + 1 :] if row[reasons] == "无风险信号"]
    assert len(marked) == len(quiet)  # the export keeps them, marked


def test_a_district_officer_is_told_how_many_of_its_own_firms_are_watched(clients, db):
    run = latest(db)
    own = db.scalar(
        select(func.count()).where(FirmScore.run_id == run.id, FirmScore.district_code == "330106")
    )
    assert 0 < own < run.firms
    page = clients.as_user("xihu").get("/fundraising").text
    note = page.split('data-testid="run-note"')[1].split("</p>")[0]
    assert f"监测类金融企业 {own} 家" in note and f" {run.firms} 家" not in note
    city = clients.as_user("admin").get("/fundraising").text.split('data-testid="run-note"')[1]
    assert f"监测类金融企业 {run.firms} 家" in city.split("</p>")[0]
