"""Benchmark: load the demo city through the CLI into a fresh database, and compare insert paths.

Runs ``qiantang db upgrade`` and ``qiantang demo load --scale X`` as subprocesses against a fresh
database, polls the load process's memory with psutil, and prints rows, seconds, rows/s, peak RSS and
the share of the goals used (city: 10 minutes and 4 GB on a 2-core machine). Then, as a named baseline
in the same run, inserts one sample of loans into a scratch SQLite table twice: with
``qiantang.db.bulk_insert`` and with the plain ORM path ``session.execute(insert(Loan), dicts)``.
It prints figures; it asserts nothing.

    python benchmarks/demo_load.py                       # city scale, temporary SQLite file
    python benchmarks/demo_load.py --scale small
    python benchmarks/demo_load.py --database-url postgresql+psycopg://user:pw@localhost/empty_db
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

GOAL_SECONDS = {"tiny": 10.0, "small": 90.0, "city": 600.0}
GOAL_RSS_MB = 4096.0
BASELINE_ROWS = 200_000


def qiantang_command() -> list[str]:
    """The CLI next to this interpreter (the project's virtualenv), else ``python -m`` it."""
    script = Path(sys.executable).with_name("qiantang")
    if script.exists():
        return [str(script)]
    found = shutil.which("qiantang")
    return [found] if found else [sys.executable, "-c", "from qiantang.cli import app; app()"]


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, peak RSS in MB of it and its children, combined output)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        print(text)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return seconds, peak / 2**20, text


def count_rows(url: str) -> dict[str, int]:
    from qiantang.demo import TABLES
    from qiantang.models import Base

    engine = create_engine(url)
    names = (*TABLES, "users")
    with engine.connect() as conn:
        rows = {n: conn.scalar(select(func.count()).select_from(Base.metadata.tables[n])) for n in names}
    engine.dispose()
    return rows


def bench_load(scale: str, seed: int, url: str) -> None:
    env = {**os.environ, "QIANTANG_DATABASE_URL": url, "COLUMNS": "120"}
    cli = qiantang_command()
    print(f"演示数据加载基准 Demo load benchmark · scale={scale} seed={seed}")
    print(f"  database   {url}")
    up_seconds, _, _ = run_measured([*cli, "db", "upgrade"], env)
    print(f"  db upgrade {up_seconds:8.1f} s")
    seconds, peak_mb, _ = run_measured([*cli, "demo", "load", "--scale", scale, "--seed", str(seed)], env)
    rows = count_rows(url)
    total = sum(rows.values())
    goal = GOAL_SECONDS[scale]
    print(f"  demo load  {seconds:8.1f} s wall (CLI process, generation included)")
    for name, n in rows.items():
        print(f"    {name:<28} {n:>12,}")
    print(f"  rows       {total:>12,}")
    print(f"  rows/s     {total / seconds:>12,.0f}")
    print(f"  peak RSS   {peak_mb:>12,.0f} MB")
    print(f"  goal time  {seconds / goal:>12.1%} of {goal:.0f} s")
    print(f"  goal RSS   {peak_mb / GOAL_RSS_MB:>12.1%} of {GOAL_RSS_MB:.0f} MB")


def sample_loans(n: int) -> dict[str, np.ndarray]:
    """``n`` loans: the small city's loans repeated, with fresh ids."""
    from qiantang.demo import generate

    loans = generate("small").tables["loans"]
    reps = -(-n // len(loans["id"]))
    cols = {k: np.concatenate([np.asarray(v)] * reps)[:n] for k, v in loans.items()}
    cols["id"] = np.arange(1, n + 1, dtype=np.int64)
    return cols


def bench_insert_paths(workdir: Path) -> None:
    from qiantang.db import bulk_insert
    from qiantang.demo import _sqlite_values
    from qiantang.enterprises.models import Loan

    cols = sample_loans(BASELINE_ROWS)
    print(f"\n基线 Baseline: {BASELINE_ROWS:,} loans into a scratch SQLite table (same indexes as `loans`)")
    results = {}
    for label in ("bulk_insert", "orm"):
        path = workdir / f"scratch_{label}.db"
        engine = create_engine(f"sqlite:///{path}")  # no referenced tables: foreign keys stay off
        Loan.__table__.create(engine)
        started = time.perf_counter()
        if label == "bulk_insert":
            with engine.begin() as conn:
                bulk_insert(conn, Loan.__table__, {k: _sqlite_values(v) for k, v in cols.items()})
        else:
            names = list(cols)
            lists = [np.asarray(cols[k]).tolist() for k in names]
            dicts = [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]
            with Session(engine) as session:
                session.execute(insert(Loan), dicts)
                session.commit()
        seconds = time.perf_counter() - started
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Loan.__table__)) == BASELINE_ROWS
        engine.dispose()
        results[label] = BASELINE_ROWS / seconds
    print(f"  qiantang.db.bulk_insert (executemany)            {results['bulk_insert']:>10,.0f} rows/s")
    print(f"  ORM session.execute(insert(Loan), list of dicts) {results['orm']:>10,.0f} rows/s")
    ratio = results["bulk_insert"] / results["orm"]
    print(f"  ratio bulk_insert / ORM                          {ratio:>10.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="city", choices=sorted(GOAL_SECONDS))
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--database-url", default=None, help="default: a fresh temporary SQLite file")
    parser.add_argument("--skip-baseline", action="store_true", help="only the CLI load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qiantang-bench-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'demo.db'}"
        bench_load(args.scale, args.seed, url)
        if not args.skip_baseline:
            bench_insert_paths(workdir)


if __name__ == "__main__":
    main()
