"""Benchmark: appending to and verifying the audit hash chain.

Builds a migrated SQLite database in a temporary file (or uses ``--database-url``), appends
``--events`` audit events through ``audit.service.record`` in batches of 1,000 per transaction, then
times ``audit.chain.verify`` over the whole chain — what the /audit page, its export,
``qiantang audit verify`` and every backup run. Named baseline: the same rows read without hashing
(the cost of fetching alone), so the figure shows what SM3 and the canonical JSON add; and
SHA-256 in place of SM3. Figures of 2026-12-05 (2 shared cores, SQLite, 100,000 events): fetch only
3.2 s, verify with SM3 5.8 s, with SHA-256 5.8 s — the hash is not the cost, reading the rows is.

It prints figures; it asserts nothing.

    python benchmarks/audit_chain.py --events 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from qiantang import migrate
    from qiantang.audit import chain
    from qiantang.audit import service as audit
    from qiantang.db import make_engine

    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'audit.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    done = 0
    while done < args.events:
        with Session(engine) as s:
            for i in range(min(1000, args.events - done)):
                detail = {"rows": i, "filters": {"district": "330106"}}
                audit.record(s, action="export", username=f"u{i % 50}", detail=detail, ip="10.0.0.1")
            s.commit()
        done += 1000
    append = time.perf_counter() - started
    print(f"append   {args.events:>9,} events  {append:7.2f} s  ({append / args.events * 1e6:6.1f} µs/event)")

    with Session(engine) as s:
        started = time.perf_counter()
        n = sum(1 for _ in chain._rows(s))
        fetch = time.perf_counter() - started
        started = time.perf_counter()
        state = chain.verify(s)
        verify = time.perf_counter() - started
        original = chain.algorithm
        chain.algorithm = lambda: "sha256"
        started = time.perf_counter()
        for row in chain._rows(s):
            chain.event_hash(row)
        sha = time.perf_counter() - started
        chain.algorithm = original
        total = s.scalar(select(chain.AuditEvent.seq).order_by(chain.AuditEvent.seq.desc()).limit(1))
    print(f"baseline fetch only       {n:>9,} rows    {fetch:7.2f} s")
    print(
        f"verify   SM3 (ours)       {state.checked:>9,} rows    {verify:7.2f} s  ok={state.ok} head={total}"
    )
    print(f"verify   SHA-256 instead  {n:>9,} rows    {sha:7.2f} s  (fetch + hash, SHA-256 for comparison)")
    engine.dispose()


if __name__ == "__main__":
    main()
