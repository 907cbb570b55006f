"""Signals: regulatory limits (data/rules.toml), peer anomalies, trend breaks and filing behaviour
(data/signals.toml), each with its evidence.

Every signal is one row of a frame with: ``row`` (the panel row), ``institution_id``, ``pq``,
``family``, ``code``, ``level``, ``value``, ``threshold``, ``message_zh``, ``message_en``, ``evidence``
(a dict) and, for limits, the rule's ``kind`` and ``usage``.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from qiantang.earlywarning.indicators import BY_CODE, CAP_MULT, CAP_PCT, PLAUSIBLE_PCT, Indicator
from qiantang.earlywarning.models import Level, SignalFamily
from qiantang.earlywarning.panel import Panel, label_of, lag_lookup, pq_of

LEVEL_RANK = {"green": 0, "yellow": 1, "orange": 2, "red": 3}
RANK_LEVEL = {v: k for k, v in LEVEL_RANK.items()}
COMPARISONS = ("<=", ">=")
EPS = 1e-9  # relative tolerance: a value equal to the limit complies
SIGNAL_COLUMNS = [
    "row",
    "institution_id",
    "pq",
    "family",
    "code",
    "level",
    "value",
    "threshold",
    "message_zh",
    "message_en",
    "evidence",
    "kind",
    "usage",
]


# ------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class Condition:
    indicator: str
    comparison: str  # "<", "<=", ">", ">="
    value: float
    missing: bool = False  # does the rule apply when the indicator is missing?

    def mask(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            ok = {
                "<": values < self.value,
                "<=": values <= self.value,
                ">": values > self.value,
                ">=": values >= self.value,
            }[self.comparison]
        return np.where(np.isnan(values), self.missing, ok)


@dataclass(frozen=True)
class LimitRule:
    code: str
    name_zh: str
    name_en: str
    templates: tuple[str, ...]
    indicator: str
    comparison: str
    limit: float
    level: str
    citation: str
    kind: str = "other"
    mark: str = "❓"
    article_mark: str = "❓"
    warn_at: float | None = None
    warn_level: str = "yellow"
    severe_at: float | None = None
    severe_level: str = "red"
    effective_from: date | None = None
    effective_to: date | None = None
    when: Condition | None = None
    types: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    note: str = ""
    enabled: bool = True

    def in_force(self, pq: np.ndarray) -> np.ndarray:
        """Quarters judged by this rule: in force at the quarter end (from ≤ end < to)."""
        ok = np.ones(len(pq), dtype=bool)
        if self.effective_from is not None:
            ok &= pq >= pq_of(self.effective_from)
        if self.effective_to is not None:
            ok &= pq < pq_of(self.effective_to)
        return ok

    @property
    def citation_text(self) -> str:
        """The article as users read it; the verification marks stay in the rule file for maintainers."""
        return self.citation


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[LimitRule, ...]
    city: str | None = None
    overrides_applied: tuple[str, ...] = ()
    templates: tuple[str, ...] | None = None  # the filing templates monitored (None: every one)

    def for_template(self, template: str) -> list[LimitRule]:
        return [r for r in self.rules if template in r.templates]

    def get(self, code: str) -> LimitRule:
        for r in self.rules:
            if r.code == code:
                return r
        raise KeyError(code)


def _rule(doc: dict[str, Any]) -> LimitRule:
    when = doc.get("when")
    rule = LimitRule(
        code=doc["code"],
        name_zh=doc["name_zh"],
        name_en=doc.get("name_en", doc["name_zh"]),
        templates=tuple(doc["templates"]),
        indicator=doc["indicator"],
        comparison=doc["comparison"],
        limit=float(doc["limit"]),
        level=doc.get("level", "orange"),
        citation=doc["citation"],
        kind=doc.get("kind", "other"),
        mark=doc.get("mark", "❓"),
        article_mark=doc.get("article_mark", "❓"),
        warn_at=doc.get("warn_at"),
        warn_level=doc.get("warn_level", "yellow"),
        severe_at=doc.get("severe_at"),
        severe_level=doc.get("severe_level", "red"),
        effective_from=doc.get("effective_from"),
        effective_to=doc.get("effective_to"),
        when=Condition(**when) if when else None,
        types=tuple(doc.get("types", ())),
        cities=tuple(doc.get("cities", ())),
        note=doc.get("note", ""),
        enabled=doc.get("enabled", True),
    )
    _check_rule(rule)
    return rule


def _check_rule(rule: LimitRule) -> None:
    if rule.indicator not in BY_CODE:
        raise ValueError(f"规则 {rule.code}：未知指标 {rule.indicator}")
    if rule.when and rule.when.indicator not in BY_CODE:
        raise ValueError(f"规则 {rule.code}：未知条件指标 {rule.when.indicator}")
    if rule.comparison not in COMPARISONS:
        raise ValueError(f"规则 {rule.code}：比较符应为 <= 或 >=")
    for level in (rule.level, rule.warn_level, rule.severe_level):
        if level not in LEVEL_RANK or level == "green":
            raise ValueError(f"规则 {rule.code}：等级 {level} 无效")
    if rule.limit <= 0:
        raise ValueError(f"规则 {rule.code}：限值应为正数")


OVERRIDABLE = {
    "limit",
    "level",
    "warn_at",
    "warn_level",
    "severe_at",
    "severe_level",
    "effective_from",
    "effective_to",
    "enabled",
}


def parse_rules(doc: dict[str, Any], *, city: str | None = None) -> RuleSet:
    """A rule set from a parsed rules document, with the overrides of ``city`` applied."""
    rules = [_rule(r) for r in doc.get("rules", [])]
    codes = [r.code for r in rules]
    if len(set(codes)) != len(codes):
        raise ValueError("规则代码重复")
    applied = []
    for ov in doc.get("overrides", []):
        if city is None or str(ov.get("city")) != str(city):
            continue
        code = ov["rule"]
        if code not in codes:
            raise ValueError(f"城市 {city} 的覆盖项指向未知规则 {code}")
        changes = {k: (float(v) if k == "limit" else v) for k, v in ov.items() if k in OVERRIDABLE}
        i = codes.index(code)
        note = rules[i].note + (f" 本市覆盖：{ov['note']}" if ov.get("note") else " 本市覆盖。")
        rules[i] = replace(rules[i], **changes, note=note.strip())
        _check_rule(rules[i])
        applied.append(code)
    rules = [r for r in rules if r.enabled and (not r.cities or city in r.cities)]
    monitored = doc.get("monitored_templates")
    return RuleSet(
        version=doc.get("version", "rules"),
        rules=tuple(rules),
        city=city,
        overrides_applied=tuple(applied),
        templates=tuple(monitored) if monitored else None,
    )


@cache
def _package_doc(name: str) -> dict[str, Any]:
    with (resources.files("qiantang.earlywarning") / "data" / name).open("rb") as fh:
        return tomllib.load(fh)


def load_rules(city: str | None = None) -> RuleSet:
    from qiantang.config import get_settings

    return parse_rules(
        _package_doc("rules.toml"), city=city if city is not None else get_settings().city_code
    )


@dataclass(frozen=True)
class Jump:
    indicator: str
    kind: str  # delta | level
    direction: str  # up | down
    yellow: float
    orange: float


@dataclass(frozen=True)
class Break:
    indicator: str
    direction: str
    window: int = 8
    min_obs: int = 6
    mad_floor: float = 0.5
    yellow_z: float = 5.0
    orange_z: float = 9.0


@dataclass(frozen=True)
class FilingRule:
    code: str
    indicator: str
    name_zh: str
    name_en: str
    thresholds: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class SignalSettings:
    version: str
    min_peers: int = 8
    yellow_z: float = 3.5
    orange_z: float = 6.0
    mad_scale: float = 1.4826
    peer_exclude: tuple[str, ...] = ()
    jumps: tuple[Jump, ...] = ()
    breaks: tuple[Break, ...] = ()
    filing: tuple[FilingRule, ...] = field(default=())
    conduct: tuple[FilingRule, ...] = field(default=())  # thresholds on the dispute register's counts

    def peer_indicators(self) -> list[Indicator]:
        return [
            i
            for i in BY_CODE.values()
            if i.peer and i.direction in ("up", "down", "both") and i.code not in self.peer_exclude
        ]


def parse_signals(doc: dict[str, Any]) -> SignalSettings:
    peer = doc.get("peer", {})
    trend = doc.get("trend", {})
    settings = SignalSettings(
        version=doc.get("version", "signals"),
        min_peers=int(peer.get("min_peers", 8)),
        yellow_z=float(peer.get("yellow_z", 3.5)),
        orange_z=float(peer.get("orange_z", 6.0)),
        mad_scale=float(peer.get("mad_scale", 1.4826)),
        peer_exclude=tuple(peer.get("exclude", ())),
        jumps=tuple(Jump(**j) for j in trend.get("jumps", [])),
        breaks=tuple(Break(**b) for b in trend.get("breaks", [])),
        filing=_threshold_rules(doc.get("filing", [])),
        conduct=_threshold_rules(doc.get("conduct", [])),
    )
    for code in [j.indicator for j in settings.jumps] + [b.indicator for b in settings.breaks]:
        if code not in BY_CODE:
            raise ValueError(f"信号设置：未知指标 {code}")
    return settings


def _threshold_rules(entries: list[dict[str, Any]]) -> tuple[FilingRule, ...]:
    return tuple(
        FilingRule(
            code=f["code"],
            indicator=f["indicator"],
            name_zh=f.get("name_zh", f["code"]),
            name_en=f.get("name_en", f["code"]),
            thresholds=tuple((float(t), str(lv)) for t, lv in f["thresholds"]),
        )
        for f in entries
    )


def load_signal_settings() -> SignalSettings:
    return parse_signals(_package_doc("signals.toml"))


# ------------------------------------------------------------------------------------ formatting
def fmt_value(value: float | None, unit: str) -> str:
    """A value with its unit, as in messages (CAP values say the denominator was not positive)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "%" and value >= CAP_PCT:
        return "无法计算（分母≤0）"
    if unit == "倍" and value >= CAP_MULT:
        return "无法计算（净资产≤0）"
    if unit in ("天", "次", "项"):
        return f"{value:.0f}{unit}"
    if unit == "万元":
        return f"{value:,.2f}万元"
    if unit == "倍":
        return f"{value:.2f}倍"
    if unit == "%" and abs(value) > PLAUSIBLE_PCT:
        return f"{value:,.0f}%（超出合理范围，请核对报表）"
    return f"{value:.2f}{unit}"


