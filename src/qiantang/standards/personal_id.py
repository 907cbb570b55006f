"""Personal identifiers: 公民身份号码 (GB 11643-1999) and mainland mobile numbers.

GB 11643-1999: 18 characters — 6-digit area code, 8-digit birth date, 3-digit sequence, and a check
character over the first 17 digits with weights W_i = 2^(18-i) mod 11 (i = 1 … 17 from the left):
check = (12 − Σ a_i·W_i mod 11) mod 11, written as 0–9 or X for 10.
Mobile numbers: 11 digits, 1 then 3–9 (the numbering plan of the MIIT, 电信网编号计划).
"""

from __future__ import annotations

import re

ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 18 - i, 11) for i in range(1, 18))  # 7 9 10 5 8 4 2 1 6 3 …
ID_CHECK_CHARS = "10X98765432"  # Σ a_i·W_i mod 11 → check character
_ID_SHAPE = re.compile(r"^\d{17}[\dXx]$")
_MOBILE = re.compile(r"^(?:\+?86[- ]?)?1[3-9]\d{9}$")


def id_check_char(first17: str) -> str:
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def is_id_number(value: object) -> bool:
    """An 18-character 公民身份号码 whose check character (GB 11643-1999) is right."""
    text = str(value).strip() if value is not None else ""
    if not _ID_SHAPE.match(text):
        return False
    month, day = int(text[10:12]), int(text[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    return id_check_char(text[:17]) == text[17].upper()


def is_mobile(value: object) -> bool:
    """A mainland mobile number (1[3-9] and 9 digits; +86 allowed; 1.39e10 from Excel too)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().replace(" ", "").replace("-", "") if value is not None else ""
    return bool(_MOBILE.match(text))
