"""The demo's fundraising data: deterministic, and its latent process leaves traces the index can read."""

from __future__ import annotations

from datetime import date

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from qiantang.demo.fundraising import build_fundraising
from qiantang.fundraising.models import Collapse, FirmText, SpreadObservation
from qiantang.models import Base


def build(seed: int) -> tuple[dict, list, list]:
    engine = create_engine("sqlite://")  # no foreign keys enforced: only these tables matter here
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        counts = build_fundraising(s, scale="tiny", seed=seed, as_of=date(2025, 12, 31))
        texts = s.execute(select(FirmText.published_on, FirmText.text).order_by(FirmText.id)).all()
        collapses = s.execute(select(Collapse.collapsed_on, Collapse.victims).order_by(Collapse.id)).all()
        last = s.scalar(select(SpreadObservation.observed_on).order_by(SpreadObservation.observed_on.desc()))
    engine.dispose()
    assert last <= date(2025, 12, 31)
    return counts, texts, collapses


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = build(2016), build(2016), build(7)
    assert a == b
    assert a[1] != c[1]
    counts, texts, collapses = a
    assert counts["enterprises"] == 150 and counts["fr_texts"] > 500 and collapses
    assert all(d <= date(2025, 12, 31) for d, _ in texts)
    assert all(v >= 1 for _, v in collapses)
