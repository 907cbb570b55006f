"""Plan monitoring with the shipped real data, demo values, uploads, revisions and computed indicators."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete, func, select

from qiantang.errors import ValidationFailed
from qiantang.plan import service
from qiantang.plan.models import Indicator, IndicatorValue, Plan, Quality
from qiantang.plan.progress import ProgressStatus


def progress_of(db, code: str, plan_code: str = service.DEFAULT_PLAN_CODE):
    plan = db.scalar(select(Plan).where(Plan.code == plan_code))
    target = next(t for t in plan.targets if t.indicator_code == code)
    return service.target_progress(db, target)


def drop_synthetic(db) -> None:
    """Back to the real data only: what an installation without the demo city holds."""
    db.execute(delete(IndicatorValue).where(IndicatorValue.quality == Quality.SYNTHETIC))
    db.flush()


def xlsx(rows: list[list], header: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header or ["指标代码", "年份", "季度", "数值", "单位", "数据质量", "来源", "备注"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_shipped_plan_has_every_target(db):
    plan = db.scalar(select(Plan).where(Plan.code == service.DEFAULT_PLAN_CODE))
    with open("docs/reference/plan-targets.csv", encoding="utf-8") as fh:
        shipped = list(csv.DictReader(fh))
    assert [t.indicator_code for t in plan.targets] == [r["code"] for r in shipped]
    npl = next(t for t in plan.targets if t.indicator_code == "npl_ratio")
    assert (npl.baseline_value, npl.target_value, npl.comparison, npl.direction) == (
        1.84,
        1.6,
        "<",
        "decrease",
    )


def test_plan_progress_reads_every_value_at_once_and_gives_what_each_target_reads(db):
    """``plan_progress`` reads the values of all targets in one query: the same series, values used and
    assessment as each target read on its own, including a revised value and a target without data."""
    plan = db.scalar(select(Plan).where(Plan.code == service.DEFAULT_PLAN_CODE))
    first = plan.targets[0]
    old = db.scalar(
        select(IndicatorValue)
        .where(IndicatorValue.indicator_code == first.indicator_code, IndicatorValue.quarter.is_(None))
        .order_by(IndicatorValue.year.desc())
        .limit(1)
    )
    old.is_current = False  # a revision: the old row stays, no longer current
    db.add(
        IndicatorValue(
            indicator_code=first.indicator_code,
            year=old.year,
            value=old.value + 1,
            unit=old.unit,
            quality=old.quality,
            revision=old.revision + 1,
        )
    )
    db.flush()
    _plan, progress = service.plan_progress(db, plan_id=plan.id)
    assert [p.target.id for p in progress] == [t.id for t in plan.targets]
    for p, t in zip(progress, plan.targets, strict=True):
        alone = service.target_progress(db, t)
        assert {y: v.id for y, v in p.series.items()} == {y: v.id for y, v in alone.series.items()}
        assert [v.id for v in p.values_used] == [v.id for v in alone.values_used]
        assert p.assessment == alone.assessment, t.indicator_code
    assert progress[0].series[old.year].value == old.value + 1


def test_real_listed_companies_show_the_reference_value_and_source(db):
    drop_synthetic(db)
    p = progress_of(db, "listed_companies")
    assert p.assessment.status == ProgressStatus.TARGET_ACHIEVED
    assert p.assessment.assessed_year == 2021 and p.assessment.assessed_value == 260
    used = {v.year: v for v in p.values_used}
    assert used[2021].quality == Quality.OFFICIAL and "cnbzol.com" in used[2021].source
    assert used[2015].value == 118 and "杭政办函〔2016〕128号" in used[2015].source
    assert any("2021" in r and "目标年份之后" in r for r in p.assessment.reasons)


def test_real_gdp_values_come_with_their_sources(db):
    drop_synthetic(db)
    gdp = service.best_by_year(service.annual_values(db, "gdp"))
    assert gdp[2015].value == 10050.21 and "Statistical Yearbook" in gdp[2015].source
    assert gdp[2019].value == 15373 and gdp[2019].source.startswith("http")
    assert gdp[2024].quality == Quality.SECONDARY
    # The 2015 share of GDP is computed, never typed: 941.47 / 10050.21 × 100.
    share = service.best_by_year(service.annual_values(db, "fin_share_gdp"))
    assert share[2015].value == pytest.approx(941.47 / 10050.21 * 100, abs=1e-3)
    assert share[2015].is_computed and share[2015].inputs[1]["indicator"] == "gdp"


def test_indicator_without_actual_data_is_not_available(db):
    drop_synthetic(db)
    for code in ("fin_value_added", "fin_share_gdp", "premiums", "wealth_mgmt_scale"):
        p = progress_of(db, code)
        assert p.assessment.status == ProgressStatus.NOT_AVAILABLE, code
        assert p.assessment.reasons  # it says why, it does not guess


def test_demo_values_are_labelled_synthetic(db):
    fva = service.best_by_year(service.annual_values(db, "fin_value_added"))
    assert fva[2015].quality == Quality.OFFICIAL  # the plan's own figure is kept
    assert all(v.quality == Quality.SYNTHETIC for y, v in fva.items() if y > 2015)
    assert all("演示数据" in v.source for y, v in fva.items() if y > 2015)


def test_registry_backed_indicators_are_computed_from_the_registry(db):
    from qiantang.registry.models import Institution

    bsi = service.best_by_year(service.annual_values(db, "private_fund_managers"))
    count = db.scalar(
        select(func.count())
        .select_from(Institution)
        .where(
            Institution.type_code == "private_fund_manager",
            Institution.established_on <= date(2020, 12, 31),
            (Institution.deregistered_on.is_(None)) | (Institution.deregistered_on > date(2020, 12, 31)),
        )
    )
    assert bsi[2020].value == count and bsi[2020].is_computed


def test_upload_values_then_revision_keeps_history(db):
    first = xlsx([["fin_value_added", 2019, None, 1400.5, "亿元", "官方", "杭州市统计局 2019 公报", ""]])
    service.upload_values(db, content=first, filename="v.xlsx", username="analyst")
    second = xlsx(
        [["fin_value_added", 2019, None, 1405.0, "亿元", "官方", "杭州市统计局 2019 公报（修订）", "修订"]]
    )
    service.upload_values(db, content=second, filename="v.xlsx", username="analyst")
    rows = [v for v in service.history(db, "fin_value_added") if v.year == 2019]
    current = [v for v in rows if v.is_current]
    assert len(current) == 1 and current[0].value == 1405.0 and current[0].revision >= 2
    assert any(v.value == 1400.5 and not v.is_current for v in rows)
    # The derived share was recomputed from the revised value.
    share = service.best_by_year(service.annual_values(db, "fin_share_gdp"))[2019]
    assert share.value == pytest.approx(1405.0 / 15373 * 100, abs=1e-3)
    assert share.quality == Quality.COMPUTED  # official inputs only


def count_values(db) -> int:
    return db.scalar(select(func.count()).select_from(IndicatorValue))


def test_bad_upload_is_rejected_whole_with_row_by_row_errors(db):
    before = count_values(db)
    bad = xlsx(
        [
            ["fin_value_added", 2019, None, 1400, "亿元", "官方", "公报", ""],  # fine on its own
            ["no_such_indicator", 2019, None, 1, "亿元", "官方", "x", ""],  # unknown code
            ["deposits", 2019, None, "abc", "亿元", "官方", "x", ""],  # text in a number cell
            ["loans", 2019, None, 30000, "亿元", "官方", "x", ""],
            ["loans", 2019, None, 30100, "亿元", "官方", "x", ""],  # duplicate year
            ["premiums", 2019, None, 500, "万元", "官方", "x", ""],  # wrong unit
            ["fin_share_gdp", 2019, None, 9.5, "%", "官方", "x", ""],  # derived: never typed
        ]
    )
    with pytest.raises(ValidationFailed) as info:
        service.upload_values(db, content=bad, filename="bad.xlsx", username="analyst")
    errors = {(e.row, e.column): e.message for e in info.value.errors}
    assert "未知的指标代码" in errors[(3, "指标代码")]
    assert "应为数字" in errors[(4, "数值")] and "abc" in errors[(4, "数值")]
    assert "与第 5 行重复" in errors[(6, "年份")]
    assert "单位应为“亿元”" in errors[(7, "单位")]
    assert "由系统根据其他指标计算" in errors[(8, "指标代码")]
    assert "整个文件未导入" in info.value.summary
    assert count_values(db) == before  # nothing written, not even the good row


def test_upload_with_missing_column_or_wrong_file(db):
    with pytest.raises(ValidationFailed) as info:
        service.upload_values(
            db,
            content=xlsx([["gdp", 2019, 1, "亿元"]], header=["指标代码", "年份", "数值", "单位"]),
            filename="v.xlsx",
            username="x",
        )
    assert any("缺少必需的列「数据质量」" in e.message for e in info.value.errors)
    with pytest.raises(ValidationFailed):
        service.upload_values(db, content=b"\x00\x01garbage", filename="v.xlsx", username="x")
    with pytest.raises(ValidationFailed):
        service.upload_values(db, content=b"", filename="v.csv", username="x")


def test_csv_upload_in_gbk(db):
    text = "指标代码,年份,季度,数值,单位,数据质量,来源,备注\npremiums,2018,,520.5,亿元,官方,浙江银保监局,\n"
    written = service.upload_values(db, content=text.encode("gb18030"), filename="v.csv", username="x")
    assert written[0].value == 520.5 and written[0].source == "浙江银保监局"


def test_template_round_trips(db):
    content = service.values_template(db)
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames[0] == "指标数值" and "指标" in wb.sheetnames
    header = [c.value for c in wb.active[1]]
    assert header == [c.header_zh for c in service.VALUE_COLUMNS]
    # The example row in the template is itself valid.
    written = service.upload_values(db, content=content, filename="template.xlsx", username="x")
    assert written[0].indicator_code == "gdp"


def plan_file(rows: list[list]) -> bytes:
    header = [
        "指标代码",
        "指标名称",
        "英文名称",
        "单位",
        "指标类型",
        "期望方向",
        "基期年份",
        "基期数值",
        "目标年份",
        "目标值",
        "目标规则",
        "规划章节",
        "备注",
    ]
    return xlsx(rows, header=header)


def test_a_further_plan_is_uploaded_as_data(db):
    meta = service.PlanMeta(
        code="hz-fin-14fyp",
        name_zh="杭州市金融业发展“十四五”规划",
        period_start=2021,
        period_end=2025,
        source_document="示例",
    )
    content = plan_file(
        [
            [
                "fin_value_added",
                "金融业增加值",
                "",
                "亿元",
                "总量",
                "提高",
                2020,
                1500,
                2025,
                2500,
                ">=",
                "二",
                "",
            ],
            [
                "green_loans",
                "绿色贷款余额",
                "Green loans",
                "亿元",
                "总量",
                "提高",
                None,
                None,
                2025,
                5000,
                ">=",
                "二",
                "",
            ],
        ]
    )
    plan = service.upload_plan(db, meta=meta, content=content, filename="p.xlsx", username="admin")
    assert [t.indicator_code for t in plan.targets] == ["fin_value_added", "green_loans"]
    assert db.get(Indicator, "green_loans").unit == "亿元"
    _plan, progress = service.plan_progress(db, plan_id=plan.id)
    statuses = {p.indicator.code: p.assessment.status for p in progress}
    assert statuses["green_loans"] == ProgressStatus.NOT_AVAILABLE
    assert statuses["fin_value_added"] != ProgressStatus.NOT_AVAILABLE


def test_bad_plan_upload_is_rejected(db):
    meta = service.PlanMeta(
        code=service.DEFAULT_PLAN_CODE, name_zh="重复", period_start=2021, period_end=2025, source_document=""
    )
    before = db.scalar(select(func.count()).select_from(Plan))
    content = plan_file(
        [
            [
                "fin_value_added",
                "金融业增加值",
                "",
                "万元",
                "总量",
                "提高",
                2020,
                1500,
                2025,
                2500,
                ">=",
                "",
                "",
            ],
            ["npl_ratio", "不良贷款率", "", "%", "比率", "降低", 2020, 1.0, 2025, 0.8, ">=", "", ""],
            ["x1", "新指标", "", "家", "奇怪", "提高", None, None, 2025, 5, ">=", "", ""],
        ]
    )
    with pytest.raises(ValidationFailed) as info:
        service.upload_plan(db, meta=meta, content=content, filename="p.xlsx", username="admin")
    messages = " ".join(e.message for e in info.value.errors)
    assert "已存在" in messages and "单位是“亿元”" in messages and "不一致" in messages
    assert "不是允许的取值" in messages
    assert db.scalar(select(func.count()).select_from(Plan)) == before
