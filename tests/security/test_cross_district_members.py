"""Issue 12 item 14: what a district officer sees of another district's member of a guarantee group.

Decided: its district and where it sits in the group (loop size, chain above/below) — enough to
explain the risk to the officer's own firms — but not its name, USCC, exposures, importance or default
impact, which are the other district's data.
"""

from __future__ import annotations

from sqlalchemy import select

from qiantang.enterprises.models import Enterprise
from qiantang.network.models import NetworkNode

HIDDEN = {"uscc", "name", "guarantees_given_yuan", "guarantees_received_yuan", "pagerank", "impact_loss_yuan"}


def _mixed_group(db, district: str) -> int | None:
    """A group with members both in ``district`` and elsewhere."""
    rows = db.execute(
        select(NetworkNode.group_id, Enterprise.district_code)
        .join(Enterprise, Enterprise.id == NetworkNode.enterprise_id)
        .where(NetworkNode.group_id.is_not(None))
    ).all()
    groups: dict[int, set[str]] = {}
    for gid, code in rows:
        groups.setdefault(gid, set()).add(code)
    return next((g for g, codes in sorted(groups.items()) if district in codes and len(codes) > 1), None)


def test_officer_sees_position_not_data_of_other_districts_members(clients, db):
    group_id = _mixed_group(db, "330106")
    assert group_id is not None, "the demo city has a cross-district guarantee group"
    body = clients.as_user("xihu").get(f"/api/v1/network/groups/{group_id}").json()
    own = [m for m in body["members"] if m["district_code"] == "330106"]
    other = [m for m in body["members"] if m["district_code"] != "330106"]
    assert own and other
    assert all(set(m) >= HIDDEN for m in own)
    for m in other:
        assert not (HIDDEN & set(m)), m
        assert {"district_code", "loop_size", "chain_up", "chain_down"} <= set(m)
    # City staff see everything.
    city = clients.as_user("analyst").get(f"/api/v1/network/groups/{group_id}").json()
    assert all(set(m) >= HIDDEN for m in city["members"])
    page = clients.as_user("xihu").get(f"/network/groups/{group_id}")
    assert page.status_code == 200
