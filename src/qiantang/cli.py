"""The ``qiantang`` command line (Typer)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from qiantang import __version__

app = typer.Typer(
    help="钱塘 Qiantang — 地方金融监管平台 / a platform for a city's local financial regulator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="数据库 Database: migrations and reference data.", no_args_is_help=True)
demo_app = typer.Typer(help="演示数据 The synthetic demo city.", no_args_is_help=True)
stats_app = typer.Typer(help="统计 Stored summaries that pages read.", no_args_is_help=True)
plan_app = typer.Typer(help="规划监测 Plan targets and actual values.", no_args_is_help=True)
network_app = typer.Typer(
    help="担保网络 Guarantee networks: circles, chains, contagion.", no_args_is_help=True
)
cases_app = typer.Typer(help="案件 Cases from early-warning alerts.", no_args_is_help=True)
ew_app = typer.Typer(
    help="风险预警 Early warning: limit rules, peer and trend signals, ratings, alerts.", no_args_is_help=True
)
export_app = typer.Typer(
    help="导出 Snapshots of the platform's tables for batch engines.", no_args_is_help=True
)
users_app = typer.Typer(help="用户 Users and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(stats_app, name="stats")
app.add_typer(plan_app, name="plan")
app.add_typer(network_app, name="network")
app.add_typer(ew_app, name="ew")
app.add_typer(cases_app, name="cases")
app.add_typer(export_app, name="export")
console = Console()


def wide_console(columns: int) -> Console:
    """A console at least this wide, so a table of figures is not cut at 80 columns (a pipe, CI)."""
    return Console(width=max(console.width, columns))


def _fail(message: str) -> None:
    console.print(f"[red]错误 Error:[/red] {message}")
    raise typer.Exit(code=1)


# The options every batch job on Spark shares (docs/scale-out.md).
MasterOption = Annotated[str | None, typer.Option(help="Spark master with --engine spark (default local[*])")]
SnapshotOption = Annotated[
    str | None, typer.Option(help="With --source parquet: the directory written by `qiantang export parquet`")
]
SOURCE_CHOICES = (
    "db (this database, read here and handed to Spark) | parquet (a snapshot, --snapshot) | jdbc "
    "(PostgreSQL, read by Spark; the PostgreSQL JDBC driver from QIANTANG_SPARK_JARS or "
    "/usr/share/java/postgresql.jar)"
)


def _source_option(inputs: str, more: str = ""):
    """The ``--source`` option of a batch job: where Spark reads ``inputs``."""
    return Annotated[
        str, typer.Option(help=f"Where Spark reads {inputs} (--engine spark): {SOURCE_CHOICES}{more}")
    ]


StatsSource = _source_option("the institutions, status history and filings of the statistics cells")
NetworkSource = _source_option("the guarantees, firms, statements and loans")
EwSource = _source_option("the registry, filings and disputes")
CreditSource = _source_option(
    "the enterprises, statements, loans and guarantees",
    ". With parquet or jdbc Spark builds the features on its executors and the default as-of date is "
    "the source's loans' date",
)
FundraisingSource = _source_option(
    "the firms, profiles, texts, spread, complaints, changes, people, 失信 list, fund reports, collapses, "
    "tips and disputes"
)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations, then bring reference data (areas, clusters, institution types) up to date."""
    from qiantang import migrate
    from qiantang.bootstrap import sync_all
    from qiantang.config import get_settings
    from qiantang.db import analyze, session_scope

    url = get_settings().database_url
    migrate.upgrade(url, revision)
    with session_scope() as session:
        changed = sync_all(session)
        analyze(session.connection())  # new indexes (e.g. the search indexes) get planner statistics
    console.print(f"数据库已升级到 {revision}（参考数据更新 {changed} 项）· database at {revision}")


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the server runs as")],
) -> None:
    """(PostgreSQL) Let a non-owner role run the platform: read and write every table, but only
    SELECT and INSERT on the audit log (it cannot UPDATE or DELETE audit rows)."""
    from qiantang.config import get_settings
    from qiantang.db import get_engine, grant_app_role

    if get_settings().is_sqlite:
        _fail("只适用于 PostgreSQL（SQLite 没有数据库角色；审计表由触发器保护）")
    with get_engine().begin() as conn:
        grant_app_role(conn, role)
    console.print(f"已授权角色 {role}：各表读写，审计表只能查询和追加 · granted")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """(Developers) autogenerate a migration from the models."""
    from qiantang import migrate

    migrate.make_revision(message)


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision and the newest one available."""
    from qiantang import migrate
    from qiantang.db import get_engine

    console.print(f"current: {migrate.current_revision(get_engine())} · head: {migrate.head_revision()}")


@demo_app.command("load")
def demo_load(
    scale: Annotated[str, typer.Option(help="tiny | small | city")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same city")] = 2016,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the database holds data")
    ] = False,
) -> None:
    """Build the deterministic synthetic Hangzhou (2015–2025) into the database. 演示数据，非真实数据。"""
    from qiantang.db import get_engine
    from qiantang.demo import DEMO_USERS, SCALES, database_is_empty, load

    if scale not in SCALES:
        _fail(f"未知规模 {scale}；可选 {', '.join(SCALES)}")
    engine = get_engine()
    if if_empty and not database_is_empty(engine):
        console.print("数据库已有数据，跳过演示数据加载 · database not empty, demo load skipped")
        _print_demo_users(DEMO_USERS)
        return
    if not database_is_empty(engine):
        _fail("数据库已有数据；演示数据只能加载到空数据库 · the database is not empty")
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("演示数据 demo", total=100)

        def progress(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=round(fraction * 100))

        stats = load(engine, scale=scale, seed=seed, progress=progress)
    table = Table(title=f"演示城市 Demo city · scale={scale} seed={seed} (合成数据 synthetic)")
    table.add_column("表 table")
    table.add_column("行数 rows", justify="right")
    for name, n in stats.rows.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    console.print(f"{stats.total_rows:,} rows in {stats.seconds:.1f} s ({stats.rows_per_second:,.0f} rows/s)")
    _print_demo_users(DEMO_USERS)


@demo_app.command("export")
def demo_export(
    out: Annotated[str, typer.Option("--out", help="Directory for the Parquet files")],
    scale: Annotated[str, typer.Option(help="province (the only scale written to Parquet)")] = "province",
    enterprises: Annotated[int, typer.Option(help="Enterprises in the province")] = 10_000_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same province")] = 2016,
    chunk: Annotated[int, typer.Option(help="Enterprises generated per chunk (bounds memory)")] = 250_000,
) -> None:
    """Write a synthetic province (enterprises, statements, loans, guarantees) straight to Parquet, in
    chunks, for the scale-out benchmarks (docs/scale-out.md). 合成数据，非真实数据。"""
    if scale != "province":
        _fail("demo export 只支持 --scale province（城市规模用 demo load 后 export parquet）")
    if enterprises < 2_000 or chunk < 2_000:
        _fail("--enterprises 与 --chunk 至少 2000")
    from qiantang.demo.province import export_province

    stats = export_province(
        out, enterprises=enterprises, seed=seed, chunk=chunk, say=lambda m: console.print(f"[dim]… {m}[/dim]")
    )
    for name, n in stats.rows.items():
        typer.echo(f"  {name}: {n:,} rows → {stats.paths[name]}")
    typer.echo(f"合成省份 synthetic province written in {stats.seconds:.1f} s")


def _print_demo_users(users) -> None:
    # Plain lines, never truncated whatever the terminal width: people copy these.
    typer.echo("演示账号 Demo logins (演示用，切勿用于生产 / never use in production):")
    width = max(len(u.username) for u in users)
    pw_width = max(len(u.password) for u in users)
    for u in users:
        role = f"{u.role.value:<22} {u.role.zh}"
        typer.echo(f"  {u.username:<{width}}  {u.password:<{pw_width}}  {role}  {u.scope_note}")


@demo_app.command("users")
def demo_users() -> None:
    """Print the demo logins."""
    from qiantang.demo import DEMO_USERS

    _print_demo_users(DEMO_USERS)


@stats_app.command("refresh")
def stats_refresh(
    engine: Annotated[
        str, typer.Option(help="local | spark: where the statistics cells are computed (docs/scale-out.md)")
    ] = "local",
    master: MasterOption = None,
    source: StatsSource = "db",
    snapshot: SnapshotOption = None,
) -> None:
    """Recompute the enterprise and loan summaries, the statistics cells and the pages' stored summaries
    (run after loading data). Results are always stored in this database."""
    _check_engine(engine)
    _check_source(engine, source, snapshot)
    from qiantang.credit.service import refresh_grade_counts
    from qiantang.db import analyze, session_scope
    from qiantang.earlywarning.service import refresh_stored as refresh_early_warning
    from qiantang.errors import QiantangError
    from qiantang.overview.service import refresh_summary
    from qiantang.statistics.service import refresh as refresh_statistics

    try:
        if source == "parquet":  # before the summaries: a snapshot lacking a table stops nothing half-done
            from qiantang.batch.sources import check_snapshot
            from qiantang.batch.statistics import TABLES

            check_snapshot(snapshot, TABLES)
        with session_scope() as session:
            summary = refresh_summary(session)
            console.print(
                f"汇总已更新 summaries refreshed in {summary.seconds:.1f} s (贷款截至 {summary.loans_as_of})"
            )
            stats = refresh_statistics(
                session, engine=engine, master=master, source=source, snapshot=snapshot
            )
            console.print(
                f"综合统计已更新 statistics refreshed in {stats.seconds:.1f} s ({stats.cells:,} cells)"
            )
            # The pages' stored summaries of the last early-warning run and credit scoring (results.py).
            ew_done = refresh_early_warning(session)
            runs = refresh_grade_counts(session)
            console.print(f"页面汇总已更新 page summaries refreshed (预警 {int(ew_done)} · 信用评分 {runs})")
            analyze(session.connection())
    except QiantangError as exc:
        _fail(exc.message)


@plan_app.command("recompute")
def plan_recompute() -> None:
    """Recompute derived (e.g. share of GDP) and registry-backed (e.g. listed firms) indicator values."""
    from qiantang.db import session_scope
    from qiantang.plan.service import recompute

    with session_scope() as session:
        n = recompute(session)
    console.print(f"已重新计算 {n} 个指标数值 · {n} computed values")


@plan_app.command("upload-values")
def plan_upload_values(
    file: Annotated[str, typer.Argument(help="Excel (.xlsx) or CSV in the values template's columns")],
    user: Annotated[str, typer.Option(help="Recorded as who entered the values")] = "cli",
) -> None:
    """Enter actual values from a file; the whole file is validated and stored, or nothing is."""
    from pathlib import Path

    from qiantang.db import session_scope
    from qiantang.errors import ValidationFailed
    from qiantang.plan.service import upload_values

    path = Path(file)
    try:
        with session_scope() as session:
            written = upload_values(session, content=path.read_bytes(), filename=path.name, username=user)
    except ValidationFailed as exc:
        for e in exc.errors:
            console.print(f"  第 {e.row} 行 {e.column or ''}：{e.message}")
        _fail(exc.message)
    console.print(f"已导入 {len(written)} 个数值 · {len(written)} values stored")


@export_app.command("parquet")
def export_parquet_command(
    directory: Annotated[str, typer.Argument(help="Directory for <table>.parquet files")],
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="A table to export (repeatable; default: the batch jobs' tables)"),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read and written per chunk")] = 200_000,
) -> None:
    """Write a Parquet snapshot of the tables the batch jobs read (for Spark; docs/scale-out.md),
    without the personal columns no batch job reads (tipsters' contacts, people's names)."""
    from qiantang.batch.snapshot import DEFAULT_TABLES, export_parquet
    from qiantang.db import get_engine

    try:
        done = export_parquet(
            get_engine(), directory, tables=tuple(table or DEFAULT_TABLES), chunk_rows=chunk_rows
        )
    except KeyError as exc:
        _fail(f"未知的表 unknown table: {exc.args[0]}")
    except ImportError:
        _fail("需要 pyarrow：pip install 'qiantang[spark]'")
    for t in done:
        typer.echo(f"  {t.table}: {t.rows:,} rows → {t.path} ({t.seconds:.1f} s)")


def _check_source(engine: str, source: str, snapshot: str | None) -> None:
    from qiantang.batch.sources import check_options

    why = check_options(engine, source, snapshot)
    if why:
        _fail(why)


def _check_engine(engine: str) -> None:
    from qiantang.batch import ENGINES

    if engine not in ENGINES:
        _fail(f"--engine 须为 {' | '.join(ENGINES)}")


@network_app.command("analyse")
def network_analyse(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Analysis date: guarantees in force, loan classes and statements known then "
            "(default: the loans' as-of date)"
        ),
    ] = None,
    recovery: Annotated[float, typer.Option(help="Recovery rate of a defaulted loan")] = 0.4,
    capacity: Annotated[float, typer.Option(help="Loss-absorbing capacity = net assets × this")] = 1.0,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this process) | spark: groups, loops, pairs, rings and chains on Spark, the "
            "same stored run (docs/scale-out.md)"
        ),
    ] = "local",
    master: MasterOption = None,
    source: NetworkSource = "db",
    snapshot: SnapshotOption = None,
) -> None:
    """Detect guarantee groups, loops, pairs, rings and chains; systemic importance; each firm's impact.
    Results are always stored in this database."""
    from datetime import date

    from qiantang.db import session_scope
    from qiantang.errors import QiantangError
    from qiantang.network.service import Params, analyse

    _check_engine(engine)
    _check_source(engine, source, snapshot)
    day = date.fromisoformat(as_of) if as_of else None
    try:
        with session_scope() as session:
            run = analyse(
                session,
                as_of=day,
                params=Params(recovery=recovery, capacity_multiplier=capacity),
                engine=engine,
                master=master,
                source=source,
                snapshot=snapshot,
            )
            c = run.counts
    except QiantangError as exc:
        _fail(exc.message)
    typer.echo(f"担保网络分析完成 network analysed in {run.seconds:.1f} s")
    typer.echo(f"  企业 firms {c['firms']:,} · 担保圈 groups {c['groups']:,}")
    typer.echo(f"  最大担保圈 largest {c['largest_group']:,} · 最长担保链 chain {c['longest_chain']}")
    typer.echo(f"  互保 mutual pairs {c['mutual_pairs']:,} · 三方循环 three-firm rings {c['rings']:,}")


@ew_app.command("run")
def ew_run(
    engine: Annotated[
        str,
        typer.Option(
            help="local (this process) | spark: the panel, indicators, peer bands, signals and ratings "
            "on Spark, the same stored results (docs/scale-out.md)"
        ),
    ] = "local",
    master: MasterOption = None,
    source: EwSource = "db",
    snapshot: SnapshotOption = None,
) -> None:
    """Recompute indicators, signals, ratings and alerts for every quarter; open cases for new alerts
    (run after each quarter's filings). Results are always stored in this database."""
    _check_engine(engine)
    _check_source(engine, source, snapshot)
    from qiantang.db import session_scope
    from qiantang.earlywarning.service import run
    from qiantang.errors import QiantangError

    try:
        with session_scope() as session:
            record = run(
                session, triggered_by="cli", engine=engine, master=master, source=source, snapshot=snapshot
            )
            c = record.counts
    except QiantangError as exc:
        _fail(exc.message)
    typer.echo(f"预警计算完成 early warning computed in {record.seconds:.1f} s（{record.version}）")
    typer.echo(
        f"  {c['institutions']:,} 家机构 institutions · {c['filings']:,} 份报表 returns · "
        f"{record.first_period} – {record.last_period}"
    )
    a = c["alerts"]
    typer.echo(f"  信号 signals {c['signals']:,} · 评级 ratings {c['ratings']:,}")
    typer.echo(
        f"  预警 alerts: 未消除 open {a['open']:,} · 已消除 cleared {a['cleared']:,} "
        f"(新增 new {a['inserted']:,}, 更新 updated {a['updated']:,}, 删除 deleted {a['deleted']:,})"
    )
    typer.echo(f"  新开案件 cases opened {c['cases_opened']:,}")


@ew_app.command("backtest")
def ew_backtest() -> None:
    """How well each signal family and the rating flagged later distress, quarter by quarter."""

    from qiantang.db import session_scope
    from qiantang.earlywarning.backtest import LEADS, run_backtest

    with session_scope() as session:
        bt = run_backtest(session)
    table = Table(
        title=f"回测 backtest {bt.first_period} – {bt.last_period} · {bt.events:,} 个风险事件 events",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("方法\nmethod", no_wrap=True)
    for col in ("标记\nflags", "精确率\nprec.", "提升度\nlift", *[f"召回@{k}\nrec.@{k}" for k in LEADS]):
        table.add_column(col, justify="right", no_wrap=True)

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    for r in bt.rows:
        lift = "—" if r.lift is None else f"{r.lift:.1f}×"
        table.add_row(
            r.name_zh, f"{r.flags:,}", pct(r.precision), lift, *[pct(r.recall.get(k)) for k in LEADS]
        )
    wide = wide_console(100)
    wide.print(table)
    for note in bt.notes:
        wide.print(f"[dim]{note}[/dim]")


@cases_app.command("escalate")
def cases_escalate() -> None:
    """Escalate overdue district cases to the city; flag overdue city cases (run daily)."""
    from qiantang.cases.service import escalate_overdue_now
    from qiantang.db import session_scope

    with session_scope() as session:
        result = escalate_overdue_now(session)
    console.print(f"已上报市级 escalated {result.escalated}，逾期标记 flagged {result.flagged}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[
        str,
        typer.Option(
            help="city_admin, city_analyst, district_officer, institution_reporter, auditor, lender or firm"
        ),
    ],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="QIANTANG_NEW_PASSWORD"),
    ],
    display_name: Annotated[str | None, typer.Option()] = None,
    district: Annotated[str | None, typer.Option(help="GB/T 2260 code, for district officers")] = None,
    institution_id: Annotated[int | None, typer.Option(help="For institution reporters and lenders")] = None,
    uscc: Annotated[str | None, typer.Option(help="For firm users: the firm's 统一社会信用代码")] = None,
) -> None:
    """Create a user (the password is asked for, or read from QIANTANG_NEW_PASSWORD)."""
    from qiantang.auth.models import Role
    from qiantang.auth.service import create_user
    from qiantang.db import session_scope
    from qiantang.errors import ValidationFailed

    try:
        role_value = Role(role)
    except ValueError:
        _fail(f"未知角色 {role}")
    try:
        with session_scope() as session:
            enterprise_id = None
            if uscc:
                from sqlalchemy import select

                from qiantang.enterprises.models import Enterprise

                enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.uscc == uscc.upper()))
                if enterprise_id is None:
                    _fail(f"未登记的企业 {uscc}")
            user = create_user(
                session,
                username=username,
                password=password,
                role=role_value,
                display_name=display_name,
                district_code=district,
                institution_id=institution_id,
                enterprise_id=enterprise_id,
            )
            console.print(f"已创建用户 {user.username}（{role_value.zh}）· user created")
    except ValidationFailed as exc:
        for e in exc.errors:
            console.print(f"  {e.column}: {e.message}")
        _fail(exc.message)


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for")] = "api",
    days: Annotated[
        int | None, typer.Option(help="Validity in days (0: no expiry). Default: QIANTANG_TOKEN_DAYS, 90")
    ] = None,
) -> None:
    """Issue an API bearer token for a user; it is printed once and only its hash is stored."""
    from qiantang.auth.service import create_api_token
    from qiantang.db import session_scope

    with session_scope() as session:
        user = _user_or_fail(session, username)
        token = create_api_token(session, user=user, name=name, days=days)
    console.print(token)


