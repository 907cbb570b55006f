"""Matching needs to products: hard eligibility rules, then a ranking with reasons. Pure, vectorised.

Products and needs come as plain tables (pandas); a firm's context (size, industry, district, age,
whether it has a loan, credit grade and PD, guarantee-group risk) is joined onto its need by the
caller. Every rule is a comparison over all (need, product) pairs at once — numpy broadcasting over a
block of needs — so the whole city (10,000 needs × 2,000 products) is matched in seconds; one pair can
be explained in words (``explain``). The rules' words and switches are data (data/rules.toml), the
ranking's weights too (data/ranking.toml); both versions go with every result.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from qiantang import versions
from qiantang.formatting import fmt_money

RULE_CODES = (
    "amount_min",
    "amount_max",
    "term_min",
    "term_max",
    "size",
    "industry",
    "district",
    "age",
    "collateral",
    "rate",
    "first_loan",
    # firm-level: the fundraising monitoring's stored results (the need's firm, every product)
    "dishonest",
    "fundraising_grade",
)
FIRM_RULES = ("dishonest", "fundraising_grade")


def _doc(name: str) -> dict[str, Any]:
    with (resources.files("qiantang.matching") / "data" / name).open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class Rules:
    version: str
    text: dict[str, tuple[str, str]]  # code → (zh, en) templates
    enabled: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)  # code → the rule's basis, where given
    exclude_grades: tuple[str, ...] = ("red",)  # fundraising grades that exclude a firm


@cache
def load_rules() -> Rules:
    doc = _doc("rules.toml")
    text = {r["code"]: (r["zh"], r["en"]) for r in doc["rules"]}
    enabled = tuple(c for c in RULE_CODES if c in text and doc.get("disabled", {}).get(c) is not True)
    sources = {r["code"]: r["source"] for r in doc["rules"] if r.get("source")}
    grades = tuple(doc.get("fundraising", {}).get("exclude_grades", ["red"]))
    return Rules(doc["version"], text, enabled, sources, grades)


@dataclass(frozen=True)
class Ranking:
    version: str
    weights: dict[str, float]
    fit: dict[str, float]
    lender: dict[str, float]
    network: dict[str, float]
    collateral: dict[str, float]


@cache
def load_ranking() -> Ranking:
    doc = _doc("ranking.toml")
    return Ranking(
        doc["version"], doc["weights"], doc["fit"], doc["lender"], doc["network"], doc["collateral"]
    )


@cache
def _lpr_table() -> tuple[tuple[date, ...], tuple[float, ...]]:
    rows = sorted((r["from"], float(r["rate"])) for r in _doc("lpr.toml")["rates"])
    return tuple(d for d, _ in rows), tuple(r for _, r in rows)


def lpr_on(day: date) -> float:
    """The one-year LPR (% a year) in force on ``day`` (data/lpr.toml)."""
    days, rates = _lpr_table()
    i = bisect_right(days, day) - 1
    if i < 0:
        raise ValueError(f"no LPR known before {days[0].isoformat()}")
    return rates[i]


def describe_version(code: str, *, zh: bool = True) -> str:
    """A stored version code in words (``qiantang.versions``, the one place the wording lives)."""
    return versions.describe_version(code, zh=zh)


# --- the tables ---------------------------------------------------------------------------------
PRODUCT_COLUMNS = (
    "id",
    "institution_id",
    "min_amount",
    "max_amount",
    "min_term_months",
    "max_term_months",
    "min_spread_bp",
    "sizes",
    "industries",
    "districts",
    "min_age_years",
    "collateral",
    "first_loan_only",
)
NEED_COLUMNS = (
    "id",
    "amount",
    "term_months",
    "max_rate_pct",
    "collateral",
    "size_class",
    "industry_section",
    "district_code",
    "age_years",
    "has_loan",
    "pd",
    "group_level",
    # from the fundraising monitoring (fundraising.service.risk_flags); optional in a table
    "dishonest_since",  # date the firm was put on the 失信被执行人 list, None when not on it
    "fr_grade",  # the firm's grade in the latest fundraising scoring run, None when not scored
    "fr_scored_on",
)


def _codes(values: Sequence, vocabulary: list[str]) -> np.ndarray:
    index = {v: i for i, v in enumerate(vocabulary)}
    return np.array([index.get(v, -1) if v is not None else -1 for v in values], dtype=np.int64)


def _set_mask(lists: Sequence[Sequence[str]], vocabulary: list[str]) -> np.ndarray:
    """One row per list, one bit column per vocabulary word (an empty list: no bit set)."""
    index = {v: i for i, v in enumerate(vocabulary)}
    out = np.zeros((len(lists), max(len(vocabulary), 1)), dtype=bool)
    for r, items in enumerate(lists):
        for item in items or ():
            j = index.get(item)
            if j is not None:
                out[r, j] = True
    return out


@dataclass
class Prepared:
    """Products as arrays, with the vocabularies their lists are coded against."""

    products: pd.DataFrame
    sizes: list[str]
    sections: list[str]
    districts: list[str]
    collateral: list[str]
    size_bits: np.ndarray
    section_bits: np.ndarray
    district_bits: np.ndarray
    collateral_bits: np.ndarray


def prepare(products: pd.DataFrame, needs: pd.DataFrame) -> Prepared:
    def vocab(*columns) -> list[str]:
        words: set[str] = set()
        for col in columns:
            for v in col:
                if isinstance(v, list | tuple):
                    words.update(v)
                elif v is not None and v == v:
                    words.add(v)
        return sorted(words)

    sizes = vocab(products["sizes"], needs["size_class"])
    sections = vocab(products["industries"], needs["industry_section"])
    districts = vocab(products["districts"], needs["district_code"])
    collateral = vocab(products["collateral"], needs["collateral"])
    return Prepared(
        products.reset_index(drop=True),
        sizes,
        sections,
        districts,
        collateral,
        _set_mask(products["sizes"], sizes),
        _set_mask(products["industries"], sections),
        _set_mask(products["districts"], districts),
        _set_mask(products["collateral"], collateral),
    )


def eligibility(prep: Prepared, needs: pd.DataFrame, *, lpr: float, rules: Rules | None = None) -> dict:
    """Per rule, a (needs × products) boolean array that is True where the rule *excludes* the pair."""
    rules = rules or load_rules()
    p = prep.products
    n = needs
    amount = n["amount"].to_numpy(float)[:, None]
    term = n["term_months"].to_numpy(float)[:, None]
    out: dict[str, np.ndarray] = {}
    on = set(rules.enabled)
    if "amount_min" in on:
        out["amount_min"] = amount < p["min_amount"].to_numpy(float)[None, :]
    if "amount_max" in on:
        out["amount_max"] = amount > p["max_amount"].to_numpy(float)[None, :]
    if "term_min" in on:
        out["term_min"] = term < p["min_term_months"].to_numpy(float)[None, :]
    if "term_max" in on:
        out["term_max"] = term > p["max_term_months"].to_numpy(float)[None, :]

    def membership(values: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Excluded where the product names a list and the need's value is not in it."""
        open_to_all = ~bits.any(axis=1)  # per product
        known = values >= 0
        hit = np.zeros((len(values), bits.shape[0]), dtype=bool)
        hit[known] = bits[:, values[known]].T
        return ~(open_to_all[None, :] | hit)

    if "size" in on:
        out["size"] = membership(_codes(n["size_class"], prep.sizes), prep.size_bits)
    if "industry" in on:
        out["industry"] = membership(_codes(n["industry_section"], prep.sections), prep.section_bits)
    if "district" in on:
        out["district"] = membership(_codes(n["district_code"], prep.districts), prep.district_bits)
    if "age" in on:
        age = n["age_years"].to_numpy(float)[:, None]
        out["age"] = np.nan_to_num(age, nan=0.0) < p["min_age_years"].to_numpy(float)[None, :]
    if "collateral" in on:
        offered = _set_mask(n["collateral"], prep.collateral)
        needed = prep.collateral_bits
        overlap = offered.astype(np.uint8) @ needed.T.astype(np.uint8) > 0
        out["collateral"] = needed.any(axis=1)[None, :] & ~overlap
    if "rate" in on:
        cap = n["max_rate_pct"].to_numpy(float)[:, None]
        lowest = lpr + p["min_spread_bp"].to_numpy(float)[None, :] / 100.0
        out["rate"] = ~np.isnan(cap) & (lowest > cap + 1e-9)
    if "first_loan" in on:
        out["first_loan"] = (
            n["has_loan"].to_numpy(bool)[:, None] & p["first_loan_only"].to_numpy(bool)[None, :]
        )
    shape = (len(n), len(p))
    if "dishonest" in on:
        listed = firm_dishonest(n)
        out["dishonest"] = np.broadcast_to(listed[:, None], shape)
    if "fundraising_grade" in on:
        flagged = firm_grade_excluded(n, rules)
        out["fundraising_grade"] = np.broadcast_to(flagged[:, None], shape)
    return out


