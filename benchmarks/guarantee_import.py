"""Benchmark: a 200,000-row guarantee import (issue 13), stored by bulk insert, beside the baseline
of the same rows stored as ORM objects (how the import wrote them before), on copies of a demo DB.

Prints the time to check the file and to store it, and the longest pause of the garbage collector
(a pause stops every thread of the process: in the web server it would stall every other request;
the import now runs in the job worker). Each variant runs on its own copy of the database.

    python benchmarks/guarantee_import.py --database /tmp/wth.db --rows 200000
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import qiantang.models  # noqa: F401  (every table, for the foreign keys)
from qiantang.db import make_engine, session_scope, use_engine
from qiantang.enterprises.models import Guarantee, GuaranteeKind
from qiantang.network import imports


def guarantees_csv(db: Path, rows: int) -> bytes:
    with sqlite3.connect(db) as conn:
        loans = conn.execute(
            "SELECT l.contract_no, e.uscc FROM loans l JOIN enterprises e ON e.id = l.borrower_id"
            " WHERE l.amount >= 10000 ORDER BY l.id"
        ).fetchall()
        firms = [u for (u,) in conn.execute("SELECT uscc FROM enterprises ORDER BY id")]
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([c.header_zh for c in imports.COLUMNS])
    n = 0
    for guarantor in firms:
        for contract, borrower in loans:
            if guarantor != borrower:
                out.writerow([guarantor, borrower, contract, "1", "单向", "", "2024-01-01", ""])
                n += 1
                if n == rows:
                    return buf.getvalue().encode("utf-8")
    raise SystemExit(f"the demo database has too few loans for {rows:,} rows")


class Pauses:
    def __init__(self):
        self.longest = 0.0
        self._start = 0.0

    def __call__(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._start)


def orm_store(session, content: bytes) -> int:
    """The baseline: the rows checked the same way, then one ORM object per guarantee."""
    table = imports.parse_table(content, "g.csv", imports.COLUMNS)
    from sqlalchemy import select

    from qiantang.enterprises.models import Enterprise, Loan

    firms = dict(session.execute(select(Enterprise.uscc, Enterprise.id)).all())
    loans = dict(session.execute(select(Loan.contract_no, Loan.id)).all())
    for r in table.rows:
        v = r.values
        session.add(
            Guarantee(
                guarantor_enterprise_id=firms[v["guarantor"]],
                borrower_id=firms[v["borrower"]],
                loan_id=loans[v["contract_no"]],
                amount=round(v["amount_wan"] * 1e4, 2),
                kind=GuaranteeKind(v["kind"]),
                start_date=v["start_date"],
            )
        )
    session.flush()
    return len(table.rows)


def run(label: str, source: Path, content: bytes, store) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        shutil.copy(source, copy)
        use_engine(make_engine(f"sqlite:///{copy}"))
        pauses = Pauses()
        gc.collect()
        gc.callbacks.append(pauses)
        started = time.perf_counter()
        with session_scope() as session:
            n = store(session, content)
        seconds = time.perf_counter() - started
        gc.callbacks.remove(pauses)
    print(f"{label:<34} {n:>9,} rows  {seconds:7.1f} s  longest GC pause {pauses.longest:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, required=True, help="a SQLite demo database (not changed)")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    content = guarantees_csv(args.database, args.rows)
    print(f"file: {len(content) / 1e6:.1f} MB, {args.rows:,} rows")
    run("baseline: ORM objects", args.database, content, orm_store)
    run(
        "import_guarantees (bulk insert)",
        args.database,
        content,
        lambda s, c: imports.import_guarantees(s, content=c, filename="g.csv", actor=None),
    )


if __name__ == "__main__":
    main()