def fmt_value_en(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if (unit == "%" and value >= CAP_PCT) or (unit == "倍" and value >= CAP_MULT):
        return "n/a (denominator ≤ 0)"
    if unit == "%" and abs(value) > PLAUSIBLE_PCT:
        return f"{value:,.0f}% (implausible: check the filing)"
    en = {"%": "%", "倍": "×", "天": " days", "次": "", "项": "", "万元": " (CNY 10k)"}.get(unit, unit)
    if unit in ("天", "次", "项"):
        return f"{value:.0f}{en}"
    return f"{value:,.2f}{en}"


def _delta_en(amount: float, unit: str) -> str:
    """A change between two values in English: a change of a percentage is in percentage points."""
    if unit == "%":
        return f"{amount:,.2f} percentage points"
    return f"by {fmt_value_en(amount, unit).strip()}"


def _r(x: float) -> float | None:
    return None if x is None or x != x else round(float(x), 4)


class History:
    """The last quarters of an indicator for given panel rows (for the evidence)."""

    def __init__(self, panel: Panel, wide: pd.DataFrame):
        self.keys = panel.key()
        self.pq = panel.rows["pq"].to_numpy(np.int64)
        self.wide = wide
        self._lags: dict[tuple[str, int], np.ndarray] = {}

    def _lag(self, code: str, k: int) -> np.ndarray:
        if (code, k) not in self._lags:
            values = self.wide[code].to_numpy(np.float64)
            self._lags[(code, k)] = values if k == 0 else lag_lookup(self.keys, values, k)
        return self._lags[(code, k)]

    def last(self, code: str, rows: np.ndarray, n: int = 4) -> list[list[dict]]:
        cols = [self._lag(code, k)[rows] for k in range(n - 1, -1, -1)]
        pqs = self.pq[rows]
        return [
            [{"period": label_of(p - (n - 1 - j)), "value": _r(cols[j][i])} for j in range(n)]
            for i, p in enumerate(pqs)
        ]


def _frame(records: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=SIGNAL_COLUMNS)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SIGNAL_COLUMNS})


