"""Plans, targets and actual values: loading, uploading, recomputing and assessing progress."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.db import assign, get_meta, get_or_404, upsert, utcnow
from qiantang.errors import RowError, ValidationFailed
from qiantang.plan import indicators as computed
from qiantang.plan.models import (
    Indicator,
    IndicatorKind,
    IndicatorMethod,
    IndicatorValue,
    Plan,
    PlanTarget,
    Quality,
)
from qiantang.plan.progress import Assessment, TargetSpec, assess, natural_bounds
from qiantang.uploads import Column, Row, duplicate_errors, parse_table, template_xlsx

DEFAULT_PLAN_CODE = "hz-fin-13fyp"
PLAN_DOCUMENT = "《杭州市金融业发展“十三五”规划》（杭政办函〔2016〕128号，2016-11-18）"
BASE_YEAR = 2015
QUALITY_LABELS = {
    "官方": Quality.OFFICIAL,
    "official": Quality.OFFICIAL,
    "二手来源": Quality.SECONDARY,
    "二手": Quality.SECONDARY,
    "secondary": Quality.SECONDARY,
    "合成": Quality.SYNTHETIC,
    "合成（演示）": Quality.SYNTHETIC,
    "synthetic": Quality.SYNTHETIC,
}


# --------------------------------------------------------------------------------------------------
# Shipped data: the indicator catalogue, the 13th FYP and the real reference values


def _data_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("qiantang.plan") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def catalogue_rows() -> tuple[dict, ...]:
    rows = []
    for i, r in enumerate(_data_csv("indicators.csv")):
        rows.append(
            {
                "code": r["code"],
                "name_zh": r["name_zh"],
                "name_en": r["name_en"],
                "unit": r["unit"],
                "kind": IndicatorKind(r["kind"]),
                "direction": r["direction"],
                "method": IndicatorMethod(r["method"]),
                "definition_zh": r["definition_zh"],
                "sort_order": i,
            }
        )
    return tuple(rows)


def _float(text: str) -> float | None:
    return float(text) if text and text.strip() else None


def _int(text: str) -> int | None:
    return int(text) if text and text.strip() else None


def sync_catalogue(session: Session) -> int:
    return upsert(session, Indicator, "code", catalogue_rows())


def _target_from_csv(r: dict[str, str], sort_order: int) -> dict:
    return {
        "indicator_code": r["code"],
        "baseline_year": _int(r["baseline_year"]),
        "baseline_value": _float(r["baseline_value"]),
        "target_year": int(r["target_year"]),
        "target_value": float(r["target_value"]),
        "comparison": r["target_rule"],
        "direction": r["direction"],
        "plan_section": r["plan_section"],
        "note": r.get("note") or "",
        "sort_order": sort_order,
    }


def sync_default_plan(session: Session) -> int:
    """The 13th Five-Year Plan as shipped; its targets follow the shipped file."""
    plan = session.scalar(select(Plan).where(Plan.code == DEFAULT_PLAN_CODE))
    changed = 0
    if plan is None:
        plan = Plan(
            code=DEFAULT_PLAN_CODE,
            name_zh="杭州市金融业发展“十三五”规划",
            name_en="Hangzhou Financial Industry Development 13th Five-Year Plan",
            period_start=2016,
            period_end=2020,
            source_document=PLAN_DOCUMENT,
            created_by="system",
        )
        session.add(plan)
        session.flush()
        changed += 1
    current = {t.indicator_code: t for t in plan.targets}
    for i, r in enumerate(_data_csv("plan-targets.csv")):
        values = _target_from_csv(r, i)
        target = current.get(values["indicator_code"])
        if target is None:
            plan.targets.append(PlanTarget(**values))
            changed += 1
        else:
            changed += assign(target, values)
    session.flush()
    return changed


def _shipped_values() -> list[dict]:
    """The plan's 2015 figures and the real published figures, with their sources."""
    rows = []
    for r in _data_csv("plan-baseline-2015.csv"):
        rows.append(
            {
                "indicator_code": r["code"],
                "year": int(r["year"]),
                "value": float(r["value"]),
                "unit": r["unit"],
                "quality": Quality.OFFICIAL,
                "source": f"{PLAN_DOCUMENT} {r['plan_section']}",
                "note": "规划文本所列基期数据",
            }
        )
    for r in _data_csv("hangzhou-actuals.csv"):
        label = r["quality"]
        rows.append(
            {
                "indicator_code": r["code"],
                "year": int(r["year"]),
                "value": float(r["value"]),
                "unit": r["unit"],
                "quality": Quality.SECONDARY if label.startswith("secondary") else Quality.OFFICIAL,
                "source": r["source"],
                "note": label,
            }
        )
    return rows