def firm_dishonest(needs: pd.DataFrame) -> np.ndarray:
    """Per need: its firm is on the 失信被执行人 list (a listing date given)."""
    if "dishonest_since" not in needs:
        return np.zeros(len(needs), dtype=bool)
    return needs["dishonest_since"].map(lambda v: v is not None and v == v).to_numpy(bool)


def firm_grade_excluded(needs: pd.DataFrame, rules: Rules) -> np.ndarray:
    """Per need: its firm's latest fundraising grade is one the rules exclude."""
    if "fr_grade" not in needs:
        return np.zeros(len(needs), dtype=bool)
    return needs["fr_grade"].isin(list(rules.exclude_grades)).to_numpy(bool)


def firm_exclusions(need: dict[str, Any], *, names=None, zh: bool = True) -> list[dict[str, str]]:
    """The firm-level rules that exclude this need's firm from every product, in words (may be empty)."""
    frame = pd.DataFrame([need])
    rules = load_rules()
    names = names or {}
    lang = 0 if zh else 1
    out = []
    if "dishonest" in rules.enabled and firm_dishonest(frame)[0]:
        out.append(
            {
                "rule": "dishonest",
                "text": rules.text["dishonest"][lang].format(since=_iso(need.get("dishonest_since"))),
                "source": rules.sources.get("dishonest", ""),
            }
        )
    if "fundraising_grade" in rules.enabled and firm_grade_excluded(frame, rules)[0]:
        grade = names.get("grade", {}).get(need["fr_grade"], need["fr_grade"])
        out.append(
            {
                "rule": "fundraising_grade",
                "text": rules.text["fundraising_grade"][lang].format(
                    grade=grade, as_of=_iso(need.get("fr_scored_on"))
                ),
                "source": rules.sources.get("fundraising_grade", ""),
            }
        )
    return out


