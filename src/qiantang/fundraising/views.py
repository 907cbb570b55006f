"""Fundraising-monitoring pages: the dashboard, a firm's risk page, the Excel export, the profile panel."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from qiantang.auth.permissions import Permission, has_permission
from qiantang.enterprises.models import Enterprise
from qiantang.enterprises.panels import Panel
from qiantang.enterprises.panels import register as register_panel
from qiantang.errors import NotFound
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.formatting import join_clauses, localised
from qiantang.fundraising import report, service
from qiantang.fundraising.index import config
from qiantang.fundraising.keywords import matcher
from qiantang.fundraising.models import GRADES, FirmPerson, FirmProfile
from qiantang.fundraising.schemas import ScoreOut, ScoresOut
from qiantang.fundraising.watch import watch_config
from qiantang.registry.service import area_names
from qiantang.versions import describe_version
from qiantang.web.deps import DB, Auth, record_export, require, require_any
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.templating import nav_permissions, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["非法集资监测 Fundraising monitoring"])
Viewer = Annotated[Auth, require_any(*nav_permissions("fundraising"))]
Exporter = Annotated[Auth, require(Permission.EXPORT)]
LIMIT = 200


def grade_names() -> dict[str, str]:
    return {"red": _("Red"), "orange": _("Orange"), "yellow": _("Yellow"), "green": _("Green")}


def _names(db) -> dict:
    """Names of districts, watched-firm categories and index dimensions in the page's language."""
    zh, cfg = is_zh(), config()
    return {
        "areas": area_names(db, zh=zh),
        "categories": watch_config().category_names(zh=zh),
        "dimensions": {k: v[0] if zh else cfg.dimensions_en.get(k, v[0]) for k, v in cfg.dimensions.items()},
    }


@router.get("/fundraising")
def dashboard(
    request: Request,
    db: DB,
    auth: Viewer,
    grade: str | None = None,
    district: str | None = None,
    category: str | None = None,
):
    run = service.latest_run(db)
    if run is None:
        return render(
            request,
            "fundraising/empty.html",
            active="fundraising",
            can_import=has_permission(auth.user.role, Permission.EDIT_REGISTRY),
        )
    grade = grade if grade in GRADES else None
    filters = {"grade": grade, "district": district or None, "category": category or None}
    rows = service.scores(db, scope=auth.scope, run=run, limit=LIMIT, with_signal=True, **filters)
    return render(
        request,
        "fundraising/dashboard.html",
        run=run,
        rows=rows,
        without_signal=service.without_signal(db, scope=auth.scope, run=run, **filters),
        summary=service.summary(db, scope=auth.scope, run=run),
        names=_names(db),
        grades=GRADES,
        grade_names=grade_names(),
        filters={"grade": grade or "", "district": district or "", "category": category or ""},
        citywide=auth.scope.is_citywide,
        limit=LIMIT,
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        report_month=report.default_month(db),
        can_import=has_permission(auth.user.role, Permission.EDIT_REGISTRY),
        active="fundraising",
    )


@router.get("/fundraising/export")
def export(request: Request, db: DB, auth: Exporter, grade: str | None = None, district: str | None = None):
    run = service.latest_run(db)
    if run is None:
        raise NotFound(_("No scoring run yet."))
    grade = grade if grade in GRADES else None
    rows = service.scores(db, scope=auth.scope, run=run, grade=grade, district=district or None, limit=None)
    names = _names(db)
    dims = list(config().dimensions)
    headers = [
        _("Enterprise"),
        _("District"),
        _("Category"),
        _("Index"),
        _("Risk grade"),
        *[names["dimensions"][d] for d in dims],
        _("Main reasons"),
        _("Index version"),
    ]
    body = [
        [
            name,
            names["areas"].get(s.district_code, s.district_code),
            names["categories"].get(s.category, s.category),
            s.score,
            grade_names().get(s.grade, s.grade),
            *[s.subscores.get(d, 0) for d in dims],
            join_clauses(localised(r, "text") for r in s.reasons_shown[:3])
            if s.reasons
            else _("No risk signal"),
            describe_version(s.version),
        ]
        for s, name in rows
    ]
    notes = [_("Fundraising risk index as of %(d)s.", d=run.as_of.isoformat())]
    if request.app.state.is_demo(request):
        notes.append(_("Exported from Qiantang; demo data is synthetic."))
    content = build_xlsx(sheet_title=_("Fundraising risk"), headers=headers, rows=body, notes=notes)
    record_export(db, request, auth, "fundraising_scores", detail={"rows": len(body)})
    return xlsx_response(content, _("Fundraising risk") + ".xlsx")


