"""Benchmark: guarantee-network detection, one cascade and every firm's contagion impact, on a demo DB.

Last, detection alone on every guarantee the database ever recorded, and on a random graph of 1M firms
and about 2M relations (the issue's stated scale; the city demo's distinct pairs in force are fewer).

Prints wall times, peak RSS and, side by side in the same run, the same computations with NetworkX
(or plain Python for the cascade) on a subgraph where those finish, with the speed ratio. Goals
(issue 7, this 2-core machine, `city` demo ≈ 1M firms / 2M guarantees): detection with every group
metric < 10 s; one cascade < 1 s; the impact of every firm in the 1,000 largest groups < 5 min.

    python benchmarks/network.py --database-url sqlite:////tmp/city.db
"""

from __future__ import annotations

import argparse
import resource
import time

import networkx as nx
import numpy as np

from qiantang.db import make_engine, new_session, use_engine
from qiantang.network import analysis, service
from qiantang.network.contagion import cascade, obligation_matrix


def timed(label: str, fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    print(f"  {label:<58} {seconds:8.2f} s")
    return out, seconds


def subgraph(net: service.Network, s: service.Structure, max_nodes: int) -> np.ndarray:
    """Whole groups, largest first, until ``max_nodes`` firms: the NetworkX comparison set."""
    sizes = np.bincount(s.group)
    chosen, total = [], 0
    for g in np.argsort(-sizes):
        if total + sizes[g] > max_nodes:
            continue
        chosen.append(g)
        total += sizes[g]
    return np.flatnonzero(np.isin(s.group, chosen))


def networkx_detection(g: nx.DiGraph) -> dict:
    pairs = sum(1 for u, v in g.edges if u < v and g.has_edge(v, u))
    cond = nx.condensation(g)
    return {
        "groups": nx.number_weakly_connected_components(g),
        "loops": sum(1 for c in nx.strongly_connected_components(g) if len(c) > 1),
        "pairs": pairs,
        "chain": nx.dag_longest_path_length(cond),
        "pagerank": nx.pagerank(g.reverse(copy=False), weight="weight"),
    }


def plain_cascade(g: nx.DiGraph, capacity: dict, recovery: float, seeds: list) -> int:
    defaulted = set(seeds)
    owed = dict.fromkeys(g, 0.0)
    frontier = list(seeds)
    while frontier:
        for b in frontier:
            for guarantor, _, w in g.in_edges(b, data="weight"):
                owed[guarantor] += w * (1 - recovery)
        frontier = [v for v in g if v not in defaulted and owed[v] > 0 and owed[v] > capacity[v]]
        defaulted.update(frontier)
    return len(defaulted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="sqlite:////tmp/city.db")
    parser.add_argument("--compare-nodes", type=int, default=400_000, help="largest NetworkX comparison set")
    parser.add_argument(
        "--skip-all-dates", action="store_true", help="skip detection on every guarantee ever recorded"
    )
    args = parser.parse_args()
    use_engine(make_engine(args.database_url))
    params = service.Params()
    with new_session() as session:
        print(f"Database: {args.database_url}")
        net, t_load = timed(
            "load guarantees, loans, balance sheets", service.load_network, session, params=params
        )
    print(f"  network: {net.n:,} firms, {net.edges.m:,} relations, {len(net.loans):,} loans")
    print("Detection (ours):")
    s, t_struct = timed("groups, loops, pairs, rings, chains", service.structure, net)
    metrics, t_metrics = timed(
        "per-group metrics (loans, shares, density, 联保)", service.group_metrics, net, s
    )
    rank, t_rank = timed(
        "PageRank on the exposure graph",
        analysis.pagerank,
        net.edges.dst,
        net.edges.src,
        net.edges.amount,
        net.n,
    )
    detection = t_struct + t_metrics + t_rank
    print(f"  => detection with every group metric: {detection:.2f} s (goal 10 s: {detection / 10:.0%})")
    print(
        f"     groups {s.n_groups:,}, largest {int(metrics['firms'].max()):,}, "
        f"mutual pairs {len(s.pair_a):,}, rings {int(s.rings.sum() // 3):,}, longest chain {int(s.up.max())}"
    )
    obligations = obligation_matrix(net.edges, params.recovery).tocsr()
    seed_node = int(np.argmax(rank))
    seeds = np.zeros(net.n, dtype=bool)
    seeds[seed_node] = True
    print("One cascade (ours, whole network):")
    result, t_cascade = timed(
        "threshold cascade from the highest-PageRank firm",
        cascade,
        obligations,
        net.equity * params.capacity_multiplier,
        seeds,
    )
    print(
        f"  => {int(result.defaulted.sum())} defaults in {result.rounds} rounds (goal 1 s: {t_cascade:.0%})"
    )
    print("Every firm's single-default impact (ours):")
    sizes = np.bincount(s.group)
    top1000 = np.argsort(-sizes)[:1000]
    firms_top = int(sizes[top1000].sum())
    (defaults, _loss), t_impact = timed(
        "impact of every firm of every group", service._impacts, net, s, params
    )
    print(
        f"  => {net.n:,} firms (the 1,000 largest groups hold {firms_top:,}); "
        f"goal 300 s: {t_impact / 300:.1%}"
    )

    # NetworkX on a subgraph of whole groups.
    nodes = subgraph(net, s, args.compare_nodes)
    inside = np.isin(net.edges.src, nodes) & np.isin(net.edges.dst, nodes)
    g = nx.DiGraph()
    g.add_nodes_from(nodes.tolist())
    g.add_weighted_edges_from(
        zip(
            net.edges.src[inside].tolist(),
            net.edges.dst[inside].tolist(),
            net.edges.amount[inside].tolist(),
            strict=True,
        )
    )
    print(
        f"NetworkX baseline on {g.number_of_nodes():,} firms / {g.number_of_edges():,} relations "
        "(whole groups, largest first):"
    )
    sub = analysis.Edges.build(net.n, net.edges.src[inside], net.edges.dst[inside], net.edges.amount[inside])

    def ours_sub():
        n_loops, loop = analysis.strong_components(sub)
        analysis.weak_components(sub)
        analysis.mutual_pairs(sub)
        analysis.three_cycles_per_node(sub, loop)
        analysis.chain_depths(sub, loop, n_loops)
        analysis.pagerank(sub.dst, sub.src, sub.amount, sub.n)

    _o, t_ours_sub = timed("ours: the same detection on the subgraph", ours_sub)
    nx_result, t_nx = timed(
        "networkx: components, pairs, condensation chain, pagerank", networkx_detection, g
    )
    print(
        f"  => speed ratio {t_nx / max(t_ours_sub, 1e-9):.0f}× (NetworkX groups {nx_result['groups']:,}, "
        f"pairs {nx_result['pairs']:,}, chain {nx_result['chain']})"
    )
    capacity = dict(
        zip(nodes.tolist(), (net.equity[nodes] * params.capacity_multiplier).tolist(), strict=True)
    )
    sample = nodes[np.argsort(-rank[nodes])[:200]]
    t0 = time.perf_counter()
    plain = [plain_cascade(g, capacity, params.recovery, [int(v)]) for v in sample]
    t_plain = time.perf_counter() - t0
    ours = defaults[sample]
    print(f"  {'plain Python: 200 single-firm cascades on the subgraph':<58} {t_plain:8.2f} s")
    print(
        f"  => per cascade {t_plain / len(sample) * 1000:.1f} ms plain vs "
        f"{t_impact / net.n * 1000:.3f} ms ours (whole-city batch); "
        f"results equal: {bool(np.array_equal(np.array(plain), ours))}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak RSS: {peak:,.0f} MB (load {t_load:.1f} s)")
    if not args.skip_all_dates:
        all_dates(args.database_url)
    random_graph(1_000_000, 2_000_000)


def all_dates(url: str) -> None:
    """The issue's scale: every guarantee the city demo ever recorded (≈2M relations, ≈1M firms), not
    only those in force on one date — the structure algorithms on the largest graph the data gives."""
    from sqlalchemy import select

    from qiantang.db import read_frame
    from qiantang.enterprises.models import Guarantee

    with new_session() as session:
        raw, _ = timed(
            "read every guarantee ever recorded",
            read_frame,
            session,
            select(Guarantee.guarantor_enterprise_id, Guarantee.borrower_id, Guarantee.amount).where(
                Guarantee.guarantor_enterprise_id.is_not(None)
            ),
        )
    g_ids = raw["guarantor_enterprise_id"].to_numpy(np.int64)
    b_ids = raw["borrower_id"].to_numpy(np.int64)
    ids = np.unique(np.concatenate([g_ids, b_ids]))
    edges = analysis.Edges.build(
        len(ids),
        np.searchsorted(ids, g_ids),
        np.searchsorted(ids, b_ids),
        raw["amount"].astype(float).to_numpy(),
    )
    print(
        f"Every guarantee ever recorded ({len(raw):,} rows; renewals of a pair are one relation): "
        f"{len(ids):,} firms, {edges.m:,} relations"
    )
    detect_and_report(edges)


def detect_and_report(edges: analysis.Edges) -> None:
    def detect():
        n_loops, loop = analysis.strong_components(edges)
        n_groups, _ = analysis.weak_components(edges)
        pairs = analysis.mutual_pairs(edges)
        rings = analysis.three_cycles_per_node(edges, loop)
        up, _down = analysis.chain_depths(edges, loop, n_loops)
        analysis.pagerank(edges.dst, edges.src, edges.amount, edges.n)
        return n_groups, len(pairs[0]), int(rings.sum() // 3), int(up.max())

    (groups, pairs, rings, chain), t = timed("groups, loops, pairs, rings, chains, PageRank", detect)
    print(
        f"  => {t:.2f} s (goal 10 s: {t / 10:.0%}); groups {groups:,}, pairs {pairs:,}, rings {rings:,}, "
        f"longest chain {chain}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS so far: {peak:,.0f} MB")


def random_graph(n: int, m: int) -> None:
    """The issue's stated scale (≈1M firms, ≈2M relations) on a random graph — the demo city's distinct
    guarantor → borrower pairs are fewer (renewals repeat a pair) — with 10% of edges reciprocated so that
    pairs, rings and loops exist."""
    rng = np.random.default_rng(2016)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    back = rng.random(m) < 0.1
    src = np.concatenate([src, dst[back]])
    dst = np.concatenate([dst, src[:m][back]])
    keep = src != dst
    edges = analysis.Edges.build(n, src[keep], dst[keep], rng.uniform(1e5, 1e7, int(keep.sum())))
    print(f"Random graph at the issue's scale: {n:,} firms, {edges.m:,} relations (seed 2016)")
    detect_and_report(edges)


if __name__ == "__main__":
    main()
