"""Fundraising monitoring services: watched firms, scoring runs, scores by scope, the demo backtest.

``run`` finds the watched firms (watch.toml), computes every indicator as of a date with pandas
(features.py), scores them (index.py) and stores one ``FirmScore`` per firm in a ``ScoreRun``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.enterprises.models import Enterprise
from qiantang.errors import NotFound
from qiantang.fundraising.features import Bundle, features_as_of, scan_texts
from qiantang.fundraising.index import config, score_frame
from qiantang.fundraising.keywords import matcher
from qiantang.fundraising.models import (
    CHANGE_ZH,
    Collapse,
    Complaint,
    DishonestDebtor,
    FirmPerson,
    FirmProfile,
    FirmScore,
    FirmText,
    FundAnomaly,
    RegistrationChange,
    ScoreRun,
    SpreadObservation,
)
from qiantang.fundraising.watch import categorise
from qiantang.registry.models import Institution


def _frame(session: Session, stmt, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    result = session.execute(stmt)
    df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for c in dates:
        df[c] = pd.to_datetime(df[c]) if len(df) else pd.Series(dtype="datetime64[ns]")
    return df


def _value_counts(values: pd.Series) -> pd.Series:
    return values.dropna().value_counts()


def watched_firms(session: Session, *, value_counts=_value_counts) -> pd.DataFrame:
    """The watched firms with their register and profile data; index: enterprise_id.

    ``value_counts`` counts the firms sharing each address and phone (on Spark with
    ``qiantang.batch.fundraising``)."""
    e = Enterprise
    p = FirmProfile
    firms = _frame(
        session,
        select(
            e.id.label("enterprise_id"),
            e.uscc,
            e.name,
            e.district_code,
            e.industry_code,
            e.founded_on,
            e.registered_capital,
            p.business_scope,
            p.paid_in_capital,
            p.address,
            p.phone,
        )
        .outerjoin(p, p.enterprise_id == e.id)
        .where(e.deregistered_on.is_(None))
        .order_by(e.id),
        ("founded_on",),
    )
    firms["category"] = categorise(firms["name"], firms["business_scope"], firms["industry_code"])
    # Shared address / phone counts over all firms with a profile, before keeping the watched ones.
    for col, out in (("address", "firms_at_address"), ("phone", "firms_at_phone")):
        counts = value_counts(firms[col])
        firms[out] = firms[col].map(counts).fillna(0)
    firms = firms[firms["category"] != ""].set_index("enterprise_id")
    licensed = set(session.scalars(select(Institution.uscc).where(Institution.deregistered_on.is_(None))))
    firms["licensed"] = firms["uscc"].isin(licensed)
    return firms


def load_bundle(session: Session, *, scan=scan_texts, value_counts=_value_counts) -> Bundle:
    """The watched firms and their raw tables; ``scan`` reads the texts (keyword hits and promised
    yields) and ``value_counts`` counts shared addresses and phones — Spark's with
    ``--engine spark`` (:mod:`qiantang.batch.fundraising`)."""
    firms = watched_firms(session, value_counts=value_counts)
    ids = list(firms.index)

    def of(model, *cols, dates=()):
        # In the order of the rows' ids: ties (the same rate promised twice, a firm's last complaint,
        # the order of the links' names) fall the same way whatever the database's plan, and the
        # Spark readers of a snapshot or JDBC (qiantang.batch.fundraising) sort on the same ids.
        stmt = select(*[getattr(model, c) for c in cols]).order_by(model.id)
        return _frame(session, stmt, dates)

    texts = of(FirmText, "enterprise_id", "published_on", "text", dates=("published_on",))
    texts = texts[texts["enterprise_id"].isin(ids)]
    hits, ylds = scan(texts)
    spread = of(
        SpreadObservation,
        "enterprise_id",
        "observed_on",
        "investors",
        "amount_raised",
        "realised_return",
        "districts",
        "provinces",
        dates=("observed_on",),
    )
    complaints = of(Complaint, "enterprise_id", "received_on", "amount", "summary", dates=("received_on",))
    changes = of(RegistrationChange, "enterprise_id", "kind", "changed_on", dates=("changed_on",))
    changes["kind"] = changes["kind"].astype(str).str.replace("ChangeKind.", "", regex=False).str.lower()
    changes["kind_zh"] = changes["kind"].map({k.value: v for k, v in CHANGE_ZH.items()}).fillna("")
    people = of(FirmPerson, "enterprise_id", "person_key", "since", "until", dates=("since", "until"))
    dishonest = of(
        DishonestDebtor,
        "enterprise_id",
        "person_key",
        "listed_on",
        "removed_on",
        dates=("listed_on", "removed_on"),
    )
    funds = of(FundAnomaly, "enterprise_id", "reported_on", "kind", dates=("reported_on",))
    collapses = of(Collapse, "enterprise_id", "collapsed_on", "victims", dates=("collapsed_on",))
    names = (
        dict(
            session.execute(
                select(Enterprise.id, Enterprise.name).where(
                    Enterprise.id.in_(set(people["enterprise_id"]) | set(ids))
                )
            ).all()
        )
        if len(people) or ids
        else {}
    )
    return Bundle(
        firms,
        hits,
        ylds,
        spread,
        complaints,
        changes,
        people,
        dishonest,
        funds,
        collapses,
        texts=len(texts),
        extra={"names": names},
    )


def data_date(session: Session) -> date:
    """The latest date in the monitoring data (the demo's "today"); today when there is none."""
    latest = [
        session.scalar(select(func.max(col)))
        for col in (SpreadObservation.observed_on, FirmText.published_on, Complaint.received_on)
    ]
    latest = [d for d in latest if d is not None]
    return max(latest) if latest else date.today()


def latest_run(session: Session) -> ScoreRun | None:
    return session.scalar(select(ScoreRun).order_by(ScoreRun.id.desc()).limit(1))


def run(
    session: Session,
    *,
    as_of: date | None = None,
    tips: dict[int, int] | None = None,
    actor: str | None = None,
    bundle: Bundle | None = None,
    notify_users: bool = True,
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
) -> ScoreRun:
    """Score every watched firm as of ``as_of`` (default: the data's latest date) and store the run.

    ``engine="spark"`` scans the texts, counts shared addresses and phones, finds the links to
    flagged firms and computes and scores each firm's features on Spark
    (:mod:`qiantang.batch.fundraising`, ``master`` as for :func:`qiantang.batch.spark.get_spark`);
    the stored run is the local one's. ``source`` (with Spark): ``db`` reads the tables here and hands
    them to Spark; ``parquet`` (the snapshot directory ``snapshot``) and ``jdbc`` (this PostgreSQL)
    have Spark read them itself (:func:`qiantang.batch.fundraising.read_frames`), and only the scores
    come back to be stored. The previous run's red and orange firms (flagged) are read here."""
    from qiantang.batch.sources import check_options

    if engine not in ("local", "spark"):
        raise ValueError(f"unknown engine {engine!r}")
    why = check_options(engine, source, snapshot)
    if why:
        raise ValueError(why)
    t0 = time.perf_counter()
    cfg = config()
    as_of = as_of or data_date(session)
    spark = None
    frames = None
    if engine == "spark":
        from qiantang.batch import fundraising as spark_fundraising
        from qiantang.batch.spark import get_spark

        spark = get_spark(master)
        if source != "db":
            read = spark_fundraising.reader(spark, source=source, session=session, snapshot=snapshot)
            frames = spark_fundraising.read_frames(read)
        elif bundle is None:
            bundle = spark_fundraising.load_bundle(spark, session)
    if frames is None:
        bundle = bundle if bundle is not None else load_bundle(session)
    previous = latest_run(session)
    flagged: set[int] = set()
    if previous is not None:
        flagged = set(
            session.scalars(
                select(FirmScore.enterprise_id).where(
                    FirmScore.run_id == previous.id, FirmScore.grade.in_(("red", "orange"))
                )
            )
        )
    if frames is not None:
        feats, scored = spark_fundraising.score_frames(
            spark, frames, as_of, tips=tips, flagged=flagged, cfg=cfg
        )
    elif spark is not None:
        feats, scored = spark_fundraising.score(spark, bundle, as_of, tips=tips, flagged=flagged, cfg=cfg)
    else:
        feats = features_as_of(bundle, as_of, tips=tips, flagged=flagged, cfg=cfg)
        scored = score_frame(feats, cfg)
    counts = {g: int((scored["grade"] == g).sum()) for g in ("red", "orange", "yellow", "green")}
    r = ScoreRun(
        as_of=as_of,
        version=cfg.version,
        keywords_version=matcher().version,
        firms=len(scored),
        counts=counts,
        created_by=actor,
    )
    session.add(r)
    session.flush()
    sub_cols = [c for c in scored.columns if c.startswith("sub_")]
    subs = scored[sub_cols].rename(columns=lambda c: c[4:]).round(1).to_dict("records")
    rows = [
        {
            "run_id": r.id,
            "enterprise_id": int(eid),
            "district_code": feats.at[eid, "district_code"],
            "category": feats.at[eid, "category"],
            "score": float(score),
            "grade": grade,
            "version": cfg.version,
            "subscores": sub,
            "reasons": reasons,
            "dishonest": bool(feats.at[eid, "firm_dishonest"]),
        }
        for eid, score, grade, sub, reasons in zip(
            scored.index, scored["score"], scored["grade"], subs, scored["reasons"], strict=True
        )
    ]
    for k in range(0, len(rows), 5000):
        session.execute(insert(FirmScore), rows[k : k + 5000])
    r.seconds = round(time.perf_counter() - t0, 3)
    session.flush()
    if notify_users:
        _notify_new_red(session, r, previous)
    return r


def _notify_new_red(session: Session, r: ScoreRun, previous: ScoreRun | None) -> None:
    """Tell each district office (event ``fundraising_red``) about firms that turned red in this run."""
    from qiantang.notify import service as notify

    was_red: set[int] = set()
    if previous is not None:
        was_red = set(
            session.scalars(
                select(FirmScore.enterprise_id).where(
                    FirmScore.run_id == previous.id, FirmScore.grade == "red"
                )
            )
        )
    new: dict[str, int] = {}
    for eid, district in session.execute(
        select(FirmScore.enterprise_id, FirmScore.district_code).where(
            FirmScore.run_id == r.id, FirmScore.grade == "red"
        )
    ):
        if eid not in was_red:
            new[district] = new.get(district, 0) + 1
    for district, n in sorted(new.items()):
        notify.notify(
            session,
            "fundraising_red",
            user_ids=notify.staff(session, district_code=district),
            title=f"本区县新增 {n} 家红色非法集资风险企业（{r.as_of.isoformat()}）",
            title_en=f"{n} firm(s) in your district turned red in the fundraising index ({r.as_of})",
            link=f"/fundraising?grade=red&district={district}",
            dedupe_key=f"fundraising-run-{r.id}-{district}",
        )


def run_history(
    session: Session,
    dates: list[date],
    *,
    actor: str | None = None,
    tips: Callable[[date], dict[int, int]] | None = None,
) -> list[ScoreRun]:
    """Several runs (oldest first) on one load of the data: the dashboard's trend, the demo's history.
    ``tips(d)``: the tips and complaints per firm known on ``d`` (``monitor.outside_reports``)."""
    bundle = load_bundle(session)
    return [
        run(
            session,
            as_of=d,
            tips=tips(d) if tips is not None else None,
            actor=actor,
            bundle=bundle,
            notify_users=False,
        )
        for d in sorted(dates)
    ]


def clear_runs(session: Session) -> None:
    session.execute(delete(FirmScore))
    session.execute(delete(ScoreRun))


# --- flags other analytics read (matching) ----------------------------------------------------
@dataclass(frozen=True)
class Flags:
    """What another module needs to know about a firm's fundraising risk on a date.

    ``grade``/``score``/``scored_on``: the firm's row in the latest scoring run as of the date (None
    when the firm is not watched or no run exists); ``dishonest_since``: the listing date of an entry
    on the 失信被执行人 list in force on the date (listed on or before it, not removed by then).
    """

    grade: str | None = None
    score: float | None = None
    scored_on: date | None = None
    dishonest_since: date | None = None
    dishonest_case: str = ""

    @property
    def dishonest(self) -> bool:
        return self.dishonest_since is not None


NO_FLAGS = Flags()
_IN_LIMIT = 2000  # above this many firms, read the whole run / list and filter here (no huge IN lists)


def latest_run_as_of(session: Session, as_of: date) -> ScoreRun | None:
    """The latest scoring run whose date is on or before ``as_of``."""
    return session.scalar(
        select(ScoreRun)
        .where(ScoreRun.as_of <= as_of)
        .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
        .limit(1)
    )


def risk_flags(session: Session, enterprise_ids, as_of: date) -> dict[int, Flags]:
    """Grade and 失信 flag of each firm as of ``as_of``: one query for the grades, one for the list.

    Firms with neither are left out of the result (``flags.get(eid, NO_FLAGS)``). Batches of any size
    cost two queries: small ones filter by id, large ones read the run and the list whole.
    """
    ids = {int(i) for i in enterprise_ids}
    if not ids:
        return {}
    few = len(ids) <= _IN_LIMIT
    grades: dict[int, tuple[str, float]] = {}
    run_ = latest_run_as_of(session, as_of)
    if run_ is not None:
        stmt = select(FirmScore.enterprise_id, FirmScore.grade, FirmScore.score).where(
            FirmScore.run_id == run_.id
        )
        if few:
            stmt = stmt.where(FirmScore.enterprise_id.in_(ids))
        grades = {eid: (g, s) for eid, g, s in session.execute(stmt) if eid in ids}
    d = DishonestDebtor
    stmt = (
        select(d.enterprise_id, d.listed_on, d.case_no)
        .where(
            d.enterprise_id.is_not(None),
            d.listed_on <= as_of,
            d.removed_on.is_(None) | (d.removed_on > as_of),
        )
        .order_by(d.listed_on)
    )
    if few:
        stmt = stmt.where(d.enterprise_id.in_(ids))
    listed: dict[int, tuple[date, str]] = {}
    for eid, since, case_no in session.execute(stmt):
        if eid in ids:
            listed.setdefault(eid, (since, case_no or ""))  # the earliest entry in force
    out: dict[int, Flags] = {}
    for eid in grades.keys() | listed.keys():
        g = grades.get(eid)
        entry = listed.get(eid)
        out[eid] = Flags(
            grade=g[0] if g else None,
            score=g[1] if g else None,
            scored_on=run_.as_of if g and run_ is not None else None,
            dishonest_since=entry[0] if entry else None,
            dishonest_case=entry[1] if entry else "",
        )
    return out


# --- reading scores by scope --------------------------------------------------------------------
def _scoped(stmt, scope: Scope):
    if scope.is_citywide:
        return stmt
    return stmt.where(FirmScore.district_code == (scope.district_code or "-"))


def scores(
    session: Session,
    *,
    scope: Scope,
    run: ScoreRun,
    grade: str | None = None,
    district: str | None = None,
    category: str | None = None,
    limit: int | None = 200,
    with_signal: bool | None = None,
):
    """The run's scores within scope, riskiest first; ``with_signal`` True keeps only firms with at least
    one risk signal (index above 0), False only those without, None both (the export)."""
    stmt = (
        select(FirmScore, Enterprise.name)
        .join(Enterprise, Enterprise.id == FirmScore.enterprise_id)
        .where(FirmScore.run_id == run.id)
    )
    stmt = _filtered(_scoped(stmt, scope), grade=grade, district=district, category=category)
    if with_signal is not None:
        stmt = stmt.where(FirmScore.score > 0 if with_signal else FirmScore.score <= 0)
    stmt = stmt.order_by(FirmScore.score.desc(), FirmScore.enterprise_id)
    if limit:
        stmt = stmt.limit(limit)
    return session.execute(stmt).all()


def _filtered(stmt, *, grade: str | None, district: str | None, category: str | None):
    if grade:
        stmt = stmt.where(FirmScore.grade == grade)
    if district:
        stmt = stmt.where(FirmScore.district_code == district)
    if category:
        stmt = stmt.where(FirmScore.category == category)
    return stmt


def without_signal(
    session: Session,
    *,
    scope: Scope,
    run: ScoreRun,
    grade: str | None = None,
    district: str | None = None,
    category: str | None = None,
) -> int:
    """How many watched firms in scope (and the filters) have no risk signal at all (index 0): the lists
    leave them out and say how many they are."""
    stmt = select(func.count()).select_from(FirmScore).where(FirmScore.run_id == run.id, FirmScore.score <= 0)
    stmt = _filtered(_scoped(stmt, scope), grade=grade, district=district, category=category)
    return int(session.scalar(stmt) or 0)


def summary(session: Session, *, scope: Scope, run: ScoreRun) -> dict[str, Any]:
    """Counts by district × grade and category × grade, and the trend of red/orange over runs."""
    base = _scoped(
        select(FirmScore.district_code, FirmScore.category, FirmScore.grade, func.count())
        .where(FirmScore.run_id == run.id)
        .group_by(FirmScore.district_code, FirmScore.category, FirmScore.grade),
        scope,
    )
    rows = session.execute(base).all()
    by_district: dict[str, dict[str, int]] = {}
    by_category: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(("red", "orange", "yellow", "green"), 0)
    for d, c, g, n in rows:
        by_district.setdefault(d, dict.fromkeys(totals, 0))[g] += n
        by_category.setdefault(c, dict.fromkeys(totals, 0))[g] += n
        totals[g] += n
    trend_stmt = _scoped(
        select(ScoreRun.as_of, FirmScore.grade, func.count())
        .join(ScoreRun, ScoreRun.id == FirmScore.run_id)
        .group_by(ScoreRun.id, ScoreRun.as_of, FirmScore.grade)
        .order_by(ScoreRun.id),
        scope,
    )
    trend: dict[date, dict[str, int]] = {}
    for d, g, n in session.execute(trend_stmt).all():
        trend.setdefault(d, dict.fromkeys(totals, 0))[g] += n
    return {
        "by_district": by_district,
        "by_category": by_category,
        "totals": totals,
        "firms": sum(totals.values()),  # the watched firms in the viewer's scope (a district's own)
        "trend": trend,
    }


def firm_score(session: Session, *, scope: Scope, enterprise_id: int) -> FirmScore:
    run_ = latest_run(session)
    row = None
    if run_ is not None:
        row = session.scalar(
            _scoped(
                select(FirmScore).where(
                    FirmScore.run_id == run_.id, FirmScore.enterprise_id == enterprise_id
                ),
                scope,
            )
        )
    if row is None:
        raise NotFound("该企业不在监测范围内，或不在您的辖区")
    return row


@dataclass(frozen=True)
class FirmSupervisor:
    name: str  # in the language asked for
    basis: str  # why this department (Chinese, from data/supervisors.toml)
    on_case: int | None  # the open case it was copied on, if any


def firm_supervisor(
    session: Session, firm: Enterprise, score: FirmScore, *, zh: bool, scope: Scope | None = None
) -> FirmSupervisor | None:
    """The sector's supervisor (行业主管部门) of a watched firm: the one copied on its open fundraising
    case, else the one its class maps to (what routing would copy). The case is named only to a
    ``scope`` that may open it (a city case is not a district officer's until shared)."""
    from qiantang.cases import service as cases
    from qiantang.cases.models import Case
    from qiantang.fundraising import routing
    from qiantang.fundraising.supervisors import supervisors

    table = supervisors()
    case = session.scalars(
        select(Case)
        .where(
            Case.enterprise_id == firm.id,
            Case.source.in_(cases.ENTERPRISE_SOURCES),
            Case.state.in_(cases.OPEN_STATES),
            Case.supervisor_name.is_not(None),
        )
        .order_by(Case.id.desc())
        .limit(1)
    ).first()
    if case is not None:
        entry = next((e for e in table.entries if e.code == case.supervisor_code), None)
        visible = scope is None or cases.can_view(scope, case)
        return FirmSupervisor(
            case.supervisor_label(zh=zh) or "", entry.basis if entry else "", case.id if visible else None
        )
    sup = routing.firm_supervisor(session, firm, score.category)
    if sup is None:
        return None
    return FirmSupervisor(sup.zh if zh else sup.en, sup.basis, None)


def firm_history(session: Session, enterprise_id: int) -> list[tuple[date, float, str]]:
    stmt = (
        select(ScoreRun.as_of, FirmScore.score, FirmScore.grade)
        .join(ScoreRun, ScoreRun.id == FirmScore.run_id)
        .where(FirmScore.enterprise_id == enterprise_id)
        .order_by(ScoreRun.as_of)
    )
    return [tuple(r) for r in session.execute(stmt).all()]


def firm_timeline(session: Session, enterprise_id: int) -> list[dict[str, Any]]:
    """The firm's dated signals, newest first: texts with keywords (their words around the first hit),
    complaints, registration changes, 失信, fund reports, a collapse. Each: ``on``, ``kind`` (text,
    complaint, change, dishonest, funds, collapse), ``text`` and ``text_en`` (the detail in each language)
    and ``quote`` (the detail quotes the data as recorded, in its own language)."""
    out: list[dict[str, Any]] = []

    def add(on, kind, text, text_en=None):
        out.append({"on": on, "kind": kind, "text": text, "text_en": text_en, "quote": text_en is None})

    m = matcher()
    for t in session.scalars(
        select(FirmText)
        .where(FirmText.enterprise_id == enterprise_id)
        .order_by(FirmText.published_on.desc())
        .limit(50)
    ):
        s = m.scan(t.text)
        if s.hits:
            add(t.published_on, "text", f"{t.source}：{s.hits[0].snippet(t.text)}")
    for c in session.scalars(select(Complaint).where(Complaint.enterprise_id == enterprise_id)):
        add(c.received_on, "complaint", c.summary or c.channel)
    for ch in session.scalars(
        select(RegistrationChange).where(RegistrationChange.enterprise_id == enterprise_id)
    ):
        add(ch.changed_on, "change", ch.kind.zh, ch.kind.en)
    for d in session.scalars(select(DishonestDebtor).where(DishonestDebtor.enterprise_id == enterprise_id)):
        if d.case_no:
            add(d.listed_on, "dishonest", d.case_no)
        else:
            add(d.listed_on, "dishonest", "列入名单", "Listed")
    for fa in session.scalars(select(FundAnomaly).where(FundAnomaly.enterprise_id == enterprise_id)):
        add(fa.reported_on, "funds", fa.kind)
    col = session.scalar(select(Collapse).where(Collapse.enterprise_id == enterprise_id))
    if col is not None:
        add(col.collapsed_on, "collapse", f"受损投资人{col.victims}人", f"{col.victims} investors harmed")
    return sorted(out, key=lambda r: r["on"], reverse=True)


def linked_firms(session: Session, enterprise_id: int) -> list[tuple[int, str, str]]:
    """Firms sharing a shareholder or legal representative with this one: (id, name, role)."""
    keys = select(FirmPerson.person_key).where(FirmPerson.enterprise_id == enterprise_id)
    stmt = (
        select(FirmPerson.enterprise_id, Enterprise.name, FirmPerson.role)
        .join(Enterprise, Enterprise.id == FirmPerson.enterprise_id)
        .where(FirmPerson.person_key.in_(keys), FirmPerson.enterprise_id != enterprise_id)
        .distinct()
        .limit(50)
    )
    return [(i, n, r.zh) for i, n, r in session.execute(stmt).all()]


# --- the links graph of a firm's risk page -------------------------------------------------------
@dataclass
class LinkGraph:
    """The firm, its shareholders / legal representatives / executives, and the firms sharing them.

    ``firms``: one dict per firm (``id``, ``name``, ``uscc``, ``district_code``, ``visible`` — within
    the viewer's scope —, ``focus``, ``grade``, ``dishonest``, ``handed_off`` — a case on it handed to
    the police —, ``collapsed``); ``people``: one dict per person (``node`` — a serial, never the key —,
    ``name`` as stored, to be masked by the page); ``edges``: (person node, firm id, role).
    """

    firms: list[dict[str, Any]]
    people: list[dict[str, Any]]
    edges: list[tuple[str, int, str]]
    truncated: bool = False


def link_graph(
    session: Session,
    *,
    enterprise_id: int,
    scope: Scope,
    as_of: date,
    max_people: int = 30,
    max_firms: int = 60,
) -> LinkGraph:
    """One hop out through people: a fixed number of queries, at most ``max_firms`` firms drawn."""
    from qiantang.cases.models import Case

    own = session.execute(
        select(FirmPerson.person_key, FirmPerson.name)
        .where(FirmPerson.enterprise_id == enterprise_id)
        .order_by(FirmPerson.role, FirmPerson.id)
    ).all()
    keys: dict[str, str] = {}
    for key, name in own:
        keys.setdefault(key, name)
    truncated = len(keys) > max_people
    keys = dict(list(keys.items())[:max_people])
    rows = (
        session.execute(
            select(FirmPerson.person_key, FirmPerson.enterprise_id, FirmPerson.role)
            .where(FirmPerson.person_key.in_(list(keys)))
            .order_by(FirmPerson.enterprise_id, FirmPerson.id)
        ).all()
        if keys
        else []
    )
    ids = [enterprise_id, *sorted({eid for _k, eid, _r in rows} - {enterprise_id})]
    if len(ids) > max_firms:
        truncated = True
        ids = ids[:max_firms]
    kept = set(ids)
    firms = {
        e.id: e
        for e in session.execute(
            select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.district_code).where(
                Enterprise.id.in_(ids)
            )
        ).all()
    }
    flags = risk_flags(session, ids, as_of)
    collapsed = set(session.scalars(select(Collapse.enterprise_id).where(Collapse.enterprise_id.in_(ids))))
    handed = set(
        session.scalars(
            select(Case.enterprise_id).where(Case.enterprise_id.in_(ids), Case.handed_off_at.is_not(None))
        )
    )
    node_of = {key: f"p{i + 1}" for i, key in enumerate(keys)}
    people = [{"node": node_of[k], "name": name} for k, name in keys.items()]
    edges = sorted(
        {(node_of[k], eid, getattr(r, "value", r)) for k, eid, r in rows if eid in kept},
        key=lambda e: (e[0], e[1] != enterprise_id, e[1], e[2]),
    )
    out = []
    for eid in ids:
        e = firms.get(eid)
        if e is None:
            continue
        f = flags.get(eid, NO_FLAGS)
        out.append(
            {
                "id": eid,
                "name": e.name,
                "uscc": e.uscc,
                "district_code": e.district_code,
                "visible": scope.is_citywide or e.district_code == scope.district_code,
                "focus": eid == enterprise_id,
                "grade": f.grade,
                "dishonest": f.dishonest,
                "handed_off": eid in handed,
                "collapsed": eid in collapsed,
            }
        )
    return LinkGraph(out, people, edges, truncated)


