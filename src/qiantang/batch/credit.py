"""Batch credit scoring on Spark that reads the platform's tables itself (``credit score --engine spark
--source parquet|jdbc``).

:func:`raw_frame` re-does in Spark SQL the selects and aggregates of
:func:`qiantang.credit.features.read_raw` over the tables of a Parquet snapshot or of PostgreSQL over
JDBC (:func:`qiantang.batch.sources.table_reader`): the enterprises alive at the as-of date, their
latest financial year of the four up to the as-of year and the two years before it, their loans
signed by then (count, lenders, running on the as-of date), the guarantees in force then (given,
guarantors received, mutual or joint ones). One row per enterprise, the columns of ``read_raw``.

:func:`score_segment` then runs, per partition (``mapInPandas``), the local
:func:`~qiantang.credit.features.compute_features` and the model's scoring with reasons
(:func:`~qiantang.credit.service.scored_outputs`). ``compute_features`` works row by row (nothing
across firms), so a partition's features are the local ones. Only each firm's score, PD, grade and
reasons reach the driver to be stored; what the monitoring row needs of the features stays on the
executors: the features' counts per development bin (partition counts add up) and the industry
quartiles of the key ratios (Spark's exact ``percentile``, linear between ranks as pandas).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from qiantang.credit import features as feats

# The platform tables read_raw reads.
TABLES = ("enterprises", "enterprise_financials", "loans", "guarantees")
KEY_RATIO_NAMES = tuple(name for name, _fmt in feats.KEY_RATIOS)
COUNTS = "_qiantang_counts"
SCORED_SCHEMA = (
    "enterprise_id long, score double, pd double, grade string, reasons string, borrower boolean, "
    "district_code string, industry_section string, "
    + ", ".join(f"{name} double" for name in KEY_RATIO_NAMES)
    + f", {COUNTS} string"
)


def latest_loan_date(read) -> date | None:
    """The loans' latest classification date (``features.latest_loan_date`` of the source's loans)."""
    from pyspark.sql import functions as F

    found = read("loans").agg(F.max(F.col("as_of").cast("date")).alias("d")).first()["d"]
    return found


def raw_frame(read, as_of: date):
    """The raw enterprise data of :func:`qiantang.credit.features.read_raw` as a Spark frame (one row
    per enterprise alive at ``as_of``), from ``read(name)`` → a platform table as a Spark frame."""
    from pyspark.sql import functions as F

    d = F.lit(as_of)
    year = as_of.year

    def day(column: str):
        return F.col(column).cast("date")

    ent = (
        read("enterprises")
        .where(F.col("deregistered_on").isNull() | (day("deregistered_on") > d))
        .select(
            F.col("id").cast("long").alias("enterprise_id"),
            F.col("industry_section").cast("string").alias("industry_section"),
            F.col("size_class").cast("string").alias("size_class"),
            day("founded_on").cast("string").alias("founded_on"),
            F.col("listing_status").cast("string").alias("listing_status"),
            # read_raw: frame["high_tech"].astype(bool) — a missing flag is False
            F.coalesce(F.col("high_tech").cast("boolean"), F.lit(False)).alias("high_tech"),
            F.col("district_code").cast("string").alias("district_code"),
        )
    )
    fin = (
        read("enterprise_financials")
        .where(F.col("year").between(year - 3, year))
        .select(
            F.col("enterprise_id").cast("long").alias("enterprise_id"),
            F.col("year").cast("long").alias("year"),
            *(F.col(c).cast("double").alias(c) for c in feats.FINANCIAL_COLUMNS),
        )
    )
    # Latest year per firm, then the one and two before it.
    last = fin.groupBy("enterprise_id").agg(F.max("year").alias("fin_year"))
    dated = fin.join(last, "enterprise_id")
    latest = dated.where(F.col("year") == F.col("fin_year")).select(
        "enterprise_id", F.col("fin_year").cast("double").alias("fin_year"), *feats.FINANCIAL_COLUMNS
    )
    prev = dated.where(F.col("year") == F.col("fin_year") - 1).select(
        "enterprise_id",
        F.col("revenue").alias("revenue_prev"),
        F.col("net_profit").alias("net_profit_prev"),
    )
    prev2 = dated.where(F.col("year") == F.col("fin_year") - 2).select(
        "enterprise_id", F.col("net_profit").alias("net_profit_prev2")
    )
    # Only contracts signed by the as-of date; ``outstanding``: loans running on it.
    loans = (
        read("loans")
        .where(day("start_date") <= d)
        .groupBy(F.col("borrower_id").cast("long").alias("enterprise_id"))
        .agg(
            F.count(F.lit(1)).cast("double").alias("loan_count"),
            F.countDistinct("lender_id").cast("double").alias("lender_count"),
            F.sum(F.when(day("maturity_date") >= d, 1).otherwise(0)).cast("double").alias("outstanding"),
        )
    )
    in_force = (day("start_date") <= d) & (F.col("end_date").isNull() | (day("end_date") >= d))
    guarantees = read("guarantees").where(in_force)
    given = (
        guarantees.where(F.col("guarantor_enterprise_id").isNotNull())
        .groupBy(F.col("guarantor_enterprise_id").cast("long").alias("enterprise_id"))
        # Summed as decimals of the stored cents, as PostgreSQL sums its NUMERIC column.
        .agg(F.sum(F.col("amount").cast("decimal(20,2)")).cast("double").alias("guarantee_given"))
    )
    received = guarantees.groupBy(F.col("borrower_id").cast("long").alias("enterprise_id")).agg(
        F.countDistinct(
            F.coalesce(
                F.col("guarantor_enterprise_id").cast("long"), -F.col("guarantor_institution_id").cast("long")
            )
        )
        .cast("double")
        .alias("guarantor_count")
    )
    joint = guarantees.where(F.col("kind").cast("string").isin("mutual", "joint"))
    mutual = (
        joint.select(F.col("borrower_id").cast("long").alias("enterprise_id"))
        .union(
            joint.where(F.col("guarantor_enterprise_id").isNotNull()).select(
                F.col("guarantor_enterprise_id").cast("long").alias("enterprise_id")
            )
        )
        .distinct()
        .withColumn("_mutual", F.lit(True))
    )
    frame = ent
    for part in (latest, prev, prev2, loans, given, received, mutual):
        frame = frame.join(part, "enterprise_id", "left")
    return frame.select(
        *(c for c in frame.columns if c != "_mutual"),
        F.col("_mutual").isNotNull().alias("mutual_guarantee"),
    ).fillna(0.0, subset=["loan_count", "lender_count", "outstanding", "guarantor_count", "guarantee_given"])


def segment_frames(raw, segments: list[str], sizes: tuple[str, ...]):
    """``(segment, frame)`` per champion segment in order: a size class's champion takes that class's
    firms not taken before; any other segment (``all``) takes every firm still left."""
    from pyspark.sql import functions as F

    taken: list[str] = []
    rest_taken = False
    for segment in segments:
        size = F.col("size_class")
        if rest_taken:
            cond = F.lit(False)
        elif segment in sizes:
            cond = (size == segment) & F.lit(segment not in taken)
            taken.append(segment)
        else:
            cond = size.isNull() | ~size.isin(taken) if taken else F.lit(True)
            rest_taken = True
        yield segment, raw.where(cond)


def score_segment(frame, model, *, as_of: date, top: int, profile: dict | None):
    """The scored firms of ``frame`` (raw data, as :func:`raw_frame`): a Spark frame of
    :data:`SCORED_SCHEMA`. Features and scores are computed per partition; with a development
    ``profile`` the first row of every batch carries, as JSON, the batch's borrowers' feature counts
    per development bin (:func:`qiantang.credit.validation.feature_counts`)."""
    from qiantang.credit.service import scored_outputs
    from qiantang.credit.validation import feature_counts

    def run(batches):
        for batch in batches:
            if not len(batch):
                continue
            batch = batch.reset_index(drop=True)
            X = feats.compute_features(batch, as_of)
            score, pd_, grade, reasons = scored_outputs(model, X, top=top)
            borrower = feats.in_population(batch)
            out = pd.DataFrame(
                {
                    "enterprise_id": batch["enterprise_id"].to_numpy(dtype=np.int64),
                    "score": np.asarray(score, dtype=float),
                    "pd": np.asarray(pd_, dtype=float),
                    "grade": np.asarray(grade).astype(str),
                    "reasons": list(reasons),
                    "borrower": borrower,
                    "district_code": batch["district_code"].astype(object),
                    "industry_section": X["industry_section"].astype(object),
                }
            )
            for name in KEY_RATIO_NAMES:
                out[name] = X[name].to_numpy(dtype=np.float64)
            counts = [None] * len(out)
            if profile is not None:
                mine = feature_counts(profile, X[borrower].reset_index(drop=True))
                counts[0] = json.dumps({k: v.tolist() for k, v in mine.items()})
            out[COUNTS] = counts
            yield out

    return frame.mapInPandas(run, schema=SCORED_SCHEMA)


@dataclass
class Scored:
    """One segment's results as the driver stores them (rows in enterprise-id order)."""

    ids: np.ndarray
    score: np.ndarray
    pd: np.ndarray
    grade: np.ndarray
    reasons: list
    borrower: np.ndarray
    grade_counts: list[tuple[str, str, int]]  # (district, grade, enterprises)
    feature_counts: dict[str, np.ndarray] | None  # over the borrowers
    peers: dict | None


