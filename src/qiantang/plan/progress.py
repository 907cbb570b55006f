"""Progress towards the plan's quantitative targets (规划目标进展评估).

The method is open-sdg's progress measure (sdg-build ``ProgressMeasure``, after Statistics Canada's
Sustainable Development Goals Data Hub and Eurostat's SDG monitoring): the compound annual growth
rate observed since the base year, divided by the rate the target requires, put into bands. Our
extensions (targets that are cumulative counts from zero, targets that are yearly averages,
projections, the growth still needed, explanations an officer can read out) and every rule are
written up in ``docs/methods/progress.md``; the numbered rules there are the ones cited below.

Pure functions and frozen dataclasses: no database, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "BASELINE_TOLERANCE",
    "HORIZON_YEARS",
    "Assessment",
    "Bands",
    "ProgressStatus",
    "Projection",
    "TargetSpec",
    "assess",
    "meets_target",
    "natural_bounds",
    "status_for_ratio",
]

HORIZON_YEARS = 50  # projections look at most this many years past the assessed year
BASELINE_TOLERANCE = 0.005  # plan baseline vs observed baseline: relative difference that gets a reason
_REL_EPS = 1e-9  # float noise tolerated in comparisons with the target and the band edges

KINDS = ("level", "share", "ratio", "increment", "flow")
GROWTH_KINDS = frozenset({"level", "share", "ratio"})
DIRECTIONS = ("increase", "decrease")
COMPARISONS = (">", ">=", "<", "<=")


class ProgressStatus(StrEnum):
    TARGET_ACHIEVED = "target_achieved"
    # The status names of open-sdg's sdg-build (``ProgressMeasure.get_progress_status``).
    SUBSTANTIAL = "substantial_progress"
    MODERATE = "moderate_progress"
    LIMITED = "limited_progress"
    DETERIORATION = "deterioration"
    NOT_AVAILABLE = "not_available"

    @property
    def zh(self) -> str:
        return _STATUS_TEXT[self][0]

    @property
    def en(self) -> str:
        return _STATUS_TEXT[self][1]

    @property
    def colour(self) -> str:
        """A CSS class name for the status badge."""
        return _STATUS_TEXT[self][2]


_STATUS_TEXT: dict[ProgressStatus, tuple[str, str, str]] = {
    ProgressStatus.TARGET_ACHIEVED: ("目标已实现", "Target achieved", "achieved"),
    ProgressStatus.SUBSTANTIAL: ("进展良好", "Substantial progress", "green"),
    ProgressStatus.MODERATE: ("进展一般，需加快", "Moderate progress, acceleration needed", "yellow"),
    ProgressStatus.LIMITED: ("进展有限", "Limited progress", "orange"),
    ProgressStatus.DETERIORATION: ("出现倒退", "Deterioration", "red"),
    ProgressStatus.NOT_AVAILABLE: ("无法评估", "Not available", "grey"),
}


@dataclass(frozen=True)
class Bands:
    """Lower edges of the bands for the ratio R = observed rate / required rate."""

    substantial: float = 0.95
    moderate: float = 0.60
    limited: float = 0.0

    def __post_init__(self) -> None:
        values = (self.substantial, self.moderate, self.limited)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("progress bands must be finite numbers")
        if not self.substantial >= self.moderate >= self.limited:
            raise ValueError(f"progress bands must satisfy substantial ≥ moderate ≥ limited, got {values!r}")


@dataclass(frozen=True)
class TargetSpec:
    """One quantitative target: ``value(target_year) <comparison> target_value``."""

    code: str
    kind: str  # level | share | ratio | increment | flow
    direction: str  # increase | decrease
    comparison: str  # > | >= | < | <=
    target_year: int
    target_value: float
    baseline_year: int | None = None
    baseline_value: float | None = None
    unit: str = ""
    # The indicator's natural bounds (rule 8a): a projection never leaves them. ``None``: unbounded.
    lower_bound: float | None = 0.0
    upper_bound: float | None = None

    def bounded(self, value: float) -> float:
        """``value`` held within the indicator's natural bounds."""
        if self.lower_bound is not None and value < self.lower_bound:
            return self.lower_bound
        if self.upper_bound is not None and value > self.upper_bound:
            return self.upper_bound
        return value

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.code}: unknown kind {self.kind!r} (expected one of {KINDS})")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{self.code}: unknown direction {self.direction!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"{self.code}: unknown comparison {self.comparison!r}")
        if self.comparison.startswith(">") != (self.direction == "increase"):
            raise ValueError(
                f"{self.code}: comparison {self.comparison!r} contradicts direction {self.direction!r}"
            )
        if not _finite(self.target_value):
            raise ValueError(f"{self.code}: target value must be a finite number")


@dataclass(frozen=True)
class Projection:
    """Where the indicator goes if it keeps its pace, starting from the assessed point (ti, yi).

    ``rate`` is the pace used: the compound annual growth rate (a fraction) or the linear slope per
    year (in the indicator's unit). For flow targets the projected value is the period mean.
    """

    method: str  # compound | linear
    value_at_target_year: float | None
    year_met: int | None
    rate: float | None = None


