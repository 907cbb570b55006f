"""The keyword matcher on tricky Chinese text, and promised-yield extraction."""

from __future__ import annotations

import re

import pytest

from qiantang.fundraising.keywords import extract_yields, matcher, normalise


def terms(text: str) -> set[str]:
    return {h.term for h in matcher().scan(text).hits}


def classes(text: str) -> set[str]:
    return matcher().scan(text).classes


def test_dictionary_has_at_least_1000_terms_in_classes():
    m = matcher()
    assert len(m) >= 1000
    used = {cls for cls, _ in m.terms.values()}
    assert {"high_yield", "guaranteed", "sure_win", "original_shares", "pension", "crypto"} <= used
    assert m.version


def test_plain_hits():
    assert classes("保本保息，稳赚不赔，认购原始股，养老投资，虚拟币挖矿") >= {
        "guaranteed",
        "sure_win",
        "original_shares",
        "pension",
        "crypto",
    }


@pytest.mark.parametrize(
    "text",
    [
        "本产品不承诺保本，投资有风险",
        "我们从不承诺保本保息",
        "谨防高息诱惑，远离非法集资",
        "切勿相信稳赚不赔的宣传",
        "并非保本产品",
    ],
)
def test_negation_cancels(text):
    scan = matcher().scan(text)
    assert scan.hits == [], scan.hits
    assert scan.negated  # seen, but not counted


def test_negation_stays_in_its_clause():
    # "不" belongs to the first clause; the promise in the second still counts.
    assert "保本保息" in terms("风险不大，保本保息")
    # "不但" is not a negation
    assert {"保本", "高息"} <= terms("我们不但保本而且高息")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("原始股东名册已备案", "原始股"),
        ("提供代理财务记账服务", "理财"),
        ("保本点分析是管理会计的内容", "保本"),
        ("提高息税前利润", "高息"),
    ],
)
def test_keyword_inside_a_longer_word_is_not_matched(text, term):
    assert term not in terms(text)


def test_traditional_characters_are_normalised():
    assert {"稳赚不赔", "养老投资"} <= terms("穩賺不賠，養老投資首選")
    assert normalise("保本保息") == normalise("保本保息")


def test_full_width_digits_in_yields():
    assert normalise("年化１８％") == "年化18%"
    assert extract_yields("年化１８％，稳赚不赔") == [(18.0, "年化18%")]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("预期年化收益率高达12.5%", 12.5),
        ("月息2分，按月返息", 24.0),
        ("日息0.5%，十天回本", 182.5),
        ("年息1分", 10.0),
        ("每月收益3%", 36.0),
        ("周回报1个点", 52.0),
    ],
)
def test_yield_extraction(text, rate):
    assert [r for r, _ in extract_yields(text)] == [rate]


def test_numbers_that_are_not_yields():
    assert extract_yields("年底前完成3%的增长目标") == []
    assert extract_yields("公司成立于2019年，员工50人") == []


def test_snippet_marks_the_keyword():
    scan = matcher().scan("本公司承诺保本保息，欢迎咨询")
    assert any("【保本保息】" in h.snippet(scan.text) for h in scan.hits)


def test_snippets_are_cut_around_the_match_at_clause_breaks_in_the_texts_own_words():
    from qiantang.fundraising.keywords import SNIPPET_WIDTH, clip

    text = "论坛帖子：消费全返，推荐好友得直推奖，团队奖励丰厚，月入过万不是梦，赶快加入我们吧！" * 3
    start = text.index("团队奖励")
    snippet = clip(text, start, start + 4)
    assert "【团队奖励】" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 4 + 2 * SNIPPET_WIDTH + 4  # never the whole paragraph
    assert snippet == "…消费全返，推荐好友得直推奖，【团队奖励】丰厚，月入过万不是梦…"  # whole clauses
    yields = "政府支持项目，国资背景，零风险高回报，月息0.3%"
    assert clip(yields, 0, 6) == "【政府支持项目】，国资背景，零风险高回报…"  # not "…月息0…"
    latin = "join today guaranteed returns 保本保息 of eighteen percent every year for everyone"
    cut = clip(latin, latin.index("保本保息"), latin.index("保本保息") + 4)
    assert not re.search(r"\b(?:guarant|eightee|perce)\b", cut), cut  # no Latin word cut in two
    assert clip("第一行\n\n  保本  \n第二行", 7, 9) == "第一行 【保本】 第二行"  # whitespace as one space


def test_a_hits_snippet_keeps_the_original_wording_even_when_normalising_changes_its_length():
    raw = "㈱ＶＩＰ會員年化１８％，保本保息，詳詢客服"  # ㈱ becomes three characters when normalised
    scan = matcher().scan(raw)
    snippets = [h.snippet(raw) for h in scan.hits]
    assert any("【保本保息】" in s for s in snippets), snippets
    assert all("ＶＩＰ" in s or "vip" not in s for s in snippets)  # the text as written, not lower-cased
    assert not any("," in s for s in snippets)  # full-width commas stay full-width
