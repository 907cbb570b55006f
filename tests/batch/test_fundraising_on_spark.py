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
from tests.batch.sources import require_jdbc_driver, spark_sources

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


def _drop_run(db, run_id: int) -> None:
    db.execute(delete(FirmScore).where(FirmScore.run_id == run_id))
    db.execute(delete(ScoreRun).where(ScoreRun.id == run_id))
    db.flush()


def test_fundraising_on_spark_from_a_snapshot_or_jdbc_stores_the_local_run(database, db, spark, tmp_path):
    """Spark reads the index's tables itself — from a snapshot, from PostgreSQL over JDBC — and the
    stored run is the local one: scores to 1e-9, grades, sub-scores, reasons, version and counts."""
    from qiantang.batch import fundraising as spark_fundraising

    as_of = service.data_date(db)
    tips = outside_reports(db, as_of=as_of)
    assert tips  # the demo has tips and disputes about unlicensed firms
    local = service.run(db, as_of=as_of, tips=tips, notify_users=False)
    expected = _scores(db, local.id)
    counts, version, firms = dict(local.counts), local.version, local.firms
    _drop_run(db, local.id)
    assert (expected["grade"] != "green").any() and expected["reasons"].map(len).sum() > 100
    for source, options in spark_sources(database, tmp_path):
        if source == "jdbc":
            require_jdbc_driver(spark)
        read = spark_fundraising.reader(spark, source=source, session=db, tips=True, **options)
        # The tips and disputes counted by Spark are the local ones.
        assert spark_fundraising.outside_reports(spark, read, db, as_of=as_of) == tips, source
        remote = service.run(
            db,
            as_of=as_of,
            tips=tips,
            notify_users=False,
            engine="spark",
            master="local[2]",
            source=source,
            **options,
        )
        got = _scores(db, remote.id)
        assert (remote.version, remote.firms, remote.counts) == (version, firms, counts), source
        assert len(got) == len(expected) > 100, source
        np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-9, err_msg=source)
        pd.testing.assert_frame_equal(got.drop(columns="score"), expected.drop(columns="score"), obj=source)
        _drop_run(db, remote.id)


def test_fundraising_links_from_spark_frames_equal_the_local_ones(database, db, spark, tmp_path):
    """With many flagged firms (several links per firm), the links Spark computes from the snapshot's
    tables — counts, the three names, dishonest people — are those of the local SciPy product."""
    from qiantang.batch import fundraising as spark_fundraising
    from qiantang.batch.snapshot import export_parquet

    snapshot = tmp_path / "snapshot"
    export_parquet(database.engine, snapshot, tables=spark_fundraising.TABLES)
    local = service.load_bundle(db)
    as_of = service.data_date(db)
    flagged = set(local.firms.index[::7].tolist())
    f = features.features_as_of(local, as_of, flagged=flagged)
    read = spark_fundraising.reader(spark, source="parquet", snapshot=snapshot)
    frames = spark_fundraising.read_frames(read)
    links = spark_fundraising.link_frames(spark, frames, as_of, flagged=flagged).toPandas()
    links = links.set_index("enterprise_id").reindex(f.index)
    assert (f["linked_flagged"] > 1).sum() >= 3 and (f["person_dishonest"] > 0).any()
    for column in ("linked_flagged", "linked_text", "person_dishonest"):
        assert links[column].tolist() == f[column].tolist(), column
    _feats, scored = spark_fundraising.score_frames(spark, frames, as_of, flagged=flagged)
    expected = score_frame(f)
    np.testing.assert_allclose(scored["score"], expected["score"], rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(scored, expected, check_names=False)


def test_a_snapshot_lacking_a_table_is_refused_in_chinese_and_english(database, db, spark, tmp_path):
    from qiantang.batch.snapshot import export_parquet
    from qiantang.errors import QiantangError

    snapshot = tmp_path / "snapshot"
    export_parquet(database.engine, snapshot, tables=("enterprises", "fr_profiles"))
    with pytest.raises(QiantangError) as caught:
        service.run(
            db, notify_users=False, engine="spark", master="local[2]", source="parquet", snapshot=snapshot
        )
    message = str(caught.value.message)
    assert "快照" in message and "fr_texts" in message and "lacks the tables" in message
    assert "fr_people" in caught.value.message_en
