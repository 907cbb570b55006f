"""抄送行业主管部门: the sector's supervisor of a watched firm's class, kept on the routed case, shown on
the case and firm pages, exported, and named in the office's notification."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.cases.models import Case, CaseEvent
from qiantang.fundraising.models import FirmScore
from qiantang.fundraising.routing import route_scores, supervisor_of
from qiantang.fundraising.service import latest_run
from qiantang.fundraising.supervisors import load_supervisors, supervisors
from qiantang.fundraising.watch import watch_config
from tests.fundraising.tip_fixtures import (  # noqa: F401 (fixtures)
    XIHU,
    Row,
    firm_in,
    xihu_firm_fixture,
)

FRIDAY = date(2026, 9, 25)
CSRC = "中国证监会浙江监管局"


def test_every_watched_class_has_a_supervisor_and_the_table_cites_the_regulation():
    table = supervisors()
    for rule in watch_config().rules:
        # an entry without words always applies, so every firm of the class gets one
        assert any(e.category == rule.category and not e.words for e in table.entries), rule.category
    assert table.version
    names = {e.code: (e.zh, e.en) for e in table.entries}
    for e in table.entries:
        assert names[e.code] == (e.zh, e.en), "one code, one name"
        assert e.basis
    text = (
        __import__("importlib").resources.files("qiantang.fundraising") / "data" / "supervisors.toml"
    ).read_text(encoding="utf-8")
    assert "第五条第二款" in text and "国务院令第737号" in text


def test_the_first_applicable_entry_wins_by_words():
    table = load_supervisors(
        """version = "t"
