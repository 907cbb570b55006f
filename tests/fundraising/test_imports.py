"""Imports of monitoring data: validated whole, people linked by a keyed hash, ID numbers never stored."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from qiantang.enterprises.models import Enterprise
from qiantang.errors import ValidationFailed
from qiantang.fundraising.imports import import_table
from qiantang.fundraising.models import FirmPerson, RegistrationChange


def two_firms(db) -> list[str]:
    return list(db.scalars(select(Enterprise.uscc).order_by(Enterprise.id).limit(2)))


def test_people_are_linked_by_key_and_stored_masked(db):
    a, b = two_firms(db)
    table = pd.DataFrame(
        {
            "统一社会信用代码": [a, b],
            "姓名": ["张三", "张三"],
            "证件号码": ["330106199001011234", "330106199001011234"],
            "身份": ["法定代表人", "股东"],
            "持股比例": [None, 60],
        }
    )
    assert import_table(db, "people", table, today=date(2025, 12, 31)) == 2
    rows = db.scalars(select(FirmPerson).where(FirmPerson.name == "张三")).all()
    assert len({r.person_key for r in rows}) == 1
    assert all("330106199001011234" not in (r.person_key + r.id_masked) for r in rows)
    assert rows[0].id_masked.startswith("3") and "*" in rows[0].id_masked
    assert sorted(r.share for r in rows if r.share is not None) == [0.6]


def test_a_bad_row_refuses_the_whole_file(db):
    a, _ = two_firms(db)
    before = db.scalar(select(func.count()).select_from(RegistrationChange))
    table = pd.DataFrame(
        {
            "uscc": [a, a, "91330100MA000000XX", a],
            "kind": ["法定代表人变更", "住所变更", "股东变更", "天气"],
            "changed_on": ["2025-01-02", "2099-01-01", "2025-03-01", "2025-04-01"],
        }
    )
    with pytest.raises(ValidationFailed) as err:
        import_table(db, "changes", table, today=date(2025, 12, 31))
    rows = {e.row for e in err.value.errors}
    assert rows == {3, 4, 5}  # a date in the future, an unknown firm, an unknown kind
    assert db.scalar(select(func.count()).select_from(RegistrationChange)) == before


def test_missing_required_column(db):
    with pytest.raises(ValidationFailed, match="表头"):
        import_table(db, "complaints", pd.DataFrame({"uscc": ["x"]}))
