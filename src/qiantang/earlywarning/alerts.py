"""Alerts: one per institution and signal family while it lasts.

From each quarter's signals the history is cut into *episodes*: maximal runs of quarters in which the
institution had at least one signal of the family. A quarter in which the family could not be judged
(no return filed, for the limit/peer/trend/rating families) neither extends nor ends an episode. An
episode ends ("cleared") at the first later quarter that was judged and had no signal of the family,
or when the institution stopped being expected to file (it exited). An episode still running in the
latest quarter is an open alert; its level is the worst of the episode, its evidence the signals of
its latest quarter, its periods every quarter it was raised in.

Alert ids stay stable across recomputations (cases reference them): a computed episode is matched to
an existing alert with the same institution, family and first quarter, or — for an open episode — to
the existing open alert of that institution and family; only unmatched episodes get new rows. Alerts
that no computed episode matches any longer are deleted, unless a case references them, in which
case they are kept and marked cleared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from qiantang.db import bulk_insert, utcnow
from qiantang.earlywarning.models import Alert, AlertStatus, Level, SignalFamily
from qiantang.earlywarning.panel import Panel, label_of, period_of
from qiantang.earlywarning.rules import LEVEL_RANK, RANK_LEVEL

JUDGED_ON_FILED = (SignalFamily.LIMIT, SignalFamily.PEER, SignalFamily.TREND, SignalFamily.RATING)
MAX_EVIDENCE = 12  # signals kept in an alert's evidence (the worst first)


@dataclass
class Episode:
    institution_id: int
    family: str
    first_pq: int
    last_pq: int
    periods: list[int]
    level: str
    open: bool
    cleared_pq: int | None
    evidence: list[dict]
    summary_zh: str


def episodes(panel: Panel, signals: pd.DataFrame, latest_pq: int) -> list[Episode]:
    """Cut every institution's history of each family into episodes (see the module docstring)."""
    rows = panel.rows
    if rows.empty:
        return []
    inst = rows["institution_id"].to_numpy(np.int64)
    pq = rows["pq"].to_numpy(np.int64)
    filed = rows["filed"].to_numpy(bool)
    last_row_pq = rows.groupby("institution_id")["pq"].max()
    flags = pd.DataFrame(columns=["institution_id", "family", "pq", "rank"])
    if not signals.empty:
        s = signals[["institution_id", "family", "pq", "level"]].copy()
        s["rank"] = s["level"].map(LEVEL_RANK)
        flags = s.groupby(["institution_id", "family", "pq"], as_index=False)["rank"].max()
    frames = []
    for fam in SignalFamily:
        judged = filed if fam in JUDGED_ON_FILED else np.ones(len(rows), dtype=bool)
        frames.append(pd.DataFrame({"institution_id": inst[judged], "family": fam.value, "pq": pq[judged]}))
    judged_rows = pd.concat(frames, ignore_index=True)
    e = judged_rows.merge(flags, how="outer", on=["institution_id", "family", "pq"])
    e["rank"] = e["rank"].fillna(-1).astype(int)
    e = e.sort_values(["institution_id", "family", "pq"]).reset_index(drop=True)
    if e.empty:
        return []
    inst_e = e["institution_id"].to_numpy(np.int64)
    fam_e = e["family"].to_numpy(object)
    pq_e = e["pq"].to_numpy(np.int64)
    rank_e = e["rank"].to_numpy(np.int64)
    flagged = rank_e >= 0
    same = np.zeros(len(e), dtype=bool)  # same institution and family as the row before
    same[1:] = (inst_e[1:] == inst_e[:-1]) & (fam_e[1:] == fam_e[:-1])
    prev_flag = np.zeros(len(e), dtype=bool)
    prev_flag[1:] = flagged[:-1]
    starts = np.nonzero(flagged & ~(same & prev_flag))[0]
    next_flag = np.zeros(len(e), dtype=bool)
    next_flag[:-1] = flagged[1:]
    next_same = np.zeros(len(e), dtype=bool)
    next_same[:-1] = same[1:]
    ends = np.nonzero(flagged & ~(next_same & next_flag))[0]
    evidence = _evidence_by_key(signals)
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        inst_id, fam, last = int(inst_e[a]), str(fam_e[a]), int(pq_e[b])
        if b + 1 < len(e) and next_same[b]:
            is_open, cleared = False, int(pq_e[b + 1])
        else:
            inst_last = int(last_row_pq.get(inst_id, last))
            if inst_last >= latest_pq:
                is_open, cleared = True, None
            else:
                is_open, cleared = False, inst_last + 1
        ev, summary = evidence.get((inst_id, fam, last), ([], ""))
        peak = a + int(np.argmax(rank_e[a : b + 1]))
        if summary and rank_e[peak] > rank_e[b]:
            # The level shown is the episode's worst; say where it came from when the latest quarter,
            # whose signals the summary describes, is milder.
            worst = Level(RANK_LEVEL[int(rank_e[peak])])
            summary += f"（本次预警期间最高为{worst.zh}，见于{label_of(int(pq_e[peak]))}）"
        out.append(
            Episode(
                institution_id=inst_id,
                family=fam,
                first_pq=int(pq_e[a]),
                last_pq=last,
                periods=pq_e[a : b + 1].tolist(),
                level=RANK_LEVEL[int(rank_e[a : b + 1].max())],
                open=is_open,
                cleared_pq=cleared,
                evidence=ev,
                summary_zh=summary,
            )
        )
    return out


