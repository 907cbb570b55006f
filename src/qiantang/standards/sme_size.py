"""《中小企业划型标准规定》(工信部联企业〔2011〕300号): classify a firm as 大型/中型/小型/微型.

Facts: docs/reference/standards.md §3. The thresholds are data, in data/sme_size_2011.csv, one row
per sector with its certainty mark (✅/⚠️/❓) copied from the reference.

The rule, per sector: 大型 when every ceiling metric is at or above the ceiling (the rule's "X 以下或
Y 以下为中小微型企业" negated); otherwise 中型 if it meets ALL medium lower bounds ("且"), else 小型 if it
meets ALL small lower bounds, else 微型. Meeting a bound means "及以上": exactly at the bound counts.

Sector mapping from GB/T 4754-2017 (the CSV's gbt4754_scope column): 农、林、牧、渔业 = section A;
工业 = B, C, D; 建筑业 = E; 批发业 = 51; 零售业 = 52; 交通运输业 = 53–58; 仓储业 = 59; 邮政业 = 60;
住宿业 = 61; 餐饮业 = 62; 信息传输业 = 63, 64; 软件和信息技术服务业 = 65; 房地产开发经营 = group 701;
物业管理 = group 702; 租赁和商务服务业 = L; 其他未列明行业 = everything else, including the groups of
division 70 other than 701 and 702. The most specific match (group, then division, then section) wins.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import numpy as np

from qiantang.standards.industry import IndustrySection, normalise_industry_code, section_of

SIZE_RULE = "工信部联企业〔2011〕300号"
_DATA_FILE = "sme_size_2011.csv"
_FALLBACK_SCOPE = "*"


class SizeClass(StrEnum):
    """Enterprise size tier."""

    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"

    @property
    def zh(self) -> str:
        """Chinese name: 大型, 中型, 小型, 微型."""
        return _SIZE_ZH[self]


_SIZE_ZH = {
    SizeClass.LARGE: "大型",
    SizeClass.MEDIUM: "中型",
    SizeClass.SMALL: "小型",
    SizeClass.MICRO: "微型",
}


class Metric(StrEnum):
    """A size metric; the value is the keyword argument name of classify_size."""

    EMPLOYEES = "employees"  # 从业人员 X, 人
    REVENUE = "revenue_wan"  # 营业收入 Y, 万元
    ASSETS = "assets_wan"  # 资产总额 Z, 万元

    @property
    def zh(self) -> str:
        """Chinese name of the metric."""
        return _METRIC_ZH[self]

    @property
    def unit(self) -> str:
        """Chinese unit of the metric."""
        return "人" if self is Metric.EMPLOYEES else "万元"


_METRIC_ZH = {Metric.EMPLOYEES: "从业人员", Metric.REVENUE: "营业收入", Metric.ASSETS: "资产总额"}

Bound = tuple[tuple[Metric, float], ...]


@dataclass(frozen=True)
class SectorThresholds:
    """One row of the 2011 table: the ceiling of 中小微 and the medium and small lower bounds."""

    key: str
    name_zh: str
    scope: tuple[str, ...]
    ceiling: Bound
    medium: Bound
    small: Bound
    certainty: str
    note: str

    @property
    def metrics_needed(self) -> tuple[Metric, ...]:
        """Every metric any bound of this sector uses, in X, Y, Z order."""
        used = {metric for bound in (self.ceiling, self.medium, self.small) for metric, _ in bound}
        return tuple(m for m in Metric if m in used)


@dataclass(frozen=True)
class SizeResult:
    """A classification with the reasoning shown to staff; size is None when a metric is missing."""

    size: SizeClass | None
    sector: str
    sector_zh: str
    reason: str
    missing: tuple[str, ...]
    rule: str = SIZE_RULE


def _read_bound(row: dict[str, str], prefix: str) -> Bound:
    """The (metric, threshold) pairs of one bound; an empty cell means the metric does not apply."""
    return tuple((m, float(row[f"{prefix}_{m.value}"])) for m in Metric if row[f"{prefix}_{m.value}"].strip())


def _load_sectors() -> dict[str, SectorThresholds]:
    """Read the thresholds CSV shipped with the package."""
    text = (
        resources.files("qiantang.standards")
        .joinpath("data")
        .joinpath(_DATA_FILE)
        .read_text(encoding="utf-8")
    )
    sectors = {}
    for row in csv.DictReader(io.StringIO(text)):
        sectors[row["sector"]] = SectorThresholds(
            key=row["sector"],
            name_zh=row["name_zh"],
            scope=tuple(t.strip() for t in row["gbt4754_scope"].split(";")),
            ceiling=_read_bound(row, "ceiling"),
            medium=_read_bound(row, "medium"),
            small=_read_bound(row, "small"),
            certainty=row["certainty"],
            note=row["note"],
        )
    return sectors


SIZE_SECTORS: dict[str, SectorThresholds] = _load_sectors()


def _expand_scope() -> tuple[dict[str, str], dict[str, str], dict[str, str], str]:
    """Split the CSV scopes into section, division and group maps, plus the fallback sector."""
    by_section, by_division, by_group, fallback = {}, {}, {}, ""
    for sector in SIZE_SECTORS.values():
        for token in sector.scope:
            if token == _FALLBACK_SCOPE:
                fallback = sector.key
            elif token.isalpha():
                by_section[token] = sector.key
            elif "-" in token:
                first, last = (int(t) for t in token.split("-"))
                by_division.update({f"{d:02d}": sector.key for d in range(first, last + 1)})
            elif len(token) == 2:
                by_division[token] = sector.key
            else:
                by_group[token] = sector.key
    return by_section, by_division, by_group, fallback


_BY_SECTION, _BY_DIVISION, _BY_GROUP, _FALLBACK_SECTOR = _expand_scope()


def _ambiguity_error(code: str, keys: list[str], needed: str) -> ValueError:
    """The error for a code too coarse to pick one sector."""
    names = "、".join(SIZE_SECTORS[k].name_zh for k in dict.fromkeys(keys))
    return ValueError(f"行业代码“{code}”涵盖多个划型行业（{names}），请提供{needed}")


def _sector_for_section(section: IndustrySection, code: str) -> str:
    """The sector of a bare section letter; ValueError if its divisions or groups differ."""
    default = _BY_SECTION.get(section.code, _FALLBACK_SECTOR)
    finer = [k for d, k in _BY_DIVISION.items() if section.covers(int(d))]
    finer += [k for g, k in _BY_GROUP.items() if section.covers(int(g[:2]))]
    if not finer:
        return default
    # The section's own sector also applies unless finer scopes cover every division.
    divisions = (f"{d:02d}" for d in range(section.first_division, section.last_division + 1))
    uncovered = any(d not in _BY_DIVISION for d in divisions)
    raise _ambiguity_error(code, [*finer, default] if uncovered else finer, "大类代码（2 位数字）")


def _sector_for_digits(section: IndustrySection, digits: str, code: str) -> str:
    """The sector of a 2–4 digit code: group scope, then division, then section, then 其他."""
    default = _BY_SECTION.get(section.code, _FALLBACK_SECTOR)
    if digits[:3] in _BY_GROUP:
        return _BY_GROUP[digits[:3]]
    groups_below = [k for g, k in _BY_GROUP.items() if g.startswith(digits)]
    if len(digits) == 2 and groups_below:
        keys = [*groups_below, _BY_DIVISION.get(digits, default)]
        raise _ambiguity_error(code, keys, "中类代码（3 位数字，如 701）")
    return _BY_DIVISION.get(digits[:2], default)


def sector_for_industry(industry_code: str) -> str:
    """The sector key of the 2011 rule for a GB/T 4754-2017 code ("C3911", "52", "702", "A"…)."""
    section = section_of(industry_code)
    digits = normalise_industry_code(industry_code)
    if digits.isalpha():
        return _sector_for_section(section, industry_code)
    return _sector_for_digits(section, digits, industry_code)


def _format_number(value: float) -> str:
    """'5000' for whole numbers, '12.5' otherwise."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _comparison(metric: Metric, value: float, threshold: float) -> tuple[bool, str]:
    """Whether value meets threshold ("及以上"), and the comparison in words."""
    meets = value >= threshold
    sign = "≥" if meets else "<"
    unit = metric.unit
    return meets, f"{metric.zh} {_format_number(value)} {unit} {sign} {_format_number(threshold)} {unit}"


