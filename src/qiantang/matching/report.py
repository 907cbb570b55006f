"""The matchmaking statistics as tables (for the page's Excel exports, the monthly report's sheets and
its Chinese PDF) and as open data (CSV, schema in docs/open-data/matching.md)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.matching import stats
from qiantang.standards.industry import SECTIONS
from qiantang.standards.sme_size import SizeClass
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh

TABLES = ("funnel", "districts", "lenders", "declines", "size", "industry", "district_loans")
SYNTHETIC_NOTE = "演示数据为合成数据，不代表任何真实机构或企业。"


def _wan(yuan: float | None) -> float | None:
    return None if yuan is None else round(yuan / 1e4, 1)


def _pct(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def names(session: Session, *, zh: bool) -> dict[str, dict]:
    from sqlalchemy import select

    from qiantang.registry.models import Institution
    from qiantang.registry.service import area_names

    return {
        "areas": area_names(session, zh=zh),
        "lenders": dict(session.execute(select(Institution.id, Institution.name)).all()),
        "sections": {s.code: (s.name_zh if zh else s.name_en) for s in SECTIONS},
        "sizes": {c.value: (c.zh if zh else c.value) for c in SizeClass} | {"unknown": _("Not known")},
    }


def step_names() -> dict[str, str]:
    return {
        "posted": _("Posted"),
        "claimed": _("Picked up"),
        "contacted": _("First contact"),
        "approved": _("Approved"),
        "disbursed": _("Disbursed"),
    }


def tables(s: stats.Stats, league: list[dict[str, Any]], n: dict[str, dict]) -> dict[str, dict]:
    """Every table of the statistics: title, headers and rows (amounts in 万元, shares in %)."""
    steps = step_names()
    times_headers = [
        _("Picked up"),
        _("First contacts"),
        _("Days to first contact, median"),
        _("Days to first contact, p90"),
        _("Decisions"),
        _("Days to decision, median"),
        _("Days to decision, p90"),
    ]

    def times(r):
        return [
            r["picked"],
            r["contacts"],
            r["contact_p50"],
            r["contact_p90"],
            r["decisions"],
            r["decision_p50"],
            r["decision_p90"],
        ]

    share_headers = [
        _("Loans disbursed"),
        _("Amount (CNY 10k)"),
        _("First loans"),
        _("First-loan share (%)"),
        _("Credit loans"),
        _("Credit-loan share (%)"),
    ]

    def share(r):
        return [
            r["loans"],
            _wan(r["amount"]),
            r["first"],
            _pct(r["first_share"]),
            r["credit"],
            _pct(r["credit_share"]),
        ]

    return {
        "funnel": {
            "title": _("Funnel"),
            "headers": [
                _("Step"),
                _("Needs"),
                _("Share of posted (%)"),
                _("Amount asked (CNY 10k)"),
                _("Amount approved (CNY 10k)"),
            ],
            "rows": [
                [
                    steps[f["step"]],
                    f["needs"],
                    _pct(f["share_of_posted"]),
                    _wan(f["amount"]),
                    _wan(f["approved_amount"]),
                ]
                for f in s.funnel
            ],
        },
        "districts": {
            "title": _("Response times by district"),
            "headers": [_("District"), *times_headers],
            "rows": [[n["areas"].get(r["key"], r["key"]), *times(r)] for r in s.by_district]
            + [[_("Total"), *times(s.overall)]],
        },
        "lenders": {
            "title": _("Lender league table"),
            "headers": [
                _("Lender"),
                _("Rank by speed"),
                _("Rank by approval rate"),
                _("Offered"),
                _("Picked up"),
                _("Approved"),
                _("Declined"),
                _("Timed out"),
                _("Overdue now"),
                _("Approval rate (%)"),
                _("Days to first contact, median"),
                _("Days to first contact, promised"),
                _("Days to decision, median"),
                _("Days to decision, promised"),
            ],
            "rows": [
                [
                    r["name"] or _("Another lender"),
                    r["speed_rank"],
                    r["approval_rank"],
                    r["offered"],
                    r["picked"],
                    r["approved"],
                    r["declined"],
                    r["timed_out"],
                    r["overdue"],
                    _pct(r["approval_rate"]),
                    r["contact_p50"],
                    r["promised_contact"],
                    r["decision_p50"],
                    r["promised_decision"],
                ]
                for r in league
            ],
        },
        "declines": {
            "title": _("Decline reasons"),
            "headers": [_("Reason"), _("Declines"), _("Share (%)")],
            "rows": [[r["zh"] if is_zh() else r["en"], r["count"], _pct(r["share"])] for r in s.declines],
        },
        "size": {
            "title": _("First loans and credit loans by size"),
            "headers": [_("Size"), *share_headers],
            "rows": [[n["sizes"].get(r["key"], r["key"]), *share(r)] for r in s.by_size]
            + [[_("Total"), *share(s.disbursed)]],
        },
        "industry": {
            "title": _("First loans and credit loans by industry"),
            "headers": [_("Industry"), *share_headers],
            "rows": [[n["sections"].get(r["key"], r["key"]), *share(r)] for r in s.by_industry]
            + [[_("Total"), *share(s.disbursed)]],
        },
        "district_loans": {
            "title": _("First loans and credit loans by district"),
            "headers": [_("District"), *share_headers],
            "rows": [[n["areas"].get(r["key"], r["key"]), *share(r)] for r in s.by_district_loans]
            + [[_("Total"), *share(s.disbursed)]],
        },
    }


def notes(s: stats.Stats, scope_label: str, demo: bool) -> list[str]:
    out = [
        _(
            "Needs posted in %(period)s; scope: %(scope)s; working days count 调休.",
            period=s.filters.period.code,
            scope=scope_label,
        ),
    ]
    if demo:
        out.append(SYNTHETIC_NOTE)
    return out


def workbook(t: dict[str, dict], *, notes_: list[str]) -> bytes:
    from qiantang.exports import build_xlsx_book

    return build_xlsx_book(
        [
            {"sheet_title": v["title"], "headers": v["headers"], "rows": v["rows"], "notes": notes_}
            for v in t.values()
        ]
    )


def report_html(s: stats.Stats, t: dict[str, dict], *, scope_label: str, demo: bool) -> str:
    """The monthly report's HTML (Chinese whatever the page language; ``t`` built in Chinese)."""
    from qiantang.reports import line_chart_img
    from qiantang.web.templating import environment

    chart = None
    if len(s.monthly) >= 2:
        xs = list(range(1, len(s.monthly) + 1))
        chart = line_chart_img(
            title="各月发布与放款的融资需求数（按发布月份）",
            series=[
                ("发布", [m["posted"] for m in s.monthly], {"color": "#0b5394", "marker": "o"}),
                ("放款", [m["disbursed"] for m in s.monthly], {"color": "#6aa84f", "marker": "o"}),
            ],
            years=xs,
            unit="笔",
        )
    return (
        environment()
        .get_template("matching/report_pdf.html")
        .render(
            s=s,
            t=t,
            chart=chart,
            rule=stats.rules()["league"],
            scope_label=scope_label,
            demo=demo,
            note=SYNTHETIC_NOTE,
            today=date.today(),
        )
    )