def _user_or_fail(session, username: str):
    from qiantang.auth.service import get_user_by_username

    user = get_user_by_username(session, username)
    if user is None:
        _fail(f"用户 {username} 不存在")
    return user


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: their browser sessions end and their API tokens are revoked at once."""
    from qiantang.auth.service import disable_user
    from qiantang.db import session_scope
    from qiantang.errors import Conflict

    try:
        with session_scope() as session:
            disable_user(session, user=_user_or_fail(session, username))
    except Conflict as exc:
        _fail(exc.message)
    console.print(f"已停用 {username}，其会话与 API 令牌已失效 · disabled")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled user again (they log in afresh; old tokens stay revoked)."""
    from qiantang.auth.service import enable_user
    from qiantang.db import session_scope

    with session_scope() as session:
        enable_user(session, user=_user_or_fail(session, username))
    console.print(f"已启用 {username} · enabled")


@users_app.command("reset-password")
def users_reset_password(username: Annotated[str, typer.Argument()]) -> None:
    """Set a one-time temporary password (printed once) that must be changed at the next login."""
    from qiantang.auth.service import reset_password
    from qiantang.db import session_scope

    with session_scope() as session:
        password = reset_password(session, user=_user_or_fail(session, username))
    console.print(f"{username} 的临时密码（仅显示一次，下次登录须修改）· temporary password:")
    console.print(password, markup=False, highlight=False)


