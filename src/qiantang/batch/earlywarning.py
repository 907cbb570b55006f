"""Early warning on Spark: the panel, indicators, peer bands, signals and ratings over all filings.

The computation of :func:`qiantang.earlywarning.service.compute`, distributed, with the very same
functions. Everything the local path computes *per institution* runs in grouped pandas UDFs on
buckets of whole institutions (hashed by id):

0. **the panel**: the registry, status history, filings and disputes are read by Spark
   (:func:`read_sources`: from the database through the driver, from a Parquet snapshot, or from
   PostgreSQL over JDBC) and cogrouped by bucket — filings on one side, the institutions with their
   events and disputes on the other — and each bucket's panel rows are shaped by
   :func:`qiantang.earlywarning.panel.build`, the local function, given the whole panel's first and
   last quarter, templates and field codes (:class:`~qiantang.earlywarning.panel.Bounds`, a few
   aggregations);
1. **indicators** per bucket → the long table (collected: the driver stores it);
2. **peer bands** (p10…p90, MAD per type, quarter and indicator) — ``groupBy(type_code, pq)`` over the
   long table, each group by :func:`qiantang.earlywarning.rules.peer_bands`: a band is exactly the
   values of one type and quarter, so each group holds all of its peers;
3. **signals and ratings** per bucket again (the limit, peer, trend, filing and conduct rules, the
   CAMEL+RR scorecard, the rating signals), with the collected bands (a few thousand rows) shipped to
   every task for the peer rule;
4. **the challenger** (LightGBM trained across institutions on earlier quarters) on the driver, on the
   scorecard inputs it needs collected from step 3 — it is one model fitted over all institutions.

The driver collects the panel's rows without their return fields (the challenger, the alerts and the
stored rows need them), the long indicator table, the bands, the signals and the ratings. The results
come back in the local path's order (rule by rule, rows in panel order; peer signals by row and
indicator), because the alerts keep the first signal of equal level in their evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

BUCKET = "_bucket"
LONG_SCHEMA = "row long, institution_id long, pq long, type_code string, code string, value double"
BAND_SCHEMA = (
    "type_code string, pq long, code string, n long, p10 double, p25 double, median double, "
    "p75 double, p90 double, mad double"
)
# Signals ("s") and ratings ("r") of a bucket in one frame: block and sub order them as locally.
OUT_COLUMNS = (
    "part string, block long, sub long, row long, institution_id long, pq long, family string, "
    "code string, level string, value double, threshold double, message_zh string, "
    "message_en string, evidence string, kind string, usage double, score double, "
    "dimensions string, reasons string"
)


@dataclass
class _Meta:
    """What every task needs besides its rows (pickled with the UDF)."""

    row_columns: list[str]
    datetimes: dict[str, str]  # column → datetime64 dtype (shipped as int64)
    fields: list[str]  # template field codes, shipped as f0, f1, …
    institutions: pd.DataFrame
    events: pd.DataFrame
    first_pq: int | None
    last_pq: int | None
    templates: tuple[str, ...]
    starts: pd.Series  # institution id → its first row in the whole panel (rows ordered by id, quarter)


def _starts(institution_ids: np.ndarray) -> pd.Series:
    """Each institution's first row in panel order, from the sorted ids of the panel's rows."""
    ids, first = np.unique(institution_ids, return_index=True)
    return pd.Series(first.astype(np.int64), index=ids.astype(np.int64))


def flat_panel(panel) -> tuple[pd.DataFrame, _Meta]:
    """The panel's rows and fields as one Arrow-safe frame."""
    rows = panel.rows.drop(columns=["period_end"])
    flat = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    datetimes = {}
    for c in rows.columns:
        values = rows[c]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            datetimes[c] = str(values.dtype)
            flat[c] = values.to_numpy().view(np.int64)  # NaT is the smallest int64, restored as NaT
        elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
            flat[c] = values.to_numpy()
        else:
            flat[c] = values.astype(object).where(values.notna(), None).to_numpy(object)
    fields = list(panel.fields.columns)
    for i, name in enumerate(fields):
        flat[f"f{i}"] = panel.fields[name].to_numpy(np.float64)
    meta = _Meta(
        row_columns=list(rows.columns),
        datetimes=datetimes,
        fields=fields,
        institutions=panel.institutions,
        events=panel.events.iloc[:0],
        first_pq=panel.first_pq,
        last_pq=panel.last_pq,
        templates=panel.templates,
        starts=_starts(panel.rows["institution_id"].to_numpy(np.int64)),
    )
    return flat, meta


