"""Calibration and structure checks that need the `small` city (generated once for this module)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pytest

from qiantang.demo import generate

pytestmark = pytest.mark.xdist_group("demo_small")
BSI = (
    "bank_policy",
    "bank_large",
    "bank_joint_stock",
    "bank_city",
    "bank_rural",
    "bank_village",
    "bank_private",
    "bank_foreign",
    "trust",
    "financial_leasing",
    "consumer_finance",
    "auto_finance",
    "finance_company",
    "wealth_mgmt_subsidiary",
    "amc_national",
    "securities",
    "fund_management",
    "futures",
    "securities_advisory",
    "insurance_property",
    "insurance_life",
    "insurance_asset_mgmt",
)


@pytest.fixture(scope="module")
def small():
    return generate("small")


def open_on(inst, when: str) -> np.ndarray:
    d = np.datetime64(when)
    return (inst["established_on"] <= d) & ~(inst["deregistered_on"] <= d)


def count(inst, types, when: str) -> int:
    return int((np.isin(inst["type_code"], types) & open_on(inst, when)).sum())


def test_bsi_types_match_the_reference_data():
    from qiantang.registry.reference import institution_type_rows

    assert set(BSI) == {r["code"] for r in institution_type_rows() if r["counts_as_bsi"]}


def test_plan_baseline_2015(small):
    inst = small.tables["institutions"]
    assert count(inst, BSI, "2015-12-31") == 409
    assert count(inst, ("private_fund_manager",), "2015-12-31") == 995
    ent = small.tables["enterprises"]
    exchange = np.isin(ent["listing_status"], ("listed_domestic", "listed_overseas"))
    assert int((exchange & (ent["listed_on"] <= np.datetime64("2015-12-31"))).sum()) == 118
    assert int((exchange & (ent["listed_on"] <= np.datetime64("2021-12-31"))).sum()) == 260
    neeq_2015 = int(
        ((ent["listing_status"] == "neeq") & (ent["listed_on"] <= np.datetime64("2015-12-31"))).sum()
    )
    assert neeq_2015 == round(155 * 0.1)


def test_growth_after_2015(small):
    inst = small.tables["institutions"]
    bsi = [count(inst, BSI, f"{y}-12-31") for y in range(2015, 2021)]
    assert all(5 <= b - a <= 14 for a, b in itertools.pairwise(bsi))
    est_year = inst["established_on"].astype("datetime64[Y]").astype(int) + 1970
    high = np.isin(inst["level"], ("hq", "regional_hq", "provincial_branch")) & np.isin(
        inst["type_code"], BSI
    )
    new_high = int((high & (est_year >= 2016) & (est_year <= 2020)).sum())
    assert 30 <= new_high <= 35  # the plan's target of 35 is nearly met
    pfm = [count(inst, ("private_fund_manager",), f"{y}-12-31") for y in range(2015, 2026)]
    assert 1_400 <= pfm[5] <= 1_800 and pfm[-1] > pfm[5] - 100
    pfm_exits = (inst["type_code"] == "private_fund_manager") & ~np.isnat(inst["deregistered_on"])
    assert pfm_exits.sum() > 100


def test_local_organisations_and_p2p_exit(small):
    inst = small.tables["institutions"]
    peak = {
        t: max(count(inst, (t,), f"{y}-12-31") for y in range(2015, 2026))
        for t in (
            "small_loan",
            "financing_guarantee",
            "pawnshop",
            "finance_leasing",
            "commercial_factoring",
            "p2p_lending",
        )
    }
    assert 50 <= peak["small_loan"] <= 60
    assert 40 <= peak["financing_guarantee"] <= 70
    assert 80 <= peak["pawnshop"] <= 110
    assert 100 <= peak["finance_leasing"] <= 220
    assert 50 <= peak["commercial_factoring"] <= 100
    assert 150 <= peak["p2p_lending"] <= 250
    p2p = inst["type_code"] == "p2p_lending"
    assert np.all(inst["deregistered_on"][p2p] <= np.datetime64("2020-12-31"))
    assert set(inst["status"][p2p]) <= {"deregistered", "revoked"}
    assert count(inst, ("regional_equity",), "2025-12-31") == 1
    reporter = (
        (inst["type_code"] == "small_loan")
        & (inst["district_code"] == "330106")
        & (inst["status"] == "active")
    )
    assert reporter.any()


def test_tiny_keeps_about_15_percent_and_at_least_two_of_every_type(small, tiny_city):
    from collections import Counter

    full = Counter(small.tables["institutions"]["type_code"].tolist())
    tiny = Counter(tiny_city.tables["institutions"]["type_code"].tolist())
    assert set(full) == set(tiny) and len(full) == 36
    for t, n in full.items():
        assert tiny[t] >= min(2, n), t
    assert 0.1 < sum(tiny.values()) / sum(full.values()) < 0.25


def test_npl_ratio_at_the_end_of_2025(small):
    loans = small.tables["loans"]
    live = loans["balance"] > 0
    npl = np.isin(loans["classification"], ("substandard", "doubtful", "loss"))
    ratio = loans["balance"][npl].sum() / loans["balance"][live].sum()
    assert 0.010 <= ratio <= 0.020
    watch = loans["balance"][loans["classification"] == "special_mention"].sum() / loans["balance"].sum()
    assert 0.01 <= watch <= 0.05


def guarantee_graph(small):
    g = small.tables["guarantees"]
    firm = ~np.ma.getmaskarray(g["guarantor_enterprise_id"])
    gu = g["guarantor_enterprise_id"][firm].astype(np.int64).tolist()
    bo = g["borrower_id"][firm].tolist()
    kind = g["kind"][firm].tolist()
    agreement = g["agreement_no"][firm].tolist()
    loan = g["loan_id"][firm].tolist()
    return gu, bo, kind, agreement, loan


def test_guarantee_network_motifs(small):
    gu, bo, kind, agreement, loan = guarantee_graph(small)
    edges = set(zip(gu, bo, strict=True))
    kinds = defaultdict(set)
    for a, b, k in zip(gu, bo, kind, strict=True):
        kinds[(a, b)].add(k)
    succ = defaultdict(set)
    pred = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
        pred[b].add(a)
    # 互保: both directions, labelled mutual.
    mutual = [(a, b) for a, b in edges if a < b and (b, a) in edges and "mutual" in kinds[(a, b)]]
    assert len(mutual) >= 50
    # Directed 3-rings (连环担保).
    rings = {
        tuple(sorted((a, b, c))) for a, b in edges for c in succ[b] if c not in (a, b) and (c, a) in edges
    }
    assert len(rings) >= 5
    # 联保: each member guarantees each other member's loan under one agreement number.
    groups = defaultdict(set)
    loans_of = defaultdict(set)
    for a, b, k, no, ln in zip(gu, bo, kind, agreement, loan, strict=True):
        if k == "joint":
            groups[no].add((a, b))
            loans_of[(no, b)].add(ln)
    assert len(groups) >= 20
    for no, pairs in groups.items():
        members = {x for p in pairs for x in p}
        assert 3 <= len(members) <= 5
        assert pairs == {(a, b) for a in members for b in members if a != b}
        assert all(len(loans_of[(no, m)]) == 1 for m in members)
    # 担保链: a directed path of at least 10 firms' worth of hops through single links.
    longest = 0
    for start in [n for n in succ if not pred[n] and len(succ[n]) == 1]:
        length, node, seen = 0, start, {start}
        while len(succ[node]) == 1:
            (node,) = succ[node]
            if node in seen:
                break
            seen.add(node)
            length += 1
        longest = max(longest, length)
    assert longest >= 9  # ≥ 10 firms


def test_guarantee_groups_are_heavy_tailed_and_local(small):
    gu, bo, _kind, _agreement, _loan = guarantee_graph(small)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(gu, bo, strict=True):
        parent[find(a)] = find(b)
    sizes = defaultdict(int)
    for x in list(parent):
        sizes[find(x)] += 1
    counts = sorted(sizes.values(), reverse=True)
    assert counts[0] >= 100  # the giant circle of the small city
    assert np.median(counts) <= 3  # most groups are pairs and triples
    district = small.tables["enterprises"]["district_code"]
    same = np.mean([district[a - 1] == district[b - 1] for a, b in zip(gu, bo, strict=True)])
    assert same > 0.7


def test_filings_lead_distress_without_being_the_rule(small):
    """Returns worsen in the year before 停业整顿/风险处置, but many bad returns never end in distress."""
    inst = small.tables["institutions"]
    changes = small.tables["institution_status_changes"]
    distress = defaultdict(list)
    for iid, event, when in zip(
        changes["institution_id"].tolist(),
        changes["event"].tolist(),
        changes["effective_on"].tolist(),
        strict=True,
    ):
        if event in ("suspended", "resolution"):
            distress[iid].append(np.datetime64(when))
    f = small.tables["filings"]
    before, never = [], []
    breach_never = breach_all = 0
    for iid, code, period, current, data in zip(
        f["institution_id"].tolist(),
        f["template_code"].tolist(),
        f["period_end"],
        f["is_current"].tolist(),
        f["data"].tolist(),
        strict=True,
    ):
        if not current or code in ("private_fund_manager", "p2p_lending"):
            continue
        values = json.loads(data)
        loss = values["net_profit"] < 0
        upcoming = [d for d in distress.get(iid, []) if d > period]
        if upcoming and (upcoming[0] - period).astype(int) <= 366:
            before.append(loss)
        elif iid not in distress:
            never.append(loss)
            if code == "small_loan":
                breach_all += 1
                breach_never += values["largest_borrower_balance"] > 0.1 * values["equity"]
    assert len(before) > 50 and len(never) > 1000
    assert np.mean(before) > 0.5 > np.mean(never) > 0.05
    assert breach_never > 0.03 * breach_all  # healthy firms above a limit exist
    assert len(inst["id"]) > 3_000
