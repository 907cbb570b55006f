"""The advertising-keyword matcher: ≥ 1,000 terms in classes, on segmented Chinese text.

How a text is read (``Matcher.scan``):

1. **Normalised**: full-width forms folded (NFKC: "年化１８％" → "年化18%"), traditional characters
   mapped to simplified (a character table built once from OpenCC's ``t2s`` conversion), lower case.
2. **Candidates** are found with one Aho–Corasick pass over all terms (pyahocorasick), so a text
   without any term costs one pass and nothing else.
3. **Segmented** (jieba, with the dictionary's terms and exempt words added) only in the clauses
   that hold a candidate (cached: advertisements repeat their clauses). A term counts when its span
   starts and ends on word boundaries — "原始股" inside "原始股东" or "理财" inside "代理财务" does
   not — and when no negation word stands at most ``negation_window`` words before it in the same
   clause ("不承诺保本", "谨防高息" do not count).

Promised yields are read from the same normalised text (``extract_yields``): "年化18%", "月息2分",
"日息0.5%", annualised (月 × 12, 周 × 52, 日 × 365).
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
import tomllib
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import ahocorasick
import jieba

jieba.setLogLevel(logging.WARNING)

SNIPPET_WIDTH = 16  # characters of context on each side of a hit, at most
_BREAKS = r"，。；！？、,;!?\n\r\t：:（）()【】\[\]“”\"'…~—\s"  # clause breaks but the full stop
CLAUSE_BREAK = re.compile(f"[{_BREAKS}.]")


@dataclass(frozen=True)
class KeywordClass:
    code: str
    zh: str
    weight: float
    en: str = ""


@dataclass(frozen=True)
class Hit:
    term: str
    cls: str
    start: int  # in the normalised text
    end: int
    weight: float

    def snippet(self, text: str, width: int = SNIPPET_WIDTH) -> str:
        """The words around the hit with the term marked 【…】, in the words of ``text`` — the original
        text the scan read (positions mapped back from its normalised form) or the normalised text."""
        start, end = original_span(text, self.start, self.end)
        return clip(text, start, end, width)


_WORD = re.compile(r"[0-9a-z.%]", re.I)
# Where a snippet may be cut: the clause breaks, but not a decimal point ("1.2%").
_CUT = re.compile(f"[{_BREAKS}]|\\.(?!\\d)")


def original_span(raw: str, start: int, end: int) -> tuple[int, int]:
    """Positions in ``normalise(raw)`` as positions in ``raw`` (NFKC may turn one character into
    several: "㈱" → "(株)"); unchanged when ``raw`` is already normalised."""
    if len(normalise(raw)) == len(raw):
        return start, end
    a = b = None
    pos = 0
    for i, ch in enumerate(raw):
        nxt = pos + len(normalise(ch))
        if a is None and nxt > start:
            a = i
        if nxt >= end:
            b = i + 1
            break
        pos = nxt
    return (a if a is not None else len(raw)), (b if b is not None else len(raw))


def clip(text: str, start: int, end: int, width: int = SNIPPET_WIDTH) -> str:
    """``text[start:end]`` marked 【…】 with at most ``width`` characters of context on each side: as many
    whole clauses (cut at ，。；…) as fit, else cut between words (never inside a number or a Latin
    word), with "…" where the text goes on; whitespace and line breaks read as one space."""
    a = max(0, start - width)
    if a > 0:
        # (whole text searched: a bound would hide the digit after a decimal point from the lookahead)
        first = next((m for m in _CUT.finditer(text, a) if m.start() < start), None)
        if first:
            a = first.end()
        else:
            while a < start and _WORD.match(text[a - 1]) and _WORD.match(text[a]):
                a += 1
    b = min(len(text), end + width)
    if b < len(text):
        breaks = list(itertools.takewhile(lambda k: k <= b, (m.start() for m in _CUT.finditer(text, end))))
        if breaks and breaks[-1] > end:
            b = breaks[-1]
        else:
            while b > end and _WORD.match(text[b - 1]) and _WORD.match(text[b]):
                b -= 1
    body = ("…" if a > 0 else "") + text[a:start] + "【" + text[start:end] + "】" + text[end:b]
    body += "…" if b < len(text) else ""
    return re.sub(r"…\s+", "…", re.sub(r"\s+", " ", body)).strip()


@dataclass(frozen=True)
class Scan:
    text: str  # normalised
    hits: list[Hit]
    negated: list[Hit]  # candidates that a negation word cancelled

    @property
    def classes(self) -> set[str]:
        return {h.cls for h in self.hits}


def _data(name: str) -> str:
    return (resources.files("qiantang.fundraising") / "data" / name).read_text(encoding="utf-8")


@cache
def _t2s_table() -> dict[int, str]:
    """Traditional → simplified, character by character, from OpenCC's t2s conversion."""
    import opencc

    conv = opencc.OpenCC("t2s")
    chars = "".join(chr(c) for c in range(0x4E00, 0xA000))
    out = conv.convert(chars)
    if len(out) != len(chars):  # a phrase rule changed the length: fall back to one at a time
        return {ord(c): s for c in chars if (s := conv.convert(c)) != c and len(s) == 1}
    return {ord(c): s for c, s in zip(chars, out, strict=True) if c != s}


def normalise(text: str) -> str:
    """Full-width to half-width, traditional to simplified, lower case."""
    return unicodedata.normalize("NFKC", text).translate(_t2s_table()).lower()


