"""GB/T 2260 county-level codes of 杭州市 (330100), current and historical, with validity dates.

Facts: docs/reference/standards.md §2 (codes ✅; the 2015 and 2017 dates ❓). Official source to
re-verify: 民政部 县级以上行政区划代码 (xzqh.mca.gov.cn), not reachable when this was written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

HANGZHOU_CODE = "330100"

# 浙江省人民政府 notice dated 2021-03-11, made public 2021-04-09 when the new districts were set up ✅.
REDIVISION_2021 = date(2021, 4, 9)
# ❓ The reference gives only "~2015" and "~2017"; these days are unverified.
FUYANG_DISTRICT_FROM = date(2015, 2, 19)
LINAN_DISTRICT_FROM = date(2017, 8, 18)

_NOTE_2021 = (
    "2021 年行政区划调整：浙江省人民政府通知落款日期 2021-03-11，2021-04-09 公布并设立新区；"
    "本表以 2021-04-09 为生效日。"
)
_NOTE_TERRITORY = "代码未变但 2021-04-09 起辖区调整：此前数据与现辖区不可直接比较。"
_NOTE_FUYANG = "❓ 撤市设区年份约为 2015 年，具体日期 2015-02-19 未经核实。"
_NOTE_LINAN = "❓ 撤市设区年份约为 2017 年，具体日期 2017-08-18 未经核实。"


@dataclass(frozen=True)
class AdminArea:
    """One county-level unit; valid_from/valid_to are inclusive, None means open-ended or unrecorded."""

    code: str
    name_zh: str
    name_en: str
    kind: str  # "区", "县" or "县级市"
    parent_code: str
    valid_from: date | None
    valid_to: date | None
    successor_codes: tuple[str, ...]
    territory_changed_on: date | None
    note: str

    @property
    def is_current(self) -> bool:
        """Whether the code is still in use (no end date)."""
        return self.valid_to is None

    def valid_on(self, on: date) -> bool:
        """Whether the code was in use on the given day."""
        started = self.valid_from is None or self.valid_from <= on
        not_ended = self.valid_to is None or on <= self.valid_to
        return started and not_ended


def _area(
    code: str,
    name_zh: str,
    name_en: str,
    kind: str = "区",
    *,
    valid_from: date | None = None,
    valid_to: date | None = None,
    successors: tuple[str, ...] = (),
    territory_changed_on: date | None = None,
    note: str = "",
) -> AdminArea:
    """Build an AdminArea under 杭州市."""
    return AdminArea(
        code,
        name_zh,
        name_en,
        kind,
        HANGZHOU_CODE,
        valid_from,
        valid_to,
        successors,
        territory_changed_on,
        note,
    )


_DAY = timedelta(days=1)

# The 13 current units ✅ (two independent public code files agree). valid_from is recorded only where
# the reference gives the creation; older units carry None.
_CURRENT = (
    _area("330102", "上城区", "Shangcheng District", territory_changed_on=REDIVISION_2021,
          note=_NOTE_TERRITORY + "2021 年并入原江干区（下沙、白杨街道除外）。" + _NOTE_2021),
    _area("330105", "拱墅区", "Gongshu District", territory_changed_on=REDIVISION_2021,
          note=_NOTE_TERRITORY + "2021 年并入原下城区。" + _NOTE_2021),
    _area("330106", "西湖区", "Xihu District"),
    _area("330108", "滨江区", "Binjiang District"),
    _area("330109", "萧山区", "Xiaoshan District", territory_changed_on=REDIVISION_2021,
          note=_NOTE_TERRITORY + "河庄、义蓬、新湾、临江、前进 5 个街道 2021 年划入钱塘区。" + _NOTE_2021),
    _area("330110", "余杭区", "Yuhang District", territory_changed_on=REDIVISION_2021,
          note=_NOTE_TERRITORY + "临平、东湖、南苑、星桥、运河、乔司、崇贤街道和塘栖镇 2021 年划出设临平区。"
          + _NOTE_2021),
    _area("330111", "富阳区", "Fuyang District", valid_from=FUYANG_DISTRICT_FROM, note=_NOTE_FUYANG),
    _area("330112", "临安区", "Lin'an District", valid_from=LINAN_DISTRICT_FROM, note=_NOTE_LINAN),
    _area("330113", "临平区", "Linping District", valid_from=REDIVISION_2021,
          note="由原余杭区临平、东湖、南苑、星桥、运河、乔司、崇贤街道和塘栖镇组成。" + _NOTE_2021),
    _area("330114", "钱塘区", "Qiantang District", valid_from=REDIVISION_2021,
          note="由原江干区下沙、白杨街道和萧山区河庄、义蓬、新湾、临江、前进街道组成。" + _NOTE_2021),
    _area("330122", "桐庐县", "Tonglu County", "县"),
    _area("330127", "淳安县", "Chun'an County", "县"),
    _area("330182", "建德市", "Jiande (county-level city)", "县级市"),
)  # fmt: skip

# Historical codes to accept on legacy data: codes ✅, dates as noted. Each ends the day before its
# successor starts.
_HISTORICAL = (
    _area("330103", "下城区", "Xiacheng District", valid_to=REDIVISION_2021 - _DAY, successors=("330105",),
          note="2021 年撤销，并入拱墅区。" + _NOTE_2021),
    _area("330104", "江干区", "Jianggan District", valid_to=REDIVISION_2021 - _DAY,
          successors=("330102", "330114"),
          note="2021 年撤销：下沙、白杨街道划入钱塘区，其余并入上城区。" + _NOTE_2021),
    _area("330183", "富阳市", "Fuyang (county-level city)", "县级市", valid_to=FUYANG_DISTRICT_FROM - _DAY,
          successors=("330111",), note="撤市设区为富阳区。" + _NOTE_FUYANG),
    _area("330185", "临安市", "Lin'an (county-level city)", "县级市", valid_to=LINAN_DISTRICT_FROM - _DAY,
          successors=("330112",), note="撤市设区为临安区。" + _NOTE_LINAN),
)  # fmt: skip

AREAS: tuple[AdminArea, ...] = tuple(sorted(_CURRENT + _HISTORICAL, key=lambda a: a.code))
CURRENT_CODES: tuple[str, ...] = tuple(a.code for a in AREAS if a.is_current)
_BY_CODE = {a.code: a for a in AREAS}


@dataclass(frozen=True)
class AreaCheck:
    """The outcome of checking one area code; ok=False rejects it, warning=True asks for review."""

    code: str
    ok: bool
    current_codes: tuple[str, ...]
    message: str
    warning: bool = False


def _normalise(code: str) -> str:
    """Strip and convert full-width digits."""
    return unicodedata.normalize("NFKC", code).strip()


def get_area(code: str) -> AdminArea:
    """The unit with this code; KeyError (Chinese message) if it is not a known 杭州 code."""
    try:
        return _BY_CODE[_normalise(code)]
    except KeyError:
        raise KeyError(f"未知的杭州市区县行政区划代码：{code}") from None


def areas_valid_on(on: date) -> list[AdminArea]:
    """The units whose code was in use on the given day, in code order."""
    return [a for a in AREAS if a.valid_on(on)]


def is_current_code(code: str) -> bool:
    """Whether the code is one of the 13 current units."""
    return _normalise(code) in CURRENT_CODES


def current_successors(code: str) -> tuple[str, ...]:
    """The current code(s) covering this code's territory (a current code maps to itself)."""
    area = get_area(code)
    if area.is_current:
        return (area.code,)
    # Follow chains in case a successor itself is later abolished.
    return tuple(dict.fromkeys(c for s in area.successor_codes for c in current_successors(s)))


