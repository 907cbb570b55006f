"""Fixtures of the tips and routing tests (imported by them, so that the engine's tests keep their own
conftest): firms of the tiny demo city by district, and a scored row as the index hands it over."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from qiantang.enterprises.models import Enterprise

XIHU = "330106"
BINJIANG = "330108"


def firm_in(db, district_code: str, *, skip: int = 0) -> Enterprise:
    rows = db.scalars(
        select(Enterprise).where(Enterprise.district_code == district_code).order_by(Enterprise.id)
    ).all()
    assert len(rows) > skip, f"the tiny demo city has no firm #{skip} in {district_code}"
    return rows[skip]


@dataclass
class Row:
    """A scored firm as the index engine hands it to routing."""

    enterprise_id: int
    grade: str
    score: float
    version: str = "test-1"
    category: str = ""
    reasons: list = field(
        default_factory=lambda: [
            {
                "dimension": "收益率偏离",
                "text": "宣传年化收益 18%，超过一年期 LPR 的 4 倍（12.4%）",
                "evidence": {"yield": 18.0, "cap": 12.4, "snippet": "年化【18%】稳赚不赔"},
            },
            {"dimension": "特征词命中", "text": "广告含“保本保息”", "evidence": "保本保息，稳赚不赔"},
        ]
    )


@pytest.fixture(name="xihu_firm")
def xihu_firm_fixture(db) -> Enterprise:
    return firm_in(db, XIHU)


@pytest.fixture(name="binjiang_firm")
def binjiang_firm_fixture(db) -> Enterprise:
    return firm_in(db, BINJIANG)