@dataclass(frozen=True)
class Assessment:
    status: ProgressStatus
    code: str = ""
    base_year: int | None = None
    base_value: float | None = None
    base_source: str | None = None  # observed | plan
    assessed_year: int | None = None
    assessed_value: float | None = None
    after_target_year: bool = False
    # Level/share/ratio: compound annual growth rates (fractions).
    cagr_observed: float | None = None
    cagr_required: float | None = None
    # Increment/flow: amounts per year (in the indicator's unit; for a flow the observed one is the
    # mean of the yearly flows and the required one is the target).
    observed_per_year: float | None = None
    required_per_year: float | None = None
    ratio: float | None = None
    required_growth_from_latest: float | None = None
    required_per_year_from_latest: float | None = None
    # A yearly-average target that the flows so far already guarantee: even with nothing more in
    # the remaining years (the indicator's lower bound) the period mean meets the target.
    secured: bool = False
    projections: tuple[Projection, ...] = ()
    reasons: tuple[str, ...] = ()
    reasons_en: tuple[str, ...] = ()

    def projection(self, method: str) -> Projection | None:
        return next((p for p in self.projections if p.method == method), None)


def natural_bounds(kind: str, unit: str) -> tuple[float | None, float | None]:
    """Rule 8a: what an indicator can never go beyond, whatever its trend.

    Every indicator the plans track is an amount, a count, a share or a ratio of two non-negative
    quantities, so none falls below zero; a percentage of a whole (a share, or a ratio in %) stays
    at or under 100. A straight-line trend knows neither, and once projected "新增机构 −125 家".
    """
    upper = 100.0 if unit == "%" and kind in ("share", "ratio") else None
    return 0.0, upper


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def meets_target(value: float, comparison: str, target: float) -> bool:
    """``value <comparison> target``; a difference within 1e-9 (relative) counts as equality."""
    tol = _REL_EPS * max(1.0, abs(target))
    if comparison == ">":
        return value > target + tol
    if comparison == ">=":
        return value >= target - tol
    if comparison == "<":
        return value < target - tol
    if comparison == "<=":
        return value <= target + tol
    raise ValueError(f"unknown comparison {comparison!r}")


def status_for_ratio(ratio: float, bands: Bands = Bands()) -> ProgressStatus:
    """The band R falls in. R is rounded to 9 decimals first so float noise cannot cross an edge."""
    r = round(ratio, 9)
    if r >= bands.substantial:
        return ProgressStatus.SUBSTANTIAL
    if r >= bands.moderate:
        return ProgressStatus.MODERATE
    if r >= bands.limited:
        return ProgressStatus.LIMITED
    return ProgressStatus.DETERIORATION


def _cagr(start: float, end: float, years: int) -> float:
    try:
        return (end / start) ** (1.0 / years) - 1.0
    except OverflowError:
        return math.inf


def _compound(value: float, rate: float, years: int) -> float:
    """value · (1 + rate)^years, saturating to ±∞ instead of raising on overflow."""
    try:
        return value * (1.0 + rate) ** years
    except OverflowError:
        return math.copysign(math.inf, value)


def _ols_slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mx = math.fsum(x for x, _ in points) / n
    my = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return math.fsum((x - mx) * (y - my) for x, y in points) / sxx


def _first_year_met(
    value_after: Callable[[int], float], start_year: int, comparison: str, target: float
) -> int | None:
    """First year ``start_year + k`` (k = 0 … HORIZON_YEARS) whose projected value meets the target."""
    for k in range(HORIZON_YEARS + 1):
        v = value_after(k)
        if math.isinf(v):  # an explosive growth rate: +∞ meets "more is better", −∞ never recovers
            return start_year + k if (v > 0) == comparison.startswith(">") else None
        if meets_target(v, comparison, target):
            return start_year + k
    return None


# --- text ---------------------------------------------------------------------------------------

_UNIT_EN = {
    "亿元": "CNY 100m",
    "万元": "CNY 10k",
    "元": "CNY",
    "元/人": "CNY per person",
    "家": "",
    "支": "",
    "家/年": "per year",
    "万亿元": "CNY trillion",
    "%": "%",
}
_CMP_ZH = {">": "高于", ">=": "不低于", "<": "低于", "<=": "不高于"}
_CMP_EN = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}


# Units whose whole values are shown without decimals (counts); every other unit shows 2 decimals.
_COUNT_UNITS = frozenset({"", "家", "支", "家/年", "个", "人"})


def _num(v: float, unit: str = "") -> str:
    """941.47 → "941.47", 1330 → "1,330.00" (but 118 家 → "118"), 0.004 → "0.004"."""
    if v == 0:
        return "0" if unit in _COUNT_UNITS else "0.00"
    if unit in _COUNT_UNITS and float(v).is_integer() and abs(v) < 1e15:
        return f"{v:,.0f}"
    if abs(v) >= 0.005:
        return f"{v:,.2f}"
    return f"{v:.3g}"