def sub_panel(pdf: pd.DataFrame, meta: _Meta):
    """(the Panel of the institutions in ``pdf``, global row of each of its rows)."""
    from qiantang.earlywarning.panel import Panel

    pdf = pdf.sort_values(["institution_id", "pq"]).reset_index(drop=True)
    iid = pdf["institution_id"].to_numpy(np.int64)
    grow = meta.starts.reindex(iid).to_numpy(np.int64) + pdf.groupby("institution_id").cumcount().to_numpy()
    rows = _rows_of(pdf, meta)
    fields = pd.DataFrame(
        {name: pdf[f"f{i}"].to_numpy(np.float64) for i, name in enumerate(meta.fields)}, index=rows.index
    )
    ids = np.unique(iid)
    inst = meta.institutions[meta.institutions.index.isin(ids)]
    panel = Panel(inst, meta.events, rows, fields, meta.first_pq, meta.last_pq, meta.templates)
    return panel, grow.astype(np.int64)


def _rows_of(pdf: pd.DataFrame, meta: _Meta) -> pd.DataFrame:
    """The panel rows of Arrow-safe rows ``pdf`` (sorted by institution and quarter), dtypes restored."""
    from qiantang.earlywarning.panel import period_of

    rows = pd.DataFrame(index=pdf.index)
    for c in meta.row_columns:
        if c in meta.datetimes:
            rows[c] = pdf[c].to_numpy(np.int64).view(np.dtype(meta.datetimes[c]))
        else:
            rows[c] = pdf[c].to_numpy()
    for c in ("institution_id", "pq"):
        rows[c] = rows[c].astype(np.int64)
    for c in ("expected", "filed"):
        rows[c] = rows[c].astype(bool)
    rows["period_end"] = [period_of(p) for p in rows["pq"].to_numpy()]
    return rows


def _long_of(panel, wide, grow: np.ndarray) -> pd.DataFrame:
    from qiantang.earlywarning import indicators

    long = indicators.to_long(panel, wide)
    long["row"] = grow[long["row"].to_numpy(np.int64)]
    return long[["row", "institution_id", "pq", "type_code", "code", "value"]]


def _code_order() -> dict[str, int]:
    from qiantang.earlywarning.indicators import BY_CODE

    return {c: i for i, c in enumerate(BY_CODE)}


