"""On the tiny demo city, ``ew run --engine spark`` computes and stores what the local run does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from qiantang.earlywarning import alerts as alerts_mod
from qiantang.earlywarning import service
from qiantang.earlywarning.models import Alert, EwIndicator, EwPeerBand, EwRating, EwSignal
from qiantang.results import StoredResult
from tests.batch.sources import require_jdbc_driver, spark_sources

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")


def _table(db, model, drop=("id",)) -> pd.DataFrame:
    frame = pd.read_sql(select(model).order_by(model.id), db.connection())
    return frame.drop(columns=[c for c in drop if c in frame.columns]).reset_index(drop=True)


def _stored(db) -> dict[str, pd.DataFrame]:
    out = {m.__tablename__: _table(db, m) for m in (EwIndicator, EwPeerBand, EwSignal, EwRating)}
    out["alerts"] = _table(db, Alert, drop=())  # ids are stable across runs: kept
    kinds = (service.LEVEL_HISTORY, service.DASHBOARD)
    stored = pd.read_sql(
        select(StoredResult.kind, StoredResult.district_code, StoredResult.version, StoredResult.as_of)
        .add_columns(StoredResult.payload)
        .where(StoredResult.kind.in_(kinds))
        .order_by(StoredResult.kind, StoredResult.district_code),
        db.connection(),
    )
    stored["payload"] = [json.dumps(p, sort_keys=True, default=str) for p in stored["payload"]]
    out["stored_results"] = stored
    return out


def test_early_warning_on_spark_stores_the_local_run(database, db, spark, tmp_path):
    """From each source — the database through the driver, a Parquet snapshot, PostgreSQL over JDBC —
    the Spark run stores exactly the local run's rows."""
    local = service.run(db, triggered_by="test")
    before = _stored(db)
    assert local.counts["signals"] > 1000 and local.counts["alerts"]["open"] > 0
    for source, options in spark_sources(database, tmp_path, with_db=True):
        if source == "jdbc":
            require_jdbc_driver(spark)
        remote = service.run(
            db, triggered_by="test", engine="spark", master="local[2]", source=source, **options
        )
        after = _stored(db)
        assert remote.version == local.version, source
        assert (remote.first_period, remote.last_period) == (local.first_period, local.last_period), source
        for key in ("indicators", "peer_bands", "signals", "ratings", "signals_by_family", "challenger"):
            assert remote.counts[key] == local.counts[key], (source, key)
        for key in ("institutions", "panel_rows", "filings"):
            assert remote.counts[key] == local.counts[key], (source, key)
        # The same episodes: every alert of the local run matched, none inserted, changed or deleted.
        a = remote.counts["alerts"]
        assert (a["inserted"], a["updated"], a["deleted"]) == (0, 0, 0), source
        assert (a["open"], a["cleared"]) == (
            local.counts["alerts"]["open"],
            local.counts["alerts"]["cleared"],
        )
        for name, frame in before.items():
            # Rows in the same order with the same values (numbers to 1e-9; text and levels exactly).
            pd.testing.assert_frame_equal(after[name], frame, rtol=0, atol=1e-9, obj=f"{source}: {name}")


