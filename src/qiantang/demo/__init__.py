"""The deterministic synthetic demo city: Hangzhou-like, 2015-01-01 … 2025-12-31. 演示数据，非真实数据。

``generate(scale, seed)`` builds the whole city in memory, column by column, without touching a
database: the same (scale, seed) gives the same data on any machine. ``load(engine, scale=…)`` writes it
into an empty database in one transaction with the fast ``bulk_insert`` path and creates the demo
logins. Every name, code and figure is made up; see docs/methods/demo-city.md for how it is calibrated.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.demo import calibration as cal
from qiantang.demo.credit import build_credit
from qiantang.demo.enterprises import build_enterprises
from qiantang.demo.filings import build_filings
from qiantang.demo.financials import build_financials
from qiantang.demo.institutions import build_registry

SCALES: tuple[str, ...] = ("tiny", "small", "city")
# Insert order (foreign keys first).
TABLES: tuple[str, ...] = (
    "institutions",
    "institution_status_changes",
    "enterprises",
    "loans",
    "loan_classifications",
    "guarantees",
    "enterprise_financials",
    "filings",
)
_STAMPED = {  # bookkeeping columns filled at load time
    "institutions": ("created_at", "updated_at"),
    "institution_status_changes": ("recorded_at",),
    "enterprises": ("created_at", "updated_at"),
}
_STREAMS = ("registry", "filings", "enterprises", "credit", "financials")


@dataclass(frozen=True)
class DemoUser:
    """A demo login (演示账号): never use these passwords outside a demo."""

    username: str
    password: str
    role: Role
    display_name: str
    scope_note: str
    district_code: str | None = None


def _user(
    username: str, role: Role, display_name: str, scope_note: str, district: str | None = None
) -> DemoUser:
    return DemoUser(username, f"demo-{username}-2025", role, display_name, scope_note, district)


DEMO_USERS: tuple[DemoUser, ...] = (
    _user("admin", Role.CITY_ADMIN, "演示市级管理员", "全市 330100"),
    _user("analyst", Role.CITY_ANALYST, "演示市级分析员", "全市 330100"),
    _user("xihu", Role.DISTRICT_OFFICER, "西湖区金融办（演示）", "西湖区 330106", "330106"),
    _user("binjiang", Role.DISTRICT_OFFICER, "滨江区金融办（演示）", "滨江区 330108", "330108"),
    _user(
        "reporter", Role.INSTITUTION_REPORTER, "小贷公司填报员（演示）", "本机构（西湖区一家小额贷款公司）"
    ),
    _user("auditor", Role.AUDITOR, "演示审计员", "全市只读 + 审计日志"),
    _user("lender", Role.LENDER, "银行客户经理（演示）", "本机构的融资产品和推送给本机构的融资需求"),
    _user("firm", Role.FIRM, "企业财务负责人（演示）", "本企业的融资需求（西湖区一家企业）"),
)


@dataclass
class DemoCity:
    """The generated city: per table, column name → NumPy array, with explicit integer ids.

    Tables are in insert order (``TABLES``). Dates are ``datetime64[D]`` (NaT for NULL), nullable ids
    are masked arrays, strings are object arrays, and ``filings.data`` is JSON text — all ready for
    ``qiantang.db.bulk_insert`` (``load`` adds the ``created_at``-style bookkeeping columns).
    """

    scale: str
    seed: int
    tables: dict[str, dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> dict[str, int]:
        return {name: len(cols["id"]) for name, cols in self.tables.items()}


@dataclass(frozen=True)
class LoadStats:
    """What ``load`` wrote and how fast."""

    rows: dict[str, int]
    seconds: float
    peak_rss_mb: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def _check_scale(scale: str) -> cal.Scale:
    if scale not in SCALES:
        raise ValueError(f"未知的演示规模：{scale}（可选 {'、'.join(SCALES)}）")
    return cal.SCALE_SPECS[scale]


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(_STREAMS, children, strict=True)}


def generate(scale: str, seed: int = 2016) -> DemoCity:
    """Build the demo city in memory (no database); deterministic in (scale, seed)."""
    return _generate(scale, seed, None)


def _generate(scale: str, seed: int, progress: Callable[[str, float], None] | None) -> DemoCity:
    spec = _check_scale(scale)
    rng = _rngs(seed)
    say = progress or (lambda _step, _fraction: None)
    say("生成机构名录 Generating institutions", 0.01)
    registry = build_registry(rng["registry"], spec.institution_share)
    inst = registry.institutions
    capital_wan = np.asarray(inst["registered_capital"].filled(np.nan)) / 10_000.0
    position = np.searchsorted(inst["id"], registry.health.institution_id)
    say("生成监管报表 Generating filings", 0.03)
    filings = build_filings(rng["filings"], registry.health, capital_wan[position])
    say("生成企业 Generating enterprises", 0.05)
    enterprises = build_enterprises(rng["enterprises"], spec, registry.summary["uscc_keys"])
    say("生成贷款与担保 Generating loans and guarantees", 0.12)
    credit = build_credit(rng["credit"], spec, enterprises, inst)
    financials = build_financials(
        rng["financials"], enterprises.columns, credit.firm_quality, credit.firm_default_on
    )
    summary = {k: v for k, v in registry.summary.items() if k != "uscc_keys"}
    summary.update(enterprises.summary)
    summary.update(credit.summary)
    summary.update(filings.summary)
    summary.update(financials.summary)
    tables = {
        "institutions": inst,
        "institution_status_changes": registry.status_changes,
        "enterprises": enterprises.columns,
        "loans": credit.loans,
        "loan_classifications": credit.class_history,
        "guarantees": credit.guarantees,
        "enterprise_financials": financials.columns,
        "filings": filings.columns,
    }
    return DemoCity(scale, seed, tables, summary)


def database_is_empty(engine: Engine) -> bool:
    """True when there are no institutions, enterprises or users (reference tables do not count)."""
    from qiantang.auth.models import User
    from qiantang.enterprises.models import Enterprise
    from qiantang.registry.models import Institution

    with engine.connect() as conn:
        for model in (Institution, Enterprise, User):
            if conn.execute(select(model.id).limit(1)).first() is not None:
                return False
    return True


# --- Loading -----------------------------------------------------------------------------------------
def _sqlite_values(values: Any) -> Any:
    """SQLite keeps dates as text: a slice of datetime64 becomes ISO strings (None for NaT)."""
    if not isinstance(values, np.ndarray) or values.dtype.kind != "M":
        return values
    unit = np.datetime_data(values.dtype)[0]
    if unit == "D":
        text = np.datetime_as_string(values, unit="D").astype(object)
    else:
        text = np.char.replace(np.datetime_as_string(values, unit="us"), "T", " ").astype(object)
    text[np.isnat(values)] = None
    return text


def _insert_table(
    conn: Connection,
    table,
    columns: dict[str, Any],
    *,
    stamp: datetime,
    chunk: int,
    on_chunk: Callable[[int], None],
) -> int:
    from qiantang.db import bulk_insert

    n = len(columns["id"])
    sqlite = conn.dialect.name == "sqlite"
    stamped = _STAMPED.get(table.name, ())
    stamp_value = stamp.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else stamp
    for begin in range(0, n, chunk):
        end = min(n, begin + chunk)
        part = {name: values[begin:end] for name, values in columns.items()}
        if sqlite:
            part = {name: _sqlite_values(values) for name, values in part.items()}
        for name in stamped:
            part[name] = [stamp_value] * (end - begin)
        bulk_insert(conn, table, part, chunk_rows=chunk)
        on_chunk(end - begin)
    return n


def load(
    engine: Engine,
    *,
    scale: str,
    seed: int = 2016,
    progress: Callable[[str, float], None] | None = None,
) -> LoadStats:
    """Generate the demo city and write it, its demo logins and system_meta into an empty database.

    Everything happens in one transaction; ValueError (Chinese message) if the database is not empty.
    """
    from qiantang.audit import service as audit
    from qiantang.auth.service import create_user
    from qiantang.db import analyze, reset_sequences, set_meta, utcnow
    from qiantang.models import Base
    from qiantang.registry.models import Institution

    _check_scale(scale)
    if not database_is_empty(engine):
        raise ValueError("数据库中已有机构、企业或用户数据；演示数据只能加载到空数据库")
    say = progress or (lambda _step, _fraction: None)
    started = time.perf_counter()
    city = _generate(scale, seed, lambda step, f: say(step, f))
    city_rows = city.rows
    total = sum(city_rows.values())
    done = 0
    stamp = utcnow()
    tables = {name: Base.metadata.tables[name] for name in TABLES}
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a large page cache keeps index inserts off the disk
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        for name in TABLES:
            label = {
                "institutions": "写入机构 Writing institutions",
                "institution_status_changes": "写入机构状态变更 Writing status history",
                "enterprises": "写入企业 Writing enterprises",
                "loans": "写入贷款 Writing loans",
                "loan_classifications": "写入贷款五级分类历史 Writing loan classification history",
                "guarantees": "写入担保 Writing guarantees",
                "enterprise_financials": "写入企业财务数据 Writing enterprise financials",
                "filings": "写入监管报表 Writing filings",
            }[name]

            def advance(k: int, label: str = label) -> None:
                nonlocal done
                done += k
                say(label, 0.15 + 0.8 * done / max(total, 1))

            say(label, 0.15 + 0.8 * done / max(total, 1))
            _insert_table(conn, tables[name], city.tables[name], stamp=stamp, chunk=100_000, on_chunk=advance)
        reset_sequences(conn, list(tables.values()))
        # The generated columns are in the database now; the analyses below read them from there.
        city.tables.clear()
        gc.collect()
        say("创建演示账号 Creating demo logins", 0.96)
        session = Session(bind=conn)
        reporter_institution = session.scalar(
            select(Institution.id)
            .where(
                Institution.type_code == "small_loan",
                Institution.district_code == "330106",
                Institution.status == "active",
            )
            .order_by(Institution.id)
            .limit(1)
        )
        for user in DEMO_USERS:
            if user.role in (Role.LENDER, Role.FIRM):
                continue  # created once the matchmaking has lenders and firms (below)
            create_user(
                session,
                username=user.username,
                password=user.password,
                role=user.role,
                display_name=user.display_name,
                district_code=user.district_code,
                institution_id=reporter_institution if user.role == Role.INSTITUTION_REPORTER else None,
            )
        from qiantang.demo.plan_values import fill_plan_values
        from qiantang.overview.service import refresh_summary
        from qiantang.plan.service import recompute

        say("汇总统计 Summaries", 0.97)
        refresh_summary(session)
        from qiantang.statistics.service import refresh as refresh_statistics

        refresh_statistics(session)
        set_meta(session, "demo_scale", scale)
        set_meta(session, "demo_seed", str(seed))
        set_meta(session, "demo_loaded_at", stamp.isoformat(timespec="seconds") + "Z")
        fill_plan_values(session, seed=seed)
        recompute(session)  # registry-backed plan indicators now see the demo registry
        from qiantang.demo.listing import build_reserve
        from qiantang.enterprises.models import Loan

        say("上市后备企业 Listing reserve", 0.985)
        build_reserve(session, seed=seed, as_of=session.scalar(select(func.max(Loan.as_of))))
        from qiantang.demo.disputes import build_disputes

        say("金融纠纷 Financial disputes", 0.987)
        build_disputes(session, seed=seed, as_of=session.scalar(select(func.max(Loan.as_of))))

        from qiantang.demo.talent import build_talent

        say("金融人才 Finance talent", 0.988)
        build_talent(session, seed=seed, as_of=session.scalar(select(func.max(Loan.as_of))))
        from qiantang.earlywarning.service import run as run_early_warning

        say("风险预警 Early warning", 0.99)
        run_early_warning(session, triggered_by="demo")
        from qiantang.network.service import analyse as analyse_network

        say("担保网络 Guarantee network", 0.992)
        analyse_network(session)
        audit.record(
            session,
            action="demo_load",
            object_type="demo",
            detail={"scale": scale, "seed": seed, "rows": city_rows},
        )
        from qiantang.demo.fundraising import generate_fundraising
        from qiantang.demo.fundraising_tips import build_tips, handle_tips
        from qiantang.fundraising.monitor import outside_reports, route_run
        from qiantang.fundraising.service import run_history

        # The quasi-financial firms join the register before the credit model scores every live firm
        # (the overview's counts are refreshed after the matchmaking below).
        say("非法集资监测 Fundraising monitoring", 0.993)
        demo_day = session.scalar(select(func.max(Loan.as_of)))
        _counts, schemes = generate_fundraising(session, scale=scale, seed=seed, as_of=demo_day)
        tip_history = build_tips(session, schemes, seed=seed, as_of=demo_day)  # the public's reports
        handle_tips(session, tip_history, seed=seed, as_of=demo_day)  # and the offices' handling
        # Each run counts the tips and disputes known on its day, as the monitoring round does.
        history = run_history(
            session,
            [demo_day - timedelta(days=91 * k) for k in range(4, -1, -1)],
            actor="demo",
            tips=lambda day: outside_reports(session, as_of=day),
        )
        route_run(session, history[-1])  # the latest run's grades become cases and the watch list
        from qiantang.credit.demo_model import build_demo_model

        say("信用评分模型 Credit scoring model", 0.995)
        build_demo_model(session)  # trains, registers and batch-scores the demo's credit champion
        from qiantang.demo.matching import build_matching, demo_accounts

        say("融资对接 Financing matchmaking", 0.997)
        build_matching(session, scale=scale, seed=seed)
        refresh_summary(session)  # the loans the matchmaking disbursed count in the overview's loan book
        lender_institution, firm_enterprise = demo_accounts(session)
        for user in DEMO_USERS:
            if user.role in (Role.LENDER, Role.FIRM):
                create_user(
                    session,
                    username=user.username,
                    password=user.password,
                    role=user.role,
                    display_name=user.display_name,
                    institution_id=lender_institution if user.role == Role.LENDER else None,
                    enterprise_id=firm_enterprise if user.role == Role.FIRM else None,
                )
        analyze(conn)  # planner statistics for the freshly loaded tables
        session.flush()
        session.close()
        if sqlite:
            conn.exec_driver_sql("PRAGMA cache_size=-2000")
    seconds = time.perf_counter() - started
    say("完成 Done", 1.0)
    rows = {**city_rows, "users": len(DEMO_USERS)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return LoadStats(rows=rows, seconds=seconds, peak_rss_mb=peak)


__all__ = [
    "DEMO_USERS",
    "SCALES",
    "TABLES",
    "DemoCity",
    "DemoUser",
    "LoadStats",
    "database_is_empty",
    "generate",
    "load",
]
