"""The CAMEL+RR scorecard (data/rating.toml): indicators → sub-scores → dimensions → score and level,
with the items that cost the most points as reasons in Chinese.

Derived inputs (besides the indicators) are computed here from the signals of the same quarter:
how much of the leverage and concentration limits is used, how many limits are breached and how many
peer and trend signals fired.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from qiantang.earlywarning.indicators import BY_CODE
from qiantang.earlywarning.panel import Panel
from qiantang.earlywarning.rules import EPS, RuleSet, _package_doc, fmt_value, usage_of

# Inputs that are not indicators: (name_zh, name_en, unit).
DERIVED: dict[str, tuple[str, str, str]] = {
    "usage_leverage": ("杠杆类监管指标使用率", "Leverage limits used", "%"),
    "usage_concentration": ("集中度类监管指标使用率", "Concentration limits used", "%"),
    "limit_breaches": ("越限的监管指标数", "Limits breached", "项"),
    "peer_signals": ("同业异常信号数", "Peer anomalies", "项"),
    "trend_signals": ("趋势突变信号数", "Trend breaks", "项"),
    "asset_quality": ("资产质量（逾期/不良/代偿）", "Asset quality (overdue, NPL, compensation)", "%"),
}
# The harmonised asset-quality input of the challenger: each template's main overdue/loss measure.
ASSET_QUALITY = {
    "small_loan": "sl_overdue90_share",
    "financing_guarantee": "fg_compensation_rate",
    "pawnshop": "pw_overdue_share",
    "finance_leasing": "fl_overdue_share",
    "commercial_factoring": "cf_overdue90_share",
    "p2p_lending": "p2p_overdue_share",
}


@dataclass(frozen=True)
class Item:
    dimension: str
    input: str
    points: tuple[tuple[float, float], ...]
    weight: float = 1.0
    templates: tuple[str, ...] = ()
    exclude_templates: tuple[str, ...] = ()

    def applies(self, template: np.ndarray) -> np.ndarray:
        ok = np.ones(len(template), dtype=bool)
        if self.templates:
            ok &= np.isin(template, self.templates)
        if self.exclude_templates:
            ok &= ~np.isin(template, self.exclude_templates)
        return ok

    def score(self, values: np.ndarray) -> np.ndarray:
        xs = np.array([p[0] for p in self.points], dtype=np.float64)
        ys = np.array([p[1] for p in self.points], dtype=np.float64)
        out = np.interp(values, xs, ys)
        return np.where(np.isnan(values), np.nan, out)

    @property
    def label(self) -> tuple[str, str, str]:
        if self.input in BY_CODE:
            ind = BY_CODE[self.input]
            return ind.name_zh, ind.name_en, ind.unit
        return DERIVED[self.input]


@dataclass(frozen=True)
class Scorecard:
    version: str
    cutoffs: dict[str, float]  # red / orange / yellow: score below → level
    dimensions: dict[str, dict[str, Any]]  # code → name_zh, name_en, weight
    items: tuple[Item, ...]
    reasons_count: int = 3
    reasons_min_points: float = 1.0
    reasons_max_subscore: float = 80.0
    challenger: dict[str, Any] = field(default_factory=dict)
    distress: dict[str, Any] = field(default_factory=dict)

    def level_of(self, score: np.ndarray) -> np.ndarray:
        out = np.full(len(score), "green", dtype=object)
        out[score < self.cutoffs["yellow"]] = "yellow"
        out[score < self.cutoffs["orange"]] = "orange"
        out[score < self.cutoffs["red"]] = "red"
        return out


def parse_scorecard(doc: dict[str, Any]) -> Scorecard:
    dims = {code: dict(d) for code, d in doc["dimensions"].items()}
    items = []
    for it in doc["items"]:
        if it["dimension"] not in dims:
            raise ValueError(f"评级项目的维度未知：{it['dimension']}")
        if it["input"] not in BY_CODE and it["input"] not in DERIVED:
            raise ValueError(f"评级项目的输入未知：{it['input']}")
        points = tuple((float(x), float(y)) for x, y in it["points"])
        if any(b[0] <= a[0] for a, b in pairwise(points)):
            raise ValueError(f"评级项目 {it['input']} 的分段点应按数值递增")
        items.append(
            Item(
                dimension=it["dimension"],
                input=it["input"],
                points=points,
                weight=float(it.get("weight", 1.0)),
                templates=tuple(it.get("templates", ())),
                exclude_templates=tuple(it.get("exclude_templates", ())),
            )
        )
    levels = doc["levels"]
    if not levels["red"] <= levels["orange"] <= levels["yellow"]:
        raise ValueError("评级等级分界应满足 红 ≤ 橙 ≤ 黄")
    reasons = doc.get("reasons", {})
    return Scorecard(
        version=doc.get("version", "rating"),
        cutoffs={k: float(levels[k]) for k in ("red", "orange", "yellow")},
        dimensions=dims,
        items=tuple(items),
        reasons_count=int(reasons.get("count", 3)),
        reasons_min_points=float(reasons.get("min_points", 1.0)),
        reasons_max_subscore=float(reasons.get("max_subscore", 80.0)),
        challenger=dict(doc.get("challenger", {})),
        distress=dict(doc.get("distress", {})),
    )


def load_scorecard() -> Scorecard:
    return parse_scorecard(_package_doc("rating.toml"))


# ------------------------------------------------------------------------------------ inputs
def limit_usage(panel: Panel, wide: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Per panel row: the largest usage (in %) of the leverage and concentration limits in force, and
    how many limits are breached."""
    n = len(panel.rows)
    template = panel.rows["template"].to_numpy(object)
    type_code = panel.rows["type_code"].to_numpy(object)
    pq = panel.rows["pq"].to_numpy(np.int64)
    filed = panel.rows["filed"].to_numpy(bool)
    lev = np.full(n, np.nan)
    conc = np.full(n, np.nan)
    breaches = np.where(filed, 0.0, np.nan)
    for rule in rules.rules:
        mask = filed & np.isin(template, rule.templates) & rule.in_force(pq)
        if rule.types:
            mask &= np.isin(type_code, rule.types)
        if rule.when is not None:
            mask &= rule.when.mask(wide[rule.when.indicator].to_numpy(np.float64))
        values = wide[rule.indicator].to_numpy(np.float64)
        mask &= ~np.isnan(values)
        if not mask.any():
            continue
        usage = np.minimum(usage_of(values, rule.limit, rule.comparison), 1e4) * 100.0
        breaches += np.where(mask & (usage > 100.0 * (1 + EPS)), 1.0, 0.0)
        if rule.kind == "leverage":
            lev = np.where(mask, np.fmax(lev, usage), lev)
        elif rule.kind == "concentration":
            conc = np.where(mask, np.fmax(conc, usage), conc)
    return pd.DataFrame(
        {"usage_leverage": lev, "usage_concentration": conc, "limit_breaches": breaches},
        index=panel.rows.index,
    )


