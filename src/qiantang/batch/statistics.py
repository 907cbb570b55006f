"""Statistics cells (综合统计) on Spark: the same long table as
:func:`qiantang.statistics.service.compute_cells`, computed in Spark SQL.

The inputs — institutions with their dimensions, status history, and the quarters' current filings —
are read (:func:`read_inputs`) by the local path's readers on the driver and handed to Spark
(``--source db``), or by Spark itself from a Parquet snapshot (``parquet``) or PostgreSQL over JDBC
(``jdbc``), with the same selects and join. Spark then does what pandas does per quarter, for all
quarters at once: each institution × quarter gets the registry measures (open, entries, exits,
distressed, expected — the same predicates), its filing measures (filed, filed late, the summed
fields of the filing's JSON, a non-numeric value counting as 0 as ``pd.to_numeric(errors="coerce")``
makes it), and the cells are the sums by quarter and dimensions, unpivoted, zeros dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

MEASURE_ORDER = ("open", "entries", "exits", "distressed", "expected", "filed", "filed_late")
# The platform tables the cells read (``qiantang export parquet`` writes them by default).
TABLES = ("institution_types", "institutions", "institution_status_changes", "filings")
INSTITUTION_SCHEMA = (
    "id long, type_code string, district_code string, cluster_code string, level string, "
    "established_on date, deregistered_on date, files boolean"
)
HISTORY_SCHEMA = "institution_id long, effective_on date, status string, seq long"
FILING_SCHEMA = (
    "institution_id long, period_end date, template_code string, data string, due_on date, submitted_on date"
)


def _filings(session: Session, period_ends: list[date]) -> pd.DataFrame:
    import json

    from qiantang.filings.models import Filing

    stmt = select(
        Filing.institution_id,
        Filing.period_end,
        Filing.template_code,
        Filing.data,
        Filing.due_on,
        Filing.submitted_at,
    ).where(Filing.period_end.in_(period_ends), Filing.is_current.is_(True))
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(
        [
            (
                int(r[0]),
                r[1],
                str(r[2]),
                json.dumps(r[3] or {}),
                pd.Timestamp(r[4]).date(),
                pd.Timestamp(r[5]).date(),
            )
            for r in rows
        ],
        columns=["institution_id", "period_end", "template_code", "data", "due_on", "submitted_on"],
    )
    return frame


def _from_db(spark, session: Session, periods: list[date]):
    """The inputs read on the driver by the local readers (``--source db``), handed to Spark."""
    from qiantang.statistics.service import DIMS, _institutions, _status_history

    inst = _institutions(session).reset_index()
    inst_frame = pd.DataFrame(
        {
            "id": inst["id"].astype("int64"),
            **{d: inst[d].astype(str) for d in DIMS},
            "established_on": inst["established_on"].dt.date,
            "deregistered_on": inst["deregistered_on"].map(lambda v: None if pd.isna(v) else v.date()),
            "files": inst["files"].astype(bool),
        }
    )
    history = _status_history(session)
    hist_frame = pd.DataFrame(
        {
            "institution_id": history["institution_id"].astype("int64"),
            "effective_on": history["effective_on"].dt.date,
            "status": history["status"].astype(str),
            "seq": history["id"].astype("int64"),
        }
    )
    fil = _filings(session, periods)
    filings = spark.createDataFrame(fil, schema=FILING_SCHEMA) if len(fil) else None
    institutions = spark.createDataFrame(inst_frame, schema=INSTITUTION_SCHEMA)
    return institutions, spark.createDataFrame(hist_frame, schema=HISTORY_SCHEMA), filings


def _from_tables(read, periods: list[date]):
    """The inputs selected and joined in Spark from the platform tables (``read(name)`` → a Spark
    frame) as ``statistics.service._institutions`` / ``_status_history`` and :func:`_filings` do in SQL."""
    from pyspark.sql import functions as F

    def text(column: str):
        return F.col(column).cast("string")

    types = read("institution_types").select(F.col("code").alias("type_code"), "filing_template")
    institutions = (
        read("institutions")
        .join(types, "type_code")
        .select(
            F.col("id").cast("long"),
            text("type_code").alias("type_code"),
            text("district_code").alias("district_code"),
            F.coalesce(text("cluster_code"), F.lit("")).alias("cluster_code"),
            text("level").alias("level"),
            F.col("established_on").cast("date"),
            F.col("deregistered_on").cast("date"),
            F.col("filing_template").isNotNull().alias("files"),
        )
    )
    history = read("institution_status_changes").select(
        F.col("institution_id").cast("long"),
        F.col("effective_on").cast("date"),
        text("status_after").alias("status"),
        F.col("id").cast("long").alias("seq"),
    )
    filings = (
        read("filings")
        .where(F.col("is_current").cast("boolean") & F.col("period_end").cast("date").isin(*periods))
        .select(
            F.col("institution_id").cast("long"),
            F.col("period_end").cast("date"),
            text("template_code").alias("template_code"),
            F.coalesce(text("data"), F.lit("{}")).alias("data"),
            F.col("due_on").cast("date"),
            F.to_date("submitted_at").alias("submitted_on"),
        )
    )
    return institutions, history, filings


def read_inputs(
    spark,
    session: Session | None,
    periods: list[date],
    *,
    source: str = "db",
    snapshot: str | Path | None = None,
    database_url: str | None = None,
):
    """(institutions, status history, current filings of ``periods``) as Spark frames with the columns
    of :data:`INSTITUTION_SCHEMA`, :data:`HISTORY_SCHEMA` and :data:`FILING_SCHEMA` (filings None
    when the driver read none), from ``source``: ``db`` (read through ``session`` on the driver),
    ``parquet`` (the snapshot ``snapshot``) or ``jdbc`` (PostgreSQL, ``database_url`` by default the
    session's), the last two read by Spark."""
    from qiantang.batch.sources import table_reader

    if source == "db":
        if session is None:
            raise ValueError("source 'db' needs a session")
        return _from_db(spark, session, periods)
    read = table_reader(
        spark, source=source, tables=TABLES, session=session, snapshot=snapshot, database_url=database_url
    )
    return _from_tables(read, periods)


def compute_cells(
    spark,
    session: Session | None,
    *,
    period_ends: Iterable[date],
    source: str = "db",
    snapshot: str | Path | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """The cells of the given quarters as a long table (period_end, dims…, measure, value), the
    inputs read from ``source`` (:func:`read_inputs`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from qiantang.statistics import measures as M
    from qiantang.statistics.service import DIMS, DISTRESSED_STATUSES, previous_quarter_end

    periods = sorted(set(period_ends))
    empty = pd.DataFrame(columns=["period_end", *DIMS, "measure", "value"])
    if not periods:
        return empty
    I, H, Fl = read_inputs(  # noqa: E741
        spark, session, periods, source=source, snapshot=snapshot, database_url=database_url
    )
    period_frame = pd.DataFrame({"qe": periods, "prev": [previous_quarter_end(p) for p in periods]})
    P = spark.createDataFrame(period_frame, schema="qe date, prev date")

    # Registry measures: every institution × quarter.
    est, dereg, qe, prev = F.col("established_on"), F.col("deregistered_on"), F.col("qe"), F.col("prev")
    is_open = (est <= qe) & (dereg.isNull() | (dereg > qe))
    latest = (
        H.join(P, H.effective_on <= P.qe)
        .withColumn(
            "k",
            F.row_number().over(
                Window.partitionBy("institution_id", "qe").orderBy(F.desc("effective_on"), F.desc("seq"))
            ),
        )
        .where(F.col("k") == 1)
        .select(F.col("institution_id").alias("id"), "qe", F.col("status").alias("latest_status"))
    )
    reg = (
        I.crossJoin(P)
        .join(latest, ["id", "qe"], "left")
        .select(
            "id",
            "qe",
            *DIMS,
            is_open.cast("double").alias("open"),
            ((est > prev) & (est <= qe)).cast("double").alias("entries"),
            F.coalesce((dereg > prev) & (dereg <= qe), F.lit(False)).cast("double").alias("exits"),
            (is_open & F.coalesce(F.col("latest_status").isin(*DISTRESSED_STATUSES), F.lit(False)))
            .cast("double")
            .alias("distressed"),
            (is_open & F.col("files")).cast("double").alias("expected"),
        )
    )
    # Filing measures of the quarters' current filings.
    sums = list(M.FIELD_SUMS)
    # Measure codes hold dots ("small_loan.npl_balance"): Spark columns get plain names.
    alias = {m.code: f"sum_{i}" for i, m in enumerate(sums)}
    if Fl is not None:
        value_cols = []
        for m in sums:
            raw = F.expr(f"try_cast(get_json_object(data, '$.{m.field}') as double)")
            value = F.coalesce(raw, F.lit(0.0))
            if m.template is not None:
                value = F.when(F.col("template_code") == m.template, value).otherwise(F.lit(0.0))
            value_cols.append(value.alias(alias[m.code]))
        per = Fl.select(
            F.col("institution_id").alias("id"),
            F.col("period_end").alias("qe"),
            F.lit(1.0).alias("filed"),
            (F.col("submitted_on") > F.col("due_on")).cast("double").alias("filed_late"),
            *value_cols,
        )
        agg_names = ["filed", "filed_late", *alias.values()]
        per = per.groupBy("id", "qe").agg(*(F.sum(c).alias(c) for c in agg_names))
        reg = reg.join(per, ["id", "qe"], "left")
    else:
        agg_names = ["filed", "filed_late", *alias.values()]
        for c in agg_names:
            reg = reg.withColumn(c, F.lit(0.0))
    reg = reg.fillna(0.0, subset=agg_names)
    names = ["open", "entries", "exits", "distressed", "expected", *agg_names]
    wide = reg.groupBy("qe", *DIMS).agg(*(F.sum(c).alias(c) for c in names))
    long = wide.unpivot(["qe", *DIMS], names, "measure", "value").where(F.col("value") != 0.0)
    out = long.toPandas()
    if out.empty:
        return empty
    out = out.rename(columns={"qe": "period_end"})
    back = {v: k for k, v in alias.items()}
    out["measure"] = out["measure"].map(lambda c: back.get(c, c))
    return out[["period_end", *DIMS, "measure", "value"]]