@router.get("/fundraising/report.pdf")
def report_pdf(
    request: Request, db: DB, auth: Exporter, month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$")
):
    """The monthly report (非法集资监测月报) made now; a district office gets its district's."""
    r = report.monthly(
        db, scope=auth.scope, month=month or report.default_month(db), demo=request.app.state.is_demo(request)
    )
    pdf = report.report_pdf(r)
    record_export(db, request, auth, "fundraising_report", object_id=r.month)
    return pdf_response(pdf, report.filename(r))


@router.post("/fundraising/report-job")
async def report_job(request: Request, db: DB, auth: Exporter):
    """The same report made by a background job (a few seconds), downloaded from the job's page."""
    from qiantang.jobs import service as jobs

    form = await request.form()
    month = str(form.get("month") or "") or report.default_month(db)
    report.parse_month(month)  # refuses anything but YYYY-MM
    district = None if auth.scope.is_citywide else auth.scope.district_code
    job = jobs.enqueue(
        db,
        "fundraising.report_pdf",
        title=f"非法集资监测月报：{month}",
        user_id=auth.user.id,
        params={"month": month, "district": district},
    )
    record_export(db, request, auth, "fundraising_report", object_id=month, detail={"job": job.id})
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


GRADE_COLOURS = {"red": "#cc0000", "orange": "#e69138", "yellow": "#e0b400", "green": "#6aa84f"}
NONE_COLOUR, PERSON_COLOUR = "#9aa5b1", "#3d85c6"


def timeline_kinds() -> dict[str, str]:
    return {
        "text": _("Advertising text"),
        "complaint": _("Complaint"),
        "change": _("Registration change"),
        "dishonest": _("Dishonest debtor"),
        "funds": _("Fund anomaly"),
        "collapse": _("Collapsed"),
    }


def role_names() -> dict[str, str]:
    return {
        "legal_rep": _("Legal representative"),
        "shareholder": _("Shareholder"),
        "executive": _("Executive"),
    }


def links_view(graph: service.LinkGraph, areas: dict[str, str]) -> tuple[dict, list[dict]]:
    """The links graph as the shared graph script draws it (static/js/network.js) and the same content
    as table rows (its accessible alternative). People show masked by role, never an ID number; firms
    outside the viewer's scope show as "firm of another district"."""
    from qiantang.masking import mask_value

    grades = grade_names()
    roles = role_names()
    order = [*GRADES, None]
    categories = [{"name": grades[g], "colour": GRADE_COLOURS[g]} for g in GRADES]
    categories += [
        {"name": _("Not scored"), "colour": NONE_COLOUR},
        {"name": _("Person"), "colour": PERSON_COLOUR, "symbol": "rect"},
    ]
    people = {}
    nodes = []
    for i, p in enumerate(graph.people, start=1):
        name = mask_value("person_name", p["name"]) or _("Person %(n)s", n=i)
        people[p["node"]] = name
        nodes.append({"id": p["node"], "name": name, "category": len(order), "symbol": "rect", "size": 12})
    firms = {}
    for f in graph.firms:
        status = []
        if f["dishonest"]:
            status.append(_("Dishonest debtor"))
        if f["handed_off"]:
            status.append(_("Handed to the police"))
        if f["collapsed"]:
            status.append(_("Collapsed"))
        name = f["name"] if f["visible"] else _("firm of another district")
        href = ""
        if f["visible"]:
            href = f"/fundraising/firms/{f['id']}" if f["grade"] else f"/enterprises/{f['uscc']}"
        grade = grades[f["grade"]] if f["grade"] else _("Not scored")
        row = {**f, "label": name, "href": href, "grade_name": grade, "status": status}
        firms[f["id"]] = row
        nodes.append(
            {
                "id": f"f{f['id']}",
                "name": name,
                "category": order.index(f["grade"]),
                "symbol": "diamond" if status else "circle",
                "size": 30 if f["focus"] else (20 if status else 16),
                "focus": f["focus"],
                "href": href,
                "lines": [areas.get(f["district_code"], f["district_code"]), grade, *status],
            }
        )
    links = []
    table = []
    for person, firm_id, role in graph.edges:
        links.append({"source": person, "target": f"f{firm_id}", "tip": roles.get(role, role), "width": 1.2})
        table.append({"person": people[person], "role": roles.get(role, role), "firm": firms[firm_id]})
    # A star of stars: short links and a strong pull keep up to ~60 firms inside a half-width box.
    force = {"repulsion": 260 if len(nodes) <= 30 else 110, "edgeLength": [45, 90], "gravity": 0.16}
    spec = {
        "categories": categories,
        "directed": False,
        "force": force,
        "fit": True,
        "nodes": nodes,
        "links": links,
    }
    return spec, table


