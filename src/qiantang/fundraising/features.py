"""The indicators' inputs, one row per firm, as of a date.

``Bundle`` holds the raw tables (watched firms, texts scanned once, spread, complaints, changes,
people, the 失信 list, fund reports, collapses) as DataFrames; ``features_as_of`` turns them into one
row per firm for a date with pandas group-bys, so the whole city and every month of a backtest are
computed without a query per firm. ``table_features`` does the same from a plain table with the
documented columns (``qiantang fundraising evaluate``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from scipy import sparse

from qiantang.fundraising.index import IndexConfig, config
from qiantang.fundraising.keywords import extract_yields, matcher
from qiantang.fundraising.watch import clean_scope, first_word, watch_config

WAN = 10_000.0


def _data(name: str) -> list[dict[str, str]]:
    text = (resources.files("qiantang.fundraising") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@cache
def lpr_history() -> tuple[np.ndarray, np.ndarray]:
    rows = sorted((date.fromisoformat(r["from"]), float(r["rate"])) for r in _data("lpr.csv"))
    return np.array([np.datetime64(d, "D") for d, _ in rows]), np.array([r for _, r in rows])


def lpr_on(days) -> np.ndarray:
    """The one-year LPR (% a year) in force on each day (the first known rate before 2019-08-20)."""
    starts, rates = lpr_history()
    d = np.asarray(pd.to_datetime(pd.Series(days)).to_numpy(dtype="datetime64[D]"))
    i = np.searchsorted(starts, d, side="right") - 1
    return rates[np.clip(i, 0, len(rates) - 1)]


@cache
def bank_yields() -> dict[int, float]:
    return {int(r["year"]): float(r["yield"]) for r in _data("bank_wealth_yields.csv")}


def bank_yield_in(years) -> np.ndarray:
    table = bank_yields()
    lo, hi = min(table), max(table)
    return np.array([table[min(max(int(y), lo), hi)] for y in years], dtype=float)


# --- texts: scanned once ---------------------------------------------------------------------------
def scan_texts(texts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keyword hits and promised yields of texts (columns enterprise_id, published_on, text).

    Returns (hits: enterprise_id, published_on, cls, weight, snippet) and
    (yields: enterprise_id, published_on, rate, phrase).
    """
    m = matcher()
    hit_rows: list[tuple] = []
    yield_rows: list[tuple] = []
    for firm, day, text in zip(texts["enterprise_id"], texts["published_on"], texts["text"], strict=True):
        if not isinstance(text, str) or not text:
            continue
        scan = m.scan(text)
        for h in scan.hits:  # the snippet in the text's own words, around the hit
            hit_rows.append((firm, day, h.cls, h.weight, h.snippet(text)))
        for rate, phrase in extract_yields(scan.text):
            yield_rows.append((firm, day, rate, phrase))
    hits = pd.DataFrame(hit_rows, columns=["enterprise_id", "published_on", "cls", "weight", "snippet"])
    ylds = pd.DataFrame(yield_rows, columns=["enterprise_id", "published_on", "rate", "phrase"])
    for df in (hits, ylds):
        df["published_on"] = pd.to_datetime(df["published_on"])
    return hits, ylds


