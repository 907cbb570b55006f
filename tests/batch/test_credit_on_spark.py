"""On the tiny demo city, ``credit score --engine spark --source parquet|jdbc`` — Spark reading the
tables and building the features itself — stores what the local run stores."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from qiantang.credit import features as feats
from qiantang.credit import registry
from qiantang.credit.models import CreditModel, CreditMonitoring, ModelKind
from qiantang.credit.service import _grade_kind, batch_score
from qiantang.results import StoredResult
from tests.batch.sources import require_jdbc_driver, spark_sources, stored_scores

# One SparkSession (one JVM) for all Spark tests: they share a worker under `pytest -n --dist loadgroup`.
pytestmark = pytest.mark.xdist_group("spark")

AS_OF = date(2025, 12, 31)


def _reader(spark, db, source, options):
    from qiantang.batch import credit as spark_credit
    from qiantang.batch.sources import table_reader

    if source == "jdbc":
        require_jdbc_driver(spark)
    return table_reader(spark, source=source, tables=spark_credit.TABLES, session=db, **options)


def test_the_raw_data_read_by_spark_is_read_raw(database, db, spark, tmp_path):
    """Spark's selects and aggregates over the snapshot or JDBC give read_raw's frame, and so the
    same features — at the demo's date and a year before it (other statements and contracts)."""
    from qiantang.batch import credit as spark_credit

    for as_of in (AS_OF, date(2024, 12, 31)):
        local = feats.read_raw(db.connection(), as_of=as_of).frame
        # The demo has every case the aggregates handle.
        assert local["mutual_guarantee"].any() and (local["guarantee_given"] > 0).any()
        assert local["fin_year"].isna().any() and (local["loan_count"] == 0).any()
        assert (local["outstanding"] > 0).any() and (local["loan_count"] > local["outstanding"]).any()
        for source, options in spark_sources(database, tmp_path):
            read = _reader(spark, db, source, options)
            got = spark_credit.raw_frame(read, as_of).toPandas()
            got = got.sort_values("enterprise_id").reset_index(drop=True)[list(local.columns)]
            pd.testing.assert_frame_equal(got, local, check_dtype=False, rtol=0, atol=0, obj=source)
            pd.testing.assert_frame_equal(
                feats.compute_features(got, as_of), feats.compute_features(local, as_of), obj=source
            )


def _grades(db, model_id) -> dict:
    rows = db.execute(
        select(StoredResult.district_code, StoredResult.payload).where(
            StoredResult.kind == _grade_kind(model_id)
        )
    ).all()
    return {d: p for d, p in rows}


def _monitoring(db, model_id) -> CreditMonitoring:
    return db.scalars(
        select(CreditMonitoring)
        .where(CreditMonitoring.model_id == model_id)
        .order_by(CreditMonitoring.id.desc())
        .limit(1)
    ).one()


def _stored(db, model_ids) -> dict:
    return {m: (stored_scores(db, m, AS_OF), _grades(db, m), _monitoring(db, m)) for m in model_ids}


def _assert_same_scores(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert len(a) == len(b) > 0, what
    np.testing.assert_array_equal(a["enterprise_id"], b["enterprise_id"], err_msg=what)
    np.testing.assert_allclose(a["score"], b["score"], rtol=0, atol=1e-9, err_msg=what)
    np.testing.assert_allclose(a["pd"], b["pd"], rtol=0, atol=1e-9, err_msg=what)
    assert a["grade"].tolist() == b["grade"].tolist(), what
    assert a["reasons"].tolist() == b["reasons"].tolist(), what


def _assert_same_monitoring(a: CreditMonitoring, b: CreditMonitoring, what: str) -> None:
    assert a.id != b.id and a.as_of == b.as_of, what
    assert (a.population_rows, a.status) == (b.population_rows, b.status), what
    assert a.psi_score == pytest.approx(b.psi_score, abs=1e-9), what
    assert a.psi_features == pytest.approx(b.psi_features, abs=1e-9), what
    da, db_ = dict(a.details), dict(b.details)
    peers_a, peers_b = da.pop("peers"), db_.pop("peers")
    # Spark's percentile and pandas' quantile interpolate alike (up to rounding of the last bit).
    assert list(peers_a) == list(peers_b), what
    for section, ratios in peers_b.items():
        for name, values in ratios.items():
            assert peers_a[section][name] == pytest.approx(values, abs=1.01e-6), (what, section, name)
    assert da.pop("mean_pd") == pytest.approx(db_.pop("mean_pd"), abs=1e-12), what
    assert da == db_, what


def test_credit_scoring_from_a_snapshot_or_jdbc_stores_the_local_run(database, db, spark, tmp_path):
    """With a size-class champion (the LightGBM challenger for micro firms) beside the demo's
    scorecard for the rest: the same scores, PDs, grades and reasons, the same grade counts by
    district and the same monitoring row, whether Spark reads a Parquet snapshot or PostgreSQL."""
    scorecard = registry.champion(db, "all")
    challenger = db.scalar(select(CreditModel).where(CreditModel.kind == ModelKind.LIGHTGBM))
    challenger.segment = "micro"
    registry.promote(db, model_id=challenger.id, by="test")
    db.flush()
    models = (challenger.id, scorecard.id)
    local = batch_score(db, as_of=AS_OF)
    before = _stored(db, models)
    assert set(local.by_model.values()) and all(n > 0 for n in local.by_model.values())
    for source, options in spark_sources(database, tmp_path):
        if source == "jdbc":
            require_jdbc_driver(spark)
        remote = batch_score(db, as_of=AS_OF, engine="spark", master="local[2]", source=source, **options)
        assert remote.by_model == local.by_model and remote.rows == local.rows, source
        after = _stored(db, models)
        for m in models:
            what = f"{source}: model {m}"
            _assert_same_scores(after[m][0], before[m][0], what)
            assert after[m][1] == before[m][1], what
            _assert_same_monitoring(after[m][2], before[m][2], what)


def test_the_default_date_of_a_snapshot_run_is_its_loans_date(database, db, spark, tmp_path):
    from qiantang.credit.service import default_as_of

    source, options = spark_sources(database, tmp_path)[0]
    stats = batch_score(db, monitor_after=False, engine="spark", master="local[2]", source=source, **options)
    assert stats.as_of == default_as_of(db) and stats.rows > 0


def test_a_snapshot_without_the_credit_tables_is_refused(database, db, spark, tmp_path):
    from qiantang.batch.snapshot import export_parquet
    from qiantang.errors import QiantangError

    export_parquet(database.engine, tmp_path, tables=("enterprises", "loans"))
    with pytest.raises(QiantangError) as err:
        batch_score(db, engine="spark", master="local[2]", source="parquet", snapshot=str(tmp_path))
    assert "enterprise_financials, guarantees" in err.value.message
    assert "缺少表" in err.value.message and "lacks the tables" in err.value.message