def _evaluate(bound: Bound, values: dict[Metric, float]) -> tuple[bool, str]:
    """Whether all metrics meet the bound, and the comparisons explaining it."""
    results = [_comparison(metric, values[metric], threshold) for metric, threshold in bound]
    if all(meets for meets, _ in results):
        return True, "且".join(text for _, text in results)
    return False, "、".join(text for meets, text in results if not meets)


def _validate_values(values: dict[Metric, float | None]) -> None:
    """Reject negative metrics."""
    for metric, value in values.items():
        if value is not None and not math.isnan(value) and value < 0:
            raise ValueError(f"{metric.zh}不能为负数：{value}")


def _missing_metrics(sector: SectorThresholds, values: dict[Metric, float | None]) -> tuple[Metric, ...]:
    """Metrics the sector needs but that were not given (None or NaN)."""
    return tuple(m for m in sector.metrics_needed if values[m] is None or math.isnan(values[m]))


def _decide(sector: SectorThresholds, values: dict[Metric, float]) -> tuple[SizeClass, str]:
    """Walk the tiers top-down, collecting the reason."""
    large, text = _evaluate(sector.ceiling, values)
    if large:
        return SizeClass.LARGE, f"{text}，为大型"
    steps = [f"{text}，未达大型标准"]
    for size, bound in ((SizeClass.MEDIUM, sector.medium), (SizeClass.SMALL, sector.small)):
        meets, text = _evaluate(bound, values)
        if meets:
            return size, "；".join([*steps, f"{text}，为{size.zh}"])
        steps.append(f"{text}，未达{size.zh}下限")
    return SizeClass.MICRO, "；".join(steps) + "，为微型"


