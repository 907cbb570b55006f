"""Comprehensive statistics (综合统计): refresh the stored cells, and read them within a scope.

``refresh`` recomputes every quarter from 2015Q1 to the last quarter with data; ``refresh_periods``
recomputes the quarters an upload touched, and fills any quarter without cells before them. Both
load the institutions once and each quarter's current filings once, aggregate with pandas, and
replace the cells of those quarters. Pages and the API only read cells (a few thousand rows at
most), never raw filings.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from cachetools import LRUCache
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.db import bulk_insert
from qiantang.errors import Forbidden, NotFound, QiantangError
from qiantang.filings import service as filings_service
from qiantang.filings.models import Filing
from qiantang.filings.service import ShownPeriod
from qiantang.registry.models import (
    Area,
    Cluster,
    ClusterGroup,
    Institution,
    InstitutionCategory,
    InstitutionLevel,
    InstitutionStatusChange,
    InstitutionType,
)
from qiantang.statistics import measures as M
from qiantang.statistics.models import StatCell, StatRefresh

FIRST_PERIOD = date(2015, 3, 31)
DIMS = ["type_code", "district_code", "cluster_code", "level"]
DISTRESSED_STATUSES = ("suspended", "resolving")


# --------------------------------------------------------------------------------------------
# Quarters


def quarter_end(day: date) -> date:
    """The last day of the quarter containing ``day``."""
    month = ((day.month - 1) // 3 + 1) * 3
    return (pd.Timestamp(day.year, month, 1) + pd.offsets.MonthEnd(0)).date()


def quarter_start(period_end: date) -> date:
    return date(period_end.year, period_end.month - 2, 1)


def previous_quarter_end(period_end: date) -> date:
    return quarter_start(period_end) - pd.Timedelta(days=1)


def quarter_ends(first: date, last: date) -> list[date]:
    """Every quarter end from the quarter of ``first`` to that of ``last``, inclusive."""
    out: list[date] = []
    current = quarter_end(first)
    last = quarter_end(last)
    while current <= last:
        out.append(current)
        current = quarter_end(current + pd.Timedelta(days=1))
    return out


def quarter_label(period_end: date) -> str:
    return f"{period_end.year}Q{(period_end.month - 1) // 3 + 1}"


def last_period_with_data(session: Session, *, today: date | None = None) -> date | None:
    """The last quarter end that has filings or registry events, not after the current quarter."""
    candidates = [
        session.scalar(select(func.max(Filing.period_end))),
        session.scalar(select(func.max(Institution.established_on))),
        session.scalar(select(func.max(Institution.deregistered_on))),
        session.scalar(select(func.max(InstitutionStatusChange.effective_on))),
    ]
    days = [d for d in candidates if d is not None]
    if not days:
        return None
    cap = quarter_end(today or date.today())
    return min(quarter_end(max(days)), cap)


# --------------------------------------------------------------------------------------------
# Refresh


def _institutions(session: Session) -> pd.DataFrame:
    """Every institution with its current dimensions and whether its type files returns."""
    stmt = select(
        Institution.id,
        Institution.type_code,
        Institution.district_code,
        Institution.cluster_code,
        Institution.level,
        Institution.established_on,
        Institution.deregistered_on,
        InstitutionType.filing_template,
    ).join(InstitutionType, InstitutionType.code == Institution.type_code)
    rows = [tuple(r) for r in session.execute(stmt).all()]
    frame = pd.DataFrame(
        rows,
        columns=["id", *DIMS[:3], "level", "established_on", "deregistered_on", "filing_template"],
    )
    frame["cluster_code"] = frame["cluster_code"].fillna("")
    frame["level"] = frame["level"].map(lambda v: getattr(v, "value", v))
    frame["established_on"] = pd.to_datetime(frame["established_on"])
    frame["deregistered_on"] = pd.to_datetime(frame["deregistered_on"])
    frame["files"] = frame["filing_template"].notna()
    return frame.set_index("id")


def _status_history(session: Session) -> pd.DataFrame:
    stmt = select(
        InstitutionStatusChange.institution_id,
        InstitutionStatusChange.effective_on,
        InstitutionStatusChange.status_after,
        InstitutionStatusChange.id,
    )
    rows = [tuple(r) for r in session.execute(stmt).all()]
    frame = pd.DataFrame(rows, columns=["institution_id", "effective_on", "status", "id"])
    frame["effective_on"] = pd.to_datetime(frame["effective_on"])
    frame["status"] = frame["status"].map(lambda v: getattr(v, "value", v))
    return frame.sort_values(["effective_on", "id"], kind="stable")


def _registry_measures(inst: pd.DataFrame, history: pd.DataFrame, period_end: date) -> pd.DataFrame:
    """open, entries, exits, distressed and expected per institution (0/1 columns) for one quarter."""
    qe = pd.Timestamp(period_end)
    prev = pd.Timestamp(previous_quarter_end(period_end))
    est, dereg = inst["established_on"], inst["deregistered_on"]
    is_open = (est <= qe) & ~(dereg <= qe)
    latest = history[history["effective_on"] <= qe].groupby("institution_id")["status"].last()
    distressed_ids = latest.index[latest.isin(DISTRESSED_STATUSES)]
    return pd.DataFrame(
        {
            "open": is_open,
            "entries": (est > prev) & (est <= qe),
            "exits": (dereg > prev) & (dereg <= qe),
            "distressed": is_open & inst.index.isin(distressed_ids),
            "expected": is_open & inst["files"],
        },
        index=inst.index,
    ).astype(np.int64)


def _filing_measures(session: Session, period_end: date) -> pd.DataFrame:
    """filed, filed_late and the summed fields per institution, from the quarter's current filings."""
    stmt = select(
        Filing.institution_id, Filing.template_code, Filing.data, Filing.due_on, Filing.submitted_at
    ).where(Filing.period_end == period_end, Filing.is_current.is_(True))
    rows = session.execute(stmt).all()
    columns = ["filed", "filed_late", *(m.code for m in M.FIELD_SUMS)]
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="id"), dtype=float)
    ids, templates, datas, due, submitted = zip(*rows, strict=True)
    fields = sorted({m.field for m in M.FIELD_SUMS if m.field})
    values = pd.DataFrame.from_records([d or {} for d in datas], columns=fields)
    values = values.apply(pd.to_numeric, errors="coerce").fillna(0.0)
    template = np.asarray(templates, dtype=object)
    out = pd.DataFrame(index=pd.Index(np.asarray(ids, dtype=np.int64), name="id"))
    out["filed"] = 1.0
    late = pd.to_datetime(pd.Series(submitted)).dt.normalize() > pd.to_datetime(pd.Series(due))
    out["filed_late"] = late.to_numpy().astype(float)
    for m in M.FIELD_SUMS:
        col = values[m.field].to_numpy(dtype=float)
        out[m.code] = col if m.template is None else np.where(template == m.template, col, 0.0)
    # One current filing per institution and period is the rule; should two ever be current, both count.
    return out.groupby(level=0).sum()


