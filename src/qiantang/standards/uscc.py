"""统一社会信用代码 (GB 32100-2015) and 组织机构代码 (GB 11714-1997): parse, check and compose.

Facts: docs/reference/standards.md §1. A wrong check character is a *warning* for manual
review, not a rejection: early pilot-area codes (e.g. 91350100M0001TGQXM) legitimately fail it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

# GB 32100-2015: 31 characters; I, O, Z, S, V are never used. A character's value is its index.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100-2015 check digit: W_i = 3^(i-1) mod 31 for i = 1..17.
USCC_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))
# GB 11714-1997 organisation code check digit weights for the 8 body characters.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# ⚠️ GB 11714 letter values: implementations use A=10 … Z=35 over 0-9A-Z (one secondary source;
# Annex A of the standard was not retrieved).
ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Organisation check value → character: 0–9 are digits, 10 is 'X' (C9 = 11 maps to 0).
ORG_CHECK_CHARS = "0123456789X"
# The same check characters as USCC charset values ('X' is 29 there), for building codes as arrays.
ORG_CHECK_USCC_VALUES: tuple[int, ...] = tuple(USCC_CHARSET.index(c) for c in ORG_CHECK_CHARS)
# USCC charset value → GB 11714 value (they differ for letters after H, because I is skipped).
USCC_TO_ORG_VALUES: tuple[int, ...] = tuple(ORG_CHARSET.index(c) for c in USCC_CHARSET)

# ⚠️ 登记管理部门码 (GB 32100 + later allocations; one secondary source each, see reference §1).
REGISTRATION_DEPT_NAMES: dict[str, str] = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}

USCC_LENGTH = 18
ORG_CODE_LENGTH = 9
_AREA_SLICE = slice(2, 8)
_ORG_SLICE = slice(8, 17)
_NEVER_USED = "IOZSV"
_SEPARATORS = " \t\r\n-\u2010\u2011\u2012\u2013\u2014\u2212"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_ORG_VALUE = {c: i for i, c in enumerate(ORG_CHARSET)}


@dataclass(frozen=True)
class USCCCheck:
    """The outcome of checking one code: hard errors reject it, warnings ask for manual review."""

    code: str
    ok: bool
    syntax_ok: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    registration_dept: str | None
    category: str | None
    area_code: str | None
    org_code: str | None

    @property
    def accepted(self) -> bool:
        """Whether to store the code (a check-character mismatch only flags it for review)."""
        return self.syntax_ok


def normalise_code(code: str) -> str:
    """Strip, convert full-width to half-width, upper-case and drop spaces and hyphens."""
    half_width = unicodedata.normalize("NFKC", code)
    return "".join(ch for ch in half_width if ch not in _SEPARATORS).upper()


def uscc_check_char(prefix17: str) -> str:
    """The GB 32100 check character (position 18) for the first 17 characters."""
    if len(prefix17) != USCC_LENGTH - 1 or any(c not in _USCC_VALUE for c in prefix17):
        raise ValueError(f"计算校验码需要 17 位代码字符集内的字符，收到“{prefix17}”")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(prefix17, USCC_WEIGHTS, strict=True))
    # C18 = 31 − (Σ mod 31), and 31 means 0.
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    """The GB 11714 check character (position 9) for an 8-character organisation code body."""
    if len(body8) != ORG_CODE_LENGTH - 1 or any(c not in _ORG_VALUE for c in body8):
        raise ValueError(f"组织机构代码本体应为 8 位数字或大写字母，收到“{body8}”")
    total = sum(_ORG_VALUE[c] * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    # C9 = 11 − (Σ mod 11); 10 is written 'X' and 11 is written '0'.
    return ORG_CHECK_CHARS[(11 - total % 11) % 11]


def check_org_code(code: str) -> bool:
    """Whether a 9-character (or 'XXXXXXXX-X') organisation code has the right check character."""
    normalised = normalise_code(code)
    if len(normalised) != ORG_CODE_LENGTH or any(c not in _ORG_VALUE for c in normalised[:8]):
        return False
    return org_code_check_char(normalised[:8]) == normalised[8]


def _character_errors(code: str) -> list[str]:
    """Errors for characters outside the charset (a never-used letter in position 18 is a warning)."""
    errors = []
    for position, ch in enumerate(code, start=1):
        if ch in _USCC_VALUE:
            continue
        if position == USCC_LENGTH and len(code) == USCC_LENGTH and ch in _NEVER_USED:
            continue  # reported as a wrong check character by _check_warnings
        errors.append(f"第 {position} 位字符“{ch}”不合法：只允许数字和除 I、O、Z、S、V 以外的大写字母")
    return errors


def _area_errors(code: str) -> list[str]:
    """Errors for non-digits in positions 3–8 (the GB/T 2260 registration area code)."""
    return [
        f"第 {position} 位为“{ch}”：第 3–8 位是登记管理机关行政区划码，只能是数字"
        for position, ch in enumerate(code[_AREA_SLICE], start=3)
        if ch in _USCC_VALUE and not ch.isdigit()
    ]


def _syntax_errors(code: str) -> list[str]:
    """Every hard problem with the code's length and characters."""
    if not code:
        return ["代码为空"]
    errors = []
    if len(code) != USCC_LENGTH:
        errors.append(f"长度应为 {USCC_LENGTH} 位，实为 {len(code)} 位")
    return errors + _character_errors(code) + _area_errors(code)


