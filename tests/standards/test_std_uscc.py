"""GB 32100-2015 统一社会信用代码 and GB 11714 组织机构代码 (reference §1)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qiantang.standards.uscc import (
    ORG_CHARSET,
    ORG_CHECK_CHARS,
    ORG_CHECK_USCC_VALUES,
    ORG_WEIGHTS,
    USCC_CHARSET,
    USCC_TO_ORG_VALUES,
    USCC_WEIGHTS,
    check_org_code,
    check_uscc,
    is_valid_uscc,
    make_uscc,
    org_check_values_array,
    org_code_check_char,
    uscc_check_char,
    uscc_check_chars_array,
)

PILOT_CODES = ("91350100M0001TGQXM", "91350211M0000XUF46", "91350203M0001FUE2P")


def test_constants_match_the_standard():
    assert len(USCC_CHARSET) == 31
    assert not set("IOZSV") & set(USCC_CHARSET)
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert ORG_WEIGHTS == (3, 7, 9, 10, 5, 8, 4, 2)


def test_worked_example_of_the_standard():
    # Σ = 1640, 1640 mod 31 = 28, C18 = 31 − 28 = 3.
    assert uscc_check_char("91350100M000100Y4") == "3"
    result = check_uscc("91350100M000100Y43")
    assert result.ok and result.accepted and not result.errors and not result.warnings
    assert (result.registration_dept, result.category) == ("9", "1")
    assert result.area_code == "350100"
    assert result.org_code == "M000100Y4"


def test_worked_example_with_z_is_a_warning_not_an_error():
    result = check_uscc("91350100M000100Y4Z")
    assert not result.ok
    assert result.syntax_ok and result.accepted
    assert result.errors == ()
    assert len(result.warnings) == 1
    assert "校验码应为 3，实为 Z" in result.warnings[0]
    assert not is_valid_uscc("91350100M000100Y4Z")


def test_python_stdnum_example_is_valid():
    assert is_valid_uscc("91110000600037341L")
    assert check_uscc("91110000600037341L").org_code == "600037341"


@pytest.mark.parametrize("code", ["600037341", "M000100Y4", "60003734-1", "M000100Y-4"])
def test_embedded_organisation_codes_check(code):
    assert check_org_code(code)


@pytest.mark.parametrize("code", ["600037342", "M000100Y5", "60003734", "6000373410", "60003734-"])
def test_bad_organisation_codes_fail(code):
    assert not check_org_code(code)


def test_organisation_check_char_x_and_zero():
    assert org_code_check_char("00000006") == "X"  # Σ = 12, 12 mod 11 = 1, 11 − 1 = 10 → X
    assert org_code_check_char("00000000") == "0"  # Σ = 0, 11 − 0 = 11 → 0
    assert org_code_check_char("60003734") == "1"  # Σ = 109, 109 mod 11 = 10, 11 − 10 = 1
    assert check_org_code("00000006-X")


@pytest.mark.parametrize("code", PILOT_CODES)
def test_pilot_codes_are_accepted_with_a_warning(code):
    result = check_uscc(code)
    assert result.accepted and result.syntax_ok
    assert not result.ok
    assert result.errors == ()
    assert any("可能是早期试点代码，请人工核实" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "代码为空"),
        ("91350100M000100Y4", "长度应为 18 位，实为 17 位"),
        ("91350100M000100Y431", "长度应为 18 位，实为 19 位"),
        ("9135010OM000100Y43", "第 8 位字符“O”不合法"),
        ("91350100M000I00Y43", "第 13 位字符“I”不合法"),
        ("91350100M000100S43", "第 16 位字符“S”不合法"),
        ("V1350100M000100Y43", "第 1 位字符“V”不合法"),
        ("91350100M000100Y4?", "第 18 位字符“?”不合法"),
        ("913A0100M000100Y43", "第 4 位为“A”：第 3–8 位是登记管理机关行政区划码，只能是数字"),
    ],
)
def test_malformed_codes_give_chinese_errors(code, fragment):
    result = check_uscc(code)
    assert not result.syntax_ok and not result.accepted and not result.ok
    assert any(fragment in e for e in result.errors), result.errors
    assert result.registration_dept is None and result.area_code is None and result.org_code is None


def test_embedded_org_check_mismatch_is_a_warning():
    # Position 17 changed from 4 to 5; position 18 recomputed so that only the org check is wrong.
    prefix = "91350100M000100Y5"
    result = check_uscc(prefix + uscc_check_char(prefix))
    assert result.accepted and not result.ok
    assert result.warnings == (
        "第 17 位（组织机构代码校验码）应为 4，实为 5：可能是早期试点代码，请人工核实",
    )


def test_full_width_and_separators_normalise():
    result = check_uscc(" ９１３５０１００Ｍ０００１００Ｙ４３ ")
    assert result.code == "91350100M000100Y43" and result.ok
    assert check_uscc("9135-0100 m000100y43").code == "91350100M000100Y43"
    assert check_uscc("91350100M000100Y43\u3000").ok


def test_make_uscc_round_trips():
    code = make_uscc("9", "1", "350100", "M000100Y")
    assert code == "91350100M000100Y43"
    assert make_uscc("9", "1", "110000", "60003734") == "91110000600037341L"
    with_x = make_uscc("5", "2", "330106", "00000006")
    assert with_x[16] == "X" and is_valid_uscc(with_x)
    parsed = check_uscc(with_x)
    assert (parsed.registration_dept, parsed.category, parsed.area_code) == ("5", "2", "330106")


@pytest.mark.parametrize(
    ("parts", "fragment"),
    [
        (("91", "1", "330106", "00000001"), "登记管理部门码"),
        (("9", "", "330106", "00000001"), "机构类别码"),
        (("9", "1", "33010A", "00000001"), "行政区划码"),
        (("9", "1", "330106", "0000000I"), "主体标识码"),
        (("9", "1", "330106", "0000001"), "主体标识码"),
    ],
)
def test_make_uscc_rejects_bad_parts(parts, fragment):
    with pytest.raises(ValueError, match=fragment):
        make_uscc(*parts)


def test_scalar_helpers_reject_bad_input():
    with pytest.raises(ValueError):
        uscc_check_char("91350100M000100Y")
    with pytest.raises(ValueError):
        uscc_check_char("91350100M000100YO")
    with pytest.raises(ValueError):
        org_code_check_char("0000000")


def _values_to_prefix(values) -> str:
    """USCC charset values → characters."""
    return "".join(USCC_CHARSET[v] for v in values)


def test_vectorised_uscc_check_agrees_with_scalar_on_random_codes():
    rng = np.random.default_rng(20240101)
    values = rng.integers(0, 31, size=(5000, 17))
    checks = uscc_check_chars_array(values)
    assert checks.shape == (5000,)
    for row, check in zip(values, checks, strict=True):
        assert USCC_CHARSET[check] == uscc_check_char(_values_to_prefix(row))


def test_vectorised_org_check_agrees_with_scalar_on_random_codes():
    rng = np.random.default_rng(7)
    values = rng.integers(0, 36, size=(5000, 8))
    checks = org_check_values_array(values)
    for row, check in zip(values, checks, strict=True):
        assert ORG_CHECK_CHARS[check] == org_code_check_char("".join(ORG_CHARSET[v] for v in row))


def test_vectorised_pipeline_builds_valid_codes():
    """The generator's path: body in USCC values → GB 11714 values → org check → USCC check."""
    rng = np.random.default_rng(3)
    n = 2000
    prefix = np.column_stack(
        [
            np.full(n, USCC_CHARSET.index("9")),
            np.full(n, USCC_CHARSET.index("1")),
            rng.integers(0, 10, size=(n, 6)),
            rng.integers(0, 31, size=(n, 8)),
        ]
    )
    org_checks = org_check_values_array(np.asarray(USCC_TO_ORG_VALUES)[prefix[:, 8:16]])
    prefix17 = np.column_stack([prefix, np.asarray(ORG_CHECK_USCC_VALUES)[org_checks]])
    codes = np.column_stack([prefix17, uscc_check_chars_array(prefix17)])
    for row in codes:
        assert is_valid_uscc(_values_to_prefix(row))


