"""Pages and the monthly PDF speak the user's language: no developer text, codes or notation.

Each main page is rendered in Chinese and in English and its visible text is searched for what a
finance-office user cannot explain to a superior: CLI commands, repository paths, internal rule codes,
JSON escapes, interval notation, scientific notation, verification marks and bare district codes. In
English, the pages built from stored Chinese texts (alert summaries, case titles, group reasons, risk
levels, risk signals, reasons) must have no Chinese left once the names of institutions, firms, people,
models and laws are taken out.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select, text

from qiantang.auth.models import User
from qiantang.cases.models import Case
from qiantang.credit.models import CreditModel
from qiantang.earlywarning.models import Alert, EwSignal, SignalFamily
from qiantang.earlywarning.rules import load_rules
from qiantang.enterprises.models import Enterprise
from qiantang.fundraising.models import FirmPerson, FirmScore, ScoreRun
from qiantang.network.models import GuaranteeGroup
from qiantang.registry.models import Institution

DEVELOPER_TEXT = {
    "CLI command": re.compile(r"\bqiantang (?:stats|ew|credit|network|cases|db|demo|serve)\b|\bmake run\b"),
    "repository path": re.compile(r"[\w./-]+\.(?:toml|md)\b"),
    "rule code": re.compile(r"\b[A-Z]{2,}-[A-Z]{2,}"),
    "JSON escape": re.compile(r"\\u[0-9a-fA-F]{4}"),
    "interval notation": re.compile(r"[\[(]\s*[-+]?[\d.∞]+,\s+[-+]?[\d.∞]+\s*[\])]"),
    "scientific notation": re.compile(r"\d[eE][-+]\d"),
    "verification mark": re.compile(r"[✅❓]"),
    "bare district code": re.compile(r"(?<![\d.:/-])3301\d\d(?![\d-])"),
    "version code": re.compile(
        r"\b(?:fr-index|kw|watch|supervisors|ind|rules|signals|rating|ew|eligibility|ranking)-\d{4}\.\d+\b"
    ),
    "API path": re.compile(r"/api/v1/"),
}
CJK = re.compile(r"[\u3400-\u9fff]+")
ALLOWED_CJK = {"中文", "钱塘"}  # the language switch and the brand

PAGES = [
    "/",
    "/statistics",
    "/audit",
    "/early-warning",
    "/early-warning/alerts",
    "/cases",
    "/cases?view=table",
    "/credit",
    "/network",
    "/users",
    "/institutions",
    "/enterprises",
    "/filings",
    "/plan",
    "/fundraising",
    "/fundraising/keywords",
    "/fundraising/watchlist",
    "/fundraising/import",
]
# Pages whose Chinese comes from stored texts that must follow the language (names aside).
ENGLISH_ONLY = [
    "/",
    "/statistics",
    "/early-warning/alerts",
    "/cases",
    "/network",
    "/users",
    "/fundraising",
    "/fundraising/watchlist",
]
# Quotations of data in its own language (a firm's advertising, business scope, a complaint as filed)
# are marked lang="zh-CN" on English pages and are not interface text.
QUOTED = re.compile(r'<(\w+)\b[^>]*\blang="zh-CN"[^>]*>.*?</\1>', re.S)


def visible_text(page: str) -> str:
    """What the reader sees: no scripts, styles, tags or attribute values."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def developer_text(text_: str) -> dict[str, list[str]]:
    found = {what: sorted(set(p.findall(text_)))[:5] for what, p in DEVELOPER_TEXT.items()}
    return {what: hits for what, hits in found.items() if hits}


def detail_pages(db) -> list[str]:
    """A case, the riskiest guarantee group, an institution with a breached limit and a firm of that group
    (profile, credit report, place in the network), from the demo city."""
    case_id = db.scalar(select(Case.id).order_by(Case.id).limit(1))
    group_id = db.scalar(select(GuaranteeGroup.id).order_by(GuaranteeGroup.risk_rank.desc()).limit(1))
    inst_id = db.scalar(select(EwSignal.institution_id).where(EwSignal.family == SignalFamily.LIMIT).limit(1))
    group = db.get(GuaranteeGroup, group_id)
    uscc = db.scalar(select(Enterprise.uscc).where(Enterprise.id == group.core_ids[0]))
    return [
        f"/cases/{case_id}",
        f"/network/groups/{group_id}",
        f"/early-warning/institutions/{inst_id}",
        f"/enterprises/{uscc}",
        f"/enterprises/{uscc}/credit-report",
        f"/network/enterprises/{uscc}",
    ]


def risk_pages(db) -> list[str]:
    """A rating alert's case, a fundraising case and the riskiest watched firm's risk page."""
    rating_case = db.scalar(
        select(Case.id)
        .join(Alert, Alert.id == Case.alert_id)
        .where(Alert.family == SignalFamily.RATING)
        .limit(1)
    )
    fr_case = db.scalar(select(Case.id).where(Case.index_version.is_not(None)).order_by(Case.id).limit(1))
    fr_firm = db.scalar(
        select(FirmScore.enterprise_id)
        .where(FirmScore.run_id == select(func.max(ScoreRun.id)).scalar_subquery())
        .order_by(FirmScore.score.desc())
        .limit(1)
    )
    assert rating_case and fr_case and fr_firm, (
        "the tiny demo has a rating case, a fundraising case and scores"
    )
    return [
        f"/cases/{rating_case}",
        f"/cases/{fr_case}",
        f"/fundraising/firms/{fr_firm}",
    ]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_main_pages_show_no_developer_text(clients, db, lang):
    c = clients.as_user("admin")
    c.cookies.set("lang", lang)
    problems = {}
    for path in PAGES + detail_pages(db) + risk_pages(db):
        r = c.get(path)
        assert r.status_code == 200, path
        found = developer_text(visible_text(r.text))
        if found:
            problems[path] = found
    assert not problems, problems


