"""The case pages read in Chinese."""

from __future__ import annotations

from qiantang.cases import service
from qiantang.earlywarning.models import Level
from tests.cases.conftest import TODAY, XIHU


def test_pages_read_in_chinese(clients, db, make_alert):
    case = service.open_case(db, alert=make_alert(XIHU, Level.RED), today=TODAY)
    db.commit()
    c = clients.as_user("analyst")
    board = c.get("/cases").text
    assert "看板" in board and "预警等级" in board and "待核实" in board
    page = c.get(f"/cases/{case.id}").text
    assert "预警依据" in page and "办理记录" in page and "责令整改" not in page  # not offered from 待核实
    assert "开始核实" in page and "认定误报" in page and "共享给区县金融办" in page
