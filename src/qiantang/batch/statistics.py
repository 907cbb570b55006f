"""Statistics cells (综合统计) on Spark: the same long table as
:func:`qiantang.statistics.service.compute_cells`, computed in Spark SQL.

The inputs are read by the local path's readers (institutions with their dimensions, status
history) and the quarters' current filings; Spark then does what pandas does per quarter, for all
quarters at once: each institution × quarter gets the registry measures (open, entries, exits,
distressed, expected — the same predicates), its filing measures (filed, filed late, the summed
fields of the filing's JSON, a non-numeric value counting as 0 as ``pd.to_numeric(errors="coerce")``
makes it), and the cells are the sums by quarter and dimensions, unpivoted, zeros dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

MEASURE_ORDER = ("open", "entries", "exits", "distressed", "expected", "filed", "filed_late")


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


def compute_cells(spark, session: Session, *, period_ends: Iterable[date]) -> pd.DataFrame:
    """The cells of the given quarters as a long table (period_end, dims…, measure, value)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from qiantang.statistics import measures as M
    from qiantang.statistics.service import (
        DIMS,
        DISTRESSED_STATUSES,
        _institutions,
        _status_history,
        previous_quarter_end,
    )

    periods = sorted(set(period_ends))
    empty = pd.DataFrame(columns=["period_end", *DIMS, "measure", "value"])
    if not periods:
        return empty
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
    period_frame = pd.DataFrame({"qe": periods, "prev": [previous_quarter_end(p) for p in periods]})
    schema_inst = (
        "id long, type_code string, district_code string, cluster_code string, level string, "
        "established_on date, deregistered_on date, files boolean"
    )
    I = spark.createDataFrame(inst_frame, schema=schema_inst)  # noqa: E741
    H = spark.createDataFrame(
        hist_frame, schema="institution_id long, effective_on date, status string, seq long"
    )
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
    fil = _filings(session, periods)
    if len(fil):
        Fl = spark.createDataFrame(
            fil,
            schema="institution_id long, period_end date, template_code string, data string, "
            "due_on date, submitted_on date",
        )
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
