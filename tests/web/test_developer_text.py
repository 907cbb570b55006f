"""Pages speak the user's language: audit details in words, names instead of codes, no escapes."""

from __future__ import annotations

from qiantang.audit import service as audit
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
