"""Which version of the data, rules or model a stored result came from — in words, not codes.

Every stored result keeps the version code of what produced it (``fr-index-2026.3``, ``rules-2026.1``,
``eligibility-2026.2``, the early-warning run's ``ind-2026.2|rules-2026.1|…``, a credit model's 3).
Pages, exports and messages name it through :func:`describe_version` (the Jinja filter
``version_words``), so the wording lives in one place:

    ``fr-index-2026.3`` → "非法集资风险指数 2026 年第 3 版，2026-12-01 起施行" /
    "Fundraising risk index, 2026 edition 3, in force from 2026-12-01"

The date comes from the data file's ``effective`` when the file still holds that version; a superseded
version is named without a date.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from typing import Any

# Version prefix → (package holding the data file, file or None, name in Chinese, name in English).
KINDS: dict[str, tuple[str, str | None, str, str]] = {
    # early warning
    "ind": ("qiantang.earlywarning", None, "预警指标口径", "Indicator definitions"),
    "rules": ("qiantang.earlywarning", "rules.toml", "监管指标规则", "Regulatory limit rules"),
    "signals": ("qiantang.earlywarning", "signals.toml", "异常信号设置", "Signal settings"),
    "rating": ("qiantang.earlywarning", "rating.toml", "风险评级模型", "Risk rating scorecard"),
    "ew": ("qiantang.earlywarning", None, "预警归并规则", "Alert rules"),
    # fundraising monitoring
    "fr-index": ("qiantang.fundraising", "index.toml", "非法集资风险指数", "Fundraising risk index"),
    "kw": ("qiantang.fundraising", "keywords.toml", "特征词词库", "Keyword dictionary"),
    "watch": ("qiantang.fundraising", "watch.toml", "监测范围规则", "Watched-firm rules"),
    "supervisors": (
        "qiantang.fundraising",
        "supervisors.toml",
        "行业主管部门对照表",
        "Sector supervisors",
    ),
    # case handling
    "cases-policy": ("qiantang.cases", "policy.toml", "案件办理政策", "Case-handling policy"),
    # financing matchmaking
    "eligibility": ("qiantang.matching", "rules.toml", "匹配规则", "Matching rules"),
    "ranking": ("qiantang.matching", "ranking.toml", "排序权重", "Ranking weights"),
    "matching-policy": ("qiantang.matching", "policy.toml", "对接政策", "Matchmaking policy"),
    "declines": ("qiantang.matching", "declines.toml", "拒贷原因代码表", "Decline reasons"),
    "namelists": ("qiantang.matching", "namelists.toml", "名单推送规则", "Name-list rules"),
    "pools": ("qiantang.matching", "pools.toml", "风险补偿资金池规则", "Risk-compensation pool rules"),
    "matching-stats": ("qiantang.matching", "stats.toml", "对接统计口径", "Matchmaking statistics"),
}
_CODE = re.compile(r"^(?:(?P<kind>[a-z][a-z-]*?)-)?(?:(?P<year>\d{4})\.(?P<number>\d+)|(?P<edition>\d+))$")


@cache
def _doc(package: str, file: str) -> dict[str, Any]:
    try:
        with (resources.files(package) / "data" / file).open("rb") as fh:
            return tomllib.load(fh)
    except (FileNotFoundError, ModuleNotFoundError, tomllib.TOMLDecodeError):
        return {}


def _zh_default(zh: bool | None) -> bool:
    if zh is not None:
        return zh
    from qiantang.web.i18n import is_zh

    return is_zh()


def _one(code: str, zh: bool, dated: bool = True) -> str:
    code = code.strip()
    if code.isdigit():  # a model's version number
        return f"第 {code} 版" if zh else f"version {code}"
    m = _CODE.match(code)
    if not m:
        return code or "—"
    year, number, kind = m["year"], m["number"], m["kind"]
    spec = KINDS.get(kind or "")
    if (kind and spec is None) or (m["edition"] and spec is None):
        return code  # a kind this module does not know: the code rather than a wrong name
    effective = None
    if dated and spec and spec[1]:
        doc = _doc(spec[0], spec[1])
        if doc.get("version") == code and doc.get("effective"):
            effective = doc["effective"]
    if m["edition"]:  # "cases-policy-1": numbered editions, no year
        words = f"{spec[2]} 第 {m['edition']} 版" if zh else f"{spec[3]}, version {m['edition']}"
    elif zh:
        words = f"{spec[2]} " if spec else ""
        words += f"{year} 年第 {number} 版"
    else:
        words = f"{spec[3]}, {year} edition {number}" if spec else f"{year} edition {number}"
    if not effective:
        return words
    return (
        f"{words}，{effective.isoformat()} 起施行"
        if zh
        else f"{words}, in force from {effective.isoformat()}"
    )


def describe_version(code: str | int | None, *, zh: bool | None = None) -> str:
    """A stored version code in words in the current language (``zh`` forces one).

    Several codes joined by "|" (the early-warning run's) are named one by one, without their dates.
    """
    if code is None or code == "":
        return "—"
    zh = _zh_default(zh)
    parts = [p for p in str(code).split("|") if p.strip()]
    return ("；" if zh else "; ").join(_one(p, zh, dated=len(parts) == 1) for p in parts)


def version_words(code: str | int | None) -> str:
    """The Jinja filter: ``{{ run.version | version_words }}``."""
    return describe_version(code)
