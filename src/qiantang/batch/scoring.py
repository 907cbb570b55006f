"""Batch scoring on Spark with the registered models as they are.

The feature frame is split into partitions and each partition is scored by
:func:`qiantang.credit.service.scored_outputs` inside a pandas UDF (``mapInPandas``, Arrow
batches): the scorecard's bin tables are applied vectorised (``np.searchsorted`` over the bin
edges, the same code as the single-machine path) and LightGBM's booster predicts its batch. The
model travels to the executors pickled with the task, so the scores are the local path's scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ROW = "_qiantang_row"
SCHEMA = f"{ROW} long, score double, pd double, grade string, reasons string"


def spark_safe(X: pd.DataFrame) -> pd.DataFrame:
    """Columns Arrow can carry: categoricals and objects as strings (restored on the executors)."""
    out = X.copy()
    for name, dtype in X.dtypes.items():
        if (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        ):
            out[name] = X[name].astype(object).where(X[name].notna(), None).astype(object)
            out[name] = out[name].map(lambda v: None if v is None else str(v))
        elif pd.api.types.is_bool_dtype(dtype):
            out[name] = X[name].astype(float)
    return out


def score_spark_frame(sdf, model, *, columns: list[str], dtypes: dict, top: int):
    """A Spark frame of (row, score, pd, grade, reasons) for a Spark frame of features with a row
    column ``_qiantang_row``; ``dtypes`` restores the pandas dtypes the model was trained on."""
    from qiantang.credit.service import scored_outputs

    def score_batches(batches):
        for batch in batches:
            rows = batch[ROW].to_numpy()
            Xb = batch[columns].reset_index(drop=True)
            for name in columns:
                dtype = dtypes[name]
                if str(Xb[name].dtype) != str(dtype):
                    Xb[name] = Xb[name].astype(dtype)
            score, pd_, grade, reasons = scored_outputs(model, Xb, top=top)
            yield pd.DataFrame(
                {
                    ROW: rows,
                    "score": np.asarray(score, dtype=float),
                    "pd": np.asarray(pd_, dtype=float),
                    "grade": np.asarray(grade).astype(str),
                    "reasons": list(reasons),
                }
            )

    return sdf.mapInPandas(score_batches, schema=SCHEMA)


def score_frame(spark, model, X: pd.DataFrame, *, top: int, partitions: int | None = None):
    """(score, pd, grade, reasons) of ``model`` over ``X``, computed on Spark, in ``X``'s row order."""
    frame = spark_safe(X)
    frame.insert(0, ROW, np.arange(len(X), dtype=np.int64))
    parts = partitions or max(1, spark.sparkContext.defaultParallelism)
    sdf = spark.createDataFrame(frame).repartition(parts)
    scored = score_spark_frame(sdf, model, columns=list(X.columns), dtypes=X.dtypes.to_dict(), top=top)
    out = scored.toPandas().sort_values(ROW)
    return (
        out["score"].to_numpy(float),
        out["pd"].to_numpy(float),
        out["grade"].to_numpy(object),
        out["reasons"].tolist(),
    )