def sync_shipped_values(session: Session) -> int:
    """Insert shipped values where the period has no entered value; revise them if the file changed."""
    changed = 0
    for row in _shipped_values():
        current = _current_input(session, row["indicator_code"], row["year"], None)
        if current is None:
            session.add(IndicatorValue(**row, entered_by="system"))
            changed += 1
        elif current.source == row["source"] and abs(current.value - row["value"]) > 1e-9:
            _revise(session, current, row, username="system")
            changed += 1
    session.flush()
    return changed


def sync_plan_data(session: Session) -> int:
    """Catalogue, default plan and shipped values; then recompute. Idempotent."""
    changed = sync_catalogue(session) + sync_default_plan(session) + sync_shipped_values(session)
    if changed:
        recompute(session)
    return changed


# --------------------------------------------------------------------------------------------------
# Values: the best current value per year, revisions, recomputation


def _current_input(session: Session, code: str, year: int, quarter: int | None) -> IndicatorValue | None:
    """The current entered (not computed) value of an indicator for a period."""
    stmt = select(IndicatorValue).where(
        IndicatorValue.indicator_code == code,
        IndicatorValue.year == year,
        IndicatorValue.is_current.is_(True),
        IndicatorValue.is_computed.is_(False),
        IndicatorValue.quarter.is_(None) if quarter is None else IndicatorValue.quarter == quarter,
    )
    return session.scalars(stmt.order_by(IndicatorValue.id.desc())).first()


def _revise(session: Session, old: IndicatorValue, row: dict, *, username: str | None) -> IndicatorValue:
    old.is_current = False
    new = IndicatorValue(**row, revision=old.revision + 1, entered_by=username, entered_at=utcnow())
    session.add(new)
    return new


def annual_values(session: Session, code: str) -> list[IndicatorValue]:
    """Every current annual value of an indicator (entered and computed), oldest year first."""
    return annual_values_of(session, [code])[code]


def annual_values_of(session: Session, codes: Iterable[str]) -> dict[str, list[IndicatorValue]]:
    """``annual_values`` of several indicators in one query: code → its values, oldest year first."""
    out: dict[str, list[IndicatorValue]] = {code: [] for code in codes}
    stmt = (
        select(IndicatorValue)
        .where(
            IndicatorValue.indicator_code.in_(list(out)),
            IndicatorValue.quarter.is_(None),
            IndicatorValue.is_current.is_(True),
        )
        .order_by(IndicatorValue.indicator_code, IndicatorValue.year, IndicatorValue.id)
    )
    for v in session.scalars(stmt):
        out[v.indicator_code].append(v)
    return out


def best_by_year(values: Iterable[IndicatorValue]) -> dict[int, IndicatorValue]:
    """The value shown for each year: best quality first (official > secondary > computed > synthetic)."""
    best: dict[int, IndicatorValue] = {}
    for v in values:
        current = best.get(v.year)
        if current is None or (v.quality.rank, -v.id) < (current.quality.rank, -current.id):
            best[v.year] = v
    return dict(sorted(best.items()))


def history(session: Session, code: str) -> list[IndicatorValue]:
    """Every entered value of an indicator including superseded revisions, newest first."""
    stmt = (
        select(IndicatorValue)
        .where(IndicatorValue.indicator_code == code, IndicatorValue.is_computed.is_(False))
        .order_by(IndicatorValue.year.desc(), IndicatorValue.quarter, IndicatorValue.revision.desc())
    )
    return list(session.scalars(stmt).all())


