"""Credit scoring jobs and reads: batch scoring, stability monitoring, single-record scoring, history.

* ``batch_score`` — every enterprise alive at the as-of date is scored by its segment's champion
  (segment ``all``, or a size class when a champion exists for it): features from the database
  (credit/features.py), score, PD, master-scale grade and reasons, stored with the model version and
  the as-of date through ``qiantang.db.bulk_insert``; re-running replaces that run. The same run
  writes a ``CreditMonitoring`` row (PSI of score and features, peers' ratio quartiles by industry).
  On Spark with ``source`` parquet or jdbc, the features are built and scored on the executors
  (:mod:`qiantang.batch.credit`) and the same rows stored.
* ``monitor`` — the stability check on its own (CLI ``qiantang credit monitor``).
* ``score_record`` — one record through the same features and model (API).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from qiantang import results
from qiantang.auth.scope import Scope
from qiantang.credit import features as feats
from qiantang.credit import policy as pol
from qiantang.credit import registry
from qiantang.credit.models import CreditModel, CreditMonitoring, CreditScore, ModelStatus
from qiantang.credit.reasons import ReasonFragments, describe, lightgbm_codes, scorecard_reasons
from qiantang.credit.scorecard import ScorecardModel
from qiantang.credit.validation import stability
from qiantang.db import bulk_insert, utcnow
from qiantang.enterprises.models import Enterprise
from qiantang.errors import NotFound, RowError, ValidationFailed

SIZE_SEGMENTS = ("micro", "small", "medium", "large")


@dataclass
class BatchStats:
    as_of: date
    rows: int
    seconds: float
    by_model: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    monitoring: list[int] = field(default_factory=list)


def default_as_of(session: Session) -> date:
    """The scoring date: the loans' classification date, else today."""
    found = feats.latest_loan_date(session.connection())
    return found or date.today()


def scored_outputs(model, X: pd.DataFrame, *, top: int, with_reasons: bool = True):
    """score, PD, grade and the reasons JSON (one string per row) of a model over a feature frame."""
    if isinstance(model, ScorecardModel):
        idx = model.bin_indices(X)
        score = np.full(len(X), getattr(model, "_base", 0.0))
        for j, b in enumerate(model.used):
            score += np.asarray(b.points)[idx[:, j]]
        reasons = ReasonFragments(model).json_rows(idx, top=top) if with_reasons else None
    else:
        score = model.score(X)
        reasons = lightgbm_codes(model, X, top=top) if with_reasons else None
    pd_ = model.params.scaling.pd_from_score(score)
    return score, pd_, pol.grade_of(pd_), reasons


def _segment_rows(segment: str, size_class: pd.Series, taken: np.ndarray) -> np.ndarray:
    if segment in SIZE_SEGMENTS:
        return np.nonzero((size_class.to_numpy() == segment) & ~taken)[0]
    return np.nonzero(~taken)[0]


