"""The quarterly panel the early-warning computation works on, read in bulk into pandas.

One row per institution and quarter in which a return was *expected* (the institution was open at the
quarter end and its type files a template) or *filed*. Rows carry the current revision's values (one
column per template field, NaN where the template has no such field), the first submission time (for
lateness), the number of revisions, and the registry facts the indicators need.

Quarters are handled as integers ``pq = 4·year + quarter − 1`` so that "the previous quarter" or "the
previous year end" is arithmetic, and lags are looked up by key (exact quarters, never "the previous
row").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from qiantang.filings.periods import RECORDS_START

# Key of (institution, quarter) pairs: institution id × KEY + pq (pq < 10,000 for any real year).
KEY = 10_000


def pq_of(day: date) -> int:
    return day.year * 4 + (day.month - 1) // 3


@lru_cache(maxsize=4096)
def period_of(pq: int) -> date:
    year, q = divmod(int(pq), 4)
    month = 3 * (q + 1)
    return date(year, month, 31 if month in (3, 12) else 30)


@lru_cache(maxsize=4096)
def label_of(pq: int) -> str:
    year, q = divmod(int(pq), 4)
    return f"{year}Q{q + 1}"


def pq_array(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return (d.dt.year * 4 + (d.dt.month - 1) // 3).to_numpy(dtype=np.int64)


@dataclass
class Panel:
    """Everything read from the database, as frames."""

    institutions: (
        pd.DataFrame
    )  # id-indexed: type_code, template, district_code, capital_wan, established_on …
    events: pd.DataFrame  # status history: institution_id, effective_on, event, status_after, reason, pq
    rows: pd.DataFrame  # the panel: institution_id, pq, period_end, template, type_code, expected, filed …
    fields: pd.DataFrame  # template field values aligned with ``rows`` (same index)
    first_pq: int | None = None
    last_pq: int | None = None
    templates: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return self.rows.empty

    def key(self) -> np.ndarray:
        return self.rows["institution_id"].to_numpy(np.int64) * KEY + self.rows["pq"].to_numpy(np.int64)


def _read(session: Session, sql: str) -> list[tuple]:
    """Plain tuples from the driver (no ORM or row objects: this is the bulk path)."""
    raw = session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _float_columns(records: list[dict], codes: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for code in codes:
        values = [d.get(code) for d in records]
        try:
            out[code] = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            out[code] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)
    return out


def _as_date(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", errors="coerce")


# The raw tables the panel is built from, as read by the local path (``read_tables``) or by Spark
# (``qiantang.batch.earlywarning``): one frame each, with these columns.
INSTITUTION_COLUMNS = [
    "id",
    "type_code",
    "template",
    "district_code",
    "capital",
    "established_on",
    "deregistered_on",
    "status",
    "name",
]
EVENT_COLUMNS = ["institution_id", "effective_on", "event", "status_after", "reason", "id"]
FILING_COLUMNS = [
    "institution_id",
    "period_end",
    "revision",
    "is_current",
    "due_on",
    "submitted_at",
    "template",
    "data",  # the JSON text of the current revision, None for the others
]
DISPUTE_COLUMNS = ["institution_id", "received_on"]


@dataclass
class Tables:
    """The registry, filings and disputes as read, before any shaping (see the column lists above).

    ``institutions`` and ``events`` hold only institutions of types that file a template."""

    institutions: pd.DataFrame
    events: pd.DataFrame
    filings: pd.DataFrame
    disputes: pd.DataFrame


def read_institutions(session: Session) -> pd.DataFrame:
    rows = _read(
        session,
        "SELECT i.id, i.type_code, t.filing_template, i.district_code, i.registered_capital, "
        "i.established_on, i.deregistered_on, i.status, i.name "
        "FROM institutions i JOIN institution_types t ON t.code = i.type_code "
        "WHERE t.filing_template IS NOT NULL",
    )
    return pd.DataFrame(rows, columns=INSTITUTION_COLUMNS)


def read_events(session: Session) -> pd.DataFrame:
    rows = _read(
        session,
        "SELECT s.institution_id, s.effective_on, s.event, s.status_after, s.reason, s.id "
        "FROM institution_status_changes s JOIN institutions i ON i.id = s.institution_id "
        "JOIN institution_types t ON t.code = i.type_code WHERE t.filing_template IS NOT NULL",
    )
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def read_tables(session: Session) -> Tables:
    """The four raw tables of the panel, read in bulk."""
    filings = pd.DataFrame(
        _read(
            session,
            "SELECT institution_id, period_end, revision, is_current, due_on, submitted_at, template_code, "
            "CASE WHEN is_current THEN CAST(data AS TEXT) END FROM filings",
        ),
        columns=FILING_COLUMNS,
    )
    # Disputes received about each institution (the dispute register), counted per quarter.
    disputes = pd.DataFrame(
        _read(session, "SELECT institution_id, received_on FROM disputes WHERE institution_id IS NOT NULL"),
        columns=DISPUTE_COLUMNS,
    )
    return Tables(read_institutions(session), read_events(session), filings, disputes)


def institutions_frame(raw: pd.DataFrame, templates: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The id-indexed institutions of the panel from their raw rows (capital in 万元, dates parsed)."""
    df = raw[INSTITUTION_COLUMNS]
    if templates is not None:
        df = df[df["template"].isin(templates)]
    df = df.reset_index(drop=True)  # the parsed columns below are assigned by position
    df["capital_wan"] = pd.to_numeric(df["capital"], errors="coerce") / 10_000.0
    df["established_on"] = _as_date(df["established_on"].tolist())
    df["deregistered_on"] = _as_date(df["deregistered_on"].tolist())
    df = df.drop(columns=["capital"]).set_index("id").sort_index()
    df["type_code"] = df["type_code"].astype(object)
    df["template"] = df["template"].astype(object)
    return df


