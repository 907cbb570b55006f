"""On the tiny demo city, ``fundraising run --engine spark`` stores what the local run stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

from qiantang.fundraising import features, service
from qiantang.fundraising.index import score_frame
from qiantang.fundraising.models import FirmScore, ScoreRun
from qiantang.fundraising.monitor import outside_reports

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")


def _scores(db, run_id: int) -> pd.DataFrame:
    frame = pd.read_sql(
        select(FirmScore).where(FirmScore.run_id == run_id).order_by(FirmScore.id), db.connection()
    )
    return frame.drop(columns=["id", "run_id"]).reset_index(drop=True)


def test_fundraising_run_on_spark_stores_the_local_run(db, spark):
    as_of = service.data_date(db)
    tips = outside_reports(db, as_of=as_of)
    previous = service.latest_run(db)
    assert previous is not None  # the demo's history: its red and orange firms count as flagged
    local = service.run(db, as_of=as_of, tips=tips, notify_users=False)
    expected = _scores(db, local.id)
    counts, version, firms = dict(local.counts), local.version, local.firms
    # Remove the local run so that the Spark run sees the same previous run (the flagged firms).
    db.execute(delete(FirmScore).where(FirmScore.run_id == local.id))
    db.execute(delete(ScoreRun).where(ScoreRun.id == local.id))
    db.flush()
    remote = service.run(db, as_of=as_of, tips=tips, notify_users=False, engine="spark", master="local[2]")
    got = _scores(db, remote.id)
    assert (remote.version, remote.firms, remote.counts) == (version, firms, counts)
    assert len(got) == len(expected) > 100
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(got.drop(columns="score"), expected.drop(columns="score"))
    # The shapes the Spark path computes apart are present: links, shared addresses, promised yields.
    texts = " ".join(str(r) for r in expected["reasons"])
    assert "、" in texts and (expected["grade"] != "green").any()


def test_fundraising_features_on_spark_equal_the_local_ones(db, spark):
    """Texts scanned on Spark give the local hits; the links (counts and named firms) equal SciPy's."""
    from qiantang.batch import fundraising as spark_fundraising

    local = service.load_bundle(db)
    remote = spark_fundraising.load_bundle(spark, db)
    for name in ("firms", "hits", "yields"):
        pd.testing.assert_frame_equal(getattr(remote, name), getattr(local, name), obj=name)
    as_of = service.data_date(db)
    flagged = set(local.firms.index[::7].tolist())  # many flagged firms: several links per firm
    f = features.features_as_of(local, as_of, flagged=flagged)
    links = spark_fundraising.link_frame(spark, remote, as_of, flagged=flagged)
    assert (f["linked_flagged"] > 1).sum() >= 3
    for column in links.columns:
        assert links[column].reindex(f.index).tolist() == f[column].tolist(), column
    _feats, scored = spark_fundraising.score(spark, remote, as_of, flagged=flagged)
    expected = score_frame(f)
    np.testing.assert_allclose(scored["score"], expected["score"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(scored, expected)