# --- backtest on labelled collapses --------------------------------------------------------------
@dataclass
class Backtest:
    collapses: int
    flagged_90: float  # share of collapses flagged red/orange ≥ 90 days before
    median_lead_days: float | None
    precision_top100: float
    baseline_flagged_90: float
    baseline_median_lead_days: float | None
    baseline_precision_top100: float
    snapshot: date
    dates: int
    version: str


def backtest(
    session: Session,
    *,
    start: date | None = None,
    end: date | None = None,
    step_days: int = 30,
    horizon_days: int = 365,
    top: int = 100,
    tips: Callable[[date], dict[int, int]] | None = None,
) -> Backtest:
    """Score the watched firms every ``step_days`` and compare with the collapses that followed.

    * flagged ≥ 90 days: a collapse counts when the firm was graded red or orange on a date at least
      90 days before it collapsed; the lead time is from the first such date.
    * precision of the top ``top``: ranked on the snapshot ``horizon_days`` before the data's end, the
      share of the top firms that collapsed within the horizon.
    * the baseline ranks by promised return alone and flags, on each date, as many firms as the
      index graded red or orange.

    On each date the index counts the tips and complaints known then (``tips(d)``; by default
    ``monitor.outside_reports``: the tips inbox and the disputes register over the year before ``d``).
    """
    if tips is None:
        from qiantang.fundraising.monitor import outside_reports

        def tips(d: date) -> dict[int, int]:
            return outside_reports(session, as_of=d)

    cfg = config()
    b = load_bundle(session)
    end = end or data_date(session)
    start = start or (pd.Timestamp(end) - pd.Timedelta(days=3 * 365)).date()
    col = b.collapses.set_index("enterprise_id")["collapsed_on"]
    dates = list(pd.date_range(start, end, freq=f"{step_days}D").date)
    first_flag: dict[int, pd.Timestamp] = {}
    first_base: dict[int, pd.Timestamp] = {}
    for d in dates:
        ts = pd.Timestamp(d)
        f = features_as_of(b, d, tips=tips(d), cfg=cfg)
        alive = ~f.index.isin(col[col <= ts].index)
        f = f[alive]
        s = score_frame(f, cfg, reasons=False)
        flagged = s.index[s["grade"].isin(["red", "orange"])]
        for eid in flagged:
            first_flag.setdefault(int(eid), ts)
        k = len(flagged)
        if k:
            base = f["promised_return"].fillna(-1).sort_values(ascending=False).index[:k]
            for eid in base:
                if f.at[eid, "promised_return"] == f.at[eid, "promised_return"]:  # not NaN
                    first_base.setdefault(int(eid), ts)

    def share_lead(first: dict[int, pd.Timestamp]) -> tuple[float, float | None]:
        in_window = col[(col > pd.Timestamp(start)) & (col <= pd.Timestamp(end))]
        leads = []
        hit = 0
        for eid, when in in_window.items():
            t = first.get(int(eid))
            if t is not None and t < when:
                lead = (when - t).days
                leads.append(lead)
                hit += lead >= 90
        n = len(in_window)
        return (hit / n if n else 0.0), (float(np.median(leads)) if leads else None)

    flagged_90, lead = share_lead(first_flag)
    b_flagged_90, b_lead = share_lead(first_base)
    snap = pd.Timestamp(end) - pd.Timedelta(days=horizon_days)
    f = features_as_of(b, snap.date(), tips=tips(snap.date()), cfg=cfg)
    f = f[~f.index.isin(col[col <= snap].index)]
    s = score_frame(f, cfg, reasons=False)
    later = set(col[(col > snap) & (col <= snap + pd.Timedelta(days=horizon_days))].index.astype(int))
    top_idx = s["score"].sort_values(ascending=False, kind="stable").index[:top]
    base_idx = f["promised_return"].fillna(-1).sort_values(ascending=False, kind="stable").index[:top]
    n_top = max(1, min(top, len(s)))
    return Backtest(
        collapses=int(((col > pd.Timestamp(start)) & (col <= pd.Timestamp(end))).sum()),
        flagged_90=flagged_90,
        median_lead_days=lead,
        precision_top100=sum(int(i) in later for i in top_idx) / n_top,
        baseline_flagged_90=b_flagged_90,
        baseline_median_lead_days=b_lead,
        baseline_precision_top100=sum(int(i) in later for i in base_idx) / n_top,
        snapshot=snap.date(),
        dates=len(dates),
        version=cfg.version,
    )
