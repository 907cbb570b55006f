"""GB/T 4754-2017 sections and divisions (reference §7)."""

from __future__ import annotations

import pytest

from qiantang.standards.industry import DIVISIONS, SECTIONS, normalise_industry_code, section_of


def test_twenty_sections_a_to_t():
    assert len(SECTIONS) == 20
    assert "".join(s.code for s in SECTIONS) == "ABCDEFGHIJKLMNOPQRST"


def test_division_ranges_are_contiguous_from_01_to_97():
    expected_first = 1
    for section in SECTIONS:
        assert section.first_division == expected_first, section.code
        assert section.last_division >= section.first_division
        expected_first = section.last_division + 1
    assert expected_first == 98


def test_ninety_seven_divisions():
    assert len(DIVISIONS) == 97
    assert list(DIVISIONS) == [f"{d:02d}" for d in range(1, 98)]


def test_reference_ranges_a_to_d():
    ranges = {s.code: (s.first_division, s.last_division) for s in SECTIONS}
    assert ranges["A"] == (1, 5)
    assert ranges["B"] == (6, 12)
    assert ranges["C"] == (13, 43)
    assert ranges["D"] == (44, 46)
    assert ranges["S"] == (91, 96) and ranges["T"] == (97, 97)  # 2017 edition, not 2011's 90–95/96


@pytest.mark.parametrize(
    ("code", "section"),
    [("13", "C"), ("65", "I"), ("70", "K"), ("97", "T"), ("01", "A"), ("43", "C"), ("44", "D"), ("60", "G")],
)
def test_division_examples(code, section):
    assert section_of(code).code == section


@pytest.mark.parametrize("code", ["C", "39", "391", "3911", "C3911", "c3911", " C39 ", "Ｃ３９１１"])
def test_section_of_accepts_every_form(code):
    assert section_of(code).code == "C"


def test_section_names():
    assert section_of("K").name_zh == "房地产业"
    assert section_of("66").name_zh == "金融业"


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "格式不正确"),
        ("U", "门类“U”不存在"),
        ("98", "大类 98 不存在"),
        ("00", "大类 00 不存在"),
        ("A3911", "门类字母 A 与数字不符"),
        ("C39111", "格式不正确"),
        ("3", "格式不正确"),
        ("CC39", "格式不正确"),
        ("C-39", "格式不正确"),
    ],
)
def test_bad_codes_raise_chinese_errors(code, fragment):
    with pytest.raises(ValueError, match=fragment):
        section_of(code)


@pytest.mark.parametrize(
    ("code", "normalised"),
    [("C3911", "3911"), ("39", "39"), ("C", "C"), ("k", "K"), ("i65", "65"), ("7010", "7010")],
)
def test_normalise_industry_code(code, normalised):
    assert normalise_industry_code(code) == normalised


def test_normalise_rejects_mismatched_letter():
    with pytest.raises(ValueError):
        normalise_industry_code("B3911")


def test_industry_label_names_the_division_in_chinese_and_the_section_in_english():
    from qiantang.standards.industry import industry_label

    assert industry_label("F", "52") == "F52 零售业"
    assert industry_label("C", "3911") == "C3911 计算机、通信和其他电子设备制造业"
    assert industry_label("F", "52", zh=False) == "F52 Wholesale and retail trade"
    assert industry_label("F", None) == "F 批发和零售业"
    assert industry_label(None, None) == "—"