def events_frame(raw: pd.DataFrame, ids) -> pd.DataFrame:
    """The status history of the institutions ``ids``, dated and ordered, with each event's quarter."""
    df = raw[EVENT_COLUMNS]
    df = df[df["institution_id"].isin(ids)].reset_index(drop=True)  # parsed columns assigned by position
    df["effective_on"] = _as_date(df["effective_on"].tolist())
    df["pq"] = (
        pq_array(df["effective_on"]) if len(df) else np.zeros(0, dtype=np.int64)
    )  # the quarter the event falls in
    df["reason"] = df["reason"].fillna("").astype(object)
    return df.sort_values(["institution_id", "effective_on", "id"]).reset_index(drop=True)


def load_institutions(session: Session, templates: tuple[str, ...] | None = None) -> pd.DataFrame:
    return institutions_frame(read_institutions(session), templates)


def load_events(session: Session, ids) -> pd.DataFrame:
    return events_frame(read_events(session), ids)


def load_panel(session: Session, *, templates: tuple[str, ...] | None = None) -> Panel:
    """Read institutions, their status history and every filing into one quarterly panel."""
    return build(read_tables(session), templates=templates)


@dataclass(frozen=True)
class Bounds:
    """What a part of the panel must know of the whole: the first and last quarter (of every
    institution's filings), the templates of the panel, and the field codes of each filed template."""

    first_pq: int
    last_pq: int
    templates: tuple[str, ...]
    template_fields: dict[str, list[str]]

    @classmethod
    def of(cls, filed_pqs: tuple[int, int], templates, fields: dict[str, list[str]]) -> Bounds:
        """From the first and last quarter with a return (of the panel's institutions), the
        templates of the panel's institutions and the field codes of each filed template."""
        first = max(int(filed_pqs[0]), pq_of(RECORDS_START))
        return cls(first, int(filed_pqs[1]), tuple(sorted(templates)), fields)


