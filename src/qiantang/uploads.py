"""Reading uploaded tables (Excel or CSV) and validating them whole, with errors a user can act on.

Every upload goes the same way: read all rows, check every cell against its column's rules and
collect *every* problem (row number as the spreadsheet shows it, column header, reason in Chinese),
then either reject the whole file — nothing written — or hand clean typed rows to the caller, which
writes them in one transaction. Templates are generated from the same column definitions, so the
template a user downloads and the validator can never disagree.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from qiantang.config import get_settings
from qiantang.errors import RowError, ValidationFailed
from qiantang.exports import keep_as_text
from qiantang.safetext import clean_text, has_control

MAX_ERRORS_SHOWN = 500
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Column:
    """One column of an uploaded table: its header, type and rules."""

    key: str
    header_zh: str
    header_en: str
    kind: str = "text"  # text | number | integer | date | choice
    required: bool = True
    choices: Mapping[str, str] | None = None  # accepted spelling → stored value
    min: float | None = None
    max: float | None = None
    help_zh: str = ""

    def headers(self) -> set[str]:
        return {self.header_zh, self.header_en, self.key}


@dataclass
class Row:
    number: int  # as the spreadsheet shows it (the header is row 1)
    values: dict[str, Any]


@dataclass
class Table:
    rows: list[Row]
    errors: list[RowError] = field(default_factory=list)

    def reject_if_errors(self, what: str) -> None:
        if self.errors:
            errors = self.errors[:MAX_ERRORS_SHOWN]
            more = len(self.errors) - len(errors)
            summary = f"{what}有 {len(self.errors)} 处错误，整个文件未导入，请修改后重新上传"
            if more:
                summary += f"（仅列出前 {MAX_ERRORS_SHOWN} 处）"
            raise ValidationFailed(summary, errors)


def _decode_csv(content: bytes) -> str:
    # Excel in a Chinese locale saves CSV as GBK/GB18030; everything else as UTF-8 (often with a BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("无法识别文件编码：请保存为 UTF-8 或 GBK 编码的 CSV，或 Excel 文件", [])


@dataclass(frozen=True)
class Limits:
    """How big an upload may be (settings ``QIANTANG_UPLOAD_MAX_*``; see docs/security.md)."""

    max_bytes: int
    max_unzipped_bytes: int
    max_rows: int
    max_columns: int
    max_cells: int

    @classmethod
    def from_settings(cls) -> Limits:
        s = get_settings()
        return cls(
            max_bytes=int(s.upload_max_mb * 1024 * 1024),
            max_unzipped_bytes=int(s.upload_max_unzipped_mb * 1024 * 1024),
            max_rows=s.upload_max_rows,
            max_columns=s.upload_max_columns,
            max_cells=s.upload_max_cells,
        )


class _Bounded:
    """Collects rows one at a time and refuses the file as soon as it passes a cap.

    Only rows up to the last one with a value are kept, so formatted blank rows at the end of a sheet
    cost nothing; a value beyond the row or column cap, or more cells than the cell cap, stops the read.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.rows: list[list[Any]] = []
        self.pending_blank = 0
        self.cells = 0

    def add(self, values: Sequence[Any]) -> None:
        width = len(values)
        while width and _blank(values[width - 1]):
            width -= 1
        if width == 0:
            self.pending_blank += 1
            return
        limits = self.limits
        number = len(self.rows) + self.pending_blank + 1  # as the spreadsheet shows it
        if number > limits.max_rows + 1:
            raise ValidationFailed(
                f"表格超过 {limits.max_rows:,} 行数据的上限（第 {number:,} 行仍有内容），请拆分后上传", []
            )
        if width > limits.max_columns:
            raise ValidationFailed(
                f"表格超过 {limits.max_columns} 列的上限（第 {number:,} 行第 {width:,} 列仍有内容），"
                "请删除多余的列后上传",
                [],
            )
        self.rows.extend([] for _ in range(self.pending_blank))
        self.pending_blank = 0
        self.cells += width
        if self.cells > limits.max_cells:
            raise ValidationFailed(f"表格超过 {limits.max_cells:,} 个单元格的上限，请拆分后上传", [])
        self.rows.append(list(values[:width]))