def keyword_summary(hits: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Per firm: kw_weight (sum of the weights of the distinct classes hit), kw_classes, kw_snippet."""
    m = matcher()
    out = pd.DataFrame(index=index)
    out["kw_weight"] = 0.0
    out["kw_classes"] = ""
    out["kw_snippet"] = ""
    if hits.empty:
        return out
    per = hits.groupby(["enterprise_id", "cls"], sort=False).agg(
        weight=("weight", "max"), n=("weight", "size"), snippet=("snippet", "last")
    )
    per = per.reset_index().sort_values(["enterprise_id", "weight", "n"], ascending=[True, False, False])
    per["zh"] = per["cls"].map(lambda c: m.classes[c].zh)
    g = per.groupby("enterprise_id", sort=False)
    summary = pd.DataFrame(
        {
            "kw_weight": g["weight"].sum(),
            "kw_classes": g["zh"].agg(lambda s: "、".join(s)),
            "kw_snippet": g["snippet"].first(),
        }
    )
    summary = summary.reindex(index)
    out["kw_weight"] = summary["kw_weight"].fillna(0.0)
    out["kw_classes"] = summary["kw_classes"].fillna("")
    out["kw_snippet"] = summary["kw_snippet"].fillna("")
    return out


# --- derived columns shared by the database and a plain table --------------------------------------
def derive(f: pd.DataFrame, as_of: date, cfg: IndexConfig | None = None) -> pd.DataFrame:
    """Add the indicator columns that follow from the base ones (licence, yield ratios, capital …)."""
    cfg = cfg or config()
    w = watch_config()
    licensed = f.get("licensed", pd.Series(False, index=f.index)).fillna(False).astype(bool)
    names = f.get("name", pd.Series("", index=f.index)).fillna("").astype(str)
    scopes = f.get("business_scope", pd.Series("", index=f.index)).fillna("").astype(str).map(clean_scope)
    f["fin_name_word"] = first_word(names, w.financial_words)
    f["fin_scope_word"] = first_word(scopes, w.financial_words)
    f["banned_scope_word"] = first_word(scopes, w.banned_scope)
    f["fin_name_unlicensed"] = ((f["fin_name_word"] != "") & ~licensed).astype(int)
    f["fin_scope_unlicensed"] = ((f["fin_scope_word"] != "") & ~licensed).astype(int)
    f["banned_scope"] = ((f["banned_scope_word"] != "") & ~licensed).astype(int)
    if "kw_weight" in f:
        f["ads_unlicensed"] = f["kw_weight"].where(~licensed, 0.0)
    # Promised return against 4 × LPR on the day it was promised, and against bank wealth products.
    if "promised_return" in f:
        when = pd.to_datetime(f.get("return_date", pd.Series(pd.NaT, index=f.index))).fillna(
            pd.Timestamp(as_of)
        )
        f["cap"] = 4.0 * lpr_on(when)
        f["bank_yield"] = bank_yield_in(when.dt.year)
        r = pd.to_numeric(f["promised_return"], errors="coerce")
        f["return_vs_cap"] = r / f["cap"]
        f["return_vs_bank"] = r / f["bank_yield"]
    for col in ("registered_capital", "paid_in_capital", "amount_raised", "complaint_amount"):
        if col in f:
            f[f"{col}_wan"] = pd.to_numeric(f[col], errors="coerce") / WAN
    reg = f.get("registered_capital_wan")
    if reg is not None and "paid_in_capital_wan" in f:
        paid = f["paid_in_capital_wan"]
        gap = reg / paid.where(paid > 0, np.nan)
        gap = gap.where(paid > 0, np.where(reg > 0, np.inf, np.nan))  # nothing paid in at all
        min_reg = float(cfg.raw.get("capital_gap", {}).get("min_registered_wan", 1000))
        f["capital_gap"] = gap.where(reg >= min_reg, np.nan)
    if reg is not None and "founded_on" in f:
        yb = cfg.raw.get("young_big", {})
        founded = pd.to_datetime(f["founded_on"], errors="coerce")
        age = (pd.Timestamp(as_of) - founded).dt.days / 365.25
        f["young_big"] = (
            (age < float(yb.get("max_age_years", 2))) & (reg >= float(yb.get("min_registered_wan", 5000)))
        ).astype(int)
    return f


# --- from the database ------------------------------------------------------------------------------
@dataclass
class Bundle:
    """The raw tables of the watched firms, loaded once (amounts in 元, dates as Timestamps)."""

    firms: pd.DataFrame  # enterprise_id (index), name, district_code, industry_code, founded_on, … category
    hits: pd.DataFrame
    yields: pd.DataFrame
    spread: pd.DataFrame
    complaints: pd.DataFrame
    changes: pd.DataFrame
    people: pd.DataFrame
    dishonest: pd.DataFrame
    funds: pd.DataFrame
    collapses: pd.DataFrame
    texts: int = 0
    extra: dict = field(default_factory=dict)


def _between(df: pd.DataFrame, col: str, start: pd.Timestamp | None, end: pd.Timestamp) -> pd.DataFrame:
    d = df[col]
    mask = d <= end
    if start is not None:
        mask &= d > start
    return df[mask]


def features_as_of(
    b: Bundle,
    as_of: date,
    *,
    tips: dict[int, int] | None = None,
    flagged: set[int] | None = None,
    cfg: IndexConfig | None = None,
    links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per watched firm with every indicator column, as known on ``as_of``.

    ``tips``: tips per firm (from the tips inbox, when it exists). ``flagged``: firms already graded
    red or orange (the previous run), which count for the links indicator beside collapsed and
    dishonest firms. ``links``: the links columns computed elsewhere (``linked_flagged``,
    ``linked_text`` and, when a listed person is dishonest, ``person_dishonest``; indexed by firm —
    ``qiantang.batch.fundraising`` computes them on Spark) instead of from ``b.people``.

    Ties are broken by the input order (stable sorts): of two promises of the same rate the later
    row counts, so a firm's features do not depend on other firms' rows.
    """
    cfg = cfg or config()
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=cfg.lookback_days)
    firms = b.firms[pd.to_datetime(b.firms["founded_on"]) <= end]
    f = firms.copy()
    idx = f.index

    # keywords and promised yields in the last year
    f = f.join(keyword_summary(_between(b.hits, "published_on", start, end), idx))
    y = _between(b.yields, "published_on", start, end)
    f["promised_return"] = np.nan
    f["return_phrase"] = ""
    f["return_date"] = pd.NaT
    if not y.empty:
        top = y.sort_values("rate", kind="stable").groupby("enterprise_id").tail(1).set_index("enterprise_id")
        top = top.reindex(idx)
        f["promised_return"] = top["rate"]
        f["return_phrase"] = top["phrase"].fillna("")
        f["return_date"] = top["published_on"]
    # realised returns reported in the spread data count as promises too
    s = b.spread[b.spread["observed_on"] <= end]
    if not s.empty:
        last = (
            s.sort_values("observed_on", kind="stable")
            .groupby("enterprise_id")
            .tail(1)
            .set_index("enterprise_id")
        )
        last = last.reindex(idx)
        f["investors"] = last["investors"].fillna(0)
        f["amount_raised"] = last["amount_raised"]
        f["provinces"] = last["provinces"].fillna(0)
        f["districts_reached"] = last["districts"].fillna(0)
        past = s[s["observed_on"] <= end - pd.Timedelta(days=cfg.growth_days)]
        before = (
            past.sort_values("observed_on", kind="stable")
            .groupby("enterprise_id")
            .tail(1)
            .set_index("enterprise_id")
        )
        before = before["investors"].reindex(idx)
        f["investor_growth"] = np.where(before > 0, (f["investors"] / before - 1.0) * 100.0, np.nan)
        realised = last["realised_return"]
        better = realised.notna() & ~(realised <= f["promised_return"])
        f.loc[better, "promised_return"] = realised[better]
        f.loc[better, "return_phrase"] = "实际兑付年化" + realised[better].round(1).astype(str) + "%"
        f.loc[better, "return_date"] = last.loc[better, "observed_on"]
    else:
        f["investors"] = 0
        f["amount_raised"] = np.nan
        f["provinces"] = 0
        f["investor_growth"] = np.nan

    c = _between(b.complaints, "received_on", start, end)
    cg = c.groupby("enterprise_id")
    f["complaints"] = cg.size().reindex(idx).fillna(0)
    f["complaint_amount"] = cg["amount"].sum().reindex(idx).fillna(0.0)
    f["complaint_text"] = cg["summary"].last().reindex(idx).fillna("")
    f["tips"] = pd.Series(tips or {}, dtype=float).reindex(idx).fillna(0)

    ch = _between(b.changes, "changed_on", start, end)
    f["changes"] = ch.groupby("enterprise_id").size().reindex(idx).fillna(0)
    people_kinds = ch[ch["kind"].isin(["legal_rep", "shareholders"])]
    f["people_changes"] = people_kinds.groupby("enterprise_id").size().reindex(idx).fillna(0)
    f["changes_text"] = (
        ch.assign(t=ch["changed_on"].dt.strftime("%Y-%m-%d") + " " + ch["kind_zh"])
        .groupby("enterprise_id")["t"]
        .agg(lambda s: "；".join(s.tail(4)))
        .reindex(idx)
        .fillna("")
    )

    # links: people shared with collapsed, dishonest or already flagged firms (scipy.sparse)
    d = b.dishonest[(b.dishonest["listed_on"] <= end) & ~(b.dishonest["removed_on"] <= end)]
    firm_dishonest = set(d["enterprise_id"].dropna().astype(int))
    f["firm_dishonest"] = idx.isin(list(firm_dishonest)).astype(int)
    collapsed = set(b.collapses.loc[b.collapses["collapsed_on"] <= end, "enterprise_id"].astype(int))
    bad = collapsed | firm_dishonest | set(flagged or ())
    p = b.people[(b.people["since"].isna() | (b.people["since"] <= end)) & ~(b.people["until"] <= end)]
    f["linked_flagged"] = 0
    f["linked_text"] = ""
    f["person_dishonest"] = 0
    if links is not None:
        f["linked_flagged"] = links["linked_flagged"].reindex(idx).fillna(0.0).to_numpy(np.float64)
        f["linked_text"] = links["linked_text"].reindex(idx).fillna("").to_numpy(object)
        if "person_dishonest" in links:
            f["person_dishonest"] = links["person_dishonest"].reindex(idx).fillna(0.0).to_numpy(np.float64)
    elif not p.empty:
        all_firms = pd.Index(pd.unique(np.concatenate([idx.to_numpy(), p["enterprise_id"].to_numpy()])))
        persons = pd.Index(pd.unique(p["person_key"]))
        rows = all_firms.get_indexer(p["enterprise_id"])
        cols = persons.get_indexer(p["person_key"])
        inc = sparse.csr_matrix((np.ones(len(p)), (rows, cols)), shape=(len(all_firms), len(persons)))
        inc.data[:] = 1.0
        co = (inc @ inc.T).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co.data[:] = 1.0
        bad_vec = all_firms.isin(list(bad)).astype(float)
        linked = co @ bad_vec
        pos = all_firms.get_indexer(idx)
        f["linked_flagged"] = linked[pos]
        names = b.extra.get("names", {})
        for i in np.flatnonzero(f["linked_flagged"].to_numpy() > 0):
            r = co.getrow(pos[i])
            others = [all_firms[j] for j in r.indices if bad_vec[j] > 0][:3]
            f.iloc[i, f.columns.get_loc("linked_text")] = "、".join(names.get(int(o), str(o)) for o in others)
        dishonest_people = set(d["person_key"].dropna())
        if dishonest_people:
            pvec = persons.isin(list(dishonest_people)).astype(float)
            f["person_dishonest"] = (inc @ pvec)[pos]

    fa = _between(b.funds, "reported_on", start, end)
    fg = fa.groupby("enterprise_id")
    f["fund_anomalies"] = fg.size().reindex(idx).fillna(0)
    f["fund_text"] = fg["kind"].agg(lambda s: "、".join(pd.unique(s))).reindex(idx).fillna("")
    return derive(f, as_of, cfg)