def build(tables: Tables, *, templates: tuple[str, ...] | None = None, bounds: Bounds | None = None) -> Panel:
    """The panel of ``tables`` — the one function both engines shape the panel with.

    Locally ``tables`` is the whole city; on Spark it is the rows of a few whole institutions and
    ``bounds`` carries what depends on the others, so each part's rows are the whole panel's rows of
    its institutions (``qiantang.batch.earlywarning``)."""
    inst = institutions_frame(tables.institutions, templates)
    events = events_frame(tables.events, inst.index)
    filings = tables.filings
    timing = filings[filings["institution_id"].isin(inst.index)][FILING_COLUMNS[:-1]].reset_index(drop=True)
    is_current = filings["is_current"].fillna(False).astype(bool).to_numpy()
    cur = filings[is_current]
    current = list(
        zip(
            cur["institution_id"].tolist(),
            cur["period_end"].tolist(),
            cur["data"].tolist(),
            cur["template"].tolist(),
            strict=True,
        )
    )
    return assemble(inst, events, timing, current, tables.disputes, bounds=bounds)


def assemble(
    inst: pd.DataFrame,
    events: pd.DataFrame,
    timing: pd.DataFrame,
    current: list[tuple],
    disputes: pd.DataFrame | None = None,
    *,
    bounds: Bounds | None = None,
) -> Panel:
    """Build the panel from the registry frames, every revision's timing (institution_id, period_end,
    revision, due_on, submitted_at), the current revisions as (institution_id, period_end, data,
    template) tuples, ``data`` a dict or its JSON text, and the disputes received (institution_id,
    received_on). With ``bounds`` (a part of the panel) the quarters, templates and field codes are
    the whole panel's, not those of these rows."""
    if timing.empty and bounds is None:
        empty = pd.DataFrame(
            {
                "institution_id": pd.Series(dtype=np.int64),
                "pq": pd.Series(dtype=np.int64),
                "expected": pd.Series(dtype=bool),
                "filed": pd.Series(dtype=bool),
                "first_submitted": pd.Series(dtype="datetime64[ns]"),
                "due_on": pd.Series(dtype="datetime64[ns]"),
                "n_revisions": pd.Series(dtype=np.float64),
                "disputes": pd.Series(dtype=np.float64),
                "template": pd.Series(dtype=object),
                "type_code": pd.Series(dtype=object),
                "district_code": pd.Series(dtype=object),
                "capital_registry_wan": pd.Series(dtype=np.float64),
                "period_end": pd.Series(dtype=object),
            }
        )
        return Panel(inst, events, empty, pd.DataFrame(index=empty.index))
    timing["pq"] = pq_array(_as_date(timing["period_end"].tolist()))
    timing["submitted"] = _as_date(timing["submitted_at"].tolist()).dt.normalize()
    timing["due"] = _as_date(timing["due_on"].tolist())
    first = timing.groupby(["institution_id", "pq"], sort=False).agg(
        first_submitted=("submitted", "min"),
        due_on=("due", "min"),
        n_revisions=("revision", "size"),
    )
    first["n_revisions"] = first["n_revisions"] - 1

    keep_ids = set(inst.index.tolist())
    current = sorted((r for r in current if r[0] in keep_ids), key=lambda r: (r[3], r[0], str(r[1])))
    texts = [r[2] if isinstance(r[2], str) else json.dumps(r[2]) for r in current]
    datas = json.loads("[" + ",".join(t or "{}" for t in texts) + "]") if texts else []
    blocks = []
    tmpl = [r[3] for r in current]
    start = 0
    while start < len(current):  # rows come ordered by template: one block of columns per template
        stop = start
        while stop < len(current) and tmpl[stop] == tmpl[start]:
            stop += 1
        records = datas[start:stop]
        if bounds is not None and tmpl[start] in bounds.template_fields:
            codes = list(bounds.template_fields[tmpl[start]])
        else:
            codes = template_fields(tmpl[start], records)
        block = pd.DataFrame(_float_columns(records, codes))
        block.insert(0, "institution_id", np.array([r[0] for r in current[start:stop]], dtype=np.int64))
        block.insert(1, "pq", [pq_of(_day(r[1])) for r in current[start:stop]])
        blocks.append(block)
        start = stop
    filed = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=["institution_id", "pq"])
    filed["institution_id"] = filed["institution_id"].astype(np.int64)  # also when nothing was filed
    filed["pq"] = filed["pq"].astype(np.int64)
    filed = filed.drop_duplicates(["institution_id", "pq"], keep="last")

    # Expected quarters: open at the quarter end (established on or before it, not yet exited).
    if bounds is not None:
        first_pq, last_pq = bounds.first_pq, bounds.last_pq
    else:
        all_pq = timing["pq"].to_numpy()
        first_pq = max(int(all_pq.min()), pq_of(RECORDS_START))
        last_pq = int(all_pq.max())
    est = inst["established_on"]
    est_pq = np.where(est.isna(), first_pq, pq_array(est.fillna(pd.Timestamp("1900-01-01"))))
    # Established on the quarter end itself counts for that quarter; otherwise from that quarter on
    # (the quarter containing the establishment date ends after it).
    start = np.maximum(est_pq, first_pq)
    dereg = inst["deregistered_on"]
    has_exit = dereg.notna().to_numpy()
    exit_pq = np.where(has_exit, pq_array(dereg.fillna(pd.Timestamp("2999-12-31"))), last_pq + 1)
    # Open at the end of the exit quarter only if the exit falls after that quarter end: never.
    stop = np.minimum(exit_pq - 1, last_pq)
    n_q = np.maximum(stop - start + 1, 0)
    grid_ids = np.repeat(inst.index.to_numpy(np.int64), n_q)
    offsets = np.arange(n_q.sum()) - np.repeat(np.cumsum(n_q) - n_q, n_q)
    grid_pq = np.repeat(start, n_q) + offsets
    grid = pd.DataFrame({"institution_id": grid_ids, "pq": grid_pq.astype(np.int64), "expected": True})

    rows = grid.merge(
        filed[["institution_id", "pq"]].assign(filed=True), how="outer", on=["institution_id", "pq"]
    )
    rows["expected"] = rows["expected"].fillna(False).astype(bool)
    rows["filed"] = rows["filed"].fillna(False).astype(bool)
    rows = rows.sort_values(["institution_id", "pq"]).reset_index(drop=True)
    rows = rows.join(first, on=["institution_id", "pq"])
    rows["n_revisions"] = rows["n_revisions"].astype(np.float64)  # NaN where not filed: float in any part
    rows["disputes"] = _disputes_per_quarter(rows, disputes)
    rows["template"] = inst["template"].reindex(rows["institution_id"]).to_numpy()
    rows["type_code"] = inst["type_code"].reindex(rows["institution_id"]).to_numpy()
    rows["district_code"] = inst["district_code"].reindex(rows["institution_id"]).to_numpy()
    rows["capital_registry_wan"] = inst["capital_wan"].reindex(rows["institution_id"]).to_numpy()
    rows["period_end"] = [period_of(p) for p in rows["pq"].to_numpy()] if len(rows) else []
    fields = rows[["institution_id", "pq"]].merge(filed, how="left", on=["institution_id", "pq"])
    fields = fields.drop(columns=["institution_id", "pq"])
    fields.index = rows.index
    return Panel(
        institutions=inst,
        events=events,
        rows=rows,
        fields=fields,
        first_pq=first_pq,
        last_pq=last_pq,
        templates=bounds.templates if bounds is not None else tuple(sorted(inst["template"].unique())),
    )


