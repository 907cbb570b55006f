"""Benchmark: the single-machine path against Spark local[2] for batch scoring, guarantee-network
detection and early warning on a synthetic province, at the sizes given on the command line.

For each size N the province is generated once (``qiantang demo export --scale province``: N firms,
≈3N loans, ≈2N guarantees) under ``--data``. Each (job, engine) then runs in a fresh child process
while the parent samples the resident memory of the child and all its descendants (the JVM and the
Python workers, for Spark) every 0.1 s; the table shows wall time and that peak, and Spark's ratio
to the local path.

- **network**: guarantees in force on 2025-12-31 between firms → groups, strong components, mutual
  pairs, three-firm rings, chains, and each group's structural metrics. Local: pyarrow → NumPy →
  ``qiantang.network.service.structure`` (scipy) and ``bincount``s. Spark:
  ``qiantang.batch.graph.structure_frames`` and ``group_frame`` on the Parquet, written to Parquet.
- **scoring**: the demo champion scorecard (trained by ``demo load`` on the tiny city) applied, with
  reasons, to N rows of credit features — rows of the tiny city's feature table drawn with
  replacement and written once to Parquet (feature building from raw tables is not timed). Local:
  pandas → ``scored_outputs``. Spark: ``mapInPandas`` with the same function; results to Parquet.
- **scoring-raw** (Spark only): the same scorecard over the province's own firms, Spark building
  the features from the generator's Parquet (enterprises, statements, loans, guarantees) as
  ``credit score --engine spark --source parquet`` does — ``batch.credit.raw_frame`` (``read_raw``'s
  aggregates in Spark SQL), then ``compute_features`` and the scoring per partition
  (``batch.credit.score_segment``); scores to Parquet. The local path reads these tables from the
  database (``read_raw``), not from Parquet, so it has no counterpart here.
- **earlywarning**: from the inputs to what ``ew run`` stores (writing it is not part of either
  path here): the quarterly panel, indicators, peer bands, every rule, the rating and the challenger,
  over the licensed institutions of a registry of N firms — the tiny city's registry, status history,
  filings and disputes (15 % of a city's institutions) tiled with new ids to the city's proportion,
  N/1M ÷ 0.15 copies. Local: read from a SQLite database of those tables as ``ew run`` reads (
  ``earlywarning.panel.load_panel``), then ``earlywarning.service.compute_panel``. Spark: the tables
  read by Spark from their Parquet snapshot, the panel shaped on the executors
  (``batch.earlywarning.compute(source="parquet")``).

    PYTHONPATH=src python benchmarks/scale_out.py --sizes 1000000 --data /tmp/province

Spark's time includes starting its JVM (shown separately as "startup").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

AS_OF = date(2025, 12, 31)
MASTER = "local[2]"


# --------------------------------------------------------------------------------------------------
# Inputs


def ensure_province(data: Path, n: int) -> Path:
    from qiantang.demo.province import TABLES, export_province

    out = data / f"province_{n}"
    if not all((out / f"{t}.parquet").exists() for t in TABLES):
        started = time.perf_counter()
        export_province(out, enterprises=n)
        print(f"  generated {n:,} firms in {time.perf_counter() - started:.1f} s → {out}", flush=True)
    return out


def ensure_model(data: Path) -> Path:
    """The tiny demo city's champion scorecard and feature table (pickled once)."""
    path = data / "model_and_features.pkl"
    if path.exists():
        return path
    from qiantang import demo, migrate
    from qiantang.bootstrap import sync_all
    from qiantang.credit import features as feats
    from qiantang.credit import policy as pol
    from qiantang.credit import registry
    from qiantang.db import make_engine, session_scope, use_engine

    url = f"sqlite:///{data / 'tiny.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    use_engine(engine)
    with session_scope() as session:
        sync_all(session)
    demo.load(engine, scale="tiny", seed=7)
    with session_scope() as session:
        row = registry.champion(session, "all")
        model = registry.load(row)
        raw = feats.read_raw(session.connection(), as_of=AS_OF)
        X = feats.compute_features(raw.frame, AS_OF)
    path.write_bytes(pickle.dumps({"model": model, "X": X, "top": pol.reasons_top()}))
    return path


