"""The public tip page (举报) and the tips inbox: no login, CSRF by double-submit cookie, a flood from
one client refused, oversized input refused, no script stored or shown, matching to the register,
merging, receipts that show nothing else, district scoping, actions, export and API."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.cases.models import Case, CaseSource
from qiantang.db import utcnow
from qiantang.enterprises.models import Enterprise
from qiantang.fundraising import tips
from qiantang.fundraising.tip_models import Tip, TipReport, TipStatus
from qiantang.notify.models import Notification
from tests.fundraising.tip_fixtures import binjiang_firm_fixture, xihu_firm_fixture  # noqa: F401
from tests.helpers import page_csrf_token

TEXT = "该公司在小区门口发传单，承诺年化收益18%，保本保息，已有很多老人投了钱。"


def form_token(html: str) -> str:
    match = re.search(r'name="tip_csrf" value="([^"]+)"', html)
    assert match, "tip form without its token"
    return match.group(1)


def submit(client, **fields):
    page = client.get("/report-tip")
    assert page.status_code == 200
    data = {"tip_csrf": form_token(page.text), "firm": "", "what_happened": TEXT, **fields}
    return client.post("/report-tip", data=data, follow_redirects=False)


def receipt_of(response) -> str:
    assert response.status_code == 303, response.text
    return re.search(r"code=([A-Z0-9-]+)", response.headers["location"]).group(1)


def test_tip_page_works_without_login(client, db, xihu_firm):
    page = client.get("/report-tip")
    assert page.status_code == 200 and "举报" in page.text and 'data-testid="tip-form"' in page.text
    r = submit(client, firm=xihu_firm.name, amount="50,000", people="12", contact="13800000000")
    code = receipt_of(r)
    status = client.get(r.headers["location"])
    assert status.status_code == 200 and code in status.text and "已收到" in status.text
    tip = db.scalar(select(Tip).join(TipReport).where(TipReport.receipt_code == code))
    assert tip.enterprise_id == xihu_firm.id and tip.match_confidence == 1.0
    assert tip.district_code == xihu_firm.district_code
    assert tip.amount_yuan == 50000 and tip.people == 12
    # The tipster sees the status and nothing about the firm.
    assert xihu_firm.name not in status.text and xihu_firm.uscc not in status.text
    assert "13800000000" not in status.text
    # The district office was told.
    note = db.scalar(
        select(Notification).where(Notification.event_type == "tip_received").order_by(Notification.id.desc())
    )
    assert note is not None and note.link == f"/fundraising/tips/{tip.id}"


def test_form_without_its_cookie_token_is_refused(client, db):
    before = db.scalar(select(func.count()).select_from(TipReport))
    page = client.get("/report-tip")
    token = form_token(page.text)
    client.cookies.clear()
    r = client.post("/report-tip", data={"tip_csrf": token, "firm": "某公司", "what_happened": TEXT})
    assert r.status_code == 403
    r = client.post("/report-tip", data={"firm": "某公司", "what_happened": TEXT})
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(TipReport)) == before


def test_a_flood_from_one_client_is_refused(client, db, xihu_firm):
    for i in range(tips.LIMIT_PER_HOUR):
        receipt_of(
            submit(
                client,
                firm=f"测试集资公司{i}号",
                what_happened=f"{TEXT}第{i}次，内容各不相同{'甲乙丙丁'[i % 4]}",
            )
        )
    r = submit(client, firm="另一家公司", what_happened=TEXT)
    assert r.status_code == 429 and "频繁" in r.text
    assert "Retry-After" in r.headers


def test_rate_limit_counts_per_client(db):
    key_a, key_b = tips.client_key("10.0.0.1"), tips.client_key("10.0.0.2")
    for _ in range(tips.LIMIT_PER_HOUR):
        tips.submit_tip(db, firm="测试某某投资咨询", what_happened=TEXT + str(_) * 30, ip="10.0.0.1")
    with pytest.raises(tips.TooManyRequests):
        tips.check_rate(db, key_a)
    tips.check_rate(db, key_b)  # another client is not held back
    # An hour later the hourly limit is lifted.
    tips.check_rate(db, key_a, now=utcnow() + timedelta(hours=1, minutes=1))


@pytest.mark.parametrize(
    "field,value",
    [
        ("what_happened", "很" * (tips.MAX_TEXT + 1)),
        ("firm", "公" * (tips.MAX_FIRM + 1)),
        ("contact", "1" * 101),
    ],
)
def test_oversized_input_is_refused(client, db, field, value):
    before = db.scalar(select(func.count()).select_from(TipReport))
    r = submit(client, **{"firm": "某某公司", field: value})
    assert r.status_code == 413, r.status_code
    assert db.scalar(select(func.count()).select_from(TipReport)) == before


def test_no_script_is_stored_as_markup_or_shown(client, clients, db, xihu_firm):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    code = receipt_of(
        submit(client, firm=xihu_firm.name + evil, what_happened=TEXT + evil, contact=evil[:90])
    )
    tip = db.scalar(select(Tip).join(TipReport).where(TipReport.receipt_code == code))
    # Stored as text (never rendered as HTML anywhere): every page escapes it.
    for url in ("/fundraising/tips", f"/fundraising/tips/{tip.id}"):
        html = clients.as_user("admin").get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    status = client.get(f"/report-tip/status?code={code}").text
    assert "<script>alert" not in status
    r = client.get("/report-tip/status?code=" + "<script>alert(1)</script>")
    assert "<script>alert(1)" not in r.text


def test_names_match_the_register_with_a_confidence(db, xihu_firm):
    exact = tips.match_firm(db, xihu_firm.uscc.lower())
    assert exact.enterprise_id == xihu_firm.id and exact.method == "uscc" and exact.confidence == 1.0
    assert tips.match_firm(db, xihu_firm.name).confidence == 1.0
    # A near spelling (legal form dropped, one character changed) still matches, below certainty.
    firm = next(
        e
        for e in db.scalars(select(Enterprise).order_by(Enterprise.id).limit(200))
        if len(tips.normalise_name(e.name)) >= 8
    )
    base = tips.normalise_name(firm.name)
    near = base[:-2] + ("甲" if base[-2] != "甲" else "乙") + base[-1]
    m = tips.match_firm(db, near)
    assert m.enterprise_id == firm.id and 0.75 <= m.confidence < 1.0, (firm.name, near, m)
    assert m.district_code == firm.district_code
    nothing = tips.match_firm(db, "完全不存在的某某某某某某单位名称XYZ")
    assert nothing.enterprise_id is None and nothing.confidence is None


def test_the_rarest_pieces_of_a_name_are_looked_up_first(db, monkeypatch):
    """With room for only two pieces of two names each, a typed name whose first pieces are common
    (the district's name, shared by many firms; the firm is one of the last written, so that a plain
    scan of a common piece meets other firms first) still finds its firm through its rarest pieces, on
    both backends."""
    monkeypatch.setattr(tips, "CANDIDATE_WINDOWS", 2)
    monkeypatch.setattr(tips, "CANDIDATES_PER_WINDOW", 2)
    names = [tips.normalise_name(n) for n in db.scalars(select(Enterprise.name))]
    firm = next(
        e
        for e in db.scalars(select(Enterprise).order_by(Enterprise.id.desc()).limit(300))
        if len(key := tips.normalise_name(e.name)) >= 8
        and all(sum(key[i : i + 3] in n for n in names) > 4 for i in (0, 1))
    )
    base = tips.normalise_name(firm.name)
    near = base[:-1] + ("甲" if base[-1] != "甲" else "乙")
    m = tips.match_firm(db, near)
    assert m.enterprise_id == firm.id, (firm.name, near, m)


def test_duplicates_are_merged_with_a_count(db, xihu_firm):
    first = tips.submit_tip(db, firm=xihu_firm.name, what_happened=TEXT, ip="10.1.0.1")
    second = tips.submit_tip(
        db, firm=xihu_firm.uscc, what_happened=TEXT.replace("很多", "好多"), ip="10.1.0.2"
    )
    other = tips.submit_tip(
        db,
        firm=xihu_firm.name,
        what_happened="公司员工在微信群里推销原始股，说明年就上市，一股一元。",
        ip="10.1.0.3",
    )
    assert second.merged and second.tip_id == first.tip_id and second.code != first.code
    assert not other.merged and other.tip_id != first.tip_id
    tip = db.get(Tip, first.tip_id)
    assert tip.reports == 2 and len(tip.report_rows) == 2
    assert tips.tip_counts_by_enterprise(db)[xihu_firm.id] >= 3
    assert tips.tip_counts_by_enterprise(db, since=utcnow() + timedelta(days=1)) == {}


def test_district_officer_sees_only_its_districts_tips(db, clients, xihu_firm, binjiang_firm):
    x = tips.submit_tip(db, firm=xihu_firm.name, what_happened=TEXT, ip="10.2.0.1")
    b = tips.submit_tip(db, firm=binjiang_firm.name, what_happened=TEXT, ip="10.2.0.2")
    u = tips.submit_tip(db, firm="查无此公司的某某某某某某名称", what_happened=TEXT, ip="10.2.0.3")
    db.commit()
    xihu = clients.as_user("xihu")
    page = xihu.get("/fundraising/tips")
    assert page.status_code == 200
    shown = {int(i) for i in re.findall(r'data-tip="(\d+)"', page.text)}
    assert x.tip_id in shown and b.tip_id not in shown and u.tip_id not in shown
    assert xihu.get(f"/fundraising/tips/{b.tip_id}").status_code == 403
    assert xihu.get(f"/api/v1/fundraising/tips/{b.tip_id}").status_code == 403
    api = xihu.get("/api/v1/fundraising/tips").json()
    assert {i["district_code"] for i in api["items"]} == {xihu_firm.district_code}
    # Filters accept their own defaults (the empty "all" options and an empty date).
    assert xihu.get("/fundraising/tips?status=&district=&matched=&since=&q=").status_code == 200
    admin = clients.as_user("admin")
    every = {int(i) for i in re.findall(r'data-tip="(\d+)"', admin.get("/fundraising/tips").text)}
    assert {x.tip_id, b.tip_id, u.tip_id} <= every
    export = admin.get("/fundraising/tips/export?matched=0")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.content)).active
    ids = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert u.tip_id in ids and x.tip_id not in ids
    # Roles without city data (a firm, a lender) get nothing.
    assert clients.as_user("firm").get("/fundraising/tips").status_code == 403


def test_handle_and_forward_a_tip(db, clients, xihu_firm):
    a = tips.submit_tip(db, firm=xihu_firm.name, what_happened=TEXT, ip="10.3.0.1")
    b = tips.submit_tip(
        db,
        firm=xihu_firm.name,
        what_happened="他们在直播间卖养老公寓的会员卡，说每月返利百分之三。",
        ip="10.3.0.2",
    )
    db.commit()
    xihu = clients.as_user("xihu")
    page = xihu.get(f"/fundraising/tips/{a.tip_id}")
    token = page_csrf_token(page.text)
    r = xihu.post(f"/fundraising/tips/{a.tip_id}/forward", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    case = db.get(Case, int(r.headers["location"].rsplit("/", 1)[1]))
    assert case.source == CaseSource.TIP and case.enterprise_id == xihu_firm.id
    assert xihu.get(r.headers["location"]).status_code == 200  # the district office handles it
    r = xihu.post(f"/fundraising/tips/{b.tip_id}/handle", data={"csrf_token": token, "note": ""})
    assert r.status_code == 422
    r = xihu.post(
        f"/fundraising/tips/{b.tip_id}/handle",
        data={"csrf_token": token, "note": "已核实，系正常经营"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Tip, b.tip_id).status == TipStatus.HANDLED
    status = clients.as_user("xihu").get(f"/report-tip/status?code={b.code}")
    assert "已处理完毕" in status.text
    # The auditor may read but not act.
    assert (
        clients.as_user("auditor")
        .post(f"/fundraising/tips/{a.tip_id}/handle", data={"note": "x"})
        .status_code
        == 403
    )


def test_unknown_receipt_shows_nothing(client):
    r = client.get("/report-tip/status?code=AAAA-BBBB-CCCC")
    assert (r.status_code == 404 and "没有" in r.text) or "No report" in r.text


def test_amounts_and_people_are_read_as_people_write_them(db):
    r = tips.submit_tip(
        db, firm="测试金额某某公司", what_happened=TEXT, amount="５万元", people="30人", ip="10.4.0.1"
    )
    tip = db.get(Tip, r.tip_id)
    assert tip.amount_yuan == 50000 and tip.people == 30
    with pytest.raises(tips.ValidationFailed):
        tips.submit_tip(db, firm="测试金额某某公司", what_happened=TEXT, amount="很多", ip="10.4.0.2")


def test_the_inbox_searches_through_the_text_index(db, xihu_firm):
    """The inbox's search finds tips by what happened, by the firm as typed and by the matched firm's
    name, through the tips' own text index (kept in step on every write) and the register's."""
    from qiantang.auth.scope import Scope

    told = tips.submit_tip(
        db, firm=xihu_firm.name, what_happened="业务员上门推销养老公寓会员卡，称一年返本。", ip="10.3.0.1"
    )
    typed = tips.submit_tip(db, firm="某某鑫盛财富咨询工作室", what_happened=TEXT, ip="10.3.0.2")
    city = Scope.system()

    def found(q: str) -> set[int]:
        rows, total = tips.list_tips(db, scope=city, filters=tips.TipFilters(q=q), limit=None)
        assert total == len(rows)
        return {t.id for t in rows}

    assert told.tip_id in found("养老公寓会员卡") and typed.tip_id not in found("养老公寓会员卡")
    assert told.tip_id in found("返本")  # two characters: the index's character pairs
    assert typed.tip_id in found("鑫盛财富") and told.tip_id not in found("鑫盛财富")
    assert told.tip_id in found(xihu_firm.name[-6:])  # the matched firm's name
    assert not found("这段话没有人写过的线索")
    # An edit reaches the index (triggers on SQLite; LIKE itself through pg_trgm on PostgreSQL).
    db.get(Tip, typed.tip_id).what_happened = "改为：在商场设点推销虚拟货币矿机。"
    db.flush()
    assert typed.tip_id in found("虚拟货币矿机") and typed.tip_id not in found("养老公寓会员卡")


def test_a_tips_amount_reads_with_its_unit(clients, db):
    r = tips.submit_tip(db, firm="测试金额某某公司", what_happened=TEXT, amount="672.34万元", ip="10.4.0.9")
    tip = db.get(Tip, r.tip_id)
    admin = clients.as_user("admin")
    page = admin.get(f"/fundraising/tips/{tip.id}").text
    assert "672 万元" in page and "6,723,400" not in page and "6723400" not in page
    admin.cookies.set("lang", "en")
    assert "672 CNY 10k" in admin.get(f"/fundraising/tips/{tip.id}").text
