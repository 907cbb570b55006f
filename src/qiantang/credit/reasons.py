"""Reason codes in plain Chinese.

Scorecard: for each feature, the points a record loses against the feature's best bin; the four
largest losses are the reasons. The text says which way the value lies from the best bin (偏高/偏低),
the bin, and the points lost. LightGBM: the TreeSHAP contribution of each feature to the log-odds of
bad, shown as the points it costs at the model's scaling.

Stored reasons are compact codes — ``{"feature", "bin", "points_lost"}`` (scorecard) or ``{"feature",
"shap", "points_lost"}`` (LightGBM) — and get their words from the model version that produced them
(``describe_stored``). For batch scoring every (feature, bin) code of a scorecard is a fixed JSON
fragment, so a million rows are written by joining precomputed strings (``ReasonFragments``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from qiantang.credit.features import FEATURE_EN, PERCENT_FEATURES
from qiantang.credit.scorecard import BinnedFeature, ScorecardModel
from qiantang.formatting import fmt_sig
from qiantang.standards.industry import section_name
from qiantang.standards.sme_size import SizeClass
from qiantang.web.i18n import is_zh


def _direction(b: BinnedFeature, k: int) -> int:
    """How bin ``k`` of a numeric feature lies from its best bin: +1 above it, -1 below it."""
    best = int(np.argmax(b.points[:-1])) if len(b.points) > 1 else 0
    return 1 if k > best else -1


def _feature_name(b: BinnedFeature, zh: bool) -> str:
    name = b.label or b.name
    return name if zh else FEATURE_EN.get(b.name, name)


def _edge(b: BinnedFeature, x: float) -> str:
    """A bin edge as people read it: a percentage for ratios kept as fractions, plain digits otherwise."""
    if b.name in PERCENT_FEATURES:
        return f"{fmt_sig(x * 100)}%"
    return fmt_sig(x)


def _band(b: BinnedFeature, k: int, zh: bool) -> str:
    """Bin ``k`` of a numeric feature in words ("1.07 至 1.28", "低于 5%"), never in interval notation."""
    return b.labels(zh=zh, fmt=lambda x: _edge(b, x))[k]


# Category values of the enterprise features in English (the data holds them in Chinese).
_CATEGORY_EN = {"是": "yes", "否": "no", "上市": "listed", "挂牌": "quoted (NEEQ)", "未上市": "not listed"}


def _category(b: BinnedFeature, value: str, zh: bool) -> str:
    """A category's name: an industry section's name rather than its letter, a size class's name."""
    if b.name == "industry_section" and section_name(value, zh=zh):
        return section_name(value, zh=zh)
    if b.name == "size_class" and value in {s.value for s in SizeClass}:
        return SizeClass(value).zh if zh else value
    return value if zh else _CATEGORY_EN.get(value, value)


def _group(b: BinnedFeature, k: int, zh: bool) -> str:
    group = [_category(b, v, zh) for v in b.groups[k]]
    sep = "、" if zh else ", "
    if any(sep.strip() in g for g in group):  # names that hold the separator themselves ("农、林、牧、渔业")
        sep = "；" if zh else "; "
    if len(group) > 6:
        more = f" 等 {len(group)} 类" if zh else f" and {len(group) - 6} more"
        return sep.join(group[:6]) + more
    return sep.join(group)


def scorecard_text(b: BinnedFeature, k: int, lost: float, *, zh: bool | None = None) -> str:
    """Why a record lost points on a feature, in plain words (Chinese, or English when ``zh`` is False)."""
    zh = is_zh() if zh is None else zh
    name = _feature_name(b, zh)
    if k == b.n_bins - 1:
        if zh:
            return f"{name}缺失或无法计算，按“缺失/未知”计分（较最优一档少 {lost:.0f} 分）"
        return f"{name} is missing or not computable; scored as unknown ({lost:.0f} points below the best)"
    if b.kind == "numeric":
        up = _direction(b, k) > 0
        if zh:
            return f"{name}{'偏高' if up else '偏低'}（{_band(b, k, zh)}，较最优一档少 {lost:.0f} 分）"
        return (
            f"{name} is {'high' if up else 'low'}: {_band(b, k, zh)} ({lost:.0f} points below the best band)"
        )
    if zh:
        return f"{name}为「{_group(b, k, zh)}」（较最优一组少 {lost:.0f} 分）"
    return f"{name} is “{_group(b, k, zh)}” ({lost:.0f} points below the best group)"


def scorecard_reason(b: BinnedFeature, k: int) -> dict[str, Any]:
    lost = float(max(b.points) - b.points[k])
    return {
        "feature": b.name,
        "label": b.label or b.name,
        "bin": b.labels()[k],
        "missing_bin": k == b.n_bins - 1,
        "points_lost": round(lost, 1),
        "text": scorecard_text(b, k, lost),
    }


def lightgbm_text(label: str, value: Any, lost: float, *, zh: bool | None = None) -> str:
    zh = is_zh() if zh is None else zh
    if value is None:
        shown = "缺失" if zh else "missing"
    else:
        shown = fmt_sig(value, 4) if isinstance(value, float) else str(value)
    if zh:
        return f"{label}（{shown}）推高违约风险（相当于少 {lost:.0f} 分）"
    return f"{label} ({shown}) raises the default risk (worth {lost:.0f} points)"


