"""The generic table pipeline: typing, identifiers, text in number columns, Chinese errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qiantang.credit.tabular import prepare, read_upload
from qiantang.errors import ValidationFailed


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.Generator(np.random.PCG64(5))
    income = rng.lognormal(5, 1, n).round(1).astype(object)
    income[3] = "不详"  # text in a number field
    income[4] = "1,234.5"
    return pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),
            "Status": np.where(rng.random(n) < 0.3, "bad", "good"),
            "Income": income,
            "Home": rng.choice(["rent", "owner", None], n),
            "constant": 1,
            "note": [f"free text {i}" for i in range(n)],
        }
    )


def test_columns_are_typed_and_unusable_ones_left_out_with_reasons():
    data = prepare(frame(), target="Status", bad="bad")
    kinds = {f.name: f.kind for f in data.features}
    assert kinds == {"Income": "numeric", "Home": "categorical"}
    assert set(data.dropped) == {"rownames", "constant", "note"}
    assert "标识" in data.dropped["rownames"] and "恒定" in data.dropped["constant"]
    assert data.coerced == {"Income": 1}
    assert np.isnan(data.X["Income"][3]) and data.X["Income"][4] == 1234.5
    assert data.y.dtype == np.int8 and 0.2 < data.bad_rate < 0.4


def test_numeric_targets_and_rows_without_target():
    df = frame()
    df["flag"] = np.where(df["Status"] == "bad", 1.0, 0.0)
    df.loc[0, "flag"] = None
    data = prepare(df.drop(columns="Status"), target="flag", bad="1")
    assert data.rows_without_target == 1 and data.n == len(df) - 1
    assert data.bad_rate == pytest.approx((df["Status"][1:] == "bad").mean())


@pytest.mark.parametrize(
    ("target", "bad", "rows", "fragment"),
    [
        ("Stat", "bad", 200, "没有目标列"),
        ("Status", "默认", 200, "没有取值为"),
        ("Status", "bad", 15, "不足"),
    ],
)
def test_target_problems_are_refused_in_chinese(target, bad, rows, fragment):
    with pytest.raises(ValidationFailed) as err:
        prepare(frame().iloc[:rows], target=target, bad=bad)
    assert fragment in err.value.message


def test_uploads_are_read_through_the_upload_validator():
    csv = b"a,b,Status\n1,x,bad\n2,y,good\n"
    df = read_upload(csv, "data.csv")
    assert list(df.columns) == ["a", "b", "Status"] and len(df) == 2
    with pytest.raises(ValidationFailed) as err:
        read_upload(b"a,a,Status\n1,2,bad\n", "dup.csv")
    assert "重复" in err.value.errors[0].message
    with pytest.raises(ValidationFailed) as err:
        read_upload(b"\x00\x01", "data.pdf")
    assert "只接受" in err.value.message
