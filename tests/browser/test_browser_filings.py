"""In Chromium: the demo reporter downloads its prefilled template, uploads it with a cross-field
error, reads the error (row and column), fixes it and sees the return stored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qiantang.demo import DEMO_USERS
from qiantang.filings.samples import sample_values
from qiantang.filings.service import template_columns
from qiantang.filings.templates import get_template

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PASSWORDS = {u.username: u.password for u in DEMO_USERS}
SHOTS = Path(os.environ.get("QIANTANG_SCREENSHOTS", "var/screenshots"))
BS_COLUMN = "资产总额（万元）、负债总额（万元）、所有者权益（净资产）（万元）"


def fill(path: Path, out: Path, **changes) -> None:
    """Fill the downloaded template's prefilled row with valid values (and ``changes``)."""
    template = get_template("small_loan")
    values = sample_values(template, seed=5) | changes
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    for i, column in enumerate(template_columns(template), start=1):
        assert ws.cell(row=1, column=i).value == column.header_zh
        if column.key in values:
            ws.cell(row=2, column=i, value=values[column.key])
    wb.save(out)


def upload(page, path: Path) -> None:
    page.goto("/filings")
    page.set_input_files("[data-testid=upload-form] input[type=file]", str(path))
    page.click("[data-testid=upload-form] button[type=submit]")
    page.wait_for_load_state()


def test_reporter_downloads_fills_and_uploads_a_return(page, tmp_path):
    page.goto("/login")
    page.fill("#username", "reporter")
    page.fill("#password", PASSWORDS["reporter"])
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.goto("/filings")
    assert page.locator("h1").first.inner_text() == "报表报送"
    institution = page.locator("[data-testid=my-institution] code").inner_text()

    with page.expect_download() as download:
        page.click("[data-testid=template-download]")
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    first_row = [c.value for c in load_workbook(template).worksheets[0][2]][:3]
    assert first_row[0] == institution and first_row[2]

    wrong = tmp_path / "wrong.xlsx"
    total = sample_values(get_template("small_loan"), seed=5)["total_assets"]
    fill(template, wrong, total_assets=total + 1000)  # no longer liabilities + equity
    upload(page, wrong)
    assert "整个文件未导入" in page.locator("[data-testid=upload-error]").inner_text()
    rows = page.locator("[data-testid=upload-errors] tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == "2" and cells[1] == BS_COLUMN
    assert cells[2].startswith(f"资产总额 {total + 1000:,.2f} ≠ 负债总额")
    assert cells[2].endswith("（资产总额应等于负债总额与所有者权益之和）")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "filings-upload-error.png"), full_page=True)

    fixed = tmp_path / "fixed.xlsx"
    fill(template, fixed)
    upload(page, fixed)
    assert page.locator("[data-testid=upload-stored]").count() == 1
    assert page.locator("[data-testid=stored] tbody tr").count() == 1
    assert institution in page.locator("[data-testid=stored]").inner_text()
    page.screenshot(path=str(SHOTS / "filings-upload-stored.png"), full_page=True)

    page.click("[data-testid=stored] a")
    assert page.locator("[data-testid=checks] .badge.red").count() == 0
    assert page.locator("[data-testid=checks] .badge.green").count() == len(get_template("small_loan").checks)