def _q_zh(v: float, unit: str) -> str:
    if unit == "%":
        return f"{_num(v, unit)}%"
    return f"{_num(v, unit)} {unit}" if unit else _num(v)


def _q_en(v: float, unit: str) -> str:
    u = _UNIT_EN.get(unit, unit)
    if u == "%":
        return f"{_num(v, unit)}%"
    return f"{_num(v, unit)} {u}" if u else _num(v)


def _delta_zh(v: float, unit: str) -> str:
    """A signed change per year: "+97.13 亿元", "−0.05 个百分点"."""
    sign = "+" if v >= 0 else "−"
    if unit == "%":
        return f"{sign}{_num(abs(v), unit)} 个百分点"
    return f"{sign}{_q_zh(abs(v), unit)}"


def _delta_en(v: float, unit: str) -> str:
    sign = "+" if v >= 0 else "−"
    if unit == "%":
        return f"{sign}{_num(abs(v), unit)} percentage points"
    return f"{sign}{_q_en(abs(v), unit)}"


def _pct(g: float) -> str:
    return f"{g * 100:.2f}%"


def _growth_zh(g: float) -> str:
    return f"年均增长 {_pct(g)}" if g >= 0 else f"年均下降 {_pct(-g)}"


def _growth_en(g: float) -> str:
    return f"an average annual growth of {_pct(g)}" if g >= 0 else f"an average annual decline of {_pct(-g)}"


def _per_year_zh(v: float, unit: str) -> str:
    return f"年均新增 {_q_zh(v, unit)}" if v >= 0 else f"年均减少 {_q_zh(-v, unit)}"


def _per_year_en(v: float, unit: str) -> str:
    return f"{_q_en(v, unit)} added a year" if v >= 0 else f"{_q_en(-v, unit)} removed a year"


def _band_edges(status: ProgressStatus, bands: Bands) -> str:
    s, m, lo = bands.substantial, bands.moderate, bands.limited
    return {
        ProgressStatus.SUBSTANTIAL: f"R ≥ {s:.2f}",
        ProgressStatus.MODERATE: f"{m:.2f} ≤ R < {s:.2f}",
        ProgressStatus.LIMITED: f"{lo:.2f} ≤ R < {m:.2f}",
        ProgressStatus.DETERIORATION: f"R < {lo:.2f}",
    }.get(status, "")


def _flow_unit(unit: str) -> str:
    """家/年 → 家: the unit of one year's flow, for sentences that already say "per year"."""
    return unit[:-2] if unit.endswith("/年") else unit


# --------------------------------------------------------------------------------------------------
# The assessment


@dataclass
class _Draft:
    """Mutable working state of one assessment; frozen into an ``Assessment`` at the end."""

    spec: TargetSpec
    zh: list[str] = field(default_factory=list)
    en: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)

    def say(self, zh: str, en: str) -> None:
        self.zh.append(zh)
        self.en.append(en)

    def finish(self, status: ProgressStatus, projections: tuple[Projection, ...] | None = None) -> Assessment:
        if projections is None:
            projections = (Projection("compound", None, None), Projection("linear", None, None))
        return Assessment(
            status=status,
            code=self.spec.code,
            projections=projections,
            reasons=tuple(self.zh),
            reasons_en=tuple(self.en),
            **self.values,
        )


@dataclass(frozen=True)
class _Ctx:
    """What every kind's assessment needs once the base and the assessed point are known."""

    spec: TargetSpec
    bands: Bands
    obs: dict[int, float]
    t0: int
    y0: float | None  # None only for a flow target whose base year has no value
    ti: int
    yi: float
    base_zh: str
    base_en: str
    target_zh: str
    target_en: str

    @property
    def want(self) -> float:
        """+1 when the indicator should rise, −1 when it should fall."""
        return 1.0 if self.spec.direction == "increase" else -1.0

    def q_zh(self, v: float) -> str:
        return _q_zh(v, self.spec.unit)

    def q_en(self, v: float) -> str:
        return _q_en(v, self.spec.unit)


def _observations(series: Mapping[int, float], as_of_year: int | None) -> tuple[dict[int, float], list[int]]:
    """Rule 1: finite values only; years after ``as_of_year`` are set aside (and returned)."""
    obs: dict[int, float] = {}
    later: list[int] = []
    for year, value in series.items():
        if value is None or not _finite(value):
            continue
        y = int(year)
        if as_of_year is not None and y > as_of_year:
            later.append(y)
            continue
        obs[y] = float(value)
    return obs, sorted(later)