# ------------------------------------------------------------------------------------ limits
def usage_of(values: np.ndarray, limit: float, comparison: str) -> np.ndarray:
    """How much of the limit is used: value/limit for a ceiling, limit/value for a floor."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if comparison == "<=":
            return values / limit
        return np.where(values > 0, limit / values, np.inf)


def evaluate_limits(panel: Panel, wide: pd.DataFrame, rules: RuleSet, history: History) -> pd.DataFrame:
    """Breaches (and near misses) of every rule in force, one signal per rule and quarter."""
    rows = panel.rows
    template = rows["template"].to_numpy(object)
    type_code = rows["type_code"].to_numpy(object)
    filed = rows["filed"].to_numpy(bool)
    pq = rows["pq"].to_numpy(np.int64)
    frames = []
    for rule in rules.rules:
        mask = filed & np.isin(template, rule.templates)
        if rule.types:
            mask &= np.isin(type_code, rule.types)
        if not mask.any():
            continue
        mask &= rule.in_force(pq)
        if rule.when is not None:
            mask &= rule.when.mask(wide[rule.when.indicator].to_numpy(np.float64))
        values = wide[rule.indicator].to_numpy(np.float64)
        mask &= ~np.isnan(values)
        if not mask.any():
            continue
        usage = usage_of(values, rule.limit, rule.comparison)
        breached = usage > 1.0 + EPS
        level = np.full(len(values), "", dtype=object)
        if rule.warn_at is not None:
            level[(usage >= rule.warn_at - EPS) & ~breached] = rule.warn_level
        level[breached] = rule.level
        if rule.severe_at is not None:
            level[breached & (usage >= rule.severe_at - EPS)] = rule.severe_level
        hit = np.nonzero(mask & (level != ""))[0]
        if not len(hit):
            continue
        frames.append(_limit_signals(panel, rule, hit, values, usage, level, breached, history))
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def _limit_signals(panel, rule, hit, values, usage, level, breached, history) -> pd.DataFrame:
    ind = BY_CODE[rule.indicator]
    op = "≤" if rule.comparison == "<=" else "≥"
    last4 = history.last(rule.indicator, hit)
    msg_zh, msg_en, evidence = [], [], []
    for j, i in enumerate(hit):
        v = values[i]
        shown, shown_en = fmt_value(v, ind.unit), fmt_value_en(v, ind.unit)
        lim, lim_en = fmt_value(rule.limit, ind.unit), fmt_value_en(rule.limit, ind.unit)
        if breached[i]:
            msg_zh.append(f"{ind.name_zh} {shown}，违反“{rule.name_zh}”（应{op}{lim}）")
            msg_en.append(f"{ind.name_en} {shown_en} breaches “{rule.name_en}” (must be {op} {lim_en})")
        else:
            msg_zh.append(f"{ind.name_zh} {shown}，接近限值（应{op}{lim}，已用{usage[i] * 100:.0f}%）")
            msg_en.append(f"{ind.name_en} {shown_en} is close to the limit ({op} {lim_en})")
        evidence.append(
            {
                "rule": rule.code,
                "rule_name_zh": rule.name_zh,
                "indicator": rule.indicator,
                "name_zh": ind.name_zh,
                "unit": ind.unit,
                "value": _r(v),
                "limit": rule.limit,
                "comparison": rule.comparison,
                "usage": _r(usage[i]) if np.isfinite(usage[i]) else None,
                "breached": bool(breached[i]),
                "citation": rule.citation,
                "mark": rule.mark,
                "article_mark": rule.article_mark,
                "effective_from": rule.effective_from.isoformat() if rule.effective_from else None,
                "effective_to": rule.effective_to.isoformat() if rule.effective_to else None,
                "note": rule.note,
                "last4": last4[j],
            }
        )
    rows = panel.rows
    return _frame(
        {
            "row": hit,
            "institution_id": rows["institution_id"].to_numpy(np.int64)[hit],
            "pq": rows["pq"].to_numpy(np.int64)[hit],
            "family": SignalFamily.LIMIT.value,
            "code": rule.code,
            "level": level[hit],
            "value": values[hit],
            "threshold": rule.limit,
            "message_zh": msg_zh,
            "message_en": msg_en,
            "evidence": evidence,
            "kind": rule.kind,
            "usage": np.where(np.isfinite(usage[hit]), usage[hit], 1e6),
        }
    )


# ------------------------------------------------------------------------------------ peers
BAND_COLUMNS = ["type_code", "pq", "code", "n", "p10", "p25", "median", "p75", "p90", "mad"]


def peer_bands(long: pd.DataFrame) -> pd.DataFrame:
    """p10/p25/median/p75/p90/MAD per type, quarter and indicator (filing indicators excluded)."""
    filing = [c for c in BY_CODE if c.startswith("filing_")]
    data = long[~long["code"].isin(filing)]
    if data.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    g = data.groupby(["type_code", "pq", "code"], sort=True)["value"]
    q = g.quantile([0.1, 0.25, 0.5, 0.75, 0.9]).unstack()
    q.columns = ["p10", "p25", "median", "p75", "p90"]
    q["n"] = g.size()
    med = q["median"].rename("_med")
    dev = data.join(med, on=["type_code", "pq", "code"])
    dev["_abs"] = (dev["value"] - dev["_med"]).abs()
    q["mad"] = dev.groupby(["type_code", "pq", "code"], sort=True)["_abs"].median()
    return q.reset_index()[BAND_COLUMNS]


def evaluate_peers(
    panel: Panel, long: pd.DataFrame, bands: pd.DataFrame, settings: SignalSettings, history: History
) -> pd.DataFrame:
    """Values far from the type's peers in the adverse direction (robust z-score)."""
    indicators = {i.code: i for i in settings.peer_indicators()}
    data = long[long["code"].isin(list(indicators))]
    if data.empty or bands.empty:
        return _empty()
    b = bands.set_index(["type_code", "pq", "code"])
    data = data.join(b, on=["type_code", "pq", "code"])
    data = data[data["n"] >= settings.min_peers]
    spread = settings.mad_scale * data["mad"].to_numpy(np.float64)
    iqr = (data["p75"] - data["p25"]).to_numpy(np.float64) / 1.349
    spread = np.where(spread > 0, spread, iqr)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (data["value"].to_numpy(np.float64) - data["median"].to_numpy(np.float64)) / spread
    z = np.where(spread > 0, z, np.nan)
    direction = data["code"].map(lambda c: indicators[c].direction).to_numpy(object)
    adverse = np.where(direction == "up", z, np.where(direction == "down", -z, np.abs(z)))
    keep = np.nan_to_num(adverse, nan=-np.inf) >= settings.yellow_z
    data = data[keep].copy()
    adverse, z = adverse[keep], z[keep]
    if data.empty:
        return _empty()
    level = np.where(adverse >= settings.orange_z, "orange", "yellow").astype(object)
    rows = data["row"].to_numpy(np.int64)
    msg_zh, msg_en, evidence = [], [], []
    last4: dict[int, list] = {}
    for code, idx in data.groupby("code").indices.items():
        for j, item in zip(idx, history.last(code, rows[idx]), strict=True):
            last4[j] = item
    codes = data["code"].to_numpy(object)
    values = data["value"].to_numpy(np.float64)
    cols = {c: data[c].to_numpy(np.float64) for c in ("n", "p10", "p25", "median", "p75", "p90", "mad")}
    for j in range(len(data)):
        ind = indicators[codes[j]]
        side = "高于" if z[j] > 0 else "低于"
        side_en = "above" if z[j] > 0 else "below"
        msg_zh.append(
            f"{ind.name_zh} {fmt_value(values[j], ind.unit)}，显著{side}同类机构中位数"
            f"{fmt_value(cols['median'][j], ind.unit)}（稳健z={z[j]:.1f}）"
        )
        msg_en.append(
            f"{ind.name_en} {fmt_value_en(values[j], ind.unit)} far {side_en} the peer median "
            f"{fmt_value_en(cols['median'][j], ind.unit)} (robust z = {z[j]:.1f})"
        )
        evidence.append(
            {
                "indicator": ind.code,
                "name_zh": ind.name_zh,
                "unit": ind.unit,
                "value": _r(values[j]),
                "z": _r(z[j]),
                "direction": ind.direction,
                "band": {k: _r(v[j]) for k, v in cols.items()},
                "last4": last4[j],
            }
        )
    return _frame(
        {
            "row": rows,
            "institution_id": data["institution_id"].to_numpy(np.int64),
            "pq": data["pq"].to_numpy(np.int64),
            "family": SignalFamily.PEER.value,
            "code": codes,
            "level": level,
            "value": values,
            "threshold": cols["median"],
            "message_zh": msg_zh,
            "message_en": msg_en,
            "evidence": evidence,
            "kind": "",
            "usage": np.nan,
        }
    )