def _evidence_by_key(signals: pd.DataFrame) -> dict[tuple[int, str, int], tuple[list[dict], str]]:
    if signals.empty:
        return {}
    s = signals.assign(_rank=signals["level"].map(LEVEL_RANK)).sort_values(
        ["institution_id", "family", "pq", "_rank"], ascending=[True, True, True, False]
    )
    out = {}
    inst = s["institution_id"].to_numpy(np.int64)
    fam = s["family"].to_numpy(object)
    pq = s["pq"].to_numpy(np.int64)
    cols = {c: s[c].to_numpy(object) for c in ("code", "level", "message_zh", "message_en", "evidence")}
    values = s["value"].to_numpy(np.float64)
    thresholds = pd.to_numeric(s["threshold"], errors="coerce").to_numpy(np.float64)
    keys = list(zip(inst.tolist(), fam.tolist(), pq.tolist(), strict=True))
    i = 0
    n = len(keys)
    while i < n:
        j = i
        while j < n and keys[j] == keys[i]:
            j += 1
        items = [
            {
                "period": label_of(pq[k]),
                "code": cols["code"][k],
                "level": cols["level"][k],
                "value": None if np.isnan(values[k]) else round(float(values[k]), 4),
                "threshold": None if np.isnan(thresholds[k]) else round(float(thresholds[k]), 4),
                "message_zh": cols["message_zh"][k],
                "message_en": cols["message_en"][k],
                "evidence": cols["evidence"][k],
            }
            for k in range(i, min(j, i + MAX_EVIDENCE))
        ]
        family = SignalFamily(fam[i])
        more = f"等{j - i}项" if j - i > 1 else ""
        first = cols["message_zh"][i]
        head = first if first.startswith(family.zh) else f"{family.zh}：{first}"  # not "风险评级：风险评级…"
        out[keys[i]] = (items, f"{head}{more}")
        i = j
    return out


# ------------------------------------------------------------------------------------ storage
def _row_values(ep: Episode, version: str) -> dict[str, Any]:
    return {
        "institution_id": ep.institution_id,
        "family": ep.family,
        "level": ep.level,
        "status": AlertStatus.OPEN.value if ep.open else AlertStatus.CLEARED.value,
        "first_period": period_of(ep.first_pq),
        "last_period": period_of(ep.last_pq),
        "cleared_period": period_of(ep.cleared_pq) if ep.cleared_pq is not None else None,
        "summary_zh": ep.summary_zh,
        "evidence": ep.evidence,
        "periods": [label_of(p) for p in ep.periods],
        "version": version,
    }