def assess(
    spec: TargetSpec,
    series: Mapping[int, float],
    *,
    bands: Bands = Bands(),
    as_of_year: int | None = None,
) -> Assessment:
    """Assess progress of ``series`` (year → value) towards ``spec``. See docs/methods/progress.md."""
    d = _Draft(spec)
    u = spec.unit
    tT, yT, cmp = spec.target_year, float(spec.target_value), spec.comparison
    q_zh = lambda v: _q_zh(v, u)  # noqa: E731
    q_en = lambda v: _q_en(v, u)  # noqa: E731
    target_zh = f"{tT}年目标（{_CMP_ZH[cmp]} {q_zh(yT)}）"
    target_en = f"the {tT} target ({_CMP_EN[cmp]} {q_en(yT)})"

    # Rule 1 — observations.
    obs, later = _observations(series, as_of_year)
    if later:
        d.say(
            f"按截至{as_of_year}年的数据评估，未使用{later[0]}年及以后的数据",
            f"Assessed with data up to {as_of_year}; values from {later[0]} on are not used",
        )

    # Unsupported combinations: a clear "not available", never a crash on a page.
    if spec.kind == "flow" and spec.direction != "increase":
        d.say(
            "年均流量型目标仅支持“越多越好”的递增目标，无法评估",
            "Yearly-average (flow) targets are supported only with direction 'increase'; not assessed",
        )
        return d.finish(ProgressStatus.NOT_AVAILABLE)
    if spec.kind == "flow" and yT <= 0:
        d.say("年均流量型目标的目标值须为正数，无法评估", "A flow target must be positive; not assessed")
        return d.finish(ProgressStatus.NOT_AVAILABLE)
    if spec.baseline_year is not None and spec.baseline_year >= tT:
        d.say(
            f"基期年份 {spec.baseline_year} 年不早于目标年份 {tT} 年，无法评估",
            f"The baseline year {spec.baseline_year} is not before the target year {tT}; not assessed",
        )
        return d.finish(ProgressStatus.NOT_AVAILABLE)

    # Rule 2 — the base.
    plan_base = spec.baseline_value if _finite(spec.baseline_value) else None
    if spec.baseline_year is not None:
        t0 = spec.baseline_year
        if t0 in obs:
            y0, source = obs[t0], "observed"
            if plan_base is not None and abs(y0 - plan_base) > BASELINE_TOLERANCE * abs(plan_base):
                rel = f"，相差 {_pct(abs(y0 - plan_base) / abs(plan_base))}" if plan_base else ""
                rel_en = (
                    f", a difference of {_pct(abs(y0 - plan_base) / abs(plan_base))}" if plan_base else ""
                )
                d.say(
                    f"规划所列{t0}年基期值为 {q_zh(plan_base)}，而实际数据为 {q_zh(y0)}{rel}；"
                    f"以实际数据为基期",
                    f"The plan states a {t0} baseline of {q_en(plan_base)} while the data give "
                    f"{q_en(y0)}{rel_en}; the data are used as the base",
                )
        elif plan_base is not None:
            y0, source = float(plan_base), "plan"
            d.say(
                f"{t0}年无实际数据，基期采用规划所列基期值 {q_zh(y0)}",
                f"No data for {t0}; the base is the plan's stated baseline of {q_en(y0)}",
            )
        elif spec.kind == "flow":
            # A flow target needs only the year the period starts after, not a value (rule 6).
            y0, source = None, "plan"
            d.say(
                f"{t0}年无实际数据，规划亦未给出基期值；年均流量型目标只需以{t0}年为期间起点",
                f"No data and no plan value for {t0}; a flow target needs {t0} only as the start "
                "of the period",
            )
        else:
            d.say(
                f"规划未给出{t0}年基期值，且无{t0}年实际数据，无法确定基期",
                f"The plan gives no {t0} baseline value and there are no data for {t0}; no base",
            )
            return d.finish(ProgressStatus.NOT_AVAILABLE)
    else:
        if not obs:
            d.say(
                "规划未设基期，且无任何实际数据，无法评估", "The plan sets no baseline and there are no data"
            )
            return d.finish(ProgressStatus.NOT_AVAILABLE)
        t0 = min(obs)
        y0, source = obs[t0], "observed"
        extra = "（该年数值作为起点，不计入期内年均值）" if spec.kind == "flow" else ""
        extra_en = " (that year's flow is the starting point, not part of the period mean)"
        d.say(
            f"规划未设基期，以最早有数据的{t0}年（{q_zh(y0)}）为基期{extra}",
            f"The plan sets no baseline; the earliest year with data, {t0} ({q_en(y0)}), is the base"
            + (extra_en if spec.kind == "flow" else ""),
        )
    d.values.update(base_year=t0, base_value=y0, base_source=source)
    if y0 is None:
        base_zh, base_en = f"{t0}年基期", f"base {t0}"
    else:
        base_zh = f"{t0}年基期{'（规划值）' if source == 'plan' else ''} {q_zh(y0)}"
        base_en = f"base {t0}{' (plan value)' if source == 'plan' else ''}: {q_en(y0)}"

    # Rule 3 — the assessed point.
    after_base = sorted(y for y in obs if y > t0)
    within = [y for y in after_base if y <= tT]
    if within:
        ti = within[-1]
    elif after_base:
        ti = after_base[0]
    else:
        d.say(
            f"无基期之后的实际数据：缺少{t0 + 1}年及以后的数据",
            f"No data after the base year {t0}: values for {t0 + 1} or later are missing",
        )
        return d.finish(ProgressStatus.NOT_AVAILABLE)
    yi = obs[ti]
    after_target = ti > tT
    d.values.update(assessed_year=ti, assessed_value=yi, after_target_year=after_target)
    if after_target and t0 < tT:
        d.say(
            f"注意：{t0 + 1}–{tT}年无数据，评估值取自目标年份之后的{ti}年",
            f"Note: there are no data for {t0 + 1}–{tT}; "
            f"the assessed value is from {ti}, after the target year",
        )
    if t0 >= tT:
        # Only reachable when the base is the earliest observation and it is not before the target year.
        if spec.kind != "flow" and meets_target(yi, cmp, yT):
            d.say(
                f"{ti}年 {q_zh(yi)} 已满足{target_zh}，目标已实现；最早数据不早于目标年份，不计算增速",
                f"{ti}: {q_en(yi)} meets {target_en}; target achieved. The earliest data are not before "
                "the target year, so no growth rates are computed",
            )
            return d.finish(ProgressStatus.TARGET_ACHIEVED)
        d.say(
            f"最早数据（{t0}年）不早于目标年份 {tT} 年，无法计算所需增速",
            f"The earliest data ({t0}) are not before the target year {tT}; no required rate can be computed",
        )
        return d.finish(ProgressStatus.NOT_AVAILABLE)

    c = _Ctx(spec, bands, obs, t0, y0, ti, yi, base_zh, base_en, target_zh, target_en)
    if spec.kind in GROWTH_KINDS:
        return _assess_growth(d, c)
    if spec.kind == "increment":
        return _assess_increment(d, c)
    return _assess_flow(d, c)