class Matcher:
    def __init__(self, toml_text: str, csv_text: str) -> None:
        cfg = tomllib.loads(toml_text)
        self.version: str = cfg["version"]
        self.classes = {
            code: KeywordClass(code, spec["zh"], float(spec.get("weight", 1.0)), spec.get("en", ""))
            for code, spec in cfg["classes"].items()
        }
        self.negations = frozenset(normalise(w) for w in cfg["negations"])
        self.window = int(cfg.get("negation_window", 4))
        self.terms: dict[str, tuple[str, float]] = {}
        for row in csv.DictReader(line for line in csv_text.splitlines() if not line.startswith("#")):
            term = normalise(row["term"].strip())
            cls = row["class"].strip()
            if not term:
                continue
            if cls not in self.classes:
                raise ValueError(f"关键词“{term}”的类别 {cls} 未在 keywords.toml 中定义")
            weight = float(row["weight"]) if row.get("weight") else self.classes[cls].weight
            self.terms[term] = (cls, weight)
        self.exempt = [normalise(w) for w in cfg.get("exempt", [])]
        self._automaton = ahocorasick.Automaton()
        for term, (cls, weight) in self.terms.items():
            self._automaton.add_word(term, (term, cls, weight))
        self._automaton.make_automaton()
        self._tok = jieba.Tokenizer()
        self._tok.initialize()
        for w in self.terms:
            self._tok.add_word(w)
        for w in self.exempt:  # longer words kept whole, more strongly than the terms inside them
            self._tok.add_word(w, freq=self._tok.suggest_freq(w, False) * 10)
        for w in self.negations:
            self._tok.add_word(w)
        self._segment = lru_cache(maxsize=200_000)(self._segment_uncached)

    def __len__(self) -> int:
        return len(self.terms)

    def _segment_uncached(self, clause: str) -> tuple[frozenset[int], dict[int, bool]]:
        """Word boundaries of a clause, and for each word start whether a negation precedes it."""
        bounds = {0}
        words: list[str] = []
        starts: list[int] = []
        pos = 0
        for w in self._tok.cut(clause, HMM=False):
            starts.append(pos)
            words.append(w)
            pos += len(w)
            bounds.add(pos)
        negs = [w in self.negations for w in words]
        negated = {p: any(negs[max(0, i - self.window) : i]) for i, p in enumerate(starts)}
        return frozenset(bounds), negated

    def candidates(self, text: str) -> list[tuple[int, int, str, str, float]]:
        return [
            (end - len(term) + 1, end + 1, term, cls, weight)
            for end, (term, cls, weight) in self._automaton.iter(text)
        ]

    def scan(self, raw: str) -> Scan:
        text = normalise(raw)
        found = self.candidates(text)
        if not found:
            return Scan(text, [], [])
        hits: list[Hit] = []
        negated: list[Hit] = []
        breaks = [m.start() for m in CLAUSE_BREAK.finditer(text)]
        for start, end, term, cls, weight in found:
            k = bisect_right(breaks, start)  # the clause holding the candidate
            a = breaks[k - 1] + 1 if k else 0
            b = breaks[k] if k < len(breaks) else len(text)
            bounds, neg_before = self._segment(text[a:b])
            s, e = start - a, end - a
            if s not in bounds or e not in bounds:
                continue  # inside a longer word
            hit = Hit(term, cls, start, end, weight)
            (negated if neg_before.get(s, False) else hits).append(hit)
        # Overlapping hits (保本 and 保本保息): keep the longest of each overlapping group.
        hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[Hit] = []
        for h in hits:
            if kept and h.start < kept[-1].end:
                if h.end - h.start > kept[-1].end - kept[-1].start:
                    kept[-1] = h
                continue
            kept.append(h)
        return Scan(text, kept, negated)

    def count_classes(self, texts: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in texts:
            for h in self.scan(t).hits:
                out[h.cls] = out.get(h.cls, 0) + 1
        return out


@cache
def matcher() -> Matcher:
    return Matcher(_data("keywords.toml"), _data("keywords.csv"))


# --- promised yields ------------------------------------------------------------------------------
_PERIOD = {"年": 1, "月": 12, "周": 52, "日": 365, "天": 365, "季": 4}
_YIELD = re.compile(
    r"(?P<period>年化|年|月|周|日|天|季度?|每年|每月|每周|每日|每天|每季度?)"
    r"(?P<word>[^\d,，。；;!！?？]{0,8}?)"
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>%|个点|分|厘)"
)
_YIELD_WORDS = ("化", "息", "收益", "回报", "利", "返", "分红", "赚")


def extract_yields(raw: str) -> list[tuple[float, str]]:
    """Promised annual yields (%) and the phrase they were read from."""
    text = normalise(raw)
    out = []
    for m in _YIELD.finditer(text):
        period = m["period"].removeprefix("每")
        per_year = 1 if period == "年化" else _PERIOD[period[0]]
        words = m["period"] + m["word"]
        if not any(w in words for w in _YIELD_WORDS):
            continue  # "年底前3%" is not a yield
        num = float(m["num"])
        unit = m["unit"]
        if unit in ("%", "个点"):
            rate = num
        elif unit == "分":  # 月息2分 = 2 % a month; 年息1分 = 10 % a year
            rate = num * (10 if per_year == 1 else 1)
        else:  # 厘: 月息3厘 = 0.3 % a month; 年息5厘 = 5 % a year
            rate = num * (1 if per_year == 1 else 0.1)
        annual = rate * per_year
        if 0 < annual <= 10_000:
            out.append((round(annual, 2), m.group(0)))
    return out
