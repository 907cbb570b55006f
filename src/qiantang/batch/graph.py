"""Guarantee-network structure on Spark: the same groups, loops, pairs, rings and chains as
:func:`qiantang.network.service.structure`, from a Spark DataFrame of edges.

- **Groups** (weakly connected components) by the large-star / small-star algorithm of Kiveris,
  Lattanzi, Mirrokni, Rastogi and Vassilvitskii, "Connected Components in MapReduce and Beyond"
  (ACM SoCC 2014, doi:10.1145/2670979.2670997), written as DataFrame joins and aggregations. Each
  component's label is its smallest node; groups are then numbered in the order of that node, which
  is how ``scipy.sparse.csgraph.connected_components`` numbers them, so group ids equal the local
  path's.
- **Mutual pairs** (互保) by the reciprocal-edge self-join; **three-firm rings** by the two-path join
  closed by a third edge (each directed triangle is found once from each of its three firms).
- **Strong components and chains** (担保链) within each group: a group is independent of the others,
  so a grouped pandas UDF runs scipy's strong components and the longest-path sweep through the
  condensation (the local path's :func:`qiantang.network.analysis.chain_depths`) on buckets of whole
  groups, spread over the executors. A group larger than one executor's memory would need a
  distributed strong-components algorithm instead (none is built).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_ROUNDS = 100


def _undirected(edges):
    """Distinct undirected pairs (a < b) of an edge frame with columns src, dst."""
    from pyspark.sql import functions as F

    return (
        edges.where(F.col("src") != F.col("dst"))
        .select(F.least("src", "dst").alias("a"), F.greatest("src", "dst").alias("b"))
        .distinct()
    )


def _large_star(pairs):
    """Large-star: each node u links every larger neighbour to the smallest of Γ(u) ∪ {u}."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    both = pairs.select(F.col("a").alias("u"), F.col("b").alias("v")).unionByName(
        pairs.select(F.col("b").alias("u"), F.col("a").alias("v"))
    )
    m = F.least(F.min("v").over(Window.partitionBy("u")), F.col("u"))
    out = both.withColumn("m", m).where(F.col("v") > F.col("u"))
    return (
        out.select(F.least("v", "m").alias("a"), F.greatest("v", "m").alias("b"))
        .where(F.col("a") != F.col("b"))
        .distinct()
    )