# ------------------------------------------------------------------------------------ trends
def evaluate_trends(
    panel: Panel, wide: pd.DataFrame, settings: SignalSettings, history: History
) -> pd.DataFrame:
    """Sudden jumps since the previous quarter and breaks in an institution's own trend."""
    keys = panel.key()
    filed = panel.rows["filed"].to_numpy(bool)
    frames = []
    for jump in settings.jumps:
        ind = BY_CODE[jump.indicator]
        x = wide[jump.indicator].to_numpy(np.float64)
        prev = lag_lookup(keys, x, 1)
        change = x - prev if jump.kind == "delta" else x
        sign = 1.0 if jump.direction == "up" else -1.0
        with np.errstate(invalid="ignore"):
            y = np.nan_to_num(sign * change, nan=-np.inf)
            hit = np.nonzero(filed & (y >= sign * jump.yellow))[0]
        if not len(hit):
            continue
        level = np.where(y[hit] >= sign * jump.orange, "orange", "yellow").astype(object)
        last4 = history.last(jump.indicator, hit)
        unit_delta = "个百分点" if ind.unit == "%" and jump.kind == "delta" else ind.unit
        msg_zh, msg_en, evidence = [], [], []
        for j, i in enumerate(hit):
            if jump.kind == "delta":
                word = "上升" if change[i] > 0 else "下降"
                msg_zh.append(
                    f"{ind.name_zh}较上季{word}{abs(change[i]):.2f}{unit_delta}"
                    f"（{fmt_value(prev[i], ind.unit)} → {fmt_value(x[i], ind.unit)}）"
                )
                went = "rose" if change[i] > 0 else "fell"
                msg_en.append(
                    f"{ind.name_en} {went} {_delta_en(abs(change[i]), ind.unit)} "
                    f"since last quarter ({fmt_value_en(prev[i], ind.unit)} → {fmt_value_en(x[i], ind.unit)})"
                )
            else:
                msg_zh.append(f"{ind.name_zh} {fmt_value(x[i], ind.unit)}，突变")
                msg_en.append(f"{ind.name_en} {fmt_value_en(x[i], ind.unit)}: a sudden change")
            evidence.append(
                {
                    "indicator": ind.code,
                    "name_zh": ind.name_zh,
                    "unit": ind.unit,
                    "kind": "jump",
                    "change": jump.kind,
                    "value": _r(x[i]),
                    "previous": _r(prev[i]),
                    "delta": _r(change[i]),
                    "yellow": jump.yellow,
                    "orange": jump.orange,
                    "last4": last4[j],
                }
            )
        frames.append(
            _frame(
                {
                    "row": hit,
                    "institution_id": panel.rows["institution_id"].to_numpy(np.int64)[hit],
                    "pq": panel.rows["pq"].to_numpy(np.int64)[hit],
                    "family": SignalFamily.TREND.value,
                    "code": f"jump:{jump.indicator}:{jump.direction}",
                    "level": level,
                    "value": x[hit],
                    "threshold": jump.yellow,
                    "message_zh": msg_zh,
                    "message_en": msg_en,
                    "evidence": evidence,
                    "kind": "",
                    "usage": np.nan,
                }
            )
        )
    for brk in settings.breaks:
        frames.append(_trend_breaks(panel, wide, brk, history, keys, filed))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def _trend_breaks(panel, wide, brk: Break, history: History, keys, filed) -> pd.DataFrame:
    ind = BY_CODE[brk.indicator]
    x = wide[brk.indicator].to_numpy(np.float64)
    candidates = np.nonzero(filed & ~np.isnan(x))[0]
    if not len(candidates):
        return _empty()
    past = np.vstack([lag_lookup(keys, x, k)[candidates] for k in range(1, brk.window + 1)])
    n_obs = (~np.isnan(past)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        med = np.nanmedian(past, axis=0)
        mad = np.nanmedian(np.abs(past - med), axis=0)
    spread = np.maximum(1.4826 * np.nan_to_num(mad, nan=0.0), brk.mad_floor)
    z = (x[candidates] - med) / spread
    adverse = z if brk.direction == "up" else -z
    ok = (n_obs >= brk.min_obs) & (np.nan_to_num(adverse, nan=-np.inf) >= brk.yellow_z)
    hit = candidates[ok]
    if not len(hit):
        return _empty()
    z, med, spread, adverse = z[ok], med[ok], spread[ok], adverse[ok]
    level = np.where(adverse >= brk.orange_z, "orange", "yellow").astype(object)
    last4 = history.last(brk.indicator, hit)
    msg_zh, msg_en, evidence = [], [], []
    for j, i in enumerate(hit):
        msg_zh.append(
            f"{ind.name_zh} {fmt_value(x[i], ind.unit)}，偏离本机构前{brk.window}季水平"
            f"{fmt_value(med[j], ind.unit)}（z={z[j]:.1f}）"
        )
        msg_en.append(
            f"{ind.name_en} {fmt_value_en(x[i], ind.unit)} breaks from its own level of the last "
            f"{brk.window} quarters, {fmt_value_en(med[j], ind.unit)} (z = {z[j]:.1f})"
        )
        evidence.append(
            {
                "indicator": ind.code,
                "name_zh": ind.name_zh,
                "unit": ind.unit,
                "kind": "break",
                "value": _r(x[i]),
                "own_median": _r(med[j]),
                "own_spread": _r(spread[j]),
                "z": _r(z[j]),
                "window": brk.window,
                "last4": last4[j],
            }
        )
    return _frame(
        {
            "row": hit,
            "institution_id": panel.rows["institution_id"].to_numpy(np.int64)[hit],
            "pq": panel.rows["pq"].to_numpy(np.int64)[hit],
            "family": SignalFamily.TREND.value,
            "code": f"break:{brk.indicator}",
            "level": level,
            "value": x[hit],
            "threshold": med,
            "message_zh": msg_zh,
            "message_en": msg_en,
            "evidence": evidence,
            "kind": "",
            "usage": np.nan,
        }
    )


# ------------------------------------------------------------------------------------ filing
def evaluate_filing(
    panel: Panel, wide: pd.DataFrame, settings: SignalSettings, history: History
) -> pd.DataFrame:
    """Late, missing, revised and internally inconsistent returns; many disputes (conduct)."""
    parts = [
        _evaluate_thresholds(panel, wide, settings.filing, SignalFamily.FILING),
        _evaluate_thresholds(panel, wide, settings.conduct, SignalFamily.CONDUCT),
    ]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else _empty()


def _evaluate_thresholds(
    panel: Panel, wide: pd.DataFrame, rules: tuple[FilingRule, ...], family: SignalFamily
) -> pd.DataFrame:
    """A signal where an indicator reaches a threshold; the highest threshold reached gives the level."""
    rows = panel.rows
    frames = []
    due = rows["due_on"]
    submitted = rows["first_submitted"]
    falls = wide["_ytd_falls"].to_numpy(np.float64)
    mismatch = wide["_capital_mismatch"].to_numpy(np.float64)
    for rule in rules:
        ind = BY_CODE[rule.indicator]
        x = wide[rule.indicator].to_numpy(np.float64)
        level = np.full(len(x), "", dtype=object)
        for threshold, lv in sorted(rule.thresholds):
            level[np.nan_to_num(x, nan=-np.inf) >= threshold] = lv
        hit = np.nonzero(level != "")[0]
        if not len(hit):
            continue
        msg_zh, msg_en, evidence = [], [], []
        for i in hit:
            detail: dict[str, Any] = {
                "indicator": ind.code,
                "name_zh": ind.name_zh,
                "unit": ind.unit,
                "value": _r(x[i]),
                "rule": rule.code,
            }
            if rule.code == "late":
                detail["due_on"] = due.iat[i].date().isoformat() if pd.notna(due.iat[i]) else None
                detail["first_submitted"] = (
                    submitted.iat[i].date().isoformat() if pd.notna(submitted.iat[i]) else None
                )
            if rule.indicator == "filing_inconsistent":
                detail["ytd_falls"] = int(falls[i])
                detail["capital_mismatch"] = bool(mismatch[i])
            msg_zh.append(f"{rule.name_zh}：{ind.name_zh} {fmt_value(x[i], ind.unit)}")
            msg_en.append(f"{rule.name_en}: {ind.name_en} {fmt_value_en(x[i], ind.unit)}")
            evidence.append(detail)
        frames.append(
            _frame(
                {
                    "row": hit,
                    "institution_id": rows["institution_id"].to_numpy(np.int64)[hit],
                    "pq": rows["pq"].to_numpy(np.int64)[hit],
                    "family": family.value,
                    "code": rule.code,
                    "level": level[hit],
                    "value": x[hit],
                    "threshold": min(t for t, _ in rule.thresholds),
                    "message_zh": msg_zh,
                    "message_en": msg_en,
                    "evidence": evidence,
                    "kind": "",
                    "usage": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else _empty()


def period_bounds(first: date, last: date) -> tuple[int, int]:
    return pq_of(first), pq_of(last)


__all__ = [
    "LEVEL_RANK",
    "Level",
    "LimitRule",
    "RuleSet",
    "SignalSettings",
    "evaluate_filing",
    "evaluate_limits",
    "evaluate_peers",
    "evaluate_trends",
    "fmt_value",
    "load_rules",
    "load_signal_settings",
    "parse_rules",
    "parse_signals",
    "peer_bands",
]