def collect(scored, *, monitor: bool) -> Scored:
    """What the driver stores of a scored segment (:func:`score_segment`); the monitoring inputs (feature
    counts, peers' quartiles) are aggregated by Spark when ``monitor``."""
    from pyspark.sql import functions as F

    scored = scored.persist()
    try:
        rows = (
            scored.select("enterprise_id", "score", "pd", "grade", "reasons", "borrower")
            .toPandas()
            .sort_values("enterprise_id", kind="stable")
        )
        # In the local path's order (pandas' groupby: district, then grade).
        grade_counts = sorted(
            (r["district_code"], r["grade"], int(r["n"]))
            for r in scored.groupBy("district_code", "grade").agg(F.count(F.lit(1)).alias("n")).collect()
        )
        counts = peers = None
        if monitor and len(rows):
            counts = {}
            for r in scored.where(F.col(COUNTS).isNotNull()).select(COUNTS).collect():
                for name, values in json.loads(r[COUNTS]).items():
                    now = np.asarray(values, dtype=np.float64)
                    counts[name] = counts[name] + now if name in counts else now
            peers = peer_quartiles(scored)
    finally:
        scored.unpersist()
    return Scored(
        ids=rows["enterprise_id"].to_numpy(dtype=np.int64),
        score=rows["score"].to_numpy(dtype=np.float64),
        pd=rows["pd"].to_numpy(dtype=np.float64),
        grade=rows["grade"].to_numpy(dtype=object),
        reasons=rows["reasons"].tolist(),
        borrower=rows["borrower"].to_numpy(dtype=bool),
        grade_counts=grade_counts,
        feature_counts=counts,
        peers=peers,
    )


