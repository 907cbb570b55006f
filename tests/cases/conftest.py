"""Fixtures for the case tests: alerts made inside the test's transaction for demo institutions
(the early-warning run may not have produced any), and a factory of them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from qiantang.auth.models import User
from qiantang.earlywarning.models import Alert, AlertStatus, Level, SignalFamily
from qiantang.registry.models import Institution

XIHU = "330106"
BINJIANG = "330108"
# A quarter beyond the demo city's data, so that alerts of a demo early-warning run never mix in.
AS_OF = date(2030, 12, 31)
TODAY = date(2031, 2, 1)


def institution_in(db, district_code: str, *, skip: int = 0) -> Institution:
    rows = db.scalars(
        select(Institution).where(Institution.district_code == district_code).order_by(Institution.id)
    ).all()
    assert len(rows) > skip, f"the tiny demo city has no institution #{skip} in {district_code}"
    return rows[skip]


def evidence() -> list[dict]:
    return [
        {
            "family": "limit",
            "code": "slc_single_borrower",
            "level": "red",
            "message_zh": "单户贷款余额占资本净额 12.5%，超过上限 10%",
            "message_en": "Largest single borrower 12.5% of net capital, above the 10% limit",
            "value": 12.5,
            "limit": 10.0,
            "unit": "%",
        },
        {
            "family": "peer",
            "code": "npl_ratio",
            "level": "orange",
            "message_zh": "不良贷款率 8.1%，远高于同业",
            "message_en": "NPL ratio 8.1%, far above peers",
            "value": 8.1,
            "peer": {"p10": 0.5, "median": 1.8, "p90": 4.0},
        },
    ]


@pytest.fixture
def make_alert(db):
    """``make_alert(district_code, level)`` → a new open Alert for an institution of that district."""
    counter = {"n": 0}

    def make(
        district_code: str = XIHU,
        level: Level = Level.YELLOW,
        *,
        last_period: date = AS_OF,
        status: AlertStatus = AlertStatus.OPEN,
        family: SignalFamily | None = None,
        institution: Institution | None = None,
    ) -> Alert:
        families = list(SignalFamily)
        fam = family or families[counter["n"] % len(families)]
        inst = institution or institution_in(db, district_code, skip=counter["n"] // len(families))
        counter["n"] += 1
        alert = Alert(
            institution_id=inst.id,
            family=fam,
            level=level,
            status=status,
            first_period=last_period,
            last_period=last_period,
            summary_zh=f"{fam.zh}：测试预警",
            evidence=evidence(),
            periods=[last_period.isoformat()],
            version="test",
        )
        db.add(alert)
        db.flush()
        return alert

    return make


@pytest.fixture
def users(db) -> dict[str, User]:
    """The demo users by name: admin, analyst, xihu, binjiang, reporter, auditor."""
    return {u.username: u for u in db.scalars(select(User))}