def describe(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the Chinese text to reasons from ``model.reasons`` (scorecard or LightGBM)."""
    out = []
    for r in reasons:
        if "text" in r:
            out.append(r)
        elif "shap" in r:
            out.append({**r, "text": lightgbm_text(r["label"], r.get("value"), r["points_lost"])})
        else:
            out.append(r)
    return out


def scorecard_reasons(model: ScorecardModel, X, *, top: int) -> list[list[dict[str, Any]]]:
    """Reasons with text for a few records (the API and the report)."""
    used = model.used
    idx = model.bin_indices(X)
    out = []
    for i in range(len(X)):
        losses = [(max(b.points) - b.points[idx[i, j]], j) for j, b in enumerate(used)]
        losses.sort(key=lambda t: (-t[0], t[1]))
        row = []
        for lost, j in losses[:top]:
            if lost <= 1e-9:
                continue
            reason = scorecard_reason(used[j], int(idx[i, j]))
            value = X[used[j].name].iloc[i]
            reason["value"] = (
                None
                if value is None or (isinstance(value, float) and np.isnan(value))
                else (round(float(value), 6) if isinstance(value, int | float | np.floating) else str(value))
            )
            row.append(reason)
        out.append(row)
    return out


class ReasonFragments:
    """Precomputed JSON text of every (feature, bin) reason of a scorecard, for batch scoring."""

    def __init__(self, model: ScorecardModel):
        self.used = model.used
        self.best = np.array([max(b.points) for b in self.used]) if self.used else np.zeros(0)
        self.offsets = np.cumsum([0] + [b.n_bins for b in self.used])
        fragments = []
        for b in self.used:
            for k in range(b.n_bins):
                code = {
                    "feature": b.name,
                    "bin": k,
                    "points_lost": round(float(max(b.points) - b.points[k]), 1),
                }
                fragments.append(json.dumps(code, ensure_ascii=False, separators=(",", ":")))
        self.fragments = np.array([*fragments, ""], dtype=object)

    def json_rows(self, idx: np.ndarray, *, top: int) -> np.ndarray:
        """Reasons JSON per row from the (n, features) bin-index matrix."""
        n, p = idx.shape
        if p == 0:
            return np.full(n, "[]", dtype=object)
        points = np.empty(idx.shape, dtype=np.float64)
        for j, b in enumerate(self.used):
            points[:, j] = np.asarray(b.points, dtype=np.float64)[idx[:, j]]
        loss = (self.best[None, :] - points).astype(np.float64) - 1e-7 * np.arange(p)[
            None, :
        ]  # ties: first feature
        del points
        k = min(top, p)
        part = np.argpartition(-loss, k - 1, axis=1)[:, :k] if p > k else np.tile(np.arange(p), (n, 1))
        part_loss = np.take_along_axis(loss, part, axis=1)
        order = np.argsort(-part_loss, axis=1, kind="stable")
        top_j = np.take_along_axis(part, order, axis=1)
        top_loss = np.take_along_axis(part_loss, order, axis=1)
        codes = self.offsets[top_j] + np.take_along_axis(idx, top_j, axis=1)
        codes = np.where(top_loss + 1e-7 * top_j > 1e-9, codes, len(self.fragments) - 1)
        frag = self.fragments[codes]
        out = np.full(n, "[", dtype=object)
        first = np.ones(n, dtype=bool)
        for r in range(k):
            piece = frag[:, r]
            has = piece != ""
            sep = np.where(first | ~has, "", ",").astype(object)
            out = out + sep + piece
            first &= ~has
        return out + "]"


def lightgbm_codes(model, X, *, top: int) -> np.ndarray:
    """Compact reasons JSON per row of a LightGBM or blend model (contributions), vectorised over rows."""
    contrib = model.logit_contributions(X)
    factor = model.params.scaling.factor
    n, p = contrib.shape
    k = min(top, p)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(contrib, order, axis=1)
    names = [f.name for f in model.features]
    out = np.empty(n, dtype=object)
    for i in range(n):
        parts = [
            f'{{"feature":"{names[j]}","shap":{v:.4f},"points_lost":{v * factor:.1f}}}'
            for j, v in zip(order[i], values[i], strict=True)
            if v > 1e-9
        ]
        out[i] = "[" + ",".join(parts) + "]"
    return out


def describe_stored(reasons: list[dict[str, Any]], model) -> list[dict[str, Any]]:
    """Words for stored reason codes, from the model version that scored them."""
    out = []
    bins = {b.name: b for b in getattr(model, "bins", [])}
    labels = {f.name: (f.label or f.name) for f in model.features}
    for r in reasons or []:
        if "text" in r:
            out.append(r)
            continue
        name = r.get("feature", "")
        if "bin" in r and name in bins:
            b = bins[name]
            k = int(r["bin"])
            if 0 <= k < b.n_bins:
                out.append({**scorecard_reason(b, k), "points_lost": r.get("points_lost")})
                continue
        lost = float(r.get("points_lost") or 0.0)
        label = labels.get(name, name) if is_zh() else FEATURE_EN.get(name, labels.get(name, name))
        out.append({**r, "label": label, "text": lightgbm_text(label, r.get("value"), lost)})
    return out


__all__ = [
    "ReasonFragments",
    "describe",
    "describe_stored",
    "lightgbm_codes",
    "lightgbm_text",
    "scorecard_reason",
    "scorecard_reasons",
    "scorecard_text",
]