@users_app.command("tokens")
def users_tokens(username: Annotated[str | None, typer.Argument(help="Only this user's")] = None) -> None:
    """List API tokens: owner, name, created, expires, last used and state."""
    from qiantang.auth.service import list_tokens, token_state
    from qiantang.db import session_scope

    states = {"active": "有效 active", "revoked": "已吊销 revoked", "expired": "已过期 expired"}
    with session_scope() as session:
        user_id = _user_or_fail(session, username).id if username else None
        table = Table(
            "ID",
            "用户 User",
            "名称 Name",
            "创建 Created",
            "到期 Expires",
            "最近使用 Last used",
            "状态 State",
            box=box.SIMPLE,
        )
        for t in list_tokens(session, user_id=user_id):
            table.add_row(
                str(t.id),
                t.user.username,
                t.name,
                f"{t.created_at:%Y-%m-%d}",
                f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "—",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "—",
                states[token_state(t)],
            )
    wide_console(110).print(table)


@users_app.command("revoke-token")
def users_revoke_token(
    token_id: Annotated[int, typer.Argument(help="The ID from `qiantang users tokens`")],
) -> None:
    """Revoke one API token."""
    from qiantang.auth.service import revoke_token
    from qiantang.db import session_scope
    from qiantang.errors import NotFound

    try:
        with session_scope() as session:
            token = revoke_token(session, token_id=token_id)
            name = token.name
    except NotFound as exc:
        _fail(exc.message)
    console.print(f"已吊销令牌 {token_id}（{name}）· revoked")


