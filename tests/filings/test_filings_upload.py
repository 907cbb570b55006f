"""Uploading filings: every validation rule on both sides (Excel and the JSON API), whole-file
rejection, revisions, on-time/late, and the reporter's limits — at the service level."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from qiantang.audit.models import AuditEvent
from qiantang.auth.models import User
from qiantang.auth.scope import Scope
from qiantang.errors import ValidationFailed
from qiantang.filings import service
from qiantang.filings.models import Filing, FilingSource
from qiantang.filings.samples import sample_values, workbook
from qiantang.filings.templates import get_template
from qiantang.registry.models import Institution
from qiantang.standards.uscc import make_uscc

SMALL_LOAN = get_template("small_loan")
NOW = datetime(2026, 2, 1, 3, 0)  # 2025Q4 has ended (and was due on 2026-01-15)
BS_COLUMN = "资产总额（万元）、负债总额（万元）、所有者权益（净资产）（万元）"
# The small-loan fields other checks read: zero keeps those checks quiet when the balance sheet is wrong.
OTHER_CHECKED = sorted(
    {n for c in SMALL_LOAN.checks if c.code != "balance_sheet" for n in c.fields}
    - {"total_assets", "total_liabilities", "equity"}
)


def count_filings(db) -> int:
    return db.scalar(select(func.count()).select_from(Filing))


def user(db, username: str) -> User:
    return db.scalar(select(User).where(User.username == username))


@pytest.fixture
def reporter(db):
    u = user(db, "reporter")
    return u, Scope.for_user(u), db.get(Institution, u.institution_id)


@pytest.fixture
def admin(db):
    u = user(db, "admin")
    return u, Scope.for_user(u)


def small_loan_other(db, reporter_inst) -> Institution:
    """An open small-loan company other than the reporter's."""
    return db.scalar(
        select(Institution)
        .where(
            Institution.type_code == "small_loan",
            Institution.id != reporter_inst.id,
            Institution.deregistered_on.is_(None),
        )
        .order_by(Institution.id)
    )


def base_row(inst: Institution, period: str = "2025Q4", seed: int = 1) -> dict:
    return {"uscc": inst.uscc, "name": inst.name, "period": period, **sample_values(SMALL_LOAN, seed=seed)}


def xlsx(rows: list[dict]) -> bytes:
    return workbook(SMALL_LOAN, rows)


def upload(db, rows, who, **kw):
    u, scope = who[0], who[1]
    return service.upload_filings(
        db,
        content=xlsx(rows),
        filename="returns.xlsx",
        template_code="small_loan",
        actor=u,
        scope=scope,
        **kw,
    )


def submit(db, rows, who, **kw):
    u, scope = who[0], who[1]
    items = [
        {
            "uscc": r.get("uscc"),
            "period": r.get("period"),
            "data": {k: r.get(k) for k in SMALL_LOAN.field_codes},
        }
        for r in rows
    ]
    return service.submit_filings(db, items=items, template_code="small_loan", actor=u, scope=scope, **kw)


def errors_of(call) -> list[tuple]:
    with pytest.raises(ValidationFailed) as err:
        call()
    return [(e.row, e.column, e.message) for e in err.value.errors]


# ------------------------------------------------------------------------------------------------
# Each rule: one bad row after one good row (so the bad one is spreadsheet row 3 / API item 2).


def _bad_cases(db, inst, other, pfm, dereg, young):
    """name → (mutation of a valid row, expected column, expected text in the message)."""
    unknown = make_uscc("9", "1", "330106", "TEXAB123")
    assert db.scalar(select(Institution).where(Institution.uscc == unknown)) is None
    return {
        "unknown_uscc": ({"uscc": unknown}, "统一社会信用代码", f"没有统一社会信用代码为 {unknown} 的机构"),
        "malformed_uscc": ({"uscc": "91330106ABC"}, "统一社会信用代码", "长度应为 18 位"),
        "wrong_template": ({"uscc": pfm.uscc}, "统一社会信用代码", "不报送「小额贷款公司季度监管报表」"),
        "bad_period": ({"period": "2025-11-30"}, "报告期", "报告期应为季度末，如 2025Q4 或 2025-12-31"),
        "future_period": ({"period": "2026Q1"}, "报告期", "报告期 2026Q1 尚未结束"),
        "not_yet_established": (
            {"uscc": young.uscc, "period": "2015Q1"},
            "报告期",
            f"成立于 {young.established_on.isoformat()}",
        ),
        "after_exit": ({"uscc": dereg.uscc}, "报告期", "不在经营期内"),
        "missing_value": ({"loan_balance": None}, "贷款余额（万元）", "必填项为空"),
        "text_in_number": ({"loan_balance": "一万五"}, "贷款余额（万元）", "应为数字，实为“一万五”"),
        "below_min": ({"npl_balance": -5}, "不良贷款余额（万元）", "不应小于 0，实为 -5"),
        "count_not_whole": ({"borrower_count": 12.5}, "贷款户数（户）", "应为整数，实为“12.5”"),
        "cross_field": (
            {"total_assets": 1000, "total_liabilities": 600, "equity": 300}
            | dict.fromkeys(OTHER_CHECKED, 0.0),
            BS_COLUMN,
            "资产总额 1,000.00 ≠ 负债总额 600.00 + 所有者权益（净资产） 300.00"
            "（资产总额应等于负债总额与所有者权益之和）",
        ),
        "duplicate": ({}, "报告期", "与第 {previous} 行重复：同一机构"),
    }


