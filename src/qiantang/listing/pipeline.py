"""The pipeline's arithmetic, on plain histories (no database): funnel, time per stage, forecast.

A history is one reserve firm's main-path steps — (stage rank, date) in date order, rank 0 = 入库培育
… 5 = 上市 — and, if it left the reserve, the date it left. Written up in docs/methods/listing.md.

Forecast: a discrete-time (yearly) transition model. For each stage s before 上市, the firms' time
in s is exposure; moving on and leaving are two competing risks with constant hazards estimated as
events ÷ exposure-years (the maximum-likelihood estimate for right-censored exponential waiting
times). Over a year a firm in s moves on with probability λa/(λa+λw)·(1 − e^−(λa+λw)), leaves with
λw/(λa+λw)·(1 − e^−(λa+λw)), and stays otherwise; the chain is run forward from the firms in the
reserve today. Intervals: each simulation draws the hazards from their Gamma posteriors (Jeffreys
prior: events + ½, exposure) — uncertainty in the rates — and then the firms' moves as multinomial
draws — chance in which firms move; the 10th and 90th percentiles of the yearly listings over
the simulations form an 80 % interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

LISTED = 5  # the rank of 上市 on the main path
TRANSIENT = range(LISTED)  # 入库培育 … 审核/注册
YEAR_DAYS = 365.25


@dataclass(frozen=True)
class History:
    """One reserve firm: its main-path steps (rank, date) in order, and the day it left, if it did."""

    steps: tuple[tuple[int, date], ...]
    left_on: date | None = None

    def reached(self) -> int:
        return max(rank for rank, _ in self.steps)

    def spells(self, as_of: date) -> list[tuple[int, float, str]]:
        """(stage, years spent in it, how it ended: "advanced" | "left" | "open") for each stage held.

        A step over a stage (a firm enrolled after its shareholding reform, say) counts as moving on
        from the stage it was in; the stages skipped hold no time.
        """
        out = []
        steps = [(r, d) for r, d in self.steps if d <= as_of]
        for i, (rank, start) in enumerate(steps):
            if rank >= LISTED:
                break
            if i + 1 < len(steps):
                end, how = steps[i + 1][1], "advanced" if steps[i + 1][0] > rank else "back"
            elif self.left_on is not None and self.left_on <= as_of:
                end, how = self.left_on, "left"
            else:
                end, how = as_of, "open"
            out.append((rank, max((end - start).days, 0) / YEAR_DAYS, how))
        return out

    def stage_on(self, as_of: date) -> int | None:
        """The stage held on ``as_of``; None once listed or left (or before enrolment)."""
        if self.left_on is not None and self.left_on <= as_of:
            return None
        held = [r for r, d in self.steps if d <= as_of]
        if not held or held[-1] >= LISTED:
            return None
        return held[-1]


@dataclass(frozen=True)
class Rates:
    """Per stage: exposure (firm-years), moves on, exits; hazards per year."""

    exposure: np.ndarray
    advanced: np.ndarray
    left: np.ndarray

    @property
    def advance_hazard(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.exposure > 0, self.advanced / self.exposure, 0.0)

    @property
    def exit_hazard(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.exposure > 0, self.left / self.exposure, 0.0)


def estimate(histories: Sequence[History], as_of: date) -> Rates:
    """Exposure and events per stage from every spell observed up to ``as_of``."""
    exposure = np.zeros(LISTED)
    advanced = np.zeros(LISTED)
    left = np.zeros(LISTED)
    for h in histories:
        for rank, years, how in h.spells(as_of):
            exposure[rank] += years
            if how == "advanced":
                advanced[rank] += 1
            elif how == "left":
                left[rank] += 1
    return Rates(exposure, advanced, left)


def yearly_probabilities(advance: np.ndarray, leave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(move on within a year), P(leave within a year)) per stage, from constant competing hazards."""
    total = advance + leave
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - np.exp(-total)
        share = np.where(total > 0, advance / total, 0.0)
    return share * out, (1.0 - share) * out * (total > 0)


def expected_listings(counts: np.ndarray, advance: np.ndarray, leave: np.ndarray, years: int) -> np.ndarray:
    """Expected listings in each of the next ``years`` years from ``counts`` firms per stage (exact)."""
    p_adv, p_left = yearly_probabilities(advance, leave)
    n = counts.astype(float).copy()
    out = np.zeros(years)
    for y in range(years):
        moving = n * p_adv
        staying = n * (1.0 - p_adv - p_left)
        out[y] = moving[LISTED - 1]
        n = staying
        n[1:] += moving[:-1]
    return out


@dataclass(frozen=True)
class Forecast:
    years: tuple[int, ...]
    expected: tuple[float, ...]
    low: tuple[float, ...]  # 10th percentile
    high: tuple[float, ...]  # 90th percentile
    in_reserve: tuple[int, ...]  # firms per stage today
    rates: Rates
    simulations: int


