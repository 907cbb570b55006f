"""Filings (报表报送): template workbooks, whole-input validation, storing revisions, compliance.

Every way in (an Excel/CSV upload, the JSON API) goes through the same steps: convert every cell
against the template's columns, then check every row (institution, scope, period, cross-field checks,
duplicates) and collect *every* problem; if there is one, raise ``ValidationFailed`` and write
nothing. Otherwise each row becomes a ``Filing`` — a re-filing of a period is a new revision and the
old one is kept — the touched quarters' statistics are refreshed and one audit event is written, all
in the caller's transaction (service functions never commit). Definitions: docs/methods/filings.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from threading import Lock
from typing import Any

from cachetools import LRUCache
from sqlalchemy import Select, and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.auth.models import Role, User
from qiantang.auth.scope import Scope
from qiantang.db import get_or_404, utcnow
from qiantang.errors import Conflict, QiantangError, RowError, ValidationFailed
from qiantang.filings import checks
from qiantang.filings.models import AnnualFiling, Filing, FilingSource
from qiantang.filings.periods import (
    RECORDS_START,
    PeriodError,
    has_ended,
    latest_due_period,
    latest_ended_period,
    parse_period,
    parse_year_end,
    period_label,
    periods_between,
    previous_period,
    quarter_end_of,
    quarter_start,
    year_label,
)
from qiantang.filings.templates import (
    FilingTemplate,
    TemplateField,
    all_templates,
    get_template,
    quarterly_templates,
)
from qiantang.registry.models import Area, Institution, InstitutionType
from qiantang.standards.uscc import check_uscc
from qiantang.uploads import MAX_ERRORS_SHOWN, Column, Row, Table, convert_cell, parse_table, template_xlsx

USCC_HEADER = "统一社会信用代码"
NAME_HEADER = "机构名称"
PERIOD_HEADER = "报告期"
MAX_API_ROWS = 20_000
_CHUNK = 5_000  # ids per IN (…) list
_TYPE_ZH = {"amount": "金额", "count": "整数", "ratio": "比例"}


def today_utc() -> date:
    """Today as the platform dates submissions: the UTC date, like ``Filing.is_late``."""
    return utcnow().date()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def template_or_error(code: str | None) -> FilingTemplate:
    """A template by code; a 400 with the known codes when it does not exist."""
    try:
        return get_template(code or "")
    except KeyError:
        known = "、".join(all_templates())
        raise QiantangError(
            f"未知的报表模板：{code or '（未指定）'}（可选：{known}）",
            message_en=f"Unknown filing template {code!r}",
        ) from None


# --------------------------------------------------------------------------------------------------
# Columns and the template workbook


def field_header(f: TemplateField) -> str:
    """A field's column header, e.g. ``资产总额（万元）``."""
    return f"{f.name_zh}（{f.unit}）"


def _range_text(f: TemplateField) -> str:
    if f.min is not None and f.max is not None:
        return f"{f.min:g} – {f.max:g}"
    if f.min is not None:
        return f"≥ {f.min:g}"
    if f.max is not None:
        return f"≤ {f.max:g}"
    return "不限（可为负数）" if f.type != "count" else "不限"


def field_column(f: TemplateField) -> Column:
    kind = "integer" if f.type == "count" else "number"
    help_zh = f"{f.name_zh}，单位：{f.unit}，{_TYPE_ZH.get(f.type, f.type)}，取值范围：{_range_text(f)}"
    return Column(
        key=f.code,
        header_zh=field_header(f),
        header_en=f"{f.name_en} ({f.unit})",
        kind=kind,
        required=f.required,
        min=f.min,
        max=f.max,
        help_zh=help_zh,
    )


@lru_cache(maxsize=32)
def template_columns(template: FilingTemplate) -> tuple[Column, ...]:
    """The upload columns of a template: USCC, name (optional), period, then one per field."""
    return (
        Column("uscc", USCC_HEADER, "USCC", help_zh="18 位统一社会信用代码"),
        Column("name", NAME_HEADER, "Institution name", required=False, help_zh="仅供核对，不参与校验"),
        Column(
            "period",
            PERIOD_HEADER,
            "Period",
            help_zh=(
                "年份，如 2025 或 2025年度"
                if template.is_annual
                else "季度，如 2025Q4、2025年第4季度或 2025-12-31"
            ),
        ),
        *(field_column(f) for f in template.fields),
    )


def _explanation_rows(template: FilingTemplate) -> list[list[Any]]:
    rows: list[list[Any]] = [
        [f"{template.name_zh}（模板代码 {template.code}，版本 {template.version}）"],
        [f"依据：{template.basis}"],
        [
            f"报送频率：按年度；报送期限：年度结束后 {template.due_days} 日内"
            f"（如 2025 年度应于 {date(2025, 12, 31) + timedelta(days=template.due_days)} 前报送）；"
            "本表只填汇总人数，不填任何个人姓名或身份信息"
            if template.is_annual
            else f"报送频率：按季度；报送期限：季度结束后 {template.due_days} 日内"
            f"（如 2025Q4 应于 {date(2025, 12, 31) + timedelta(days=template.due_days)} 前报送）"
        ],
        [
            "填写说明：每个机构每个报告期一行；金额单位以列名括号内为准；整个文件先整体校验，"
            "有任何错误则整个文件都不导入；同一报告期再次报送即为更正（新版本），原版本保留。"
        ],
        [],
        ["列名", "字段代码", "单位", "类型", "必填", "取值范围"],
        [USCC_HEADER, "uscc", "", "文本", "是", "18 位，须为本平台机构名录中的机构"],
        [NAME_HEADER, "name", "", "文本", "否", "仅供核对"],
        [
            PERIOD_HEADER,
            "period",
            "",
            "年度" if template.is_annual else "季度",
            "是",
            "年份，如 2025 或 2025年度；须已结束且机构在经营期内"
            if template.is_annual
            else "季度末，如 2025Q4 或 2025-12-31；须已结束且机构在经营期内",
        ],
    ]
    for f in template.fields:
        rows.append(
            [
                field_header(f),
                f.code,
                f.unit,
                _TYPE_ZH.get(f.type, f.type) + ("（须为整数）" if f.type == "count" else ""),
                "是" if f.required else "否",
                _range_text(f),
            ]
        )
    rows += [[], ["校验规则（表内勾稽关系）", "规则", "说明"]]
    for c in template.checks:
        rows.append([c.code, checks.describe_check(template, c), c.message_zh])
    rows.append([f"等式与“不超过”类规则允许 ±{checks.CHECK_TOLERANCE:g} 的四舍五入误差（两位小数）。"])
    return rows


