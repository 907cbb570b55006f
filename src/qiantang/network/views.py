"""Guarantee-network pages: groups by risk, a group's graph, an enterprise's ego network, scenarios."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import Field
from sqlalchemy import select

from qiantang.audit import service as audit
from qiantang.auth.permissions import Permission, has_permission
from qiantang.db import get_or_404
from qiantang.enterprises.models import Enterprise
from qiantang.enterprises.service import get_enterprise
from qiantang.errors import ValidationFailed
from qiantang.exports import build_xlsx, pdf_response, xlsx_response
from qiantang.network import graphview, imports, report, service
from qiantang.network.models import ContagionScenario, GuaranteeGroup
from qiantang.registry.models import Area
from qiantang.registry.service import area_names
from qiantang.standards.industry import SECTIONS
from qiantang.web.deps import DB, Auth, CurrentAuth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh
from qiantang.web.params import Blank
from qiantang.web.templating import pagination, render

GroupSize = Annotated[int, Field(ge=2)]  # a guarantee group links at least two firms

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["担保网络 Guarantee networks"])
PER_PAGE = 50
Editor = Annotated[Auth, require(Permission.EDIT_REGISTRY)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]
ScenarioRunner = Annotated[Auth, require(Permission.RUN_SCENARIOS)]
LEVELS = ("red", "orange", "yellow", "green")


@router.get("/network")
def groups_page(
    request: Request,
    db: DB,
    auth: CurrentAuth,
    level: str | None = None,
    min_firms: Blank[GroupSize] = None,
    page: int = Query(1, ge=1),
):
    min_firms = min_firms or 2
    run = service.latest_run(db)
    if run is None:
        return render(request, "network/empty.html", active="network")
    rows, total = service.list_groups(
        db,
        scope=auth.scope,
        run=run,
        level=level or None,
        min_firms=min_firms,
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )
    return render(
        request,
        "network/groups.html",
        run=run,
        counts=service.summary_counts(db, scope=auth.scope, run=run),
        citywide=auth.scope.is_citywide,
        rows=rows,
        level=level or "",
        min_firms=min_firms,
        levels=LEVELS,
        level_names=service.level_names(),
        group_reasons=service.group_reasons,
        area_names=area_names(db, zh=is_zh()),
        active="network",
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
    )


@router.get("/network/export")
def groups_export(
    request: Request,
    db: DB,
    auth: Exporter,
    level: str | None = None,
    min_firms: Blank[GroupSize] = None,
):
    min_firms = min_firms or 2
    run = service.require_run(db)
    rows, _total = service.list_groups(
        db, scope=auth.scope, run=run, level=level or None, min_firms=min_firms, limit=100_000
    )
    headers = [
        _("Group"),
        _("Risk level"),
        _("Firms"),
        _("Guarantee relations"),
        _("Loans (CNY 100m)"),
        _("Guaranteed (CNY 100m)"),
        _("Mutual pairs"),
        _("Three-firm rings"),
        _("Firms in loops"),
        _("Longest chain"),
        _("Special mention or worse"),
        _("NPL share"),
        _("Districts"),
        _("Reasons"),
    ]
    names = area_names(db, zh=is_zh())
    body = (
        [
            g.id,
            service.level_names()[g.risk_level],
            g.firms,
            g.guarantees,
            round(g.total_loans / 1e8, 4),
            round(g.total_guaranteed / 1e8, 4),
            g.mutual_pairs,
            g.rings,
            g.loop_firms,
            g.longest_chain,
            round(g.special_mention_share * 100, 2),
            round(g.npl_share * 100, 2),
            "、".join(names.get(d, d) for d in g.districts),
            "；".join(service.group_reasons(g)),
        ]
        for g in rows
    )
    notes = [_("Guarantees in force on %(date)s.", date=run.as_of.isoformat())]
    if request.app.state.is_demo(request):
        notes.append(_("Exported from Qiantang; demo data is synthetic."))
    content = build_xlsx(sheet_title=_("Guarantee groups"), headers=headers, rows=body, notes=notes)
    record_export(db, request, auth, "network_groups", detail={"rows": len(rows)})
    return xlsx_response(content, _("Guarantee groups") + ".xlsx")


@router.get("/network/groups/{group_id}")
def group_page(request: Request, db: DB, auth: CurrentAuth, group_id: int, full: bool = False):
    group = service.get_group(db, scope=auth.scope, group_id=group_id)
    run = group_run(db, group)
    members = service.group_members(db, group=group)
    graph = graphview.group_graph(db, run=run, group=group, members=members, scope=auth.scope, full=full)
    return render(
        request,
        "network/group.html",
        group=group,
        run=run,
        members=members[:200],
        member_count=len(members),
        graph=graph,
        full=full,
        level_names=service.level_names(),
        group_reasons=service.group_reasons,
        visible=graphview.visible_ids(auth.scope, members),
        area_names=area_names(db, zh=is_zh()),
        active="network",
    )


def group_run(db, group: GuaranteeGroup):
    from qiantang.network.models import NetworkRun

    return get_or_404(db, NetworkRun, group.run_id)


@router.get("/network/groups/{group_id}/report.pdf")
def group_pdf(request: Request, db: DB, auth: Exporter, group_id: int):
    group = service.get_group(db, scope=auth.scope, group_id=group_id)
    run = group_run(db, group)
    members = service.group_members(db, group=group)
    pdf = report.group_pdf(
        db, run=run, group=group, members=members, scope=auth.scope, demo=request.app.state.is_demo(request)
    )
    record_export(db, request, auth, "network_group_report", object_id=group_id)
    return pdf_response(pdf, f"guarantee-group-{group_id}.pdf")


@router.get("/network/enterprises/{uscc}")
def ego_page(request: Request, db: DB, auth: CurrentAuth, uscc: str):
    ent = get_enterprise(db, scope=auth.scope, uscc=uscc)
    run = service.require_run(db)
    node = service.enterprise_node(db, run=run, enterprise_id=ent.id)
    graph = graphview.ego_graph(db, run=run, enterprise=ent, scope=auth.scope) if node else None
    group = db.get(GuaranteeGroup, node.group_id) if node else None
    return render(
        request,
        "network/ego.html",
        ent=ent,
        run=run,
        node=node,
        group=group,
        graph=graph,
        level_names=service.level_names(),
        group_reasons=service.group_reasons,
        active="network",
    )


def _scenario_page(request, db, auth, *, errors=(), form=None, status_code=200):
    run = service.require_run(db)
    scenarios = db.scalars(
        select(ContagionScenario)
        .where(ContagionScenario.run_id == run.id)
        .order_by(ContagionScenario.id.desc())
        .limit(50)
    ).all()
    areas = db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)).all()
    return render(
        request,
        "network/scenarios.html",
        status_code=status_code,
        run=run,
        scenarios=scenarios,
        sections=SECTIONS,
        areas=areas,
        errors=list(errors),
        form=form or {},
        active="network",
        can_run=has_permission(auth.user.role, Permission.RUN_SCENARIOS) and auth.scope.is_citywide,
    )


@router.get("/network/scenarios")
def scenarios_page(request: Request, db: DB, auth: CurrentAuth):
    auth.scope.require_enterprises()
    return _scenario_page(request, db, auth)


@router.post("/network/scenarios")
def run_scenario_form(
    request: Request,
    db: DB,
    auth: ScenarioRunner,
    kind: Annotated[str, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
    firms: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    equity_loss: Annotated[str, Form()] = "30",
    recovery: Annotated[str, Form()] = "40",
    capacity_multiplier: Annotated[str, Form()] = "1",
):
    form = {
        "kind": kind,
        "name": name,
        "firms": firms,
        "target": target,
        "equity_loss": equity_loss,
        "recovery": recovery,
        "capacity_multiplier": capacity_multiplier,
    }
    try:
        specs = imports.scenario_specs(db, auth.scope, form)
        run = service.require_run(db)
        stored = service.run_scenarios(db, run=run, specs=specs, username=auth.user.username)
    except ValidationFailed as exc:
        db.rollback()
        return _scenario_page(request, db, auth, errors=exc.errors, form=form, status_code=422)
    audit.record(
        db,
        action="create",
        user=auth.user,
        object_type="network_scenario",
        object_id=stored[0].id,
        detail={"kind": kind, "scenarios": len(stored)},
    )
    if len(stored) == 1:
        return RedirectResponse(f"/network/scenarios/{stored[0].id}", status_code=303)
    return RedirectResponse("/network/scenarios", status_code=303)


@router.get("/network/scenarios/{scenario_id}")
def scenario_page(request: Request, db: DB, auth: CurrentAuth, scenario_id: int):
    auth.scope.require_enterprises()
    scenario = get_or_404(db, ContagionScenario, scenario_id)
    if not auth.scope.is_citywide:
        from qiantang.errors import Forbidden

        raise Forbidden("情景分析涉及全市数据，仅市级人员可查看", message_en="Scenarios are city-wide")
    defaulted = db.scalars(
        select(Enterprise).where(Enterprise.id.in_(scenario.results["defaulted_ids"][:200]))
    ).all()
    return render(
        request,
        "network/scenario.html",
        scenario=scenario,
        defaulted=defaulted,
        charts=report.scenario_charts(scenario, area_names(db)),
        area_names=area_names(db, zh=is_zh()),
        active="network",
    )


@router.get("/network/import")
def import_page(request: Request, db: DB, auth: Editor):
    return render(request, "network/import.html", active="network")


@router.get("/network/import/template")
def import_template(auth: CurrentAuth):
    return xlsx_response(imports.template(), _("guarantees-template") + ".xlsx")


@router.post("/network/import")
def import_upload(db: DB, auth: Editor, file: Annotated[UploadFile, File()]):
    """Hand the file to a background job: a 200k-row file is checked and stored by the worker, and the
    job page shows its progress, then the count stored or every row's problem (nothing stored)."""
    from qiantang.jobs import service as jobs

    content = file.file.read()  # a plain route: runs in a worker thread, off the event loop
    job = jobs.enqueue(
        db,
        "network.import",
        title=f"导入担保关系：{file.filename or ''}",
        user_id=auth.user.id,
        params={"filename": file.filename or ""},
        input_data=content,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


# ---------------------------------------------------------------------------------------------- API


@api_router.get("/network/groups", summary="担保圈列表（按风险） Guarantee groups by risk")
def groups_api(
    db: DB,
    auth: CurrentAuth,
    level: str | None = None,
    min_firms: int = Query(2, ge=2),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    run = service.require_run(db)
    rows, total = service.list_groups(
        db, scope=auth.scope, run=run, level=level, min_firms=min_firms, limit=limit, offset=offset
    )
    return {
        "as_of": run.as_of,
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [report.group_dict(g) for g in rows],
    }


@api_router.get("/network/groups/{group_id}", summary="担保圈详情 A guarantee group")
def group_api(db: DB, auth: CurrentAuth, group_id: int):
    group = service.get_group(db, scope=auth.scope, group_id=group_id)
    members = service.group_members(db, group=group)
    visible = graphview.visible_ids(auth.scope, members)
    return {
        **report.group_dict(group),
        "members": [report.member_dict(n, e, e.id in visible) for n, e in members],
    }


@api_router.get("/network/enterprises/{uscc}", summary="企业在担保网络中的位置 An enterprise's place")
def enterprise_api(db: DB, auth: CurrentAuth, uscc: str):
    ent = get_enterprise(db, scope=auth.scope, uscc=uscc)
    run = service.require_run(db)
    node = service.enterprise_node(db, run=run, enterprise_id=ent.id)
    return {
        "as_of": run.as_of,
        "uscc": ent.uscc,
        "in_network": node is not None,
        **(report.member_dict(node, ent, True) if node else {}),
    }


@api_router.get("/network/scenarios/{scenario_id}", summary="情景结果 A scenario's results")
def scenario_api(db: DB, auth: CurrentAuth, scenario_id: int):
    if not auth.scope.is_citywide:
        from qiantang.errors import Forbidden

        raise Forbidden("情景分析涉及全市数据，仅市级人员可查看", message_en="Scenarios are city-wide")
    s = get_or_404(db, ContagionScenario, scenario_id)
    return {
        "id": s.id,
        "name": s.name,
        "kind": s.kind,
        "params": s.params,
        "results": s.results,
        "created_by": s.created_by,
        "created_at": s.created_at,
    }