def _band_sentence(d: _Draft, status: ProgressStatus, ratio: float, bands: Bands) -> None:
    edges = _band_edges(status, bands)
    d.say(
        f"完成比 R = {ratio:.2f}，落在“{status.zh}”区间（{edges}）",
        f"Ratio R = {ratio:.2f}, in the band “{status.en}” ({edges})",
    )


def _missed_sentence(d: _Draft, ti: int, tT: int) -> None:
    if ti == tT:
        d.say(
            f"目标年份{tT}年的数据显示目标未实现",
            f"The data for the target year {tT} show the target was missed",
        )
    elif ti > tT:
        d.say(
            f"目标年份已过（评估值为{ti}年数据），目标未实现",
            f"The target year has passed (the assessed value is from {ti}); the target was not met",
        )


def _projection_sentences(
    d: _Draft,
    p: Projection,
    label_zh: str,
    label_en: str,
    ti: int,
    tT: int,
    q_zh: Callable[[float], str],
    q_en: Callable[[float], str],
    achieved: bool,
    want: float = 1.0,
) -> None:
    if p.value_at_target_year is None and p.year_met is None:
        return
    at_zh = (
        f"{tT}年预计为 {q_zh(p.value_at_target_year)}"
        if p.value_at_target_year is not None and ti < tT
        else ""
    )
    at_en = (
        f"{tT} is projected at {q_en(p.value_at_target_year)}"
        if p.value_at_target_year is not None and ti < tT
        else ""
    )
    if p.year_met is None and p.rate is not None and p.rate * want <= 0:
        met_zh, met_en = (
            "走势背离目标，按此无法达到目标",
            "it moves away from the target and never reaches it",
        )
    elif p.year_met is None:
        met_zh, met_en = (
            f"{HORIZON_YEARS}年内无法达到目标",
            f"the target is not reached within {HORIZON_YEARS} years",
        )
    elif p.year_met == ti:
        if achieved:
            met_zh, met_en = "", ""
        else:
            met_zh, met_en = f"{ti}年的水平已满足目标", f"the {ti} level already meets the target"
    else:
        met_zh, met_en = f"预计{p.year_met}年达到目标", f"the target is reached in {p.year_met}"
    parts_zh = [x for x in (met_zh, at_zh) if x]
    parts_en = [x for x in (met_en, at_en) if x]
    if parts_zh:
        d.say(f"{label_zh}，" + "，".join(parts_zh), f"{label_en}, " + "; ".join(parts_en))