def test_vectorised_helpers_validate_shape_and_range():
    with pytest.raises(ValueError):
        uscc_check_chars_array(np.zeros((3, 16), dtype=int))
    with pytest.raises(ValueError):
        uscc_check_chars_array(np.full((3, 17), 31))
    with pytest.raises(ValueError):
        org_check_values_array(np.full((3, 8), 36))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=17, max_size=17))
def test_vectorised_uscc_check_agrees_with_scalar(values):
    assert USCC_CHARSET[uscc_check_chars_array(np.array([values]))[0]] == uscc_check_char(
        _values_to_prefix(values)
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 35), min_size=8, max_size=8))
def test_vectorised_org_check_agrees_with_scalar(values):
    body = "".join(ORG_CHARSET[v] for v in values)
    assert ORG_CHECK_CHARS[org_check_values_array(np.array([values]))[0]] == org_code_check_char(body)


valid_codes = st.builds(
    make_uscc,
    st.sampled_from(USCC_CHARSET),
    st.sampled_from(USCC_CHARSET),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_CHARSET, min_size=8, max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(valid_codes)
def test_every_single_character_substitution_is_detected(code):
    assert is_valid_uscc(code)
    for position in range(18):
        for replacement in USCC_CHARSET:
            if replacement == code[position]:
                continue
            mutated = code[:position] + replacement + code[position + 1 :]
            result = check_uscc(mutated)
            assert not result.ok, (code, mutated)
            # 31 is prime and every weight is non-zero mod 31, so the USCC check character alone
            # catches the substitution whenever the syntax still holds.
            if result.syntax_ok:
                assert any(w.startswith("校验码应为") for w in result.warnings), mutated


def test_single_substitutions_on_many_random_codes():
    """The same property with plain random, over more codes."""
    rng = random.Random(11)
    for _ in range(300):
        code = make_uscc(
            rng.choice(USCC_CHARSET),
            rng.choice(USCC_CHARSET),
            "".join(rng.choices("0123456789", k=6)),
            "".join(rng.choices(USCC_CHARSET, k=8)),
        )
        position = rng.randrange(18)
        replacement = rng.choice([c for c in USCC_CHARSET if c != code[position]])
        assert not is_valid_uscc(code[:position] + replacement + code[position + 1 :])
