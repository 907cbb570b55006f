"""The network run on the demo database: stored groups and measures, scope, scenarios, imports, pages."""

from __future__ import annotations

import io
from datetime import date

import networkx as nx
import numpy as np
import pytest
from openpyxl import Workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise, Guarantee, Loan
from qiantang.errors import Forbidden, ValidationFailed
from qiantang.network import imports, service
from qiantang.network.models import ContagionScenario, GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.registry.models import Area

XIHU = "330106"


@pytest.fixture
def run(db) -> NetworkRun:
    """The run the demo loader made, or one made now (inside the test's transaction)."""
    return service.latest_run(db) or service.analyse(db)


def in_force(db, as_of: date):
    rows = db.execute(
        select(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id, Guarantee.amount).where(
            Guarantee.guarantor_enterprise_id.is_not(None),
            Guarantee.start_date <= as_of,
            (Guarantee.end_date.is_(None)) | (Guarantee.end_date >= as_of),
        )
    ).all()
    g = nx.DiGraph()
    for a, b, w in rows:
        if a != b:
            g.add_edge(a, b, weight=g.get_edge_data(a, b, {}).get("weight", 0) + float(w))
    return g


def test_stored_groups_match_networkx_on_the_demo(db, run):
    g = in_force(db, run.as_of)
    groups = db.scalars(select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id)).all()
    assert len(groups) == nx.number_weakly_connected_components(g)
    assert sorted(x.firms for x in groups) == sorted(len(c) for c in nx.weakly_connected_components(g))
    assert sum(x.mutual_pairs for x in groups) == sum(1 for u, v in g.edges if u < v and g.has_edge(v, u))
    assert run.counts["firms"] == g.number_of_nodes()
    nodes = db.scalar(select(func.count()).select_from(NetworkNode).where(NetworkNode.run_id == run.id))
    assert nodes == g.number_of_nodes()


def test_group_loan_totals_are_the_members_loans(db, run):
    group = db.scalars(
        select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id).order_by(GuaranteeGroup.firms.desc())
    ).first()
    members = [n.enterprise_id for n, _e in service.group_members(db, group=group)]
    total = (
        db.scalar(select(func.sum(Loan.balance)).where(Loan.borrower_id.in_(members), Loan.balance > 0)) or 0
    )
    assert group.total_loans == pytest.approx(float(total))
    assert group.reasons and group.risk_level in ("red", "orange", "yellow", "green")


def test_impact_of_a_firm_equals_a_single_scenario(db, run):
    node = db.scalars(
        select(NetworkNode)
        .where(NetworkNode.run_id == run.id, NetworkNode.impact_defaults > 1)
        .order_by(NetworkNode.impact_defaults.desc())
    ).first()
    if node is None:
        pytest.skip("no firm in the tiny city brings down another on its own")
    (scenario,) = service.run_scenarios(
        db, run=run, specs=[service.ScenarioSpec(name="t", kind="firms", firm_ids=(node.enterprise_id,))]
    )
    assert scenario.results["firms_defaulted"] == node.impact_defaults
    assert scenario.results["loss_total"] == pytest.approx(node.impact_loss, rel=1e-6)
    assert sum(b["loss"] for b in scenario.results["loss_by_district"]) == pytest.approx(
        node.impact_loss, rel=1e-6
    )


def test_industry_shock_and_batched_scenarios(db, run):
    specs = [
        service.ScenarioSpec(name="C 50%", kind="industry", target="C", equity_loss=0.5),
        service.ScenarioSpec(name="C 99%", kind="industry", target="C", equity_loss=0.99),
        service.ScenarioSpec(name="nothing", kind="firms", firm_ids=()),
    ]
    light, heavy, none = service.run_scenarios(db, run=run, specs=specs)
    # Losing 99% of net assets leaves every manufacturer in the network below 5% of its total assets
    # (net assets never exceed total assets), so each one is an initial default.
    in_network = set(in_force(db, run.as_of).nodes)
    manufacturers = db.scalars(
        select(Enterprise.id).where(Enterprise.industry_section == "C", Enterprise.total_assets > 0)
    ).all()
    expected = len(in_network.intersection(manufacturers))
    assert expected > 0
    assert heavy.results["initial_defaults"] == expected
    assert heavy.results["firms_defaulted"] >= max(expected, light.results["firms_defaulted"])
    assert light.results["initial_defaults"] <= expected
    assert heavy.results["loss_total"] >= light.results["loss_total"]
    assert none.results["firms_defaulted"] == 0 and none.results["loss_total"] == 0
    assert 0 <= light.results["debtrank_total"] <= heavy.results["debtrank_total"] <= 1
    assert 0 <= light.results["debtrank"] <= light.results["debtrank_total"]


