"""Benchmark: validate and store a 10,000-row filings upload, against a naive per-row baseline.

Builds a fresh SQLite database with the demo city (``migrate.upgrade`` + ``bootstrap.sync_all`` +
``demo.load``, scale ``small`` by default) or uses an existing demo database (``--database-url``).
Generates a valid workbook for the ``private_fund_manager`` template as a city-wide batch looks:
real USCCs from the database × the latest quarters those managers were open (every open manager for
the latest quarter, then the one before, … until there are ``--rows`` rows; quarters the demo already
holds become revisions, the others new returns). Then times ``qiantang.filings.service.upload_filings`` end to
end — read the .xlsx, check every cell and row, store, refresh the quarters' statistics, commit — and
prints rows/s and the share of the 10-second goal (2-core machine).

Side by side, in the same run and on the same rows, a named baseline: the naive path that, for each
row, queries the institution, queries the current filing, adds an ORM object and flushes (same
parsing, same checks, same statistics refresh). Both runs start from the same database state: after
each, the rows it added are deleted and the superseded revisions made current again (audit events
stay). It prints figures; it asserts nothing.

    python benchmarks/filing_upload.py                    # fresh temporary SQLite, demo scale small
    python benchmarks/filing_upload.py --scale tiny --rows 5000
    python benchmarks/filing_upload.py --database-url postgresql+psycopg://user:pw@localhost/demo_db
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

GOAL_SECONDS = 10.0
TEMPLATE = "private_fund_manager"


def line(label: str, text: str) -> None:
    print(f"  {label:<44} {text}")


class RefreshTimer:
    """Wraps ``statistics.service.refresh_periods`` to report how much of a run it takes."""

    def __init__(self) -> None:
        from qiantang.statistics import service as statistics

        self.module = statistics
        self.original = statistics.refresh_periods
        self.seconds = 0.0
        statistics.refresh_periods = self

    def __call__(self, session, *, period_ends):
        started = time.perf_counter()
        try:
            return self.original(session, period_ends=period_ends)
        finally:
            self.seconds += time.perf_counter() - started

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def build_database(url: str, scale: str, seed: int) -> Engine:
    from qiantang import demo, migrate
    from qiantang.bootstrap import sync_all
    from qiantang.db import make_engine, session_scope, use_engine

    started = time.perf_counter()
    migrate.upgrade(url)
    engine = make_engine(url)
    use_engine(engine)
    with session_scope() as session:
        sync_all(session)
    demo.load(engine, scale=scale, seed=seed)
    print(f"  built demo city ({scale}) in {time.perf_counter() - started:.1f} s")
    return engine


def candidate_rows(session: Session, n: int, seed: int, today: date) -> list[dict]:
    """``n`` rows as a city-wide batch looks: every open manager for the latest quarters, newest first."""
    from qiantang.filings.periods import RECORDS_START, latest_ended_period, period_label, periods_between
    from qiantang.filings.samples import sample_values
    from qiantang.filings.templates import get_template
    from qiantang.registry.models import Institution

    template = get_template(TEMPLATE)
    last = latest_ended_period(today)
    pairs = []
    institutions = session.execute(
        select(Institution.uscc, Institution.name, Institution.established_on, Institution.deregistered_on)
        .where(Institution.type_code == TEMPLATE)
        .order_by(Institution.id)
    ).all()
    for uscc, name, established, deregistered in institutions:
        for p in periods_between(max(RECORDS_START, established), last):
            if p >= established and (deregistered is None or deregistered > p):
                pairs.append((uscc, name, p))
    if len(pairs) < n:
        raise SystemExit(f"only {len(pairs):,} manager-quarters here; use --rows ≤ that or a larger --scale")
    random.Random(seed).shuffle(pairs)
    chosen = sorted(sorted(pairs, key=lambda t: t[2], reverse=True)[:n], key=lambda t: (t[0], t[2]))
    return [
        {"uscc": uscc, "name": name, "period": period_label(p), **sample_values(template, seed=i)}
        for i, (uscc, name, p) in enumerate(chosen)
    ]


def current_ids(session: Session, rows: list[dict]) -> list[int]:
    """Ids of the current filings these rows will supersede (to restore them afterwards)."""
    from qiantang.filings.models import Filing
    from qiantang.filings.periods import parse_period
    from qiantang.registry.models import Institution

    wanted = {(r["uscc"], parse_period(r["period"])) for r in rows}
    stmt = (
        select(Filing.id, Institution.uscc, Filing.period_end)
        .join(Institution, Institution.id == Filing.institution_id)
        .where(Filing.is_current.is_(True), Filing.template_code == TEMPLATE)
    )
    return [fid for fid, uscc, p in session.execute(stmt) if (uscc, p) in wanted]


def undo(engine: Engine, added: list[int], superseded: list[int], periods: list[date]) -> None:
    """Put the database back: delete the added filings, make the superseded ones current again."""
    from qiantang.filings.models import Filing
    from qiantang.statistics.service import refresh_periods

    with Session(engine) as session:
        for i in range(0, len(added), 5000):
            session.execute(delete(Filing).where(Filing.id.in_(added[i : i + 5000])))
        for i in range(0, len(superseded), 5000):
            session.execute(
                update(Filing).where(Filing.id.in_(superseded[i : i + 5000])).values(is_current=True)
            )
        refresh_periods(session, period_ends=periods)
        session.commit()


def naive_upload(session: Session, *, content: bytes, filename: str, actor, now: datetime) -> list:
    """The baseline: the same parsing and checks, but the database touched row by row."""
    from qiantang.audit import service as audit
    from qiantang.errors import RowError, ValidationFailed
    from qiantang.filings.models import Filing, FilingSource
    from qiantang.filings.periods import PeriodError, has_ended, parse_period
    from qiantang.filings.service import template_columns
    from qiantang.filings.templates import failed_checks, get_template
    from qiantang.registry.models import Institution
    from qiantang.standards.uscc import check_uscc
    from qiantang.statistics.service import refresh_periods
    from qiantang.uploads import parse_table

    template = get_template(TEMPLATE)
    table = parse_table(content, filename, template_columns(template))
    errors: list[RowError] = list(table.errors)
    added: list[Filing] = []
    seen: set = set()
    for row in table.rows:
        values = row.values
        code = check_uscc(str(values["uscc"])).code
        inst = session.scalar(select(Institution).where(Institution.uscc == code))  # one query per row
        if inst is None or inst.type.filing_template != template.code:
            errors.append(RowError(row.number, "统一社会信用代码", "unknown or wrong type"))
            continue
        try:
            period = parse_period(values["period"])
        except PeriodError as exc:
            errors.append(RowError(row.number, "报告期", str(exc)))
            continue
        if not has_ended(period, now.date()) or inst.established_on > period:
            errors.append(RowError(row.number, "报告期", "not open"))
            continue
        data = {c: values[c] for c in template.field_codes}
        if failed_checks(template, data) or (code, period) in seen:
            errors.append(RowError(row.number, None, "check or duplicate"))
            continue
        seen.add((code, period))
        current = session.scalar(  # one more query per row
            select(Filing).where(
                Filing.institution_id == inst.id, Filing.period_end == period, Filing.is_current.is_(True)
            )
        )
        revision = 1
        if current is not None:
            current.is_current = False
            revision = current.revision + 1
        filing = Filing(
            institution_id=inst.id,
            template_code=template.code,
            template_version=template.version,
            period_end=period,
            revision=revision,
            is_current=True,
            data=data,
            due_on=period + timedelta(days=template.due_days),
            submitted_at=now,
            submitted_by=actor.id,
            source=FilingSource.UPLOAD,
        )
        session.add(filing)
        session.flush()
        added.append(filing)
    if errors:
        raise ValidationFailed(f"{len(errors)} errors", errors)
    refresh_periods(session, period_ends=sorted({f.period_end for f in added}))
    audit.record(session, action="upload", user=actor, object_type="filings", detail={"rows": len(added)})
    return added


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "city"))
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--database-url", default=None, help="an existing demo database (default: build one)")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    from qiantang.auth.models import Role, User
    from qiantang.auth.scope import Scope
    from qiantang.db import make_engine, use_engine, utcnow
    from qiantang.filings.models import Filing
    from qiantang.filings.samples import workbook
    from qiantang.filings.service import template_columns, upload_filings
    from qiantang.filings.templates import get_template
    from qiantang.uploads import parse_table

    with tempfile.TemporaryDirectory(prefix="qiantang-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        print(f"报表上传基准 Filing upload benchmark · template={TEMPLATE} rows={args.rows:,}")
        print(f"  database   {url}")
        if args.database_url:
            engine = make_engine(url)
            use_engine(engine)
        else:
            engine = build_database(url, args.scale, args.seed)
        now = utcnow()
        template = get_template(TEMPLATE)
        with Session(engine) as session:
            actor = session.scalar(select(User).where(User.role == Role.CITY_ADMIN).order_by(User.id))
            if actor is None:
                raise SystemExit("no city administrator in this database (is it a demo database?)")
            rows = candidate_rows(session, args.rows, args.seed, now.date())
            superseded = current_ids(session, rows)
            before = session.scalar(select(func.count()).select_from(Filing))
        content = workbook(template, rows)
        periods = sorted({r["period"] for r in rows})
        print(
            f"  file       {len(rows):,} rows × {3 + len(template.fields)} columns, "
            f"{len(content) / 2**20:.1f} MB .xlsx, {len(periods)} quarters, "
            f"{len(superseded):,} rows re-file a quarter (become revisions)"
        )

        started = time.perf_counter()
        parsed = parse_table(content, "bench.xlsx", template_columns(template))
        parse_seconds = time.perf_counter() - started
        assert not parsed.errors, parsed.errors[:5]
        line("read + cell checks only (parse_table)", f"{parse_seconds:7.2f} s")

        timer = RefreshTimer()
        with Session(engine) as session:
            started = time.perf_counter()
            result = upload_filings(
                session,
                content=content,
                filename="bench.xlsx",
                template_code=TEMPLATE,
                actor=actor,
                scope=Scope.for_user(actor),
                now=now,
            )
            session.commit()
            fast = time.perf_counter() - started
            added = [s.filing.id for s in result.stored]
            revised = result.revised
        rate = f"{len(added) / fast:>9,.0f} rows/s  ({len(added) - revised:,} new, {revised:,} revisions)"
        line("upload_filings end to end + commit", f"{fast:7.2f} s  {rate}")
        line(
            "  of which statistics.refresh_periods",
            f"{timer.take():7.2f} s  ({len(result.periods)} quarters)",
        )
        line("goal", f"{fast / GOAL_SECONDS:7.1%} of {GOAL_SECONDS:.0f} s")
        period_ends = sorted({s.filing.period_end for s in result.stored})
        undo(engine, added, superseded, period_ends)
        timer.take()

        if not args.skip_baseline:
            print("\n基线 Baseline: naive per-row path")
            print("  (per row: query the institution, query the current filing, ORM add, flush)")
            with Session(engine) as session:
                started = time.perf_counter()
                naive = naive_upload(session, content=content, filename="bench.xlsx", actor=actor, now=now)
                session.commit()
                slow = time.perf_counter() - started
                naive_ids = [f.id for f in naive]
            line("naive path + commit", f"{slow:7.2f} s  {len(naive_ids) / slow:>9,.0f} rows/s")
            line("  of which statistics.refresh_periods", f"{timer.take():7.2f} s")
            line("ratio naive / upload_filings", f"{slow / fast:7.1f}×")
            undo(engine, naive_ids, superseded, period_ends)
            timer.take()

        with Session(engine) as session:
            after = session.scalar(select(func.count()).select_from(Filing))
        print(f"  filings before/after the run: {before:,} / {after:,} (restored)")
        engine.dispose()


if __name__ == "__main__":
    main()
