"""GB/T 2260 codes of 杭州市 (reference §2)."""

from __future__ import annotations

from datetime import date

import pytest

from qiantang.standards.areas import (
    AREAS,
    CURRENT_CODES,
    HANGZHOU_CODE,
    areas_valid_on,
    check_area_code,
    current_successors,
    get_area,
    is_current_code,
)

# The reference table, copied by hand.
REFERENCE_CURRENT = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
    "330113": "临平区",
    "330114": "钱塘区",
    "330122": "桐庐县",
    "330127": "淳安县",
    "330182": "建德市",
}
HISTORICAL = {
    "330103": ("330105",),
    "330104": ("330102", "330114"),
    "330183": ("330111",),
    "330185": ("330112",),
}


def test_thirteen_current_codes_equal_the_reference_table():
    assert len(CURRENT_CODES) == 13
    assert tuple(sorted(REFERENCE_CURRENT)) == CURRENT_CODES
    assert {c: get_area(c).name_zh for c in CURRENT_CODES} == REFERENCE_CURRENT


def test_all_areas_belong_to_hangzhou_and_are_unique():
    assert HANGZHOU_CODE == "330100"
    assert len(AREAS) == 17
    assert len({a.code for a in AREAS}) == 17
    assert all(a.parent_code == HANGZHOU_CODE for a in AREAS)


def test_kinds():
    assert get_area("330122").kind == "县"
    assert get_area("330182").kind == "县级市"
    assert get_area("330183").kind == "县级市"
    assert get_area("330106").kind == "区"


@pytest.mark.parametrize(("code", "successors"), HISTORICAL.items())
def test_historical_codes_map_to_current_successors(code, successors):
    assert not is_current_code(code)
    assert current_successors(code) == successors
    assert all(is_current_code(s) for s in successors)
    area = get_area(code)
    assert area.valid_to is not None
    # Each historical unit ends the day before its successors start.
    for successor in successors:
        start = get_area(successor).valid_from
        if start is not None:
            assert (start - area.valid_to).days == 1


def test_current_code_maps_to_itself():
    assert all(current_successors(c) == (c,) for c in CURRENT_CODES)


def test_2021_redivision_dates():
    before, after = date(2020, 12, 31), date(2021, 6, 30)
    for new in ("330113", "330114"):
        assert not get_area(new).valid_on(before)
        assert get_area(new).valid_on(after)
    assert get_area("330103").valid_on(before)
    assert not get_area("330103").valid_on(after)
    assert get_area("330103").valid_to == date(2021, 4, 8)
    assert get_area("330113").valid_from == date(2021, 4, 9)


def test_areas_valid_on_dates():
    assert [a.code for a in areas_valid_on(date(2021, 6, 30))] == list(CURRENT_CODES)
    on_2020 = {a.code for a in areas_valid_on(date(2020, 12, 31))}
    assert on_2020 == set(CURRENT_CODES) - {"330113", "330114"} | {"330103", "330104"}
    on_2016 = {a.code for a in areas_valid_on(date(2016, 1, 1))}
    assert "330111" in on_2016 and "330183" not in on_2016
    assert "330185" in on_2016 and "330112" not in on_2016


def test_unverified_dates_are_marked():
    assert "❓" in get_area("330111").note and "❓" in get_area("330183").note
    assert "❓" in get_area("330112").note and "❓" in get_area("330185").note
    assert "2021-03-11" in get_area("330113").note and "2021-04-09" in get_area("330113").note


def test_territory_changes_recorded():
    changed = {a.code for a in AREAS if a.territory_changed_on}
    assert changed == {"330102", "330105", "330109", "330110"}
    assert all(get_area(c).territory_changed_on == date(2021, 4, 9) for c in changed)


def test_english_names():
    assert get_area("330112").name_en == "Lin'an District"
    assert get_area("330182").name_en == "Jiande (county-level city)"
    assert get_area("330104").name_en == "Jianggan District"


def test_get_area_unknown_raises_chinese_key_error():
    with pytest.raises(KeyError, match="未知的杭州市区县行政区划代码"):
        get_area("330107")


def test_check_current_code():
    result = check_area_code("330106")
    assert result.ok and not result.warning
    assert result.current_codes == ("330106",)


def test_check_historical_code_warns_with_successors():
    result = check_area_code("330104")
    assert result.ok and result.warning
    assert result.current_codes == ("330102", "330114")
    assert "330102 上城区" in result.message and "330114 钱塘区" in result.message


def test_check_code_not_valid_on_date_warns():
    result = check_area_code("330113", on=date(2020, 12, 31))
    assert result.ok and result.warning
    assert "不是有效代码" in result.message
    assert not check_area_code("330113", on=date(2021, 6, 30)).warning


def test_check_territory_change_warns_on_old_records():
    result = check_area_code("330110", on=date(2020, 1, 1))
    assert result.ok and result.warning and "辖区" in result.message
    assert not check_area_code("330110", on=date(2022, 1, 1)).warning


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("330107", "未知"),
        ("110101", "未知"),
        ("33010", "6 位数字"),
        ("33010X", "6 位数字"),
        ("330100", "地级"),
    ],
)
def test_check_rejects_unknown_or_malformed(code, fragment):
    result = check_area_code(code)
    assert not result.ok and result.current_codes == ()
    assert fragment in result.message


def test_full_width_code_accepted():
    assert check_area_code("３３０１０６").ok
    assert is_current_code(" 330106 ")