def test_the_panel_assembled_on_spark_is_the_local_panel(database, db, spark, tmp_path):
    """The panel is shaped on the executors, bucket by bucket, by the local ``panel.build``: the same
    rows, return fields, institutions and status history as the local path reads — from every source,
    with more buckets than the executors have cores, and with one institution per bucket."""
    from pyspark.sql import functions as F

    from qiantang.batch import earlywarning as spark_ew
    from qiantang.earlywarning import panel as p
    from qiantang.earlywarning.panel import load_panel

    templates = service.Config.load().rules.templates
    local = load_panel(db, templates=templates)
    filers = local.rows.loc[local.rows["filed"], "institution_id"].unique()
    assert len(filers) > 50 and local.rows["filed"].sum() > 1000
    # Institutions that never filed make buckets without filings (the panel's own bounds still apply).
    never_filed = local.institutions.index.difference(filers)
    assert never_filed.size > 0
    for source, options in spark_sources(database, tmp_path, with_db=True):
        if source == "jdbc":
            require_jdbc_driver(spark)
        raw = spark_ew.read_sources(spark, source=source, session=db, **options)
        if source == "db":  # one institution per bucket (ids < 1,000,000), one of them without returns
            some = [int(i) for i in never_filed] + [int(i) for i in filers[:20]]
            part = {
                name: frame.where(F.col("id" if name == "institutions" else "institution_id").isin(some))
                for name, frame in raw.items()
            }
            sdf, meta, _ = spark_ew.assemble_panel(spark, part, templates=templates, buckets=1_000_000)
            tables = p.read_tables(db)
            want = p.build(
                p.Tables(
                    tables.institutions[tables.institutions["id"].isin(some)],
                    tables.events[tables.events["institution_id"].isin(some)],
                    tables.filings[tables.filings["institution_id"].isin(some)].reset_index(drop=True),
                    tables.disputes[tables.disputes["institution_id"].isin(some)],
                ),
                templates=templates,
            )
            sub, _ = spark_ew.sub_panel(sdf.toPandas(), meta)
            _assert_rows_equal(sub.rows, want.rows, "one institution per bucket")
            pd.testing.assert_frame_equal(sub.fields, want.fields, check_dtype=False)
        # A few institutions per bucket, more buckets than cores.
        sdf, meta, panel = spark_ew.assemble_panel(spark, raw, templates=templates, buckets=3)
        sub, grow = spark_ew.sub_panel(sdf.toPandas(), meta)  # the whole panel from the executors' rows
        np.testing.assert_array_equal(grow, np.arange(len(local.rows)))
        for got in (sub.rows, panel.rows):  # the executors' rows and the driver's copy
            _assert_rows_equal(got, local.rows, source)
        assert meta.fields == list(local.fields.columns)
        pd.testing.assert_frame_equal(sub.fields, local.fields, check_dtype=False, obj=source)
        assert (panel.first_pq, panel.last_pq, panel.templates) == (
            local.first_pq,
            local.last_pq,
            local.templates,
        )
        _assert_rows_equal(panel.institutions, local.institutions, f"{source}: institutions")
        _assert_rows_equal(panel.events, local.events, f"{source}: events")


def _assert_rows_equal(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    """Equal index, columns and values; dates compared as instants (PostgreSQL's date objects parse to
    seconds, text to microseconds)."""
    assert got.index.tolist() == want.index.tolist(), what
    assert list(got.columns) == list(want.columns), what
    for column in want.columns:
        a, b = got[column], want[column]
        if pd.api.types.is_datetime64_any_dtype(b.dtype):  # the unit may differ (text vs date objects)
            a, b = a.astype("datetime64[ns]"), b.astype("datetime64[ns]")
        assert a.isna().tolist() == b.isna().tolist(), (what, column)
        assert a[b.notna()].tolist() == b[b.notna()].tolist(), (what, column)


def test_early_warning_computation_on_spark_equals_the_local_one(db, spark):
    """The in-memory results too: signals with their evidence, ratings, the challenger's PDs."""
    from qiantang.batch import earlywarning as spark_ew

    a = service.compute(db)
    b = spark_ew.compute(spark, db)
    pd.testing.assert_frame_equal(b.long, a.long.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(b.bands, a.bands.reset_index(drop=True), check_dtype=False)
    sa, sb = a.signals.reset_index(drop=True), b.signals
    assert len(sa) == len(sb)
    for column in sa.columns:
        if column in ("value", "threshold", "usage"):
            x = pd.to_numeric(sa[column], errors="coerce").to_numpy(np.float64)
            y = pd.to_numeric(sb[column], errors="coerce").to_numpy(np.float64)
            np.testing.assert_array_equal(y, x)
        else:
            assert sb[column].tolist() == sa[column].tolist(), column
    np.testing.assert_array_equal(b.ratings.rows, a.ratings.rows)
    np.testing.assert_allclose(b.ratings.score, a.ratings.score, rtol=0, atol=1e-9)
    assert list(b.ratings.level) == list(a.ratings.level)
    assert b.ratings.dimensions == a.ratings.dimensions and b.ratings.reasons == a.ratings.reasons
    np.testing.assert_allclose(b.challenger.pd_values, a.challenger.pd_values, rtol=0, atol=1e-9)
    assert b.challenger.summary() == a.challenger.summary()
    latest = a.panel.last_pq
    assert alerts_mod.episodes(b.panel, b.signals, latest) == alerts_mod.episodes(a.panel, a.signals, latest)
