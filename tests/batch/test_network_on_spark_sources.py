"""``network analyse --engine spark --source parquet|jdbc``: Spark reads the guarantees, firms,
statements and loans itself, and the stored run is the local run's."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from qiantang.errors import QiantangError
from qiantang.network import service as net_service
from tests.batch.sources import require_jdbc_driver, spark_sources
from tests.batch.test_spark_equals_local import _stored_run

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")

AS_OF = date(2025, 12, 31)
# Before the loans' as-of date: classes and balances come from the classification history.
PAST = date(2024, 9, 30)


def _assert_same_network(got, want, what: str) -> None:
    assert got.as_of == want.as_of, what
    np.testing.assert_array_equal(got.enterprise_ids, want.enterprise_ids)
    for name in ("src", "dst", "amount"):
        np.testing.assert_array_equal(getattr(got.edges, name), getattr(want.edges, name), err_msg=what)
    for name in ("district", "industry", "equity", "equity_reported"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=f"{what}: {name}")
    for name in ("raw", "loans"):
        a, b = getattr(got, name), getattr(want, name)
        assert list(a.columns) == list(b.columns), (what, name)
        # Values exactly; an id column may be int64 here and float64 there when it has NULLs, and a
        # missing text None here and NaN there.
        pd.testing.assert_frame_equal(
            _plain(a), _plain(b), check_dtype=False, rtol=0, atol=0, obj=f"{what}: {name}"
        )


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def test_the_network_read_by_spark_is_the_local_network(database, db, spark, tmp_path):
    """From a snapshot (and on PostgreSQL over JDBC), on the loans' date and on an earlier one (loan
    classes and balances from the history), the same nodes, edges, equity, guarantee rows and loans."""
    from qiantang.batch.network import read_network

    default = net_service.load_network(db)
    past = net_service.load_network(db, as_of=PAST)
    assert default.n > 50 and default.edges.m > 50 and len(default.loans) > 50
    # The history branch is exercised: some loan's class differs between the two dates.
    assert not past.loans[["id", "classification"]].equals(default.loans[["id", "classification"]])
    assert (~default.equity_reported).any() and default.equity_reported.any()
    for source, options in spark_sources(database, tmp_path):
        if source == "jdbc":
            require_jdbc_driver(spark)
        for as_of, want in ((None, default), (PAST, past)):
            got, edges = read_network(spark, source=source, as_of=as_of, session=db, **options)
            try:
                _assert_same_network(got, want, f"{source} {as_of}")
                pairs = edges.distinct().toPandas()
                assert len(pairs) == want.edges.m
            finally:
                edges.unpersist()


def test_network_analyse_from_each_source_stores_the_local_run(database, db, spark, tmp_path):
    """The groups, node rows (PageRank, impacts, chains…) and counts of the local run, from every source."""
    local = net_service.analyse(db, as_of=AS_OF)
    g_local, n_local = _stored_run(db, local)
    assert local.counts["mutual_pairs"] and local.counts["rings"] and local.counts["longest_chain"] >= 2
    for source, options in spark_sources(database, tmp_path):
        if source == "jdbc":
            require_jdbc_driver(spark)
        remote = net_service.analyse(
            db, as_of=AS_OF, engine="spark", master="local[2]", source=source, **options
        )
        assert remote.counts == local.counts, source
        assert (remote.version, remote.params, remote.as_of) == (local.version, local.params, local.as_of)
        g_remote, n_remote = _stored_run(db, remote)
        pd.testing.assert_frame_equal(g_remote, g_local, obj=f"{source}: groups")
        pd.testing.assert_frame_equal(n_remote, n_local, obj=f"{source}: nodes")


def test_a_snapshot_without_the_network_tables_is_refused(db, spark, tmp_path):
    from qiantang.batch.snapshot import export_parquet

    snapshot = tmp_path / "partial"
    export_parquet(db.get_bind().engine, snapshot, tables=("guarantees", "enterprises"))
    with pytest.raises(QiantangError) as caught:
        net_service.analyse(db, engine="spark", master="local[2]", source="parquet", snapshot=str(snapshot))
    message = caught.value.message
    assert "快照" in message and "缺少表" in message and "lacks the tables" in message
    assert "loans" in message and "enterprise_financials" in message


def test_a_source_needs_the_spark_engine(db):
    with pytest.raises(ValueError, match="--engine spark"):
        net_service.analyse(db, source="parquet", snapshot="somewhere")