def test_district_officer_sees_groups_touching_its_district_only(db, run):
    scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    rows, total = service.list_groups(db, scope=scope, run=run, limit=10_000)
    assert total > 0 and all(XIHU in g.districts for g in rows)
    outside = db.scalars(select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id)).all()
    other = next(g for g in outside if XIHU not in g.districts)
    with pytest.raises(Forbidden):
        service.get_group(db, scope=scope, group_id=other.id)


def guarantee_file(rows) -> bytes:
    wb = Workbook()
    wb.active.append([c.header_zh for c in imports.COLUMNS])
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_guarantee_import_rejects_every_bad_row_and_writes_nothing(db):
    loan, borrower = db.execute(
        select(Loan, Enterprise).join(Enterprise, Enterprise.id == Loan.borrower_id).limit(1)
    ).one()
    other = db.scalars(select(Enterprise).where(Enterprise.id != borrower.id).limit(1)).one()
    before = db.scalar(select(func.count()).select_from(Guarantee))
    amount_wan = loan.amount / 1e4
    bad = guarantee_file(
        [
            [
                other.uscc,
                borrower.uscc,
                loan.contract_no,
                amount_wan / 2,
                "单向",
                None,
                date(2025, 1, 1),
                None,
            ],  # fine
            [borrower.uscc, borrower.uscc, loan.contract_no, 1, "单向", None, date(2025, 1, 1), None],  # self
            [
                other.uscc,
                borrower.uscc,
                loan.contract_no,
                0,
                "互保",
                None,
                date(2025, 1, 1),
                None,
            ],  # amount ≤ 0
            [
                other.uscc,
                borrower.uscc,
                loan.contract_no,
                amount_wan * 2,
                "单向",
                None,
                date(2025, 1, 1),
                None,
            ],
            ["91350100M000100Y43", borrower.uscc, "NO-SUCH-LOAN", 1, "联保", None, date(2025, 1, 1), None],
        ]
    )
    with pytest.raises(ValidationFailed) as info:
        imports.import_guarantees(db, content=bad, filename="g.xlsx", actor=None)
    messages = {(e.row, e.column): e.message for e in info.value.errors}
    assert "自我担保" in messages[(3, "担保人统一社会信用代码")]
    assert "应大于 0" in messages[(4, "担保金额（万元）")]
    assert "超过所担保贷款的金额" in messages[(5, "担保金额（万元）")]
    assert "未登记的企业" in messages[(6, "担保人统一社会信用代码")]
    assert "未登记的贷款合同" in messages[(6, "贷款合同号")]
    assert "联保协议号" in messages[(6, "联保协议号")]
    assert db.scalar(select(func.count()).select_from(Guarantee)) == before
    good = guarantee_file(
        [[other.uscc, borrower.uscc, loan.contract_no, amount_wan / 2, "单向", None, date(2025, 1, 1), None]]
    )
    assert imports.import_guarantees(db, content=good, filename="g.xlsx", actor=None) == 1
    stored = db.scalars(select(Guarantee).order_by(Guarantee.id.desc()).limit(1)).one()
    assert stored.amount == pytest.approx(round(loan.amount / 2, 2)) and stored.loan_id == loan.id