audit_app = typer.Typer(help="审计 The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Verify the audit chain; names the first altered or missing event (exit code 1 if broken)."""
    from qiantang.audit import chain
    from qiantang.db import session_scope

    with session_scope() as session:
        state = chain.verify(session)
    console.print(state.describe_zh() + " · " + state.describe_en())
    console.print(f"末条 head: 第 {state.head_seq} 条  {chain.algorithm().upper()} {state.head_hash}")
    if not state.ok:
        console.print(f"出问题的记录 the row: id {state.bad_id}")
        raise typer.Exit(code=1)


def _backup_errors(exc) -> None:
    for e in exc.errors[:50]:
        console.print(f"  {e.message}")
    _fail(exc.message)


@app.command("backup")
def backup_command(
    path: Annotated[
        str | None, typer.Argument(help="Backup file (default var/backups/qiantang-<UTC time>.db or .dump)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing backup file")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only verify an existing backup file against its manifest")
    ] = False,
) -> None:
    """Back up the database (SQLite online backup / pg_dump) and verify the copy.

    Verifies the integrity, the audit chain and every table's row count; writes <file>.manifest.json.
    """
    from pathlib import Path

    from qiantang import backup
    from qiantang.config import get_settings
    from qiantang.errors import Conflict, ValidationFailed

    url = get_settings().database_url
    try:
        if check:
            if not path:
                _fail("请指定要校验的备份文件")
            manifest = backup.check_backup(Path(path))
            console.print(f"备份文件校验通过 · backup verified: {path}")
        else:
            target = Path(path) if path else backup.default_path(url)
            manifest = backup.backup(url=url, path=target, force=force)
            backup.record(
                url, action="backup", detail={"file": str(target), "rows": sum(manifest.counts.values())}
            )
            console.print(f"已备份并校验 · backed up and verified: {target}")
    except ValidationFailed as exc:
        _backup_errors(exc)
    except Conflict as exc:
        _fail(exc.message)
    console.print(
        f"  {len(manifest.counts)} 张表 tables, {sum(manifest.counts.values()):,} 行 rows; "
        f"审计链末条 audit chain head 第 {manifest.chain_seq} 条"
    )


@app.command("restore")
def restore_command(
    path: Annotated[str, typer.Argument(help="A backup file made by `qiantang backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a database that already holds data")
    ] = False,
) -> None:
    """Restore a backup into QIANTANG_DATABASE_URL, verifying the backup before and the database after."""
    from pathlib import Path

    from qiantang import backup
    from qiantang.config import get_settings
    from qiantang.db import reset_engine
    from qiantang.errors import Conflict, ValidationFailed

    url = get_settings().database_url
    reset_engine()
    try:
        manifest = backup.restore(path=Path(path), url=url, force=force)
    except ValidationFailed as exc:
        _backup_errors(exc)
    except Conflict as exc:
        _fail(exc.message)
    backup.record(url, action="restore", detail={"file": str(path), "backup_made": manifest.created_at})
    console.print(
        f"已恢复并校验 · restored and verified: {len(manifest.counts)} 张表 tables, "
        f"{sum(manifest.counts.values()):,} 行 rows, 审计链完整 audit chain intact"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: QIANTANG_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: QIANTANG_PORT or 8000")] = None,
    workers: Annotated[
        int, typer.Option(help="Web server processes (more than 1 only with PostgreSQL; see README)")
    ] = 1,
    worker: Annotated[
        bool,
        typer.Option("--worker/--no-worker", help="Also start the background-job worker (qiantang worker)"),
    ] = True,
) -> None:
    """Serve the web application, and the background-job worker beside it (stopped together on Ctrl-C)."""
    import signal
    import subprocess
    import sys

    import uvicorn

    from qiantang.config import get_settings
    from qiantang.web.serving import HTTP_PROTOCOL

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1 and settings.is_sqlite:
        _fail("多个网页进程需要 PostgreSQL 数据库（QIANTANG_DATABASE_URL）· --workers > 1 needs PostgreSQL")
    typer.echo(f"钱塘 Qiantang {__version__} → http://{host}:{port}  (API: http://{host}:{port}/api/docs)")
    os.environ.setdefault("QIANTANG_DATABASE_URL", settings.database_url)
    child = (
        subprocess.Popen([sys.executable, "-m", "qiantang", "worker"], preexec_fn=_die_with_parent)
        if worker
        else None
    )
    # uvicorn re-raises SIGTERM after its graceful shutdown; as SystemExit it reaches `finally`,
    # which stops the worker too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            "qiantang.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=HTTP_PROTOCOL,  # TCP_NODELAY on every connection, also with several workers
            # The app believes X-Forwarded-* only from QIANTANG_TRUSTED_PROXIES (web.app); uvicorn's own
            # handling would trust 127.0.0.1 whatever the setting says.
            proxy_headers=False,
            log_level="info",
        )
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def _die_with_parent() -> None:
    """In the worker child (Linux): get SIGTERM if the server process dies, even by SIGKILL."""
    import contextlib
    import ctypes
    import signal

    # Not Linux: no libc.so.6; the server's `finally` still stops the worker on a clean exit.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@app.command("worker")
