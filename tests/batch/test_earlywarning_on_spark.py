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


def test_early_warning_on_spark_stores_the_local_run(db, spark):
    local = service.run(db, triggered_by="test")
    before = _stored(db)
    remote = service.run(db, triggered_by="test", engine="spark", master="local[2]")
    after = _stored(db)
    assert remote.version == local.version
    assert (remote.first_period, remote.last_period) == (local.first_period, local.last_period)
    for key in ("indicators", "peer_bands", "signals", "ratings", "signals_by_family", "challenger"):
        assert remote.counts[key] == local.counts[key], key
    # The same episodes: every alert of the local run matched, none inserted, changed or deleted.
    a = remote.counts["alerts"]
    assert (a["inserted"], a["updated"], a["deleted"]) == (0, 0, 0)
    assert (a["open"], a["cleared"]) == (local.counts["alerts"]["open"], local.counts["alerts"]["cleared"])
    assert local.counts["signals"] > 1000 and local.counts["alerts"]["open"] > 0
    for name, frame in before.items():
        # Rows in the same order with the same values (indicators rounded to 1e-6 as stored).
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


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
