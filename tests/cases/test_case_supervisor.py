"""A case whose subject is an enterprise may name the sector's supervisor to copy (抄送行业主管部门):
kept with the case, in its opening step, on its page (both languages) and in the Excel export."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from qiantang.cases import service
from qiantang.cases.models import CaseEvent, CaseSource
from qiantang.earlywarning.models import Level
from qiantang.enterprises.models import Enterprise
from tests.cases.conftest import TODAY, XIHU


def _firm(db) -> Enterprise:
    return db.scalars(
        select(Enterprise).where(Enterprise.district_code == XIHU).order_by(Enterprise.id)
    ).first()


def _open(db, **kw):
    return service.open_enterprise_case(
        db,
        enterprise=_firm(db),
        level=Level.YELLOW,
        source=CaseSource.FUNDRAISING,
        title="测试企业：非法集资风险指数 50 分（黄色）",
        today=TODAY,
        **kw,
    )


def test_supervisor_is_kept_logged_shown_and_exported(db, clients):
    case = _open(db, supervisor_code="market_regulation", supervisor_name="市场监督管理部门")
    db.commit()
    assert case.supervisor_label(zh=True) == "市场监督管理部门"
    assert case.supervisor_label(zh=False) == "Market regulation department"
    opened = db.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "create"))
    assert "抄送行业主管部门：市场监督管理部门" in opened.comment
    c = clients.as_user("xihu")
    assert 'data-testid="supervisor">市场监督管理部门<' in c.get(f"/cases/{case.id}").text
    c.get("/lang/en?next=/")
    assert 'data-testid="supervisor">Market regulation department<' in c.get(f"/cases/{case.id}").text
    c.get("/lang/zh_CN?next=/")
    rows = list(load_workbook(io.BytesIO(c.get("/cases/export").content)).active.iter_rows(values_only=True))
    header = next(r for r in rows if r and "抄送行业主管部门" in r)
    assert next(r for r in rows if r[0] == case.id)[header.index("抄送行业主管部门")] == "市场监督管理部门"


def test_without_a_supervisor_nothing_is_shown(db, clients):
    case = _open(db)
    db.commit()
    assert case.supervisor_name is None and case.supervisor_text is None
    assert 'data-testid="supervisor"' not in clients.as_user("xihu").get(f"/cases/{case.id}").text


def test_a_name_without_a_known_code_is_shown_as_given(db):
    case = _open(db, supervisor_code="gone", supervisor_name="某主管部门")
    assert case.supervisor_label(zh=False) == "某主管部门"
