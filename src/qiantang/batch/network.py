"""The guarantee network read by Spark itself (``network analyse --engine spark --source parquet|jdbc``).

:func:`read_network` does in Spark the selects of :func:`qiantang.network.service.load_network` on the
platform tables of a Parquet snapshot or of PostgreSQL over JDBC (:func:`qiantang.batch.sources.
table_reader`): the guarantees in force on the analysis date, the network's firms, each firm's latest
statement known then (``enterprises.service.statement_known``) and the loans as they were known then
(``enterprises.service.loans_known``: the latest record on or before the date, a loan past maturity
whose record predates it repaid). It gives two things:

- the **edge frame** (src, dst: guarantor and borrower enterprise ids) as Spark read it, on which
  :func:`qiantang.batch.graph.structure_of` finds the groups, loops, pairs, rings and chains — the
  guarantees do not pass through the driver on their way to the structure;
- the :class:`~qiantang.network.service.Network` the driver's group metrics, PageRank and impacts
  need, built by the local :func:`~qiantang.network.service.build_network` from the same rows
  collected from Spark (guarantees and loans in id order, as the local reads), so its values are the
  local ones.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

# The platform tables the network reads (``qiantang export parquet`` writes them by default).
TABLES = ("guarantees", "enterprises", "enterprise_financials", "loans", "loan_classifications")


def _class_value(column):
    """A loan class as its LoanClass value (a name, ``LoanClass.NAME`` or the value itself), as
    ``enterprises.service._class_values`` reads it."""
    from pyspark.sql import functions as F

    from qiantang.standards.loan_class import LoanClass

    text = F.regexp_replace(column.cast("string"), r"^LoanClass\.", "")
    first, *rest = list(LoanClass)
    out = F.when(text == F.lit(first.name), F.lit(first.value))
    for c in rest:
        out = out.when(text == F.lit(c.name), F.lit(c.value))
    return out.otherwise(text)


def _money(column: str):
    from pyspark.sql import functions as F

    return F.col(column).cast("double")


def loans_known(read, as_of: date):
    """:func:`qiantang.enterprises.service.loans_known` in Spark (no borrower filter): the loans
    outstanding on ``as_of`` as known then: id, borrower_id, lender_id, balance, classification
    (unordered: the caller orders what it collects)."""
    from pyspark.sql import functions as F

    from qiantang.standards.loan_class import LoanClass

    loans = read("loans")
    latest = loans.agg(F.max("as_of")).first()[0]
    started = F.col("start_date") <= F.lit(as_of)
    if latest is None or as_of >= latest:
        return loans.where((_money("balance") > 0) & started).select(
            F.col("id").cast("long"),
            F.col("borrower_id").cast("long"),
            F.col("lender_id").cast("long"),
            _money("balance").alias("balance"),
            _class_value(F.col("classification")).alias("classification"),
        )
    loans = loans.where(started).select(
        F.col("id").cast("long"),
        F.col("borrower_id").cast("long"),
        F.col("lender_id").cast("long"),
        _money("amount").alias("amount"),
        _money("balance").alias("balance"),
        _class_value(F.col("classification")).alias("classification"),
        F.col("maturity_date").cast("date").alias("maturity_date"),
        F.col("as_of").cast("date").alias("own_date"),
    )
    history = read("loan_classifications").where(F.col("as_of") <= F.lit(as_of))
    last = history.groupBy(F.col("loan_id").alias("_loan")).agg(F.max("as_of").alias("_d"))
    hist = history.join(last, (F.col("loan_id") == F.col("_loan")) & (F.col("as_of") == F.col("_d"))).select(
        F.col("loan_id").cast("long").alias("loan_id"),
        F.col("as_of").cast("date").alias("h_date"),
        _class_value(F.col("classification")).alias("h_class"),
        F.col("balance").cast("double").alias("h_balance"),
    )
    frame = loans.join(hist, F.col("id") == F.col("loan_id"), "left")
    d = F.lit(as_of)
    own_date, hist_date = F.col("own_date"), F.col("h_date")
    own = F.coalesce(own_date <= d, F.lit(False))  # the loan's current row is already known (ties: it wins)
    has_hist = hist_date.isNotNull() & ~(own & F.coalesce(hist_date <= own_date, F.lit(False)))
    use_own = own & ~has_hist
    record_date = F.when(use_own, own_date).when(has_hist, hist_date)
    cls = F.when(use_own, F.col("classification")).when(has_hist, F.col("h_class"))
    cls = cls.otherwise(F.lit(LoanClass.NORMAL.value))
    balance = F.when(use_own, F.col("balance")).when(
        has_hist & F.col("h_balance").isNotNull() & ~F.isnan("h_balance"), F.col("h_balance")
    )
    balance = balance.otherwise(F.col("amount"))
    maturity = F.col("maturity_date")
    npl = cls.isin(*[c.value for c in LoanClass if c.is_npl])
    repaid = (
        F.coalesce(maturity < d, F.lit(False))
        & ~npl
        & (record_date.isNull() | F.coalesce(record_date < maturity, F.lit(False)))
    )
    out = frame.select(
        "id",
        "borrower_id",
        "lender_id",
        F.when(repaid, F.lit(0.0)).otherwise(balance).alias("balance"),
        cls.alias("classification"),
    )
    return out.where(F.col("balance") > 0)


def read_network(
    spark,
    *,
    source: str,
    as_of: date | None = None,
    params=None,
    session: Session | None = None,
    snapshot: str | Path | None = None,
    database_url: str | None = None,
):
    """(the :class:`~qiantang.network.service.Network`, the Spark edge frame src, dst of enterprise
    ids) of the guarantees in force on ``as_of`` (default: the loans' as-of date), read by Spark from
    ``source`` (``parquet``: the snapshot ``snapshot``; ``jdbc``: PostgreSQL, ``database_url`` by
    default the session's). The edge frame is cached: unpersist it when done."""
    from pyspark.sql import functions as F

    from qiantang.batch.sources import table_reader
    from qiantang.enterprises.service import statement_cutoff_year
    from qiantang.network.service import Params, build_network

    params = params or Params()
    read = table_reader(
        spark, source=source, tables=TABLES, session=session, snapshot=snapshot, database_url=database_url
    )
    if as_of is None:
        as_of = read("loans").agg(F.max("as_of")).first()[0] or date.today()
    day = F.lit(as_of)
    guarantees = read("guarantees")
    in_force = (F.col("start_date") <= day) & (F.col("end_date").isNull() | (F.col("end_date") >= day))
    raw = guarantees.where(in_force).select(
        F.col("id").cast("long").alias("_id"),
        F.col("guarantor_enterprise_id").cast("long").alias("g"),
        F.col("guarantor_institution_id").cast("long").alias("gi"),
        F.col("borrower_id").cast("long").alias("b"),
        F.col("loan_id").cast("long").alias("loan_id"),
        _money("amount").alias("amount"),
        F.col("kind").cast("string").alias("kind"),
        F.col("agreement_no").cast("string").alias("agreement_no"),
    )
    # Read once for the firms, statements and loans of the network and for the structure.
    edges = raw.where(F.col("g").isNotNull()).select(F.col("g").alias("src"), F.col("b").alias("dst")).cache()
    try:
        members = (
            edges.select(F.col("src").alias("id"))
            .unionByName(edges.select(F.col("dst").alias("id")))
            .distinct()
        )
        firms = (
            read("enterprises")
            .join(members, "id", "left_semi")
            .select(
                F.col("id").cast("long"),
                F.col("district_code").cast("string"),
                F.col("industry_section").cast("string"),
                _money("total_assets").alias("total_assets"),
                F.col("financials_year").cast("long"),
                _money("registered_capital").alias("registered_capital"),
            )
        )
        # Each firm's latest statement known on the date (enterprises.service.statement_known).
        financials = read("enterprise_financials")
        known = (F.col("filed_on") <= day) | (
            F.col("filed_on").isNull() & (F.col("year") <= F.lit(statement_cutoff_year(as_of)))
        )
        latest = (
            financials.where(known)
            .groupBy(F.col("enterprise_id").alias("_firm"))
            .agg(F.max("year").alias("_year"))
        )
        statements = (
            financials.join(
                latest, (F.col("enterprise_id") == F.col("_firm")) & (F.col("year") == F.col("_year"))
            )
            .select(
                F.col("enterprise_id").cast("long").alias("enterprise_id"),
                _money("equity").alias("equity"),
                _money("total_assets").alias("total_assets"),
            )
            .join(members.withColumnRenamed("id", "enterprise_id"), "enterprise_id", "left_semi")
        )
        loans = loans_known(read, as_of).join(
            members.withColumnRenamed("id", "borrower_id"), "borrower_id", "left_semi"
        )
        raw_frame = _frame(raw.orderBy("_id").drop("_id"), ("g", "gi", "loan_id"))
        net = build_network(
            as_of,
            raw_frame,
            _frame(firms, ("financials_year",)),
            _frame(statements, ()),
            _frame(
                loans.orderBy("id").select("id", "borrower_id", "lender_id", "balance", "classification"), ()
            ),
            params,
        )
    except BaseException:  # the caller releases the cached edges after a run; here nobody would
        edges.unpersist()
        raise
    return net, edges


def _frame(sdf, nullable_ints: tuple[str, ...]) -> pd.DataFrame:
    """A Spark frame collected as the local reads give it: integer columns that may hold NULL as
    floats with NaN, the others as int64, text as objects."""
    frame = sdf.toPandas()
    for column in frame.columns:
        values = frame[column]
        if column in nullable_ints:
            frame[column] = values.astype(np.float64) if values.isna().any() else values.astype(np.int64)
        elif pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_float_dtype(values.dtype):
            frame[column] = values.astype(np.int64)
        elif not pd.api.types.is_numeric_dtype(values.dtype):
            frame[column] = values.astype(object).where(values.notna(), None)
    return frame
