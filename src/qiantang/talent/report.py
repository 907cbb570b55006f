"""What the talent pages hand out besides the service: names, the certified table, the PDF summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from qiantang.auth.scope import Scope
from qiantang.filings.templates import get_template
from qiantang.registry.models import Institution
from qiantang.registry.service import area_names
from qiantang.talent import service
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh

SYNTHETIC_NOTE = "演示数据：人才年报与认定申请均为合成数据，姓名、证件号码和手机号码均为虚构。"


def group_title(by: str) -> str:
    return {
        "basis": _("Supervision basis"),
        "type": _("Institution type"),
        "district": _("District"),
        "cluster": _("Cluster"),
    }.get(by, by)


def all_levels() -> list[tuple[str, str]]:
    """(code, name) of the levels of every standard version, first seen first."""
    out: dict[str, str] = {}
    for v in service.standards()[1]:
        for lv in v.levels:
            out.setdefault(lv.code, lv.name_zh if is_zh() else lv.name_en)
    return list(out.items())


def level_name(version: str, code: str) -> str:
    try:
        lv = service.standard_version(version).level(code)
    except Exception:  # a version removed from the data: show the code rather than fail
        lv = None
    if lv is None:
        return code
    return lv.name_zh if is_zh() else lv.name_en


def institution_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(
        session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(wanted))).all()
    )


def certified_table(session: Session, counts: Mapping[tuple[str, str], int]) -> dict:
    """Certified talent in force: one row per district, one column per level, with totals."""
    names = area_names(session, zh=is_zh())
    levels = all_levels()
    districts = sorted({d for _lv, d in counts})
    rows = []
    for d in districts:
        cells = [counts.get((code, d), 0) for code, _name in levels]
        rows.append({"name": names.get(d, d), "cells": cells, "total": sum(cells)})
    totals = [sum(r["cells"][i] for r in rows) for i in range(len(levels))]
    return {"levels": levels, "rows": rows, "totals": totals, "total": sum(totals)}


def summary_pdf(session: Session, *, scope: Scope, year: int | None, demo: bool) -> bytes:
    """One page in Chinese: headcounts by 口径 and by district, certified talent by level."""
    from qiantang.reports import render_pdf
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        by_basis = service.statistics(session, scope=scope, year=year, by="basis")
        by_district = service.statistics(session, scope=scope, year=by_basis.year, by="district")
        html = (
            environment()
            .get_template("talent/report_pdf.html")
            .render(
                by_basis=by_basis,
                by_district=by_district,
                fields={f.code: f.name_zh for f in get_template(service.TEMPLATE).fields},
                certified=certified_table(session, service.certified_counts(session, scope=scope)),
                source=service.standards()[0],
                today=date.today(),
                demo=demo,
                synthetic_note=SYNTHETIC_NOTE,
            )
        )
    finally:
        _current.reset(token)
    return render_pdf(html)
