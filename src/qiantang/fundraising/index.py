"""The fundraising risk index: indicator points → dimension sub-scores → index 0–100 → grade.

Everything that changes with policy is in ``data/index.toml`` (indicators, tiers, points, weights,
grade thresholds, version). ``score_frame`` works column by column on a table of features (one row
per firm, the columns that ``features.py`` computes), so the whole city is scored in one pass, and
writes each firm's reasons in Chinese with their evidence.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from qiantang.fundraising.models import GRADE_ZH

MAX_REASONS = 8


@dataclass(frozen=True)
class Tier:
    at: float
    points: float
    text: str  # the reason in Chinese (what is stored), with {placeholders} from the features
    text_en: str = ""  # the same in English (shown on English pages, see ``reason_shown``)


@dataclass(frozen=True)
class Indicator:
    code: str
    dimension: str
    column: str
    evidence: str | None
    tiers: tuple[Tier, ...]  # ascending


@dataclass(frozen=True)
class IndexConfig:
    version: str
    lookback_days: int
    growth_days: int
    grades: dict[str, float]  # red / orange / yellow → lower bound
    dimensions: dict[str, tuple[str, float]]  # code → (zh, weight)
    indicators: tuple[Indicator, ...]
    raw: dict[str, Any]
    dimensions_en: dict[str, str] = field(default_factory=dict)  # code → English name

    def grade(self, score: float) -> str:
        for g in ("red", "orange", "yellow"):
            if score >= self.grades[g]:
                return g
        return "green"


def load_config(text: str) -> IndexConfig:
    raw = tomllib.loads(text)
    dims = {code: (spec["zh"], float(spec["weight"])) for code, spec in raw["dimensions"].items()}
    inds = []
    for spec in raw["indicators"]:
        if spec["dimension"] not in dims:
            raise ValueError(f"指标 {spec['code']} 的维度 {spec['dimension']} 未定义")
        tiers = tuple(
            sorted((Tier(float(t[0]), float(t[1]), *t[2:4]) for t in spec["tiers"]), key=lambda t: t.at)
        )
        inds.append(Indicator(spec["code"], spec["dimension"], spec["column"], spec.get("evidence"), tiers))
    grades = {g: float(raw["grades"][g]) for g in ("red", "orange", "yellow")}
    if not grades["red"] > grades["orange"] > grades["yellow"]:
        raise ValueError("等级阈值须满足 红 > 橙 > 黄")
    return IndexConfig(
        raw["version"],
        int(raw.get("lookback_days", 365)),
        int(raw.get("growth_days", 180)),
        grades,
        dims,
        tuple(inds),
        raw,
        {code: spec.get("en", spec["zh"]) for code, spec in raw["dimensions"].items()},
    )


@cache
def config() -> IndexConfig:
    text = (resources.files("qiantang.fundraising") / "data" / "index.toml").read_text(encoding="utf-8")
    return load_config(text)


class _Row(dict):
    """Formatting fields for reason texts; a missing field reads as empty, NaN as 0."""

    def __missing__(self, key: str) -> str:
        return ""


def _fmt(template: str, row: dict[str, Any]) -> str:
    clean = _Row({k: (0 if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    try:
        return template.format_map(clean)
    except (ValueError, TypeError):  # a text field where a number was expected
        return template.format_map(_Row({k: str(v) for k, v in clean.items()})).replace(":.0f", "")


def indicator_points(values: pd.Series, ind: Indicator) -> tuple[np.ndarray, np.ndarray]:
    """Points of each row and the index of the tier reached (−1: none)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = np.where(np.isnan(v), -np.inf, v)
    tier = np.full(len(v), -1, dtype=np.int64)
    for k, t in enumerate(ind.tiers):
        tier[v >= t.at] = k
    pts = np.array([t.points for t in ind.tiers] + [0.0])[tier]  # tier −1 picks the trailing 0
    return pts, tier