def worker_command(
    threads: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: QIANTANG_JOB_WORKER_THREADS or 2)")
    ] = None,
) -> None:
    """Run the background-job worker alone: queued jobs, schedules and notifications (qiantang serve
    starts one itself). Jobs a stopped worker left running are retried once, then marked failed."""
    from qiantang.jobs.queue import run_worker

    run_worker(threads=threads)


# --- credit scoring ----------------------------------------------------------------------------------
credit_app = typer.Typer(
    help="信用评分 Credit scoring: evaluate, train, batch-score, monitor.", no_args_is_help=True
)
app.add_typer(credit_app, name="credit")


def _credit_dataset(file: str, target: str, bad: str, allow_personal: bool = False):
    from pathlib import Path

    from qiantang.credit.tabular import prepare, read_path

    frame = read_path(file)
    return prepare(frame, target=target, bad=bad, name=Path(file).name, allow_personal=allow_personal)


AllowPersonal = Annotated[
    bool,
    typer.Option(
        "--allow-personal",
        help="Use columns that identify a person (ID numbers, mobile numbers, names) anyway; "
        "their cut points are never shown",
    ),
]


def _credit_errors(exc) -> None:
    for e in exc.errors[:50]:
        where = " ".join(x for x in (f"第 {e.row} 行" if e.row else "", e.column or "") if x)
        console.print(f"  {where}：{e.message}")
    _fail(exc.message)


@credit_app.command("cv")
def credit_cv(
    file: Annotated[str, typer.Argument(help="CSV or Excel (.xlsx) table, one row per applicant/firm")],
    target: Annotated[str, typer.Option(help="Name of the target column")],
    bad: Annotated[str, typer.Option(help="The target value that means bad (default)")],
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="No nested champion selection or tuning; our LightGBM with the policy's fixed settings",
        ),
    ] = False,
    folds: Annotated[int | None, typer.Option(help="Outer folds (policy default 5)")] = None,
    seed: Annotated[int | None, typer.Option(help="Split seed (policy default 2016)")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Write every fold's results here")] = None,
    allow_personal: AllowPersonal = False,
) -> None:
    """Cross-validated AUC and KS of our scorecard, challenger and champion beside three baselines."""
    import json

    from qiantang.credit.pipeline import cross_validate
    from qiantang.errors import ValidationFailed

    try:
        data = _credit_dataset(file, target, bad, allow_personal)
    except ValidationFailed as exc:
        _credit_errors(exc)
    console.print(
        f"{data.name}: {data.n:,} 行, 坏样本率 {data.bad_rate:.2%}, {len(data.features)} 个特征"
        + (f"；排除 {data.dropped}" if data.dropped else "")
    )
    report = cross_validate(
        data, nested=not quick, folds=folds, seed=seed, progress=lambda m: console.print(f"[dim]… {m}[/dim]")
    )
    table = Table(
        title=f"分层 {report.folds} 折交叉验证（种子 {report.seed}）· stratified {report.folds}-fold CV",
        box=box.SIMPLE_HEAD,
    )
    for col in ("模型 model", "AUC 均值 ± 标准差", "KS 均值 ± 标准差", "秒/折 s/fold"):
        table.add_column(col, justify="left" if col.startswith("模型") else "right")
    for row in report.summary():
        name = row["label"] + (f"（选中：{row['note']}）" if row["note"] else "")
        table.add_row(
            ("★ " if row["ours"] else "  ") + name,
            f"{row['auc_mean']:.4f} ± {row['auc_sd']:.4f}",
            f"{row['ks_mean']:.4f} ± {row['ks_sd']:.4f}",
            f"{row['seconds']:.1f}",
        )
    wide_console(110).print(table)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(report.as_dict(), fh, ensure_ascii=False, indent=1)