def _assess_growth(d: _Draft, c: _Ctx) -> Assessment:
    """Rules 4, 5, 7, 8 for level/share/ratio targets."""
    spec, bands, obs, want = c.spec, c.bands, c.obs, c.want
    t0, y0, ti, yi = c.t0, c.y0, c.ti, c.yi
    base_zh, base_en, target_zh, target_en = c.base_zh, c.base_en, c.target_zh, c.target_en
    tT, yT, cmp = spec.target_year, float(spec.target_value), spec.comparison
    q_zh, q_en = c.q_zh, c.q_en
    achieved = meets_target(yi, cmp, yT)
    positive = y0 > 0 and yT > 0
    g_obs = _cagr(y0, yi, ti - t0) if positive and yi > 0 else None
    g_req = _cagr(y0, yT, tT - t0) if positive else None
    usable = g_req is not None and g_req * want > 0
    ratio = g_obs / g_req if usable and g_obs is not None else None
    d.values.update(cagr_observed=g_obs, cagr_required=g_req, ratio=ratio)

    # Rule 8 — projections from (ti, yi).
    if g_obs is not None:
        compound = Projection(
            "compound",
            _compound(yi, g_obs, tT - ti) if ti <= tT else None,
            _first_year_met(lambda k: _compound(yi, g_obs, k), ti, cmp, yT),
            g_obs,
        )
    else:
        compound = Projection("compound", None, None)
    points = [(t0, y0)] + [(y, obs[y]) for y in sorted(obs) if t0 < y <= ti]
    slope = _ols_slope(points)
    if slope is not None:
        linear = Projection(
            "linear",
            spec.bounded(yi + slope * (tT - ti)) if ti <= tT else None,
            _first_year_met(lambda k: spec.bounded(yi + slope * k), ti, cmp, yT),
            slope,
        )
    else:
        linear = Projection("linear", None, None)
    projections = (compound, linear)

    def say_projections() -> None:
        if g_obs is not None:
            _projection_sentences(
                d,
                compound,
                f"按当前复合增速（{_growth_zh(g_obs)}）",
                f"At the current compound rate ({_growth_en(g_obs)})",
                ti,
                tT,
                q_zh,
                q_en,
                achieved,
                c.want,
            )
        if slope is not None:
            _projection_sentences(
                d,
                linear,
                f"按线性趋势（{len(points)} 个数据点的最小二乘斜率，每年 {_delta_zh(slope, spec.unit)}）",
                f"On the linear trend (least-squares slope over {len(points)} points, "
                f"{_delta_en(slope, spec.unit)} a year)",
                ti,
                tT,
                q_zh,
                q_en,
                achieved,
                c.want,
            )

    # Rule 7 — growth still needed.
    if not achieved and ti < tT and yi > 0 and yT > 0:
        d.values["required_growth_from_latest"] = _cagr(yi, yT, tT - ti)

    latest_zh = f"{ti}年 {q_zh(yi)}"
    latest_en = f"{ti}: {q_en(yi)}"
    if not achieved and not all(math.isfinite(x) for x in (g_obs, g_req, ratio) if x is not None):
        d.values.update(cagr_observed=None, cagr_required=None, ratio=None)
        d.say(
            f"{base_zh}，{latest_zh}；数值之比超出可计算范围，无法计算复合增速",
            f"{base_en}; {latest_en}. The values' ratio is beyond floating-point range; no growth rate",
        )
        return d.finish(ProgressStatus.NOT_AVAILABLE, projections)
    if not achieved:
        if not positive:
            d.say(
                f"{base_zh}，{latest_zh}；基期值或目标值不为正数，无法计算复合增速",
                f"{base_en}; {latest_en}. The base or the target is not positive, so no compound growth rate "
                "can be computed",
            )
            return d.finish(ProgressStatus.NOT_AVAILABLE, projections)
        if g_obs is None:
            d.say(
                f"{base_zh}，{latest_zh}；当前值不为正数，无法计算复合增速",
                f"{base_en}; {latest_en}. The latest value is not positive, so no compound growth rate "
                "can be computed",
            )
            return d.finish(ProgressStatus.NOT_AVAILABLE, projections)
        if not usable:
            base_met = meets_target(y0, cmp, yT)
            lead_zh = "基期已达到目标，当前值回落" if base_met else "基期值已等于目标值，当前值未达到目标"
            lead_en = (
                "The base already met the target and the latest value has fallen back"
                if base_met
                else "The base equals the target value and the latest value does not meet the target"
            )
            d.say(
                f"{lead_zh}：{base_zh}，{latest_zh}（{_growth_zh(g_obs)}），未满足{target_zh}；"
                f"所需增速为 {_pct(g_req)}，完成比无意义，判为“{ProgressStatus.DETERIORATION.zh}”",
                f"{lead_en}: {base_en}; {latest_en} ({_growth_en(g_obs)}), not meeting {target_en}. "
                f"The required rate is {_pct(g_req)}, so R is meaningless; "
                f"judged “{ProgressStatus.DETERIORATION.en}”",
            )
            _missed_sentence(d, ti, tT)
            say_projections()
            return d.finish(ProgressStatus.DETERIORATION, projections)

    status = ProgressStatus.TARGET_ACHIEVED if achieved else status_for_ratio(ratio, bands)
    main_zh = f"{base_zh}，{latest_zh}"
    main_en = f"{base_en}; {latest_en}"
    if g_obs is not None:
        main_zh += f"，{_growth_zh(g_obs)}"
        main_en += f", {_growth_en(g_obs)}"
    if g_req is not None:
        main_zh += f"；实现{target_zh}需{_growth_zh(g_req)}"
        main_en += f"; {target_en} requires {_growth_en(g_req)}"
    if ratio is not None:
        main_zh += f"，完成比 R = {ratio:.2f}"
        main_en += f", ratio R = {ratio:.2f}"
    main_zh += f"，{status.zh}"
    main_en += f": {status.en}"
    d.say(main_zh, main_en)
    if achieved:
        early_zh = f"，比目标年份提前 {tT - ti} 年" if ti < tT else ""
        early_en = f", {tT - ti} year(s) ahead of the target year" if ti < tT else ""
        d.say(
            f"{ti}年 {q_zh(yi)} 已满足{target_zh}，目标已实现{early_zh}",
            f"{ti}: {q_en(yi)} meets {target_en}; target achieved{early_en}",
        )
    else:
        _band_sentence(d, status, ratio, bands)
        need = d.values.get("required_growth_from_latest")
        if need is not None:
            d.say(
                f"自{ti}年起需{_growth_zh(need)}，方能实现{target_zh}",
                f"From {ti}, {_growth_en(need)} is needed to meet {target_en}",
            )
        _missed_sentence(d, ti, tT)
    say_projections()
    return d.finish(status, projections)


