"""Guarantee-network outputs: API dictionaries, scenario charts and the printable group report."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qiantang.enterprises.models import Enterprise, Loan
from qiantang.network import graphview, service
from qiantang.network.models import ContagionScenario, GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.registry.models import Institution
from qiantang.reports import render_pdf


def group_dict(g: GuaranteeGroup) -> dict:
    return {
        "id": g.id,
        "risk_level": g.risk_level,
        "risk_level_zh": service.LEVEL_ZH[g.risk_level],
        "reasons": g.reasons,
        "firms": g.firms,
        "guarantees": g.guarantees,
        "total_loans_yuan": g.total_loans,
        "total_guaranteed_yuan": g.total_guaranteed,
        "mutual_pairs": g.mutual_pairs,
        "rings": g.rings,
        "loop_firms": g.loop_firms,
        "largest_loop": g.largest_loop,
        "joint_groups": g.joint_groups,
        "longest_chain": g.longest_chain,
        "density": g.density,
        "special_mention_share": g.special_mention_share,
        "npl_share": g.npl_share,
        "districts": g.districts,
    }


def member_dict(n: NetworkNode, e: Enterprise, visible: bool) -> dict:
    """One member of a group. A member outside the user's scope (another district's firm) shows only
    where it sits — its district, its loop and chain position — never its identity, exposures,
    importance or default impact: those are the other district's data (docs/security.md)."""
    base = {
        "district_code": e.district_code,
        "loop_size": n.loop_size,
        "chain_up": n.chain_up,
        "chain_down": n.chain_down,
    }
    if visible:
        base.update(
            {
                "uscc": e.uscc,
                "name": e.name,
                "guarantees_given_yuan": n.guarantees_given,
                "guarantees_received_yuan": n.guarantees_received,
                "pagerank": n.pagerank,
                "impact_defaults": n.impact_defaults,
                "impact_loss_yuan": n.impact_loss,
            }
        )
    return base


def scenario_charts(s: ContagionScenario, area_names: dict[str, str]) -> dict:
    r = s.results
    return {
        "rounds": {
            "kind": "bar",
            "title": "各轮违约企业数",
            "categories": [f"第{i}轮" for i in range(len(r["rounds"]))],
            "series": [{"name": "违约企业", "data": r["rounds"]}],
        },
        "districts": {
            "kind": "bar",
            "title": "各区县贷款损失（万元）",
            "categories": [area_names.get(d, d) for d in (x["district_code"] for x in r["loss_by_district"])],
            "series": [{"name": "损失", "data": [round(d["loss"] / 1e4, 2) for d in r["loss_by_district"]]}],
        },
    }


def _graph_svg(spec: dict) -> str:
    """A static drawing of a (small) group for the printed report: spring layout, Matplotlib."""
    import networkx as nx

    from qiantang.reports import _matplotlib

    plt = _matplotlib()
    g = nx.DiGraph()
    for node in spec["nodes"]:
        g.add_node(node["id"], **node)
    for link in spec["links"]:
        g.add_edge(link["source"], link["target"], width=link["width"])
    pos = nx.spring_layout(g, seed=7, k=None)  # a fixed seed: the same group prints the same way
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    nx.draw_networkx_edges(
        g,
        pos,
        ax=ax,
        width=[g.edges[e]["width"] / 2 for e in g.edges],
        alpha=0.5,
        arrows=True,
        arrowsize=6,
        edge_color="#7f8c8d",
    )
    nx.draw_networkx_nodes(
        g,
        pos,
        ax=ax,
        node_size=[g.nodes[n]["size"] * 6 for n in g.nodes],
        node_color=[g.nodes[n]["colour"] for n in g.nodes],
        linewidths=0.5,
        edgecolors="#333",
    )
    if len(g) <= 40:
        labels = {n: g.nodes[n]["name"][:8] for n in g.nodes}
        nx.draw_networkx_labels(
            g, pos, ax=ax, labels=labels, font_size=6, font_family=plt.rcParams["font.family"][0]
        )
    ax.axis("off")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def group_pdf(
    session: Session, *, run: NetworkRun, group: GuaranteeGroup, members, scope, demo: bool
) -> bytes:
    """The printable report for the meeting that coordinates the group's handling (Chinese)."""
    from qiantang.registry.service import area_names
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    visible = graphview.visible_ids(scope, members)
    ids = [e.id for _n, e in members]
    by_bank = (
        session.execute(
            select(Institution.name, func.count(Loan.id), func.sum(Loan.balance))
            .join(Institution, Institution.id == Loan.lender_id)
            .where(Loan.borrower_id.in_(ids), Loan.balance > 0)
            .group_by(Institution.name)
            .order_by(func.sum(Loan.balance).desc())
            .limit(30)
        ).all()
        if len(ids) <= 20_000
        else []
    )
    spec = graphview.group_graph(session, run=run, group=group, members=members, scope=scope, full=False)
    drawing = _graph_svg(spec) if len(spec["nodes"]) <= 400 else None
    token = set_locale("zh_CN")
    try:
        html = (
            environment()
            .get_template("network/report.html")
            .render(
                group=group,
                run=run,
                members=members[:60],
                visible=visible,
                by_bank=by_bank,
                drawing=drawing,
                demo=demo,
                today=date.today(),
                level_zh=service.LEVEL_ZH,
                area_names=area_names(session),
                truncated=spec.get("truncated"),
            )
        )
    finally:
        _current.reset(token)
    return render_pdf(html)