# --- from a plain table (evaluate) ------------------------------------------------------------------
TABLE_COLUMNS = (
    "name",
    "founded_on",
    "registered_capital",
    "paid_in_capital",
    "promised_return",
    "investors",
    "investor_growth",
    "complaints",
    "business_scope",
    "ad_text",
    "licensed",
    "district",
)
TABLE_DOC = {
    "name": "企业名称",
    "founded_on": "成立日期",
    "registered_capital": "注册资本（万元）",
    "paid_in_capital": "实缴资本（万元）",
    "promised_return": "承诺或宣传的年化收益率（%）",
    "investors": "投资人数",
    "investor_growth": "投资人数半年增长率（%）",
    "complaints": "近一年投诉件数",
    "business_scope": "经营范围",
    "ad_text": "宣传文本",
    "licensed": "是否持有金融业务许可（是/否、1/0）",
    "district": "所在区县",
}
_TRUE = {"1", "true", "yes", "y", "是", "有", "持牌", "t"}


def table_features(table: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    """Indicator columns from a table with (some of) ``TABLE_COLUMNS``; capitals in 万元 there."""
    as_of = as_of or date.today()
    f = pd.DataFrame(index=table.index)
    for col in ("name", "business_scope", "district"):
        if col in table:
            f[col] = table[col].astype("string").fillna("").astype(str)
    if "founded_on" in table:
        f["founded_on"] = pd.to_datetime(table["founded_on"], errors="coerce")
    for col in ("registered_capital", "paid_in_capital"):
        if col in table:
            f[col] = pd.to_numeric(table[col], errors="coerce") * WAN
    for col in ("promised_return", "investors", "investor_growth", "complaints"):
        if col in table:
            f[col] = pd.to_numeric(table[col], errors="coerce")
    if "licensed" in table:
        f["licensed"] = table["licensed"].astype(str).str.strip().str.lower().isin(_TRUE)
    if "ad_text" in table:
        texts = table["ad_text"].astype("string").fillna("").astype(str)
        hits, ylds = scan_texts(
            pd.DataFrame({"enterprise_id": table.index, "published_on": pd.Timestamp(as_of), "text": texts})
        )
        f = f.join(keyword_summary(hits, f.index))
        if not ylds.empty:
            top = ylds.sort_values("rate").groupby("enterprise_id").tail(1).set_index("enterprise_id")
            f["return_phrase"] = top["phrase"].reindex(f.index).fillna("")
            if "promised_return" not in f:
                f["promised_return"] = top["rate"].reindex(f.index)
    if "promised_return" in f:
        given = f["promised_return"].notna()
        phrase = f.get("return_phrase", pd.Series("", index=f.index)).fillna("")
        f["return_phrase"] = phrase.where(
            phrase != "", "承诺年化收益" + f["promised_return"].round(1).astype(str) + "%"
        ).where(given, "")
    return derive(f, as_of)
