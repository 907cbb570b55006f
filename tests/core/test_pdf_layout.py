"""Every PDF the platform hands out fits its page: no column, badge or table sticks out of its box."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from qiantang import reports
from qiantang.credit import registry
from qiantang.enterprises.models import Enterprise
from qiantang.network import service as network_service
from qiantang.network.models import GuaranteeGroup
from qiantang.plan.models import Plan


def test_the_checker_finds_a_column_too_narrow_for_its_text():
    html = (
        "<style>@page { size: A4; margin: 20mm } table { width: 100%; table-layout: fixed; }"
        " td { white-space: nowrap; }</style><table><colgroup><col style='width: 5%'><col></colgroup>"
        "<tr><td>这一列放不下这么长的文字</td><td>x</td></tr></table>"
    )
    assert reports.layout_overflows(html)
    assert not reports.layout_overflows(html.replace("white-space: nowrap", "white-space: normal"))


@pytest.fixture
def captured(monkeypatch):
    """The HTML of each PDF a request renders (the PDF itself is not needed to check the layout)."""
    pages: list[str] = []

    def capture(html: str, **_kw) -> bytes:
        pages.append(html)
        return b"%PDF-1.7\n%captured\n"

    monkeypatch.setattr(reports, "render_pdf", capture)
    monkeypatch.setattr("qiantang.plan.report.render_pdf", capture)
    monkeypatch.setattr("qiantang.network.report.render_pdf", capture)
    return pages


def pdf_urls(db) -> dict[str, str]:
    plan_id = db.scalar(select(Plan.id).order_by(Plan.id))
    ent = db.scalar(select(Enterprise).where(Enterprise.deregistered_on.is_(None)).order_by(Enterprise.id))
    run = network_service.latest_run(db) or network_service.analyse(db)
    group = db.scalars(
        select(GuaranteeGroup).where(GuaranteeGroup.run_id == run.id).order_by(GuaranteeGroup.firms.desc())
    ).first()
    return {
        "plan": f"/plan/{plan_id}/report.pdf",
        "early_warning": "/early-warning/report?month=2026-01",
        "validation": f"/credit/models/{registry.champion(db, 'all').id}?format=pdf",
        "credit_report": f"/enterprises/{ent.uscc}/credit-report?format=pdf",
        "group": f"/network/groups/{group.id}/report.pdf",
        "listing": "/listing/report.pdf",
        "disputes": "/disputes/report.pdf",
        "matching_report": "/matching/report?month=2025-06",
        "talent": "/talent/report.pdf",
        "fundraising_report": "/fundraising/report.pdf?month=2025-12",
    }


@pytest.mark.parametrize(
    "which",
    [
        "plan",
        "early_warning",
        "validation",
        "credit_report",
        "group",
        "listing",
        "disputes",
        "matching_report",
        "talent",
        "fundraising_report",
    ],
)
def test_every_pdf_fits_its_page(clients, db, captured, which):
    url = pdf_urls(db)[which]
    r = clients.as_user("admin").get(url)
    assert r.status_code == 200, url
    assert captured, f"{url} rendered no PDF"
    assert reports.layout_overflows(captured[-1]) == []


def test_plan_report_puts_the_wide_table_on_a_landscape_page(clients, db):
    plan_id = db.scalar(select(Plan.id).order_by(Plan.id))
    r = clients.as_user("admin").get(f"/plan/{plan_id}/report.pdf")
    pages = PdfReader(io.BytesIO(r.content)).pages
    shapes = ["landscape" if p.mediabox.width > p.mediabox.height else "portrait" for p in pages]
    assert shapes[0] == "portrait" and "landscape" in shapes and shapes[-1] == "portrait"
    wide = next(p for p, s in zip(pages, shapes, strict=True) if s == "landscape")
    text = wide.extract_text()
    assert "仍需年均增长" in text and "预计达标年份" in text and ">=" not in text