def batch_score(
    session: Session,
    *,
    as_of: date | None = None,
    say=None,
    monitor_after: bool = True,
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
    database_url: str | None = None,
) -> BatchStats:
    """Score every enterprise with its segment's champion and store the results (see module doc).

    ``engine="spark"`` scores on Spark (``master`` as for :func:`qiantang.batch.spark.get_spark`); the
    stored rows are the same as the local path's. ``source`` says where the inputs are read:

    - ``db``: the features are built here from this session (``read_raw``) and only the scoring runs
      on Spark (:mod:`qiantang.batch.scoring`);
    - ``parquet`` (the ``qiantang export parquet`` snapshot in ``snapshot``) or ``jdbc`` (PostgreSQL,
      ``database_url`` by default the session's): Spark reads the tables, builds the raw data and the
      features on the executors and scores them there (:mod:`qiantang.batch.credit`); only the scores,
      PDs, grades and reasons come back to be stored. The default as-of date is then the source's
      loans' date.
    """
    say = say or (lambda _m: None)
    if engine not in ("local", "spark"):
        raise ValueError(f"unknown engine {engine!r}")
    from qiantang.batch.sources import check_options

    why = check_options(engine, source, snapshot)
    if why:
        raise ValueError(why)
    spark = None
    if engine == "spark":
        from qiantang.batch.spark import get_spark

        spark = get_spark(master)
    started = time.perf_counter()
    champions = [c for c in registry.champions(session) if c.spec.get("input") == registry.INPUT_ENTERPRISE]
    if not champions:
        raise NotFound(
            "没有可用于企业评分的冠军模型；请先训练并设定冠军", message_en="No enterprise champion model"
        )
    # Size-class segments first, then "all" for the rest.
    champions.sort(key=lambda c: (c.segment == "all", c.segment))
    timings: dict[str, float] = {}
    top = pol.reasons_top()
    conn = session.connection()
    if source != "db":
        from qiantang.batch import credit as spark_credit
        from qiantang.batch.sources import table_reader

        read = table_reader(
            spark,
            source=source,
            tables=spark_credit.TABLES,
            session=session,
            snapshot=snapshot,
            database_url=database_url,
        )
        as_of = as_of or spark_credit.latest_loan_date(read) or date.today()
        say(f"Spark 读取企业数据（{source}）")
        raw_sdf = spark_credit.raw_frame(read, as_of).persist()
        try:
            segments = dict(
                spark_credit.segment_frames(raw_sdf, [c.segment for c in champions], SIZE_SEGMENTS)
            )
        except BaseException:  # released after the scoring below; nobody would here
            raw_sdf.unpersist()
            raise
    else:
        as_of = as_of or default_as_of(session)
        t = time.perf_counter()
        say("读取企业数据")
        raw = feats.read_raw(conn, as_of=as_of)
        X = feats.compute_features(raw.frame, as_of)
        timings["read_and_features"] = time.perf_counter() - t
        ids = raw.frame["enterprise_id"].to_numpy(dtype=np.int64)
        size = raw.frame["size_class"].astype(object)
        borrowing = feats.in_population(raw.frame)
        taken = np.zeros(len(ids), dtype=bool)
    stats = BatchStats(as_of, 0, 0.0, timings=timings)
    stamp = utcnow()
    sqlite = conn.dialect.name == "sqlite"
    table = CreditScore.__table__
    try:
        for row in champions:
            model = registry.load(row)
            t = time.perf_counter()
            if source != "db":
                say(f"评分：{registry.model_label(row)}（Spark）")
                part = spark_credit.collect(
                    spark_credit.score_segment(
                        segments[row.segment],
                        model,
                        as_of=as_of,
                        top=top,
                        profile=row.spec.get("population") if monitor_after else None,
                    ),
                    monitor=monitor_after,
                )
                if not len(part.ids):
                    continue
                seg_ids, score, pd_, grade, reasons = part.ids, part.score, part.pd, part.grade, part.reasons
                grade_counts = part.grade_counts
            else:
                rows = _segment_rows(row.segment, size, taken)
                if not len(rows):
                    continue
                taken[rows] = True
                Xs = X if len(rows) == len(X) else X.iloc[rows].reset_index(drop=True)
                say(f"评分：{registry.model_label(row)}（{len(rows):,} 户）")
                if spark is not None:
                    from qiantang.batch.scoring import score_frame

                    score, pd_, grade, reasons = score_frame(spark, model, Xs, top=top)
                else:
                    score, pd_, grade, reasons = scored_outputs(model, Xs, top=top)
                seg_ids = ids[rows]
                district = raw.frame["district_code"].to_numpy()[rows]
                counted = pd.DataFrame({"district": district, "grade": grade}).groupby(["district", "grade"])
                grade_counts = [(d, g, n) for (d, g), n in counted.size().items()]
            timings[f"score_{row.id}"] = time.perf_counter() - t
            t = time.perf_counter()
            say("写入评分结果")
            session.execute(
                delete(CreditScore).where(CreditScore.model_id == row.id, CreditScore.as_of == as_of)
            )
            n = len(seg_ids)
            bulk_insert(
                conn,
                table,
                {
                    "enterprise_id": seg_ids,
                    "model_id": np.full(n, row.id, dtype=np.int64),
                    "as_of": [as_of.isoformat()] * n if sqlite else [as_of] * n,
                    "score": np.round(score, 2),
                    "pd": pd_,
                    "grade": grade,
                    "reasons": reasons,
                    "created_at": [stamp.strftime("%Y-%m-%d %H:%M:%S.%f")] * n if sqlite else [stamp] * n,
                },
                chunk_rows=100_000,
            )
            store_grade_counts(session, row=row, as_of=as_of, counts=grade_counts)
            timings[f"store_{row.id}"] = time.perf_counter() - t
            stats.by_model[registry.model_label(row)] = n
            stats.rows += n
            if monitor_after:
                t = time.perf_counter()
                if source != "db":
                    mon = _monitor_row(
                        session,
                        row,
                        None,
                        score,
                        grade,
                        as_of=as_of,
                        population=part.borrower,
                        counts=part.feature_counts,
                        peers=part.peers,
                    )
                else:
                    mon = _monitor_row(
                        session, row, Xs, score, grade, as_of=as_of, population=borrowing[rows]
                    )
                stats.monitoring.append(mon.id)
                timings[f"monitor_{row.id}"] = time.perf_counter() - t
    finally:
        if source != "db":
            raw_sdf.unpersist()
    stats.seconds = time.perf_counter() - started
    return stats