def _describe(codes: tuple[str, ...]) -> str:
    """'330102 上城区、330114 钱塘区'."""
    return "、".join(f"{c} {_BY_CODE[c].name_zh}" for c in codes)


def _date_warnings(area: AdminArea, on: date) -> list[str]:
    """Warnings about using the code for a record dated `on`."""
    warnings = []
    if not area.valid_on(on):
        span = f"{area.valid_from or '…'} 至 {area.valid_to or '今'}"
        warnings.append(f"{area.code} {area.name_zh} 在 {on} 不是有效代码（有效期 {span}）")
    if area.territory_changed_on and on < area.territory_changed_on:
        warnings.append(
            f"{area.code} {area.name_zh} 的辖区自 {area.territory_changed_on} 起调整，"
            "此前数据的辖区与现在不同"
        )
    return warnings


def check_area_code(code: str, on: date | None = None) -> AreaCheck:
    """Check a county-level code (optionally for a record dated `on`) and map it to current codes."""
    normalised = _normalise(code)
    if len(normalised) != 6 or not normalised.isascii() or not normalised.isdigit():
        return AreaCheck(normalised, False, (), f"行政区划代码应为 6 位数字，收到“{code}”")
    if normalised == HANGZHOU_CODE:
        return AreaCheck(normalised, False, (), "330100 是杭州市（地级）代码，请填写区、县（市）代码")
    if normalised not in _BY_CODE:
        return AreaCheck(normalised, False, (), f"未知的杭州市区县行政区划代码：{normalised}")
    area = _BY_CODE[normalised]
    successors = current_successors(normalised)
    warnings = (
        []
        if area.is_current
        else [f"{area.code} {area.name_zh} 是已停用的历史代码，现对应 {_describe(successors)}"]
    )
    if on is not None:
        warnings += _date_warnings(area, on)
    if warnings:
        return AreaCheck(normalised, True, successors, "；".join(warnings), warning=True)
    return AreaCheck(normalised, True, successors, f"{area.code} {area.name_zh}：现行有效代码")
