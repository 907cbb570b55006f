"""The demo's public tips: drawn from the latent scheme process (deterministic per seed), sent through the
public service (receipts, merging, matching), handled by the offices, and counted by the index runs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from qiantang.demo.fundraising import generate_fundraising
from qiantang.demo.fundraising_tips import draw_tips
from qiantang.fundraising import tips
from qiantang.fundraising.models import FirmScore, ScoreRun
from qiantang.fundraising.monitor import outside_reports
from qiantang.fundraising.tip_models import Tip, TipReport, TipStatus
from qiantang.models import Base

AS_OF = date(2025, 12, 31)


def drafts(seed: int, scale: str = "tiny"):
    engine = create_engine("sqlite://")  # no search index: the drafts need none
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        _counts, latent = generate_fundraising(s, scale=scale, seed=seed, as_of=AS_OF)
        out = draw_tips(latent, seed=seed, as_of=AS_OF)
    engine.dispose()
    return out, latent


def test_same_seed_same_tips_and_schemes_are_reported_before_they_collapse():
    (a, latent), (b, _), (c, _) = drafts(2016, "small"), drafts(2016, "small"), drafts(7, "small")
    assert a == b and [d.what for d in a] == [d.what for d in b] and a != c
    assert all(date(AS_OF.year - 3, 1, 1) <= d.at.date() <= AS_OF for d in a)
    assert [d.at for d in a] == sorted(d.at for d in a)
    kinds = {d.kind for d in a}
    assert kinds == {"scheme", "unfounded", "unknown"}
    # Reports about a scheme come before its collapse too, not only from its victims afterwards.
    collapse = {
        latent.names[i]: latent.collapse_on[i] for i in range(len(latent.ids)) if latent.collapse_on[i]
    }
    before = [d for d in a if d.kind == "scheme" and d.firm in collapse and d.at.date() < collapse[d.firm]]
    assert before
    # Some name the firm by its USCC, some by a name that is not the register's.
    assert any(tips.USCC_RE.match(d.firm) for d in a)
    assert any(d.firm not in latent.names and not tips.USCC_RE.match(d.firm) for d in a)


def test_the_demo_city_has_tips_with_receipts_statuses_and_merges(db):
    assert db.scalar(select(func.count()).select_from(Tip)) > 10
    codes = db.scalars(select(TipReport.receipt_code)).all()
    assert codes and all(tips.normalise_receipt(c) == c for c in codes) and len(set(codes)) == len(codes)
    statuses = {TipStatus(s) for s in db.scalars(select(Tip.status))}
    assert statuses == {TipStatus.NEW, TipStatus.HANDLED, TipStatus.FORWARDED}
    assert db.scalar(select(func.max(Tip.reports))) >= 2  # similar reports merged
    assert db.scalar(select(func.count()).select_from(Tip).where(Tip.enterprise_id.is_(None))) >= 1
    forwarded = db.scalars(select(Tip).where(Tip.status == TipStatus.FORWARDED)).unique().all()
    assert all(t.case_id and t.handled_at and t.handled_at >= t.first_at for t in forwarded)
    # The tipster sees the status by the receipt code, and nothing else.
    status = tips.public_status(db, codes[0])
    assert status is not None and status.received_on <= AS_OF


def test_the_demo_runs_counted_the_tips_known_on_their_day(db):
    runs = db.scalars(select(ScoreRun).order_by(ScoreRun.as_of)).all()
    latest = runs[-1]
    known = outside_reports(db, as_of=latest.as_of)
    assert known, "the demo's tips reach the index"
    reasons = db.scalars(select(FirmScore.reasons).where(FirmScore.run_id == latest.id)).all()
    assert any("群众举报" in r.get("text", "") for rs in reasons for r in rs or [])
    # An earlier run counted only the tips sent in the year up to its day, none from later.
    day = runs[0].as_of
    window = (
        select(func.count())
        .select_from(TipReport)
        .join(Tip, Tip.id == TipReport.tip_id)
        .where(Tip.enterprise_id.is_not(None))
    )
    start, end = day - timedelta(days=365), day + timedelta(days=1)
    expected = db.scalar(window.where(TipReport.at >= start, TipReport.at < end))
    assert sum(tips.tip_counts_by_enterprise(db, since=start, until=day).values()) == expected
    assert db.scalar(window.where(TipReport.at >= end)) > 0  # later tips exist, and were not counted