[[supervisors]]
category = "pension_rebate"
words = ["养老"]
code = "civil"
zh = "民政部门"
en = "Civil affairs"
basis = "b"
[[supervisors]]
category = "pension_rebate"
code = "market"
zh = "市场监督管理部门"
en = "Market regulation"
basis = "b"
"""
    )
    assert table.for_firm("pension_rebate", "某某康养养老服务有限公司").code == "civil"
    assert table.for_firm("pension_rebate", "某某会员消费返利有限公司").code == "market"
    assert table.for_firm("crypto", "x") is None and table.for_firm("", "x") is None
    assert table.name("market", zh=False) == "Market regulation" and table.name("nope", zh=True) is None
    with pytest.raises(ValueError):
        load_supervisors('version = "t"\n[[supervisors]]\ncategory = "x"\n')


def test_supervisor_of_reads_name_and_scope(db, xihu_firm):
    assert supervisor_of(xihu_firm, "private_fund").zh == CSRC
    assert supervisor_of(xihu_firm, "pension_rebate", "养老服务；健康咨询").code == "civil_affairs"
    assert supervisor_of(xihu_firm, "pension_rebate", "日用品销售").code == "market_regulation"
    assert supervisor_of(xihu_firm, "") is None


def test_routed_case_keeps_the_supervisor_and_the_office_is_told(db, xihu_firm):
    from qiantang.notify.models import Notification

    result = route_scores(db, [Row(xihu_firm.id, "orange", 70, category="private_fund")], as_of=FRIDAY)
    case = db.get(Case, result.opened[0])
    assert case.supervisor_code == "csrc_zhejiang" and case.supervisor_name == CSRC
    created = db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "create"))
    assert f"抄送行业主管部门：{CSRC}" in created.comment
    note = db.scalar(
        select(Notification).where(
            Notification.link == f"/cases/{case.id}", Notification.event_type == "case_assigned"
        )
    )
    assert note is not None and CSRC in note.body and "CSRC Zhejiang Bureau" in (note.body_en or "")


def test_an_open_case_without_a_supervisor_gets_it_on_the_next_run(db, xihu_firm):
    first = route_scores(db, [Row(xihu_firm.id, "yellow", 50)], as_of=FRIDAY)
    case = db.get(Case, first.opened[0])
    assert case.supervisor_name is None  # no class given: nothing to copy
    route_scores(db, [Row(xihu_firm.id, "yellow", 50, category="online_lending")], as_of=FRIDAY)
    assert case.supervisor_code == "local_finance" and case.supervisor_name == "地方金融管理部门"
    steps = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    assert [e.action for e in steps] == ["create", "supervisor"]
    assert steps[-1].comment == "抄送行业主管部门：地方金融管理部门"
    route_scores(db, [Row(xihu_firm.id, "yellow", 50, category="private_fund")], as_of=FRIDAY)
    assert case.supervisor_code == "local_finance"  # the copy already named is kept, not logged again
    assert db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)) == len(
        steps
    )


def test_case_page_export_and_firm_page_show_the_supervisor(db, clients, xihu_firm):
    case_id = route_scores(
        db, [Row(xihu_firm.id, "yellow", 55, category="private_fund")], as_of=date.today()
    ).opened[0]
    db.commit()
    xihu = clients.as_user("xihu")
    page = xihu.get(f"/cases/{case_id}").text
    assert "抄送行业主管部门" in page and f'data-testid="supervisor">{CSRC}<' in page
    xihu.get("/lang/en?next=/")
    page_en = xihu.get(f"/cases/{case_id}").text
    assert "Copy to the sector supervisor" in page_en and "CSRC Zhejiang Bureau" in page_en
    xihu.get("/lang/zh_CN?next=/")
    export = clients.as_user("admin").get("/cases/export?source=fundraising")
    rows = list(load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True))
    header = next(r for r in rows if r and "抄送行业主管部门" in r)
    col = header.index("抄送行业主管部门")
    assert any(r[0] == case_id and r[col] == CSRC for r in rows)


def test_firm_risk_page_names_the_supervisor_of_its_class(db, clients):
    run = latest_run(db)
    score = db.scalars(
        select(FirmScore).where(FirmScore.run_id == run.id, FirmScore.category == "private_fund")
    ).first()
    assert score is not None, "the demo scores private-fund firms"
    page = clients.as_user("admin").get(f"/fundraising/firms/{score.enterprise_id}")
    assert page.status_code == 200
    assert 'data-testid="supervisor"' in page.text and CSRC in page.text


def test_demo_routing_copied_supervisors(db):
    """The demo's own routing passes each score's class: its cases name a supervisor."""
    named = db.scalars(select(Case.supervisor_name).where(Case.source == "fundraising")).all()
    assert named and all(named)


def test_district_page_is_district_only(db, clients):
    firm = firm_in(db, XIHU, skip=3)
    case_id = route_scores(db, [Row(firm.id, "orange", 70, category="crypto")]).opened[0]
    db.commit()
    assert clients.as_user("binjiang").get(f"/cases/{case_id}").status_code == 403
    assert "中国人民银行浙江省分行" in clients.as_user("xihu").get(f"/cases/{case_id}").text


def test_a_tip_forwarded_on_a_watched_firm_names_its_supervisor(db):
    from qiantang.auth.models import User
    from qiantang.cases.models import CaseState
    from qiantang.enterprises.models import Enterprise
    from qiantang.fundraising import tips

    run = latest_run(db)
    score = db.scalars(
        select(FirmScore).where(FirmScore.run_id == run.id, FirmScore.category == "private_fund")
    ).first()
    firm = db.get(Enterprise, score.enterprise_id)
    for c in db.scalars(select(Case).where(Case.enterprise_id == firm.id)):
        c.state = CaseState.CLOSED  # the demo's own case on the firm: the tip opens a new one
    receipt = tips.submit_tip(
        db, firm=firm.name, what_happened="推销私募产品，承诺保本年化百分之十五，拉人入群。", ip="10.9.0.1"
    )
    admin = db.scalar(select(User).where(User.username == "admin"))
    case = tips.forward_to_case(db, tip_id=receipt.tip_id, actor=admin)
    assert case.source == "tip" and case.supervisor_name == CSRC


def test_the_firm_page_links_a_case_only_to_whom_may_open_it(db, clients):
    """A red firm's case is the city's: the district officer's firm page names the supervisor but
    does not link the case it cannot open; the city's page links it."""
    run = latest_run(db)
    score = db.scalars(
        select(FirmScore)
        .where(FirmScore.run_id == run.id, FirmScore.district_code == XIHU)
        .order_by(FirmScore.id)
    ).first()
    case_id = route_scores(db, [Row(score.enterprise_id, "red", 88, category=score.category)]).opened
    case = (
        db.get(Case, case_id[0])
        if case_id
        else db.scalars(
            select(Case).where(Case.enterprise_id == score.enterprise_id, Case.source == "fundraising")
        ).first()
    )
    db.commit()
    link = f'href="/cases/{case.id}"'
    assert clients.as_user("xihu").get(f"/cases/{case.id}").status_code == 403
    xihu = clients.as_user("xihu").get(f"/fundraising/firms/{score.enterprise_id}")
    assert xihu.status_code == 200 and 'data-testid="supervisor"' in xihu.text and link not in xihu.text
    assert link in clients.as_user("admin").get(f"/fundraising/firms/{score.enterprise_id}").text
