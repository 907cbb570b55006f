"""Stored, versioned results of batch jobs that pages read instead of computing over the big tables.

A batch job (``qiantang ew run``, ``credit score``, ``stats refresh``, the demo load) computes a page's
summary once — for the whole city and for each district — and stores it under a ``kind`` with the
version of the rules or model that produced it and the as-of date of its data. A page then reads one
row for its user's scope and shows "数据截至 …". Each refresh replaces the kind's rows in the job's
transaction, so a page sees either the old set or the new one, never half of each.

Users whose scope is neither the city nor one district (an institution's reporter) get ``None`` and the
page computes for them: their share is small.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from qiantang.auth.models import Role
from qiantang.auth.scope import Scope
from qiantang.db import Base, utcnow

CITY = ""  # the district_code of the city-wide row


class StoredResult(Base):
    """One kind of page summary for one district (or the city): its payload, version and as-of date."""

    __tablename__ = "stored_results"
    __table_args__ = (UniqueConstraint("kind", "district_code", name="uq_stored_results_kind_district"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))  # e.g. "earlywarning.level_history"
    district_code: Mapped[str] = mapped_column(String(6))  # CITY ("") for the whole city
    version: Mapped[str] = mapped_column(String(64))  # rules / model version that produced it
    as_of: Mapped[date | None] = mapped_column(Date)  # the data's date
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    payload: Mapped[Any] = mapped_column(JSON)


def store(
    session: Session, *, kind: str, version: str, as_of: date | None, by_district: dict[str, Any]
) -> None:
    """Replace ``kind``'s stored rows by ``by_district`` (keys: district codes, and CITY)."""
    session.execute(delete(StoredResult).where(StoredResult.kind == kind))
    stamp = utcnow()
    session.add_all(
        StoredResult(kind=kind, district_code=d, version=version, as_of=as_of, computed_at=stamp, payload=p)
        for d, p in by_district.items()
    )
    session.flush()


def read(session: Session, *, kind: str, scope: Scope) -> StoredResult | None:
    """The stored row of ``kind`` for the scope (the city or one district); None: compute live."""
    if scope.is_citywide:
        district = CITY
    elif scope.role == Role.DISTRICT_OFFICER and scope.district_code:
        district = scope.district_code
    else:
        return None
    return session.scalar(
        select(StoredResult).where(StoredResult.kind == kind, StoredResult.district_code == district)
    )


def scoped_kinds(session: Session, *, kind: str) -> list[str]:
    """The district codes (CITY first) stored for ``kind`` (for tests and the CLI)."""
    return list(
        session.scalars(
            select(StoredResult.district_code)
            .where(StoredResult.kind == kind)
            .order_by(StoredResult.district_code)
        )
    )