def last_year(session: Session) -> int:
    """The latest complete year the registry-backed indicators are computed for."""
    loaded = get_meta(session, "demo_loaded_at")
    if loaded is not None:
        return 2025  # the demo city ends on 2025-12-31
    return date.today().year - 1


def recompute(session: Session) -> int:
    """Replace every computed value (registry-backed and derived) from the current inputs."""
    session.execute(delete(IndicatorValue).where(IndicatorValue.is_computed.is_(True)))
    session.flush()
    demo = get_meta(session, "demo_scale") is not None
    registry_quality = Quality.SYNTHETIC if demo else Quality.COMPUTED
    registry_source = "平台机构名录统计" + ("（演示数据，合成）" if demo else "")
    catalogue = {i.code: i for i in session.scalars(select(Indicator)).all()}
    units = {code: i.unit for code, i in catalogue.items()}
    added = 0
    for code, values in computed.registry_values(
        session, base_year=BASE_YEAR, last_year=last_year(session)
    ).items():
        if code not in units:
            continue
        for year, value in values.items():
            session.add(
                IndicatorValue(
                    indicator_code=code,
                    year=year,
                    value=value,
                    unit=units[code],
                    quality=registry_quality,
                    source=registry_source,
                    note=f"{year}年末",
                    is_computed=True,
                )
            )
            added += 1
    session.flush()
    inputs_needed = {c for d in computed.DERIVED for c in d.inputs}
    best = {
        code: {
            y: (v.value, v.quality.value, v.source)
            for y, v in best_by_year(annual_values(session, code)).items()
        }
        for code in inputs_needed
    }
    for code, values in computed.derived_values(best).items():
        formula = next(d.formula_zh for d in computed.DERIVED if d.code == code)
        for year, (value, used) in values.items():
            worst = max((Quality(u["quality"]) for u in used), key=lambda q: q.rank)
            session.add(
                IndicatorValue(
                    indicator_code=code,
                    year=year,
                    value=value,
                    unit=units[code],
                    quality=Quality.COMPUTED if worst.rank <= Quality.COMPUTED.rank else worst,
                    source=f"由 {formula} 计算",
                    note="；".join(
                        f"{u['indicator']} {u['year']}: {u['value']:g}（{Quality(u['quality']).zh}）"
                        for u in used
                    ),
                    inputs=used,
                    is_computed=True,
                )
            )
            added += 1
    session.flush()
    return added


# --------------------------------------------------------------------------------------------------
# Entering values: one validation for uploads and the API

VALUE_COLUMNS = (
    Column("indicator_code", "指标代码", "Indicator code", help_zh="见“指标”工作表中的代码"),
    Column("year", "年份", "Year", kind="integer", min=1978, max=2100),
    Column(
        "quarter", "季度", "Quarter", kind="integer", required=False, min=1, max=4, help_zh="年度数据留空"
    ),
    Column("value", "数值", "Value", kind="number"),
    Column("unit", "单位", "Unit", help_zh="必须与指标的单位一致，如 亿元、%、家"),
    Column("quality", "数据质量", "Quality", kind="choice", choices=QUALITY_LABELS),
    Column("source", "来源", "Source", help_zh="发布机构、文件或网址"),
    Column("note", "备注", "Note", required=False),
)


@dataclass
class ValueIn:
    indicator_code: str
    year: int
    value: float
    unit: str
    quality: Quality
    source: str
    quarter: int | None = None
    note: str = ""
    row: int | None = None  # where it came from, for error messages


def check_values(session: Session, values: Sequence[ValueIn]) -> list[RowError]:
    """Every problem with values to enter, in Chinese, by row and column."""
    indicators = {i.code: i for i in session.scalars(select(Indicator)).all()}
    errors: list[RowError] = []
    for v in values:
        indicator = indicators.get(v.indicator_code)
        if indicator is None:
            errors.append(RowError(v.row, "指标代码", f"未知的指标代码“{v.indicator_code}”"))
            continue
        if indicator.method == IndicatorMethod.DERIVED:
            errors.append(
                RowError(v.row, "指标代码", f"“{indicator.name_zh}”由系统根据其他指标计算，不能直接录入")
            )
        if v.unit != indicator.unit:
            errors.append(
                RowError(v.row, "单位", f"单位应为“{indicator.unit}”（{indicator.name_zh}），实为“{v.unit}”")
            )
        if v.quality in (Quality.OFFICIAL, Quality.SECONDARY) and not v.source.strip():
            errors.append(RowError(v.row, "来源", "官方或二手来源的数据必须注明来源"))
        if v.quality == Quality.COMPUTED:
            errors.append(RowError(v.row, "数据质量", "“平台计算”只用于系统计算的数值"))
    rows = [Row(v.row or 0, {"k": (v.indicator_code, v.year, v.quarter or 0)}) for v in values]
    errors += duplicate_errors(rows, lambda r: r.values["k"], column="年份", what="指标同一期间")
    return errors


