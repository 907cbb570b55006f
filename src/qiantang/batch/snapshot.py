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

# The tables the batch jobs on Spark read: the guarantee network, credit features and scoring; the
# registry, filings and disputes of early warning and statistics; the fundraising index's profiles,
# texts, spread, complaints, changes, people, 失信 list, fund reports, collapses and tips inbox
# (``ew run``, ``credit score``, ``network analyse``, ``stats refresh`` and ``fundraising run`` with
# ``--engine spark --source parquet``: each job's TABLES are among these).
DEFAULT_TABLES = (
    "enterprises",
    "enterprise_financials",
    "loans",
    "loan_classifications",
    "guarantees",
    "institution_types",
    "institutions",
    "institution_status_changes",
    "filings",
    "disputes",
    "fr_profiles",
    "fr_texts",
    "fr_spread",
    "fr_complaints",
    "fr_registration_changes",
    "fr_people",
    "fr_dishonest",
    "fr_fund_anomalies",
    "fr_collapses",
    "fundraising_tips",
    "fundraising_tip_reports",
)
CHUNK_ROWS = 200_000
# At most this many JDBC connections read one table at once by default: Spark's default parallelism
# on a cluster (hundreds of cores) would otherwise open as many connections to PostgreSQL, whose
# default max_connections is 100.
JDBC_MAX_PARTITIONS = 16
# Personal data that no batch job reads stays out of a snapshot (files on disk, outside the platform's
# masking by role): a tipster's contact, words, network key and receipt code; a tip's words, handling
# note and the staff account that handled it; the names and masked ID numbers of firms' people and of
# people on the 失信 list (the links need only ``person_key``, a keyed hash); a dispute's complainant
# and account of it (early warning counts disputes, fundraising reads the respondent's firm name).
LEFT_OUT = {
    "fundraising_tip_reports": ("contact", "client_key", "what_happened", "receipt_code"),
    "fundraising_tips": ("what_happened", "handling_note", "handled_by"),
    "fr_people": ("name", "id_masked"),
    "fr_dishonest": ("name",),
    "disputes": ("complainant", "summary"),
}


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
    """Write one table to ``out_dir/<name>.parquet`` in chunks of ``chunk_rows`` (without the
    columns of :data:`LEFT_OUT`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    columns = [c for c in table.columns if c.name not in LEFT_OUT.get(table.name, ())]
    schema = pa.schema([pa.field(c.name, _arrow_type(c)) for c in columns])
    path = out_dir / f"{table.name}.parquet"
    tmp = path.with_suffix(".parquet.part")
    rows = 0
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


def jdbc_url(database_url: str) -> tuple[str, str | None, str | None]:
    """(``jdbc:postgresql://host:port/db``, user, password) of a SQLAlchemy PostgreSQL URL."""
    from sqlalchemy.engine import make_url

    from qiantang.errors import QiantangError

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        zh = f"JDBC 读取只支持 PostgreSQL，当前数据库为 {url.get_backend_name()}"
        en = f"JDBC reads need PostgreSQL; the database is {url.get_backend_name()}"
        raise QiantangError(f"{zh} · {en}", message_en=en)
    host = url.host or "localhost"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    query = "&".join(f"{k}={v}" for k, v in url.query.items() if k in ("sslmode", "sslrootcert"))
    jdbc = f"jdbc:postgresql://{host}:{url.port or 5432}/{url.database or ''}" + (
        f"?{query}" if query else ""
    )
    return jdbc, url.username, url.password


def _driver_loaded(spark) -> bool:
    """Whether the PostgreSQL JDBC driver is on this session's classpath."""
    jvm = spark.sparkContext._jvm
    try:
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        jvm.java.lang.Class.forName("org.postgresql.Driver", True, loader)
    except Exception:  # py4j wraps the ClassNotFoundException
        return False
    return True


def read_jdbc(
    spark,
    url: str,
    table: str,
    *,
    user: str | None = None,
    password: str | None = None,
    fetch_size: int = 10_000,
    partitions: int | None = None,
):
    """A PostgreSQL table over JDBC; ``url`` is ``jdbc:postgresql://…``.

    The PostgreSQL JDBC driver must be on Spark's classpath: :func:`qiantang.batch.spark.get_spark`
    adds ``QIANTANG_SPARK_JARS`` or Debian's ``/usr/share/java/postgresql.jar``. Times without a zone
    are read as such (``preferTimestampNTZ``), so they keep their wall-clock value whatever the JVM's
    time zone. A table with an integer ``id`` (every large one) is read in ``partitions`` ranges of
    its ids, one connection each (by default Spark's default parallelism, at most
    :data:`JDBC_MAX_PARTITIONS`); the others in one."""
    from qiantang.errors import QiantangError

    if not _driver_loaded(spark):
        zh = (
            "Spark 找不到 PostgreSQL JDBC 驱动：请设置 QIANTANG_SPARK_JARS（驱动 jar 的路径）"
            "或安装 libpostgresql-jdbc-java（/usr/share/java/postgresql.jar），然后重新启动"
        )
        en = (
            "Spark has no PostgreSQL JDBC driver: set QIANTANG_SPARK_JARS to the driver's jar "
            "or install libpostgresql-jdbc-java (/usr/share/java/postgresql.jar), then start again"
        )
        raise QiantangError(f"{zh} · {en}", message_en=en)

    def reader():
        r = spark.read.format("jdbc").option("url", url).option("driver", "org.postgresql.Driver")
        r = r.option("fetchsize", str(fetch_size)).option("preferTimestampNTZ", "true")
        if user:
            r = r.option("user", user)
        if password:
            r = r.option("password", password)
        return r

    partitions = partitions or min(spark.sparkContext.defaultParallelism, JDBC_MAX_PARTITIONS)
    if partitions > 1 and _has_integer_id(table):
        bounds = reader().option("query", f"SELECT min(id) AS lo, max(id) AS hi FROM {table}").load().first()
        if bounds is not None and bounds["lo"] is not None and bounds["hi"] > bounds["lo"]:
            return (
                reader()
                .option("dbtable", table)
                .option("partitionColumn", "id")
                .option("lowerBound", str(bounds["lo"]))
                .option("upperBound", str(bounds["hi"] + 1))
                .option("numPartitions", str(partitions))
                .load()
            )
    return reader().option("dbtable", table).load()


def _has_integer_id(table: str) -> bool:
    """Whether the platform table ``table`` has an integer column ``id`` to split a JDBC read on."""
    from qiantang import models  # noqa: F401  (registers every table on the metadata)
    from qiantang.db import Base

    known = Base.metadata.tables.get(table)
    if known is None or "id" not in known.c:
        return False
    return isinstance(known.c.id.type, (Integer, BigInteger))