@credit_app.command("train")
def credit_train(
    file: Annotated[str | None, typer.Argument(help="CSV/Excel table; omit with --demo")] = None,
    target: Annotated[str | None, typer.Option(help="Name of the target column")] = None,
    bad: Annotated[str | None, typer.Option(help="The target value that means bad")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Train on the database's enterprises (demo target)")
    ] = False,
    kind: Annotated[str, typer.Option(help="auto (champion rule) | scorecard | blend | lightgbm")] = "auto",
    name: Annotated[str | None, typer.Option(help="Model name (versions are numbered per name)")] = None,
    allow_personal: AllowPersonal = False,
    segment: Annotated[
        str, typer.Option(help="Segment: all, micro, small, medium, large or your own")
    ] = "all",
    champion: Annotated[bool, typer.Option("--champion", help="Make it the segment's champion")] = False,
    user: Annotated[str, typer.Option(help="Recorded as who registered the model")] = "cli",
) -> None:
    """Train a model on a table (or the demo enterprises) and register it as a new version."""
    from pathlib import Path

    from qiantang.credit import registry
    from qiantang.credit.pipeline import train
    from qiantang.db import session_scope
    from qiantang.errors import ValidationFailed

    if kind not in ("auto", "scorecard", "blend", "lightgbm"):
        _fail(f"未知模型类型 {kind}")
    say = lambda m: console.print(f"[dim]… {m}[/dim]")  # noqa: E731
    try:
        with session_scope() as session:
            if demo:
                from qiantang.credit import features as feats
                from qiantang.credit.demo_model import TARGET_TEXT, demo_dataset

                data = demo_dataset(session, segment=segment)
                perf = feats.latest_loan_date(session.connection())
                target_text = TARGET_TEXT.format(
                    perf=perf, obs=f"{perf.year - 1}-12-31", obs_year=perf.year - 1
                )
                input_kind, feature_set = registry.INPUT_ENTERPRISE, feats.FEATURE_SET
                model_name = name or "企业信用评分模型"
            else:
                if not file or target is None or bad is None:
                    _fail("请给出数据文件、--target 和 --bad（或使用 --demo）")
                data = _credit_dataset(file, target, bad, allow_personal)
                target_text = f"「{target}」列取值为「{bad}」视为坏样本（{Path(file).name}）"
                input_kind, feature_set = registry.INPUT_TABLE, None
                model_name = name or Path(file).stem
            trained = train(data, kind=kind, say=say)
            row = registry.register(
                session,
                trained=trained,
                data=data,
                name=model_name,
                target_text=target_text,
                segment=segment,
                input_kind=input_kind,
                feature_set=feature_set,
                created_by=user,
                champion=champion,
            )
            oof = row.metrics["validation"]["out_of_fold"]
            console.print(
                f"已登记 {row.name} v{row.version}（id {row.id}，{row.kind.value}，{row.status.zh}）："
                f"样本外 AUC {oof['auc']['value']:.4f}，KS {oof['ks']['value']:.4f}；"
                f"{trained.seconds:.1f} s · registered"
            )
    except ValidationFailed as exc:
        _credit_errors(exc)


def _date_option(text: str | None):
    """A YYYY-MM-DD option, or a clear Chinese error."""
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"日期格式应为 YYYY-MM-DD：{text}")


@credit_app.command("oot")
def credit_oot(
    development: Annotated[
        str | None,
        typer.Option(help="Performance date of the development window (default: a year before the latest)"),
    ] = None,
    validation: Annotated[
        str | None, typer.Option(help="Performance date of the later window (default: the loans' date)")
    ] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the results here")] = None,
) -> None:
    """Out-of-time validation of the enterprise model: train on one year, validate on the next."""
    import json

    from qiantang.credit.demo_model import out_of_time
    from qiantang.db import session_scope

    with session_scope() as session:
        try:
            result = out_of_time(
                session,
                development=_date_option(development),
                validation=_date_option(validation),
                say=lambda m: console.print(f"[dim]… {m}[/dim]"),
            )
        except ValueError as exc:
            _fail(str(exc))
    for key, label in (("development", "开发样本 development"), ("out_of_time", "跨时间样本 out of time")):
        w = result[key]
        console.print(f"{label}：{w['name']}，{w['rows']:,} 家企业，坏样本率 {w['bad_rate']:.2%}")
    table = Table(title="跨时间验证 · out-of-time validation (95% bootstrap CI)", box=box.SIMPLE_HEAD)
    for col in ("模型 model", "开发期样本外 AUC", "跨时间 AUC", "开发期样本外 KS", "跨时间 KS", "平均 PD"):
        table.add_column(col, justify="left" if col.startswith("模型") else "right")

    def ci(iv: dict) -> str:
        return f"{iv['value']:.4f} [{iv['low']:.4f}, {iv['high']:.4f}]"

    for row in result["models"]:
        name = row["kind"] + (f" → {row['chosen']}" if row["kind"] == "auto" else "")
        d, o = row["development"], row["out_of_time"]
        table.add_row(name, ci(d["auc"]), ci(o["auc"]), ci(d["ks"]), ci(o["ks"]), f"{row['mean_pd']:.2%}")
    wide_console(140).print(table)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, ensure_ascii=False, indent=1)