def test_login_and_district_pages_show_no_developer_text(clients, client, db):
    assert not developer_text(visible_text(client.get("/login").text))
    xihu = clients.as_user("xihu")
    for path in ("/", "/early-warning", "/fundraising"):
        page = visible_text(xihu.get(path).text)
        assert not developer_text(page), (path, developer_text(page))
        assert "西湖区" in page, path  # the heading or the rows name the district


def test_english_pages_have_no_chinese_but_names(clients, db):
    names = set(db.scalars(select(Institution.name))) | set(db.scalars(select(Enterprise.name)))
    names |= {n for n in db.scalars(select(User.display_name)) if n}
    names |= set(db.scalars(select(CreditModel.name)))
    names |= {r.citation for r in load_rules().rules}  # the laws' own titles and articles
    names |= set(db.scalars(select(FirmPerson.name)))  # shareholders and legal representatives
    names = sorted(names, key=len, reverse=True)
    c = clients.as_user("admin")
    c.cookies.set("lang", "en")
    left = {}
    for path in ENGLISH_ONLY + detail_pages(db) + risk_pages(db):
        raw = QUOTED.sub(" ", c.get(path).text)
        if path.startswith("/cases/"):  # the case's own comments are what people wrote
            raw = raw.split('data-testid="timeline"')[0]
        page = re.sub(r"“[^”]*”", " ", visible_text(raw))  # a word quoted from the firm's own name or scope
        for name in names:
            page = page.replace(name, " ")
        chinese = set(CJK.findall(page)) - ALLOWED_CJK
        chinese |= set(re.findall(r"[A-Za-z0-9)]+\s*[：；]", page))  # full-width punctuation after English
        if chinese:
            left[path] = sorted(chinese)[:10]
    assert not left, left


def test_monthly_report_pdf_text_shows_no_developer_text(db):
    from qiantang.auth.scope import Scope
    from qiantang.earlywarning import report

    data = report.monthly(db, scope=Scope.system(), month="2026-01")
    page = visible_text(report.report_html(data, demo=True))
    assert not developer_text(page), developer_text(page)
    assert data.breaches and all(not re.match(r"[A-Z]{2}-", b["rule"]) for b in data.breaches)


def test_json_is_stored_without_unicode_escapes(db):
    from qiantang.audit import service as audit

    event = audit.record(db, action="case_comment", detail={"comment": "整改到位"})
    db.flush()
    query = text("SELECT CAST(detail AS TEXT) FROM audit_events WHERE id = :id")
    raw = db.execute(query, {"id": event.id}).scalar()
    assert "整改到位" in raw and "\\u" not in raw


def test_enterprise_export_names_districts_and_industry_sections(clients, db):
    import io

    from openpyxl import load_workbook

    r = clients.as_user("analyst").get("/enterprises/export?size=micro")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    header = next(row for row in rows if row and row[0] in ("USCC", "统一社会信用代码"))
    data = rows[rows.index(header) + 1 :]
    district, section = header.index("区县"), header.index("行业门类")
    assert data and all(not re.fullmatch(r"\d{6}", str(row[district])) for row in data)
    assert all(re.fullmatch(r"[A-T] \S+", str(row[section])) for row in data if row[section])


def test_audit_log_names_the_institution_an_event_is_about(clients, db):
    from qiantang.audit import service as audit

    inst = db.scalars(select(Institution).order_by(Institution.id).limit(1)).one()
    audit.record(db, action="update", username="admin", object_type="institution", object_id=inst.id)
    db.commit()
    page = visible_text(clients.as_user("admin").get("/audit?action=update").text)
    assert f"机构 {inst.name}" in page
    assert not re.search(rf"机构 {inst.id}\b", page)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_dashboard_cells_do_not_wrap_district_names(clients, db, lang):
    """A district name in a dashboard's table stays on one line ("临安区", not "临安/区")."""
    from qiantang.registry.service import area_names

    names = set(area_names(db, zh=True).values()) | set(area_names(db, zh=False).values())
    cell = re.compile(r"<td([^>]*)>\s*(?:<a [^>]*>)?\s*([^<]+?)\s*(?:</a>)?\s*</td>")
    c = clients.as_user("admin")
    c.cookies.set("lang", lang)
    for path in ("/fundraising", "/early-warning"):
        cells = [(attrs, html.unescape(text)) for attrs, text in cell.findall(c.get(path).text)]
        districts = [attrs for attrs, text in cells if text in names]
        assert districts, path
        assert all(re.search(r'class="[^"]*\b(?:district|nowrap)\b', a) for a in districts), path
