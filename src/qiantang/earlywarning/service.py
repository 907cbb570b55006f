"""Early warning: the batch computation (``run``) and the reads behind the pages and the API.

``run`` recomputes everything for every quarter from the filings and the registry:

1. the panel and the indicators (indicators.py), stored long in ``ew_indicators``, with the peer
   distribution of each type and quarter in ``ew_peer_bands``;
2. the signals (rules.py): regulatory limits in force at each quarter end, peer anomalies, trend
   breaks and filing behaviour, each with its evidence, in ``ew_signals``;
3. the CAMEL+RR rating (rating.py) and the challenger's probability of distress (challenger.py) in
   ``ew_ratings``; orange and red ratings are signals of the ``rating`` family;
4. the alerts (alerts.py), matched to the existing ones so that their ids stay stable;
5. an ``EwRun`` row with the versions, periods, counts and timings; then the cases service opens a
   case for every open alert of the latest quarter.

Nothing here commits: the caller (CLI, demo loader, request) owns the transaction.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from qiantang import results, search
from qiantang.auth.scope import Scope
from qiantang.db import bulk_insert, get_or_404
from qiantang.earlywarning import alerts as alerts_mod
from qiantang.earlywarning import challenger, indicators, rating, rules
from qiantang.earlywarning.models import (
    Alert,
    AlertStatus,
    EwIndicator,
    EwPeerBand,
    EwRating,
    EwRun,
    EwSignal,
    Level,
    SignalFamily,
)
from qiantang.earlywarning.panel import Panel, label_of, load_panel, period_of, pq_of
from qiantang.paging import load_in_order
from qiantang.registry.models import Institution, InstitutionType

VERSION = "ew-2026.1"


@dataclass
class Config:
    """Everything that is data: rules, signal thresholds, the scorecard (loaded from data/*.toml)."""

    rules: rules.RuleSet
    signals: rules.SignalSettings
    scorecard: rating.Scorecard

    @classmethod
    def load(cls, city: str | None = None) -> Config:
        return cls(rules.load_rules(city), rules.load_signal_settings(), rating.load_scorecard())

    @property
    def version(self) -> str:
        return f"{indicators.VERSION}|{self.rules.version}|{self.signals.version}|{self.scorecard.version}"[
            :64
        ]


@dataclass
class Computation:
    """The in-memory result of one computation (what ``run`` writes)."""

    panel: Panel
    wide: pd.DataFrame
    long: pd.DataFrame
    bands: pd.DataFrame
    signals: pd.DataFrame
    inputs: pd.DataFrame
    ratings: rating.Ratings
    challenger: challenger.ChallengerResult
    onsets: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


class Laps:
    """Seconds per named step, written into ``timings`` (a run keeps where its time went)."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self.clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self.clock, 3)
        self.clock = now


def compute(session: Session, *, config: Config | None = None) -> Computation:
    """Read the filings and the registry and compute indicators, signals, ratings and the challenger."""
    config = config or Config.load()
    timings: dict[str, float] = {}
    lap = Laps(timings)

    panel = load_panel(session, templates=config.rules.templates)
    lap("read")
    return compute_panel(panel, config=config, timings=timings)


def compute_panel(
    panel: Panel, *, config: Config | None = None, timings: dict[str, float] | None = None
) -> Computation:
    """Indicators, signals, ratings and the challenger of a panel already read."""
    config = config or Config.load()
    timings = {} if timings is None else timings
    lap = Laps(timings)

    wide = indicators.compute(panel)
    long = indicators.to_long(panel, wide)
    lap("indicators")
    bands = rules.peer_bands(long)
    history = rules.History(panel, wide)
    parts = [
        rules.evaluate_limits(panel, wide, config.rules, history),
        rules.evaluate_peers(panel, long, bands, config.signals, history),
        rules.evaluate_trends(panel, wide, config.signals, history),
        rules.evaluate_filing(panel, wide, config.signals, history),
    ]
    parts = [p for p in parts if not p.empty]
    signals = pd.concat(parts, ignore_index=True) if parts else rules._empty()
    del history, parts  # the lag arrays kept for the evidence
    lap("signals")
    inputs = rating.rating_inputs(panel, wide, config.rules, signals)
    rated = rating.score(panel, inputs, config.scorecard)
    lap("rating")
    onset = challenger.onsets(panel, config.scorecard.distress)
    chall = challenger.fit_and_score(panel, inputs, onset, config.scorecard.challenger)
    lap("challenger")
    signals = pd.concat([signals, _rating_signals(panel, rated, config.scorecard)], ignore_index=True)
    return Computation(panel, wide, long, bands, signals, inputs, rated, chall, onset, timings)


def _rating_signals(panel: Panel, rated: rating.Ratings, card: rating.Scorecard) -> pd.DataFrame:
    bad = np.isin(rated.level, ["orange", "red"])
    idx = np.nonzero(bad)[0]
    rows = rated.rows[idx]
    msg_zh, msg_en, evidence = [], [], []
    for i in idx:
        level = Level(rated.level[i])
        reasons = rated.reasons[i]
        msg_zh.append(
            f"风险评级{level.zh}（{rated.score[i]:.1f}分）" + (f"：{reasons[0]}" if reasons else "")
        )
        msg_en.append(f"Risk rating {level.en} (score {rated.score[i]:.1f})")
        evidence.append(
            {
                "score": float(rated.score[i]),
                "level": level.value,
                "dimensions": rated.dimensions[i],
                "reasons": reasons,
                "cutoffs": card.cutoffs,
            }
        )
    return pd.DataFrame(
        {
            "row": rows,
            "institution_id": panel.rows["institution_id"].to_numpy(np.int64)[rows],
            "pq": panel.rows["pq"].to_numpy(np.int64)[rows],
            "family": SignalFamily.RATING.value,
            "code": "rating",
            "level": rated.level[idx],
            "value": rated.score[idx],
            "threshold": np.where(rated.level[idx] == "red", card.cutoffs["red"], card.cutoffs["orange"]),
            "message_zh": msg_zh,
            "message_en": msg_en,
            "evidence": evidence,
            "kind": "",
            "usage": np.nan,
        },
        columns=rules.SIGNAL_COLUMNS,
    )


# ---------------------------------------------------------------------------------------- storage
def _none_if_nan(values: np.ndarray) -> list:
    return [
        None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in values.tolist()
    ]


def _days(pqs: np.ndarray) -> list[str]:
    cache: dict[int, str] = {}
    out = []
    for p in pqs.tolist():
        s = cache.get(p)
        if s is None:
            s = cache[p] = period_of(p).isoformat()
        out.append(s)
    return out


def _clear_results(session: Session) -> None:
    """Delete the previous computation. The indicator table's indexes are dropped first and rebuilt
    after the insert (:func:`_rebuild_indexes`): building an index once from sorted data is several
    times faster than maintaining it row by row for a million rows, and the schema ends as it began."""
    conn = session.connection()
    for index in EwIndicator.__table__.indexes:
        index.drop(conn, checkfirst=True)
    tables = [EwIndicator.__table__, EwPeerBand.__table__, EwSignal.__table__, EwRating.__table__]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables))
    else:
        for t in tables:
            conn.execute(delete(t))


def _rebuild_indexes(session: Session) -> None:
    conn = session.connection()
    for index in EwIndicator.__table__.indexes:
        index.create(conn, checkfirst=True)


def _write(session: Session, comp: Computation, config: Config) -> dict[str, int]:
    conn = session.connection()
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        comp.timings[f"write_{name}"] = round(now - clock, 3)
        clock = now

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    long = comp.long  # in (institution, quarter, indicator) order; the indexes are built afterwards
    n_ind = bulk_insert(
        conn,
        EwIndicator.__table__,
        {
            "institution_id": long["institution_id"].to_numpy(np.int64),
            "period_end": _days(long["pq"].to_numpy(np.int64)),
            "code": long["code"].to_numpy(object),
            "value": np.round(long["value"].to_numpy(np.float64), 6),
            "version": [indicators.VERSION] * len(long),
        },
        chunk_rows=200_000,
    )
    lap("indicators")
    _rebuild_indexes(session)
    lap("indexes")
    b = comp.bands
    n_bands = bulk_insert(
        conn,
        EwPeerBand.__table__,
        {
            "type_code": b["type_code"].to_numpy(object),
            "period_end": _days(b["pq"].to_numpy(np.int64)),
            "code": b["code"].to_numpy(object),
            "n": b["n"].to_numpy(np.int64),
            **{
                c: np.round(b[c].to_numpy(np.float64), 6)
                for c in ("p10", "p25", "median", "p75", "p90", "mad")
            },
        },
    )
    lap("bands")
    s = comp.signals
    fam = s["family"].to_numpy(object)
    version = np.where(
        fam == "limit",
        config.rules.version,
        np.where(fam == "rating", config.scorecard.version, config.signals.version),
    )
    n_sig = bulk_insert(
        conn,
        EwSignal.__table__,
        {
            "institution_id": s["institution_id"].to_numpy(np.int64),
            "period_end": _days(s["pq"].to_numpy(np.int64)),
            "family": fam,
            "code": s["code"].to_numpy(object),
            "level": s["level"].to_numpy(object),
            "value": _none_if_nan(pd.to_numeric(s["value"], errors="coerce").to_numpy(np.float64)),
            "threshold": _none_if_nan(pd.to_numeric(s["threshold"], errors="coerce").to_numpy(np.float64)),
            "message_zh": s["message_zh"].to_numpy(object),
            "message_en": s["message_en"].to_numpy(object),
            "evidence": [dumps(e) for e in s["evidence"]],
            "version": version,
        },
    )
    lap("signals")
    r = comp.ratings
    rows = comp.panel.rows.iloc[r.rows]
    pd_values = comp.challenger.pd_values[r.rows]
    n_rat = bulk_insert(
        conn,
        EwRating.__table__,
        {
            "institution_id": rows["institution_id"].to_numpy(np.int64),
            "period_end": _days(rows["pq"].to_numpy(np.int64)),
            "type_code": rows["type_code"].to_numpy(object),
            "district_code": rows["district_code"].to_numpy(object),
            "score": np.nan_to_num(r.score, nan=100.0),
            "level": r.level,
            "dimensions": [dumps(d) for d in r.dimensions],
            "reasons": [dumps(x) for x in r.reasons],
            "challenger_pd": _none_if_nan(pd_values),
            "version": [config.scorecard.version] * len(rows),
        },
    )
    lap("ratings")
    return {"indicators": n_ind, "peer_bands": n_bands, "signals": n_sig, "ratings": n_rat}


def run(
    session: Session,
    *,
    triggered_by: str | None = None,
    config: Config | None = None,
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
) -> EwRun:
    """Recompute indicators, signals, ratings and alerts for every quarter; open cases for new alerts.

    ``engine="spark"`` assembles the panel and computes the indicators, peer bands, signals and
    ratings on Spark (:mod:`qiantang.batch.earlywarning`, ``master`` as for
    :func:`qiantang.batch.spark.get_spark`), reading the tables from ``source``: ``db`` (through this
    session), ``parquet`` (the ``qiantang export parquet`` snapshot in ``snapshot``) or ``jdbc``
    (PostgreSQL, the session's database, read by Spark). What is stored, and its versions, are the
    local computation's."""
    if engine not in ("local", "spark"):
        raise ValueError(f"unknown engine {engine!r}")
    if engine == "local" and source != "db":
        raise ValueError("source parquet or jdbc needs engine spark")
    started = time.perf_counter()
    config = config or Config.load()
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # a large page cache keeps index maintenance of the bulk writes in memory
        previous_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
    try:
        if engine == "spark":
            from qiantang.batch import earlywarning as spark_ew
            from qiantang.batch.spark import get_spark

            comp = spark_ew.compute(
                get_spark(master), session, config=config, source=source, snapshot=snapshot
            )
        else:
            comp = compute(session, config=config)
        clock = time.perf_counter()
        _clear_results(session)
        comp.timings["clear"] = round(time.perf_counter() - clock, 3)
        counts: dict[str, Any] = _write(session, comp, config)
        clock = time.perf_counter()
        latest = comp.panel.last_pq
        eps = alerts_mod.episodes(comp.panel, comp.signals, latest) if latest is not None else []
        counts["alerts"] = alerts_mod.store(session, eps, version=VERSION)
        comp.timings["alerts"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        store_level_history(session, version=config.version)
        store_dashboard(session, version=config.version)
        comp.timings["stored_results"] = round(time.perf_counter() - clock, 3)
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(previous_cache)}")
    s = comp.signals
    counts["signals_by_family"] = {f.value: int((s["family"] == f.value).sum()) for f in SignalFamily}
    counts["institutions"] = int(comp.panel.rows["institution_id"].nunique()) if not comp.panel.empty else 0
    counts["panel_rows"] = len(comp.panel.rows)
    counts["filings"] = int(comp.panel.rows["filed"].sum()) if not comp.panel.empty else 0
    counts["challenger"] = comp.challenger.summary()
    counts["distress_onsets"] = (
        {k: int(v) for k, v in comp.onsets["kind"].value_counts().items()} if not comp.onsets.empty else {}
    )
    if config.rules.overrides_applied:
        counts["overrides"] = {"city": config.rules.city, "rules": list(config.rules.overrides_applied)}
    latest_day = period_of(latest) if latest is not None else None
    cases_opened = 0
    if latest_day is not None:
        from qiantang.cases.service import sync_cases

        clock = time.perf_counter()
        cases_opened = sync_cases(session, as_of=latest_day)
        comp.timings["cases"] = round(time.perf_counter() - clock, 3)
    counts["cases_opened"] = cases_opened
    counts["timings"] = comp.timings
    record = EwRun(
        version=config.version,
        first_period=period_of(comp.panel.first_pq) if comp.panel.first_pq is not None else None,
        last_period=latest_day,
        counts=counts,
        triggered_by=triggered_by,
        seconds=round(time.perf_counter() - started, 3),
    )
    session.add(record)
    session.flush()
    session.expire_all()
    return record


# ---------------------------------------------------------------------------------------- reads
def latest_run(session: Session) -> EwRun | None:
    return session.scalars(select(EwRun).order_by(EwRun.id.desc()).limit(1)).first()


def periods(session: Session) -> list[date]:
    """Every quarter with ratings, newest first."""
    return list(session.scalars(select(EwRating.period_end).distinct().order_by(EwRating.period_end.desc())))


def latest_period(session: Session, *, up_to: date | None = None) -> date | None:
    stmt = select(func.max(EwRating.period_end))
    if up_to is not None:
        stmt = stmt.where(EwRating.period_end <= up_to)
    sig = select(func.max(EwSignal.period_end))
    if up_to is not None:
        sig = sig.where(EwSignal.period_end <= up_to)
    values = [v for v in (session.scalar(stmt), session.scalar(sig)) if v is not None]
    return max(values) if values else None


def _scoped(stmt: Select, scope: Scope) -> Select:
    return stmt.where(scope.institution_clause(Institution.id, Institution.district_code))


def worst_levels(session: Session, *, scope: Scope, period_end: date) -> pd.DataFrame:
    """Per institution in scope, for one quarter: its rating level, score and PD, its worst signal level
    and the overall warning level (the worse of the two)."""
    ratings = session.execute(
        _scoped(
            select(EwRating.institution_id, EwRating.score, EwRating.level, EwRating.challenger_pd).join(
                Institution, Institution.id == EwRating.institution_id
            ),
            scope,
        ).where(EwRating.period_end == period_end)
    ).all()
    sigs = session.execute(
        _scoped(
            select(EwSignal.institution_id, EwSignal.level).join(
                Institution, Institution.id == EwSignal.institution_id
            ),
            scope,
        ).where(EwSignal.period_end == period_end)
    ).all()
    r = pd.DataFrame(ratings, columns=["institution_id", "score", "rating_level", "pd"])
    r["rating_level"] = r["rating_level"].map(lambda v: Level(v).value if v is not None else None)
    s = pd.DataFrame(sigs, columns=["institution_id", "level"])
    s["rank"] = s["level"].map(lambda v: rules.LEVEL_RANK[Level(v).value])
    worst = s.groupby("institution_id")["rank"].max().rename("signal_rank")
    df = r.set_index("institution_id").join(worst, how="outer")
    df["rating_rank"] = df["rating_level"].map(
        lambda v: rules.LEVEL_RANK.get(v, 0) if isinstance(v, str) else 0
    )
    df["signal_rank"] = df["signal_rank"].fillna(0).astype(int)
    df["rank"] = np.maximum(df["rating_rank"], df["signal_rank"]).astype(int)
    df["level"] = df["rank"].map(rules.RANK_LEVEL)
    if df.empty:
        df["type_code"] = pd.Series(dtype=object)
        df["district_code"] = pd.Series(dtype=object)
        return df
    inst = session.execute(
        select(Institution.id, Institution.type_code, Institution.district_code, Institution.name).where(
            Institution.id.in_(df.index.tolist())
        )
    ).all()
    info = pd.DataFrame(inst, columns=["institution_id", "type_code", "district_code", "name"]).set_index(
        "institution_id"
    )
    return df.join(info)


def dashboard(session: Session, *, scope: Scope, period_end: date | None = None) -> dict[str, Any]:
    """The overview page: heat map (type × district), counts by level and open alerts by family."""
    period_end = period_end or latest_period(session)
    if period_end is None:
        return {"period_end": None}
    df = worst_levels(session, scope=scope, period_end=period_end)
    from qiantang.registry.models import Area

    types = {
        t.code: t
        for t in session.scalars(select(InstitutionType).where(InstitutionType.filing_template.is_not(None)))
    }
    areas = {a.code: a for a in session.scalars(select(Area))}
    flagged = df[df["rank"] >= 1] if not df.empty else df
    type_codes = sorted(
        df["type_code"].dropna().unique(), key=lambda c: types[c].sort_order if c in types else 0
    )
    district_codes = sorted(
        df["district_code"].dropna().unique(), key=lambda c: areas[c].sort_order if c in areas else 0
    )
    cells = []
    for (t, d), g in flagged.groupby(["type_code", "district_code"]):
        cells.append(
            {
                "type_code": t,
                "district_code": d,
                "red": int((g["level"] == "red").sum()),
                "orange": int((g["level"] == "orange").sum()),
                "yellow": int((g["level"] == "yellow").sum()),
                "total": len(g),
            }
        )
    by_level = {lv.value: int((df["level"] == lv.value).sum()) for lv in Level} if not df.empty else {}
    alert_stmt = _scoped(
        select(Alert.family, Alert.level, func.count()).join(
            Institution, Institution.id == Alert.institution_id
        ),
        scope,
    ).where(Alert.status == AlertStatus.OPEN)
    open_alerts = session.execute(alert_stmt.group_by(Alert.family, Alert.level)).all()
    by_family: dict[str, dict[str, int]] = {}
    for fam, lv, n in open_alerts:
        by_family.setdefault(SignalFamily(fam).value, {})[Level(lv).value] = int(n)
    new_alerts = session.scalar(
        _scoped(
            select(func.count()).select_from(Alert).join(Institution, Institution.id == Alert.institution_id),
            scope,
        ).where(Alert.first_period == period_end)
    )
    high_pd = int((df["pd"].fillna(0) >= _pd_cutoff()).sum()) if not df.empty else 0
    return {
        "period_end": period_end,
        "label": label_of(pq_of(period_end)),
        "monitored": len(df),
        "by_level": by_level,
        "cells": cells,
        "types": [
            (c, types[c].name_zh if c in types else c, types[c].name_en if c in types else c)
            for c in type_codes
        ],
        "districts": [
            (c, areas[c].name_zh if c in areas else c, areas[c].name_en if c in areas else c)
            for c in district_codes
        ],
        "open_by_family": by_family,
        "open_total": sum(sum(v.values()) for v in by_family.values()),
        "new_alerts": int(new_alerts or 0),
        "high_pd": high_pd,
        "pd_cutoff": _pd_cutoff(),
        "frame": df,
    }


def _pd_cutoff() -> float:
    return float(rating.load_scorecard().challenger.get("pd_cutoff", 0.2))


@dataclass(frozen=True)
class AlertFilters:
    level: str | None = None
    family: str | None = None
    type_code: str | None = None
    district_code: str | None = None
    status: str | None = "open"
    institution_id: int | None = None
    q: str | None = None  # the institution's name or USCC, any part


def _alert_query(session: Session, scope: Scope, f: AlertFilters) -> Select:
    stmt = _scoped(select(Alert).join(Institution, Institution.id == Alert.institution_id), scope)
    if f.level:
        stmt = stmt.where(Alert.level == Level(f.level))
    if f.family:
        stmt = stmt.where(Alert.family == SignalFamily(f.family))
    if f.type_code:
        stmt = stmt.where(Institution.type_code == f.type_code)
    if f.district_code:
        stmt = stmt.where(Institution.district_code == f.district_code)
    if f.status:
        stmt = stmt.where(Alert.status == AlertStatus(f.status))
    if f.institution_id:
        stmt = stmt.where(Alert.institution_id == f.institution_id)
    if f.q and f.q.strip():
        stmt = stmt.where(search.matches(session, "institutions", Institution.id, f.q))
    return stmt


LEVEL_ORDER = {"red": 0, "orange": 1, "yellow": 2, "green": 3}


def list_alerts(
    session: Session, *, scope: Scope, filters: AlertFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Alert], int]:
    """One page of alerts the user may see (worst and latest first) and how many match."""
    from sqlalchemy import case

    stmt = _alert_query(session, scope, filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rank = case({lv: i for lv, i in LEVEL_ORDER.items()}, value=Alert.level, else_=9)
    # Sort the ids alone, then load the page's rows: sorting whole alerts (their evidence JSON, with the
    # institution joined in) to keep 50 cost most of the page at city scale.
    ids = list(
        session.scalars(
            stmt.with_only_columns(Alert.id)
            .order_by(Alert.last_period.desc(), rank, Alert.id)
            .limit(limit)
            .offset(offset)
        )
    )
    return load_in_order(session, Alert, ids), total


def cases_for_alerts(session: Session, alert_ids: list[int]) -> dict[int, int]:
    """alert id → case id, for the alerts that have a case."""
    if not alert_ids:
        return {}
    from qiantang.cases.models import Case

    out: dict[int, int] = {}
    for start in range(0, len(alert_ids), 500):
        chunk = alert_ids[start : start + 500]
        out.update(
            dict(session.execute(select(Case.alert_id, Case.id).where(Case.alert_id.in_(chunk))).all())
        )
    return out


def get_institution(session: Session, *, scope: Scope, institution_id: int) -> Institution:
    inst = get_or_404(session, Institution, institution_id)
    scope.check_institution(inst.id, inst.district_code)
    return inst


def institution_profile(session: Session, *, scope: Scope, institution_id: int) -> dict[str, Any]:
    """An institution's ratings, indicators (with limits and peer bands) and current signals."""
    inst = get_institution(session, scope=scope, institution_id=institution_id)
    ratings = list(
        session.scalars(
            select(EwRating).where(EwRating.institution_id == inst.id).order_by(EwRating.period_end)
        )
    )
    values = session.execute(
        select(EwIndicator.code, EwIndicator.period_end, EwIndicator.value)
        .where(EwIndicator.institution_id == inst.id)
        .order_by(EwIndicator.code, EwIndicator.period_end)
    ).all()
    latest = latest_period(session)
    last_own = max([r.period_end for r in ratings], default=None)
    signal_period = session.scalar(
        select(func.max(EwSignal.period_end)).where(EwSignal.institution_id == inst.id)
    )
    current_period = max([d for d in (last_own, signal_period) if d is not None], default=None)
    signals = (
        list(
            session.scalars(
                select(EwSignal)
                .where(EwSignal.institution_id == inst.id, EwSignal.period_end == current_period)
                .order_by(EwSignal.family, EwSignal.code)
            )
        )
        if current_period
        else []
    )
    series: dict[str, dict[date, float]] = {}
    for code, day, value in values:
        series.setdefault(code, {})[day] = value
    codes = [i.code for i in indicators.INDICATORS if i.code in series]
    bands = session.execute(
        select(
            EwPeerBand.code, EwPeerBand.period_end, EwPeerBand.p25, EwPeerBand.median, EwPeerBand.p75
        ).where(EwPeerBand.type_code == inst.type_code, EwPeerBand.code.in_(codes))
    ).all()
    band: dict[str, dict[date, tuple[float, float, float]]] = {}
    for code, day, p25, med, p75 in bands:
        band.setdefault(code, {})[day] = (p25, med, p75)
    config_rules = rules.load_rules()
    template = inst.type.filing_template
    limits_by_indicator: dict[str, list[rules.LimitRule]] = {}
    for rule in config_rules.rules:
        if template in rule.templates:
            limits_by_indicator.setdefault(rule.indicator, []).append(rule)
    alerts = list(
        session.scalars(
            select(Alert).where(Alert.institution_id == inst.id).order_by(Alert.last_period.desc(), Alert.id)
        )
    )
    return {
        "institution": inst,
        "ratings": ratings,
        "latest_period": latest,
        "current_period": current_period,
        "signals": signals,
        "series": series,
        "codes": codes,
        "bands": band,
        "limits": limits_by_indicator,
        "alerts": alerts,
        "cases": cases_for_alerts(session, [a.id for a in alerts]),
    }


def ratings_for_period(
    session: Session,
    *,
    scope: Scope,
    period_end: date,
    type_code: str | None = None,
    district_code: str | None = None,
    level: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[tuple[EwRating, Institution]], int]:
    stmt = _scoped(
        select(EwRating, Institution).join(Institution, Institution.id == EwRating.institution_id), scope
    ).where(EwRating.period_end == period_end)
    if type_code:
        stmt = stmt.where(Institution.type_code == type_code)
    if district_code:
        stmt = stmt.where(Institution.district_code == district_code)
    if level:
        stmt = stmt.where(EwRating.level == Level(level))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = (
        session.execute(stmt.order_by(EwRating.score, Institution.id).limit(limit).offset(offset))
        .unique()
        .all()
    )
    return [(r[0], r[1]) for r in rows], total


LEVEL_HISTORY = "earlywarning.level_history"


def _level_counts(session: Session, scope: Scope | None) -> list[tuple[date, str, str, int]]:
    """(quarter, district, level, institutions) over every rated quarter, within ``scope`` if given."""
    stmt = select(EwRating.period_end, Institution.district_code, EwRating.level, func.count()).join(
        Institution, Institution.id == EwRating.institution_id
    )
    if scope is not None:
        stmt = _scoped(stmt, scope)
    stmt = stmt.group_by(EwRating.period_end, Institution.district_code, EwRating.level)
    return [(day, d, Level(lv).value, int(n)) for day, d, lv, n in session.execute(stmt).all()]


def store_level_history(session: Session, *, version: str) -> None:
    """Store institutions by level and quarter, city-wide and per district (the run's last step)."""
    by_district: dict[str, dict[str, dict[str, int]]] = {results.CITY: {}}
    for day, district, lv, n in _level_counts(session, None):
        for key in (results.CITY, district):
            cell = by_district.setdefault(key, {}).setdefault(day.isoformat(), {})
            cell[lv] = cell.get(lv, 0) + n
    as_of = max((date.fromisoformat(d) for d in by_district[results.CITY]), default=None)
    results.store(session, kind=LEVEL_HISTORY, version=version, as_of=as_of, by_district=by_district)


def refresh_stored(session: Session) -> bool:
    """Store the pages' summaries again from the last run's results (``stats refresh``); False: no run."""
    run = latest_run(session)
    if run is None:
        return False
    store_level_history(session, version=run.version)
    store_dashboard(session, version=run.version)
    return True


DASHBOARD = "earlywarning.dashboard"


def top_institutions(df: pd.DataFrame, n: int = 15) -> list[dict[str, Any]]:
    """The ``n`` institutions at orange or red, worst first (level as its value)."""
    if df.empty:
        return []
    worst = df[df["rank"] >= 2].sort_values(["rank", "score"], ascending=[False, True]).head(n)
    return [
        {
            "id": int(i),
            "name": r["name"],
            "type_code": r["type_code"],
            "district_code": r["district_code"],
            "level": Level(r["level"]).value,
            "score": None if pd.isna(r["score"]) else float(r["score"]),
            "pd": None if pd.isna(r["pd"]) else float(r["pd"]),
        }
        for i, r in worst.iterrows()
    ]


def _dashboard_with_top(session: Session, *, scope: Scope, period_end: date | None) -> dict[str, Any]:
    data = dashboard(session, scope=scope, period_end=period_end)
    data["top"] = top_institutions(data.pop("frame")) if data.get("period_end") else []
    return data


def store_dashboard(session: Session, *, version: str) -> None:
    """Store the latest quarter's dashboard, city-wide and per district (the run's last step)."""
    period = latest_period(session)
    if period is None:
        return
    from qiantang.auth.models import Role

    districts = session.scalars(select(Institution.district_code).distinct()).all()
    scopes = {results.CITY: Scope.system()}
    scopes.update({d: Scope(role=Role.DISTRICT_OFFICER, district_code=d) for d in districts if d})
    by_district = {}
    for key, scope in scopes.items():
        data = _dashboard_with_top(session, scope=scope, period_end=period)
        by_district[key] = {**data, "period_end": period.isoformat()}
    results.store(session, kind=DASHBOARD, version=version, as_of=period, by_district=by_district)


def dashboard_page(
    session: Session, *, scope: Scope, period_end: date | None = None
) -> tuple[dict[str, Any], results.StoredResult | None]:
    """The dashboard and its worst institutions: the latest quarter's as the last run stored it (and
    that stored row, for its date), another quarter or scope computed now (and None)."""
    latest = latest_period(session)
    if period_end is None or period_end == latest:
        stored = results.read(session, kind=DASHBOARD, scope=scope)
        if stored is not None and latest is not None and stored.as_of == latest:
            return {**stored.payload, "period_end": latest}, stored
    return _dashboard_with_top(session, scope=scope, period_end=period_end), None


def level_history(session: Session, *, scope: Scope, quarters: int = 12) -> list[dict[str, Any]]:
    """Institutions by rating level for the last quarters (for charts and the report).

    Read from what the last ``ew run`` stored for the user's scope; counted for other scopes.
    """
    stored = results.read(session, kind=LEVEL_HISTORY, scope=scope)
    by: dict[date, dict[str, int]] = {}
    if stored is not None:
        by = {date.fromisoformat(d): dict(levels) for d, levels in stored.payload.items()}
    else:
        for day, _district, lv, n in _level_counts(session, scope):
            by.setdefault(day, {})[lv] = by.get(day, {}).get(lv, 0) + n
    days = sorted(by)[-quarters:]
    return [{"period_end": d, "label": label_of(pq_of(d)), **by[d]} for d in days]


__all__ = [
    "VERSION",
    "AlertFilters",
    "Computation",
    "Config",
    "compute",
    "dashboard",
    "institution_profile",
    "latest_period",
    "latest_run",
    "list_alerts",
    "ratings_for_period",
    "run",
]