def peer_quartiles(scored) -> dict[str, dict[str, list[float | None]]]:
    """:func:`qiantang.credit.service.peer_quartiles` over a scored Spark frame: quartiles (25/50/75 %)
    of the key ratios by industry section ("?" when missing) and for all firms ("*"), and their counts."""
    from pyspark.sql import functions as F

    aggs = []
    for name in KEY_RATIO_NAMES:
        value = f"CASE WHEN isnan({name}) THEN NULL ELSE {name} END"
        aggs.append(F.expr(f"percentile({value}, array(0.25, 0.5, 0.75))").alias(f"q_{name}"))
        aggs.append(F.expr(f"count({value})").alias(f"n_{name}"))

    def quartiles(row) -> dict[str, list[float | None]]:
        return {
            name: [
                None if v is None or np.isnan(v) else round(float(v), 6)
                for v in (row[f"q_{name}"] or [None] * 3)  # no value: no quartiles
            ]
            + [int(row[f"n_{name}"])]
            for name in KEY_RATIO_NAMES
        }

    section = F.coalesce(F.col("industry_section"), F.lit("?")).alias("section")
    out = {"*": quartiles(scored.agg(*aggs).first())}
    by_section = {r["section"]: r for r in scored.groupBy(section).agg(*aggs).collect()}
    for key in sorted(by_section):
        out[str(key)] = quartiles(by_section[key])
    return out