@credit_app.command("score")
def credit_score(
    as_of: Annotated[
        str | None, typer.Option(help="As-of date YYYY-MM-DD (default: the loans' date)")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this process) | spark: the scoring on Spark, and with --source parquet|jdbc "
            "the features too; the same stored scores (docs/scale-out.md)"
        ),
    ] = "local",
    master: MasterOption = None,
    source: CreditSource = "db",
    snapshot: SnapshotOption = None,
) -> None:
    """Batch-score every enterprise with its segment's champion and store scores, grades and reasons."""
    from datetime import date

    from qiantang.credit.service import batch_score
    from qiantang.db import session_scope
    from qiantang.errors import QiantangError

    _check_engine(engine)
    _check_source(engine, source, snapshot)
    try:
        with session_scope() as session:
            stats = batch_score(
                session,
                as_of=date.fromisoformat(as_of) if as_of else None,
                say=lambda m: console.print(f"[dim]… {m}[/dim]"),
                engine=engine,
                master=master,
                source=source,
                snapshot=snapshot,
            )
    except QiantangError as exc:
        _fail(exc.message)
    console.print(
        f"已评分 {stats.rows:,} 户企业（截至 {stats.as_of}），"
        f"{stats.seconds:.1f} s：{stats.by_model} · scored"
    )


@credit_app.command("monitor")
def credit_monitor(
    model_id: Annotated[int | None, typer.Option(help="Model id (default: every champion)")] = None,
    file: Annotated[
        str | None, typer.Option(help="Current population (for a model trained on a table)")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date YYYY-MM-DD")] = None,
) -> None:
    """Population stability (PSI) of score and features: warn above 0.1, alert above 0.25."""
    from datetime import date

    from qiantang.credit import registry
    from qiantang.credit.service import monitor
    from qiantang.credit.tabular import read_path
    from qiantang.db import session_scope
    from qiantang.errors import QiantangError

    try:
        with session_scope() as session:
            ids = [model_id] if model_id else [r.id for r in registry.champions(session)]
            if not ids:
                _fail("没有冠军模型可监测")
            frame = read_path(file) if file else None
            for mid in ids:
                mon = monitor(
                    session, model_id=mid, as_of=date.fromisoformat(as_of) if as_of else None, frame=frame
                )
                label = {"ok": "正常 ok", "warn": "预警 warn", "alert": "警报 alert"}[mon.status]
                worst = sorted(mon.psi_features.items(), key=lambda kv: -kv[1])[:3]
                console.print(
                    f"模型 {mid}：{label}；评分 PSI {mon.psi_score:.4f}；特征 PSI 最高："
                    + "、".join(f"{k} {v:.3f}" for k, v in worst)
                )
    except QiantangError as exc:
        _fail(exc.message)


@credit_app.command("models")
def credit_models() -> None:
    """List the registered model versions."""
    from qiantang.credit import registry
    from qiantang.db import session_scope

    table = Table(title="评分模型 Credit models", box=box.SIMPLE_HEAD)
    for col in ("id", "名称 name", "版本", "分群", "类型", "状态", "样本", "坏样本率", "样本外 AUC", "登记"):
        table.add_column(col)
    with session_scope() as session:
        for r in registry.list_models(session):
            oof = (r.metrics.get("validation") or {}).get("out_of_fold", {}).get("auc", {}).get("value")
            table.add_row(
                str(r.id),
                r.name,
                str(r.version),
                r.segment,
                r.kind.value,
                r.status.zh,
                f"{r.training_rows:,}",
                f"{(r.training_bad_rate or 0):.2%}",
                f"{oof:.4f}" if oof is not None else "—",
                f"{r.created_by or ''} {r.created_at:%Y-%m-%d %H:%M}",
            )
    wide_console(140).print(table)


@credit_app.command("promote")
def credit_promote(
    model_id: Annotated[int, typer.Argument()],
    user: Annotated[str, typer.Option(help="Recorded as who promoted it")] = "cli",
) -> None:
    """Make a model version the champion of its segment (the previous champion is retired)."""
    from qiantang.credit import registry
    from qiantang.db import session_scope
    from qiantang.errors import QiantangError

    try:
        with session_scope() as session:
            row = registry.promote(session, model_id=model_id, by=user)
            console.print(f"{row.name} v{row.version} 已成为「{row.segment}」分群的冠军模型 · promoted")
    except QiantangError as exc:
        _fail(exc.message)


if __name__ == "__main__":  # pragma: no cover
    app()


matching_app = typer.Typer(help="融资对接 Financing matchmaking.", no_args_is_help=True)
app.add_typer(matching_app, name="matching")


@matching_app.command("timeouts")
def matching_timeouts() -> None:
    """Time out lenders past their first-contact or decision due date and re-offer their needs (daily)."""
    from datetime import date

    from qiantang.db import session_scope
    from qiantang.matching.service import check_timeouts

    with session_scope() as session:
        n = check_timeouts(session, today=date.today())
    console.print(f"超时 timed out {n}")


@matching_app.command("claims")
def matching_claims() -> None:
    """Create any new risk pools of pools.toml and compute a compensation claim for every covered loan
    classed 可疑/损失 that has none yet (daily, after the loan classes are loaded)."""
    from datetime import date

    from qiantang.db import session_scope
    from qiantang.matching import pools

    with session_scope() as session:
        pools.sync_pools(session, on=date.today(), actor="cli")
        made = pools.detect_claims(session, on=date.today())
    console.print(f"新代偿申请 new claims {len(made)}")


fundraising_app = typer.Typer(
    help="非法集资监测 Illegal-fundraising monitoring: the risk index and its evaluation.",
    no_args_is_help=True,
)
app.add_typer(fundraising_app, name="fundraising")


@fundraising_app.command("run")
def fundraising_run(
    as_of: Annotated[
        str | None, typer.Option(help="Date the index is computed for (default: the data's latest date)")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this process) | spark: texts, shared addresses, links and each firm's index "
            "on Spark, the same stored run (docs/scale-out.md)"
        ),
    ] = "local",
    master: MasterOption = None,
    source: FundraisingSource = "db",
    snapshot: SnapshotOption = None,
) -> None:
    """Score every watched firm (类金融企业) with the past year's tips and complaints, store the run
    (index 0–100, grade, reasons) and route it: red → a city case with the 移送公安 clock, orange and
    yellow → the district's cases, green → the watch list. The run is always stored in this database."""
    from datetime import date

    from qiantang.db import session_scope
    from qiantang.errors import QiantangError
    from qiantang.fundraising.monitor import monitor

    _check_engine(engine)
    _check_source(engine, source, snapshot)
    try:
        with session_scope() as session:
            done = monitor(
                session,
                as_of=date.fromisoformat(as_of) if as_of else None,
                actor="cli",
                engine=engine,
                master=master,
                source=source,
                snapshot=snapshot,
            )
            r, routed = done.run, done.routed.as_dict()
            c, firms, seconds, version, day = r.counts, r.firms, r.seconds, r.version, r.as_of
    except QiantangError as exc:
        _fail(exc.message)
    console.print(
        f"非法集资风险指数 fundraising index {version} · {day} · {firms:,} 家 firms in {seconds:.1f} s"
    )
    console.print(
        f"  红 red {c['red']:,} · 橙 orange {c['orange']:,} · "
        f"黄 yellow {c['yellow']:,} · 绿 green {c['green']:,}"
    )
    console.print(
        f"  新立案件 cases opened {routed['opened']:,} · 升级 escalated {routed['escalated']:,} · "
        f"关注名单 watch list {routed['watched']:,}"
    )