def template_workbook(
    session: Session,
    *,
    template_code: str,
    scope: Scope,
    institution_id: int | None = None,
    period: date | None = None,
    today: date | None = None,
) -> bytes:
    """The Excel template; for a reporter (or a given institution) its first row is prefilled."""
    template = template_or_error(template_code)
    if scope.role == Role.INSTITUTION_REPORTER:
        institution_id = scope.institution_id
    example: list[list[Any]] = []
    if institution_id is not None:
        inst = get_or_404(session, Institution, institution_id)
        scope.check_institution(inst.id, inst.district_code)
        if template.is_annual and template.applies_to(inst.type_code):
            chosen = period or date((today or today_utc()).year - 1, 12, 31)
            example.append([inst.uscc, inst.name, year_label(chosen)])
        elif inst.type.filing_template == template.code:
            chosen = period or latest_ended_period(today or today_utc())
            example.append([inst.uscc, inst.name, period_label(chosen)])
    return template_xlsx(
        template_columns(template),
        sheet_title=template.name_zh,
        example_rows=example,
        extra_sheets={"说明": _explanation_rows(template)},
    )


# --------------------------------------------------------------------------------------------------
# Reading the input into rows


def _api_table(items: Sequence[Mapping[str, Any]], template: FilingTemplate) -> Table:
    """API items ``{uscc, period, data: {field: value}}`` checked cell by cell like a spreadsheet."""
    columns = template_columns(template)
    by_key = {c.key: c for c in columns}
    errors: list[RowError] = []
    rows: list[Row] = []
    if not items:
        errors.append(RowError(None, None, "没有提交任何报表"))
    for number, item in enumerate(items, start=1):
        data = item.get("data") or {}
        cells = {"uscc": item.get("uscc"), "name": item.get("name"), "period": item.get("period")}
        for key, value in data.items():
            if key in template.field_codes:
                cells[key] = value
            else:
                errors.append(RowError(number, key, f"模板「{template.name_zh}」中没有字段“{key}”"))
        values: dict[str, Any] = {}
        for key, column in by_key.items():
            cell = cells.get(key)
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                if column.required:
                    errors.append(RowError(number, column.header_zh, "必填项为空"))
                values[key] = None
                continue
            try:
                values[key] = convert_cell(column, cell)
            except ValueError as exc:
                errors.append(RowError(number, column.header_zh, str(exc)))
                values[key] = None
        rows.append(Row(number, values))
    return Table(rows=rows, errors=errors)


# --------------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class _Inst:
    id: int
    uscc: str
    name: str
    type_code: str
    type_name_zh: str
    template_code: str | None
    district_code: str
    established_on: date
    deregistered_on: date | None


def _inst_query() -> Select:
    return select(
        Institution.id,
        Institution.uscc,
        Institution.name,
        Institution.type_code,
        InstitutionType.name_zh,
        InstitutionType.filing_template,
        Institution.district_code,
        Institution.established_on,
        Institution.deregistered_on,
    ).join(InstitutionType, InstitutionType.code == Institution.type_code)


def _institutions_by_uscc(session: Session, usccs: Iterable[str]) -> dict[str, _Inst]:
    codes = sorted(set(usccs))
    out: dict[str, _Inst] = {}
    for chunk in _chunks(codes):
        for row in session.execute(_inst_query().where(Institution.uscc.in_(chunk))):
            out[row[1]] = _Inst(*row)
    return out


@lru_cache(maxsize=65_536)
def _uscc(raw: str) -> tuple[str, tuple[str, ...]]:
    """(normalised code, hard errors) of a USCC as typed."""
    result = check_uscc(raw)
    return result.code, result.errors


@dataclass
class _Valid:
    row: int
    inst: _Inst
    period_end: date
    data: dict[str, Any]


def _operating_error(inst: _Inst, period_end: date) -> str | None:
    label = period_label(period_end)
    if inst.established_on > period_end:
        return (
            f"「{inst.name}」成立于 {inst.established_on.isoformat()}，"
            f"报告期 {label}（截至 {period_end.isoformat()}）时尚未成立"
        )
    if inst.deregistered_on is not None and inst.deregistered_on <= quarter_start(period_end):
        return (
            f"「{inst.name}」已于 {inst.deregistered_on.isoformat()} 注销或被吊销，"
            f"报告期 {label}（{quarter_start(period_end).isoformat()} 起）不在经营期内"
        )
    return None


