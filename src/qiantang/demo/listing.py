"""The demo city's listing reserve (上市后备企业培育库) — synthetic, consistent with its listings.

Every firm the demo lists on an exchange from 2017 on gets a history that ends at its listing date:
the time it spent in each stage is drawn backwards from that date (log-normal durations, a firm's
latent "readiness" shortening all of them). Firms quoted on the NEEQ or the regional market from 2017
on went through the reserve too. On top, a cohort of unlisted firms of the listing industries is
enrolled each year and moves through the stages by the same latent process; a firm whose readiness
is low tends to leave, and a path that would have ended in a listing before the demo's date ends in
a withdrawn application instead (the register says the firm is unlisted, and the register wins). The
forecast model (constant hazards per stage, listing/pipeline.py) is not the process behind these paths.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.enterprises.models import Enterprise, ListingStatus
from qiantang.listing.models import MAIN_PATH, Board, ReserveFirm, Stage, StageEvent

# Median years spent in 入库培育, 股改, 辅导备案, 申报受理, 审核/注册 (before the listing).
MEDIAN_YEARS = (1.4, 1.1, 0.9, 0.5, 0.6)
SPREAD = 0.45  # log-normal sigma of each stage's duration
FIRST_YEAR = 2017  # the reserve as a register begins (the 2017 "凤凰行动")
SECTIONS = ("C", "I", "M", "F", "K", "E", "G", "R", "L")


def _durations(rng: np.random.Generator, readiness: float) -> np.ndarray:
    return np.exp(np.log(MEDIAN_YEARS) - 0.35 * readiness + SPREAD * rng.standard_normal(len(MEDIAN_YEARS)))


def _days(years: float) -> timedelta:
    return timedelta(days=max(round(years * 365.25), 20))


def _board(rng: np.random.Generator, ent: Enterprise) -> Board:
    if ent.listing_status == ListingStatus.LISTED_OVERSEAS:
        return Board.HK if rng.random() < 0.7 else Board.OVERSEAS
    if ent.industry_section in ("I", "M") or ent.high_tech:
        return rng.choice([Board.STAR, Board.CHINEXT, Board.MAIN], p=[0.45, 0.4, 0.15])
    return rng.choice([Board.MAIN, Board.CHINEXT, Board.BSE], p=[0.55, 0.3, 0.15])


SPONSORS = (
    "财通证券",
    "浙商证券",
    "中信证券",
    "国泰君安",
    "中金公司",
    "华泰联合证券",
    "海通证券",
    "广发证券",
)


def build_reserve(session: Session, *, seed: int, as_of: date) -> int:
    """Write the reserve and its stage events; returns how many firms it holds."""
    rng = np.random.default_rng([seed, 4_21])
    firms: list[ReserveFirm] = []
    listed = session.scalars(
        select(Enterprise)
        .where(
            Enterprise.listing_status.in_([ListingStatus.LISTED_DOMESTIC, ListingStatus.LISTED_OVERSEAS]),
            Enterprise.listed_on >= date(FIRST_YEAR, 1, 1),
            Enterprise.listed_on <= as_of,
        )
        .order_by(Enterprise.id)
    ).all()
    for ent in listed:
        readiness = rng.normal(0.8, 0.6)
        steps = [(Stage.LISTED, ent.listed_on)]
        day = ent.listed_on
        for stage, years in zip(reversed(MAIN_PATH[:-1]), reversed(_durations(rng, readiness)), strict=True):
            day = day - _days(years)
            steps.append((stage, day))
        firms.append(_firm(rng, ent, list(reversed(steps)), None))
    quoted = session.scalars(
        select(Enterprise)
        .where(
            Enterprise.listing_status.in_([ListingStatus.NEEQ, ListingStatus.REGIONAL_EQUITY]),
            Enterprise.listed_on >= date(FIRST_YEAR, 1, 1),
            Enterprise.listed_on <= as_of,
        )
        .order_by(Enterprise.id)
    ).all()
    taken = {e.id for e in listed}
    for ent in quoted:
        otc = Stage.NEEQ if ent.listing_status == ListingStatus.NEEQ else Stage.REGIONAL
        enrolled = ent.listed_on - _days(rng.uniform(0.3, 1.5))
        path = _simulate(rng, enrolled, as_of, readiness=rng.normal(-0.2, 0.6))
        firms.append(_firm(rng, ent, path[0], path[1], otc=(otc, ent.listed_on)))
        taken.add(ent.id)
    # Unlisted firms of the listing industries enrolled 2017 onwards, the larger ones first.
    cohort = max(4, round(len(listed) / max(as_of.year - FIRST_YEAR + 1, 1) * 2.5))
    candidates = session.scalars(
        select(Enterprise)
        .where(
            Enterprise.listing_status == ListingStatus.UNLISTED,
            Enterprise.deregistered_on.is_(None),
            Enterprise.industry_section.in_(SECTIONS),
            Enterprise.revenue.is_not(None),
        )
        .order_by(Enterprise.revenue.desc(), Enterprise.id)
        .limit(cohort * (as_of.year - FIRST_YEAR + 1) * 3)
    ).all()
    pool = [e for e in candidates if e.id not in taken]
    picks = rng.permutation(len(pool))[: cohort * (as_of.year - FIRST_YEAR + 1)]
    for i, k in enumerate(picks):
        ent = pool[int(k)]
        year = FIRST_YEAR + i // cohort
        enrolled = date(year, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
        if enrolled > as_of:
            continue
        steps, left = _simulate(rng, enrolled, as_of, readiness=rng.normal(0.0, 0.7))
        firms.append(_firm(rng, ent, steps, left))
    session.add_all(firms)
    session.flush()
    return len(firms)


def _simulate(
    rng: np.random.Generator, enrolled: date, as_of: date, *, readiness: float
) -> tuple[list[tuple[Stage, date]], tuple[date, str] | None]:
    """A path through the stages from ``enrolled`` up to ``as_of``; never a listing (see module doc)."""
    steps = [(Stage.ENROLLED, enrolled)]
    day = enrolled
    for stage, years in zip(MAIN_PATH[1:], _durations(rng, readiness), strict=True):
        # A firm of low readiness may give up instead of moving on (more likely the lower it is).
        if rng.random() < 1.0 / (1.0 + np.exp(2.0 * readiness + 1.2)):
            quit_day = day + _days(years * rng.uniform(0.5, 1.5))
            if quit_day <= as_of:
                return steps, (quit_day, str(rng.choice(_REASONS)))
            return steps, None
        day = day + _days(years)
        if day > as_of:
            return steps, None
        if stage == Stage.LISTED:  # the register says unlisted: the review ended without a listing
            return steps, (day, "审核终止（撤回申报）")
        steps.append((stage, day))
    return steps, None


_REASONS = ("经营业绩下滑，暂缓上市计划", "终止辅导", "撤回申报材料", "被并购，不再单独上市", "股东意见不一")


def _firm(
    rng: np.random.Generator,
    ent: Enterprise,
    steps: list[tuple[Stage, date]],
    left: tuple[date, str] | None,
    *,
    otc: tuple[Stage, date] | None = None,
) -> ReserveFirm:
    events = [StageEvent(stage=s, on=d, recorded_by="demo") for s, d in steps]
    if otc is not None and otc[1] >= steps[0][1]:
        events.append(StageEvent(stage=otc[0], on=otc[1], recorded_by="demo"))
    stage, since = steps[-1]
    if left is not None:
        events.append(StageEvent(stage=Stage.WITHDRAWN, on=left[0], reason=left[1], recorded_by="demo"))
        stage, since = Stage.WITHDRAWN, left[0]
    events.sort(key=lambda e: e.on)
    return ReserveFirm(
        enterprise_id=ent.id,
        target_board=_board(rng, ent),
        sponsor=str(rng.choice(SPONSORS)) if stage.rank >= 2 or stage == Stage.LISTED else None,
        stage=stage,
        stage_since=since,
        enrolled_on=steps[0][1],
        events=events,
        note="演示数据（合成）",
    )
