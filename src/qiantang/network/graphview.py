"""What the guarantee graph pages draw: nodes and links for ECharts, within the user's scope.

A district officer sees the whole shape of a group that touches its district, but firms of other
districts only as "其他区县企业" (no name, no code): the links are the point, the identities not.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise
from qiantang.enterprises.service import loans_known
from qiantang.formatting import unit_label
from qiantang.network import service
from qiantang.network.models import GuaranteeGroup, NetworkNode, NetworkRun
from qiantang.registry.service import area_names
from qiantang.standards.loan_class import LoanClass
from qiantang.web.i18n import gettext, is_zh

FULL_LIMIT = 1500  # nodes drawn when a user expands a large group
WORST_COLOURS = {"normal": "#3d85c6", "special_mention": "#e69138", "npl": "#cc0000", "none": "#9aa5b1"}


def visible_ids(scope: Scope, members) -> set[int]:
    if scope.is_citywide:
        return {e.id for _n, e in members}
    return {e.id for _n, e in members if e.district_code == scope.district_code}


def _worst_class(session: Session, ids: list[int], as_of) -> dict[int, str]:
    """Each firm's worst outstanding loan on ``as_of`` as known then: npl, special_mention, normal."""
    worst: dict[int, str] = {}
    rank = {c.value: c.rank for c in LoanClass}
    for chunk in range(0, len(ids), 5000):
        loans = loans_known(session, as_of=as_of, borrower_ids=ids[chunk : chunk + 5000])
        for borrower, cls in zip(
            loans["borrower_id"].tolist(), loans["classification"].tolist(), strict=True
        ):
            r = rank[cls]
            label = "npl" if r >= 2 else ("special_mention" if r == 1 else "normal")
            if borrower not in worst or rank_of(label) > rank_of(worst[borrower]):
                worst[borrower] = label
    return worst


def rank_of(label: str) -> int:
    return {"none": -1, "normal": 0, "special_mention": 1, "npl": 2}[label]


def _spec(
    session: Session,
    run: NetworkRun,
    firms: list[Enterprise],
    nodes: dict[int, NetworkNode],
    scope: Scope,
    focus: int | None = None,
) -> dict:
    ids = [f.id for f in firms]
    worst = _worst_class(session, ids, run.as_of)
    visible = {f.id for f in firms if scope.is_citywide or f.district_code == scope.district_code}
    top = max((n.pagerank for n in nodes.values()), default=1.0) or 1.0
    areas = area_names(session, zh=is_zh())
    spec_nodes = []
    for f in firms:
        n = nodes.get(f.id)
        shown = f.id in visible
        state = worst.get(f.id, "none")
        spec_nodes.append(
            {
                "id": str(f.id),
                "name": f.name if shown else gettext("firm of another district"),
                "uscc": f.uscc if shown else "",
                "district": areas.get(f.district_code, f.district_code),
                "state": state,
                "loop": (n.loop_size if n else 1) > 1,
                "size": 8 + 22 * ((n.pagerank / top) ** 0.5 if n else 0.0),
                "colour": WORST_COLOURS[state],
                "focus": f.id == focus,
                "impact": n.impact_defaults if n else None,
            }
        )
    links = service.group_edges(session, run=run, enterprise_ids=ids)
    biggest = max((a for _g, _b, a in links), default=1.0) or 1.0
    return {
        # The tooltip's words, in the page's language.
        "labels": {
            "unit": unit_label("万元"),
            "loop": gettext("In mutual or circular guarantees"),
            "impact": gettext("Its default alone would make %(n)s firms default", n="{n}"),
        },
        "nodes": spec_nodes,
        "links": [
            {"source": str(g), "target": str(b), "amount": a, "width": 0.6 + 5.4 * (a / biggest) ** 0.5}
            for g, b, a in links
        ],
    }


def group_graph(
    session: Session, *, run: NetworkRun, group: GuaranteeGroup, members, scope: Scope, full: bool
) -> dict:
    """Small groups whole; large ones by their core (loop members and the most central firms),
    or up to FULL_LIMIT firms when expanded."""
    if full or group.firms <= 150:
        chosen = [e for _n, e in members[:FULL_LIMIT]]
    else:
        core = set(group.core_ids)
        chosen = [e for _n, e in members if e.id in core]
    nodes = {n.enterprise_id: n for n, _e in members}
    spec = _spec(session, run, chosen, nodes, scope)
    spec["truncated"] = len(chosen) < group.firms
    spec["total"] = group.firms
    return spec


def ego_graph(session: Session, *, run: NetworkRun, enterprise: Enterprise, scope: Scope) -> dict:
    ids = service.ego_network(session, run=run, enterprise_id=enterprise.id, hops=2)
    firms = session.scalars(select(Enterprise).where(Enterprise.id.in_(ids))).all()
    nodes = {
        n.enterprise_id: n
        for n in session.scalars(
            select(NetworkNode).where(NetworkNode.run_id == run.id, NetworkNode.enterprise_id.in_(ids))
        ).all()
    }
    return _spec(session, run, list(firms), nodes, scope, focus=enterprise.id)