def enter_values(
    session: Session, values: Sequence[ValueIn], *, username: str | None
) -> list[IndicatorValue]:
    """Validate all values, then write them (revising earlier ones) and recompute; all or nothing."""
    errors = check_values(session, values)
    if errors:
        raise ValidationFailed(f"数据有 {len(errors)} 处错误，均未写入", errors)
    written = []
    for v in values:
        row = {
            "indicator_code": v.indicator_code,
            "year": v.year,
            "quarter": v.quarter,
            "value": v.value,
            "unit": v.unit,
            "quality": v.quality,
            "source": v.source.strip(),
            "note": v.note or "",
        }
        current = _current_input(session, v.indicator_code, v.year, v.quarter)
        if current is None:
            new = IndicatorValue(**row, entered_by=username)
            session.add(new)
        else:
            new = _revise(session, current, row, username=username)
        written.append(new)
    session.flush()
    recompute(session)
    return written


def upload_values(
    session: Session, *, content: bytes, filename: str, username: str | None
) -> list[IndicatorValue]:
    """An Excel/CSV of values: validated whole; either every row lands or none."""
    table = parse_table(content, filename, VALUE_COLUMNS)
    parsed = [
        ValueIn(
            row=r.number,
            **{k: v for k, v in r.values.items() if k != "note"},
            note=r.values.get("note") or "",
        )
        for r in table.rows
    ]
    # Check what can be checked on every row, so that one pass shows every problem of the file.
    checkable = [v for v in parsed if v.indicator_code and v.year is not None and v.unit and v.quality]
    table.errors.extend(check_values(session, checkable))
    table.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
    table.reject_if_errors("上传的数据")
    written = enter_values(session, parsed, username=username)
    audit.record(
        session,
        action="upload",
        username=username,
        object_type="indicator_values",
        detail={"file": filename, "rows": len(written)},
    )
    return written


def values_template(session: Session) -> bytes:
    indicators = session.scalars(select(Indicator).order_by(Indicator.sort_order)).all()
    listing = [["指标代码", "名称", "单位", "类型", "来源方式"]] + [
        [i.code, i.name_zh, i.unit, i.kind.zh, i.method.zh] for i in indicators
    ]
    return template_xlsx(
        VALUE_COLUMNS,
        sheet_title="指标数值",
        example_rows=[
            [
                "gdp",
                2025,
                None,
                22000.0,
                "亿元",
                "官方",
                "杭州市统计局《2025年国民经济和社会发展统计公报》",
                "",
            ]
        ],
        notes=[
            "每行一个指标在一个年份（或季度）的数值；季度数据填写季度 1-4，年度数据季度留空。",
            "单位必须与“指标”工作表所列单位一致；比重、比率类指标填写百分数的数值（如 9.2 表示 9.2%）。",
            "“计算”类指标（如金融业增加值占GDP比重）由系统计算，不能录入。",
            "同一指标同一期间再次上传即为修订，原值保留在历史记录中。",
            "整个文件校验通过才会导入；任何一处错误都会使整个文件不被导入。",
        ],
        extra_sheets={"指标": listing},
    )


# --------------------------------------------------------------------------------------------------
# Plans: upload of a further plan (e.g. the 14th FYP) as data

