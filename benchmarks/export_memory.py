"""Benchmark: peak memory of a city-wide enterprise export, before (whole list in memory) and now (streamed).

Each way runs in its own process on a city database (``--database-url``) and prints the peak resident
memory (ru_maxrss) above what the process held once the app was imported, and the time taken:

* ``before`` — the export as it was: the first 200,000 enterprises as ORM objects in one list, the scores
  of all of them in one dict, every row built, then the workbook written into memory as bytes;
* ``now`` — ``GET /enterprises/export`` as the page calls it: rows read 2,000 at a time (``yield_per``),
  each chunk's scores read with it, rows written to a write-only workbook in a temporary file, which is
  streamed out in 64 KB pieces.

It prints figures; it asserts nothing.

    python benchmarks/export_memory.py --database-url sqlite:////tmp/city.db
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(way: str, username: str) -> None:
    from qiantang.auth.scope import Scope
    from qiantang.auth.service import get_user_by_username, start_session
    from qiantang.db import session_scope
    from qiantang.enterprises import service
    from qiantang.enterprises.service import EnterpriseFilters
    from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx
    from qiantang.web.app import create_app

    app = create_app()
    with session_scope() as session:
        user = get_user_by_username(session, username)
        scope = Scope.for_user(user)
        token = start_session(session, user=user).token
    base = peak_mb()
    started = time.perf_counter()
    size = 0
    if way == "before":
        with session_scope() as session:
            rows, _total = service.list_enterprises(
                session, scope=scope, filters=EnterpriseFilters(), limit=MAX_EXPORT_ROWS
            )
            scores = service.current_scores(session, enterprise_ids=[r.id for r in rows])
            body = [
                [r.uscc, r.name, r.industry_section, r.district_code, r.founded_on, r.employees, r.revenue]
                + (
                    [scores[r.id].score, scores[r.id].grade, scores[r.id].pd]
                    if r.id in scores
                    else [None] * 3
                )
                for r in rows
            ]
            size = len(build_xlsx(sheet_title="企业", headers=[str(i) for i in range(10)], rows=body))
    else:
        from fastapi.testclient import TestClient

        client = TestClient(app, cookies={"qt_session": token})
        with client, client.stream("GET", "/enterprises/export") as r:
            for piece in r.iter_bytes():
                size += len(piece)
    seconds = time.perf_counter() - started
    print(f"{way:<7} peak +{peak_mb() - base:8.1f} MB  ({seconds:6.1f} s, {size / 1e6:.1f} MB workbook)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--way", choices=["before", "now"], help="(internal) run one way in this process")
    args = parser.parse_args()
    os.environ["QIANTANG_DATABASE_URL"] = args.database_url
    if args.way:
        run(args.way, args.user)
        return
    for way in ("before", "now"):
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--way", way], check=True)


if __name__ == "__main__":
    main()