def _disputes_per_quarter(rows: pd.DataFrame, disputes: pd.DataFrame | None) -> np.ndarray:
    """Disputes received per panel row (institution and quarter); 0 where none."""
    if disputes is None or disputes.empty or rows.empty:
        return np.zeros(len(rows))
    d = disputes.assign(pq=pq_array(_as_date(disputes["received_on"].tolist())))
    counts = d.groupby(["institution_id", "pq"]).size().rename("n")
    joined = rows[["institution_id", "pq"]].join(counts, on=["institution_id", "pq"])
    return joined["n"].fillna(0).to_numpy(np.float64)


def panel_from_records(
    institutions: list[dict], filings: list[dict], events: list[dict] | None = None
) -> Panel:
    """A panel from hand-made records (tests, what-if checks), without a database.

    ``institutions``: id, type_code, template, district_code, registered_capital (元), established_on,
    deregistered_on; ``filings``: institution_id, period_end, data, and optionally revision, due_on,
    submitted_at (every revision may be given; the highest revision's data is current);
    ``events``: institution_id, effective_on, event, status_after, reason.
    """
    inst = pd.DataFrame(
        [
            {
                "id": i["id"],
                "type_code": i.get("type_code", i["template"]),
                "template": i["template"],
                "district_code": i.get("district_code", "330106"),
                "capital_wan": (i["registered_capital"] / 10_000.0)
                if i.get("registered_capital")
                else np.nan,
                "established_on": pd.Timestamp(i.get("established_on", date(2010, 1, 1))),
                "deregistered_on": pd.Timestamp(i["deregistered_on"]) if i.get("deregistered_on") else pd.NaT,
                "status": i.get("status", "active"),
                "name": i.get("name", f"机构{i['id']}"),
            }
            for i in institutions
        ]
    ).set_index("id")
    ev = pd.DataFrame(
        events or [], columns=["institution_id", "effective_on", "event", "status_after", "reason"]
    )
    ev["id"] = np.arange(len(ev))
    ev["effective_on"] = pd.to_datetime(ev["effective_on"])
    ev["pq"] = pq_array(ev["effective_on"]) if len(ev) else np.zeros(0, dtype=np.int64)
    ev["reason"] = ev["reason"].fillna("").astype(object)
    ev = ev.sort_values(["institution_id", "effective_on", "id"]).reset_index(drop=True)
    timing_rows, current = [], {}
    for f in filings:
        day = f["period_end"]
        rev = f.get("revision", 1)
        due = f.get("due_on", date.fromordinal(day.toordinal() + 15))
        submitted = f.get("submitted_at", due)
        timing_rows.append((f["institution_id"], day.isoformat(), rev, True, due.isoformat(), str(submitted)))
        key = (f["institution_id"], day)
        if key not in current or current[key][0] <= rev:
            template = inst.loc[f["institution_id"], "template"]
            current[key] = (rev, (f["institution_id"], day.isoformat(), dict(f["data"]), template))
    timing = pd.DataFrame(
        timing_rows,
        columns=["institution_id", "period_end", "revision", "is_current", "due_on", "submitted_at"],
    )
    return assemble(inst, ev, timing, [v[1] for v in current.values()])


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def template_fields(template: str, records: list[dict]) -> list[str]:
    """A template's field codes: its definition's, or for an unknown template the keys of the first
    50 of its returns (in the order the panel reads them: institution, then quarter)."""
    from qiantang.filings.templates import get_template

    try:
        return list(get_template(template).field_codes)
    except (KeyError, FileNotFoundError, ValueError):
        codes: dict[str, None] = {}
        for d in records[:50]:
            codes.update(dict.fromkeys(d))
        return list(codes)


def lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at the rows whose key is ``wanted`` (NaN where there is none).

    ``keys`` must be sorted ascending and unique (panel rows are sorted by institution and quarter).
    """
    if len(keys) == 0:
        return np.full(len(wanted), np.nan)
    pos = np.searchsorted(keys, wanted)
    pos = np.minimum(pos, len(keys) - 1)
    found = keys[pos] == wanted
    return np.where(found, values[pos], np.nan).astype(np.float64)


def lookup_at_or_before(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at the row whose key is ``wanted`` or, failing that, the same institution's latest
    row before it (NaN where the institution has none). ``keys`` sorted ascending and unique."""
    if len(keys) == 0:
        return np.full(len(wanted), np.nan)
    pos = np.searchsorted(keys, wanted, side="right") - 1
    safe = np.maximum(pos, 0)
    found = (pos >= 0) & (keys[safe] // KEY == wanted // KEY)
    return np.where(found, values[safe], np.nan).astype(np.float64)


def lag_lookup(keys: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """``values`` of the same institution ``k`` quarters earlier (NaN where that quarter has no row)."""
    return lookup(keys, values, keys - k)