PLAN_COLUMNS = (
    Column("code", "指标代码", "code"),
    Column("name_zh", "指标名称", "name_zh"),
    Column("name_en", "英文名称", "name_en", required=False),
    Column("unit", "单位", "unit"),
    Column(
        "kind",
        "指标类型",
        "kind",
        kind="choice",
        choices={**{k.value: k.value for k in IndicatorKind}, **{k.zh: k.value for k in IndicatorKind}},
    ),
    Column(
        "direction",
        "期望方向",
        "direction",
        kind="choice",
        choices={"increase": "increase", "decrease": "decrease", "提高": "increase", "降低": "decrease"},
    ),
    Column("baseline_year", "基期年份", "baseline_year", kind="integer", required=False, min=1978, max=2100),
    Column("baseline_value", "基期数值", "baseline_value", kind="number", required=False),
    Column("target_year", "目标年份", "target_year", kind="integer", min=1978, max=2100),
    Column("target_value", "目标值", "target_value", kind="number"),
    Column(
        "target_rule",
        "目标规则",
        "target_rule",
        kind="choice",
        choices={">": ">", ">=": ">=", "<": "<", "<=": "<=", "≥": ">=", "≤": "<="},
    ),
    Column("plan_section", "规划章节", "plan_section", required=False),
    Column("note", "备注", "note", required=False),
)


@dataclass
class PlanMeta:
    code: str
    name_zh: str
    period_start: int
    period_end: int
    source_document: str
    name_en: str = ""


def _check_plan_rows(session: Session, meta: PlanMeta, rows: Sequence[Row]) -> list[RowError]:
    errors: list[RowError] = []
    if session.scalar(select(Plan.id).where(Plan.code == meta.code)) is not None:
        errors.append(RowError(None, "规划代码", f"规划代码“{meta.code}”已存在"))
    if meta.period_end < meta.period_start:
        errors.append(RowError(None, "规划期", "规划期末不能早于期初"))
    indicators = {i.code: i for i in session.scalars(select(Indicator)).all()}
    for r in rows:
        v = r.values
        known = indicators.get(v["code"] or "")
        if known is not None and v["unit"] and v["unit"] != known.unit:
            errors.append(
                RowError(r.number, "单位", f"指标“{known.name_zh}”的单位是“{known.unit}”，实为“{v['unit']}”")
            )
        if v["target_year"] and not (meta.period_start <= v["target_year"] <= meta.period_end + 5):
            errors.append(RowError(r.number, "目标年份", f"目标年份 {v['target_year']} 不在规划期内"))
        if v["baseline_year"] and v["target_year"] and v["baseline_year"] >= v["target_year"]:
            errors.append(RowError(r.number, "基期年份", "基期年份应早于目标年份"))
        if (v["baseline_year"] is None) != (v["baseline_value"] is None):
            errors.append(RowError(r.number, "基期数值", "基期年份与基期数值应同时填写或同时留空"))
        rule, direction = v["target_rule"], v["direction"]
        if rule and direction and (rule.startswith(">") != (direction == "increase")):
            errors.append(RowError(r.number, "目标规则", f"目标规则“{rule}”与期望方向“{direction}”不一致"))
    errors += duplicate_errors(rows, lambda r: (r.values["code"],), column="指标代码", what="指标")
    return errors


def upload_plan(
    session: Session, *, meta: PlanMeta, content: bytes, filename: str, username: str | None
) -> Plan:
    """A new plan from a targets file (same columns as the shipped one); new indicators are created."""
    table = parse_table(content, filename, PLAN_COLUMNS)
    if table.rows or not table.errors:  # file-level problems (missing columns) stop here
        table.errors.extend(_check_plan_rows(session, meta, table.rows))
    table.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
    table.reject_if_errors("规划目标文件")
    plan = Plan(
        code=meta.code,
        name_zh=meta.name_zh,
        name_en=meta.name_en,
        period_start=meta.period_start,
        period_end=meta.period_end,
        source_document=meta.source_document,
        created_by=username,
    )
    session.add(plan)
    session.flush()
    known = {i.code for i in session.scalars(select(Indicator)).all()}
    next_order = len(known) + 1000
    for i, r in enumerate(table.rows):
        v = r.values
        if v["code"] not in known:
            session.add(
                Indicator(
                    code=v["code"],
                    name_zh=v["name_zh"],
                    name_en=v["name_en"] or v["name_zh"],
                    unit=v["unit"],
                    kind=IndicatorKind(v["kind"]),
                    direction=v["direction"],
                    method=IndicatorMethod.INPUT,
                    definition_zh=v["note"] or "",
                    sort_order=next_order + i,
                )
            )
            known.add(v["code"])
        session.flush()
        plan.targets.append(
            PlanTarget(
                indicator_code=v["code"],
                baseline_year=v["baseline_year"],
                baseline_value=v["baseline_value"],
                target_year=v["target_year"],
                target_value=v["target_value"],
                comparison=v["target_rule"],
                direction=v["direction"],
                plan_section=v["plan_section"] or "",
                note=v["note"] or "",
                sort_order=i,
            )
        )
    session.flush()
    audit.record(
        session,
        action="upload",
        username=username,
        object_type="plan",
        object_id=plan.id,
        detail={"file": filename, "targets": len(table.rows), "code": meta.code},
    )
    return plan