def ensure_features(data: Path, n: int, model_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = data / f"features_{n}.parquet"
    if out.exists():
        return out
    X = pickle.loads(model_path.read_bytes())["X"]
    from qiantang.batch.scoring import ROW, spark_safe

    rng = np.random.default_rng(n)
    writer = None
    for start in range(0, n, 500_000):
        k = min(500_000, n - start)
        part = spark_safe(X.iloc[rng.integers(0, len(X), k)].reset_index(drop=True))
        part.insert(0, ROW, np.arange(start, start + k, dtype=np.int64))
        table = pa.Table.from_pandas(part, preserve_index=False)
        writer = writer or pq.ParquetWriter(out, table.schema, compression="zstd")
        writer.write_table(table.cast(writer.schema))
    writer.close()
    return out


# --------------------------------------------------------------------------------------------------
# Jobs (run in a child process)


EW_TABLES = ("institution_types", "institutions", "institution_status_changes", "filings", "disputes")
# The columns holding an institution's id, offset by the same step in every copy.
EW_INSTITUTION_COLUMNS = {
    "institutions": "id",
    "institution_status_changes": "institution_id",
    "filings": "institution_id",
    "disputes": "institution_id",
}


def ensure_ew_inputs(data: Path, n: int) -> Path:
    """Early warning's five tables of the tiny city tiled to a registry of ``n`` firms (built once):
    a SQLite database, which the local path reads as ``ew run`` does, and its Parquet snapshot
    (``batch.snapshot.export_parquet``), which Spark reads itself. Each copy offsets the institutions'
    ids (and every table's own ids) by a fixed step; ``institution_types`` is copied once."""
    import sqlite3

    out = data / f"ew_{n}"
    db, snap = out / "ew.db", out / "snapshot"
    if (snap / "disputes.parquet").exists():
        return out
    if not (data / "tiny.db").exists():
        ensure_model(data)
    out.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    copies = max(1, round(n / 1_000_000 / 0.15))
    con = sqlite3.connect(db)
    con.execute("ATTACH DATABASE ? AS tiny", (str(data / "tiny.db"),))

    def step(sql: str) -> int:
        return 10 ** len(str(int(con.execute(sql).fetchone()[0] or 0)))

    inst_step = step("SELECT max(id) FROM tiny.institutions")
    for table in EW_TABLES:
        columns = [r[1] for r in con.execute(f"PRAGMA tiny.table_info({table})")]
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM tiny.{table} WHERE 0")
        if table == "institution_types":
            con.execute(f"INSERT INTO {table} SELECT * FROM tiny.{table}")
            continue
        own_step = step(f"SELECT max(id) FROM tiny.{table}")
        for c in range(copies):
            exprs = []
            for col in columns:
                if col == EW_INSTITUTION_COLUMNS[table]:
                    exprs.append(f"{col} + {c * inst_step}")
                elif col == "id":
                    exprs.append(f"id + {c * own_step}")
                else:
                    exprs.append(col)
            con.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM tiny.{table}"
            )
    con.execute("CREATE INDEX ix_institutions_id ON institutions (id)")
    con.commit()
    con.close()
    from qiantang.batch.snapshot import export_parquet
    from qiantang.db import make_engine

    export_parquet(make_engine(f"sqlite:///{db}"), snap, tables=EW_TABLES)
    print(
        f"  early-warning inputs: {copies} copies of the tiny city's registry and filings → {out}", flush=True
    )
    return out


