"""Pages speak the user's language: audit details in words, names instead of codes, no escapes."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from qiantang.audit import service as audit
from qiantang.earlywarning.models import SignalFamily
from qiantang.web import i18n


def test_audit_detail_reads_as_words_with_names_not_codes():
    import qiantang.models  # noqa: F401  (every domain registers the names of its codes)

    detail = {
        "level": "orange",
        "owner": "district",
        "district_code": "330106",
        "to": "pending",
        "kind": "scorecard",
    }
    areas = {"330106": "西湖区"}
    text = audit.detail_text(detail, areas=areas)
    assert text == "预警等级：橙色；办理层级：区县；区县：西湖区；新状态：待核实；模型类型：评分卡"
    token = i18n.set_locale("en")
    try:
        pairs = dict(audit.describe_detail(detail, areas={"330106": "Xihu District"}))
    finally:
        i18n._current.reset(token)
    assert (
        pairs["District"] == "Xihu District"
        and pairs["State after"] == "To verify"
        and pairs["Model type"] == "Scorecard"
    )


def _binned(name, kind, label, splits=(), groups=(), points=()):
    from qiantang.credit.scorecard import BinnedFeature

    return BinnedFeature(
        name, kind, label, list(splits), [list(g) for g in groups], [], [], [], 0.0, "", "", 0.0, list(points)
    )


def test_credit_reasons_are_plain_words_with_percentages_and_names():
    from qiantang.credit.reasons import scorecard_text

    debt = _binned("debt_ratio", "numeric", "资产负债率", splits=[0.5, 0.9012], points=[60, 40, 10, 30])
    assert scorecard_text(debt, 2, 50.0, zh=True) == "资产负债率偏高（90.1% 及以上，较最优一档少 50 分）"
    assert (
        scorecard_text(debt, 1, 20.0, zh=False)
        == "Debt ratio is high: 50% to 90.1% (20 points below the best band)"
    )
    current = _binned("current_ratio", "numeric", "流动比率", splits=[1.0664, 1.284], points=[10, 20, 60, 30])
    text = scorecard_text(current, 1, 40.0, zh=True)
    assert text == "流动比率偏低（1.07 至 1.28，较最优一档少 40 分）"
    industry = _binned(
        "industry_section", "categorical", "行业门类", groups=[["C", "F"], ["I"]], points=[5, 40, 20]
    )
    assert (
        scorecard_text(industry, 0, 35.0, zh=True)
        == "行业门类为「制造业、批发和零售业」（较最优一组少 35 分）"
    )
    assert "Manufacturing" in scorecard_text(industry, 0, 35.0, zh=False)
    tiny = _binned("x", "numeric", "x", splits=[0.001264], points=[1, 2, 0])
    assert tiny.labels() == ["低于 0.00126", "0.00126 及以上", "缺失/未知"]


def test_rating_reasons_and_alert_summaries_in_english():
    from qiantang.earlywarning.models import summary_en
    from qiantang.earlywarning.rating import reason_en

    assert reason_en("资本：净资产/注册资本 102.25%（子项得分75，拉低总分2.5分）") == (
        "Capital: Net assets / registered capital 102.25% (item score 75, lowers the total by 2.5 points)"
    )
    evidence = [{"message_zh": "甲", "message_en": "Net assets 45.71% of registered capital"}]
    summary = summary_en("监管指标越限：甲等3项（本次预警期间最高为红色，见于2025Q2）", "limit", evidence)
    assert summary.endswith("and 2 more (worst during this alert: Red, in 2025Q2)")
    assert not re.search(r"[\u4e00-\u9fff]", summary)


def test_early_warning_english_reads_as_english():
    """One quarter is "1 quarter"; a rating alert says "Risk rating" once; a change of a percentage is in
    percentage points; reasons joined by "; " go on in lower case; labels take ": " not "："."""
    from qiantang import formatting
    from qiantang.earlywarning.models import message_en, summary_en
    from qiantang.web import i18n

    rating = [{"message_zh": "风险评级橙色（44.8分）", "message_en": "Risk rating Orange (score 44.8)"}]
    assert (
        summary_en("风险评级：风险评级橙色（44.8分）", "rating", rating) == "Risk rating Orange (score 44.8)"
    )
    moved = "Overdue (forfeited) share moved +17.12 since last quarter (12.24% → 29.37%)"
    assert message_en(moved) == (
        "Overdue (forfeited) share rose 17.12 percentage points since last quarter (12.24% → 29.37%)"
    )
    token = i18n.set_locale("en")
    try:
        assert formatting.quarters_count(1) == "1 quarter" and formatting.quarters_count(3) == "3 quarters"
        q4 = date(2025, 12, 31)
        assert formatting.fmt_quarter_span(q4, q4) == "2025 Q4"
        assert formatting.fmt_quarter_span(date(2025, 6, 30), q4) == "2025 Q2–2025 Q4"
        reasons = ["Asset quality: overdue share 43.66%", "Earnings: return on assets -52.78%", "LPR cap"]
        assert formatting.join_clauses(reasons) == (
            "Asset quality: overdue share 43.66%; earnings: return on assets -52.78%; LPR cap"
        )
        assert formatting.colon() == ": " and formatting.list_words(["Collapsed", "Dishonest debtor"]) == (
            "Collapsed, Dishonest debtor"
        )
    finally:
        i18n._current.reset(token)
    assert formatting.quarters_count(1) == "1 个季度" and formatting.colon() == "："
    assert formatting.join_clauses(["甲", "乙"]) == "甲；乙"


def test_trend_jumps_of_a_percentage_are_stored_in_percentage_points(db):
    from qiantang.earlywarning.models import EwSignal, SignalFamily

    jumps = db.scalars(
        select(EwSignal.message_en).where(EwSignal.family == SignalFamily.TREND, EwSignal.code.like("jump:%"))
    ).all()
    assert jumps
    assert not any(" moved " in m for m in jumps)
    assert any("percentage points since last quarter" in m for m in jumps if "%" in m)


def test_alert_inbox_and_case_pages_in_english_have_no_plural_slips_or_doubled_family(clients, db):
    from qiantang.cases.models import Case
    from qiantang.earlywarning.models import Alert

    c = clients.as_user("admin")
    c.cookies.set("lang", "en")
    inbox = c.get("/early-warning/alerts?family=rating").text + c.get("/early-warning/alerts").text
    assert not re.search(r"(?<!\d)1 quarters", inbox) and "Risk rating: Risk rating" not in inbox
    assert not re.search(r"(\d{4}Q\d)–\1\b", inbox)  # one quarter named once
    case_id = db.scalar(
        select(Case.id)
        .join(Alert, Alert.id == Case.alert_id)
        .where(Alert.family == SignalFamily.RATING)
        .limit(1)
    )
    page = c.get(f"/cases/{case_id}").text
    assert "Risk rating: Risk rating" not in page and "子项得分" not in page  # reasons in English too
    assert not re.search(r"[A-Za-z)]\s*：", re.sub(r"<[^>]+>", "", page))  # no full-width colon after English