def test_pages_api_and_pdf(clients, db, run):
    c = clients.as_user("analyst")
    page = c.get("/network")
    assert page.status_code == 200 and 'data-testid="groups"' in page.text
    group = db.scalars(
        select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id).order_by(GuaranteeGroup.firms.desc())
    ).first()
    r = c.get(f"/network/groups/{group.id}")
    assert r.status_code == 200 and "data-graph=" in r.text
    api = c.get(f"/api/v1/network/groups/{group.id}").json()
    assert api["firms"] == group.firms and len(api["members"]) == group.firms
    pdf = c.get(f"/network/groups/{group.id}/report.pdf")
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"担保圈 #{group.id}" in text and "风险判断" in text
    # Districts are named, not coded, on the page and in the report.
    names = [db.get(Area, code).name_zh for code in group.districts]
    assert all(n in r.text for n in names) and f"涉及区县：{'、'.join(names)}" in text
    member = api["members"][0]
    ego = c.get(f"/network/enterprises/{member['uscc']}")
    assert ego.status_code == 200


def test_scenario_form_and_scope(clients, db, run):
    c = clients.as_user("analyst")
    r = c.post(
        "/network/scenarios",
        data={
            "kind": "industry",
            "target": "C",
            "equity_loss": "60",
            "recovery": "40",
            "capacity_multiplier": "1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    scenario_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert "违约" in c.get(r.headers["location"]).text
    bad = c.post("/network/scenarios", data={"kind": "industry", "target": "C", "equity_loss": "abc"})
    assert bad.status_code == 422 and "应为数字" in bad.text
    xihu = clients.as_user("xihu")
    assert xihu.get(f"/network/scenarios/{scenario_id}").status_code == 403
    assert clients.as_user("reporter").get("/network").status_code == 403
    assert db.scalar(select(func.count()).select_from(ContagionScenario)) >= 1


def test_district_officer_graph_hides_other_districts_firms(clients, db, run):
    groups = db.scalars(select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id)).all()
    mixed = next((g for g in groups if XIHU in g.districts and len(g.districts) > 1), None)
    if mixed is None:
        pytest.skip("no cross-district group touches 西湖区 in the tiny city")
    api = clients.as_user("xihu").get(f"/api/v1/network/groups/{mixed.id}").json()
    outside = [m for m in api["members"] if m["district_code"] != XIHU]
    assert outside and all("name" not in m and "uscc" not in m for m in outside)
    assert np.all([("name" in m) for m in api["members"] if m["district_code"] == XIHU])


def test_summary_cards_cover_the_groups_the_list_shows(db, clients, run):
    """City-wide the cards are the run's counts, and the stored groups add up to them; for a district
    they cover only the groups touching it — the same groups its list shows."""
    city = service.summary_counts(db, scope=Scope.system(), run=run)
    assert city == {k: v for k, v in run.counts.items() if k != "by_district"}
    groups = db.scalars(select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id)).all()
    assert sum(g.firms for g in groups) == city["firms"]
    assert sum(g.mutual_pairs for g in groups) == city["mutual_pairs"]
    xihu_scope = Scope(role=Role.DISTRICT_OFFICER, district_code=XIHU)
    district = service.summary_counts(db, scope=xihu_scope, run=run)
    _rows, total = service.list_groups(db, scope=xihu_scope, run=run, limit=100_000)
    mine = [g for g in groups if XIHU in (g.districts or [])]
    assert district["groups"] == len(mine) >= total > 0
    assert district["firms"] == sum(g.firms for g in mine) < city["firms"]
    assert district["largest_group"] == max(g.firms for g in mine)
    assert district["rings"] == sum(g.rings for g in mine)
    assert district["longest_chain"] == max(g.longest_chain for g in mine)
    # The figures stored at analysis time equal the sums over the stored groups (the older path).
    stored = dict(run.counts)
    run.counts = {k: v for k, v in stored.items() if k != "by_district"}
    assert service.summary_counts(db, scope=xihu_scope, run=run) == district
    run.counts = stored
    # A district no group touches gets zeros, not an error.
    empty = service.summary_counts(
        db, scope=Scope(role=Role.DISTRICT_OFFICER, district_code="330199"), run=run
    )
    assert set(empty.values()) == {0}
    html = clients.as_user("xihu").get("/network").text
    assert 'data-testid="cards-scope"' in html
    cards = html.split('data-testid="network-cards"')[1].split("</div>\n</div>")[0]
    assert f'<div class="v">{district["firms"]}</div>' in cards
    assert f'<div class="v">{city["firms"]}</div>' not in cards