def peer_quartiles(X: pd.DataFrame) -> dict[str, dict[str, list[float | None]]]:
    """Quartiles (25/50/75 %) of the key ratios by industry section, and for all firms ("*")."""
    names = [name for name, _fmt in feats.KEY_RATIOS]
    frame = X[["industry_section", *names]].copy()
    frame["industry_section"] = frame["industry_section"].fillna("?")
    out: dict[str, dict[str, list[float | None]]] = {}

    def q(values: pd.DataFrame) -> dict[str, list[float | None]]:
        res = values[names].quantile([0.25, 0.5, 0.75])
        return {
            n: [None if np.isnan(v) else round(float(v), 6) for v in res[n].to_numpy()]
            + [int(values[n].notna().sum())]
            for n in names
        }

    out["*"] = q(frame)
    for section, part in frame.groupby("industry_section", sort=True):
        out[str(section)] = q(part)
    return out


def _monitor_row(
    session: Session,
    row: CreditModel,
    X: pd.DataFrame | None,
    score: np.ndarray,
    grade: np.ndarray,
    *,
    as_of: date,
    population: np.ndarray | None = None,
    counts: dict[str, np.ndarray] | None = None,
    peers: dict | None = None,
) -> CreditMonitoring:
    """The monitoring row of a scoring run: from the features ``X`` of every scored firm, or (a batch
    run that kept its features on Spark) from the population's feature ``counts`` per development bin
    (:func:`qiantang.credit.validation.feature_counts`) and the ``peers``' quartiles."""
    scored = len(score)
    # Peers are every scored firm of the industry, borrowers or not.
    if X is not None and row.spec.get("input") == registry.INPUT_ENTERPRISE:
        peers = peer_quartiles(X)
    if population is not None:
        X = X[population].reset_index(drop=True) if X is not None else None
        score, grade = score[population], grade[population]
    result = stability(row.spec["population"], X, score, counts=counts)
    grades, counts = np.unique(grade.astype(str), return_counts=True)
    details = {
        "score": {
            "status": result["score_status"],
            "expected": result["score_expected"],
            "actual": result["score_actual"],
            "edges": row.spec["population"]["score_edges"],
        },
        "features": {k: {kk: vv for kk, vv in v.items()} for k, v in result["features"].items()},
        "warn": result["warn"],
        "alert": result["alert"],
        "grades": {str(g): int(c) for g, c in zip(grades, counts, strict=True)},
        "mean_pd": float(np.mean(pol.scaling().pd_from_score(score))) if len(score) else None,
        "scored_rows": scored,
        "population": "borrowers" if population is not None else "all",
    }
    if peers is not None:
        details["peers"] = peers
    mon = CreditMonitoring(
        model_id=row.id,
        as_of=as_of,
        population_rows=len(score),
        psi_score=round(result["psi_score"], 6),
        psi_features={k: round(v["psi"], 6) for k, v in result["features"].items()},
        status=result["status"],
        details=details,
        computed_at=utcnow(),
    )
    session.add(mon)
    session.flush()
    return mon


def monitor(
    session: Session, *, model_id: int, as_of: date | None = None, frame: pd.DataFrame | None = None
) -> CreditMonitoring:
    """PSI of a model's score and features between its development population and today's."""
    row = registry.get(session, model_id)
    model = registry.load(row)
    if row.spec.get("input") == registry.INPUT_ENTERPRISE:
        as_of = as_of or default_as_of(session)
        raw = feats.read_raw(session.connection(), as_of=as_of)
        X = feats.compute_features(raw.frame, as_of)
        population = feats.in_population(raw.frame)
    else:
        if frame is None:
            raise ValidationFailed("该模型基于上传数据训练，监测需提供当前人群的数据文件", [])
        X = table_features(row, frame)
        as_of = as_of or date.today()
        population = None
    score, _pd, grade, _r = scored_outputs(model, X, top=1, with_reasons=False)
    return _monitor_row(session, row, X, score, grade, as_of=as_of, population=population)


