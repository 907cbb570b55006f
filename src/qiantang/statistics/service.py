"""Comprehensive statistics (being built): refresh of the stored cells and reading them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session


def refresh_periods(session: Session, *, period_ends: Iterable[date]) -> int:
    """Recompute the cells of the given quarters (after filings for them were stored)."""
    return 0
