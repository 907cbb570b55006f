"""Excel export of any table a page shows (openpyxl, write-only mode for large tables).

Every text cell is written as text: a value that Excel would take for a formula (``=``, ``+``, ``-``,
``@``, tab or CR first) is stored as a string with Excel's quote prefix, so a name such as
``=HYPERLINK(...)`` typed into a form is shown, never run (OWASP "CSV injection"). Characters that
XML 1.0 cannot hold (control characters) are dropped, so one bad name cannot break an export.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import BinaryIO
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from starlette.responses import Response, StreamingResponse

from qiantang.safetext import clean_text

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 200_000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def text_cell(ws, value: str) -> WriteOnlyCell:
    """A cell that holds ``value`` as text, even when it looks like a formula."""
    cell = WriteOnlyCell(ws, value=clean_text(value))
    if cell.value.startswith(FORMULA_PREFIXES):
        cell.data_type = "s"
        cell.quotePrefix = True  # Excel keeps it text when the user edits the cell
    return cell


def keep_as_text(cells) -> None:
    """Turn formula-looking text in already written cells (a normal worksheet) back into text."""
    for cell in cells:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
            cell.data_type = "s"
            cell.quotePrefix = True


def build_xlsx(
    *,
    sheet_title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence],
    notes: Sequence[str] = (),
    number_formats: dict[int, str] | None = None,
    target: BinaryIO | None = None,
) -> bytes:
    """A workbook with a bold header row, optional note lines above it, and frozen panes.

    Rows are written as they come (write-only mode), so a generator reading the database in chunks
    keeps memory flat; with ``target`` the workbook goes to that file and b"" is returned.
    """
    wb = Workbook(write_only=True)
    _sheet(wb, sheet_title, headers, rows, notes, number_formats)
    if target is not None:
        wb.save(target)
        return b""
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build_xlsx_book(sheets: Sequence[dict]) -> bytes:
    """A workbook of several sheets, each given as the keyword arguments of ``build_xlsx``
    (sheet_title, headers, rows, notes, number_formats)."""
    wb = Workbook(write_only=True)
    for sheet in sheets:
        _sheet(
            wb,
            sheet["sheet_title"],
            sheet["headers"],
            sheet["rows"],
            sheet.get("notes", ()),
            sheet.get("number_formats"),
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet(wb, sheet_title, headers, rows, notes, number_formats) -> None:
    ws = wb.create_sheet(title=sheet_title[:31])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    for note in notes:
        cell = text_cell(ws, note)
        cell.font = Font(italic=True, color="7A4D00")
        ws.append([cell])
    ws.freeze_panes = f"A{len(notes) + 2}"
    header_cells = []
    for h in headers:
        cell = text_cell(ws, h)
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center")
        header_cells.append(cell)
    ws.append(header_cells)
    number_formats = number_formats or {}
    for row in rows:
        out = []
        for i, value in enumerate(row):
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%d %H:%M")
            elif isinstance(value, date):
                value = value.isoformat()
            fmt = number_formats.get(i)
            if isinstance(value, str):
                value = clean_text(value)
                out.append(text_cell(ws, value) if value.startswith(FORMULA_PREFIXES) else value)
            elif fmt and isinstance(value, int | float):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = fmt
                out.append(cell)
            else:
                out.append(value)
        ws.append(out)


def xlsx_file_response(tmp: BinaryIO, filename: str, chunk: int = 1 << 16) -> StreamingResponse:
    """Stream an Excel file written by ``build_xlsx(target=tmp)`` in chunks, then close (delete) it."""

    def body() -> Iterator[bytes]:
        try:
            tmp.seek(0)
            while data := tmp.read(chunk):
                yield data
        finally:
            tmp.close()

    disposition = _disposition("attachment", filename, "export.xlsx")
    return StreamingResponse(body(), media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": disposition})


def spool() -> BinaryIO:
    """A temporary file for a large export: in memory up to 8 MB, then on disk."""
    return tempfile.SpooledTemporaryFile(max_size=8 << 20)


def _disposition(kind: str, filename: str, fallback: str) -> str:
    """A Content-Disposition with a UTF-8 filename (RFC 5987), so Chinese names survive."""
    ascii_name = filename.encode("ascii", "ignore").decode() or fallback
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def xlsx_response(content: bytes, filename: str) -> Response:
    """An Excel download."""
    disposition = _disposition("attachment", filename, "export.xlsx")
    return Response(content, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": disposition})


def pdf_response(content: bytes, filename: str) -> Response:
    """A PDF shown in the browser (inline), saved under its filename."""
    disposition = _disposition("inline", filename, "report.pdf")
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": disposition})
