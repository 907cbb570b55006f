"""On the tiny demo city, every batch job run on Spark stores what the single-machine path stores."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from qiantang.credit import registry
from qiantang.credit.models import CreditModel, ModelKind
from qiantang.credit.service import batch_score
from qiantang.network import service as net_service
from qiantang.network.models import GuaranteeGroup, NetworkNode
from tests.batch.sources import stored_scores

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")

AS_OF = date(2025, 12, 31)


def test_graph_structure_on_spark_equals_scipy(db, spark):
    from qiantang.batch import graph

    net = net_service.load_network(db)
    local = net_service.structure(net)
    remote = graph.structure(spark, net)
    assert remote.n_groups == local.n_groups
    np.testing.assert_array_equal(remote.group, local.group)
    np.testing.assert_array_equal(remote.loop_size, local.loop_size)
    np.testing.assert_array_equal(remote.rings, local.rings)
    np.testing.assert_array_equal(remote.up, local.up)
    np.testing.assert_array_equal(remote.down, local.down)
    np.testing.assert_array_equal(remote.pair_a, local.pair_a)
    np.testing.assert_array_equal(remote.pair_b, local.pair_b)
    assert remote.n_loops == local.n_loops
    # The demo has every shape the tests compare: pairs, rings, loops and chains.
    assert len(local.pair_a) and local.rings.sum() and (local.loop_size > 2).any() and local.up.max() >= 2


def _stored_run(db, run):
    groups = pd.read_sql(
        select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id).order_by(GuaranteeGroup.id),
        db.connection(),
    )
    first = groups["id"].min()
    groups = groups.drop(columns=["run_id"]).assign(id=groups["id"] - first)
    nodes = pd.read_sql(
        select(NetworkNode).where(NetworkNode.run_id == run.id).order_by(NetworkNode.enterprise_id),
        db.connection(),
    )
    nodes = nodes.drop(columns=["id", "run_id"]).assign(group_id=nodes["group_id"] - first)
    return groups.reset_index(drop=True), nodes.reset_index(drop=True)


def test_network_analyse_on_spark_stores_the_local_run(db, spark):
    local = net_service.analyse(db, as_of=AS_OF)
    remote = net_service.analyse(db, as_of=AS_OF, engine="spark", master="local[2]")
    assert remote.counts == local.counts and remote.version == local.version
    assert remote.params == local.params and remote.as_of == local.as_of
    g_local, n_local = _stored_run(db, local)
    g_remote, n_remote = _stored_run(db, remote)
    pd.testing.assert_frame_equal(g_remote, g_local)
    pd.testing.assert_frame_equal(n_remote, n_local)


def _assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a["enterprise_id"], b["enterprise_id"])
    np.testing.assert_allclose(a["score"], b["score"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(a["pd"], b["pd"], rtol=0, atol=1e-9)
    assert a["grade"].tolist() == b["grade"].tolist()
    assert a["reasons"].tolist() == b["reasons"].tolist()


def test_credit_scoring_on_spark_stores_the_local_scores(db, spark):
    champion = registry.champion(db, "all")  # the demo's scorecard
    batch_score(db, as_of=AS_OF, monitor_after=False)
    local = stored_scores(db, champion.id, AS_OF)
    batch_score(db, as_of=AS_OF, monitor_after=False, engine="spark", master="local[2]")
    _assert_same_scores(stored_scores(db, champion.id, AS_OF), local)


def test_lightgbm_scoring_on_spark_stores_the_local_scores(db, spark):
    challenger = db.scalar(select(CreditModel).where(CreditModel.kind == ModelKind.LIGHTGBM))
    registry.promote(db, model_id=challenger.id, by="test")
    db.flush()
    batch_score(db, as_of=AS_OF, monitor_after=False)
    local = stored_scores(db, challenger.id, AS_OF)
    batch_score(db, as_of=AS_OF, monitor_after=False, engine="spark", master="local[2]")
    _assert_same_scores(stored_scores(db, challenger.id, AS_OF), local)


def _sorted_cells(cells: pd.DataFrame) -> pd.DataFrame:
    from qiantang.statistics.service import DIMS

    keys = ["period_end", *DIMS, "measure"]
    out = cells.assign(period_end=pd.to_datetime(cells["period_end"]).dt.date)
    out = out.astype({d: str for d in DIMS}).astype({"value": float})
    return out.sort_values(keys).reset_index(drop=True)[[*keys, "value"]]


def test_statistics_cells_on_spark_equal_the_local_cells(db, spark):
    from qiantang.batch import statistics as spark_statistics
    from qiantang.statistics import service as stats

    last = stats.last_period_with_data(db)
    periods = stats.quarter_ends(stats.FIRST_PERIOD, last)
    local = _sorted_cells(stats.compute_cells(db, period_ends=periods))
    remote = _sorted_cells(spark_statistics.compute_cells(spark, db, period_ends=periods))
    assert len(local) > 1000 and local["measure"].nunique() > 8  # registry and filing measures
    pd.testing.assert_frame_equal(remote.drop(columns="value"), local.drop(columns="value"))
    np.testing.assert_allclose(remote["value"], local["value"], rtol=1e-12, atol=1e-9)
    # The refresh stores them: the same number of cells either way.
    assert stats.refresh(db, engine="spark", master="local[2]").cells == len(local)


def test_group_metrics_on_spark_equal_the_local_ones(db, spark):
    from qiantang.batch import graph

    net = net_service.load_network(db)
    s = net_service.structure(net)
    local = net_service.group_metrics(net, s)
    e = net.edges
    edges = spark.createDataFrame(
        pd.DataFrame({"src": e.src, "dst": e.dst, "amount": e.amount}),
        schema="src long, dst long, amount double",
    )
    nodes, pairs = graph.structure_frames(edges)
    remote = graph.group_frame(edges, nodes, pairs).toPandas()
    # Groups of firms on an edge, numbered by their smallest node as scipy numbers them.
    remote["group"] = s.group[remote["root"].to_numpy()]
    remote = remote.set_index("group").sort_index()
    expected = local.loc[remote.index]
    assert len(remote) == (local["firms"] > 1).sum()
    for column in (
        "firms",
        "guarantees",
        "mutual_pairs",
        "rings",
        "loop_firms",
        "largest_loop",
        "longest_chain",
    ):
        np.testing.assert_array_equal(remote[column].to_numpy(np.int64), expected[column].to_numpy(np.int64))
    for column in ("total_guaranteed", "density"):
        np.testing.assert_allclose(remote[column], expected[column], rtol=1e-12)


def test_pagerank_on_spark_equals_the_local_one(db, spark):
    from qiantang.batch import graph
    from qiantang.network import analysis

    net = net_service.load_network(db)
    e = net.edges
    # As network analyse calls it: rank flows from the borrower to its guarantor. A few rounds (a
    # Spark round is a job): stopped by max_iter, and by the tolerance.
    for options in ({"max_iter": 6}, {"tol": 5e-4}):
        local = analysis.pagerank(e.dst, e.src, e.amount, net.n, **options)
        remote = graph.pagerank(spark, e.dst, e.src, e.amount, net.n, **options)
        np.testing.assert_allclose(remote, local, rtol=1e-12, atol=1e-15)
    dangling = np.bincount(e.dst, weights=e.amount, minlength=net.n) == 0  # no outgoing weight
    assert abs(remote.sum() - 1.0) < 1e-12 and dangling.any()