def rating_inputs(panel: Panel, wide: pd.DataFrame, rules: RuleSet, signals: pd.DataFrame) -> pd.DataFrame:
    """Indicators plus the derived inputs, one row per panel row."""
    inputs = pd.concat([wide, limit_usage(panel, wide, rules)], axis=1)
    filed = panel.rows["filed"].to_numpy(bool)
    for family, column in (("peer", "peer_signals"), ("trend", "trend_signals")):
        counts = np.zeros(len(panel.rows))
        if not signals.empty:
            rows = signals.loc[signals["family"] == family, "row"].to_numpy(np.int64)
            np.add.at(counts, rows, 1.0)
        inputs[column] = np.where(filed, counts, np.nan)
    template = panel.rows["template"].to_numpy(object)
    aq = np.full(len(panel.rows), np.nan)
    for name, code in ASSET_QUALITY.items():
        aq = np.where(template == name, wide[code].to_numpy(np.float64), aq)
    inputs["asset_quality"] = aq
    return inputs


# ------------------------------------------------------------------------------------ scoring
@dataclass
class Ratings:
    rows: np.ndarray  # panel rows rated
    score: np.ndarray
    level: np.ndarray
    dimensions: list[dict[str, float]]
    reasons: list[list[str]]


def score(panel: Panel, inputs: pd.DataFrame, card: Scorecard) -> Ratings:
    """Score every filed panel row."""
    rated = np.nonzero(panel.rows["filed"].to_numpy(bool))[0]
    template = panel.rows["template"].to_numpy(object)[rated]
    n = len(rated)
    dim_codes = list(card.dimensions)
    subs = np.full((n, len(card.items)), np.nan)
    for k, item in enumerate(card.items):
        if item.input not in inputs.columns:
            continue
        values = inputs[item.input].to_numpy(np.float64)[rated]
        subs[:, k] = np.where(item.applies(template), item.score(values), np.nan)
    item_w = np.array([it.weight for it in card.items])
    dim_of = np.array([dim_codes.index(it.dimension) for it in card.items])
    dims = np.full((n, len(dim_codes)), np.nan)
    item_share = np.zeros((n, len(card.items)))  # each item's share of its dimension
    for d in range(len(dim_codes)):
        cols = np.nonzero(dim_of == d)[0]
        if not len(cols):
            continue
        w = np.where(np.isnan(subs[:, cols]), 0.0, item_w[cols])
        wsum = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dims[:, d] = np.where(wsum > 0, np.nansum(subs[:, cols] * w, axis=1) / wsum, np.nan)
            item_share[:, cols] = np.where(wsum[:, None] > 0, w / wsum[:, None], 0.0)
    dim_w = np.array([float(card.dimensions[c]["weight"]) for c in dim_codes])
    dw = np.where(np.isnan(dims), 0.0, dim_w)
    dwsum = dw.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(dwsum > 0, np.nansum(dims * dw, axis=1) / dwsum, np.nan)
        dim_share = np.where(dwsum[:, None] > 0, dw / dwsum[:, None], 0.0)
    total = np.round(total, 2)
    level = card.level_of(np.nan_to_num(total, nan=100.0))
    # Points lost by each item of the total: its dimension's share × its share in it × (100 − sub).
    lost = dim_share[:, dim_of] * item_share * (100.0 - np.nan_to_num(subs, nan=100.0))
    lost = np.where(np.nan_to_num(subs, nan=100.0) < card.reasons_max_subscore, lost, 0.0)
    reasons = _reasons(card, inputs, rated, subs, lost, dim_codes)
    dim_list = [
        {c: (None if math.isnan(v) else round(float(v), 1)) for c, v in zip(dim_codes, row, strict=True)}
        for row in dims
    ]
    return Ratings(rated, total, level, dim_list, reasons)


