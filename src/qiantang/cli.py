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
users_app = typer.Typer(help="用户 Users and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(stats_app, name="stats")
app.add_typer(plan_app, name="plan")
app.add_typer(network_app, name="network")
app.add_typer(ew_app, name="ew")
app.add_typer(cases_app, name="cases")
console = Console()


def wide_console(columns: int) -> Console:
    """A console at least this wide, so a table of figures is not cut at 80 columns (a pipe, CI)."""
    return Console(width=max(console.width, columns))


def _fail(message: str) -> None:
    console.print(f"[red]错误 Error:[/red] {message}")
    raise typer.Exit(code=1)


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
    from qiantang.db import session_scope

    url = get_settings().database_url
    migrate.upgrade(url, revision)
    with session_scope() as session:
        changed = sync_all(session)
    console.print(f"数据库已升级到 {revision}（参考数据更新 {changed} 项）· database at {revision}")


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
def stats_refresh() -> None:
    """Recompute the enterprise and loan summaries and the statistics cells (run after loading data)."""
    from qiantang.db import session_scope
    from qiantang.overview.service import refresh_summary
    from qiantang.statistics.service import refresh as refresh_statistics

    with session_scope() as session:
        snapshot = refresh_summary(session)
        console.print(
            f"汇总已更新 summaries refreshed in {snapshot.seconds:.1f} s (贷款截至 {snapshot.loans_as_of})"
        )
        stats = refresh_statistics(session)
        console.print(f"综合统计已更新 statistics refreshed in {stats.seconds:.1f} s ({stats.cells:,} cells)")


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


@network_app.command("analyse")
def network_analyse(
    as_of: Annotated[
        str | None, typer.Option(help="Date of the guarantees in force (default: the loans' as-of date)")
    ] = None,
    recovery: Annotated[float, typer.Option(help="Recovery rate of a defaulted loan")] = 0.4,
    capacity: Annotated[float, typer.Option(help="Loss-absorbing capacity = net assets × this")] = 1.0,
) -> None:
    """Detect guarantee groups, loops, pairs, rings and chains; systemic importance; each firm's impact."""
    from datetime import date

    from qiantang.db import session_scope
    from qiantang.network.service import Params, analyse

    day = date.fromisoformat(as_of) if as_of else None
    with session_scope() as session:
        run = analyse(session, as_of=day, params=Params(recovery=recovery, capacity_multiplier=capacity))
        c = run.counts
    typer.echo(f"担保网络分析完成 network analysed in {run.seconds:.1f} s")
    typer.echo(f"  企业 firms {c['firms']:,} · 担保圈 groups {c['groups']:,}")
    typer.echo(f"  最大担保圈 largest {c['largest_group']:,} · 最长担保链 chain {c['longest_chain']}")
    typer.echo(f"  互保 mutual pairs {c['mutual_pairs']:,} · 三方循环 three-firm rings {c['rings']:,}")


@ew_app.command("run")
def ew_run() -> None:
    """Recompute indicators, signals, ratings and alerts for every quarter; open cases for new alerts
    (run after each quarter's filings)."""
    from qiantang.db import session_scope
    from qiantang.earlywarning.service import run

    with session_scope() as session:
        record = run(session, triggered_by="cli")
        c = record.counts
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
        typer.Option(help="city_admin | city_analyst | district_officer | institution_reporter | auditor"),
    ],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, envvar="QIANTANG_NEW_PASSWORD"),
    ],
    display_name: Annotated[str | None, typer.Option()] = None,
    district: Annotated[str | None, typer.Option(help="GB/T 2260 code, for district officers")] = None,
    institution_id: Annotated[int | None, typer.Option(help="For institution reporters")] = None,
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
            user = create_user(
                session,
                username=username,
                password=password,
                role=role_value,
                display_name=display_name,
                district_code=district,
                institution_id=institution_id,
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
    days: Annotated[int, typer.Option(help="Validity in days (0: no expiry)")] = 365,
) -> None:
    """Issue an API bearer token for a user; it is printed once and only its hash is stored."""
    from qiantang.auth.service import create_api_token, get_user_by_username
    from qiantang.db import session_scope

    with session_scope() as session:
        user = get_user_by_username(session, username)
        if user is None:
            _fail(f"用户 {username} 不存在")
        token = create_api_token(session, user=user, name=name, days=days or None)
    console.print(token)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: QIANTANG_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: QIANTANG_PORT or 8000")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the web application."""
    import uvicorn

    from qiantang.config import get_settings

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"钱塘 Qiantang {__version__} → http://{host}:{port}  (API: http://{host}:{port}/api/docs)")
    os.environ.setdefault("QIANTANG_DATABASE_URL", settings.database_url)
    uvicorn.run(
        "qiantang.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The app believes X-Forwarded-* only from QIANTANG_TRUSTED_PROXIES (web.app); uvicorn's own
        # handling would trust 127.0.0.1 whatever the setting says.
        proxy_headers=False,
        log_level="info",
    )


# --- credit scoring ----------------------------------------------------------------------------------
credit_app = typer.Typer(
    help="信用评分 Credit scoring: evaluate, train, batch-score, monitor.", no_args_is_help=True
)
app.add_typer(credit_app, name="credit")


def _credit_dataset(file: str, target: str, bad: str):
    from pathlib import Path

    from qiantang.credit.tabular import prepare, read_path

    frame = read_path(file)
    return prepare(frame, target=target, bad=bad, name=Path(file).name)


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
) -> None:
    """Cross-validated AUC and KS of our scorecard, challenger and champion beside three baselines."""
    import json

    from qiantang.credit.pipeline import cross_validate
    from qiantang.errors import ValidationFailed

    try:
        data = _credit_dataset(file, target, bad)
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
    kind: Annotated[str, typer.Option(help="auto (champion rule) | scorecard | lightgbm")] = "auto",
    name: Annotated[str | None, typer.Option(help="Model name (versions are numbered per name)")] = None,
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

    if kind not in ("auto", "scorecard", "lightgbm"):
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
                data = _credit_dataset(file, target, bad)
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


@credit_app.command("score")
def credit_score(
    as_of: Annotated[
        str | None, typer.Option(help="As-of date YYYY-MM-DD (default: the loans' date)")
    ] = None,
) -> None:
    """Batch-score every enterprise with its segment's champion and store scores, grades and reasons."""
    from datetime import date

    from qiantang.credit.service import batch_score
    from qiantang.db import session_scope
    from qiantang.errors import QiantangError

    try:
        with session_scope() as session:
            stats = batch_score(
                session,
                as_of=date.fromisoformat(as_of) if as_of else None,
                say=lambda m: console.print(f"[dim]… {m}[/dim]"),
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
