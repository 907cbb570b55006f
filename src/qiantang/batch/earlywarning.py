"""Early warning on Spark: indicators, peer bands, signals and ratings over all filings.

The computation of :func:`qiantang.earlywarning.service.compute`, distributed, with the very same
functions. Everything the local path computes *per institution* — the indicators (lags by exact
quarter within an institution), the limit, trend, filing and conduct rules, the CAMEL+RR scorecard
and the rating signals — runs in a grouped pandas UDF (``groupBy(bucket).applyInPandas``) on whole
institutions: each bucket of institutions becomes a small :class:`~qiantang.earlywarning.panel.Panel`
with the panel's own rows, and the functions of ``indicators``, ``rules``, ``rating`` run on it as they
run on the whole panel. What crosses institutions is done as its own step:

1. **indicators** per bucket → the long table (collected: the driver stores it);
2. **peer bands** (p10…p90, MAD per type, quarter and indicator) — ``groupBy(type_code, pq)`` over the
   long table, each group by :func:`qiantang.earlywarning.rules.peer_bands`: a band is exactly the
   values of one type and quarter, so each group holds all of its peers;
3. **signals and ratings** per bucket again, with the collected bands (a few thousand rows) shipped
   to every task for the peer rule;
4. **the challenger** (LightGBM trained across institutions on earlier quarters) on the driver, on the
   scorecard inputs it needs collected from step 3 — it is one model fitted over all institutions.

The results come back in the local path's order (rule by rule, rows in panel order; peer signals by
row and indicator), because the alerts keep the first signal of equal level in their evidence.
The panel itself is read on the driver by :func:`qiantang.earlywarning.panel.load_panel`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

ROW = "_row"
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


def flat_panel(panel) -> tuple[pd.DataFrame, _Meta]:
    """The panel's rows and fields as one Arrow-safe frame with the global row number."""
    rows = panel.rows.drop(columns=["period_end"])
    flat = pd.DataFrame({ROW: np.arange(len(rows), dtype=np.int64)})
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
    )
    return flat, meta


def sub_panel(pdf: pd.DataFrame, meta: _Meta):
    """(the Panel of the institutions in ``pdf``, global row of each of its rows)."""
    from qiantang.earlywarning.panel import Panel, period_of

    pdf = pdf.sort_values(ROW).reset_index(drop=True)
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
    fields = pd.DataFrame(
        {name: pdf[f"f{i}"].to_numpy(np.float64) for i, name in enumerate(meta.fields)}, index=rows.index
    )
    ids = np.unique(rows["institution_id"].to_numpy(np.int64))
    inst = meta.institutions[meta.institutions.index.isin(ids)]
    panel = Panel(inst, meta.events, rows, fields, meta.first_pq, meta.last_pq, meta.templates)
    return panel, pdf[ROW].to_numpy(np.int64)


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


def compute(spark, session: Session, *, config=None, buckets: int | None = None):
    """The :class:`~qiantang.earlywarning.service.Computation` of ``service.compute``, on Spark.

    ``wide`` is not collected (an empty frame on the panel's index); ``inputs`` holds the challenger's
    inputs of the filed rows. Everything ``service.run`` stores is the local computation's.
    """
    from qiantang.earlywarning.panel import load_panel
    from qiantang.earlywarning.service import Config, Laps

    config = config or Config.load()
    timings: dict[str, float] = {}
    lap = Laps(timings)

    panel = load_panel(session, templates=config.rules.templates)
    lap("read")
    return compute_panel(spark, panel, config=config, buckets=buckets, timings=timings)


def compute_panel(spark, panel, *, config=None, buckets: int | None = None, timings=None):
    """:func:`compute` of a panel already read."""
    from qiantang.earlywarning import challenger, rating, rules
    from qiantang.earlywarning.service import Computation, Config, Laps
    from qiantang.earlywarning.service import compute_panel as local_compute

    config = config or Config.load()
    timings = {} if timings is None else timings
    lap = Laps(timings)

    features = list(config.scorecard.challenger.get("features", {}))
    if panel.empty:  # nothing to distribute: the local computation of an empty panel
        return local_compute(panel, config=config, timings=timings)
    flat, meta = flat_panel(panel)
    n_buckets = buckets or max(2, 2 * spark.sparkContext.defaultParallelism)
    flat[BUCKET] = (flat["institution_id"].to_numpy(np.int64) % n_buckets).astype(np.int64)
    sdf = spark.createDataFrame(flat)

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
