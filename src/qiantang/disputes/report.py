"""What the dispute pages hand out besides the list: the statistics workbook and the Chinese PDF summary."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.disputes import service
from qiantang.disputes.service import DisputeFilters, Group, Stats
from qiantang.web.i18n import gettext as _

SYNTHETIC_NOTE = "演示数据：纠纷登记为合成数据，非真实案件。"
DEFINITIONS_ZH = (
    "口径：成功率 = 调解成功或裁决/判决支持的件数 ÷（已结案件数 − 申请人撤回件数）；"
    "结案天数为收到至结案的自然日，取中位数和第 90 百分位；金额单位万元。"
)
WAN = 10_000.0


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def group_row(name: str, g: Group) -> list:
    return [
        name,
        g.received,
        g.closed,
        g.open,
        _pct(g.success_rate),
        g.median_days,
        g.p90_days,
        round(g.amount / WAN, 2),
        round(g.recovered / WAN, 2),
    ]


def group_headers(first: str) -> list[str]:
    return [
        first,
        _("Received"),
        _("Closed"),
        _("Open"),
        _("Success rate (%)"),
        _("Median days to close"),
        _("90th percentile of days to close"),
        _("Amount in dispute (CNY 10k)"),
        _("Recovered (CNY 10k)"),
    ]


def statistics_table(stats: Stats, names: dict) -> tuple[list[str], list[list]]:
    """Every breakdown in one table (Excel): the breakdown, the group's name, then its figures."""
    parts = (
        (_("Body"), "bodies", stats.by_body),
        (_("Institution type"), "types", stats.by_type),
        (_("District"), "areas", stats.by_district),
        (_("Channel"), "channels", stats.by_channel),
    )
    rows = [[_("All"), *group_row(_("All"), stats.total)]]
    for title, kind, groups in parts:
        rows += [[title, *group_row(names[kind].get(g.key, g.key), g)] for g in groups]
    return [_("Breakdown"), *group_headers(_("Group"))], rows


def summary_pdf(session: Session, *, scope: Scope, demo: bool) -> bytes:
    """The register's figures on one or two A4 pages, in Chinese."""
    from qiantang.reports import render_pdf
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        stats = service.statistics(session, scope=scope, filters=DisputeFilters())
        html = (
            environment()
            .get_template("disputes/report_pdf.html")
            .render(
                stats=stats,
                names=service.names(session, zh=True),
                bodies=service.bodies(),
                definitions=DEFINITIONS_ZH,
                today=date.today(),
                demo=demo,
                synthetic_note=SYNTHETIC_NOTE,
                wan=WAN,
            )
        )
    finally:
        _current.reset(token)
    return render_pdf(html)
