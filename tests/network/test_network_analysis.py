"""Guarantee-network structure and contagion on hand-computed networks, and against NetworkX."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from qiantang.network.analysis import (
    Edges,
    chain_depths,
    mutual_pairs,
    pagerank,
    strong_components,
    three_cycles_per_node,
    weak_components,
)
from qiantang.network.contagion import NEVER, cascade, debtrank, obligation_matrix


def edges(n, pairs, amounts=None):
    src = [a for a, _ in pairs]
    dst = [b for _, b in pairs]
    return Edges.build(n, src, dst, amounts if amounts is not None else [1.0] * len(pairs))


# A hand-drawn network of 12 firms:
#   0 ⇄ 1              a mutual pair (互保)
#   1 → 2 → 3 → 1      a three-firm ring through the pair's member 1, so {0,1,2,3} is one loop core
#   4 → 0              a guarantor above the core
#   5 → 4              … and one above it: chain 5 → 4 → core
#   3 → 6 → 7          a chain hanging below the core
#   8 ⇄ 9, 9 ⇄ 10, 10 ⇄ 8   a nested circle: three mutual pairs, two directed 3-rings
#   11                  alone
HAND = [
    (0, 1),
    (1, 0),
    (1, 2),
    (2, 3),
    (3, 1),
    (4, 0),
    (5, 4),
    (3, 6),
    (6, 7),
    (8, 9),
    (9, 8),
    (9, 10),
    (10, 9),
    (10, 8),
    (8, 10),
]


def test_groups_loops_pairs_rings_chains_by_hand():
    e = edges(12, HAND)
    n_weak, weak = weak_components(e)
    assert n_weak == 3  # {0..7}, {8, 9, 10}, {11}
    assert len({weak[i] for i in range(8)}) == 1 and weak[8] == weak[9] == weak[10] != weak[0]
    n_strong, strong = strong_components(e)
    core = {strong[i] for i in (0, 1, 2, 3)}
    assert len(core) == 1 and strong[4] not in core and strong[6] not in core
    a, b = mutual_pairs(e)
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (8, 9), (8, 10), (9, 10)]
    rings = three_cycles_per_node(e, strong)
    assert rings[[1, 2, 3]].tolist() == [1, 1, 1] and rings[0] == 0  # 0 is in the loop core, not in the ring
    assert rings[[8, 9, 10]].tolist() == [2, 2, 2]  # both orientations of the complete triangle
    assert rings.sum() // 3 == 3
    up, down = chain_depths(e, strong, n_strong)
    # Guarantors above: 7 ← 6 ← core ← 4 ← 5 gives 4 hops above firm 7.
    assert up[7] == 4 and up[6] == 3 and up[0] == 2 and up[5] == 0
    assert down[5] == 4 and down[7] == 0
    assert up[11] == down[11] == 0


def test_repeated_guarantees_are_summed_and_self_guarantees_dropped():
    e = Edges.build(3, [0, 0, 1, 2, 2], [1, 1, 1, 2, 0], [5.0, 7.0, 3.0, 9.0, 4.0])
    assert list(zip(e.src.tolist(), e.dst.tolist(), e.amount.tolist(), strict=True)) == [
        (0, 1, 12.0),
        (2, 0, 4.0),
    ]


def test_cascade_that_stops_part_way():
    # 0 defaults. 1 and 2 guarantee 0's loans (100 each), 3 guarantees 1 (100), 4 guarantees 2 (100).
    # Recovery 0.4 → each call costs 60. Capacities: 1 → 50 (falls), 2 → 80 (survives), 3 → 50 (falls),
    # 4 → 10 (would fall, but 2 never defaults, so 4 is never called).
    e = edges(5, [(1, 0), (2, 0), (3, 1), (4, 2)], [100.0, 100.0, 100.0, 100.0])
    result = cascade(
        obligation_matrix(e, 0.4),
        np.array([1e9, 50.0, 80.0, 50.0, 10.0]),
        np.array([True, False, False, False, False]),
    )
    assert result.round_defaulted.tolist() == [0, 1, NEVER, 2, NEVER]
    assert result.rounds == 2
    assert result.owed.tolist() == pytest.approx([0.0, 60.0, 60.0, 60.0, 0.0])


def test_cascade_around_a_mutual_pair_and_batched_scenarios():
    # 0 ⇄ 1 guarantee each other for 100; capacity 30 each; recovery 0.5 → a call of 50 > 30.
    e = edges(3, [(0, 1), (1, 0), (2, 1)], [100.0, 100.0, 10.0])
    obligations = obligation_matrix(e, 0.5)
    capacity = np.array([30.0, 30.0, 30.0])
    seeds = np.array([[True, False, False], [False, False, False], [False, False, True]])  # 3 scenarios
    result = cascade(obligations, capacity, seeds)
    assert result.round_defaulted[:, 0].tolist() == [0, 1, NEVER]  # 0 brings down 1; 2 owes 5 < 30
    assert result.round_defaulted[:, 1].tolist() == [NEVER, NEVER, NEVER]  # no seed, nothing happens
    assert result.round_defaulted[:, 2].tolist() == [NEVER, NEVER, 0]  # 2 guarantees nobody who fails


def test_debtrank_is_bounded_and_zero_without_links():
    e = edges(3, [(1, 0), (2, 1)], [50.0, 50.0])
    r, h = debtrank(
        obligation_matrix(e, 0.0), np.array([100.0, 100.0, 100.0]), np.ones(3), np.array([1.0, 0.0, 0.0])
    )
    # 1 loses 50/100 = 0.5 of its equity; 2 then loses 0.5 × 50/100 = 0.25 → R = (0.5 + 0.25) / 3.
    assert h.tolist() == pytest.approx([1.0, 0.5, 0.25])
    assert r == pytest.approx(0.75 / 3)
    r0, _ = debtrank(obligation_matrix(edges(3, []), 0.0), np.ones(3), np.ones(3), np.array([1.0, 0, 0]))
    assert r0 == 0.0


def random_graph(seed: int, n: int = 60, m: int = 140, reciprocity: float = 0.25):
    rng = random.Random(seed)
    pairs = set()
    while len(pairs) < m:
        a, b = rng.randrange(n), rng.randrange(n)
        if a == b:
            continue
        pairs.add((a, b))
        if rng.random() < reciprocity:
            pairs.add((b, a))
    pairs = sorted(pairs)
    amounts = [rng.uniform(1, 100) for _ in pairs]
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from((a, b, w) for (a, b), w in zip(pairs, amounts, strict=True))
    return edges(n, pairs, amounts), g


@pytest.mark.parametrize("seed", range(25))
def test_identical_to_networkx_on_random_graphs(seed):
    e, g = random_graph(seed, n=40 + seed, m=80 + 3 * seed)
    n_weak, weak = weak_components(e)
    assert n_weak == nx.number_weakly_connected_components(g)
    assert {frozenset(np.flatnonzero(weak == c)) for c in range(n_weak)} == {
        frozenset(c) for c in nx.weakly_connected_components(g)
    }
    n_strong, strong = strong_components(e)
    assert {frozenset(np.flatnonzero(strong == c)) for c in range(n_strong)} == {
        frozenset(c) for c in nx.strongly_connected_components(g)
    }
    a, b = mutual_pairs(e)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == {
        (u, v) for u, v in g.edges if u < v and g.has_edge(v, u)
    }
    rings = three_cycles_per_node(e, strong)
    nx_rings = [c for c in nx.simple_cycles(g, length_bound=3) if len(c) == 3]
    assert rings.sum() == 3 * len(nx_rings)
    per_node = np.zeros(e.n, dtype=int)
    for c in nx_rings:
        per_node[c] += 1
    assert rings.tolist() == per_node.tolist()
    up, _down = chain_depths(e, strong, n_strong)
    cond = nx.condensation(g)
    assert up.max() == nx.dag_longest_path_length(cond)
    ranks = pagerank(e.dst, e.src, e.amount, e.n)  # the exposure graph: borrower → guarantor
    exposure = nx.DiGraph()
    exposure.add_nodes_from(range(e.n))
    exposure.add_weighted_edges_from((b, a, w) for a, b, w in g.edges(data="weight"))
    expected = nx.pagerank(exposure, weight="weight", tol=1e-12, max_iter=500)
    assert ranks.tolist() == pytest.approx([expected[i] for i in range(e.n)], abs=1e-8)


def reference_cascade(g: nx.DiGraph, capacity, recovery, seeds):
    """A plain-Python cascade to check the vectorised one against."""
    defaulted = {s: 0 for s in seeds}
    owed = {v: 0.0 for v in g}
    frontier, rnd = list(seeds), 0
    while frontier:
        rnd += 1
        for b in frontier:
            for guarantor, _, w in g.in_edges(b, data="weight"):
                owed[guarantor] += w * (1 - recovery)
        frontier = [v for v in g if v not in defaulted and owed[v] > capacity[v]]
        for v in frontier:
            defaulted[v] = rnd
    return defaulted


@pytest.mark.parametrize("seed", range(15))
def test_cascade_matches_a_plain_implementation(seed):
    e, g = random_graph(seed, n=50, m=120)
    rng = np.random.default_rng(seed)
    capacity = rng.uniform(5, 80, size=e.n)
    seeds = rng.choice(e.n, size=3, replace=False)
    mask = np.zeros(e.n, dtype=bool)
    mask[seeds] = True
    result = cascade(obligation_matrix(e, 0.3), capacity, mask)
    expected = reference_cascade(g, capacity, 0.3, list(seeds))
    got = {i: int(r) for i, r in enumerate(result.round_defaulted) if r != NEVER}
    assert got == expected


def test_chains_on_a_network_larger_than_int32_keys():
    # 70,000 components: component label × component count exceeds 2³¹, which once overflowed and
    # turned the condensation into a graph with cycles (the relaxation then never converged).
    n = 140_000
    src = np.arange(0, n, 2)
    e = Edges.build(n, src, src + 1, np.ones(len(src)))
    n_strong, strong = strong_components(e)
    up, down = chain_depths(e, strong, n_strong)
    assert up.max() == 1 and down.max() == 1


def test_a_firm_with_negative_net_assets_fails_only_when_called():
    # 2 has negative net assets but guarantees nobody who defaults: it must not "default" by itself.
    e = edges(3, [(1, 0), (2, 1)], [10.0, 10.0])
    result = cascade(obligation_matrix(e, 0.5), np.array([5.0, 100.0, -3.0]), np.array([True, False, False]))
    assert result.round_defaulted.tolist() == [0, NEVER, NEVER]
