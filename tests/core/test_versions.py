"""Pages name the version of the data, rules or model behind a result in words (qiantang.versions)."""

from __future__ import annotations

import re
import tomllib
from importlib import resources

import pytest

from qiantang.versions import describe_version
from qiantang.web import i18n
from qiantang.web.templating import environment


def test_a_version_code_in_words_with_its_date_in_both_languages():
    from qiantang.fundraising.index import config

    code = config().version  # the version the data file holds: named with its effective date
    year, number = re.search(r"(\d{4})\.(\d+)$", code).groups()
    zh, en = describe_version(code, zh=True), describe_version(code, zh=False)
    assert zh.startswith(f"非法集资风险指数 {year} 年第 {number} 版，") and zh.endswith("起施行")
    assert en.startswith(f"Fundraising risk index, {year} edition {number}, in force from ")
    assert code not in zh and code not in en


def test_superseded_composite_model_and_unknown_versions():
    assert (
        describe_version("fr-index-2025.1", zh=True) == "非法集资风险指数 2025 年第 1 版"
    )  # no longer in the file
    assert describe_version("ind-2026.2|rules-2026.1", zh=False) == (
        "Indicator definitions, 2026 edition 2; Regulatory limit rules, 2026 edition 1"
    )
    assert (
        describe_version("ind-2026.2|rules-2026.1", zh=True)
        == "预警指标口径 2026 年第 2 版；监管指标规则 2026 年第 1 版"
    )
    assert describe_version(3, zh=True) == "第 3 版" and describe_version(3, zh=False) == "version 3"
    assert describe_version("2025.1", zh=False) == "2025 edition 1"
    assert describe_version(None) == "—"
    assert describe_version("odd-thing") == "odd-thing"  # unknown: shown as it is, never a wrong name
    assert describe_version("cases-policy-1", zh=False) == "Case-handling policy, version 1"
    assert describe_version("odd-1") == "odd-1"


def test_matching_uses_the_shared_wording():
    from qiantang.matching import engine

    assert engine.describe_version("ranking-2026.1", zh=True) == describe_version("ranking-2026.1", zh=True)


def test_the_version_words_filter_follows_the_page_language():
    template = environment().from_string("{{ code | version_words }}")
    assert template.render(code="kw-2025.9") == "特征词词库 2025 年第 9 版"
    token = i18n.set_locale("en")
    try:
        assert template.render(code="kw-2025.9") == "Keyword dictionary, 2025 edition 9"
    finally:
        i18n._current.reset(token)


POLICY_FILES = [
    ("qiantang.fundraising", "index.toml"),
    ("qiantang.fundraising", "keywords.toml"),
    ("qiantang.fundraising", "watch.toml"),
    ("qiantang.fundraising", "supervisors.toml"),
    ("qiantang.earlywarning", "rules.toml"),
    ("qiantang.earlywarning", "signals.toml"),
    ("qiantang.earlywarning", "rating.toml"),
]


@pytest.mark.parametrize(("package", "name"), POLICY_FILES)
def test_policy_data_files_say_their_source_and_effective_date(package, name):
    with (resources.files(package) / "data" / name).open("rb") as fh:
        doc = tomllib.load(fh)
    assert doc["version"] and hasattr(doc["effective"], "isoformat")
    assert re.search(r"[\u4e00-\u9fff]", doc["source_zh"])
    assert doc["source_en"] and not re.search(r"[\u4e00-\u9fff]", doc["source_en"])
    assert describe_version(doc["version"], zh=True).endswith(f"{doc['effective'].isoformat()} 起施行")