def _reasons(card, inputs, rated, subs, lost, dim_codes) -> list[list[str]]:
    k = card.reasons_count
    order = np.argsort(-lost, axis=1)[:, :k]
    values = {
        it.input: inputs[it.input].to_numpy(np.float64)[rated]
        for it in card.items
        if it.input in inputs.columns
    }
    labels = [it.label for it in card.items]
    out: list[list[str]] = []
    for r in range(len(rated)):
        row = []
        for c in order[r]:
            if lost[r, c] < card.reasons_min_points:
                break
            item = card.items[c]
            name_zh, _name_en, unit = labels[c]
            dim = card.dimensions[item.dimension]["name_zh"]
            row.append(
                f"{dim}：{name_zh} {fmt_value(values[item.input][r], unit)}（子项得分{subs[r, c]:.0f}，"
                f"拉低总分{lost[r, c]:.1f}分）"
            )
        out.append(row)
    return out


# ------------------------------------------------------------------------------------ reasons in English
# The shape _reasons writes: "{维度}：{子项} {数值}（子项得分{s}，拉低总分{p}分）".
_REASON_ZH = re.compile(
    r"^(?P<dim>[^：]+)：(?P<name>.+) (?P<value>\S+)（子项得分(?P<sub>[\d.]+)，拉低总分(?P<lost>[\d.]+)分）$"
)
_VALUE_EN = (
    ("无法计算（分母≤0）", "n/a (denominator ≤ 0)"),
    ("无法计算（净资产≤0）", "n/a (net assets ≤ 0)"),
    ("（超出合理范围，请核对报表）", " (implausible: check the filing)"),
    ("万元", " (CNY 10k)"),
    ("倍", "×"),
    ("天", " days"),
    ("项", ""),
    ("次", ""),
)


@cache
def _names_en() -> dict[str, str]:
    """Chinese name → English name of every dimension and scorecard input."""
    card = load_scorecard()
    names = {d["name_zh"]: d.get("name_en", d["name_zh"]) for d in card.dimensions.values()}
    names.update({it.label[0]: it.label[1] for it in card.items})
    return names


def reason_en(text: str) -> str:
    """A stored rating reason in English ("Capital: Net assets / registered capital 45.71% (item score 20,
    lowers the total by 6.0 points)"); the Chinese text unchanged when it has another shape."""
    m = _REASON_ZH.match(text)
    if not m:
        return text
    names = _names_en()
    value = m["value"]
    for zh, en in _VALUE_EN:
        value = value.replace(zh, en)
    return (
        f"{names.get(m['dim'], m['dim'])}: {names.get(m['name'], m['name'])} {value} "
        f"(item score {m['sub']}, lowers the total by {m['lost']} points)"
    )


def reasons_shown(reasons: list[str] | None) -> list[str]:
    """Stored rating reasons in the current language."""
    from qiantang.web.i18n import is_zh

    return list(reasons or []) if is_zh() else [reason_en(r) for r in reasons or []]


__all__ = [
    "ASSET_QUALITY",
    "DERIVED",
    "Ratings",
    "Scorecard",
    "limit_usage",
    "load_scorecard",
    "parse_scorecard",
    "rating_inputs",
    "score",
]