def _institution_error(
    inst: _Inst | None, code: str, *, template: FilingTemplate, scope: Scope, own_name: str | None
) -> str | None:
    """Why this row may not be filed for this institution (unknown, outside the scope, wrong template)."""
    if inst is None:
        return f"机构名录中没有统一社会信用代码为 {code} 的机构，请核对或先登记该机构"
    if scope.role == Role.INSTITUTION_REPORTER and inst.id != scope.institution_id:
        own = own_name or "未关联机构"
        return f"只能报送本机构（{own}）的报表，不能报送统一社会信用代码为 {code} 的机构"
    if scope.role == Role.DISTRICT_OFFICER and inst.district_code != scope.district_code:
        return f"只能报送本区县机构的报表，不能报送统一社会信用代码为 {code} 的机构"
    if template.is_annual:
        if template.applies_to(inst.type_code):
            return None
        return f"「{inst.name}」是{inst.type_name_zh}，不报送「{template.name_zh}」"
    if inst.template_code != template.code:
        templates = all_templates()
        should = (
            f"应报送「{templates[inst.template_code].name_zh}」"
            if inst.template_code in templates
            else "该类机构无需报送报表"
        )
        return f"「{inst.name}」是{inst.type_name_zh}，不报送「{template.name_zh}」（{should}）"
    return None


def _year_error(period_end: date, inst: _Inst | None, today: date) -> str | None:
    """Why a year cannot be filed: not over yet, or the institution was not operating in it."""
    label = f"{period_end.year} 年度"
    if not has_ended(period_end, today):
        return f"报告期 {label} 尚未结束（年末为 {period_end.isoformat()}），年度结束后才能报送"
    if inst is None:
        return None
    if inst.established_on > period_end:
        return f"「{inst.name}」成立于 {inst.established_on.isoformat()}，报告期 {label} 时尚未成立"
    if inst.deregistered_on is not None and inst.deregistered_on <= date(period_end.year, 1, 1):
        gone = inst.deregistered_on.isoformat()
        return f"「{inst.name}」已于 {gone} 注销或被吊销，报告期 {label} 不在经营期内"
    return None


def _period_error(period_end: date, inst: _Inst | None, today: date) -> str | None:
    """Why a quarter cannot be filed: not over yet, or the institution was not operating in it."""
    if not has_ended(period_end, today):
        return (
            f"报告期 {period_label(period_end)} 尚未结束（季度末为 {period_end.isoformat()}），"
            "季度结束后才能报送"
        )
    if inst is not None:
        return _operating_error(inst, period_end)
    return None


def _validate(
    session: Session, *, table: Table, template: FilingTemplate, scope: Scope, today: date
) -> list[_Valid]:
    """Check every converted row; every problem goes into ``table.errors``."""
    errors: list[RowError] = []
    normalised: dict[int, str] = {}
    for row in table.rows:
        raw = row.values.get("uscc")
        if raw is None:
            continue
        code, problems = _uscc(str(raw))
        if problems:
            errors.append(
                RowError(row.number, USCC_HEADER, f"统一社会信用代码“{raw}”有误：{'；'.join(problems)}")
            )
        else:
            normalised[row.number] = code
    institutions = _institutions_by_uscc(session, normalised.values())
    own_name = None
    if scope.role == Role.INSTITUTION_REPORTER and scope.institution_id is not None:
        own_name = session.scalar(select(Institution.name).where(Institution.id == scope.institution_id))
    field_codes = template.field_codes
    required = [f.code for f in template.fields if f.required]
    headers = {f.code: field_header(f) for f in template.fields}
    valid: list[_Valid] = []
    seen: dict[tuple[str, date], int] = {}
    for row in table.rows:
        n, values = row.number, row.values
        inst: _Inst | None = None
        code = normalised.get(n)
        if code is not None:
            inst = institutions.get(code)
            problem = _institution_error(inst, code, template=template, scope=scope, own_name=own_name)
            if problem:
                errors.append(RowError(n, USCC_HEADER, problem))
                inst = None  # nothing more is said about an institution the row may not file for
        period_end: date | None = None
        if values.get("period") is not None:
            try:
                period_end = (parse_year_end if template.is_annual else parse_period)(values["period"])
            except PeriodError as exc:
                errors.append(RowError(n, PERIOD_HEADER, str(exc)))
            else:
                if problem := (_year_error if template.is_annual else _period_error)(period_end, inst, today):
                    errors.append(RowError(n, PERIOD_HEADER, problem))
                    period_end = None
        row_ok = inst is not None and period_end is not None
        data = {c: values.get(c) for c in field_codes}
        if all(data[c] is not None for c in required):
            for check, links in checks.broken_checks(template, data):
                column = checks.check_headers(template, check, lambda f: headers[f.code])
                errors.append(RowError(n, column, checks.explain_failure(template, check, data, links)))
                row_ok = False
        if code is not None and period_end is not None:
            key = (code, period_end)
            if key in seen:
                label = year_label(period_end) if template.is_annual else period_label(period_end)
                message = f"与第 {seen[key]} 行重复：同一机构（{code}）的同一报告期 {label} 只能出现一次"
                errors.append(RowError(n, PERIOD_HEADER, message))
                row_ok = False
            else:
                seen[key] = n
        if row_ok and inst is not None and period_end is not None:
            valid.append(_Valid(n, inst, period_end, data))
    table.errors.extend(errors)
    table.errors.sort(key=lambda e: e.row or 0)
    return valid


def _reject(table: Table, what: str, *, file: bool) -> None:
    if not table.errors:
        return
    errors = table.errors[:MAX_ERRORS_SHOWN]
    tail = "整个文件未导入，请修改后重新上传" if file else "全部未保存，请修改后重新提交"
    summary = f"{what}有 {len(table.errors)} 处错误，{tail}"
    if len(table.errors) > len(errors):
        summary += f"（仅列出前 {MAX_ERRORS_SHOWN} 处）"
    raise ValidationFailed(summary, errors)