def table_features(row: CreditModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of a table-input model from an uploaded frame (types as in training)."""
    from qiantang.credit.tabular import to_categorical, to_numeric

    missing = [f["name"] for f in row.spec["model"]["features"] if f["name"] not in frame.columns]
    if missing:
        raise ValidationFailed(
            f"数据缺少模型所需的列：{'、'.join(missing)}", [RowError(1, m, "缺少该列") for m in missing]
        )
    out = {}
    for f in row.spec["model"]["features"]:
        col = frame[f["name"]]
        out[f["name"]] = to_numeric(col)[0] if f["kind"] == "numeric" else to_categorical(col).to_numpy()
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------ single record
def _record_frame(row: CreditModel, record: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Features of one table-input record: numbers must be numbers (422), unknown categories explained."""
    from qiantang.credit.tabular import _as_text

    errors: list[RowError] = []
    notes: list[str] = []
    values: dict[str, Any] = {}
    model_features = row.spec["model"]["features"]
    categories = row.spec["model"].get("categories") or {}
    groups = {
        b["name"]: {c for g in b.get("groups", []) for c in g} for b in row.spec["model"].get("bins", [])
    }
    for f in model_features:
        name, kind = f["name"], f["kind"]
        raw = record.get(name)
        text = _as_text(raw)
        if text is None:
            values[name] = np.nan if kind == "numeric" else None
            notes.append(f"「{f.get('label') or name}」未提供，按“缺失/未知”分箱计分")
            continue
        if kind == "numeric":
            try:
                number = float(str(text).replace(",", ""))
                if not np.isfinite(number):
                    raise ValueError
            except ValueError:
                errors.append(RowError(None, name, f"「{name}」应为数字，实为“{text}”"))
                continue
            values[name] = number
        else:
            values[name] = text
            known = groups.get(name) or set(categories.get(name, []))
            if known and text not in known:
                notes.append(
                    f"「{f.get('label') or name}」的取值「{text}」在训练数据中未出现，按“缺失/未知”分箱计分"
                )
    if errors:
        raise ValidationFailed("评分数据有误，未评分", errors)
    return pd.DataFrame([values]), notes


def choose_model(session: Session, model_id: int | None, *, input_kind: str) -> CreditModel:
    if model_id is not None:
        row = registry.get(session, model_id)
        if row.spec.get("input") != input_kind:
            expected = (
                "enterprise（企业信息）"
                if row.spec.get("input") == registry.INPUT_ENTERPRISE
                else "record（表格列）"
            )
            raise ValidationFailed(
                f"模型 {registry.model_label(row)} 需要 {expected} 形式的输入",
                [RowError(None, "model_id", "输入形式与模型不符")],
            )
        return row
    row = registry.champion(session, "all", input_kind=input_kind)
    if row is None:
        raise NotFound("没有可用的冠军模型", message_en="No champion model")
    return row


def score_record(
    session: Session,
    *,
    model_id: int | None = None,
    enterprise: dict | None = None,
    record: dict | None = None,
) -> dict[str, Any]:
    """Score one enterprise record (enterprise fields) or one table row (a table-input model)."""
    if enterprise is None and record is None:
        raise ValidationFailed(
            "请提供 enterprise（企业信息）或 record（表格一行）", [RowError(None, "enterprise", "缺少输入")]
        )
    if enterprise is not None:
        row = choose_model(session, model_id, input_kind=registry.INPUT_ENTERPRISE)
        as_of = enterprise.get("as_of") or default_as_of(session)
        raw = feats.raw_from_record(enterprise)
        X = feats.compute_features(raw, as_of)
        notes = feats.record_notes(raw, X)
        if enterprise.get("size_class") is None:
            notes.append("未提供企业规模，按“缺失/未知”分箱计分")
    else:
        row = choose_model(session, model_id, input_kind=registry.INPUT_TABLE)
        X, notes = _record_frame(row, record or {})
        as_of = date.today()
    model = registry.load(row)
    top = pol.reasons_top()
    score = float(model.score(X)[0])
    pd_ = float(model.params.scaling.pd_from_score(np.array([score]))[0])
    grade = str(pol.grade_of(pd_)[0])
    if isinstance(model, ScorecardModel):
        reasons = scorecard_reasons(model, X, top=top)[0]
    else:
        reasons = describe(model.reasons(X, top=top)[0])
    info = pol.grade_info(grade)
    return {
        "model_id": row.id,
        "model": registry.model_label(row),
        "model_kind": row.kind.value,
        "model_status": row.status.value,
        "segment": row.segment,
        "as_of": as_of,
        "score": round(score, 1),
        "pd": pd_,
        "grade": grade,
        "grade_name": info.name_zh if info else grade,
        "reasons": reasons,
        "notes": list(dict.fromkeys(notes)),
    }


# ------------------------------------------------------------------------------------------ reads
def current_runs(session: Session) -> list[tuple[int, date]]:
    """(model id, latest as-of) of each current champion that has stored scores."""
    out = []
    for row in registry.champions(session):
        latest = session.scalar(select(func.max(CreditScore.as_of)).where(CreditScore.model_id == row.id))
        if latest is not None:
            out.append((row.id, latest))
    return out


def latest_of(history: list[tuple[CreditScore, CreditModel]]) -> tuple[CreditScore, CreditModel] | None:
    """The most recent of an enterprise's scores (latest as-of, champion first)."""
    return max(
        history, key=lambda sm: (sm[0].as_of, sm[1].status == ModelStatus.CHAMPION, sm[0].id), default=None
    )


def score_history(session: Session, *, enterprise_id: int) -> list[tuple[CreditScore, CreditModel]]:
    rows = session.execute(
        select(CreditScore, CreditModel)
        .join(CreditModel, CreditModel.id == CreditScore.model_id)
        .where(CreditScore.enterprise_id == enterprise_id)
        .order_by(CreditScore.as_of, CreditScore.id)
    ).all()
    return [(s, m) for s, m in rows]


def latest_monitoring(session: Session, *, model_id: int) -> CreditMonitoring | None:
    return session.scalar(
        select(CreditMonitoring)
        .where(CreditMonitoring.model_id == model_id)
        .order_by(CreditMonitoring.computed_at.desc(), CreditMonitoring.id.desc())
        .limit(1)
    )


def monitoring_history(session: Session, *, model_id: int) -> list[CreditMonitoring]:
    return list(
        session.scalars(
            select(CreditMonitoring)
            .where(CreditMonitoring.model_id == model_id)
            .order_by(CreditMonitoring.id)
        ).all()
    )


def _grade_kind(model_id: int) -> str:
    return f"credit.grades.{model_id}"


def store_grade_counts(session: Session, *, row: CreditModel, as_of: date, counts) -> None:
    """Store a scoring run's enterprises per grade, city-wide and per district, for the credit page.

    ``counts``: (district, grade, enterprises) triples.
    """
    by_district: dict[str, dict[str, int]] = {results.CITY: {}}
    for district, grade, n in counts:
        for key in (results.CITY, str(district)):
            cell = by_district.setdefault(key, {})
            cell[str(grade)] = cell.get(str(grade), 0) + int(n)
    results.store(
        session,
        kind=_grade_kind(row.id),
        version=f"{row.name} v{row.version}",
        as_of=as_of,
        by_district=by_district,
    )


def refresh_grade_counts(session: Session) -> int:
    """Store the grade counts of every current scoring run from the stored scores (``stats refresh``)."""
    runs = current_runs(session)
    for model_id, as_of in runs:
        stmt = (
            select(Enterprise.district_code, CreditScore.grade, func.count())
            .join(Enterprise, Enterprise.id == CreditScore.enterprise_id)
            .where(CreditScore.model_id == model_id, CreditScore.as_of == as_of)
            .group_by(Enterprise.district_code, CreditScore.grade)
        )
        row = session.get(CreditModel, model_id)
        store_grade_counts(session, row=row, as_of=as_of, counts=session.execute(stmt).all())
    return len(runs)


def grade_distribution(
    session: Session, *, model_id: int, as_of: date, scope: Scope | None = None
) -> dict[str, int]:
    """Enterprises per grade in a scoring run — within the user's scope (a district officer's district).

    Read from what the scoring run stored (``results``) when it is this run's; counted otherwise.
    """
    stored = results.read(session, kind=_grade_kind(model_id), scope=scope or Scope.system())
    if stored is not None and stored.as_of == as_of:
        return {g: int(stored.payload.get(g, 0)) for g in pol.grade_names()}
    stmt = select(CreditScore.grade, func.count()).where(
        CreditScore.model_id == model_id, CreditScore.as_of == as_of
    )
    if scope is not None and not scope.is_citywide:
        stmt = stmt.join(Enterprise, Enterprise.id == CreditScore.enterprise_id).where(
            scope.district_clause(Enterprise.district_code)
        )
    rows = session.execute(stmt.group_by(CreditScore.grade)).all()
    counts = {g: int(n) for g, n in rows}
    return {g: counts.get(g, 0) for g in pol.grade_names()}


__all__ = [
    "BatchStats",
    "batch_score",
    "choose_model",
    "current_runs",
    "default_as_of",
    "grade_distribution",
    "latest_monitoring",
    "latest_of",
    "monitor",
    "monitoring_history",
    "peer_quartiles",
    "refresh_grade_counts",
    "score_history",
    "score_record",
    "scored_outputs",
    "store_grade_counts",
    "table_features",
]
