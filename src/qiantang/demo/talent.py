"""The demo city's finance talent — synthetic: annual talent returns and certification applications.

Every institution open at the end of the last two years files a talent return through the filings
service (the same validation as an upload). Staff numbers follow the institution's kind and level: a
bank's head office employs thousands, a branch hundreds, a pawnshop a dozen. A few dozen
certification applications are then filed and reviewed through the talent service; every one is
marked synthetic and carries a made-up name, ID number and mobile (a 170 virtual-operator prefix).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.filings import service as filings
from qiantang.filings.models import FilingSource
from qiantang.filings.samples import talent_values
from qiantang.registry.models import Institution, InstitutionCategory, InstitutionLevel, InstitutionType
from qiantang.talent import service as talent

# Median staff by institution level for nationally supervised institutions; local ones are smaller.
_STAFF = {
    InstitutionLevel.HQ: 1200,
    InstitutionLevel.REGIONAL_HQ: 400,
    InstitutionLevel.PROVINCIAL_BRANCH: 300,
    InstitutionLevel.BRANCH: 60,
}
_LOCAL_STAFF = 18
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"


def _id_number(rng: np.random.Generator, district: str) -> str:
    born = date(1965, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 30)))
    body = f"{district[:6]}{born:%Y%m%d}{int(rng.integers(100, 999))}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def build_talent(session: Session, *, seed: int, as_of: date, applications: int = 36) -> int:
    """Write the returns for the two years before ``as_of`` and the applications; returns the count."""
    rng = np.random.default_rng([seed, 6_22])
    rows = session.execute(
        select(Institution.id, Institution.uscc, Institution.level, InstitutionType.category)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .order_by(Institution.id)
    ).all()
    system = Scope.system()
    stored = 0
    for year in (as_of.year - 2, as_of.year - 1):
        end = date(year, 12, 31)
        open_ids = set(
            session.scalars(
                select(Institution.id).where(
                    Institution.established_on <= end,
                    or_(
                        Institution.deregistered_on.is_(None), Institution.deregistered_on > date(year, 1, 1)
                    ),
                )
            ).all()
        )
        items = []
        for iid, uscc, level, category in rows:
            if iid not in open_ids:
                continue
            national = category != InstitutionCategory.LOCAL
            median = _STAFF.get(level, 60) if national else _LOCAL_STAFF
            total = max(3, round(median * float(np.exp(0.5 * rng.standard_normal()))))
            seed_i = int(rng.integers(0, 2**31))
            items.append(
                {
                    "uscc": uscc,
                    "period": str(year),
                    "data": talent_values(total, seed=seed_i, national=national),
                }
            )
        if items:
            result = filings.submit_filings(
                session,
                items=items,
                template_code=talent.TEMPLATE,
                actor=None,
                scope=system,
                source=FilingSource.DEMO,
                now=datetime(year + 1, 3, 1 + int(rng.integers(0, 28)), 10, 0),  # before the 90-day deadline
                today=as_of,
            )
            stored += len(result.stored)
    reviewer = SimpleNamespace(id=None, role=Role.CITY_ADMIN, username="demo")
    candidates = [r for r in rows if r[3] != InstitutionCategory.LOCAL] or list(rows)
    levels = [lv.code for lv in talent.standard_for(as_of).levels]
    for i in range(min(applications, len(candidates) * 3)):
        iid = candidates[int(rng.integers(0, len(candidates)))][0]
        inst = session.get(Institution, iid)
        applied = as_of - timedelta(days=int(rng.integers(20, 5 * 365)))
        name = _SURNAMES[int(rng.integers(0, len(_SURNAMES)))] + _GIVEN[int(rng.integers(0, len(_GIVEN)))]
        level = levels[min(int(rng.choice(3, p=[0.15, 0.35, 0.5])), len(levels) - 1)]
        cert = talent.apply(
            session,
            scope=system,
            actor=None,
            institution_id=iid,
            applicant_name=name + ("伟" if i % 3 == 0 else ""),
            id_number=_id_number(rng, inst.district_code),
            mobile=f"170{int(rng.integers(0, 10**8)):08d}",
            level=level,
            criterion=int(rng.integers(0, 2)),
            evidence=[{"name": "任职证明.pdf", "size": 180_000, "note": "示例材料（合成）"}],
            today=applied,
            synthetic=True,
        )
        fate = rng.random()
        if fate < 0.15:
            continue  # still waiting
        talent.decide(
            session,
            scope=system,
            actor=reviewer,
            cert_id=cert.id,
            action="review",
            today=applied + timedelta(days=7),
        )
        if fate < 0.25:
            continue  # under review
        decided = applied + timedelta(days=int(rng.integers(20, 60)))
        if fate < 0.4:
            talent.decide(
                session,
                scope=system,
                actor=reviewer,
                cert_id=cert.id,
                action="refuse",
                today=decided,
                note="材料不足以证明所申报条件（示例）",
            )
        else:
            talent.decide(
                session, scope=system, actor=reviewer, cert_id=cert.id, action="certify", today=decided
            )
    talent.expire_due(session, today=as_of)
    return stored