def _bucket_outputs(pdf: pd.DataFrame, meta: _Meta, config, bands: pd.DataFrame) -> pd.DataFrame:
    """Signals and ratings of one bucket of institutions, keyed to sort into the local order."""
    from qiantang.earlywarning import indicators, rating, rules
    from qiantang.earlywarning.service import _rating_signals

    panel, grow = sub_panel(pdf, meta)
    wide = indicators.compute(panel)
    long = indicators.to_long(panel, wide)
    history = rules.History(panel, wide)
    s = config.signals
    blocks = [
        rules.evaluate_limits(panel, wide, replace(config.rules, rules=(rule,)), history)
        for rule in config.rules.rules
    ]
    blocks.append(rules.evaluate_peers(panel, long, bands, s, history))
    blocks += [
        rules.evaluate_trends(panel, wide, replace(s, jumps=(j,), breaks=()), history) for j in s.jumps
    ]
    blocks += [
        rules.evaluate_trends(panel, wide, replace(s, jumps=(), breaks=(b,)), history) for b in s.breaks
    ]
    blocks += [
        rules.evaluate_filing(panel, wide, replace(s, filing=(r,), conduct=()), history) for r in s.filing
    ]
    blocks += [
        rules.evaluate_filing(panel, wide, replace(s, filing=(), conduct=(r,)), history) for r in s.conduct
    ]
    parts = [p.assign(_block=k) for k, p in enumerate(blocks) if not p.empty]
    signals = pd.concat(parts, ignore_index=True) if parts else rules._empty().assign(_block=0)
    inputs = rating.rating_inputs(panel, wide, config.rules, signals)
    rated = rating.score(panel, inputs, config.scorecard)
    rating_sig = _rating_signals(panel, rated, config.scorecard).assign(_block=len(blocks))
    if not rating_sig.empty:
        signals = pd.concat([signals, rating_sig], ignore_index=True)
    order = _code_order()
    peer_block = len(config.rules.rules)
    n_s = len(signals)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    sig = pd.DataFrame(
        {
            "part": "s",
            "block": signals["_block"].to_numpy(np.int64),
            "sub": np.where(
                signals["_block"].to_numpy(np.int64) == peer_block,
                [order.get(c, 0) for c in signals["code"]],
                0,
            ).astype(np.int64)
            if n_s
            else np.zeros(0, np.int64),
            "row": grow[signals["row"].to_numpy(np.int64)] if n_s else np.zeros(0, np.int64),
            "institution_id": signals["institution_id"].to_numpy(np.int64),
            "pq": signals["pq"].to_numpy(np.int64),
            "family": signals["family"].astype(str).to_numpy(object),
            "code": signals["code"].astype(str).to_numpy(object),
            "level": signals["level"].astype(str).to_numpy(object),
            "value": pd.to_numeric(signals["value"], errors="coerce").to_numpy(np.float64),
            "threshold": pd.to_numeric(signals["threshold"], errors="coerce").to_numpy(np.float64),
            "message_zh": signals["message_zh"].to_numpy(object),
            "message_en": signals["message_en"].to_numpy(object),
            "evidence": [dumps(e) for e in signals["evidence"]],
            "kind": signals["kind"].fillna("").astype(str).to_numpy(object),
            "usage": pd.to_numeric(signals["usage"], errors="coerce").to_numpy(np.float64),
        }
    )
    features = list(config.scorecard.challenger.get("features", {}))
    r = rated.rows
    rat = pd.DataFrame(
        {
            "part": "r",
            "block": 0,
            "sub": 0,
            "row": grow[r],
            "institution_id": panel.rows["institution_id"].to_numpy(np.int64)[r],
            "pq": panel.rows["pq"].to_numpy(np.int64)[r],
            "level": np.asarray(rated.level, dtype=object),
            "score": np.asarray(rated.score, dtype=np.float64),
            "dimensions": [dumps(d) for d in rated.dimensions],
            "reasons": [dumps(x) for x in rated.reasons],
        }
    )
    for i, name in enumerate(features):
        values = inputs[name].to_numpy(np.float64) if name in inputs.columns else np.full(len(inputs), np.nan)
        rat[f"x{i}"] = values[r]
        sig[f"x{i}"] = np.nan
    out = pd.concat([sig, rat], ignore_index=True)
    for c in OUT_COLUMNS.split(", "):
        name = c.split(" ")[0]
        if name not in out.columns:
            out[name] = None
    out = out[[c.split(" ")[0] for c in OUT_COLUMNS.split(", ")] + [f"x{i}" for i in range(len(features))]]
    for c, dtype in out.dtypes.items():  # Arrow-backed strings of pandas 3 arrive chunked: plain objects
        if not pd.api.types.is_numeric_dtype(dtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


# ------------------------------------------------------------------------------------------ sources
# The platform tables early warning reads (``qiantang export parquet`` writes them by default).
TABLES = ("institution_types", "institutions", "institution_status_changes", "filings", "disputes")
# The raw tables of the panel as Spark frames (dates and times as ISO text, parsed by the panel).
RAW_SCHEMAS = {
    "institutions": "id long, type_code string, template string, district_code string, capital double, "
    "established_on string, deregistered_on string, status string, name string",
    "events": "institution_id long, effective_on string, event string, status_after string, "
    "reason string, id long",
    "filings": "institution_id long, period_end string, revision long, is_current boolean, due_on string, "
    "submitted_at string, template string, data string",
    "disputes": "institution_id long, received_on string",
}


def _text(value):
    """A date or time as the ISO text SQLite stores; text as it is; None, NaN and NaT as None."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _from_tables(spark, tables) -> dict:
    """Spark frames of raw tables already read (the ``db`` source)."""
    frames = {
        "institutions": tables.institutions,
        "events": tables.events,
        "filings": tables.filings,
        "disputes": tables.disputes,
    }
    out = {}
    for name, frame in frames.items():
        schema = RAW_SCHEMAS[name]
        frame = frame.copy()
        for item in schema.split(", "):
            column, kind = item.split(" ")
            if kind == "string":
                frame[column] = [_text(v) for v in frame[column].tolist()]
            elif kind == "boolean":
                frame[column] = frame[column].astype(bool)
            elif kind == "double":
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
            else:
                frame[column] = frame[column].astype(np.int64)
        out[name] = spark.createDataFrame(frame, schema=schema)
    return out


def _raw_frames(read) -> dict:
    """The raw tables of the panel from the five platform tables (``read(name)`` → a Spark frame),
    selected and joined as :func:`qiantang.earlywarning.panel.read_tables` does in SQL."""
    from pyspark.sql import functions as F

    def text(column: str):
        return F.col(column).cast("string")

    types = read("institution_types").where(F.col("filing_template").isNotNull())
    types = types.select(F.col("code").alias("type_code"), F.col("filing_template").alias("template"))
    inst = (
        read("institutions")
        .join(types, "type_code")
        .select(
            F.col("id").cast("long"),
            "type_code",
            "template",
            "district_code",
            F.col("registered_capital").cast("double").alias("capital"),
            text("established_on").alias("established_on"),
            text("deregistered_on").alias("deregistered_on"),
            text("status").alias("status"),
            "name",
        )
    )
    ids = inst.select(F.col("id").alias("institution_id"))
    events = (
        read("institution_status_changes")
        .join(ids, "institution_id", "left_semi")
        .select(
            F.col("institution_id").cast("long"),
            text("effective_on").alias("effective_on"),
            text("event").alias("event"),
            text("status_after").alias("status_after"),
            "reason",
            F.col("id").cast("long"),
        )
    )
    filings = read("filings").select(
        F.col("institution_id").cast("long"),
        text("period_end").alias("period_end"),
        F.col("revision").cast("long"),
        F.col("is_current").cast("boolean"),
        text("due_on").alias("due_on"),
        text("submitted_at").alias("submitted_at"),
        F.col("template_code").alias("template"),
        F.when(F.col("is_current").cast("boolean"), text("data")).alias("data"),
    )
    disputes = (
        read("disputes")
        .where(F.col("institution_id").isNotNull())
        .select(F.col("institution_id").cast("long"), text("received_on").alias("received_on"))
    )
    return {"institutions": inst, "events": events, "filings": filings, "disputes": disputes}


def read_sources(
    spark,
    *,
    source: str = "db",
    session: Session | None = None,
    snapshot: str | Path | None = None,
    database_url: str | None = None,
) -> dict:
    """The raw tables of the panel as Spark frames: ``institutions``, ``events``, ``filings`` and
    ``disputes`` (columns of :data:`RAW_SCHEMAS`).

    - ``db``: read through ``session`` on the driver (SQLite or PostgreSQL) and handed to Spark;
    - ``parquet``: the tables of a ``qiantang export parquet`` snapshot in ``snapshot``, read by Spark;
    - ``jdbc``: read by Spark from PostgreSQL (``database_url``, by default the session's), over the
      PostgreSQL JDBC driver (:func:`qiantang.batch.snapshot.jdbc_jars`).
    """
    from qiantang.batch.sources import table_reader

    if source == "db":
        from qiantang.earlywarning.panel import read_tables

        if session is None:
            raise ValueError("source 'db' needs a session")
        return _from_tables(spark, read_tables(session))
    read = table_reader(
        spark, source=source, tables=TABLES, session=session, snapshot=snapshot, database_url=database_url
    )
    return _raw_frames(read)


# ------------------------------------------------------------------------------- the panel, on Spark
REGISTRY_SCHEMA = "kind string, institution_id long, id long, capital double, " + ", ".join(
    f"s{i} string" for i in range(7)
)
# The panel's rows as they leave the assembly (datetimes as int64, fields f0, f1, …).
ROW_COLUMNS = (
    ("institution_id", "long"),
    ("pq", "long"),
    ("expected", "boolean"),
    ("filed", "boolean"),
    ("first_submitted", "long"),
    ("due_on", "long"),
    ("n_revisions", "double"),
    ("disputes", "double"),
    ("template", "string"),
    ("type_code", "string"),
    ("district_code", "string"),
    ("capital_registry_wan", "double"),
)
DATETIME_COLUMNS = ("first_submitted", "due_on")


def _datetime_dtype() -> str:
    """The dtype the panel parses dates and times of ISO text to (the sources' form)."""
    from qiantang.earlywarning.panel import _as_date

    return str(_as_date(["2020-01-01 00:00:00"]).dtype)


def _registry(raw: dict):
    """Institutions, their events and their disputes as one tagged frame (the cogroup's right side)."""
    from pyspark.sql import functions as F

    def pad(columns: list) -> list:
        return columns + [F.lit(None).cast("string").alias(f"s{i}") for i in range(len(columns), 7)]

    inst = raw["institutions"].select(
        F.lit("i").alias("kind"),
        F.col("id").alias("institution_id"),
        "id",
        "capital",
        *[
            F.col(c).alias(f"s{i}")
            for i, c in enumerate(
                [
                    "type_code",
                    "template",
                    "district_code",
                    "established_on",
                    "deregistered_on",
                    "status",
                    "name",
                ]
            )
        ],
    )
    events = raw["events"].select(
        F.lit("e").alias("kind"),
        "institution_id",
        "id",
        F.lit(None).cast("double").alias("capital"),
        *pad(
            [
                F.col(c).alias(f"s{i}")
                for i, c in enumerate(["effective_on", "event", "status_after", "reason"])
            ]
        ),
    )
    disputes = raw["disputes"].select(
        F.lit("d").alias("kind"),
        "institution_id",
        F.lit(None).cast("long").alias("id"),
        F.lit(None).cast("double").alias("capital"),
        *pad([F.col("received_on").alias("s0")]),
    )
    return inst.unionByName(events).unionByName(disputes)


def _tables_of(filings: pd.DataFrame, registry: pd.DataFrame):
    """The raw :class:`~qiantang.earlywarning.panel.Tables` of one bucket from its cogrouped rows."""
    from qiantang.earlywarning import panel as p

    def part(kind: str, names: list[str], extra: dict) -> pd.DataFrame:
        rows = registry[registry["kind"] == kind]
        frame = pd.DataFrame({name: rows[f"s{i}"].to_numpy(object) for i, name in enumerate(names)})
        for column, source in extra.items():
            frame[column] = rows[source].to_numpy()
        return frame

    inst = part(
        "i",
        ["type_code", "template", "district_code", "established_on", "deregistered_on", "status", "name"],
        {"id": "institution_id", "capital": "capital"},
    )
    events = part(
        "e",
        ["effective_on", "event", "status_after", "reason"],
        {"institution_id": "institution_id", "id": "id"},
    )
    disputes = part("d", ["received_on"], {"institution_id": "institution_id"})
    for frame in (inst, events, disputes):
        for c in ("id", "institution_id"):
            if c in frame.columns:
                frame[c] = frame[c].astype(np.int64)
    return p.Tables(
        inst[p.INSTITUTION_COLUMNS],
        events[p.EVENT_COLUMNS],
        filings[p.FILING_COLUMNS].reset_index(drop=True),
        disputes[p.DISPUTE_COLUMNS],
    )


def _rows_out(panel, fields: list[str]) -> pd.DataFrame:
    """A bucket's panel as Arrow-safe rows of :data:`ROW_COLUMNS` and the fields ``f0, f1, …``."""
    rows = panel.rows
    dtype = _datetime_dtype()
    out = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    for column, kind in ROW_COLUMNS:
        values = rows[column] if column in rows.columns else pd.Series(np.nan, index=rows.index)
        if column in DATETIME_COLUMNS:
            out[column] = pd.to_datetime(values).astype(dtype).to_numpy().view(np.int64)
        elif kind == "long":
            out[column] = values.to_numpy(np.int64)
        elif kind == "boolean":
            out[column] = values.to_numpy(bool)
        elif kind == "double":
            out[column] = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
        else:
            out[column] = values.astype(object).where(values.notna(), None).to_numpy(object)
    for i, name in enumerate(fields):
        column = panel.fields[name] if name in panel.fields.columns else pd.Series(np.nan, index=rows.index)
        out[f"f{i}"] = column.to_numpy(np.float64)
    return out


def _bounds(raw: dict, templates: tuple[str, ...] | None):
    """The whole panel's :class:`~qiantang.earlywarning.panel.Bounds` by a few aggregations (None when
    no institution of the panel has a return), and the panel's field codes in the local order."""
    from pyspark.sql import functions as F

    from qiantang.earlywarning.panel import Bounds, pq_of, template_fields

    inst = raw["institutions"]
    if templates is not None:
        inst = inst.where(F.col("template").isin(list(templates)))
    kept = inst.select(F.col("id").alias("institution_id"))
    filings = raw["filings"].join(kept, "institution_id", "left_semi")
    first, last = filings.agg(F.min("period_end"), F.max("period_end")).first()
    if first is None:
        return None, [], inst, filings
    panel_templates = [r[0] for r in inst.select("template").distinct().collect()]
    filed = sorted(r[0] for r in filings.where("is_current").select("template").distinct().collect())
    fields_of: dict[str, list[str]] = {}
    order: dict[str, None] = {}
    for t in filed:
        codes = template_fields(t, [])
        if not codes:  # not a known template: the keys of its first returns, as the panel reads them
            records = (
                filings.where(F.col("is_current") & (F.col("template") == t))
                .orderBy("institution_id", "period_end")
                .limit(50)
                .select("data")
                .collect()
            )
            codes = template_fields(t, [json.loads(r[0] or "{}") for r in records])
        fields_of[t] = codes
        order.update(dict.fromkeys(codes))
    day = date.fromisoformat
    bounds = Bounds.of((pq_of(day(first[:10])), pq_of(day(last[:10]))), panel_templates, fields_of)
    return bounds, list(order), inst, filings


def assemble_panel(spark, raw: dict, *, templates: tuple[str, ...] | None = None, buckets: int = 4):
    """The panel shaped on the executors: (its rows as a Spark frame with a bucket column, the
    :class:`_Meta` the later steps need, the driver's :class:`~qiantang.earlywarning.panel.Panel`
    without return fields) — or (None, None, the local panel) when no institution has a return."""
    from pyspark.sql import functions as F

    from qiantang.earlywarning import panel as p

    bounds, fields, inst, filings = _bounds(raw, templates)
    if bounds is None:  # nothing to distribute: the (empty) panel of the few registry rows
        tables = p.Tables(*(raw[k].toPandas() for k in ("institutions", "events", "filings", "disputes")))
        return None, None, p.build(tables, templates=templates)
    kept = inst.select(F.col("id").alias("institution_id"))
    raw_kept = {
        "institutions": inst,
        "events": raw["events"].join(kept, "institution_id", "left_semi"),
        "disputes": raw["disputes"].join(kept, "institution_id", "left_semi"),
    }
    bucket = (F.col("institution_id") % buckets).alias(BUCKET)
    left = filings.select(bucket, *p.FILING_COLUMNS)
    right = _registry(raw_kept).select(bucket, "*")
    schema = ", ".join(f"{c} {k}" for c, k in ROW_COLUMNS) + "".join(
        f", f{i} double" for i in range(len(fields))
    )

    def assemble_udf(filings_pdf: pd.DataFrame, registry_pdf: pd.DataFrame) -> pd.DataFrame:
        part = p.build(_tables_of(filings_pdf, registry_pdf), templates=templates, bounds=bounds)
        return _rows_out(part, fields)

    rows_sdf = (
        left.groupBy(BUCKET)
        .cogroup(right.groupBy(BUCKET))
        .applyInPandas(assemble_udf, schema=schema)
        .withColumn(BUCKET, F.col("institution_id") % buckets)
        .localCheckpoint()
    )
    # The driver's panel: the rows (not the fields), the institutions and their status history.
    rows = rows_sdf.select(*[c for c, _ in ROW_COLUMNS]).toPandas()
    rows = rows.sort_values(["institution_id", "pq"]).reset_index(drop=True)
    registry = raw_kept["institutions"].toPandas()
    institutions = p.institutions_frame(registry, templates)
    events = p.events_frame(raw_kept["events"].toPandas(), institutions.index)
    meta = _Meta(
        row_columns=[c for c, _ in ROW_COLUMNS],
        datetimes=dict.fromkeys(DATETIME_COLUMNS, _datetime_dtype()),
        fields=fields,
        institutions=institutions,
        events=events.iloc[:0],
        first_pq=bounds.first_pq,
        last_pq=bounds.last_pq,
        templates=bounds.templates,
        starts=_starts(rows["institution_id"].to_numpy(np.int64)),
    )
    driver_rows = _rows_of(rows, meta)
    panel = p.Panel(
        institutions,
        events,
        driver_rows,
        pd.DataFrame(index=driver_rows.index),
        bounds.first_pq,
        bounds.last_pq,
        bounds.templates,
    )
    return rows_sdf, meta, panel


def compute(
    spark,
    session: Session | None = None,
    *,
    config=None,
    buckets: int | None = None,
    source: str = "db",
    snapshot: str | Path | None = None,
    database_url: str | None = None,
):
    """The :class:`~qiantang.earlywarning.service.Computation` of ``service.compute``, on Spark, from
    the tables of ``source`` (:func:`read_sources`).

    ``wide`` is not collected (an empty frame on the panel's index) and the panel holds no return
    fields; ``inputs`` holds the challenger's inputs of the filed rows. Everything ``service.run``
    stores is the local computation's.
    """
    from qiantang.earlywarning.service import Config, Laps
    from qiantang.earlywarning.service import compute_panel as local_compute

    config = config or Config.load()
    timings: dict[str, float] = {}
    lap = Laps(timings)
    n_buckets = buckets or max(2, 2 * spark.sparkContext.defaultParallelism)
    raw = read_sources(spark, source=source, session=session, snapshot=snapshot, database_url=database_url)
    sdf, meta, panel = assemble_panel(spark, raw, templates=config.rules.templates, buckets=n_buckets)
    lap("panel")
    if sdf is None:
        return local_compute(panel, config=config, timings=timings)
    return _stages(spark, sdf, meta, panel, config=config, timings=timings)


def compute_panel(spark, panel, *, config=None, buckets: int | None = None, timings=None):
    """:func:`compute` of a panel already read on the driver (shipped to Spark as it is)."""
    from qiantang.earlywarning.service import Config
    from qiantang.earlywarning.service import compute_panel as local_compute

    config = config or Config.load()
    timings = {} if timings is None else timings
    if panel.empty:  # nothing to distribute: the local computation of an empty panel
        return local_compute(panel, config=config, timings=timings)
    flat, meta = flat_panel(panel)
    n_buckets = buckets or max(2, 2 * spark.sparkContext.defaultParallelism)
    flat[BUCKET] = (flat["institution_id"].to_numpy(np.int64) % n_buckets).astype(np.int64)
    sdf = spark.createDataFrame(flat)
    return _stages(spark, sdf, meta, panel, config=config, timings=timings)


def _stages(spark, sdf, meta: _Meta, panel, *, config, timings):
    """Indicators, bands, signals and ratings of the panel rows ``sdf`` (bucketed) on the executors;
    the challenger on the driver, over ``panel`` (the driver's copy of the rows)."""
    from qiantang.earlywarning import challenger, rating, rules
    from qiantang.earlywarning.service import Computation, Laps

    lap = Laps(timings)
    features = list(config.scorecard.challenger.get("features", {}))

    def indicators_udf(pdf: pd.DataFrame) -> pd.DataFrame:
        from qiantang.earlywarning import indicators

        sub, grow = sub_panel(pdf, meta)
        return _long_of(sub, indicators.compute(sub), grow)

    long_sdf = sdf.groupBy(BUCKET).applyInPandas(indicators_udf, schema=LONG_SCHEMA).localCheckpoint()
    order = _code_order()
    long = long_sdf.toPandas()
    long["_c"] = long["code"].map(order)
    long = long.sort_values(["row", "_c"], kind="stable").drop(columns="_c").reset_index(drop=True)
    long["type_code"] = long["type_code"].astype(object)
    long["code"] = long["code"].astype(object)
    lap("indicators")

    def bands_udf(pdf: pd.DataFrame) -> pd.DataFrame:
        return rules.peer_bands(pdf)

    bands = long_sdf.groupBy("type_code", "pq").applyInPandas(bands_udf, schema=BAND_SCHEMA).toPandas()
    bands = bands.sort_values(["type_code", "pq", "code"]).reset_index(drop=True)
    for c in ("type_code", "code"):
        bands[c] = bands[c].astype(object)
    if bands.empty:
        bands = pd.DataFrame(columns=rules.BAND_COLUMNS)
    lap("bands")

    def outputs_udf(pdf: pd.DataFrame) -> pd.DataFrame:
        return _bucket_outputs(pdf, meta, config, bands)

    schema = OUT_COLUMNS + "".join(f", x{i} double" for i in range(len(features)))
    out = sdf.groupBy(BUCKET).applyInPandas(outputs_udf, schema=schema).toPandas()
    sig = out[out["part"] == "s"].sort_values(["block", "row", "sub"], kind="stable")
    signals = pd.DataFrame(
        {
            "row": sig["row"].to_numpy(np.int64),
            "institution_id": sig["institution_id"].to_numpy(np.int64),
            "pq": sig["pq"].to_numpy(np.int64),
            "family": sig["family"].to_numpy(object),
            "code": sig["code"].to_numpy(object),
            "level": sig["level"].to_numpy(object),
            "value": sig["value"].to_numpy(np.float64),
            "threshold": sig["threshold"].to_numpy(np.float64),
            "message_zh": sig["message_zh"].to_numpy(object),
            "message_en": sig["message_en"].to_numpy(object),
            "evidence": [json.loads(e) for e in sig["evidence"]],
            "kind": sig["kind"].to_numpy(object),
            "usage": sig["usage"].to_numpy(np.float64),
        },
        columns=rules.SIGNAL_COLUMNS,
    )
    lap("signals")
    rat = out[out["part"] == "r"].sort_values("row")
    rated = rating.Ratings(
        rows=rat["row"].to_numpy(np.int64),
        score=rat["score"].to_numpy(np.float64),
        level=rat["level"].to_numpy(object),
        dimensions=[json.loads(d) for d in rat["dimensions"]],
        reasons=[json.loads(x) for x in rat["reasons"]],
    )
    inputs = pd.DataFrame(index=panel.rows.index)
    for i, name in enumerate(features):
        column = np.full(len(panel.rows), np.nan)
        column[rated.rows] = rat[f"x{i}"].to_numpy(np.float64)
        inputs[name] = column
    lap("rating")
    onset = challenger.onsets(panel, config.scorecard.distress)
    chall = challenger.fit_and_score(panel, inputs, onset, config.scorecard.challenger)
    lap("challenger")
    wide = pd.DataFrame(index=panel.rows.index)
    return Computation(panel, wide, long, bands, signals, inputs, rated, chall, onset, timings)