def _print_evaluation(ev, title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("模型 model", no_wrap=True)
    for col in ("AUC", "KS", "前10%精确率\nprec.@10%"):
        table.add_column(col, justify="right", no_wrap=True)
    for m in ev.models:
        table.add_row(
            m.name,
            *(f"{v[0]:.3f} ± {v[1]:.3f}" for v in (m.auc, m.ks, m.precision_top10)),
        )
    wide = wide_console(100)
    wide.print(table)
    wide.print(f"  {ev.rows:,} 行 rows · 风险样本 bad {ev.bad:,} · 指数版本 index {ev.version}")
    wide.print(f"  使用的列 columns used: {', '.join(ev.columns) or '—'}")
    if ev.missing:
        wide.print(f"  [dim]缺少的列（按未观测处理）missing (not observed): {', '.join(ev.missing)}[/dim]")


@fundraising_app.command("import")
def fundraising_import(
    kind: Annotated[
        str,
        typer.Argument(help="profiles | changes | people | texts | spread | complaints | dishonest | funds"),
    ],
    file: Annotated[
        str, typer.Argument(help="CSV or Excel; headers are the field names or their Chinese labels")
    ],
) -> None:
    """Import monitoring data; the file is checked whole and nothing is stored on any error."""
    from pathlib import Path

    from qiantang.db import session_scope
    from qiantang.errors import ValidationFailed
    from qiantang.fundraising.evaluate import read_table
    from qiantang.fundraising.imports import import_table

    path = Path(file)
    if not path.exists():
        _fail(f"找不到文件 {file}")
    table = read_table(path)
    try:
        with session_scope() as session:
            n = import_table(session, kind, table)
    except ValidationFailed as exc:
        console.print(f"[red]{exc.summary}[/red]")
        for e in exc.errors[:50]:
            where = f"第 {e.row} 行 " if e.row else ""
            console.print(f"  {where}{e.column or ''}：{e.message}")
        raise typer.Exit(code=1) from None
    console.print(f"已导入 {n:,} 行 imported {n:,} rows ({kind})")


@fundraising_app.command("evaluate")
def fundraising_evaluate(
    file: Annotated[str | None, typer.Argument(help="CSV or Excel table, one row per entity")] = None,
    label: Annotated[str, typer.Option(help="Label column")] = "collapsed",
    bad: Annotated[str, typer.Option(help="Label value that marks a bad entity")] = "是",
    demo: Annotated[
        bool, typer.Option("--demo", help="Evaluate on the demo: watched firms a year before the data's end")
    ] = False,
    export: Annotated[
        str | None, typer.Option(help="With --demo: also write the demo table to this CSV")
    ] = None,
) -> None:
    """Stratified 5-fold CV: AUC, KS, precision at the top 10 % — rule index, monotone LightGBM (tuned in
    the folds), logistic regression, default LightGBM. Documented columns: name, founded_on,
    registered_capital (万元), paid_in_capital (万元), promised_return (% a year), investors,
    investor_growth (%), complaints, business_scope, ad_text, licensed, district."""
    from pathlib import Path

    from qiantang.fundraising.evaluate import demo_table, evaluate_table, read_table

    if demo:
        from qiantang.db import session_scope

        with session_scope() as session:
            table, snap = demo_table(session)
        if export:
            table.to_csv(export, index=False, encoding="utf-8-sig")
        title = f"演示数据评估 demo evaluation · 快照 snapshot {snap} · 标签：一年内暴雷"
        label, bad = "collapsed", "是"
    else:
        if not file:
            _fail("请给出数据文件，或使用 --demo")
        path = Path(file)
        if not path.exists():
            _fail(f"找不到文件 {file}")
        table = read_table(path)
        title = f"评估 evaluation · {path.name} · {label} = {bad}"
    try:
        ev = evaluate_table(table, label, bad)
    except ValueError as exc:
        _fail(str(exc))
    _print_evaluation(ev, title)


@fundraising_app.command("backtest")
def fundraising_backtest(
    step: Annotated[int, typer.Option(help="Days between scoring dates")] = 30,
) -> None:
    """Demo backtest: collapses flagged 红/橙 ≥ 90 days before, median lead time, precision of the top
    100 — beside a baseline that ranks by promised return alone."""
    from qiantang.db import session_scope
    from qiantang.fundraising.service import backtest

    with session_scope() as session:
        bt = backtest(session, step_days=step)

    def lead(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f} 天 days"

    table = Table(
        title=f"回测 backtest · {bt.dates} 个评分日 scoring dates · "
        f"{bt.collapses} 起暴雷 collapses · {bt.version}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("方法 method", no_wrap=True)
    table.add_column("提前≥90天标记红/橙\nflagged ≥ 90 d", justify="right")
    table.add_column("提前时间中位数\nmedian lead", justify="right")
    table.add_column(f"前100名精确率\nprec. top 100 ({bt.snapshot})", justify="right")
    table.add_row(
        "风险指数 index", f"{bt.flagged_90:.1%}", lead(bt.median_lead_days), f"{bt.precision_top100:.1%}"
    )
    table.add_row(
        "仅按承诺收益排序 promised return only",
        f"{bt.baseline_flagged_90:.1%}",
        lead(bt.baseline_median_lead_days),
        f"{bt.baseline_precision_top100:.1%}",
    )
    wide_console(100).print(table)
