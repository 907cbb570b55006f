"""Benchmark: the fundraising index for every watched firm, and a keyword scan of ≥ 1M text records.

Each step prints its wall time and peak memory (the process's resident set, sampled every 5 ms, above
what it held when the step began), and beside it a naive baseline in the same run:

* index — the vectorised pass (``features_as_of`` + ``score_frame`` over all watched firms) against
  a loop that filters every table for one firm at a time and scores that firm alone (run on a sample
  of firms and scaled to all of them, said so in the output);
* keyword scan — ``Matcher.scan`` (normalise, Aho–Corasick candidates, jieba only around them,
  negation) on N generated records against segmenting every whole record with jieba and looking up
  every word (no negation, no normalisation), run on a sample and scaled.

Goals (issue 15, this 2-core machine, city demo): index < 60 s; scan of 1M records < 60 s.

    python benchmarks/fundraising.py --database-url sqlite:////tmp/city.db [--texts 1000000]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from datetime import date

import jieba
import psutil

from qiantang.db import make_engine, new_session, use_engine
from qiantang.fundraising.features import features_as_of
from qiantang.fundraising.index import score_frame
from qiantang.fundraising.keywords import matcher
from qiantang.fundraising.service import data_date, load_bundle


class Peak:
    """Peak RSS above the starting RSS while the block runs (a sampling thread)."""

    def __enter__(self):
        self.proc = psutil.Process()
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return (self.peak - self.start) / 2**20


def line(label: str, p: Peak, note: str = "") -> None:
    print(f"  {label:<52} {p.seconds:8.2f} s  {p.mb:8.1f} MB  {note}")


# --- generated text records ------------------------------------------------------------------------
FIRMS = ["鑫汇", "聚恒", "盛金", "丰瑞", "泰富", "华嘉", "润宏", "诚信", "银宝", "鼎隆"]
FRAGMENTS = (
    "{f}投资咨询有限公司成立于{y}年，专注为客户提供财务规划",
    "本公司不承诺保本保收益，投资有风险，入市需谨慎",
    "年化{r}%，到期还本付息，稳赚不赔",
    "认购原始股，公司即将上市，上市后翻倍",
    "欢迎参加周末的投资者教育讲座，地点在{f}大厦{n}楼",
    "養老投資新選擇，每月返息{r}%",
    "区块链技术服务，为企业提供溯源系统开发",
    "谨防高息诱惑，远离非法集资，{f}社区宣",
    "月息{m}分，介绍亲友另有推荐奖励",
    "提供代理财务记账、税务申报服务，联系电话0571-8{n}",
    "原始股东名册已于{y}年备案",
    "公司获评年度优秀服务机构，感谢{n}位客户的信任",
    "数字资产挖矿项目，持币生息，日收益{d}%",
    "产品过往业绩不代表未来表现，业绩比较基准{b}%",
    "新店开业，全场八折，会员积分可抵现",
    "招聘客户经理{n}名，底薪加提成",
)


def make_texts(n: int, seed: int = 15) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randint(1, 3)
        parts = [
            rnd.choice(FRAGMENTS).format(
                f=rnd.choice(FIRMS),
                y=rnd.randint(2010, 2025),
                r=rnd.choice(("6", "8.5", "１２", "18", "24", "36")),
                m=rnd.randint(1, 3),
                n=rnd.randint(1, 9999),
                d=rnd.choice(("0.3", "0.5", "1")),
                b=rnd.choice(("2.8", "3.1", "3.5")),
            )
            for _ in range(k)
        ]
        out.append("，".join(parts) + "。")
    return out


def naive_scan(texts: list[str], terms: set[str]) -> int:
    tok = jieba.Tokenizer()
    tok.initialize()
    for t in terms:
        tok.add_word(t)
    hits = 0
    for text in texts:
        hits += sum(1 for w in tok.lcut(text) if w in terms)
    return hits


# --- the index, one firm at a time ----------------------------------------------------------------
def naive_index(bundle, as_of: date, firm_ids) -> int:
    """Every table filtered for one firm, the firm scored alone (what a per-firm loop would do)."""
    from qiantang.fundraising.features import Bundle

    n = 0
    for eid in firm_ids:
        one = Bundle(
            bundle.firms.loc[[eid]],
            *(
                df[df["enterprise_id"] == eid]
                for df in (
                    bundle.hits,
                    bundle.yields,
                    bundle.spread,
                    bundle.complaints,
                    bundle.changes,
                    bundle.people,
                    bundle.dishonest,
                    bundle.funds,
                    bundle.collapses,
                )
            ),
            extra=bundle.extra,
        )
        score_frame(features_as_of(one, as_of))
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--texts", type=int, default=1_000_000)
    ap.add_argument("--naive-texts", type=int, default=20_000, help="records for the naive scan")
    ap.add_argument("--naive-firms", type=int, default=200, help="firms for the per-firm loop")
    args = ap.parse_args()

    use_engine(make_engine(args.database_url))
    print("Index for every watched firm")
    with new_session() as session:
        as_of = data_date(session)
        with Peak() as p:
            bundle = load_bundle(session)
        line(f"load {len(bundle.firms):,} firms, scan {bundle.texts:,} texts", p)
    with Peak() as p:
        scored = score_frame(features_as_of(bundle, as_of))
    line(f"features + index, all {len(scored):,} firms (vectorised)", p)
    sample = list(bundle.firms.index[: args.naive_firms])
    with Peak() as q:
        naive_index(bundle, as_of, sample)
    scale = len(bundle.firms) / max(1, len(sample))
    line(
        f"per-firm loop, {len(sample):,} firms",
        q,
        f"→ ≈ {q.seconds * scale:,.1f} s for all ({q.seconds * scale / max(p.seconds, 1e-9):,.0f}× slower)",
    )

    print(f"Keyword scan ({len(matcher()):,} terms, version {matcher().version})")
    with Peak() as p:
        texts = make_texts(args.texts)
    line(f"generate {len(texts):,} records", p)
    m = matcher()
    m._segment.cache_clear()
    with Peak() as p:
        hits = negated = 0
        for t in texts:
            s = m.scan(t)
            hits += len(s.hits)
            negated += len(s.negated)
    line(f"scan {len(texts):,} records", p, f"{hits:,} hits, {negated:,} negated")
    sample_texts = texts[: args.naive_texts]
    with Peak() as q:
        naive_hits = naive_scan(sample_texts, set(m.terms))
    scale = len(texts) / max(1, len(sample_texts))
    line(
        f"naive: jieba on every whole record, {len(sample_texts):,}",
        q,
        f"{naive_hits:,} hits → ≈ {q.seconds * scale:,.1f} s for {len(texts):,}",
    )


if __name__ == "__main__":
    main()
