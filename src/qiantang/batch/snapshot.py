"""A Parquet snapshot of the platform tables the batch jobs read (``qiantang export parquet DIR``),
and readers of it — or of PostgreSQL over JDBC — for Spark.

The snapshot streams each table through a server-side cursor in chunks and appends each chunk as a
Parquet row group, so memory stays bounded by one chunk whatever the table's size. Column types come
from the SQLAlchemy table, not from the data (an all-null first chunk would otherwise fix a column
as null-typed): integers → int64, money and floats → float64, dates → date32, times → timestamp[us],
enums and text → string (the enum's value), JSON → its text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Enum, Float, Integer, Numeric, select
from sqlalchemy.engine import Engine

# The tables the batch jobs on Spark read: the guarantee network, credit features and scoring.
DEFAULT_TABLES = ("enterprises", "enterprise_financials", "loans", "loan_classifications", "guarantees")
CHUNK_ROWS = 200_000


@dataclass
class TableExport:
    table: str
    rows: int
    path: Path
    seconds: float


def _arrow_type(column):
    import pyarrow as pa

    t = column.type
    if isinstance(t, Boolean):
        return pa.bool_()
    if isinstance(t, Integer | BigInteger):
        return pa.int64()
    if isinstance(t, Float | Numeric):
        return pa.float64()
    if isinstance(t, DateTime):
        return pa.timestamp("us")
    if isinstance(t, Date):
        return pa.date32()
    return pa.string()


def _convert(value, column):
    if value is None:
        return None
    t = column.type
    if isinstance(t, Enum):
        return str(getattr(value, "value", value))
    if isinstance(t, JSON) or (not isinstance(value, str | int | float | bool | date | datetime)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except TypeError:
            return str(value)
    if isinstance(t, Float | Numeric):
        return float(value)
    return value


def export_table(engine: Engine, table, out_dir: Path, *, chunk_rows: int = CHUNK_ROWS) -> TableExport:
    """Write one table to ``out_dir/<name>.parquet`` in chunks of ``chunk_rows``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in table.columns])
    path = out_dir / f"{table.name}.parquet"
    tmp = path.with_suffix(".parquet.part")
    rows = 0
    columns = list(table.columns)
    with engine.connect() as conn, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            select(*columns).order_by(*table.primary_key.columns)
        )
        for chunk in result.partitions(chunk_rows):
            data = {
                c.name: pa.array([_convert(r[i], c) for r in chunk], type=schema.field(c.name).type)
                for i, c in enumerate(columns)
            }
            writer.write_table(pa.table(data, schema=schema))
            rows += len(chunk)
        if rows == 0:
            writer.write_table(schema.empty_table())
    tmp.replace(path)
    return TableExport(table.name, rows, path, time.perf_counter() - started)


def export_parquet(
    engine: Engine, out_dir: str | Path, *, tables=DEFAULT_TABLES, chunk_rows: int = CHUNK_ROWS
) -> list[TableExport]:
    """Write each of ``tables`` as ``<name>.parquet`` under ``out_dir`` (created if missing)."""
    from qiantang import models  # noqa: F401  (registers every table on the metadata)
    from qiantang.db import Base

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    known = Base.metadata.tables
    missing = [t for t in tables if t not in known]
    if missing:
        raise KeyError(", ".join(missing))
    return [export_table(engine, known[name], out, chunk_rows=chunk_rows) for name in tables]


def read_snapshot(spark, directory: str | Path, table: str):
    """A table of the Parquet snapshot as a Spark DataFrame."""
    return spark.read.parquet(str(Path(directory) / f"{table}.parquet"))


def read_jdbc(spark, url: str, table: str, *, user: str | None = None, password: str | None = None):
    """A PostgreSQL table over JDBC (needs the PostgreSQL JDBC driver on Spark's classpath, e.g.
    ``spark.jars.packages=org.postgresql:postgresql:42.7.4``); ``url`` is ``jdbc:postgresql://…``."""
    reader = spark.read.format("jdbc").option("url", url).option("dbtable", table)
    reader = reader.option("driver", "org.postgresql.Driver")
    if user:
        reader = reader.option("user", user)
    if password:
        reader = reader.option("password", password)
    return reader.load()
