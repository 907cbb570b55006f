"""The fundraising index speaks English on English pages: dimensions, reasons, categories, keyword
classes, roles and the timeline come from data that carries both languages."""

from __future__ import annotations

import re

import pytest

from qiantang import formatting
from qiantang.fundraising.index import _FIELD, config, reason_text_en, with_english
from qiantang.fundraising.keywords import matcher
from qiantang.fundraising.models import ChangeKind, PersonRole
from qiantang.fundraising.watch import watch_config
from qiantang.web import i18n

CJK = re.compile(r"[\u3400-\u9fff]")


def test_every_dimension_tier_category_and_keyword_class_has_english():
    cfg = config()
    assert set(cfg.dimensions_en) == set(cfg.dimensions)
    assert all(en and not CJK.search(en) for en in cfg.dimensions_en.values())
    for ind in cfg.indicators:
        for tier in ind.tiers:
            assert tier.text_en and not CJK.search(_FIELD.sub("", tier.text_en).replace("“”", "")), ind.code
            assert set(_FIELD.findall(tier.text)) == set(_FIELD.findall(tier.text_en)), ind.code
    assert all(r.en and not CJK.search(r.en) for r in watch_config().rules)
    assert all(c.en and not CJK.search(c.en) for c in matcher().classes.values())
    assert all(not CJK.search(x.en) for x in [*ChangeKind, *PersonRole])


def _sample(field: str) -> str:
    if field == "kw_classes":
        return "、".join(c.zh for c in list(matcher().classes.values())[:3])
    if field.endswith("_word"):
        return "理财"
    return "12.5"


@pytest.mark.parametrize("ind", config().indicators, ids=lambda i: i.code)
def test_every_stored_reason_reads_in_english(ind):
    for tier in ind.tiers:
        values = {f: _sample(f) for f in _FIELD.findall(tier.text)}
        stored = _FIELD.sub(lambda m, v=values: v[m.group(1)], tier.text)  # as a run stores it
        english = reason_text_en(stored)
        assert english != stored and not CJK.search(re.sub(r"“[^”]*”", "", english)), (stored, english)
        assert all(v in english for f, v in values.items() if f != "kw_classes"), english
    assert reason_text_en("另一种措辞") == "另一种措辞"  # an unknown wording stays as stored


def test_the_localised_filter_picks_by_language():
    reason = with_english({"dimension": "投诉举报", "text": "近一年收到投诉3件", "evidence": ""})
    assert formatting.localised(reason, "text") == "近一年收到投诉3件"
    token = i18n.set_locale("en")
    try:
        assert formatting.localised(reason, "text") == "3 complaints in the last year"
        assert formatting.localised(reason, "dimension") == "Complaints and tips"
        assert formatting.localised({"zh": "众筹", "en": "Crowdfunding"}) == "Crowdfunding"
        assert formatting.localised({"text": "只有中文"}, "text") == "只有中文"  # no English: the Chinese
    finally:
        i18n._current.reset(token)
    assert formatting.localised({"zh": "众筹", "en": "Crowdfunding"}) == "众筹"


def test_firm_page_in_english_names_roles_categories_and_timeline(clients, db):
    from sqlalchemy import func, select

    from qiantang.fundraising.models import FirmPerson, FirmScore, ScoreRun

    run = db.scalar(select(func.max(ScoreRun.id)))
    firm = db.scalar(
        select(FirmScore.enterprise_id)
        .join(FirmPerson, FirmPerson.enterprise_id == FirmScore.enterprise_id)
        .where(FirmScore.run_id == run)
        .order_by(FirmScore.score.desc())
        .limit(1)
    )
    c = clients.as_user("admin")
    c.cookies.set("lang", "en")
    page = c.get(f"/fundraising/firms/{firm}").text
    people = page.split('data-testid="people"')[1].split("</table>")[0]
    assert re.search(r"Legal representative|Shareholder|Executive", people)
    assert not re.search(r"法定代表人|股东|高管", people)
    timeline = page.split('data-testid="timeline"')[1].split("</table>")[0]
    assert not re.search(r"<td[^>]*>(宣传文本|投诉|工商变更|资金异常|暴雷)</td>", timeline)
    assert any(name in page for name in watch_config().category_names(zh=False).values())
