"""Issue 12 item 1: a tiny .xlsx that declares a huge sheet must be refused, not expanded in memory."""

from __future__ import annotations

import io
import re
import tracemalloc

import pytest
from openpyxl import Workbook, load_workbook

from qiantang.errors import ValidationFailed
from qiantang.uploads import Limits, read_raw

SMALL = Limits(max_bytes=1 << 20, max_unzipped_bytes=1 << 22, max_rows=100, max_columns=20, max_cells=500)


def _sparse_xlsx(far_cell: str) -> bytes:
    """The probe's file: A1 and one far cell, made with openpyxl (a few KB)."""
    wb = Workbook()
    ws = wb.active
    ws["A1"] = "机构名称"
    ws[far_cell] = "x"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("far_cell", ["XFD20000", "XFD1048576"])
def test_sparse_giant_sheet_is_refused_without_building_it(far_cell):
    content = _sparse_xlsx(far_cell)
    assert len(content) < 10_000
    tracemalloc.start()
    try:
        with pytest.raises(ValidationFailed) as info:
            read_raw(content, "bomb.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "上限" in info.value.message
    # Before the fix the reader padded every row to 16,384 columns: gigabytes. Now a few MB at most.
    assert peak < 50 * 1024 * 1024, peak


def test_declared_dimension_is_not_believed():
    """A sheet whose <dimension> claims A1:XFD1048576 but holds two cells reads as two cells."""
    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "金额"])
    ws.append(["甲", 1])
    buf = io.BytesIO()
    wb.save(buf)
    # Rewrite the sheet's declared dimension to the largest possible.
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', data)
                assert b"XFD1048576" in data
            dst.writestr(item, data)
    header, rows = read_raw(out.getvalue(), "x.xlsx", limits=SMALL)
    assert header == ["名称", "金额"]
    assert rows == [["甲", 1]]


def test_row_column_and_cell_caps_have_chinese_messages():
    def csv_of(rows):
        return "\n".join(",".join(r) for r in rows).encode()

    with pytest.raises(ValidationFailed, match="行数据的上限"):
        read_raw(csv_of([["a"]] * 102), "x.csv", limits=SMALL)
    with pytest.raises(ValidationFailed, match="列的上限"):
        read_raw(csv_of([["a"] * 21]), "x.csv", limits=SMALL)
    with pytest.raises(ValidationFailed, match="单元格的上限"):
        read_raw(csv_of([["a"] * 10] * 60), "x.csv", limits=SMALL)
    # Within the caps, and blank rows after the cap cost nothing.
    _header, rows = read_raw(csv_of([["a", "b"]] * 101 + [[""]] * 500), "x.csv", limits=SMALL)
    assert len(rows) == 100


def test_zip_bomb_is_refused_by_its_unpacked_size():
    wb = Workbook()
    wb.active["A1"] = "x" * 2000
    for i in range(2, 3000):
        wb.active.cell(row=i, column=1, value="x" * 2000)
    buf = io.BytesIO()
    wb.save(buf)
    tiny = Limits(
        max_bytes=1 << 22, max_unzipped_bytes=1 << 20, max_rows=10**6, max_columns=99, max_cells=10**7
    )
    with pytest.raises(ValidationFailed, match="解压后超过"):
        read_raw(buf.getvalue(), "x.xlsx", limits=tiny)


def test_upload_route_refuses_the_probe_file(clients):
    c = clients.as_user("admin")
    r = c.post(
        "/filings/upload",
        files={"file": ("bomb.xlsx", _sparse_xlsx("XFD20000"), "application/octet-stream")},
        data={"template": "small_loan"},
    )
    assert r.status_code == 422
    assert "列的上限" in r.text


def test_control_characters_in_an_uploaded_text_cell_are_a_row_error():
    from qiantang.uploads import Column, parse_table

    content = "名称\n正常\n坏\x07名\n".encode()
    table = parse_table(content, "x.csv", [Column("name", "名称", "Name")])
    assert [(e.row, e.message) for e in table.errors] == [(3, "含有不可见的控制字符，请删除后重新上传")]


def test_reading_back_keeps_types():
    wb = Workbook()
    wb.active.append(["a", "b"])
    wb.active.append([1, "x"])
    buf = io.BytesIO()
    wb.save(buf)
    assert load_workbook(io.BytesIO(buf.getvalue())).active.max_row == 2
    assert read_raw(buf.getvalue(), "x.xlsx")[1] == [[1, "x"]]
