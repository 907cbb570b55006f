"""The demo city is a pure function of (scale, seed); the public API has the promised shape."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from qiantang.auth.models import Role
from qiantang.demo import DEMO_USERS, SCALES, TABLES, generate


def column_digest(values) -> str:
    """A stable hash of one column (NumPy array, masked array or list), independent of the machine."""
    h = hashlib.sha256()
    if isinstance(values, np.ma.MaskedArray):
        h.update(np.ma.getmaskarray(values).tobytes())
        values = values.filled(0)
    array = np.asarray(values)
    if array.dtype == object:
        h.update(
            json.dumps([None if v is None else str(v) for v in array.tolist()], ensure_ascii=False).encode()
        )
    else:
        h.update(array.dtype.str.encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def digests(city) -> dict[tuple[str, str], str]:
    return {(t, c): column_digest(v) for t, cols in city.tables.items() for c, v in cols.items()}


def test_same_seed_gives_identical_city():
    first, second = generate("tiny", 7), generate("tiny", 7)
    assert list(first.tables) == list(TABLES)
    assert digests(first) == digests(second)
    assert first.rows == second.rows


def test_other_seed_gives_other_city():
    a, b = digests(generate("tiny", 7)), digests(generate("tiny", 8))
    changed = [key for key in a if a[key] != b[key]]
    for key in [("enterprises", "uscc"), ("loans", "amount"), ("filings", "data"), ("institutions", "name")]:
        assert key in changed


def test_columns_are_arrays_of_equal_length_with_explicit_ids(tiny_city):
    for table, cols in tiny_city.tables.items():
        n = len(cols["id"])
        assert n > 0, table
        assert all(len(v) == n for v in cols.values()), table
        assert np.array_equal(np.asarray(cols["id"]), np.arange(1, n + 1)), table


def test_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="未知的演示规模"):
        generate("huge")


def test_scales_and_demo_users():
    assert SCALES == ("tiny", "small", "city")
    by_name = {u.username: u for u in DEMO_USERS}
    assert set(by_name) == {"admin", "analyst", "xihu", "binjiang", "reporter", "auditor", "lender", "firm"}
    assert {u.role for u in DEMO_USERS} == set(Role)
    for user in DEMO_USERS:
        assert user.password == f"demo-{user.username}-2025"
        assert len(user.password) >= 10
        assert user.scope_note and user.display_name
    assert (by_name["xihu"].district_code, by_name["binjiang"].district_code) == ("330106", "330108")
    assert all(u.district_code is None for u in DEMO_USERS if u.role != Role.DISTRICT_OFFICER)


def test_tiny_row_counts(tiny_city):
    rows = tiny_city.rows
    assert rows["enterprises"] == 2_000
    assert rows["loans"] == 5_000
    assert 2_700 <= rows["guarantees"] <= 3_000
    assert 300 <= rows["institutions"] <= 900