def score_frame(
    features: pd.DataFrame, cfg: IndexConfig | None = None, *, reasons: bool = True
) -> pd.DataFrame:
    """Sub-scores, index, grade and (optionally) reasons for every row of ``features``.

    A column an indicator needs that the table does not have counts as "not observed" (no points).
    """
    cfg = cfg or config()
    n = len(features)
    sub = {d: np.zeros(n) for d in cfg.dimensions}
    fired: list[tuple[Indicator, np.ndarray, np.ndarray]] = []
    for ind in cfg.indicators:
        if ind.column not in features:
            continue
        pts, tier = indicator_points(features[ind.column], ind)
        sub[ind.dimension] += pts
        fired.append((ind, pts, tier))
    keep = 1.0
    out = pd.DataFrame(index=features.index)
    for d, (_zh, weight) in cfg.dimensions.items():
        s = np.minimum(sub[d], 100.0)
        out[f"sub_{d}"] = s
        keep = keep * (1.0 - weight * s / 100.0)
    out["score"] = np.round(100.0 * (1.0 - keep), 1)
    bounds = cfg.grades
    out["grade"] = np.select(
        [out["score"] >= bounds["red"], out["score"] >= bounds["orange"], out["score"] >= bounds["yellow"]],
        ["red", "orange", "yellow"],
        default="green",
    )
    out["version"] = cfg.version
    if reasons:
        out["reasons"] = _reasons(features, cfg, fired)
    return out


def _reasons(features: pd.DataFrame, cfg: IndexConfig, fired) -> list[list[dict[str, str]]]:
    per_row: list[list[tuple[float, dict[str, str]]]] = [[] for _ in range(len(features))]
    records: list[dict[str, Any]] | None = None
    for ind, pts, tier in fired:
        rows = np.flatnonzero(pts > 0)
        if not len(rows):
            continue
        if records is None:
            records = features.to_dict("records")
        zh = cfg.dimensions[ind.dimension][0]
        for i in rows:
            row = records[i]
            text = _fmt(ind.tiers[tier[i]].text, row)
            ev = row.get(ind.evidence, "") if ind.evidence else ""
            ev = "" if ev is None or (isinstance(ev, float) and math.isnan(ev)) else str(ev)
            per_row[i].append((float(pts[i]), {"dimension": zh, "text": text, "evidence": ev}))
    return [[r for _, r in sorted(rs, key=lambda x: -x[0])[:MAX_REASONS]] for rs in per_row]


def grade_zh(grade: str) -> str:
    return GRADE_ZH.get(grade, grade)


# --- reasons in English ---------------------------------------------------------------------------
# Stored reasons are Chinese (``text``, ``dimension``). An English page reads them back through the
# tier they came from: each Chinese template becomes a pattern whose placeholders capture the values,
# which then fill the English template. A reason of another shape (an older wording) stays as stored.
_FIELD = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def _pattern(template: str) -> re.Pattern[str]:
    out, last = [], 0
    for m in _FIELD.finditer(template):
        out.append(re.escape(template[last : m.start()]))
        out.append(f"(?P<{m.group(1)}>.*?)")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("^" + "".join(out) + "$")


@cache
def _english(cfg_version: str) -> tuple[list[tuple[re.Pattern[str], str]], dict[str, str]]:
    cfg = config()
    pairs = [
        (_pattern(t.text), _FIELD.sub(lambda m: "{" + m.group(1) + "}", t.text_en))
        for ind in cfg.indicators
        for t in ind.tiers
        if t.text_en
    ]
    pairs.sort(key=lambda p: -len(p[0].pattern))  # the most specific wording first
    dims = {zh: cfg.dimensions_en.get(code, zh) for code, (zh, _w) in cfg.dimensions.items()}
    return pairs, dims


def _classes_en(text: str) -> str:
    from qiantang.fundraising.keywords import matcher

    names = {c.zh: c.en for c in matcher().classes.values() if c.en}
    return ", ".join(names.get(w, w) for w in text.split("、"))


def reason_text_en(text: str) -> str:
    """A stored Chinese reason in English ("Promises 14.4% a year, at or above the judicial cap …")."""
    pairs, _dims = _english(config().version)
    for pattern, english in pairs:
        m = pattern.match(text or "")
        if m:
            values = dict(m.groupdict())
            if "kw_classes" in values:
                values["kw_classes"] = _classes_en(values["kw_classes"])
            return english.format_map(_Row(values))
    return text


def dimension_en(zh: str) -> str:
    return _english(config().version)[1].get(zh, zh)


def with_english(reason: dict[str, Any]) -> dict[str, Any]:
    """A stored reason ({"dimension", "text", "evidence"}) with ``dimension_en`` and ``text_en`` beside
    (pages pick by language with the ``localised`` filter)."""
    if not isinstance(reason, dict):
        return {"text": str(reason), "text_en": str(reason), "dimension": "", "dimension_en": ""}
    return {
        **reason,
        "dimension_en": reason.get("dimension_en") or dimension_en(reason.get("dimension", "")),
        "text_en": reason.get("text_en") or reason_text_en(reason.get("text", "")),
    }