def classify_sector_size(
    sector_key: str, *, employees: float | None, revenue_wan: float | None, assets_wan: float | None
) -> SizeResult:
    """Classify a firm whose 2011-rule sector key is already known."""
    if sector_key not in SIZE_SECTORS:
        raise ValueError(f"未知的划型行业：{sector_key}")
    sector = SIZE_SECTORS[sector_key]
    values = {Metric.EMPLOYEES: employees, Metric.REVENUE: revenue_wan, Metric.ASSETS: assets_wan}
    _validate_values(values)
    missing = _missing_metrics(sector, values)
    if missing:
        reason = f"{sector.name_zh}：缺少{'、'.join(m.zh for m in missing)}，无法划型"
        return SizeResult(None, sector.key, sector.name_zh, reason, tuple(m.value for m in missing))
    size, reason = _decide(sector, {m: float(v) for m, v in values.items() if v is not None})
    return SizeResult(size, sector.key, sector.name_zh, f"{sector.name_zh}：{reason}", ())


def classify_size(
    industry_code: str, *, employees: int | None, revenue_wan: float | None, assets_wan: float | None
) -> SizeResult:
    """Classify a firm by its GB/T 4754-2017 industry code and size metrics (万元 for money)."""
    return classify_sector_size(
        sector_for_industry(industry_code),
        employees=employees,
        revenue_wan=revenue_wan,
        assets_wan=assets_wan,
    )


def _as_float_array(values: np.ndarray | None, length: int, metric: Metric) -> np.ndarray:
    """A float array of the right length (None → all missing); NaN marks a missing value."""
    if values is None:
        return np.full(length, np.nan)
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (length,):
        raise ValueError(f"{metric.zh}数组长度应为 {length}，实为 {array.shape}")
    if np.any(array < 0):
        raise ValueError(f"{metric.zh}不能为负数")
    return array


def _meets_array(bound: Bound, values: dict[Metric, np.ndarray], rows: int) -> np.ndarray:
    """Row-wise: whether every metric of the bound is at or above its threshold."""
    meets = np.ones(rows, dtype=bool)
    for metric, threshold in bound:
        meets &= values[metric] >= threshold
    return meets


def _classify_sector_rows(sector: SectorThresholds, values: dict[Metric, np.ndarray]) -> np.ndarray:
    """Size values for rows of one sector ('' where a needed metric is NaN)."""
    rows = len(values[Metric.EMPLOYEES])
    sizes = np.select(
        [
            _meets_array(sector.ceiling, values, rows),
            _meets_array(sector.medium, values, rows),
            _meets_array(sector.small, values, rows),
        ],
        [SizeClass.LARGE.value, SizeClass.MEDIUM.value, SizeClass.SMALL.value],
        default=SizeClass.MICRO.value,
    )
    known = np.ones(rows, dtype=bool)
    for metric in sector.metrics_needed:
        known &= ~np.isnan(values[metric])
    return np.where(known, sizes, "")


def classify_size_array(
    sector_keys: np.ndarray,
    employees: np.ndarray | None,
    revenue_wan: np.ndarray | None,
    assets_wan: np.ndarray | None,
) -> np.ndarray:
    """Vectorised classify_sector_size: SizeClass values per row, '' where a needed metric is NaN/absent."""
    keys = np.asarray(sector_keys).astype(str)
    if keys.ndim != 1:
        raise ValueError("sector_keys 应为一维数组")
    n = len(keys)
    given = {Metric.EMPLOYEES: employees, Metric.REVENUE: revenue_wan, Metric.ASSETS: assets_wan}
    values = {metric: _as_float_array(array, n, metric) for metric, array in given.items()}
    out = np.full(n, "", dtype="<U6")
    for key in np.unique(keys):
        if key not in SIZE_SECTORS:
            raise ValueError(f"未知的划型行业：{key}")
        rows = keys == key
        out[rows] = _classify_sector_rows(SIZE_SECTORS[key], {m: v[rows] for m, v in values.items()})
    return out