def compute_cells(
    session: Session, *, period_ends: Iterable[date], inst: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The cells of the given quarters as a long table (period_end, dims…, measure, value), zeros dropped."""
    inst = _institutions(session) if inst is None else inst
    history = _status_history(session)
    dims = inst[DIMS]
    frames: list[pd.DataFrame] = []
    for period_end in sorted(set(period_ends)):
        per_inst = _registry_measures(inst, history, period_end).astype(float)
        filings = _filing_measures(session, period_end)
        # Filings of institutions missing from the registry cannot be placed; they are left out.
        filings = filings[filings.index.isin(inst.index)]
        per_inst = per_inst.join(filings, how="left").fillna(0.0)
        wide = per_inst.join(dims).groupby(DIMS, sort=False).sum()
        long = wide.stack()
        long = long[long != 0.0]
        if long.empty:
            continue
        frame = long.rename("value").reset_index()
        frame.columns = [*DIMS, "measure", "value"]
        frame.insert(0, "period_end", period_end)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["period_end", *DIMS, "measure", "value"])
    return pd.concat(frames, ignore_index=True)


REFRESH_LOCK = 0x51545354  # "QTST": one refresh at a time on PostgreSQL


def _write(session: Session, cells: pd.DataFrame, period_ends: list[date] | None) -> int:
    """Replace the cells of ``period_ends`` (all cells when None) with ``cells``."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Two concurrent refreshes of a quarter would otherwise both delete, then both insert.
        # SQLite needs nothing: it has one writer at a time.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK})
    if period_ends is None:
        session.execute(delete(StatCell))
    elif period_ends:
        session.execute(delete(StatCell).where(StatCell.period_end.in_(period_ends)))
    if cells.empty:
        return 0
    columns = {
        "period_end": [d.isoformat() for d in cells["period_end"]],
        **{d: cells[d].astype(str).to_numpy(dtype=object) for d in DIMS},
        "measure": cells["measure"].to_numpy(dtype=object),
        "value": cells["value"].astype(float).to_numpy(),
    }
    return bulk_insert(session.connection(), StatCell.__table__, columns)


def stored_periods(session: Session) -> set[date]:
    """The quarter ends that have cells."""
    return set(session.scalars(select(StatCell.period_end).distinct()))


def periods_to_refresh(session: Session, period_ends: Iterable[date]) -> list[date]:
    """The given quarters and every quarter without cells between the first stored one and them.

    An early return for 2026Q3 after cells up to 2025Q4 must also fill 2026Q1–Q2 (their registry
    counts), or those quarters would read as empty. Without any cells, the series starts at 2015Q1.
    """
    periods = {quarter_end(p) for p in period_ends}
    if not periods:
        return []
    stored = stored_periods(session)
    first = min(stored) if stored else FIRST_PERIOD
    gaps = (
        {q for q in quarter_ends(first, max(periods)) if q not in stored} if first <= max(periods) else set()
    )
    return sorted(periods | gaps)


def refresh_periods(session: Session, *, period_ends: Iterable[date]) -> int:
    """Recompute the cells of the given quarters (after filings for them were stored) and fill the
    quarters without cells up to them; cells written."""
    started = time.perf_counter()
    periods = periods_to_refresh(session, period_ends)
    if not periods:
        return 0
    cells = compute_cells(session, period_ends=periods)
    n = _write(session, cells, periods)
    session.add(
        StatRefresh(
            periods=",".join(p.isoformat() for p in periods),
            cells=n,
            seconds=time.perf_counter() - started,
        )
    )
    session.flush()
    return n


def refresh(
    session: Session,
    *,
    today: date | None = None,
    engine: str = "local",
    master: str | None = None,
    source: str = "db",
    snapshot: str | None = None,
) -> StatRefresh:
    """Recompute every quarter from 2015Q1 to the last quarter with data, replacing all cells.

    ``engine="spark"`` computes the cells on Spark (:mod:`qiantang.batch.statistics`); the stored
    cells are the same. ``source`` is where the institutions, status history and filings are read:
    ``db`` (here, through ``session``), or with Spark ``parquet`` (the snapshot ``snapshot``) or
    ``jdbc`` (PostgreSQL), read by Spark itself. The quarters to compute are those of this database
    (:func:`last_period_with_data`); the cells are always stored through ``session``."""
    from qiantang.batch.sources import check_options

    why = check_options(engine, source, snapshot) if engine in ("local", "spark") else None
    if why:
        raise ValueError(why)
    started = time.perf_counter()
    last = last_period_with_data(session, today=today)
    periods = quarter_ends(FIRST_PERIOD, last) if last and last >= FIRST_PERIOD else []
    if engine == "spark":
        from qiantang.batch import statistics as spark_statistics
        from qiantang.batch.spark import get_spark

        cells = spark_statistics.compute_cells(
            get_spark(master), session, period_ends=periods, source=source, snapshot=snapshot
        )
    elif engine == "local":
        cells = compute_cells(session, period_ends=periods)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    n = _write(session, cells, None)
    record = StatRefresh(periods="all", cells=n, seconds=time.perf_counter() - started)
    session.add(record)
    session.flush()
    return record


# --------------------------------------------------------------------------------------------
# Reading: labels, filters and the one aggregate query every reader uses


class Dimension(StrEnum):
    TYPE = "type"
    DISTRICT = "district"
    CLUSTER = "cluster"
    LEVEL = "level"
    CATEGORY = "category"

    @property
    def zh(self) -> str:
        return {
            "type": "机构类型",
            "district": "区县",
            "cluster": "金融集聚区",
            "level": "机构层级",
            "category": "机构类别",
        }[self.value]

    @property
    def en(self) -> str:
        return {
            "type": "Institution type",
            "district": "District",
            "cluster": "Cluster",
            "level": "Level",
            "category": "Category",
        }[self.value]

    @property
    def column(self) -> str:
        """The cell column grouped by (categories are rolled up from types)."""
        return {
            "type": "type_code",
            "district": "district_code",
            "cluster": "cluster_code",
            "level": "level",
        }.get(self.value, "type_code")


NO_CLUSTER = "none"  # the filter value and row key of institutions in no cluster ("" in cells)


@dataclass(frozen=True)
class Item:
    """A member of a dimension: its code and its names, in display order."""

    code: str
    name_zh: str
    name_en: str
    order: int = 0
    extra: str = ""  # the type's category, the cluster's group

    def name(self, locale: str = "zh_CN") -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en


@dataclass(frozen=True)
class Labels:
    """The members of every dimension (from the reference tables), for validating and naming."""

    members: dict[str, dict[str, Item]]

    def items(self, dim: Dimension | str) -> list[Item]:
        return sorted(self.members[str(dim)].values(), key=lambda i: (i.order, i.code))

    def get(self, dim: Dimension | str, code: str) -> Item:
        found = self.members[str(dim)].get(code)
        if found is None:
            return Item(code, code, code, 10_000)
        return found

    def category_of(self, type_code: str) -> str:
        return self.get(Dimension.TYPE, type_code).extra

    def types_in(self, category: str) -> list[str]:
        return [i.code for i in self.members["type"].values() if i.extra == category]


def labels(session: Session) -> Labels:
    """Names and order of types, districts (current ones), clusters, levels and categories."""
    types = {
        t.code: Item(t.code, t.name_zh, t.name_en, t.sort_order, getattr(t.category, "value", t.category))
        for t in session.scalars(select(InstitutionType)).all()
    }
    areas = {
        a.code: Item(a.code, a.name_zh, a.name_en, a.sort_order)
        for a in session.scalars(select(Area).where(Area.valid_to.is_(None), Area.kind != "市")).all()
    }
    clusters = {
        c.code: Item(c.code, c.name_zh, c.name_en, c.sort_order, getattr(c.group, "value", c.group))
        for c in session.scalars(select(Cluster)).all()
    }
    clusters[NO_CLUSTER] = Item(NO_CLUSTER, "不在集聚区", "Outside the clusters", 100_000)
    levels = {
        lv.value: Item(lv.value, lv.zh, _LEVEL_EN[lv.value], i) for i, lv in enumerate(InstitutionLevel)
    }
    categories = {
        c.value: Item(c.value, c.zh, _CATEGORY_EN[c.value], i) for i, c in enumerate(InstitutionCategory)
    }
    return Labels(
        {"type": types, "district": areas, "cluster": clusters, "level": levels, "category": categories}
    )


_LEVEL_EN = {
    "hq": "Head office",
    "regional_hq": "Regional HQ",
    "provincial_branch": "Provincial branch",
    "branch": "Branch",
}
_CATEGORY_EN = {
    "licensed": "Licensed institutions",
    "registered": "Registered institutions",
    "local": "Local financial organizations",
}


@dataclass(frozen=True)
class Filters:
    """Restrict cells to one type, district, cluster (``none``: outside every cluster), level or category."""

    type: str | None = None
    district: str | None = None
    cluster: str | None = None
    level: str | None = None
    category: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def validate(self, lab: Labels) -> Filters:
        """Raise a 400 error on a code that names nothing; return self."""
        for dim, value in self.as_dict().items():
            if value not in lab.members[dim]:
                raise QiantangError(
                    f"筛选条件无效：{Dimension(dim).zh} = {value}",
                    message_en=f"Unknown {dim} filter: {value}",
                )
        return self


def check_scope(scope: Scope) -> None:
    """Statistics are for city and district staff; an institution's reporter sees none."""
    if scope.role == Role.INSTITUTION_REPORTER:
        raise Forbidden("机构填报员不能查看综合统计", message_en="Reporters cannot see statistics")


def _where(stmt, *, scope: Scope, filters: Filters, lab: Labels):
    stmt = stmt.where(scope.district_clause(StatCell.district_code))
    if filters.type:
        stmt = stmt.where(StatCell.type_code == filters.type)
    if filters.category:
        stmt = stmt.where(StatCell.type_code.in_(lab.types_in(filters.category)))
    if filters.district:
        stmt = stmt.where(StatCell.district_code == filters.district)
    if filters.cluster:
        stmt = stmt.where(StatCell.cluster_code == ("" if filters.cluster == NO_CLUSTER else filters.cluster))
    if filters.level:
        stmt = stmt.where(StatCell.level == filters.level)
    return stmt


def parts_of(codes: Iterable[str]) -> list[str]:
    """The stored measures needed for ``codes`` (ratios need their numerator and denominator)."""
    out: list[str] = []
    for code in codes:
        for part in M.get(code).parts:
            if part not in out:
                out.append(part)
    return out


def aggregate(
    session: Session,
    *,
    scope: Scope,
    measures: Iterable[str],
    by: Iterable[str] = (),
    period_end: date | None = None,
    filters: Filters = Filters(),
    lab: Labels | None = None,
) -> pd.DataFrame:
    """Σ value of the stored measures by ``by`` (cell columns, ``period_end`` and/or ``measure``).

    Every reader goes through here: the scope's district clause and the filters are always applied.
    Returns a wide frame indexed by ``by`` with one column per stored measure (0 where no cell).
    """
    check_scope(scope)
    lab = lab or labels(session)
    stored = parts_of(measures)
    keys = list(by)
    cols = [getattr(StatCell, k) for k in keys]
    stmt = select(*cols, StatCell.measure, func.sum(StatCell.value)).where(StatCell.measure.in_(stored))
    if period_end is not None:
        stmt = stmt.where(StatCell.period_end == period_end)
    stmt = _where(stmt, scope=scope, filters=filters, lab=lab).group_by(*cols, StatCell.measure)
    # Plain tuples: pandas probes each Row for namedtuple fields, which is slow on thousands of rows.
    rows = [tuple(r) for r in session.execute(stmt).all()]
    frame = pd.DataFrame(rows, columns=[*keys, "measure", "value"])
    frame["value"] = frame["value"].astype(float)
    if keys:
        # The query grouped by keys and measure already: each (keys, measure) appears once.
        wide = frame.set_index([*keys, "measure"])["value"].unstack("measure", fill_value=0.0)
    else:
        wide = frame.set_index("measure")["value"].to_frame().T
    wide = wide.reindex(columns=stored, fill_value=0.0).fillna(0.0)
    wide.columns.name = None
    return wide


def evaluate(frame: pd.DataFrame, codes: Iterable[str]) -> pd.DataFrame:
    """Each measure of ``codes`` from a frame of summed stored measures; ratios as Σ num / Σ den × 100."""
    out = pd.DataFrame(index=frame.index)
    for code in codes:
        m = M.get(code)
        if m.kind == M.Kind.RATIO:
            num, den = frame[m.numerator], frame[m.denominator]
            out[code] = (num / den.where(den != 0)) * 100.0
        else:
            out[code] = frame[code]
    return out


# --------------------------------------------------------------------------------------------
# Periods


def latest_period(session: Session) -> date | None:
    """The last quarter end that has cells (the default period of every page)."""
    return session.scalar(select(func.max(StatCell.period_end)))


def available_periods(session: Session) -> list[date]:
    """Every quarter end from the first to the last with cells, newest first."""
    first = session.scalar(select(func.min(StatCell.period_end)))
    last = latest_period(session)
    if first is None or last is None:
        return []
    return list(reversed(quarter_ends(first, last)))


def shown_period(
    session: Session, period_end: date | None = None, *, today: date | None = None
) -> ShownPeriod:
    """The quarter a statistics page shows and why: the chosen one (any day maps to its quarter's
    end), else the latest complete quarter of the filings (past its due date with returns in, or
    most institutions filed) when it has cells, else the latest quarter with cells."""
    if period_end is not None:
        return ShownPeriod(quarter_end(period_end), "chosen")
    shown = filings_service.shown_period(session, today=today)
    if session.scalar(select(StatCell.period_end).where(StatCell.period_end == shown.period_end).limit(1)):
        return shown
    latest = latest_period(session)
    return ShownPeriod(latest, "latest_cells") if latest else shown


def default_period(session: Session, *, today: date | None = None) -> date | None:
    """The quarter pages open on (see ``shown_period``); None before the first refresh."""
    return shown_period(session, today=today).period_end if latest_period(session) else None


def resolve_period(session: Session, period_end: date | None) -> date | None:
    """The requested quarter end (any day maps to its quarter's end), or the default quarter."""
    if period_end is None:
        return default_period(session)
    return quarter_end(period_end)


# --------------------------------------------------------------------------------------------
# Pivot


@dataclass
class Row:
    code: str
    name_zh: str
    name_en: str
    values: dict[str, float | None]

    def name(self, locale: str = "zh_CN") -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en


@dataclass
class Pivot:
    period_end: date | None
    rows_dim: Dimension
    measures: list[M.Measure]
    filters: Filters
    rows: list[Row]
    total: Row


def _parse_measures(codes: Iterable[str] | None, default: Iterable[str]) -> list[M.Measure]:
    chosen = [c.strip() for c in (codes or []) if c and c.strip()] or list(default)
    unknown = [c for c in chosen if c not in M.BY_CODE]
    if unknown:
        raise QiantangError(
            f"未知的统计指标：{', '.join(unknown)}", message_en=f"Unknown measures: {unknown}"
        )
    return [M.get(c) for c in dict.fromkeys(chosen)]


def _rows_frame(frame: pd.DataFrame, dim: Dimension, lab: Labels) -> pd.DataFrame:
    """Re-key a frame grouped by the dimension's cell column to the dimension's codes."""
    if frame.empty:
        return frame
    if dim == Dimension.CATEGORY:
        return frame.groupby(frame.index.map(lab.category_of)).sum()
    if dim == Dimension.CLUSTER:
        return frame.rename(index={"": NO_CLUSTER})
    return frame


def _row(code: str, item: Item, values: pd.Series, measures: list[M.Measure]) -> Row:
    return Row(code, item.name_zh, item.name_en, {m.code: _num(values[m.code]) for m in measures})


def _count(value) -> int:
    return round(float(value))


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def pivot(
    session: Session,
    *,
    scope: Scope,
    period_end: date | None = None,
    rows: Dimension | str = Dimension.TYPE,
    measures: Iterable[str] | None = None,
    filters: Filters = Filters(),
    lab: Labels | None = None,
) -> Pivot:
    """One quarter's measures by a dimension, with a totals row (ratios are ratios of the totals)."""
    check_scope(scope)
    dim = Dimension(rows)
    lab = lab or labels(session)
    filters.validate(lab)
    chosen = _parse_measures(measures, M.DEFAULT_PIVOT)
    codes = [m.code for m in chosen]
    period_end = resolve_period(session, period_end)
    frame = aggregate(
        session, scope=scope, measures=codes, by=[dim.column], period_end=period_end, filters=filters, lab=lab
    )
    frame = _rows_frame(frame, dim, lab)
    frame = frame[(frame != 0).any(axis=1)]
    values = evaluate(frame, codes)
    order = sorted(values.index, key=lambda c: (lab.get(dim, c).order, c))
    out_rows = [_row(c, lab.get(dim, c), values.loc[c], chosen) for c in order]
    total_parts = (
        frame.sum().to_frame().T if not frame.empty else pd.DataFrame(0.0, index=[0], columns=frame.columns)
    )
    total = evaluate(total_parts, codes).iloc[0]
    total_row = Row("total", "合计", "Total", {m.code: _num(total[m.code]) for m in chosen})
    return Pivot(period_end, dim, chosen, filters, out_rows, total_row)


# --------------------------------------------------------------------------------------------
# Trend over quarters


@dataclass
class Series:
    code: str
    name_zh: str
    name_en: str
    values: list[float | None]

    def name(self, locale: str = "zh_CN") -> str:
        return self.name_zh if locale == "zh_CN" else self.name_en


@dataclass
class Trend:
    measure: M.Measure
    split: Dimension | None
    filters: Filters
    periods: list[date]
    series: list[Series]


OTHERS = "others"


def trend(
    session: Session,
    *,
    scope: Scope,
    measure: str,
    split: Dimension | str | None = None,
    filters: Filters = Filters(),
    top: int = 8,
    lab: Labels | None = None,
) -> Trend:
    """A measure per quarter, in total or split by a dimension (the ``top`` largest, the rest as others)."""
    check_scope(scope)
    if not (measure or "").strip():
        raise QiantangError("请指定统计指标", message_en="Choose a measure")
    m = _parse_measures([measure], [])[0]
    dim = Dimension(split) if split else None
    lab = lab or labels(session)
    filters.validate(lab)
    periods = list(reversed(available_periods(session)))
    by = ["period_end"] + ([dim.column] if dim else [])
    frame = aggregate(session, scope=scope, measures=[m.code], by=by, filters=filters, lab=lab)
    series: list[Series] = []
    if dim is None:
        values = evaluate(frame, [m.code])[m.code] if not frame.empty else pd.Series(dtype=float)
        series.append(Series("total", "合计", "Total", [_num(values.get(p)) for p in periods]))
    elif not frame.empty:
        frame = frame.reset_index()
        key = frame[dim.column]
        if dim == Dimension.CATEGORY:
            key = key.map(lab.category_of)
        elif dim == Dimension.CLUSTER:
            key = key.replace("", NO_CLUSTER)
        frame["key"] = key
        size = frame.groupby("key")[m.parts[-1]].sum().sort_values(ascending=False)
        size = size[size != 0]
        keep = list(size.index[:top]) if len(size) > top + 1 else list(size.index)
        frame["key"] = frame["key"].where(frame["key"].isin(keep), OTHERS)
        grouped = frame.groupby(["key", "period_end"], sort=False)[list(m.parts)].sum()
        table = evaluate(grouped, [m.code])[m.code].unstack("key").reindex(periods)
        keys = sorted(keep, key=lambda c: (lab.get(dim, c).order, c))
        if OTHERS in table.columns:
            keys.append(OTHERS)
        for k in keys:
            item = Item(OTHERS, "其他", "Others") if k == OTHERS else lab.get(dim, k)
            column = table[k] if k in table.columns else pd.Series(index=periods, dtype=float)
            series.append(Series(k, item.name_zh, item.name_en, [_num(v) for v in column.tolist()]))
    return Trend(m, dim, filters, periods, series)


# --------------------------------------------------------------------------------------------
# Entries and exits per year


@dataclass
class YearFlow:
    year: int
    entries: int
    exits: int
    open_at_end: int  # open at the last quarter end of the year with data
    partial: bool  # the year's last quarter has no data yet


def flows_by_year(
    session: Session,
    *,
    scope: Scope,
    filters: Filters = Filters(),
    lab: Labels | None = None,
) -> list[YearFlow]:
    """Institutions set up and exited per calendar year, and those open at the year's end."""
    lab = lab or labels(session)
    filters.validate(lab)
    frame = aggregate(
        session,
        scope=scope,
        measures=["entries", "exits", "open"],
        by=["period_end"],
        filters=filters,
        lab=lab,
    )
    if frame.empty:
        return []
    frame.index = pd.to_datetime(frame.index)
    out: list[YearFlow] = []
    for year, part in frame.groupby(frame.index.year):
        last = part.index.max()
        out.append(
            YearFlow(
                int(year),
                _count(part["entries"].sum()),
                _count(part["exits"].sum()),
                _count(part.loc[last, "open"]),
                partial=last.month != 12,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Districts (the "map" as a table and a bar chart)

DISTRICT_MEASURES = (
    "open",
    "entries",
    "exits",
    "distressed",
    "expected",
    "filed",
    "filing_rate",
    "total_assets",
    "private_fund_manager.aum",
)


def by_district(
    session: Session,
    *,
    scope: Scope,
    period_end: date | None = None,
    measures: Iterable[str] = DISTRICT_MEASURES,
    filters: Filters = Filters(),
    lab: Labels | None = None,
) -> Pivot:
    """One quarter by current district: every district the scope can see, zeros included."""
    lab = lab or labels(session)
    result = pivot(
        session,
        scope=scope,
        period_end=period_end,
        rows=Dimension.DISTRICT,
        measures=measures,
        filters=filters,
        lab=lab,
    )
    present = {r.code for r in result.rows}
    visible = [
        i
        for i in lab.items(Dimension.DISTRICT)
        if (scope.is_citywide or i.code == scope.district_code)
        and (not filters.district or i.code == filters.district)
    ]
    empty = {m.code: (None if m.kind == M.Kind.RATIO else 0.0) for m in result.measures}
    rows = {r.code: r for r in result.rows}
    result.rows = [
        rows[i.code] if i.code in present else Row(i.code, i.name_zh, i.name_en, dict(empty)) for i in visible
    ]
    result.rows += [r for r in rows.values() if r.code not in {i.code for i in visible}]
    return result


# --------------------------------------------------------------------------------------------
# Clusters of "一湾五镇多点"

HQ_LEVELS = ("hq", "regional_hq", "provincial_branch")  # as the plan's core_hq_count counts them
CLUSTER_MEASURES = (
    "open",
    "entries",
    "exits",
    "private_fund_manager.aum",
    "private_fund_manager.fund_count",
    "total_assets",
)
GROUP_ORDER = [g.value for g in ClusterGroup]


@cache
def cluster_targets() -> tuple[dict[str, str], ...]:
    """Which plan targets concern which cluster group (statistics/data/cluster_targets.csv)."""
    path = resources.files("qiantang.statistics") / "data" / "cluster_targets.csv"
    with path.open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


@dataclass
class ClusterFigures:
    cluster: Item
    group: str
    open: int
    hq_licensed: int  # licensed institutions at HQ, regional-HQ or provincial-branch level
    fund_managers: int
    aum: float  # 万元
    fund_count: int
    total_assets: float  # 万元, of the institutions that file returns


@dataclass
class ClusterGroupFigures:
    group: ClusterGroup
    clusters: list[ClusterFigures]


def _cluster_figures(frame: pd.DataFrame, lab: Labels) -> dict[str, ClusterFigures]:
    """Key figures per cluster from a frame indexed by (cluster_code, type_code, level)."""
    out: dict[str, ClusterFigures] = {}
    if frame.empty:
        return out
    f = frame.reset_index()
    f["licensed_hq"] = f["type_code"].map(lab.category_of).eq("licensed") & f["level"].isin(HQ_LEVELS)
    f["pfm"] = f["type_code"].eq("private_fund_manager")
    for code, part in f.groupby("cluster_code"):
        if not code:
            continue
        item = lab.get(Dimension.CLUSTER, str(code))
        out[str(code)] = ClusterFigures(
            cluster=item,
            group=item.extra,
            open=_count(part["open"].sum()),
            hq_licensed=_count(part.loc[part["licensed_hq"], "open"].sum()),
            fund_managers=_count(part.loc[part["pfm"], "open"].sum()),
            aum=float(part["private_fund_manager.aum"].sum()),
            fund_count=_count(part["private_fund_manager.fund_count"].sum()),
            total_assets=float(part["total_assets"].sum()),
        )
    return out


def clusters_overview(
    session: Session, *, scope: Scope, period_end: date | None = None, lab: Labels | None = None
) -> tuple[date | None, list[ClusterGroupFigures]]:
    """The clusters of "一湾五镇多点" grouped 一核/两带/五镇/两路/五区/县域金融, with key figures."""
    lab = lab or labels(session)
    period_end = resolve_period(session, period_end)
    frame = aggregate(
        session,
        scope=scope,
        measures=CLUSTER_MEASURES,
        by=["cluster_code", "type_code", "level"],
        period_end=period_end,
        lab=lab,
    )
    figures = _cluster_figures(frame, lab)
    groups: list[ClusterGroupFigures] = []
    for group in ClusterGroup:
        members = [i for i in lab.items(Dimension.CLUSTER) if i.extra == group.value]
        rows = [figures.get(i.code) or ClusterFigures(i, group.value, 0, 0, 0, 0.0, 0, 0.0) for i in members]
        groups.append(ClusterGroupFigures(group, rows))
    return period_end, groups


@dataclass
class ClusterTarget:
    progress: object  # plan.service.TargetProgress
    plan_id: int
    note_zh: str
    note_en: str


@dataclass
class ClusterProfile:
    cluster: Cluster
    period_end: date | None
    figures: ClusterFigures
    by_type_level: list[Row]  # open institutions: rows = types, values = levels and total
    levels: list[Item]
    aum_trend: Trend | None  # finance towns
    hq_trend: list[tuple[date, int]] = field(default_factory=list)  # core: licensed HQ-level, year ends
    core_hq_trend: list[tuple[date, int]] = field(default_factory=list)  # the same for the whole core
    targets: list[ClusterTarget] = field(default_factory=list)


def cluster_profile(
    session: Session, *, scope: Scope, code: str, period_end: date | None = None, lab: Labels | None = None
) -> ClusterProfile:
    """One cluster: positioning, institutions by type and level, AUM or HQ trend, the plan's targets."""
    check_scope(scope)
    cluster = session.get(Cluster, code)
    if cluster is None:
        raise NotFound(f"未找到金融集聚区（{code}）", message_en=f"Cluster {code} not found")
    lab = lab or labels(session)
    period_end = resolve_period(session, period_end)
    filters = Filters(cluster=code)
    frame = aggregate(
        session,
        scope=scope,
        measures=CLUSTER_MEASURES,
        by=["cluster_code", "type_code", "level"],
        period_end=period_end,
        filters=filters,
        lab=lab,
    )
    group = getattr(cluster.group, "value", cluster.group)
    item = lab.get(Dimension.CLUSTER, code)
    figures = _cluster_figures(frame, lab).get(code) or ClusterFigures(item, group, 0, 0, 0, 0.0, 0, 0.0)
    levels = lab.items(Dimension.LEVEL)
    table: list[Row] = []
    if not frame.empty:
        grid = frame["open"].groupby(["type_code", "level"]).sum().unstack("level", fill_value=0.0)
        grid = grid[grid.sum(axis=1) > 0]
        for type_code in sorted(grid.index, key=lambda c: (lab.get(Dimension.TYPE, c).order, c)):
            t = lab.get(Dimension.TYPE, type_code)
            values: dict[str, float | None] = {
                lv.code: float(grid.loc[type_code].get(lv.code, 0.0)) for lv in levels
            }
            values["total"] = float(grid.loc[type_code].sum())
            table.append(Row(type_code, t.name_zh, t.name_en, values))
    profile = ClusterProfile(cluster, period_end, figures, table, levels, None)
    if group == ClusterGroup.TOWN.value:
        profile.aum_trend = trend(
            session, scope=scope, measure="private_fund_manager.aum", filters=filters, lab=lab
        )
    if group == ClusterGroup.CORE.value:
        core = [i.code for i in lab.items(Dimension.CLUSTER) if i.extra == ClusterGroup.CORE.value]
        profile.hq_trend = hq_count_by_year(session, scope=scope, clusters=[code], lab=lab)
        profile.core_hq_trend = hq_count_by_year(session, scope=scope, clusters=core, lab=lab)
    profile.targets = targets_for(session, group=group)
    return profile


def hq_count_by_year(
    session: Session, *, scope: Scope, clusters: Iterable[str], lab: Labels | None = None
) -> list[tuple[date, int]]:
    """Open licensed institutions at HQ, regional-HQ or provincial-branch level in the given clusters,
    at each year end (as the plan's ``core_hq_count`` counts them)."""
    lab = lab or labels(session)
    licensed = lab.types_in(InstitutionCategory.LICENSED.value)
    stmt = (
        select(StatCell.period_end, func.sum(StatCell.value))
        .where(
            StatCell.measure == "open",
            StatCell.cluster_code.in_(list(clusters)),
            StatCell.level.in_(HQ_LEVELS),
            StatCell.type_code.in_(licensed),
            scope.district_clause(StatCell.district_code),
        )
        .group_by(StatCell.period_end)
        .order_by(StatCell.period_end)
    )
    return [(p, _count(v)) for p, v in session.execute(stmt).all() if p.month == 12]


def targets_for(session: Session, *, group: str) -> list[ClusterTarget]:
    """The default plan's targets that concern a cluster group, with their progress (plan.service)."""
    from qiantang.plan import service as plan_service
    from qiantang.plan.models import Plan

    rows = [r for r in cluster_targets() if r["group"] == group]
    if not rows:
        return []
    plan = session.scalar(select(Plan).where(Plan.code == plan_service.DEFAULT_PLAN_CODE))
    if plan is None:
        return []
    out: list[ClusterTarget] = []
    for r in rows:
        target = next((t for t in plan.targets if t.indicator_code == r["indicator_code"]), None)
        if target is not None:
            out.append(
                ClusterTarget(
                    plan_service.target_progress(session, target), plan.id, r["note_zh"], r["note_en"]
                )
            )
    return out


# The statistics page's figures for one set of cells: they change only when a refresh writes cells (each
# refresh adds a StatRefresh row), so they are kept per refresh, scope and query, and computed once.
_page_cache: LRUCache = LRUCache(maxsize=256)
_page_lock = threading.Lock()


def cells_version(session: Session) -> int:
    """The id of the last refresh that wrote cells (0: none): the version of every figure derived."""
    return int(session.scalar(select(func.max(StatRefresh.id))) or 0)


def page_figures(session: Session, *, key: tuple, compute):
    """``compute()`` for this cells version and ``key`` (scope, query, language), computed once."""
    full = (str(session.get_bind().engine.url), cells_version(session), *key)
    with _page_lock:
        hit = _page_cache.get(full)
    if hit is None:
        hit = compute()
        with _page_lock:
            _page_cache[full] = hit
    return hit


def clear_page_cache() -> None:
    """Forget every kept page figure (tests: a rolled-back refresh gives its id out again on SQLite)."""
    with _page_lock:
        _page_cache.clear()


def clusters_overview_cached(
    session: Session, *, scope: Scope, period_end: date | None, lab: Labels | None = None
) -> tuple[date | None, list[ClusterGroupFigures]]:
    """``clusters_overview`` of a resolved quarter, computed once per cells version (the last refresh),
    scope and quarter: the figures are sums of stored cells, which only a refresh changes."""
    key = ("clusters", scope.role, scope.district_code, scope.institution_id, str(period_end))
    return page_figures(
        session,
        key=key,
        compute=lambda: clusters_overview(session, scope=scope, period_end=period_end, lab=lab),
    )
