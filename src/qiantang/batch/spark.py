"""The SparkSession factory: ``local[*]`` by default, any master (``yarn``, ``k8s://…``) by option."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from qiantang.errors import QiantangError

DEFAULT_MASTER = "local[*]"
# Debian's PostgreSQL JDBC driver (package libpostgresql-jdbc-java), used when QIANTANG_SPARK_JARS is unset.
DEBIAN_POSTGRESQL_JAR = "/usr/share/java/postgresql.jar"


def spark_jars() -> str | None:
    """The jars Spark starts with: ``QIANTANG_SPARK_JARS`` (comma-separated paths), else Debian's
    PostgreSQL JDBC driver if installed, else none."""
    jars = os.environ.get("QIANTANG_SPARK_JARS", "").strip()
    if jars:
        return jars
    return DEBIAN_POSTGRESQL_JAR if os.path.exists(DEBIAN_POSTGRESQL_JAR) else None


def available() -> str | None:
    """None when Spark can run here, else why not (no pyspark, no Java)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'qiantang[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and not shutil.which(
        "java"
    ):
        return "no Java runtime (Debian: apt-get install openjdk-17-jre-headless)"
    return None


def _local_workers_import_this_qiantang() -> None:
    """Python workers of local mode run this interpreter and import this qiantang (a checkout's
    ``src`` before any installed copy). On a cluster, install the package on the executors or ship
    it with ``spark-submit --py-files`` (docs/scale-out.md)."""
    import qiantang

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    src = str(Path(qiantang.__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([src, *paths])


def get_spark(
    master: str | None = None, *, shuffle_partitions: int | None = None, app_name: str = "qiantang"
):
    """The process's SparkSession (created on first use; later calls return the same one).

    ``shuffle_partitions`` defaults to 4 in local mode (the city fits a few partitions; Spark's 200
    would make every join 200 tiny tasks) and is left to the cluster's configuration otherwise.
    Arrow transfers are on: pandas UDFs and ``createDataFrame`` from pandas go through Arrow.
    The jars of :func:`spark_jars` (the PostgreSQL JDBC driver) are on the classpath.
    """
    why = available()
    if why:
        raise QiantangError(f"无法使用 Spark：{why}", message_en=f"Spark is not available: {why}")
    from pyspark.sql import SparkSession

    master = master or os.environ.get("QIANTANG_SPARK_MASTER") or DEFAULT_MASTER
    if master.startswith("local"):
        _local_workers_import_this_qiantang()
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
    )
    if shuffle_partitions is None and master.startswith("local"):
        shuffle_partitions = 4
    if shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    jars = spark_jars()
    if jars:  # the PostgreSQL JDBC driver of ``ew run --source jdbc`` (read_jdbc)
        builder = builder.config("spark.jars", jars)
    driver_memory = os.environ.get("QIANTANG_SPARK_DRIVER_MEMORY")
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