# --------------------------------------------------------------------------------------------------
# Storing


@dataclass(frozen=True)
class StoredRecord:
    """A filing as just stored: the same fields as ``Filing``, without the ORM's bookkeeping."""

    id: int
    institution_id: int
    template_code: str
    template_version: str
    period_end: date
    revision: int
    is_current: bool
    data: dict[str, Any]
    due_on: date
    submitted_at: datetime
    submitted_by: int | None
    source: FilingSource

    @property
    def is_late(self) -> bool:
        return self.submitted_at.date() > self.due_on


@dataclass(frozen=True)
class StoredFiling:
    filing: StoredRecord
    uscc: str
    institution_name: str
    district_code: str

    @property
    def is_revision(self) -> bool:
        return self.filing.revision > 1


@dataclass
class UploadResult:
    """What an upload stored: one entry per input row, in input order."""

    template: FilingTemplate
    stored: list[StoredFiling]
    periods: list[date] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(1 for s in self.stored if not s.is_revision)

    @property
    def revised(self) -> int:
        return sum(1 for s in self.stored if s.is_revision)


def _store(
    session: Session,
    *,
    valid: list[_Valid],
    template: FilingTemplate,
    actor: Any,
    source: FilingSource,
    now: datetime,
) -> list[StoredRecord]:
    """Insert the rows as filings: the next revision of each institution-period, the old ones not current.

    Returns plain records (ids and values), not ORM objects: building ten thousand ORM instances
    would cost more than the insert itself.
    """
    model = AnnualFiling if template.is_annual else Filing
    wanted = {(v.inst.id, v.period_end) for v in valid}
    inst_ids = sorted({v.inst.id for v in valid})
    periods = sorted({v.period_end for v in valid})
    last_revision: dict[tuple[int, date], int] = {}
    superseded: list[int] = []
    for chunk in _chunks(inst_ids):
        # Concurrent submissions for the same institutions take turns (PostgreSQL row locks, in id
        # order; SQLite's write transaction already does), so each reads the revision the other wrote.
        session.execute(
            select(Institution.id).where(Institution.id.in_(chunk)).order_by(Institution.id).with_for_update()
        )
        stmt = select(
            model.id, model.institution_id, model.period_end, model.revision, model.is_current
        ).where(model.institution_id.in_(chunk), model.period_end.in_(periods))
        if template.is_annual:
            stmt = stmt.where(AnnualFiling.template_code == template.code)
        for fid, iid, period_end, revision, is_current in session.execute(stmt):
            key = (iid, period_end)
            if key not in wanted:
                continue
            last_revision[key] = max(last_revision.get(key, 0), revision)
            if is_current:
                superseded.append(fid)
    for chunk in _chunks(superseded):
        session.execute(update(model).where(model.id.in_(chunk)).values(is_current=False))
    due = timedelta(days=template.due_days)
    user_id = getattr(actor, "id", None)
    rows = [
        {
            "institution_id": v.inst.id,
            "template_code": template.code,
            "template_version": template.version,
            "period_end": v.period_end,
            "revision": last_revision.get((v.inst.id, v.period_end), 0) + 1,
            "is_current": True,
            "data": v.data,
            "due_on": v.period_end + due,
            "submitted_at": now,
            "submitted_by": user_id,
            "source": source,
        }
        for v in valid
    ]
    stored: list[StoredRecord] = []
    table = model.__table__
    try:
        for chunk in _chunks(rows):
            # Core executemany with RETURNING (batched "insertmanyvalues"): ids in input order.
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids = session.execute(stmt, list(chunk)).scalars().all()
            stored.extend(StoredRecord(id=fid, **row) for fid, row in zip(ids, chunk, strict=True))
    except IntegrityError:
        raise Conflict(
            "同一机构同一报告期的报表正被同时提交，本次未保存，请稍后重试",
            message_en="The same filing is being submitted concurrently; nothing was stored, please retry",
        ) from None
    return stored


def _finish(
    session: Session,
    *,
    table: Table,
    template: FilingTemplate,
    actor: Any,
    scope: Scope,
    source: FilingSource,
    today: date | None,
    now: datetime | None,
    what: str,
    file: bool,
    detail: dict[str, Any],
    ip: str | None,
) -> UploadResult:
    from qiantang.statistics import service as statistics

    now = now or utcnow()
    valid = _validate(session, table=table, template=template, scope=scope, today=today or now.date())
    _reject(table, what, file=file)
    stored = _store(session, valid=valid, template=template, actor=actor, source=source, now=now)
    periods = sorted({v.period_end for v in valid})
    if not template.is_annual:  # annual returns feed no quarterly statistics
        statistics.refresh_periods(session, period_ends=periods)
    result = UploadResult(
        template=template,
        stored=[
            StoredFiling(f, v.inst.uscc, v.inst.name, v.inst.district_code)
            for f, v in zip(stored, valid, strict=True)
        ],
        periods=periods,
    )
    audit.record(
        session,
        action="upload" if file else "create",
        user=actor,
        object_type="filings",
        object_id=template.code,
        detail={
            **detail,
            "template": template.code,
            "rows": len(stored),
            "new": result.new,
            "revisions": result.revised,
            "periods": [year_label(p) if template.is_annual else period_label(p) for p in periods],
            "source": str(source),
        },
        ip=ip,
    )
    return result