def plan_template(session: Session) -> bytes:
    example = [
        [
            "fin_value_added",
            "金融业增加值",
            "Financial industry value added",
            "亿元",
            "总量",
            "提高",
            2020,
            1780.0,
            2025,
            2700.0,
            ">=",
            "二(一)",
            "示例",
        ],
    ]
    return template_xlsx(
        PLAN_COLUMNS,
        sheet_title="规划目标",
        example_rows=example,
        notes=[
            "每行一个量化目标。已有指标请使用相同的指标代码和单位；新指标将按所填名称、单位和类型创建（录入类）。",
            "目标规则：> 或 >= 表示越高越好，< 或 <= 表示越低越好，须与期望方向一致。",
            "基期年份和基期数值可以留空（进展评估将以最早的实际数据为基期）。",
        ],
    )


# --------------------------------------------------------------------------------------------------
# Progress


@dataclass
class TargetProgress:
    target: PlanTarget
    indicator: Indicator
    assessment: Assessment
    series: dict[int, IndicatorValue]
    latest: IndicatorValue | None = None
    values_used: list[IndicatorValue] = field(default_factory=list)


def target_spec(target: PlanTarget) -> TargetSpec:
    kind = target.indicator.kind.value
    lower, upper = natural_bounds(kind, target.indicator.unit)
    baseline_year = target.baseline_year
    if baseline_year is None and kind == "flow":
        # A per-year average over the plan period: its flows start in the plan's first year.
        baseline_year = target.plan.period_start - 1
    return TargetSpec(
        code=target.indicator_code,
        kind=kind,
        direction=target.direction,
        comparison=target.comparison,
        target_year=target.target_year,
        target_value=target.target_value,
        baseline_year=baseline_year,
        baseline_value=target.baseline_value,
        unit=target.indicator.unit,
        lower_bound=lower,
        upper_bound=upper,
    )


def target_progress(
    session: Session,
    target: PlanTarget,
    *,
    as_of_year: int | None = None,
    values: list[IndicatorValue] | None = None,
) -> TargetProgress:
    """A target's progress; ``values``: its indicator's ``annual_values`` when already read."""
    if values is None:
        values = annual_values(session, target.indicator_code)
    series = best_by_year(values)
    assessment = assess(target_spec(target), {y: v.value for y, v in series.items()}, as_of_year=as_of_year)
    used_years = {assessment.base_year, assessment.assessed_year} - {None}
    return TargetProgress(
        target=target,
        indicator=target.indicator,
        assessment=assessment,
        series=series,
        latest=series[max(series)] if series else None,
        values_used=[series[y] for y in sorted(used_years) if y in series],
    )


def plan_progress(
    session: Session, *, plan_id: int, as_of_year: int | None = None
) -> tuple[Plan, list[TargetProgress]]:
    plan = get_or_404(session, Plan, plan_id)
    values = annual_values_of(session, (t.indicator_code for t in plan.targets))  # one query, not one each
    return plan, [
        target_progress(session, t, as_of_year=as_of_year, values=values[t.indicator_code])
        for t in plan.targets
    ]


def list_plans(session: Session) -> list[Plan]:
    return list(session.scalars(select(Plan).order_by(Plan.period_start.desc(), Plan.id.desc())).all())
