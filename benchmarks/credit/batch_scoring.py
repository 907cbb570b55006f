"""Benchmark: end-to-end batch scoring of the city's enterprises, database to stored scores.

Needs a database holding the demo city at ``city`` scale (the demo load trains and registers the
champion):

    QIANTANG_DATABASE_URL=sqlite:////tmp/credit_city.db .venv/bin/qiantang db upgrade
    QIANTANG_DATABASE_URL=sqlite:////tmp/credit_city.db .venv/bin/qiantang demo load --scale city
    .venv/bin/python benchmarks/credit/batch_scoring.py --database-url sqlite:////tmp/credit_city.db

Runs the batch job (``qiantang.credit.service.batch_score``: read every enterprise's data, compute the
features, score, PD, grade and four reasons, replace the stored run with ``bulk_insert``, write the
monitoring row) in a child process whose wall time and peak RSS (polled with psutil) are reported, with
the job's own breakdown. Goal: under 60 s for 1,000,000 enterprises. Then, as the baseline of the
storing step in the same run, 100,000 score rows are written into a scratch SQLite table (the
``credit_scores`` indexes) with ``bulk_insert`` and with the ORM's ``session.execute(insert(...), dicts)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

JOB = """
import json, time
from qiantang.db import session_scope
from qiantang.credit.service import batch_score
started = time.perf_counter()
with session_scope() as session:
    stats = batch_score(session)
print(json.dumps({"rows": stats.rows, "as_of": str(stats.as_of), "job_seconds": stats.seconds,
                  "commit_and_job": time.perf_counter() - started, "timings": stats.timings,
                  "by_model": stats.by_model}))
"""


def run_job(url: str) -> dict:
    env = {**os.environ, "QIANTANG_DATABASE_URL": url}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", JOB], env=env, stdout=out, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, ps.memory_info().rss)
            time.sleep(0.05)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        print(text)
        raise SystemExit("batch scoring failed")
    result = json.loads(text.strip().splitlines()[-1])
    result.update({"wall": wall, "peak_mb": peak / 2**20})
    return result


def store_baseline(rows: int = 100_000) -> dict[str, float]:
    from sqlalchemy import create_engine, insert
    from sqlalchemy.orm import Session

    from qiantang.credit.models import CreditScore
    from qiantang.db import bulk_insert

    rng = np.random.Generator(np.random.PCG64(1))
    reasons = json.dumps(
        [
            {
                "feature": "debt_ratio",
                "label": "资产负债率",
                "bin": "[0.8, 0.95)",
                "points_lost": 21.5,
                "text": "资产负债率偏高，处于 [0.8, 0.95)（较最优分箱少 22 分）",
            }
        ]
        * 4,
        ensure_ascii=False,
    )
    cols = {
        "id": np.arange(1, rows + 1),
        "enterprise_id": np.arange(1, rows + 1),
        "model_id": np.ones(rows, dtype=np.int64),
        "as_of": ["2025-12-31"] * rows,
        "score": rng.normal(600, 50, rows).round(2),
        "pd": rng.uniform(0, 0.3, rows),
        "grade": np.array(["BB"] * rows, dtype=object),
        "reasons": np.array([reasons] * rows, dtype=object),
        "created_at": ["2026-01-01 00:00:00.000000"] * rows,
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("bulk_insert", "orm"):
            engine = create_engine(f"sqlite:///{Path(tmp) / (label + '.db')}")
            # Every model's table is known to the metadata (the key columns take their type from the
            # tables they reference), but only credit_scores is created: foreign keys stay off.
            import qiantang.models  # noqa: F401

            CreditScore.__table__.create(engine)
            started = time.perf_counter()
            if label == "bulk_insert":
                with engine.begin() as conn:
                    bulk_insert(conn, CreditScore.__table__, cols)
            else:
                names = list(cols)
                lists = [np.asarray(cols[k]).tolist() for k in names]
                dicts = [dict(zip(names, r, strict=True)) for r in zip(*lists, strict=True)]
                for d in dicts:
                    d["reasons"] = json.loads(d["reasons"])  # the ORM wants Python objects for JSON
                from datetime import date, datetime

                for d in dicts:
                    d["as_of"] = date(2025, 12, 31)
                    d["created_at"] = datetime(2026, 1, 1)
                with Session(engine) as session:
                    session.execute(insert(CreditScore), dicts)
                    session.commit()
            out[label] = rows / (time.perf_counter() - started)
            engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/credit_city.db")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    print(f"## Batch scoring · {args.database_url}")
    r = run_job(args.database_url)
    print(f"  enterprises scored   {r['rows']:>12,}  (as of {r['as_of']}; {r['by_model']})")
    print(f"  wall (process)       {r['wall']:>12.1f} s   (imports, job and commit)")
    print(f"  job (batch_score)    {r['job_seconds']:>12.1f} s")
    print(
        f"  job + commit         {r['commit_and_job']:>12.1f} s   "
        f"goal < 60 s: {'PASS' if r['commit_and_job'] < 60 else 'FAIL'}"
    )
    for k, v in r["timings"].items():
        print(f"    {k:<22} {v:>8.1f} s")
    print(f"  peak RSS             {r['peak_mb']:>12,.0f} MB")
    if not args.skip_baseline:
        b = store_baseline()
        print("\n## Baseline of the storing step: 100,000 score rows into a scratch SQLite table")
        print(f"  qiantang.db.bulk_insert              {b['bulk_insert']:>10,.0f} rows/s")
        print(
            f"  ORM session.execute(insert, dicts)   {b['orm']:>10,.0f} rows/s   "
            f"({b['bulk_insert'] / b['orm']:.1f}× slower)"
        )


if __name__ == "__main__":
    main()