def upload_filings(
    session: Session,
    *,
    content: bytes,
    filename: str,
    template_code: str,
    actor: Any,
    scope: Scope,
    source: FilingSource = FilingSource.UPLOAD,
    now: datetime | None = None,
    today: date | None = None,
    ip: str | None = None,
) -> UploadResult:
    """Validate a whole Excel/CSV file of one template and store it, or raise ValidationFailed.

    ``now`` is the submission time (naive UTC, default: now) and ``today`` the day against which
    "the quarter has ended" is judged (default: the date of ``now``).
    """
    template = template_or_error(template_code)
    table = parse_table(content, filename, template_columns(template))
    if table.errors and not table.rows:  # header problems: the rows cannot be read
        _reject(table, "报表文件", file=True)
    return _finish(
        session,
        table=table,
        template=template,
        actor=actor,
        scope=scope,
        source=source,
        today=today,
        now=now,
        what="报表文件",
        file=True,
        detail={"filename": filename},
        ip=ip,
    )


def submit_filings(
    session: Session,
    *,
    items: Sequence[Mapping[str, Any]],
    template_code: str,
    actor: Any,
    scope: Scope,
    source: FilingSource = FilingSource.API,
    now: datetime | None = None,
    today: date | None = None,
    ip: str | None = None,
) -> UploadResult:
    """The same validation for a list of ``{uscc, period, data}`` (row = position in the list, from 1)."""
    template = template_or_error(template_code)
    if len(items) > MAX_API_ROWS:
        raise ValidationFailed(f"一次最多提交 {MAX_API_ROWS} 份报表，请分批提交", [])
    table = _api_table(items, template)
    return _finish(
        session,
        table=table,
        template=template,
        actor=actor,
        scope=scope,
        source=source,
        today=today,
        now=now,
        what="提交的报表",
        file=False,
        detail={"via": "api"},
        ip=ip,
    )


# --------------------------------------------------------------------------------------------------
# Reading filings


@dataclass(frozen=True)
class FilingFilters:
    template_code: str | None = None
    district_code: str | None = None
    period_end: date | None = None
    institution_id: int | None = None
    include_superseded: bool = False


def _filings_query(scope: Scope, f: FilingFilters) -> Select:
    stmt = (
        select(Filing, Institution.uscc, Institution.name, Institution.district_code)
        .join(Institution, Institution.id == Filing.institution_id)
        .where(scope.institution_clause(Institution.id, Institution.district_code))
    )
    if not f.include_superseded:
        stmt = stmt.where(Filing.is_current.is_(True))
    if f.template_code:
        stmt = stmt.where(Filing.template_code == f.template_code)
    if f.district_code:
        stmt = stmt.where(Institution.district_code == f.district_code)
    if f.period_end:
        stmt = stmt.where(Filing.period_end == f.period_end)
    if f.institution_id:
        stmt = stmt.where(Filing.institution_id == f.institution_id)
    return stmt


@dataclass(frozen=True)
class FilingRow:
    filing: Filing
    uscc: str
    institution_name: str
    district_code: str