def forecast(
    histories: Sequence[History], *, as_of: date, years: int = 5, simulations: int = 2000, seed: int = 2016
) -> Forecast:
    """Listings per year for the next ``years`` calendar years from the reserve held on ``as_of``."""
    rates = estimate(histories, as_of)
    counts = np.zeros(LISTED, dtype=np.int64)
    for h in histories:
        stage = h.stage_on(as_of)
        if stage is not None:
            counts[stage] += 1
    expected = expected_listings(counts, rates.advance_hazard, rates.exit_hazard, years)
    rng = np.random.default_rng(seed)
    draws = np.zeros((simulations, years))
    safe_exposure = np.maximum(rates.exposure, 1e-9)
    for s in range(simulations):
        adv = rng.gamma(rates.advanced + 0.5, 1.0 / safe_exposure)
        lea = rng.gamma(rates.left + 0.5, 1.0 / safe_exposure)
        # A stage nobody has ever held has no evidence: it keeps its firms (hazards 0), not a guess.
        adv = np.where(rates.exposure > 0, adv, 0.0)
        lea = np.where(rates.exposure > 0, lea, 0.0)
        p_adv, p_left = yearly_probabilities(adv, lea)
        n = counts.copy()
        for y in range(years):
            moved = np.zeros(LISTED, dtype=np.int64)
            kept = np.zeros(LISTED, dtype=np.int64)
            for k in range(LISTED):
                if n[k]:
                    m, gone, stay = rng.multinomial(n[k], [p_adv[k], p_left[k], 1.0 - p_adv[k] - p_left[k]])
                    moved[k], kept[k] = m, stay
                    del gone
            draws[s, y] = moved[LISTED - 1]
            n = kept
            n[1:] += moved[:-1]
    first = as_of.year + 1 if (as_of.month, as_of.day) == (12, 31) else as_of.year
    return Forecast(
        years=tuple(range(first, first + years)),
        expected=tuple(float(x) for x in expected),
        low=tuple(float(x) for x in np.percentile(draws, 10, axis=0)),
        high=tuple(float(x) for x in np.percentile(draws, 90, axis=0)),
        in_reserve=tuple(int(x) for x in counts),
        rates=rates,
        simulations=simulations,
    )


@dataclass(frozen=True)
class FunnelRow:
    stage: int
    reached: int  # firms that reached this stage or a later one
    still_here: int  # firms in this stage on the as-of date
    left_here: int  # firms that left the reserve from this stage
    conversion: float | None  # reached the next stage ÷ reached this one
    median_years: float | None  # Kaplan–Meier median time in this stage, in years


def kaplan_meier_median(durations: Sequence[float], events: Sequence[bool]) -> float | None:
    """The time by which half the spells have ended in a move on (others censored); None if not yet."""
    if not durations:
        return None
    order = sorted(zip(durations, events, strict=True))
    at_risk = len(order)
    survival = 1.0
    i = 0
    while i < len(order):
        t = order[i][0]
        ended = sum(1 for d, e in order[i:] if d == t and e)
        tied = sum(1 for d, _e in order[i:] if d == t)
        if ended:
            survival *= 1.0 - ended / at_risk
            if survival <= 0.5 + 1e-12:
                return t
        at_risk -= tied
        i += tied
    return None


def funnel(histories: Sequence[History], as_of: date) -> list[FunnelRow]:
    """Per stage of the main path: reached, still there, left from there, conversion, median time."""
    reached = np.zeros(LISTED + 1, dtype=np.int64)
    still = np.zeros(LISTED + 1, dtype=np.int64)
    left = np.zeros(LISTED + 1, dtype=np.int64)
    spells: dict[int, tuple[list[float], list[bool]]] = {k: ([], []) for k in TRANSIENT}
    for h in histories:
        steps = [(r, d) for r, d in h.steps if d <= as_of]
        if not steps:
            continue
        top = max(r for r, _ in steps)
        reached[: top + 1] += 1
        now = h.stage_on(as_of)
        if now is not None:
            still[now] += 1
        if h.left_on is not None and h.left_on <= as_of:
            left[steps[-1][0]] += 1
        for rank, years, how in h.spells(as_of):
            spells[rank][0].append(years)
            spells[rank][1].append(how == "advanced")
    rows = []
    for k in range(LISTED + 1):
        conversion = float(reached[k + 1] / reached[k]) if k < LISTED and reached[k] else None
        median = kaplan_meier_median(*spells[k]) if k < LISTED else None
        rows.append(FunnelRow(k, int(reached[k]), int(still[k]), int(left[k]), conversion, median))
    return rows


def round_or_none(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)
