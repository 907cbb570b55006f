"""Reference data every installation carries, brought up to date after each migration."""

from __future__ import annotations

from sqlalchemy.orm import Session

from qiantang.plan.service import sync_plan_data
from qiantang.registry.reference import sync_reference_data


def sync_all(session: Session) -> int:
    """Areas, clusters, institution types, the indicator catalogue, the 13th FYP and its real data."""
    return sync_reference_data(session) + sync_plan_data(session)