def _assess_increment(d: _Draft, c: _Ctx) -> Assessment:
    """Rule 6 (first half): a cumulative count from the base; linear analogue of the CAGR."""
    spec, bands, obs, want = c.spec, c.bands, c.obs, c.want
    t0, y0, ti, yi = c.t0, c.y0, c.ti, c.yi
    base_zh, base_en, target_zh, target_en = c.base_zh, c.base_en, c.target_zh, c.target_en
    u, tT, yT, cmp = spec.unit, spec.target_year, float(spec.target_value), spec.comparison
    q_zh, q_en = c.q_zh, c.q_en
    achieved = meets_target(yi, cmp, yT)
    r_obs = (yi - y0) / (ti - t0)
    r_req = (yT - y0) / (tT - t0)
    usable = r_req * want > 0
    ratio = r_obs / r_req if usable else None
    d.values.update(observed_per_year=r_obs, required_per_year=r_req, ratio=ratio)
    if not achieved and ti < tT:
        d.values["required_per_year_from_latest"] = (yT - yi) / (tT - ti)

    points = [(t0, y0)] + [(y, obs[y]) for y in sorted(obs) if t0 < y <= ti]
    slope = _ols_slope(points)
    if slope is not None:
        linear = Projection(
            "linear",
            spec.bounded(yi + slope * (tT - ti)) if ti <= tT else None,
            _first_year_met(lambda k: spec.bounded(yi + slope * k), ti, cmp, yT),
            slope,
        )
    else:
        linear = Projection("linear", None, None)
    projections = (Projection("compound", None, None), linear)

    def say_projections() -> None:
        if slope is not None:
            _projection_sentences(
                d,
                linear,
                f"按线性趋势（{len(points)} 个数据点的最小二乘斜率，{_per_year_zh(slope, u)}）",
                f"On the linear trend (least-squares slope over {len(points)} points, "
                f"{_per_year_en(slope, u)})",
                ti,
                tT,
                q_zh,
                q_en,
                achieved,
                c.want,
            )

    latest_zh = f"{ti}年累计 {q_zh(yi)}"
    latest_en = f"{ti}: {q_en(yi)} in total"
    if not achieved and not usable:
        base_met = meets_target(y0, cmp, yT)
        lead_zh = "基期已达到目标，当前值回落" if base_met else "基期值已等于目标值，当前值未达到目标"
        lead_en = (
            "The base already met the target and the latest value has fallen back"
            if base_met
            else "The base equals the target value and the latest value does not meet the target"
        )
        d.say(
            f"{lead_zh}：{base_zh}，{latest_zh}，未满足{target_zh}；完成比无意义，"
            f"判为“{ProgressStatus.DETERIORATION.zh}”",
            f"{lead_en}: {base_en}; {latest_en}, not meeting {target_en}; R is meaningless, "
            f"judged “{ProgressStatus.DETERIORATION.en}”",
        )
        _missed_sentence(d, ti, tT)
        say_projections()
        return d.finish(ProgressStatus.DETERIORATION, projections)

    status = ProgressStatus.TARGET_ACHIEVED if achieved else status_for_ratio(ratio, bands)
    main_zh = f"{base_zh}，{latest_zh}，{_per_year_zh(r_obs, u)}；实现{target_zh}需{_per_year_zh(r_req, u)}"
    main_en = (
        f"{base_en}; {latest_en}, {_per_year_en(r_obs, u)}; {target_en} requires {_per_year_en(r_req, u)}"
    )
    if ratio is not None:
        main_zh += f"，完成比 R = {ratio:.2f}"
        main_en += f", ratio R = {ratio:.2f}"
    d.say(f"{main_zh}，{status.zh}", f"{main_en}: {status.en}")
    if achieved:
        early_zh = f"，比目标年份提前 {tT - ti} 年" if ti < tT else ""
        early_en = f", {tT - ti} year(s) ahead of the target year" if ti < tT else ""
        d.say(
            f"{ti}年累计 {q_zh(yi)} 已满足{target_zh}，目标已实现{early_zh}",
            f"{ti}: {q_en(yi)} in total meets {target_en}; target achieved{early_en}",
        )
    else:
        _band_sentence(d, status, ratio, bands)
        need = d.values.get("required_per_year_from_latest")
        if need is not None:
            d.say(
                f"自{ti}年起需{_per_year_zh(need, u)}，方能实现{target_zh}",
                f"From {ti}, {_per_year_en(need, u)} are needed to meet {target_en}",
            )
        _missed_sentence(d, ti, tT)
    say_projections()
    return d.finish(status, projections)


