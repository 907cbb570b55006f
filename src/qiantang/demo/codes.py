"""Unified social credit codes (GB 32100-2015), built as arrays of charset values — no per-code loop."""

from __future__ import annotations

import numpy as np

from qiantang.standards.uscc import (
    ORG_CHECK_USCC_VALUES,
    USCC_CHARSET,
    USCC_TO_ORG_VALUES,
    org_check_values_array,
    uscc_check_chars_array,
)

_CHARS = np.array(list(USCC_CHARSET))
_TO_ORG = np.array(USCC_TO_ORG_VALUES, dtype=np.int64)
_ORG_CHECK = np.array(ORG_CHECK_USCC_VALUES, dtype=np.int64)
_M = USCC_CHARSET.index("M")
_A = USCC_CHARSET.index("A")
# USCCs began on 2015-10-01 (国发〔2015〕33号); bodies issued since look like "MA27…", older firms keep
# their GB 11714 organisation code (digits).
NEW_STYLE_FROM = np.datetime64("2015-10-01", "D")


def _body(rng: np.random.Generator, new_style: np.ndarray) -> np.ndarray:
    n = len(new_style)
    body = np.empty((n, 8), dtype=np.int64)
    body[:, 0] = rng.integers(1, 8, size=n)  # old organisation codes: digits, first 1–7
    body[:, 1:] = rng.integers(0, 10, size=(n, 7))
    k = int(new_style.sum())
    if k:
        fresh = np.empty((k, 8), dtype=np.int64)
        fresh[:, 0] = _M
        fresh[:, 1] = _A
        fresh[:, 2] = rng.integers(0, 10, size=k)
        fresh[:, 3:] = rng.integers(0, len(USCC_CHARSET), size=(k, 5))
        body[new_style] = fresh
    return body


def _keys(areas: np.ndarray, body: np.ndarray) -> np.ndarray:
    """A unique int64 per (area, body): 6 area digits × 31^8 + the body in base 31."""
    key = areas.astype(np.int64)
    for j in range(8):
        key = key * 31 + body[:, j]
    return key


def make_usccs(
    rng: np.random.Generator,
    areas: np.ndarray,
    founded: np.ndarray,
    *,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Valid, unique codes "91" + area + body + org check + USCC check; returns (codes, keys).

    ``areas`` are 6-digit strings (the registering authority at issuance); entities founded before
    2015-10-01 keep their old organisation code as the body; ``exclude`` holds keys already issued.
    """
    areas = np.asarray(areas).astype("<U6")
    n = len(areas)
    new_style = np.asarray(founded) >= NEW_STYLE_FROM
    body = _body(rng, new_style)
    area_num = areas.astype(np.int64) % 1_000_000
    taken = np.zeros(0, dtype=np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64)
    while True:
        keys = _keys(area_num, body)
        allkeys = np.concatenate([taken, keys])
        order = np.argsort(allkeys, kind="stable")
        dup_sorted = np.zeros(len(allkeys), dtype=bool)
        dup_sorted[1:] = allkeys[order][1:] == allkeys[order][:-1]
        dup = order[dup_sorted] - len(taken)
        dup = dup[dup >= 0]
        if dup.size == 0:
            break
        body[dup] = _body(rng, new_style[dup])
    values = np.empty((n, 18), dtype=np.int64)
    values[:, 0] = 9  # 登记管理部门: 工商 (market regulation)
    values[:, 1] = 1  # 机构类别: 企业
    digits = (
        np.array([list(a) for a in np.unique(areas)], dtype=np.int64) if n else np.zeros((0, 6), np.int64)
    )
    _, inverse = np.unique(areas, return_inverse=True)
    values[:, 2:8] = digits[inverse]
    values[:, 8:16] = body
    values[:, 16] = _ORG_CHECK[org_check_values_array(_TO_ORG[body])]
    values[:, 17] = uscc_check_chars_array(values[:, :17])
    chars = np.ascontiguousarray(_CHARS[values])
    codes = chars.view("<U18").reshape(n)
    return codes, keys