def _check_warnings(code: str) -> list[str]:
    """Warnings for a wrong USCC check character or a wrong embedded organisation-code check."""
    warnings = []
    expected_org = org_code_check_char(code[8:16])
    if code[16] != expected_org:
        warnings.append(
            f"第 17 位（组织机构代码校验码）应为 {expected_org}，实为 {code[16]}："
            "可能是早期试点代码，请人工核实"
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        why = "该字符不在代码字符集中，可能是录入错误" if code[17] in _NEVER_USED else "可能是早期试点代码"
        warnings.append(f"校验码应为 {expected}，实为 {code[17]}：{why}，请人工核实")
    return warnings


def check_uscc(code: str) -> USCCCheck:
    """Check a 统一社会信用代码: syntax errors reject it, check-character mismatches warn."""
    normalised = normalise_code(code)
    errors = _syntax_errors(normalised)
    if errors:
        return USCCCheck(normalised, False, False, tuple(errors), (), None, None, None, None)
    warnings = _check_warnings(normalised)
    return USCCCheck(
        code=normalised,
        ok=not warnings,
        syntax_ok=True,
        errors=(),
        warnings=tuple(warnings),
        registration_dept=normalised[0],
        category=normalised[1],
        area_code=normalised[_AREA_SLICE],
        org_code=normalised[_ORG_SLICE],
    )


def is_valid_uscc(code: str) -> bool:
    """Strict validity: syntax and both check characters right."""
    return check_uscc(code).ok


def make_uscc(registration_dept: str, category: str, area_code: str, org_body8: str) -> str:
    """Compose a valid code, computing the organisation check (pos 17) and the USCC check (pos 18)."""
    dept, cat, area, body = (normalise_code(p) for p in (registration_dept, category, area_code, org_body8))
    if len(dept) != 1 or dept not in _USCC_VALUE:
        raise ValueError(f"登记管理部门码应为 1 位代码字符，收到“{registration_dept}”")
    if len(cat) != 1 or cat not in _USCC_VALUE:
        raise ValueError(f"机构类别码应为 1 位代码字符，收到“{category}”")
    if len(area) != 6 or not area.isascii() or not area.isdigit():
        raise ValueError(f"行政区划码应为 6 位数字，收到“{area_code}”")
    # The body must fit both charsets: GB 32100 forbids I, O, Z, S, V even though GB 11714 allows them.
    if len(body) != 8 or any(c not in _USCC_VALUE for c in body):
        raise ValueError(f"主体标识码本体应为 8 位（数字或除 I、O、Z、S、V 外的大写字母），收到“{org_body8}”")
    prefix17 = dept + cat + area + body + org_code_check_char(body)
    return prefix17 + uscc_check_char(prefix17)


def _as_int_matrix(values: np.ndarray, width: int, top: int) -> np.ndarray:
    """Validate an (n, width) array of charset values in 0..top and return it as int64."""
    matrix = np.asarray(values)
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise ValueError(f"数组形状应为 (n, {width})，实为 {matrix.shape}")
    matrix = matrix.astype(np.int64, copy=False)
    if matrix.size and (matrix.min() < 0 or matrix.max() > top):
        raise ValueError(f"字符取值应在 0..{top} 之间")
    return matrix


def uscc_check_chars_array(values: np.ndarray) -> np.ndarray:
    """Check values (0..30, index into USCC_CHARSET) for an (n, 17) array of charset values."""
    matrix = _as_int_matrix(values, USCC_LENGTH - 1, len(USCC_CHARSET) - 1)
    totals = matrix @ np.asarray(USCC_WEIGHTS, dtype=np.int64)
    return (31 - totals % 31) % 31


def org_check_values_array(values: np.ndarray) -> np.ndarray:
    """Check values for an (n, 8) array of GB 11714 values (0..35); result indexes ORG_CHECK_CHARS.

    0–9 mean the digits '0'–'9' and 10 means 'X'. To place the result inside a USCC, map it through
    ORG_CHECK_USCC_VALUES (digits keep their value, 'X' becomes 29); to feed USCC charset values in,
    map them through USCC_TO_ORG_VALUES first.
    """
    matrix = _as_int_matrix(values, ORG_CODE_LENGTH - 1, len(ORG_CHARSET) - 1)
    totals = matrix @ np.asarray(ORG_WEIGHTS, dtype=np.int64)
    return (11 - totals % 11) % 11