# --- open data ------------------------------------------------------------------------------------------
OPEN_COLUMNS = (
    "period",
    "district_code",
    "district",
    "needs_posted",
    "needs_picked_up",
    "needs_first_contact",
    "needs_approved",
    "needs_disbursed",
    "amount_posted_wan",
    "amount_disbursed_wan",
    "contact_days_p50",
    "contact_days_p90",
    "decision_days_p50",
    "decision_days_p90",
    "declines",
    "first_loan_share_pct",
    "credit_loan_share_pct",
    "suppressed",
)


def open_data_rows(session: Session, *, period: stats.Period) -> list[dict[str, Any]]:
    """One row per district and one for the city (district_code 330100): aggregated figures only, no
    firm or lender named; small cells suppressed (data/stats.toml, documented in the schema)."""
    from qiantang.registry.service import area_names

    k = stats.rules()["open_data"]["suppress_below"]
    city = stats.compute(session, scope=Scope.system(), filters=stats.Filters(period))
    areas = area_names(session, zh=True)
    rows = [("330100", "全市", city)]
    for r in city.by_district:
        code = r["key"]
        rows.append(
            (
                code,
                areas.get(code, code),
                stats.compute(session, scope=Scope.system(), filters=stats.Filters(period, code)),
            )
        )
    out = []
    for code, name, s in rows:
        f = {x["step"]: x for x in s.funnel}
        hidden = False

        def count(n: int):
            nonlocal hidden
            if 0 < n < k:
                hidden = True
                return None
            return n

        def given(n: int, value):
            nonlocal hidden
            if 0 < n < k:
                hidden = True
                return None
            return value

        t, d = s.overall, s.disbursed
        out.append(
            {
                "period": period.code,
                "district_code": code,
                "district": name,
                "needs_posted": count(f["posted"]["needs"]),
                "needs_picked_up": count(f["claimed"]["needs"]),
                "needs_first_contact": count(f["contacted"]["needs"]),
                "needs_approved": count(f["approved"]["needs"]),
                "needs_disbursed": count(f["disbursed"]["needs"]),
                "amount_posted_wan": given(f["posted"]["needs"], _wan(f["posted"]["amount"])),
                "amount_disbursed_wan": given(
                    f["disbursed"]["needs"], _wan(f["disbursed"]["approved_amount"] or 0)
                ),
                "contact_days_p50": given(t["contacts"], t["contact_p50"]),
                "contact_days_p90": given(t["contacts"], t["contact_p90"]),
                "decision_days_p50": given(t["decisions"], t["decision_p50"]),
                "decision_days_p90": given(t["decisions"], t["decision_p90"]),
                "declines": count(sum(x["count"] for x in s.declines)),
                "first_loan_share_pct": given(d["loans"], _pct(d["first_share"])),
                "credit_loan_share_pct": given(d["loans"], _pct(d["credit_share"])),
                "suppressed": 1 if hidden else 0,
            }
        )
    return out


def open_data_csv(session: Session, *, period: stats.Period) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=OPEN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in open_data_rows(session, period=period):
        writer.writerow({key: "" if v is None else v for key, v in row.items()})
    return buf.getvalue()