def earlywarning_run(inputs: Path, spark) -> dict:
    """Early warning from its inputs to what ``ew run`` stores (not written here): locally, the panel
    read from the SQLite database and every stage in this process; on Spark, the tables read from
    the Parquet snapshot by Spark and the panel shaped on the executors (``batch.earlywarning.compute``)."""
    from qiantang.earlywarning.service import Config

    config = Config.load()
    if spark is None:
        from sqlalchemy.orm import Session

        from qiantang.db import make_engine
        from qiantang.earlywarning.panel import load_panel
        from qiantang.earlywarning.service import compute_panel

        with Session(make_engine(f"sqlite:///{inputs / 'ew.db'}")) as session:
            panel = load_panel(session, templates=config.rules.templates)
        comp = compute_panel(panel, config=config)
    else:
        from qiantang.batch.earlywarning import compute

        comp = compute(spark, config=config, source="parquet", snapshot=inputs / "snapshot")
    return {
        "institutions": len(comp.panel.institutions),
        "rows": len(comp.panel.rows),
        "indicators": len(comp.long),
        "signals": len(comp.signals),
        "ratings": len(comp.ratings.rows),
    }


def network_local(province: Path, out: Path) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from qiantang.network import analysis, service

    g = pq.read_table(
        province / "guarantees.parquet",
        columns=["guarantor_enterprise_id", "borrower_id", "amount", "start_date", "end_date"],
    )
    import pyarrow as pa

    day = pa.scalar(AS_OF, type=pa.date32())
    keep = pc.and_(
        pc.and_(pc.is_valid(g["guarantor_enterprise_id"]), pc.less_equal(g["start_date"], day)),
        pc.or_(pc.is_null(g["end_date"]), pc.greater_equal(g["end_date"], day)),
    )
    g = g.filter(keep)
    src = g["guarantor_enterprise_id"].to_numpy()
    dst = g["borrower_id"].to_numpy()
    ids, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    edges = analysis.Edges.build(len(ids), inverse[: len(src)], inverse[len(src) :], g["amount"].to_numpy())

    class Net:  # structure() reads only the edges
        pass

    net = Net()
    net.edges = edges
    s = service.structure(net)
    # The structural group metrics (as network.service.group_metrics computes them).
    k = s.n_groups
    edge_group = s.group[edges.src]
    firms = np.bincount(s.group, minlength=k)
    groups = {
        "firms": firms,
        "guarantees": np.bincount(edge_group, minlength=k),
        "total_guaranteed": np.bincount(edge_group, weights=edges.amount, minlength=k),
        "mutual_pairs": np.bincount(s.group[s.pair_a], minlength=k),
        "rings": np.bincount(s.group, weights=s.rings, minlength=k).astype(np.int64) // 3,
        "loop_firms": np.bincount(s.group, weights=(s.loop_size > 1), minlength=k).astype(np.int64),
    }
    largest = np.zeros(k, dtype=np.int64)
    np.maximum.at(largest, s.group, s.loop_size)
    chain = np.zeros(k, dtype=np.int64)
    np.maximum.at(chain, s.group, s.up)
    groups.update(largest_loop=largest, longest_chain=chain)
    possible = firms * (firms - 1)
    groups["density"] = np.where(possible > 0, groups["guarantees"] / np.maximum(possible, 1), 0.0)
    import pandas as pd

    pd.DataFrame(groups).to_parquet(out / "groups.parquet")
    return {
        "firms": len(ids),
        "relations": int(edges.m),
        "groups": int(s.n_groups),
        "pairs": len(s.pair_a),
        "rings": int(s.rings.sum() // 3),
    }


def network_spark(province: Path, out: Path, spark) -> dict:
    from pyspark.sql import functions as F

    from qiantang.batch import graph

    g = spark.read.parquet(str(province / "guarantees.parquet"))
    day = F.lit(AS_OF.isoformat()).cast("date")
    edges = g.where(
        F.col("guarantor_enterprise_id").isNotNull()
        & (F.col("start_date") <= day)
        & (F.col("end_date").isNull() | (F.col("end_date") >= day))
    ).select(F.col("guarantor_enterprise_id").alias("src"), F.col("borrower_id").alias("dst"))
    nodes, pairs = graph.structure_frames(edges)
    nodes.write.mode("overwrite").parquet(str(out / "nodes.parquet"))
    pairs.write.mode("overwrite").parquet(str(out / "pairs.parquet"))
    nodes = spark.read.parquet(str(out / "nodes.parquet"))
    pairs = spark.read.parquet(str(out / "pairs.parquet"))
    amounts = g.where(
        F.col("guarantor_enterprise_id").isNotNull()
        & (F.col("start_date") <= day)
        & (F.col("end_date").isNull() | (F.col("end_date") >= day))
    ).select(F.col("guarantor_enterprise_id").alias("src"), F.col("borrower_id").alias("dst"), "amount")
    groups = graph.group_frame(amounts, nodes, pairs)
    groups.write.mode("overwrite").parquet(str(out / "groups.parquet"))
    written = spark.read.parquet(str(out / "nodes.parquet"))
    return {
        "firms": written.count(),
        "groups": spark.read.parquet(str(out / "groups.parquet")).count(),
        "pairs": spark.read.parquet(str(out / "pairs.parquet")).count(),
        "rings": int(written.agg(F.sum("rings")).first()[0] or 0) // 3,
    }


def scoring_local(features: Path, model_path: Path, out: Path) -> dict:
    import pandas as pd

    from qiantang.batch.scoring import ROW
    from qiantang.credit.service import scored_outputs

    bundle = pickle.loads(model_path.read_bytes())
    template = bundle["X"]
    X = pd.read_parquet(features)
    rows = X.pop(ROW).to_numpy()
    for name, dtype in template.dtypes.items():
        if str(X[name].dtype) != str(dtype):
            X[name] = X[name].astype(dtype)
    score, pd_, grade, reasons = scored_outputs(bundle["model"], X, top=bundle["top"])
    result = pd.DataFrame({ROW: rows, "score": score, "pd": pd_, "grade": grade, "reasons": reasons})
    result.to_parquet(out / "scores.parquet")
    return {"rows": len(result), "mean_score": round(float(np.mean(score)), 6)}


def scoring_spark(features: Path, model_path: Path, out: Path, spark) -> dict:
    from pyspark.sql import functions as F

    from qiantang.batch.scoring import score_spark_frame

    bundle = pickle.loads(model_path.read_bytes())
    template = bundle["X"]
    sdf = spark.read.parquet(str(features))
    scored = score_spark_frame(
        sdf,
        bundle["model"],
        columns=list(template.columns),
        dtypes=template.dtypes.to_dict(),
        top=bundle["top"],
    )
    scored.write.mode("overwrite").parquet(str(out / "scores.parquet"))
    written = spark.read.parquet(str(out / "scores.parquet"))
    return {"rows": written.count(), "mean_score": round(float(written.agg(F.avg("score")).first()[0]), 6)}


def scoring_raw_spark(province: Path, model_path: Path, out: Path, spark) -> dict:
    from pyspark.sql import functions as F

    from qiantang.batch import credit as spark_credit
    from qiantang.batch.snapshot import read_snapshot

    bundle = pickle.loads(model_path.read_bytes())
    raw = spark_credit.raw_frame(lambda name: read_snapshot(spark, province, name), AS_OF)
    scored = spark_credit.score_segment(raw, bundle["model"], as_of=AS_OF, top=bundle["top"], profile=None)
    scored.drop(spark_credit.COUNTS).write.mode("overwrite").parquet(str(out / "scores.parquet"))
    written = spark.read.parquet(str(out / "scores.parquet"))
    stats = written.agg(F.count(F.lit(1)), F.avg("score"), F.sum(F.col("borrower").cast("long"))).first()
    return {"rows": stats[0], "mean_score": round(float(stats[1]), 6), "borrowers": int(stats[2])}


def child(args) -> None:
    out = Path(tempfile.mkdtemp(prefix="scale_out_", dir=args.data))
    started = time.perf_counter()
    startup = 0.0
    spark = None
    if args.engine == "spark":
        from qiantang.batch.spark import get_spark

        spark = get_spark(MASTER, shuffle_partitions=args.partitions)
        startup = time.perf_counter() - started
    if args.job == "network":
        extra = network_spark(args.province, out, spark) if spark else network_local(args.province, out)
    elif args.job == "earlywarning":
        extra = earlywarning_run(args.ew, spark)
    elif args.job == "scoring-raw":
        if not spark:
            raise SystemExit("scoring-raw runs on Spark only")
        extra = scoring_raw_spark(args.province, args.model, out, spark)
    else:
        if spark:
            extra = scoring_spark(args.features, args.model, out, spark)
        else:
            extra = scoring_local(args.features, args.model, out)
    seconds = time.perf_counter() - started
    print("RESULT " + json.dumps({"seconds": seconds, "startup": startup, **extra}), flush=True)
    if spark:
        spark.stop()
    import shutil

    shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Parent: run children, sample their memory


def run_child(argv: list[str]) -> dict:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                total = root.memory_info().rss
                for c in root.children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += c.memory_info().rss
            except psutil.NoSuchProcess:
                break
            peak = max(peak, total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (stderr or stdout).strip().splitlines()[-1:] or ["failed"], "peak_mb": peak / 2**20}
    return {**json.loads(lines[-1][7:]), "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--data", type=Path, default=Path("/tmp/qiantang_scale_out"))
    parser.add_argument(
        "--jobs",
        nargs="+",
        default=["scoring", "network", "earlywarning"],
        choices=["scoring", "scoring-raw", "network", "earlywarning"],
    )
    parser.add_argument("--partitions", type=int, default=8, help="Spark shuffle partitions")
    parser.add_argument(
        "--engines", nargs="+", default=["local", "spark"], choices=["local", "spark"], help="engines to run"
    )
    parser.add_argument("--child", nargs=2, metavar=("JOB", "ENGINE"), help=argparse.SUPPRESS)
    parser.add_argument("--province", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--features", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ew", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    if args.child:
        args.job, args.engine = args.child
        child(args)
        return
    import psutil

    print(
        f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB "
        f"(shared with other work while measured); Spark {MASTER}, {args.partitions} shuffle partitions",
        flush=True,
    )
    model = ensure_model(args.data) if {"scoring", "scoring-raw"} & set(args.jobs) else None
    rows = []
    for n in args.sizes:
        province = ensure_province(args.data, n) if {"network", "scoring-raw"} & set(args.jobs) else None
        features = ensure_features(args.data, n, model) if "scoring" in args.jobs else None
        ew = ensure_ew_inputs(args.data, n) if "earlywarning" in args.jobs else None
        for job in args.jobs:
            result = {}
            for engine in args.engines:
                if job == "scoring-raw" and engine != "spark":
                    continue  # no local counterpart (the local path reads the database)
                argv = [
                    "--child",
                    job,
                    engine,
                    "--data",
                    str(args.data),
                    "--partitions",
                    str(args.partitions),
                ]
                if province:
                    argv += ["--province", str(province)]
                if features:
                    argv += ["--features", str(features)]
                if model:
                    argv += ["--model", str(model)]
                if ew:
                    argv += ["--ew", str(ew)]
                result[engine] = run_child(argv)
                print(f"  {n:>11,} {job:<12} {engine:<6} {json.dumps(result[engine])}", flush=True)
            rows.append((n, job, result))
    print()
    header = (
        f"{'firms':>11} {'job':<12} {'local s':>8} {'local MB':>9} {'spark s':>8} {'(startup)':>9} "
        f"{'spark MB':>9} {'time ×':>7} {'mem ×':>6}"
    )
    print(header)
    print("-" * len(header))
    for n, job, r in rows:
        if len(r) < 2:
            ((engine, one),) = r.items()
            seconds, error = one.get("seconds", 0.0), one.get("error", "")
            print(f"{n:>11,} {job:<12} {engine}: {seconds:.1f} s, {one['peak_mb']:.0f} MB {error}")
            continue
        lo, sp = r["local"], r["spark"]
        if "error" in lo or "error" in sp:
            print(f"{n:>11,} {job:<12} error: {lo.get('error') or sp.get('error')}")
            continue
        print(
            f"{n:>11,} {job:<12} {lo['seconds']:8.1f} {lo['peak_mb']:9.0f} {sp['seconds']:8.1f} "
            f"{sp['startup']:9.1f} {sp['peak_mb']:9.0f} {sp['seconds'] / lo['seconds']:7.2f} "
            f"{sp['peak_mb'] / lo['peak_mb']:6.2f}"
        )


if __name__ == "__main__":
    main()
