"""Which firms are watched (类金融企业): by industry code and name or scope words (data/watch.toml)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from qiantang.fundraising.keywords import normalise

# Scope boilerplate that *excludes* an activity: "（未经金融等监管部门批准，不得从事向公众融资存款、融资担保、
# 代客理财等金融服务）", "不含吸收存款", "除依法须经批准的项目外". Such clauses are removed before the
# words are looked for, so a firm is not flagged for the sentence that forbids the activity.
_EXCLUDING = re.compile(r"(未经|不得|不含|禁止|严禁|除)[^，。；;,()（）]*")
_PARENS = re.compile(r"[（(][^（）()]*(未经|不得|不含|禁止|严禁|除)[^（）()]*[）)]")


@dataclass(frozen=True)
class Rule:
    category: str
    zh: str
    industry: tuple[str, ...]
    words: tuple[str, ...]
    en: str = ""


@dataclass(frozen=True)
class WatchConfig:
    version: str
    rules: tuple[Rule, ...]
    financial_words: tuple[str, ...]
    banned_scope: tuple[str, ...]

    @property
    def category_zh(self) -> dict[str, str]:
        return {r.category: r.zh for r in self.rules}

    def category_names(self, *, zh: bool) -> dict[str, str]:
        """Category code → name in the page's language."""
        return {r.category: r.zh if zh else (r.en or r.zh) for r in self.rules}


def load_watch(text: str) -> WatchConfig:
    raw = tomllib.loads(text)
    rules = tuple(
        Rule(
            r["category"],
            r["zh"],
            tuple(r.get("industry", [])),
            tuple(normalise(w) for w in r["words"]),
            r.get("en", ""),
        )
        for r in raw["rules"]
    )
    return WatchConfig(
        raw["version"],
        rules,
        tuple(normalise(w) for w in raw["financial_words"]),
        tuple(normalise(w) for w in raw["banned_scope"]),
    )


@cache
def watch_config() -> WatchConfig:
    text = (resources.files("qiantang.fundraising") / "data" / "watch.toml").read_text(encoding="utf-8")
    return load_watch(text)


def clean_scope(scope: str) -> str:
    """A business scope without its excluding clauses (see ``_EXCLUDING``)."""
    s = normalise(scope or "")
    s = _PARENS.sub("", s)
    return _EXCLUDING.sub("", s)


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def first_word(texts: pd.Series, words: tuple[str, ...]) -> pd.Series:
    """The first of ``words`` found in each text ('' when none)."""
    if not words:
        return pd.Series("", index=texts.index)
    found = texts.fillna("").str.extract(f"({_alternation(words)})", expand=False)
    return found.fillna("")


def categorise(
    names: pd.Series, scopes: pd.Series, industry_codes: pd.Series, cfg: WatchConfig | None = None
) -> pd.Series:
    """Each firm's watched category ('' when not watched); the first rule that matches wins."""
    cfg = cfg or watch_config()
    names_n = names.fillna("").map(normalise)
    scopes_n = scopes.fillna("").map(clean_scope)
    codes = industry_codes.fillna("").astype(str)
    out = np.full(len(names), "", dtype=object)
    for rule in reversed(cfg.rules):  # the first rule is applied last and wins
        hit = np.zeros(len(names), dtype=bool)
        if rule.industry:
            hit |= codes.str.startswith(rule.industry).to_numpy()
        if rule.words:
            pattern = _alternation(rule.words)
            hit |= names_n.str.contains(pattern, regex=True).to_numpy()
            hit |= scopes_n.str.contains(pattern, regex=True).to_numpy()
        out[hit] = rule.category
    return pd.Series(out, index=names.index)