@pytest.fixture
def cases(db, reporter):
    inst = reporter[2]
    other = small_loan_other(db, inst)
    pfm = db.scalar(select(Institution).where(Institution.type_code == "private_fund_manager").limit(1))
    dereg = db.scalar(
        select(Institution)
        .where(Institution.type_code == "small_loan", Institution.deregistered_on < date(2025, 10, 1))
        .limit(1)
    )
    young = db.scalar(
        select(Institution)
        .where(Institution.type_code == "small_loan", Institution.established_on > date(2015, 3, 31))
        .limit(1)
    )
    assert other and pfm and dereg and young, "the tiny demo city lacks an institution these tests need"
    return inst, other, _bad_cases(db, inst, other, pfm, dereg, young)


CASE_NAMES = [
    "unknown_uscc",
    "malformed_uscc",
    "wrong_template",
    "bad_period",
    "future_period",
    "not_yet_established",
    "after_exit",
    "missing_value",
    "text_in_number",
    "below_min",
    "count_not_whole",
    "cross_field",
    "duplicate",
]


@pytest.mark.parametrize("via", ["excel", "api"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_each_rule_is_reported_with_row_and_column(db, admin, cases, case, via):
    _inst, other, table = cases
    mutation, column, text = table[case]
    good = base_row(other, seed=2)
    bad = base_row(other, seed=3) | mutation
    before = count_filings(db)
    send = upload if via == "excel" else submit
    errors = errors_of(lambda: send(db, [good, bad], admin, now=NOW))
    row = 3 if via == "excel" else 2
    text = text.format(previous=row - 1)
    assert any(r == row and c == column and text in m for r, c, m in errors), errors
    assert all(r == row for r, _c, _m in errors), f"only the bad row is reported: {errors}"
    assert count_filings(db) == before
    # The other side: the same good row alone is stored.
    result = send(db, [good], admin, now=NOW)
    assert len(result.stored) == 1 and count_filings(db) == before + 1


def test_the_good_row_passes_every_rule(db, admin, reporter):
    """The base row is valid for the reporter's institution and for another, in one file."""
    other = small_loan_other(db, reporter[2])
    result = upload(db, [base_row(reporter[2]), base_row(other, "2025年第4季度")], admin, now=NOW)
    assert [s.uscc for s in result.stored] == [reporter[2].uscc, other.uscc]


def test_uscc_is_normalised_before_lookup(db, admin, reporter):
    inst = reporter[2]
    messy = " " + inst.uscc.lower()[:9] + "-" + inst.uscc.lower()[9:] + " "
    result = upload(db, [base_row(inst) | {"uscc": messy}], admin, now=NOW)
    assert result.stored[0].filing.institution_id == inst.id


def test_ratio_above_its_maximum(db, admin):
    template = get_template("financing_guarantee")
    inst = db.scalar(
        select(Institution)
        .where(Institution.type_code == "financing_guarantee", Institution.deregistered_on.is_(None))
        .limit(1)
    )
    row = {"uscc": inst.uscc, "period": "2025Q4", **sample_values(template), "small_micro_agri_share": 120}
    content = workbook(template, [row])
    with pytest.raises(ValidationFailed) as err:
        service.upload_filings(
            db,
            content=content,
            filename="g.xlsx",
            template_code=template.code,
            actor=admin[0],
            scope=admin[1],
        )
    assert [(e.row, e.message) for e in err.value.errors] == [(2, "不应大于 100，实为 120")]


def test_several_errors_are_all_reported_and_nothing_is_stored(db, admin, cases):
    _inst, other, table = cases
    rows = [base_row(other, seed=10)]
    for name, period in (
        ("text_in_number", "2025Q3"),
        ("cross_field", "2025Q2"),
        ("future_period", "2025Q1"),  # the mutation makes it 2026Q1
        ("unknown_uscc", "2024Q4"),
    ):
        rows.append(base_row(other, period, seed=11) | table[name][0])
    before = count_filings(db)
    audit_before = db.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(ValidationFailed) as err:
        upload(db, rows, admin, now=NOW)
    found = {(e.row, e.column) for e in err.value.errors}
    assert found == {
        (3, "贷款余额（万元）"),
        (4, BS_COLUMN),
        (5, "报告期"),
        (6, "统一社会信用代码"),
    }
    assert "4 处错误" in err.value.summary and "整个文件未导入" in err.value.summary
    assert count_filings(db) == before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    # Corrected, the same file is stored whole.
    fixed = [base_row(other, seed=10)] + [base_row(other, p, seed=12) for p in ("2025Q3", "2025Q2", "2025Q1")]
    result = upload(db, fixed, admin, now=NOW)
    assert len(result.stored) == 4 and count_filings(db) == before + 4
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "upload" and event.detail["rows"] == 4 and event.object_type == "filings"


def test_header_problems_reject_the_file(db, admin, reporter):
    content = workbook(SMALL_LOAN, [base_row(reporter[2])])
    wb = load_workbook(io.BytesIO(content))
    wb.active.cell(row=1, column=4).value = "注册资金"  # not a template column
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(ValidationFailed) as err:
        service.upload_filings(
            db,
            content=buf.getvalue(),
            filename="x.xlsx",
            template_code="small_loan",
            actor=admin[0],
            scope=admin[1],
        )
    messages = [(e.row, e.message) for e in err.value.errors]
    assert (1, "缺少必需的列「注册资本（万元）」") in messages
    assert any(r == 1 and "无法识别的列「注册资金」" in m for r, m in messages)


def test_unknown_template_and_unreadable_file(db, admin):
    with pytest.raises(Exception, match="未知的报表模板"):
        service.upload_filings(
            db, content=b"x", filename="x.xlsx", template_code="nope", actor=admin[0], scope=admin[1]
        )
    with pytest.raises(ValidationFailed, match="无法读取 Excel 文件"):
        service.upload_filings(
            db,
            content=b"PK\x03\x04garbage",
            filename="x.xlsx",
            template_code="small_loan",
            actor=admin[0],
            scope=admin[1],
        )


def test_csv_upload_is_validated_the_same_way(db, admin, reporter):
    columns = service.template_columns(SMALL_LOAN)
    row = base_row(reporter[2]) | {"loan_balance": "abc"}
    text = (
        ",".join(c.header_zh for c in columns)
        + "\n"
        + ",".join("" if row.get(c.key) is None else str(row[c.key]) for c in columns)
    )
    with pytest.raises(ValidationFailed) as err:
        service.upload_filings(
            db,
            content=text.encode("gb18030"),
            filename="r.csv",
            template_code="small_loan",
            actor=admin[0],
            scope=admin[1],
        )
    assert [(e.row, e.column) for e in err.value.errors] == [(2, "贷款余额（万元）")]


# ------------------------------------------------------------------------------------------------
# Revisions, due dates, scope


def test_refiling_is_a_new_revision_and_the_old_one_is_kept(db, reporter):
    u, _scope, inst = reporter
    period = date(2026, 3, 31)
    assert not db.scalars(
        select(Filing).where(Filing.institution_id == inst.id, Filing.period_end == period)
    ).all()
    first = upload(db, [base_row(inst, "2026Q1", seed=1)], reporter, now=datetime(2026, 4, 10, 2, 0))
    f1 = first.stored[0].filing
    assert (f1.revision, f1.is_current, f1.is_late) == (1, True, False)
    assert f1.due_on == date(2026, 4, 15) and f1.submitted_by == u.id and f1.source == FilingSource.UPLOAD
    assert f1.template_version == SMALL_LOAN.version and first.new == 1 and first.revised == 0
    second = submit(db, [base_row(inst, "2026-03-31", seed=2)], reporter, now=datetime(2026, 5, 2, 2, 0))
    f2 = second.stored[0].filing
    assert (f2.revision, f2.is_current, f2.source) == (2, True, FilingSource.API)
    assert second.revised == 1 and second.stored[0].is_revision
    db.expire_all()
    rows = db.scalars(
        select(Filing)
        .where(Filing.institution_id == inst.id, Filing.period_end == period)
        .order_by(Filing.revision)
    ).all()
    assert [(f.revision, f.is_current) for f in rows] == [(1, False), (2, True)]
    assert rows[0].data == sample_values(SMALL_LOAN, seed=1)  # revision 1 unchanged
    assert rows[1].data["loan_balance"] == sample_values(SMALL_LOAN, seed=2)["loan_balance"]


def test_refiling_a_demo_period_continues_its_revisions(db, reporter):
    inst = reporter[2]
    period = date(2025, 12, 31)
    last = db.scalar(
        select(func.max(Filing.revision)).where(Filing.institution_id == inst.id, Filing.period_end == period)
    )
    assert last is not None, "the demo reporter filed 2025Q4"
    result = upload(db, [base_row(inst)], reporter, now=NOW)
    assert result.stored[0].filing.revision == last + 1
    current = db.scalars(
        select(Filing).where(Filing.institution_id == inst.id, Filing.period_end == period, Filing.is_current)
    ).all()
    assert [f.revision for f in current] == [last + 1]


def test_late_versus_on_time(db, reporter):
    inst = reporter[2]
    on_time = (
        upload(db, [base_row(inst, "2026Q2")], reporter, now=datetime(2026, 7, 15, 9, 0)).stored[0].filing
    )
    assert on_time.due_on == date(2026, 7, 15) and not on_time.is_late  # on the due date itself
    late = upload(db, [base_row(inst, "2026Q3")], reporter, now=datetime(2026, 10, 16, 1, 0)).stored[0].filing
    assert late.due_on == date(2026, 10, 15) and late.is_late


def test_reporter_cannot_file_for_another_institution(db, reporter):
    inst = reporter[2]
    other = small_loan_other(db, inst)
    before = count_filings(db)
    for send in (upload, submit):
        errors = errors_of(lambda send=send: send(db, [base_row(inst), base_row(other)], reporter, now=NOW))
        assert len(errors) == 1
        row, column, message = errors[0]
        assert row in (3, 2) and column == "统一社会信用代码"
        assert message.startswith(f"只能报送本机构（{inst.name}）的报表")
        assert other.name not in message  # nothing about the other institution is revealed
    assert count_filings(db) == before


def test_api_rows_are_positions_and_unknown_fields_are_named(db, admin, reporter):
    inst = reporter[2]
    items = [
        {"uscc": inst.uscc, "period": "2025Q4", "data": sample_values(SMALL_LOAN) | {"loan_balanse": 1}},
        {"uscc": None, "period": None, "data": {}},
    ]
    with pytest.raises(ValidationFailed) as err:
        service.submit_filings(
            db, items=items, template_code="small_loan", actor=admin[0], scope=admin[1], now=NOW
        )
    errors = [(e.row, e.column, e.message) for e in err.value.errors]
    assert (1, "loan_balanse", "模板「小额贷款公司季度监管报表」中没有字段“loan_balanse”") in errors
    row2 = {(c, m) for r, c, m in errors if r == 2}
    assert ("统一社会信用代码", "必填项为空") in row2 and ("报告期", "必填项为空") in row2
    assert ("贷款余额（万元）", "必填项为空") in row2
    assert len(row2) == 2 + len(SMALL_LOAN.fields)
    assert "全部未保存" in err.value.summary


def test_template_workbook_prefills_the_reporter_and_explains_every_field(db, reporter):
    _u, scope, inst = reporter
    content = service.template_workbook(db, template_code="small_loan", scope=scope, today=date(2026, 2, 1))
    wb = load_workbook(io.BytesIO(content))
    data = list(wb.worksheets[0].iter_rows(values_only=True))
    assert data[0][:4] == ("统一社会信用代码", "机构名称", "报告期", "注册资本（万元）")
    assert len(data[0]) == 3 + len(SMALL_LOAN.fields)
    assert data[1][:3] == (inst.uscc, inst.name, "2025Q4")
    notes = "\n".join(
        " ".join(str(v) for v in row if v is not None) for row in wb["说明"].iter_rows(values_only=True)
    )
    for f in SMALL_LOAN.fields:
        assert f"{f.name_zh}（{f.unit}）" in notes
    for c in SMALL_LOAN.checks:
        assert c.message_zh in notes
    assert "资产总额 = 负债总额 + 所有者权益（净资产）" in notes and "≥ 0" in notes