def _assess_flow(d: _Draft, c: _Ctx) -> Assessment:
    """Rule 6 (second half): each year's flow; the period mean against the required yearly amount."""
    spec, bands, obs = c.spec, c.bands, c.obs
    t0, ti, yi = c.t0, c.ti, c.yi
    base_zh, base_en, target_zh, target_en = c.base_zh, c.base_en, c.target_zh, c.target_en
    u, tT, yT, cmp = spec.unit, spec.target_year, float(spec.target_value), spec.comparison
    q_zh, q_en = c.q_zh, c.q_en
    flows = [(y, obs[y]) for y in sorted(obs) if t0 < y <= ti]
    n = len(flows)
    total = math.fsum(v for _, v in flows)
    mean = total / n
    yi = obs[ti]
    achieved = ti == tT and meets_target(mean, cmp, yT)
    ratio = mean / yT
    d.values.update(observed_per_year=mean, required_per_year=yT, ratio=ratio)
    if ti < tT:
        need = (yT * (tT - t0) - total) / (tT - ti)
        floor = spec.lower_bound
        if spec.direction == "increase" and floor is not None and need <= floor:
            d.values["secured"] = True
        else:
            d.values["required_per_year_from_latest"] = need

    # Rule 8 — the projected quantity is the period mean: future flows follow the least-squares
    # line through the observed flows, anchored at (ti, yi).
    slope = _ols_slope(flows)
    if slope is not None:

        def mean_after(k: int) -> float:
            # Each future year's flow on the line, held within the natural bounds (rule 8a).
            future = math.fsum(spec.bounded(yi + slope * j) for j in range(1, k + 1))
            return (total + future) / (n + k)

        linear = Projection(
            "linear",
            mean_after(tT - ti) if ti <= tT else None,
            _first_year_met(mean_after, ti, cmp, yT),
            slope,
        )
    else:
        linear = Projection("linear", None, None)
    projections = (Projection("compound", None, None), linear)

    status = ProgressStatus.TARGET_ACHIEVED if achieved else status_for_ratio(ratio, bands)
    span = f"{t0 + 1}–{ti}" if ti > t0 + 1 else f"{ti}"
    fu = _flow_unit(u)
    d.say(
        f"{base_zh}（期间起点）；期内（{span}年，{n} 个年份有数据）年均 {_q_zh(mean, fu)}，"
        f"{ti}年当年 {_q_zh(yi, fu)}；{target_zh}为期内年均值，完成比 R = {ratio:.2f}，{status.zh}",
        f"{base_en} (start of the period); {span} ({n} year(s) with data): a mean of "
        f"{_q_en(mean, fu)} a year, {_q_en(yi, fu)} in {ti}; {target_en} is a period mean; "
        f"ratio R = {ratio:.2f}: {status.en}",
    )
    if n < ti - t0:
        d.say(
            f"{t0 + 1}–{ti}年中仅 {n} 年有数据：年均值按有数据的年份计算，尚需数量按缺失年份为零计算",
            f"Only {n} of the years {t0 + 1}–{ti} have data: the mean is over those years, and the amount "
            "still needed counts the missing years as zero",
        )
    if achieved:
        d.say(
            f"{t0 + 1}–{tT}年年均 {_q_zh(mean, fu)} 满足{target_zh}，目标已实现",
            f"The {t0 + 1}–{tT} mean of {_q_en(mean, fu)} a year meets {target_en}; target achieved",
        )
    else:
        _band_sentence(d, status, ratio, bands)
        need = d.values.get("required_per_year_from_latest")
        if d.values.get("secured"):
            d.say(
                f"期内累计已达 {_q_zh(total, fu)}：剩余 {tT - ti} 年即使不再新增，期内年均值也将达到目标，"
                "目标已有保障",
                f"The {_q_en(total, fu)} so far already secure the target: even with nothing more in the "
                f"remaining {tT - ti} year(s) the period mean reaches it",
            )
        elif need is not None:
            d.say(
                f"剩余 {tT - ti} 年需年均 {_q_zh(need, fu)}，期内年均值方能达到目标",
                f"The remaining {tT - ti} year(s) need {_q_en(need, fu)} a year for the period mean "
                "to reach the target",
            )
        elif ti > tT:
            d.say(
                f"目标年份已过（评估值为{ti}年数据），期内年均值无法按目标期间判定为已实现",
                f"The target year has passed (the assessed value is from {ti}); the period mean cannot be "
                "judged as achieved for the target period",
            )
        else:
            _missed_sentence(d, ti, tT)
    if slope is not None:
        _projection_sentences(
            d,
            linear,
            f"若各年流量沿最小二乘趋势（{n} 个年份，每年变化 {_delta_zh(slope, fu)}）延续（按期内年均值计）",
            f"If yearly flows follow the least-squares trend ({n} years, {_delta_en(slope, fu)} a year), "
            "judging the period mean",
            ti,
            tT,
            q_zh,
            q_en,
            achieved,
        )
    return d.finish(status, projections)