COMPARED = (
    "level",
    "status",
    "first_period",
    "last_period",
    "cleared_period",
    "summary_zh",
    "periods",
    "version",
)


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def store(session: Session, eps: list[Episode], *, version: str) -> dict[str, int]:
    """Write the episodes as alerts, keeping the ids of alerts that still describe the same episode."""
    table = Alert.__table__
    existing = session.execute(
        select(
            table.c.id,
            table.c.institution_id,
            table.c.family,
            table.c.first_period,
            table.c.status,
            table.c.level,
            table.c.last_period,
            table.c.cleared_period,
            table.c.summary_zh,
            table.c.periods,
            table.c.version,
            table.c.evidence,
        )
    ).all()
    by_first: dict[tuple[int, str, date], Any] = {}
    open_by_family: dict[tuple[int, str], list[Any]] = {}
    for r in existing:
        by_first[(r.institution_id, str(r.family), _as_date(r.first_period))] = r
        if str(r.status) == AlertStatus.OPEN.value:
            open_by_family.setdefault((r.institution_id, str(r.family)), []).append(r)
    matched: set[int] = set()
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    pending_open: list[tuple[Episode, dict[str, Any]]] = []
    for ep in eps:
        values = _row_values(ep, version)
        hit = by_first.get((ep.institution_id, ep.family, values["first_period"]))
        if hit is not None and hit.id not in matched:
            matched.add(hit.id)
            if _changed(hit, values):
                updates.append({"_id": hit.id, **values})
        elif ep.open:
            pending_open.append((ep, values))
        else:
            inserts.append(values)
    for ep, values in pending_open:  # an open episode continues the open alert of its family
        candidates = [
            r for r in open_by_family.get((ep.institution_id, ep.family), []) if r.id not in matched
        ]
        if candidates:
            hit = candidates[0]
            matched.add(hit.id)
            updates.append({"_id": hit.id, **values})
        else:
            inserts.append(values)
    stale = [r for r in existing if r.id not in matched]
    referenced = _referenced_by_cases(session, [r.id for r in stale])
    to_delete = [r.id for r in stale if r.id not in referenced]
    now = utcnow()
    for r in stale:
        if r.id in referenced and str(r.status) == AlertStatus.OPEN.value:
            updates.append(
                {
                    "_id": r.id,
                    "status": AlertStatus.CLEARED.value,
                    "cleared_period": _as_date(r.last_period),
                    "summary_zh": r.summary_zh,
                }
            )
    if to_delete:
        for start in range(0, len(to_delete), 500):
            session.execute(delete(Alert).where(Alert.id.in_(to_delete[start : start + 500])))
    if updates:
        _apply_updates(session, updates, now)
    if inserts:
        _insert(session, inserts, now)
    return {
        "inserted": len(inserts),
        "updated": len(updates),
        "deleted": len(to_delete),
        "kept_for_cases": len(stale) - len(to_delete),
        "open": sum(1 for e in eps if e.open),
        "cleared": sum(1 for e in eps if not e.open),
    }


def _changed(row, values: dict[str, Any]) -> bool:
    current = {
        "level": str(row.level),
        "status": str(row.status),
        "first_period": _as_date(row.first_period),
        "last_period": _as_date(row.last_period),
        "cleared_period": _as_date(row.cleared_period),
        "summary_zh": row.summary_zh,
        "periods": list(row.periods or []),
        "version": row.version,
    }
    if any(current[k] != values[k] for k in COMPARED):
        return True
    return json.dumps(row.evidence, sort_keys=True, ensure_ascii=False) != json.dumps(
        values["evidence"], sort_keys=True, ensure_ascii=False
    )


def _referenced_by_cases(session: Session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    from qiantang.cases.models import Case

    found: set[int] = set()
    for start in range(0, len(ids), 500):
        found.update(
            session.scalars(select(Case.alert_id).where(Case.alert_id.in_(ids[start : start + 500])))
        )
    return found


def _apply_updates(session: Session, updates: list[dict[str, Any]], now) -> None:
    table = Alert.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for u in updates:
        groups.setdefault(tuple(sorted(k for k in u if k != "_id")), []).append(u)
    for keys, rows in groups.items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({**{k: bindparam(k) for k in keys}, "updated_at": bindparam("_now")})
        )
        session.connection().execute(stmt, [{**r, "_now": now} for r in rows])


def _insert(session: Session, rows: list[dict[str, Any]], now) -> None:
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now

    def day(d: date | None):
        return None if d is None else d.isoformat()

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    columns = {
        "institution_id": [r["institution_id"] for r in rows],
        "family": [r["family"] for r in rows],
        "level": [r["level"] for r in rows],
        "status": [r["status"] for r in rows],
        "first_period": [day(r["first_period"]) for r in rows],
        "last_period": [day(r["last_period"]) for r in rows],
        "cleared_period": [day(r["cleared_period"]) for r in rows],
        "summary_zh": [r["summary_zh"] for r in rows],
        "evidence": [dumps(r["evidence"]) for r in rows],
        "periods": [dumps(r["periods"]) for r in rows],
        "version": [r["version"] for r in rows],
        "created_at": [stamp] * len(rows),
        "updated_at": [stamp] * len(rows),
    }
    bulk_insert(conn, Alert.__table__, columns)


__all__ = ["Episode", "episodes", "store"]