def list_filings(
    session: Session,
    *,
    scope: Scope,
    filters: FilingFilters = FilingFilters(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[FilingRow], int]:
    """One page of filings the user may see (newest period first), and how many match."""
    stmt = _filings_query(scope, filters)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    ordered = stmt.order_by(Filing.period_end.desc(), Institution.id, Filing.revision.desc())
    rows = session.execute(ordered.limit(limit).offset(offset)).all()
    return [FilingRow(*r) for r in rows], total


def get_filing(session: Session, *, scope: Scope, filing_id: int) -> Filing:
    """One filing; NotFound if it does not exist, Forbidden if its institution lies outside the scope."""
    filing = get_or_404(session, Filing, filing_id)
    district = session.scalar(
        select(Institution.district_code).where(Institution.id == filing.institution_id)
    )
    scope.check_institution(filing.institution_id, district)
    return filing


@dataclass(frozen=True)
class ValueLine:
    field: TemplateField
    value: Any
    shown: str


@dataclass(frozen=True)
class ValueGroup:
    kind: str  # amount | count | ratio
    lines: list[ValueLine]


@dataclass(frozen=True)
class HistoryLine:
    filing: Filing
    submitted_by: str | None


@dataclass(frozen=True)
class FilingDetail:
    filing: Filing
    institution: Institution
    template: FilingTemplate | None
    groups: list[ValueGroup]
    checks: list[checks.CheckResult]
    history: list[HistoryLine]

    @property
    def period(self) -> str:
        return period_label(self.filing.period_end)


def value_groups(template: FilingTemplate, data: Mapping[str, Any]) -> list[ValueGroup]:
    """The values in template order, grouped by kind (amounts, counts, ratios)."""
    groups: dict[str, list[ValueLine]] = {}
    for f in template.fields:
        value = data.get(f.code)
        groups.setdefault(f.type, []).append(ValueLine(f, value, checks.format_value(f, value)))
    return [ValueGroup(kind, lines) for kind, lines in groups.items()]


def filing_detail(session: Session, *, scope: Scope, filing_id: int, zh: bool = True) -> FilingDetail:
    """A filing with its values, the template's checks and every revision of its institution-period."""
    filing = get_filing(session, scope=scope, filing_id=filing_id)
    institution = session.get_one(Institution, filing.institution_id)
    template = all_templates().get(filing.template_code)
    revisions = session.execute(
        select(Filing, User.display_name)
        .outerjoin(User, User.id == Filing.submitted_by)
        .where(Filing.institution_id == filing.institution_id, Filing.period_end == filing.period_end)
        .order_by(Filing.revision.desc())
    ).all()
    return FilingDetail(
        filing=filing,
        institution=institution,
        template=template,
        groups=value_groups(template, filing.data) if template else [],
        checks=checks.check_results(template, filing.data, zh=zh) if template else [],
        history=[HistoryLine(f, name) for f, name in revisions],
    )


# --------------------------------------------------------------------------------------------------
# Compliance (报送情况)


class ComplianceStatus(StrEnum):
    ON_TIME = "on_time"  # first submitted on or before the due date
    LATE = "late"  # first submitted after the due date
    MISSING = "missing"  # nothing submitted and the due date has passed
    PENDING = "pending"  # nothing submitted yet, the due date has not passed

    @property
    def zh(self) -> str:
        return {"on_time": "按时报送", "late": "逾期报送", "missing": "未报送", "pending": "未到期"}[
            self.value
        ]

    @property
    def en(self) -> str:
        return {"on_time": "On time", "late": "Late", "missing": "Missing", "pending": "Not yet due"}[
            self.value
        ]

    @property
    def colour(self) -> str:
        return {"on_time": "green", "late": "orange", "missing": "red", "pending": ""}[self.value]


@dataclass(frozen=True)
class ComplianceRow:
    institution_id: int
    uscc: str
    name: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    district_code: str
    district_name_zh: str
    district_name_en: str
    template_code: str
    period_end: date
    due_on: date
    status: ComplianceStatus
    first_submitted_at: datetime | None
    last_submitted_at: datetime | None
    revisions: int  # filings stored for the period (1 = filed once, 2 = corrected once …)
    current_filing_id: int | None


@dataclass
class TypeSummary:
    type_code: str
    name_zh: str
    name_en: str
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    pending: int = 0

    @property
    def filed(self) -> int:
        return self.on_time + self.late

    @property
    def rate(self) -> float | None:
        """Filed share of those expected, in percent."""
        return 100.0 * self.filed / self.expected if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return 100.0 * self.on_time / self.expected if self.expected else None

    def add(self, status: ComplianceStatus) -> None:
        self.expected += 1
        setattr(self, status.value, getattr(self, status.value) + 1)


@dataclass
class Compliance:
    period_end: date
    template_code: str | None
    today: date
    rows: list[ComplianceRow]
    by_type: list[TypeSummary]
    total: TypeSummary

    @property
    def period(self) -> str:
        return period_label(self.period_end)


def default_period(*, template_code: str | None = None, today: date | None = None) -> date:
    """The latest quarter whose due date has passed (for the template, or for every template)."""
    due_days = (
        get_template(template_code).due_days
        if template_code
        else max(t.due_days for t in quarterly_templates().values())
    )
    return latest_due_period(today or today_utc(), due_days)


# A quarter before its due date counts as complete once this share of the expected institutions has
# filed. Not policy but a page default: one early return must not make pages open on an almost
# empty quarter, while a quarter that is nearly all in may be shown before its deadline.
MOST_FILED = 0.5


@dataclass(frozen=True)
class ShownPeriod:
    """The quarter a page shows, and why: ``chosen`` by the user, ``due`` (the latest quarter past
    its due date), ``most_filed`` (before its due date, most returns are in) or ``latest_filed``
    (later quarters are past due but have no returns yet; ``due`` names the latest of them)."""

    period_end: date
    reason: str
    due: date | None = None


def _expected_count(session: Session, period_end: date) -> int:
    stmt = (
        select(func.count())
        .select_from(Institution)
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .where(InstitutionType.filing_template.is_not(None), expected_clause(period_end))
    )
    return session.scalar(stmt) or 0


def shown_period(session: Session, *, chosen: date | None = None, today: date | None = None) -> ShownPeriod:
    """The quarter a page opens on: the latest complete one — past its due date with returns in, or
    most institutions filed — rather than the quarter in progress or one with a single early return."""
    if chosen is not None:
        return ShownPeriod(chosen, "chosen")
    due = default_period(today=today)
    # Every query goes through ix_filings_template_period (template, quarter), one template at a time:
    # filings has no index led by the quarter, and a scan of every return (85,936 at city scale, each
    # with its JSON) on every page view cost more than the rest of the page.
    codes = sorted(all_templates())
    in_codes = Filing.template_code.in_(codes)
    early = session.scalars(
        select(Filing.period_end).where(in_codes, Filing.period_end > due).distinct()
    ).all()
    for period_end in sorted(set(early), reverse=True):
        filed = session.scalar(
            select(func.count(Filing.institution_id.distinct())).where(
                in_codes, Filing.period_end == period_end, Filing.is_current.is_(True)
            )
        )
        expected = _expected_count(session, period_end)
        if filed and expected and filed >= MOST_FILED * expected:
            return ShownPeriod(period_end, "most_filed")
    lasts = [
        session.scalar(
            select(Filing.period_end)
            .where(Filing.template_code == code, Filing.period_end <= due)
            .order_by(Filing.period_end.desc())
            .limit(1)
        )
        for code in codes
    ]
    last = max((p for p in lasts if p is not None), default=None)
    if last is None or last == due:
        return ShownPeriod(due, "due")
    return ShownPeriod(last, "latest_filed", due=due)


def expected_clause(period_end: date):
    """Institutions expected to file for a quarter: open at its end (established, not yet exited)."""
    return and_(
        Institution.established_on <= period_end,
        or_(Institution.deregistered_on.is_(None), Institution.deregistered_on > period_end),
    )


# The compliance list is built for every expected institution (2,109 at city scale) to show 50 of them,
# and the same quarter is asked for again and again. A result is reused only while nothing it depends on
# has changed: the key holds a fingerprint of the quarter's filings (a new filing or revision adds a
# row) and of the registry (a new institution, or any edit, moves max(updated_at)), and today's date (a
# due date passing turns "not yet due" into "missing"). Not a time-based cache: it is never stale.
_compliance_cache: LRUCache = LRUCache(maxsize=256)
_compliance_lock = Lock()


def _compliance_fingerprint(session: Session, period_end: date) -> tuple:
    filings = session.execute(
        select(func.count(), func.max(Filing.id)).where(Filing.period_end == period_end)
    ).one()
    registry = session.execute(
        select(func.count(), func.max(Institution.id), func.max(Institution.updated_at))
    ).one()
    return (str(session.get_bind().engine.url), *filings, *registry)


def clear_compliance_cache() -> None:
    """Forget every cached compliance list (tests, whose rolled-back rows free their ids again)."""
    with _compliance_lock:
        _compliance_cache.clear()


def compliance_cached(
    session: Session,
    *,
    scope: Scope,
    period_end: date | None = None,
    template_code: str | None = None,
    district_code: str | None = None,
    status: ComplianceStatus | None = None,
) -> Compliance:
    """``compliance`` for the pages and the API, reusing an identical earlier answer (see above)."""
    today = today_utc()
    if template_code:
        template_or_error(template_code)
    period_end = period_end or default_period(template_code=template_code, today=today)
    key = (
        scope,
        period_end,
        template_code,
        district_code,
        status,
        today,
        _compliance_fingerprint(session, period_end),
    )
    with _compliance_lock:
        hit = _compliance_cache.get(key)
    if hit is not None:
        return hit
    result = compliance(
        session,
        scope=scope,
        period_end=period_end,
        template_code=template_code,
        district_code=district_code,
        status=status,
        today=today,
    )
    with _compliance_lock:
        _compliance_cache[key] = result
    return result


def compliance(
    session: Session,
    *,
    scope: Scope,
    period_end: date | None = None,
    template_code: str | None = None,
    district_code: str | None = None,
    status: ComplianceStatus | None = None,
    today: date | None = None,
) -> Compliance:
    """Who was expected to file for a quarter, and whether each filed on time, late or not at all."""
    today = today or today_utc()
    if template_code:
        template_or_error(template_code)
    period_end = period_end or default_period(template_code=template_code, today=today)
    inst_stmt = (
        select(
            Institution.id,
            Institution.uscc,
            Institution.name,
            Institution.type_code,
            InstitutionType.name_zh,
            InstitutionType.name_en,
            Institution.district_code,
            Area.name_zh,
            Area.name_en,
            InstitutionType.filing_template,
        )
        .join(InstitutionType, InstitutionType.code == Institution.type_code)
        .join(Area, Area.code == Institution.district_code)
        .where(
            InstitutionType.filing_template.is_not(None),
            expected_clause(period_end),
            scope.institution_clause(Institution.id, Institution.district_code),
        )
    )
    if template_code:
        inst_stmt = inst_stmt.where(InstitutionType.filing_template == template_code)
    if district_code:
        inst_stmt = inst_stmt.where(Institution.district_code == district_code)
    inst_stmt = inst_stmt.order_by(InstitutionType.sort_order, Institution.district_code, Institution.id)
    institutions = session.execute(inst_stmt).all()
    ids = inst_stmt.with_only_columns(Institution.id).order_by(None)
    filed = {
        r[0]: r
        for r in session.execute(
            select(
                Filing.institution_id,
                func.min(Filing.submitted_at),
                func.max(Filing.submitted_at),
                func.count(),
                func.min(Filing.due_on),
                func.max(case((Filing.is_current.is_(True), Filing.id))),
            )
            .where(Filing.period_end == period_end, Filing.institution_id.in_(ids))
            .group_by(Filing.institution_id)
        )
    }
    templates = all_templates()
    rows: list[ComplianceRow] = []
    summaries: dict[str, TypeSummary] = {}
    total = TypeSummary("", "合计", "Total")
    for iid, uscc, name, type_code, type_zh, type_en, district, d_zh, d_en, tcode in institutions:
        template = templates.get(tcode)
        due = period_end + timedelta(days=template.due_days if template else 0)
        first = last = current = None
        count = 0
        if (f := filed.get(iid)) is not None:
            _iid, first, last, count, stored_due, current = f
            due = stored_due or due
            st = ComplianceStatus.LATE if first.date() > due else ComplianceStatus.ON_TIME
        else:
            st = ComplianceStatus.MISSING if today > due else ComplianceStatus.PENDING
        row = ComplianceRow(
            institution_id=iid,
            uscc=uscc,
            name=name,
            type_code=type_code,
            type_name_zh=type_zh,
            type_name_en=type_en,
            district_code=district,
            district_name_zh=d_zh,
            district_name_en=d_en,
            template_code=tcode,
            period_end=period_end,
            due_on=due,
            status=st,
            first_submitted_at=first,
            last_submitted_at=last,
            revisions=count,
            current_filing_id=current,
        )
        summaries.setdefault(type_code, TypeSummary(type_code, type_zh, type_en)).add(st)
        total.add(st)
        if status is None or st == status:
            rows.append(row)
    return Compliance(period_end, template_code, today, rows, list(summaries.values()), total)


def missing_periods(session: Session, *, institution: Institution, today: date | None = None) -> list[date]:
    """Quarters since establishment (or since 2015Q1) the institution was expected to file and did not."""
    template = all_templates().get(institution.type.filing_template or "")
    if template is None:
        return []
    last = latest_due_period(today or today_utc(), template.due_days)
    first = max(RECORDS_START, quarter_end_of(institution.established_on))
    if first > last:
        return []
    filed = set(
        session.scalars(
            select(Filing.period_end).where(Filing.institution_id == institution.id).distinct()
        ).all()
    )
    exit_on = institution.deregistered_on
    return [p for p in periods_between(first, last) if p not in filed and (exit_on is None or exit_on > p)]


def own_institution(session: Session, *, scope: Scope) -> Institution | None:
    """A reporter's institution."""
    if scope.role != Role.INSTITUTION_REPORTER or scope.institution_id is None:
        return None
    return session.get(Institution, scope.institution_id)


def institution_annual_filings(session: Session, *, institution_id: int) -> list[AnnualFiling]:
    """Every annual return of an institution (all revisions), newest year and revision first."""
    stmt = (
        select(AnnualFiling)
        .where(AnnualFiling.institution_id == institution_id)
        .order_by(AnnualFiling.period_end.desc(), AnnualFiling.revision.desc())
    )
    return list(session.scalars(stmt).all())


def institution_filings(session: Session, *, institution_id: int) -> list[Filing]:
    """Every filing of an institution (all revisions), newest period and revision first."""
    stmt = (
        select(Filing)
        .where(Filing.institution_id == institution_id)
        .order_by(Filing.period_end.desc(), Filing.revision.desc())
    )
    return list(session.scalars(stmt).all())


def latest_filed_period(session: Session) -> date | None:
    """The latest quarter anyone has filed a return for (None before the first return)."""
    return session.scalar(select(func.max(Filing.period_end)))


def period_choices(*, today: date | None = None) -> list[date]:
    """Quarters a page offers: from 2015Q1 to the latest that has ended, newest first."""
    return list(reversed(periods_between(RECORDS_START, latest_ended_period(today or today_utc()))))


def parse_period_param(value: str | None) -> date | None:
    """A period from a query parameter; a 400 with the Chinese hint when it is not a quarter."""
    if not value:
        return None
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise QiantangError(
            str(exc), message_en="The period must be a quarter, e.g. 2025Q4 or 2025-12-31"
        ) from None


__all__ = [
    "Compliance",
    "ComplianceRow",
    "ComplianceStatus",
    "FilingDetail",
    "FilingFilters",
    "FilingRow",
    "ShownPeriod",
    "StoredFiling",
    "StoredRecord",
    "TypeSummary",
    "UploadResult",
    "compliance",
    "default_period",
    "expected_clause",
    "field_column",
    "field_header",
    "filing_detail",
    "get_filing",
    "institution_filings",
    "latest_filed_period",
    "list_filings",
    "missing_periods",
    "own_institution",
    "parse_period_param",
    "period_choices",
    "shown_period",
    "submit_filings",
    "template_columns",
    "template_or_error",
    "template_workbook",
    "today_utc",
    "upload_filings",
]


@dataclass
class ReminderResult:
    due_soon: int = 0  # institutions reminded a week before the deadline
    missing: int = 0  # institutions found missing the day after


REMIND_DAYS_BEFORE = 7


def send_reminders(session: Session, *, today: date | None = None) -> ReminderResult:
    """Filing-deadline reminders: a week before (the reporters of institutions that have not filed)
    and from the day after (reporters and their district office: missing). Each goes out once."""
    from qiantang.notify import service as notify

    today = today or today_utc()
    out = ReminderResult()
    for code, template in quarterly_templates().items():
        period = latest_ended_period(today)
        for period_end in (period, previous_period(period)):
            due = period_end + timedelta(days=template.due_days)
            days_left = (due - today).days
            if not (-30 <= days_left <= REMIND_DAYS_BEFORE) or days_left == 0:
                continue
            report = compliance(
                session, scope=Scope.system(), period_end=period_end, template_code=code, today=today
            )
            wanted = ComplianceStatus.PENDING if days_left > 0 else ComplianceStatus.MISSING
            late = [r for r in report.rows if r.status == wanted]
            label = period_label(period_end)
            for row in late:
                reporters = list(
                    session.scalars(
                        select(User.id).where(
                            User.institution_id == row.institution_id,
                            User.role == Role.INSTITUTION_REPORTER,
                            User.is_active.is_(True),
                        )
                    )
                )
                key = f"{code}:{period_end.isoformat()}:{row.institution_id}"
                link = f"/filings?period={period_end.isoformat()}"
                if days_left > 0:
                    notify.notify(
                        session,
                        "filing_due_soon",
                        user_ids=reporters,
                        title=f"{row.name}：{label}{template.name_zh}应于 {due.isoformat()} 前报送",
                        body=f"距截止日还有 {days_left} 天，尚未收到该期报表。",
                        title_en=f"{row.name}: {template.name_en} for {label} due by {due.isoformat()}",
                        body_en=f"{days_left} day(s) to the deadline; the return has not arrived.",
                        link=link,
                        dedupe_key=key,
                    )
                    out.due_soon += 1
                else:
                    officers = notify.staff(session, district_code=row.district_code)
                    notify.notify(
                        session,
                        "filing_missing",
                        user_ids=reporters + officers,
                        title=f"{row.name}：{label}{template.name_zh}逾期未报",
                        body=f"截止日为 {due.isoformat()}，至今未收到该期报表（{row.district_name_zh}）。",
                        title_en=f"{row.name}: {template.name_en} for {label} is overdue",
                        body_en=f"The deadline was {due.isoformat()}; the return has not arrived.",
                        link=f"/filings?period={period_end.isoformat()}&status=missing",
                        dedupe_key=key,
                    )
                    out.missing += 1
    return out