def _iso(d) -> str:
    return d.isoformat() if hasattr(d, "isoformat") else "—"


@dataclass(frozen=True)
class Match:
    need_id: int
    product_id: int
    rank: int
    score: float


@dataclass(frozen=True)
class RunResult:
    matches: list[Match]  # the top ``top`` eligible products per need, best first
    eligible_pairs: int
    excluded_by: dict[str, int]  # pairs each rule excluded (a pair may fail several)
    rules_version: str
    ranking_version: str


COMPONENTS = ("fit", "credit", "network", "lender")


def _pair_components(
    prep: Prepared,
    needs: pd.DataFrame,
    ni: np.ndarray,
    pj: np.ndarray,
    lender_record: np.ndarray,
    ranking: Ranking,
) -> dict[str, np.ndarray]:
    """Each ranking component in [0, 1] of the (need ni[k], product pj[k]) pairs, as 1-D arrays.

    The one place the ranking's arithmetic lives: ``match_all`` gathers it on the pairs that passed
    every rule (typically a fifth of all pairs, so no work is spent on pairs never ranked) and
    ``explain`` on its single pair, so the page's reasons and the run's ranking cannot disagree.
    """
    p = prep.products
    log_amount = np.log(needs["amount"].to_numpy(float))[ni]
    log_term = np.log(needs["term_months"].to_numpy(float))[ni]
    lo_a, hi_a = np.log(p["min_amount"].to_numpy(float)), np.log(p["max_amount"].to_numpy(float))
    lo_t, hi_t = np.log(p["min_term_months"].to_numpy(float)), np.log(p["max_term_months"].to_numpy(float))

    def fit(v, lo, hi):
        """1 in the middle of [lo, hi] (on a log scale), 0 at the ends; 1 when lo == hi."""
        span = hi[pj] - lo[pj]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = 1.0 - np.abs(2.0 * (v - lo[pj]) / span - 1.0)
        return np.clip(np.where(span > 0, f, 1.0), 0.0, 1.0)

    def named(values: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """1 when the product names the firm's group, ½ when it is open to all."""
        v = values[ni]
        hit = np.zeros(len(ni), dtype=bool)
        ok = v >= 0
        hit[ok] = bits[pj[ok], v[ok]]
        return np.where(hit, 1.0, 0.5)

    # Eligibility already demands that the firm offers a security the product accepts, so "does it
    # match" would be 1 for every ranked pair. What differs is whether the firm must pledge anything:
    # a product that needs no security ranks above one that needs a pledge (data/ranking.toml).
    c = ranking.collateral
    collateral = np.where(prep.collateral_bits[pj].any(axis=1), c["pledge"], c["none_needed"])
    amount = fit(log_amount, lo_a, hi_a)
    term = fit(log_term, lo_t, hi_t)
    size = named(_codes(needs["size_class"], prep.sizes), prep.size_bits)
    industry = named(_codes(needs["industry_section"], prep.sections), prep.section_bits)
    f = ranking.fit
    fit_score = (
        f["amount"] * amount
        + f["term"] * term
        + f["size"] * size
        + f["industry"] * industry
        + f["collateral"] * collateral
    ) / sum(f.values())
    pd_ = needs["pd"].to_numpy(float)
    credit = np.where(np.isnan(pd_), 0.5, 1.0 - np.clip(pd_, 0.0, 0.25) / 0.25)[ni]
    green = ranking.network["green"]
    network = np.array(
        [ranking.network.get(v, green) if isinstance(v, str) else green for v in needs["group_level"]],
        dtype=float,
    )[ni]
    return {
        "fit": fit_score,
        "amount": amount,
        "term": term,
        "size": size,
        "industry": industry,
        "collateral": collateral,
        "credit": credit,
        "network": network,
        "lender": np.asarray(lender_record, dtype=float)[pj],
    }


def _total(parts: dict[str, np.ndarray], ranking: Ranking) -> np.ndarray:
    """The score in [0, 1]: the weighted mean of the top-level components."""
    w = ranking.weights
    return sum(w[k] * parts[k] for k in COMPONENTS) / sum(w[k] for k in COMPONENTS)


def match_all(
    products: pd.DataFrame,
    needs: pd.DataFrame,
    *,
    lpr: float,
    lender_record: np.ndarray | None = None,
    top: int = 10,
    block: int = 1024,
) -> RunResult:
    """Every need against every product, in blocks of needs: the best ``top`` eligible per need."""
    rules, ranking = load_rules(), load_ranking()
    prep = prepare(products, needs)
    record = lender_record if lender_record is not None else np.full(len(prep.products), 0.5)
    matches: list[Match] = []
    excluded = dict.fromkeys(rules.enabled, 0)
    eligible_pairs = 0
    product_ids = prep.products["id"].to_numpy()
    for start in range(0, len(needs), block):
        chunk = needs.iloc[start : start + block].reset_index(drop=True)
        fails = eligibility(prep, chunk, lpr=lpr, rules=rules)
        blocked = np.zeros((len(chunk), len(prep.products)), dtype=bool)
        for code, mask in fails.items():
            excluded[code] += int(mask.sum())
            blocked |= mask
        ni, pj = np.nonzero(~blocked)
        eligible_pairs += len(ni)
        if not len(ni):
            continue
        s = np.round(_total(_pair_components(prep, chunk, ni, pj, record, ranking), ranking), 6)
        # Best first within each need; ties by product order. ni is already sorted (row-major).
        order = np.lexsort((pj, -s, ni))
        ni, pj, s = ni[order], pj[order], s[order]
        first = np.searchsorted(ni, ni, side="left")
        rank = np.arange(len(ni)) - first + 1
        keep = rank <= top
        need_ids = chunk["id"].to_numpy()
        for i, j, r, v in zip(ni[keep], pj[keep], rank[keep], s[keep], strict=True):
            matches.append(Match(int(need_ids[i]), int(product_ids[j]), int(r), float(v)))
    return RunResult(matches, eligible_pairs, excluded, rules.version, ranking.version)


def explain(
    product: dict[str, Any],
    need: dict[str, Any],
    *,
    lpr: float,
    lender_record: float = 0.5,
    names: dict[str, dict[str, str]] | None = None,
    zh: bool = True,
) -> dict[str, Any]:
    """One pair in words: every rule that excludes it, or the score and the components behind it."""
    rules, ranking = load_rules(), load_ranking()
    products = pd.DataFrame([product])
    needs = pd.DataFrame([need])
    prep = prepare(products, needs)
    fails = eligibility(prep, needs, lpr=lpr, rules=rules)
    names = names or {}
    lang = 0 if zh else 1

    def fmt_amount(yuan: float) -> str:
        return fmt_money(yuan, zh=zh)

    def label(kind: str, value: str) -> str:
        return names.get(kind, {}).get(value, value)

    values = {
        "amount_min": {"limit": fmt_amount(product["min_amount"])},
        "amount_max": {"limit": fmt_amount(product["max_amount"])},
        "term_min": {"limit": product["min_term_months"]},
        "term_max": {"limit": product["max_term_months"]},
        "size": {
            "value": label("size", need.get("size_class") or "—"),
            "limit": "、".join(label("size", s) for s in product["sizes"]),
        },
        "industry": {"value": label("industry", need.get("industry_section") or "—")},
        "district": {"value": label("district", need.get("district_code") or "—")},
        "age": {"value": f"{need.get('age_years') or 0:.1f}", "limit": f"{product['min_age_years']:g}"},
        "collateral": {"limit": "、".join(label("collateral", c) for c in product["collateral"])},
        "rate": {
            "limit": f"{lpr + product['min_spread_bp'] / 100:.2f}%",
            "value": f"{need.get('max_rate_pct') or 0:.2f}%",
        },
        "first_loan": {},
    }
    why_not = firm_exclusions(need, names=names, zh=zh) + [
        {"rule": code, "text": rules.text[code][lang].format(**values.get(code, {}))}
        for code, mask in fails.items()
        if bool(mask[0, 0]) and code not in FIRM_RULES
    ]
    if why_not:
        return {"eligible": False, "reasons": why_not, "rules_version": rules.version}
    one = np.zeros(1, dtype=int)
    parts = _pair_components(prep, needs, one, one, np.array([lender_record]), ranking)
    total = float(_total(parts, ranking)[0])
    w = ranking.weights
    weight_sum = sum(w[k] for k in COMPONENTS)
    contributions = sorted(
        ((k, w[k] * float(parts[k][0]) / weight_sum) for k in COMPONENTS), key=lambda t: -t[1]
    )
    words = {
        "fit": (
            "金额、期限、规模、行业与担保方式的匹配程度",
            "how well amount, term, size, industry and security fit",
        ),
        "credit": ("企业信用评分（违约概率越低越高）", "the firm's credit score (higher for a lower PD)"),
        "network": ("企业所在担保圈的风险", "the risk of the firm's guarantee group"),
        "lender": (
            "该机构对同类企业的批准率与审批速度",
            "the lender's approval rate and speed for similar firms",
        ),
    }
    reasons = [
        {"component": k, "points": round(v * 100, 1), "text": words[k][lang]} for k, v in contributions
    ]
    return {
        "eligible": True,
        "score": round(total * 100, 1),
        "raw_score": total,
        "reasons": reasons,
        "rules_version": rules.version,
        "ranking_version": ranking.version,
    }