def _small_star(pairs):
    """Small-star: each node u links itself and its smaller neighbours to the smallest of them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # Oriented u = larger end, v = smaller end; N(u) = the smaller neighbours.
    oriented = pairs.select(F.col("b").alias("u"), F.col("a").alias("v"))
    m = F.min("v").over(Window.partitionBy("u"))
    with_m = oriented.withColumn("m", m)
    links = with_m.select(F.col("v").alias("x"), "m").unionByName(with_m.select(F.col("u").alias("x"), "m"))
    return (
        links.select(F.least("x", "m").alias("a"), F.greatest("x", "m").alias("b"))
        .where(F.col("a") != F.col("b"))
        .distinct()
    )


def _fingerprint(pairs) -> tuple:
    """(count, sum of 64-bit hashes) of a set of pairs: equal fingerprints mean an unchanged set
    (but for a 64-bit hash collision), in one aggregation instead of two set differences."""
    from pyspark.sql import functions as F

    row = pairs.agg(F.count("*").alias("n"), F.sum(F.xxhash64("a", "b").cast("decimal(38,0)")).alias("h"))
    first = row.first()
    return int(first["n"]), int(first["h"] or 0)


def connected_components(edges, *, max_rounds: int = MAX_ROUNDS):
    """Weak components of the edges (columns src, dst; node ids are longs): a frame (node, root) for
    every node that has an edge to another node, root being the component's smallest node.

    Rounds of large-star then small-star until a round changes nothing (Kiveris et al. 2014,
    Algorithm "Alternating"); each round's pairs are checkpointed locally to cut the plan's lineage.
    A round "changes nothing" when its pairs have the same count and hash sum as the last round's.
    """
    from pyspark.sql import functions as F

    pairs = _undirected(edges).localCheckpoint()
    before = _fingerprint(pairs)
    for _ in range(max_rounds):
        pairs = _small_star(_large_star(pairs)).localCheckpoint()
        after = _fingerprint(pairs)
        if after == before:
            break
        before = after
    else:  # pragma: no cover - O(log² n) rounds in theory, a handful in practice
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    # Converged: stars. Each pair links a leaf b to its root a (the component's smallest node).
    leaves = pairs.select(F.col("b").alias("node"), F.col("a").alias("root"))
    roots = pairs.select(F.col("a").alias("node"), F.col("a").alias("root"))
    return leaves.unionByName(roots).distinct()


def mutual_pairs(edges):
    """Pairs (a, b), a < b, that guarantee each other."""
    from pyspark.sql import functions as F

    e1, e2 = edges.alias("e1"), edges.alias("e2")
    return (
        e1.join(e2, (F.col("e1.src") == F.col("e2.dst")) & (F.col("e1.dst") == F.col("e2.src")))
        .where(F.col("e1.src") < F.col("e1.dst"))
        .select(F.col("e1.src").alias("a"), F.col("e1.dst").alias("b"))
    )


def rings_per_node(edges):
    """Directed three-firm rings through each node (node, rings); nodes without rings are absent."""
    from pyspark.sql import functions as F

    # Only firms that both give and receive a guarantee can lie on a ring.
    both = (
        edges.select(F.col("src").alias("node"))
        .distinct()
        .join(edges.select(F.col("dst").alias("node")).distinct(), "node")
    )
    e = edges.join(both.withColumnRenamed("node", "src"), "src").join(
        both.withColumnRenamed("node", "dst"), "dst"
    )
    e1 = e.select(F.col("src").alias("x"), F.col("dst").alias("y"))
    e2 = e.select(F.col("src").alias("y"), F.col("dst").alias("z"))
    e3 = e.select(F.col("src").alias("z"), F.col("dst").alias("x"))
    closed = e1.join(e2, "y").where(F.col("z") != F.col("x")).join(e3, ["z", "x"])
    return closed.groupBy(F.col("x").alias("node")).agg(F.count("*").alias("rings"))


def _loops_and_chains(frame: pd.DataFrame) -> pd.DataFrame:
    """The edges (root, src, dst) of one bucket of whole groups → each node's strong component, its
    size and its chain depths. Several groups at once give the same answer as one at a time: a
    strong component or a chain never leaves its weak component."""
    from qiantang.network import analysis

    src_all, dst_all = frame["src"].to_numpy(), frame["dst"].to_numpy()
    nodes = np.unique(np.concatenate([src_all, dst_all]))
    src = np.searchsorted(nodes, src_all)
    dst = np.searchsorted(nodes, dst_all)
    roots = np.empty(len(nodes), dtype=np.int64)
    roots[src] = frame["root"].to_numpy()
    roots[dst] = frame["root"].to_numpy()
    e = analysis.Edges(len(nodes), src, dst, np.ones(len(src)))
    n_loops, loop = analysis.strong_components(e)
    up, down = analysis.chain_depths(e, loop, n_loops)
    return pd.DataFrame(
        {
            "node": nodes.astype(np.int64),
            "root": roots,
            "loop": loop.astype(np.int64),
            "loop_size": np.bincount(loop, minlength=n_loops)[loop].astype(np.int64),
            "up": up.astype(np.int64),
            "down": down.astype(np.int64),
        }
    )


LOOP_SCHEMA = "node long, root long, loop long, loop_size long, up long, down long"


def structure_frames(edges):
    """Spark frames of the structure of a distinct, self-loop-free edge frame (src, dst, …):
    ``nodes`` (node, root, loop, loop_size, up, down, rings) for every node on an edge, and
    ``pairs`` (a, b) of mutual guarantees."""
    from pyspark.sql import functions as F

    edges = edges.select("src", "dst").where(F.col("src") != F.col("dst")).distinct()
    components = connected_components(edges)
    grouped = edges.join(components.withColumnRenamed("node", "src"), "src")
    # Whole groups in buckets (a few per core), not one pandas call per group: most groups are pairs.
    buckets = max(2, 2 * edges.sparkSession.sparkContext.defaultParallelism)
    loops = grouped.withColumn("bucket", F.pmod(F.xxhash64("root"), F.lit(buckets))).groupBy("bucket")
    loops = loops.applyInPandas(lambda f: _loops_and_chains(f.drop(columns="bucket")), schema=LOOP_SCHEMA)
    rings = rings_per_node(edges)
    nodes = loops.join(rings, "node", "left").withColumn("rings", F.coalesce("rings", F.lit(0)))
    return nodes, mutual_pairs(edges)


def structure(spark, net):
    """:func:`qiantang.network.service.structure` computed on Spark for a loaded network: the same
    :class:`~qiantang.network.service.Structure` (group numbers as scipy's; loop labels may differ,
    their sizes and everything derived from them do not)."""
    e = net.edges
    frame = pd.DataFrame({"src": e.src.astype(np.int64), "dst": e.dst.astype(np.int64)})
    return structure_of(net, spark.createDataFrame(frame, schema="src long, dst long"))


def structure_of(net, edges, *, by_enterprise: bool = False):
    """The :class:`~qiantang.network.service.Structure` of ``net`` from a Spark edge frame (src, dst)
    of its guarantees: node numbers (0…n−1) or, with ``by_enterprise``, enterprise ids — as Spark
    read them from a snapshot or over JDBC (:func:`qiantang.batch.network.read_network`). Enterprise
    ids map to nodes in the same order (the nodes are the sorted ids), so a group's smallest id is
    its smallest node and the numbering is the same."""
    from qiantang.network.service import Structure

    n = net.n
    nodes, pairs = structure_frames(edges)
    got = nodes.toPandas()
    pair_frame = pairs.toPandas()
    if by_enterprise:
        for frame, columns in ((got, ("node", "root")), (pair_frame, ("a", "b"))):
            for column in columns:
                frame[column] = net.node_of(frame[column].to_numpy(np.int64))
    # Every node on no edge (a firm whose only guarantee is of itself) is a group and a loop alone.
    root = np.arange(n, dtype=np.int64)
    loop_size = np.ones(n, dtype=np.int64)
    up = np.zeros(n, dtype=np.int64)
    down = np.zeros(n, dtype=np.int64)
    rings = np.zeros(n, dtype=np.int64)
    idx = got["node"].to_numpy(np.int64)
    root[idx] = got["root"].to_numpy(np.int64)
    loop_size[idx] = got["loop_size"].to_numpy(np.int64)
    up[idx] = got["up"].to_numpy(np.int64)
    down[idx] = got["down"].to_numpy(np.int64)
    rings[idx] = got["rings"].to_numpy(np.int64)
    # Groups numbered by their smallest node, as scipy numbers weak components.
    _, group = np.unique(root, return_inverse=True)
    n_groups = int(group.max()) + 1 if n else 0
    # Loops: (root, local loop) pairs numbered; nodes on no edge are loops of their own.
    keys = np.full(n, -1, dtype=np.int64)
    keys[idx] = got["loop"].to_numpy(np.int64)
    loop_ids = pd.MultiIndex.from_arrays([root, np.where(keys >= 0, keys, np.arange(n))])
    loop = pd.factorize(loop_ids)[0].astype(np.int64)
    pair_order = np.lexsort((pair_frame["b"].to_numpy(), pair_frame["a"].to_numpy()))
    return Structure(
        n_groups=n_groups,
        group=group.astype(np.int64),
        n_loops=int(loop.max()) + 1 if n else 0,
        loop=loop,
        loop_size=loop_size,
        rings=rings,
        pair_a=pair_frame["a"].to_numpy(np.int64)[pair_order],
        pair_b=pair_frame["b"].to_numpy(np.int64)[pair_order],
        up=up,
        down=down,
    )


def group_frame(edges, nodes, pairs):
    """The structural metrics of each group (one row per root) as the local
    :func:`qiantang.network.service.group_metrics` computes them: firms, guarantees (distinct
    relations), total_guaranteed, mutual_pairs, rings, loop_firms, largest_loop, longest_chain and
    density. ``edges`` has src, dst and amount (several rows per relation are summed); ``nodes`` and
    ``pairs`` come from :func:`structure_frames`. The loan-based metrics (balances, 关注/不良 shares,
    联保 agreements) need the loans and stay with the driver."""
    from pyspark.sql import functions as F

    relations = (
        edges.where(F.col("src") != F.col("dst")).groupBy("src", "dst").agg(F.sum("amount").alias("amount"))
    )
    roots = nodes.select(F.col("node").alias("src"), "root")
    by_edges = (
        relations.join(roots, "src")
        .groupBy("root")
        .agg(F.count("*").alias("guarantees"), F.sum("amount").alias("total_guaranteed"))
    )
    by_nodes = nodes.groupBy("root").agg(
        F.count("*").alias("firms"),
        (F.sum("rings") / 3).cast("long").alias("rings"),
        F.sum((F.col("loop_size") > 1).cast("long")).alias("loop_firms"),
        F.max("loop_size").alias("largest_loop"),
        F.max("up").alias("longest_chain"),
    )
    by_pairs = (
        pairs.join(roots.withColumnRenamed("src", "a"), "a")
        .groupBy("root")
        .agg(F.count("*").alias("mutual_pairs"))
    )
    out = by_nodes.join(by_edges, "root", "left").join(by_pairs, "root", "left")
    out = out.fillna(0, subset=["guarantees", "mutual_pairs"]).fillna(0.0, subset=["total_guaranteed"])
    possible = F.col("firms") * (F.col("firms") - 1)
    return out.withColumn(
        "density", F.when(possible > 0, F.col("guarantees") / possible).otherwise(F.lit(0.0))
    )


def pagerank_frame(
    spark,
    edges,
    n: int,
    *,
    alpha: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 200,
):
    """Weighted PageRank of nodes 0…n−1 by power iteration as joins: a Spark frame (node, rank).

    The iteration of :func:`qiantang.network.analysis.pagerank`: each node's rank is spread over its
    out-edges in proportion to their weight (``edges``: src, dst, weight), the rank of nodes without
    outgoing weight (dangling) is spread uniformly, and the rest teleports with 1 − ``alpha``; it stops
    when the L1 change is below ``n · tol``. Each round is one join and one aggregation, its result
    ``localCheckpoint``ed so that the plan does not grow; the dangling mass and the change are two
    aggregations read by the driver. Sums run in another order than scipy's, so the ranks equal the
    local ones to rounding (the tests: 1e-12), not bit for bit.
    """
    from pyspark.sql import functions as F

    out_weight = edges.groupBy("src").agg(F.sum("weight").alias("ow"))
    transition = (
        edges.join(out_weight, "src")
        .where(F.col("ow") > 0)
        .select("src", "dst", (F.col("weight") / F.col("ow")).alias("norm"))
        .localCheckpoint()
    )
    # Each node with its dangling flag (no outgoing weight).
    nodes = (
        spark.range(n)
        .withColumnRenamed("id", "node")
        .join(out_weight.where(F.col("ow") > 0), F.col("node") == F.col("src"), "left")
        .select("node", F.col("src").isNull().alias("dangling"))
        .localCheckpoint()
    )
    rank = nodes.select("node", "dangling", F.lit(1.0 / n).alias("rank"))
    mass = rank.where("dangling").agg(F.sum("rank")).first()[0] or 0.0
    for _ in range(max_iter):
        incoming = (
            transition.join(rank.select("node", "rank"), transition.src == rank.node)
            .groupBy("dst")
            .agg(F.sum(F.col("norm") * F.col("rank")).alias("s"))
        )
        base = (alpha * mass + 1.0 - alpha) / n
        spread = (
            nodes.join(incoming, nodes.node == incoming.dst, "left")
            .select(
                "node",
                "dangling",
                (F.lit(alpha) * F.coalesce("s", F.lit(0.0)) + F.lit(base)).alias("rank"),
            )
            .localCheckpoint()
        )
        # One aggregation: the L1 change, and the dangling mass of the next round.
        change, mass = (
            spread.alias("a")
            .join(rank.select("node", F.col("rank").alias("old")), "node")
            .agg(
                F.sum(F.abs(F.col("rank") - F.col("old"))),
                F.sum(F.when(F.col("dangling"), F.col("rank")).otherwise(F.lit(0.0))),
            )
            .first()
        )
        rank = spread
        if change < n * tol:
            break
    return rank.select("node", "rank")


def pagerank(
    spark,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n: int,
    *,
    alpha: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> np.ndarray:
    """:func:`qiantang.network.analysis.pagerank` (same arguments) computed on Spark."""
    if n == 0:
        return np.zeros(0)
    edges = spark.createDataFrame(
        pd.DataFrame(
            {
                "src": np.asarray(src, dtype=np.int64),
                "dst": np.asarray(dst, dtype=np.int64),
                "weight": np.asarray(weight, dtype=np.float64),
            }
        ),
        schema="src long, dst long, weight double",
    )
    ranks = pagerank_frame(spark, edges, n, alpha=alpha, tol=tol, max_iter=max_iter).toPandas()
    out = np.zeros(n)
    out[ranks["node"].to_numpy(np.int64)] = ranks["rank"].to_numpy(np.float64)
    return out