def _xlsx_rows(content: bytes, sheet: str | None, limits: Limits) -> list[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise ValidationFailed("无法读取 Excel 文件：请确认是 .xlsx 格式（不支持旧版 .xls）", []) from None
    if unzipped > limits.max_unzipped_bytes:
        mb = limits.max_unzipped_bytes // (1024 * 1024)
        raise ValidationFailed(f"Excel 文件解压后超过 {mb} MB 的上限，请拆分后上传", [])
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise ValidationFailed("无法读取 Excel 文件：请确认是 .xlsx 格式（不支持旧版 .xls）", []) from None
    try:
        if sheet and sheet in wb.sheetnames:
            ws = wb[sheet]
        elif sheet:
            raise ValidationFailed(f"Excel 文件中没有名为「{sheet}」的工作表", [])
        else:
            ws = wb.worksheets[0]
        # The sheet's declared size is not believed (a 5 KB file may declare A1:XFD1048576, and openpyxl
        # would pad every row to it): forget it, so each row is only as wide as its own last cell.
        ws.reset_dimensions()
        collected = _Bounded(limits)
        for values in ws.iter_rows(values_only=True):
            collected.add(values)
        return collected.rows
    finally:
        wb.close()


def _csv_rows(content: bytes, limits: Limits) -> list[list[Any]]:
    collected = _Bounded(limits)
    for values in csv.reader(io.StringIO(_decode_csv(content))):
        collected.add(values)
    return collected.rows


def read_raw(
    content: bytes, filename: str, *, sheet: str | None = None, limits: Limits | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Header and data rows of the first (or named) sheet of an .xlsx file, or of a CSV file.

    Rows are read as a stream and the file is refused, with a Chinese message, the moment it passes a
    cap in ``limits`` (default: the settings), so no upload can make the server build a huge table.
    """
    limits = limits or Limits.from_settings()
    if len(content) > limits.max_bytes:
        raise ValidationFailed(f"文件超过 {limits.max_bytes // (1024 * 1024)} MB，请拆分后上传", [])
    if not content:
        raise ValidationFailed("上传的文件是空的", [])
    name = filename.lower()
    if content.startswith(XLSX_MAGIC) or name.endswith((".xlsx", ".xlsm")):
        rows = _xlsx_rows(content, sheet, limits)
    elif name.endswith((".csv", ".txt")):
        rows = _csv_rows(content, limits)
    else:
        raise ValidationFailed("只接受 Excel（.xlsx）或 CSV 文件", [])
    if not rows:
        raise ValidationFailed("文件中没有数据", [])
    header = ["" if v is None else str(v).strip() for v in rows[0]]
    return header, rows[1:]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        result = float(value)
    else:
        text = str(value).strip().replace(",", "").replace("，", "")
        result = float(text)
    if not math.isfinite(result):
        raise ValueError
    return result


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    return date.fromisoformat(text)


def convert_cell(column: Column, value: Any) -> Any:
    """Convert one cell; raises ValueError with a Chinese message."""
    shown = _text(value)
    if has_control(shown):
        raise ValueError("含有不可见的控制字符，请删除后重新上传")
    if column.kind == "text":
        return shown
    if column.kind in ("number", "integer"):
        try:
            number = _number(value)
        except (TypeError, ValueError):
            raise ValueError(f"应为数字，实为“{shown}”") from None
        if column.kind == "integer":
            if not number.is_integer():
                raise ValueError(f"应为整数，实为“{shown}”")
            number = int(number)
        if column.min is not None and number < column.min:
            raise ValueError(f"不应小于 {column.min:g}，实为 {shown}")
        if column.max is not None and number > column.max:
            raise ValueError(f"不应大于 {column.max:g}，实为 {shown}")
        return number
    if column.kind == "date":
        try:
            return _date(value)
        except (TypeError, ValueError):
            raise ValueError(f"应为日期（YYYY-MM-DD），实为“{shown}”") from None
    if column.kind == "choice":
        assert column.choices is not None
        if shown in column.choices:
            return column.choices[shown]
        allowed = "、".join(dict.fromkeys(column.choices))
        raise ValueError(f"“{shown}”不是允许的取值（可选：{allowed}）")
    raise AssertionError(column.kind)


def parse_table(
    content: bytes,
    filename: str,
    columns: Sequence[Column],
    *,
    sheet: str | None = None,
    row_check: Callable[[Row], Iterable[RowError]] | None = None,
) -> Table:
    """Read and check every row; problems are collected in ``Table.errors``, never raised one by one."""
    header, raw_rows = read_raw(content, filename, sheet=sheet)
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    for column in columns:
        found = [i for i, h in enumerate(header) if h in column.headers()]
        if found:
            positions[column.key] = found[0]
        elif column.required:
            errors.append(RowError(1, column.header_zh, f"缺少必需的列「{column.header_zh}」"))
    known = set().union(*(c.headers() for c in columns))
    for i, h in enumerate(header):
        if h and h not in known:
            errors.append(RowError(1, h, f"无法识别的列「{h}」（第 {i + 1} 列）；请使用模板中的列名"))
    if errors:
        return Table(rows=[], errors=errors)
    rows: list[Row] = []
    for offset, raw in enumerate(raw_rows):
        number = offset + 2
        if all(_blank(v) for v in raw):
            continue
        values: dict[str, Any] = {}
        for column in columns:
            pos = positions.get(column.key)
            cell = raw[pos] if pos is not None and pos < len(raw) else None
            if _blank(cell):
                if column.required:
                    errors.append(RowError(number, column.header_zh, "必填项为空"))
                values[column.key] = None
                continue
            try:
                values[column.key] = convert_cell(column, cell)
            except ValueError as exc:
                errors.append(RowError(number, column.header_zh, str(exc)))
                values[column.key] = None
        row = Row(number, values)
        if row_check is not None:
            errors.extend(row_check(row))
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(None, None, "文件中没有数据行"))
    return Table(rows=rows, errors=errors)


def duplicate_errors(
    rows: Iterable[Row], key: Callable[[Row], tuple], *, column: str, what: str
) -> list[RowError]:
    """One error per row that repeats the key of an earlier row in the same file."""
    seen: dict[tuple, int] = {}
    errors = []
    for row in rows:
        k = key(row)
        if any(v is None for v in k):
            continue
        if k in seen:
            errors.append(RowError(row.number, column, f"与第 {seen[k]} 行重复（同一{what}只能出现一次）"))
        else:
            seen[k] = row.number
    return errors


def template_xlsx(
    columns: Sequence[Column],
    *,
    sheet_title: str,
    example_rows: Sequence[Sequence[Any]] = (),
    notes: Sequence[str] = (),
    extra_sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
) -> bytes:
    """An Excel template: Chinese headers with a comment explaining each, drop-downs for choices."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    for i, column in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i, value=column.header_zh)
        cell.font = bold
        cell.fill = fill
        help_text = column.help_zh or column.header_en
        if column.required:
            help_text += "（必填）"
        cell.comment = Comment(help_text, "钱塘")
        ws.column_dimensions[cell.column_letter].width = max(12, len(column.header_zh) * 2 + 4)
        if column.kind == "choice" and column.choices:
            options = ",".join(dict.fromkeys(v for v in column.choices if not v.isascii()) or column.choices)
            dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=not column.required)
            dv.add(f"{cell.column_letter}2:{cell.column_letter}5000")
            ws.add_data_validation(dv)
    for row in example_rows:
        ws.append([clean_text(v) if isinstance(v, str) else v for v in row])
        keep_as_text(ws[ws.max_row])
    ws.freeze_panes = "A2"
    if notes:
        info = wb.create_sheet("说明")
        for note in notes:
            info.append([note])
        info.column_dimensions["A"].width = 100
    for title, rows in (extra_sheets or {}).items():
        extra = wb.create_sheet(title[:31])
        for row in rows:
            extra.append([clean_text(v) if isinstance(v, str) else v for v in row])
            keep_as_text(extra[extra.max_row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