@router.get("/fundraising/firms/{enterprise_id}")
def firm_page(request: Request, db: DB, auth: Viewer, enterprise_id: int):
    score = service.firm_score(db, scope=auth.scope, enterprise_id=enterprise_id)
    firm = db.get(Enterprise, enterprise_id)
    graph = service.link_graph(db, enterprise_id=enterprise_id, scope=auth.scope, as_of=date.today())
    graph_spec, graph_rows = links_view(graph, area_names(db, zh=is_zh()))
    return render(
        request,
        "fundraising/firm.html",
        firm=firm,
        score=score,
        supervisor=service.firm_supervisor(db, firm, score, zh=is_zh(), scope=auth.scope),
        profile=db.get(FirmProfile, enterprise_id),
        people=db.scalars(select(FirmPerson).where(FirmPerson.enterprise_id == enterprise_id)).all(),
        history=service.firm_history(db, enterprise_id),
        timeline=service.firm_timeline(db, enterprise_id),
        timeline_kinds=timeline_kinds(),
        graph=graph_spec,
        graph_rows=graph_rows,
        graph_truncated=graph.truncated,
        flags=service.risk_flags(db, [enterprise_id], date.today()).get(enterprise_id),
        names=_names(db),
        grade_names=grade_names(),
        active="fundraising",
    )


def _firm_panel(session, *, enterprise, scope) -> Panel | None:
    """The firm's grade (when it is watched, within scope) and its 失信被执行人 entry in force today."""
    if not scope.sees_enterprises:
        return None
    try:
        score = service.firm_score(session, scope=scope, enterprise_id=enterprise.id)
    except NotFound:
        score = None
    flags = service.risk_flags(session, [enterprise.id], date.today()).get(enterprise.id)
    if score is None and not (flags and flags.dishonest):
        return None
    return Panel(
        "fundraising/_firm_panel.html", {"score": score, "flags": flags, "grade_names": grade_names()}
    )


register_panel("fundraising", _firm_panel)


@router.get("/fundraising/keywords")
def keywords_page(request: Request, auth: Viewer):
    m = matcher()
    by_class: dict[str, list[str]] = {code: [] for code in m.classes}
    for term, (cls, _w) in m.terms.items():
        by_class[cls].append(term)
    return render(
        request,
        "fundraising/keywords.html",
        matcher=m,
        by_class=by_class,
        index_version=config().version,
        watch_version=watch_config().version,
        active="fundraising",
    )


@api_router.get("/fundraising/scores", response_model=ScoresOut, summary="非法集资风险指数（最近一次评分）")
def scores_api(
    db: DB,
    auth: Viewer,
    grade: str | None = Query(None, pattern="^(red|orange|yellow|green)$"),
    district: str | None = Query(None, max_length=6),
    limit: int = Query(100, ge=1, le=5000),
):
    run = service.latest_run(db)
    if run is None:
        raise NotFound("尚无评分批次")
    rows = service.scores(db, scope=auth.scope, run=run, grade=grade, district=district, limit=limit)
    items = [ScoreOut.model_validate(s).model_copy(update={"name": name}) for s, name in rows]
    return ScoresOut(
        as_of=run.as_of,
        version=run.version,
        keywords_version=run.keywords_version,
        counts=run.counts,
        items=items,
    )


@api_router.get(
    "/fundraising/firms/{enterprise_id}", response_model=ScoreOut, summary="一家企业的风险指数及原因"
)
def firm_api(db: DB, auth: Viewer, enterprise_id: int):
    s = service.firm_score(db, scope=auth.scope, enterprise_id=enterprise_id)
    firm = db.get(Enterprise, enterprise_id)
    return ScoreOut.model_validate(s).model_copy(update={"name": firm.name if firm else ""})
