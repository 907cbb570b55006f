"""In Chromium at 1366×768: a firm's risk page draws its links graph (legend, nodes) beside the table,
without script errors, in both languages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.browser.test_browser_matching import PASSWORDS, login

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def linked_firm() -> int:
    from qiantang.db import session_scope
    from qiantang.fundraising.models import FirmPerson, FirmScore, ScoreRun

    with session_scope() as s:
        run = s.scalar(select(func.max(ScoreRun.id)))
        a, b = FirmPerson.__table__.alias("a"), FirmPerson.__table__.alias("b")
        return s.scalar(
            select(a.c.enterprise_id)
            .join(b, (a.c.person_key == b.c.person_key) & (a.c.enterprise_id != b.c.enterprise_id))
            .join(FirmScore, (FirmScore.enterprise_id == a.c.enterprise_id) & (FirmScore.run_id == run))
            .order_by(a.c.enterprise_id)
            .limit(1)
        )


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_links_graph_draws_beside_its_table(page, lang):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1366, "height": 768})
    login(page, "analyst", PASSWORDS["analyst"])
    page.context.add_cookies([{"name": "lang", "value": lang, "url": page.url}])
    page.goto(f"/fundraising/firms/{linked_firm()}")
    graph = page.locator("#links-graph")
    graph.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('#links-graph canvas') !== null")
    box = graph.bounding_box()
    table = page.locator("[data-testid=linked]").bounding_box()
    assert box["width"] > 400 and box["height"] >= 400
    assert table["x"] > box["x"] + box["width"] - 1  # beside the graph, not under it
    assert page.locator("[data-testid=linked] tbody tr").count() > 0
    # Fitted to its box: every node's centre is drawn inside the graph's area (below the legend).
    page.wait_for_timeout(500)
    points = page.evaluate(
        """() => {
          const chart = echarts.getInstanceByDom(document.querySelector('#links-graph'));
          const data = chart.getModel().getSeriesByIndex(0).getData();
          const out = [];
          for (let i = 0; i < data.count(); i++) {
            out.push(chart.convertToPixel({seriesIndex: 0}, data.getItemLayout(i)));
          }
          return out;
        }"""
    )
    assert points and all(0 <= x <= box["width"] and 24 <= y <= box["height"] for x, y in points), points
    assert not errors, errors
