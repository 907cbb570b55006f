"""The heavy batch jobs on Apache Spark (``--engine spark``), beside the single-machine ones.

One batch layer, two engines: ``qiantang network analyse``, ``credit score``, ``stats refresh``,
``ew run`` and ``fundraising run`` run their
heavy step either in this process (NumPy/scipy, the default) or on Spark through PySpark, and store
the same rows in the same result tables with the same versions, so pages do not know which engine
ran. Spark is optional (the ``spark`` extra and a Java 17 runtime); see docs/scale-out.md.

- :mod:`qiantang.batch.spark` — the SparkSession factory (``local[*]`` by default, any master).
- :mod:`qiantang.batch.snapshot` — ``qiantang export parquet``: the platform tables the batch jobs
  read, as a Parquet snapshot written in chunks; and readers of it (and of PostgreSQL over JDBC).
- :mod:`qiantang.batch.graph` — guarantee-network structure in Spark SQL (weak components by
  large-star/small-star, mutual pairs and three-firm rings by joins, strong components and chains
  within each group).
- :mod:`qiantang.batch.scoring` — batch scoring with the registered champion models in a pandas UDF.
- :mod:`qiantang.batch.statistics` — the statistics cells in Spark SQL.
- :mod:`qiantang.batch.earlywarning` — ``ew run``: the tables read by Spark (from the database, a
  Parquet snapshot or PostgreSQL over JDBC), the panel shaped on the executors by a cogrouped pandas
  UDF, then indicators, peer bands, rules and ratings with the local functions in grouped pandas UDFs
  over buckets of institutions.
- :mod:`qiantang.batch.fundraising` — ``fundraising run``: text scan, shared addresses and links to
  flagged firms in Spark, each firm's features and index per bucket of firms.
"""

ENGINES = ("local", "spark")
