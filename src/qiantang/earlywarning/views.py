"""Pages and API of the early-warning module (预警): heat map, institution risk profile, alert inbox,
monthly risk report; everything read from what ``service.run`` stored, within the user's scope."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from qiantang.auth.permissions import Permission, has_permission
from qiantang.cases import service as case_service
from qiantang.earlywarning import report, schemas, service
from qiantang.earlywarning.indicators import BY_CODE, CAP_MULT, CAP_PCT
from qiantang.earlywarning.models import (
    Alert,
    AlertStatus,
    EwRating,
    EwSignal,
    Level,
    SignalFamily,
    message_en,
)
from qiantang.earlywarning.panel import label_of, pq_of
from qiantang.earlywarning.rating import reasons_shown
from qiantang.earlywarning.rules import fmt_value, fmt_value_en
from qiantang.errors import ValidationFailed
from qiantang.exports import MAX_EXPORT_ROWS, build_xlsx, pdf_response, xlsx_response
from qiantang.filings.periods import PeriodError, parse_period
from qiantang.registry.models import Area, Institution, InstitutionType
from qiantang.registry.service import area_names
from qiantang.schemas import Page
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh, label
from qiantang.web.params import Blank
from qiantang.web.templating import pagination, render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["风险预警 Early warning"])
Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]
PER_PAGE = 50
LEVELS = [Level.RED, Level.ORANGE, Level.YELLOW, Level.GREEN]


def _period(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise ValidationFailed(str(exc)) from None


def _filters(
    level: str | None = None,
    family: str | None = None,
    type: str | None = None,
    district: str | None = None,
    status: str | None = "open",
    institution: Blank[int] = None,
    q: str | None = None,
) -> service.AlertFilters:
    if level and level not in {lv.value for lv in Level}:
        level = None
    if family and family not in {f.value for f in SignalFamily}:
        family = None
    if status not in ("open", "cleared"):
        status = None
    return service.AlertFilters(
        level=level or None,
        family=family or None,
        type_code=type or None,
        district_code=district or None,
        status=status,
        institution_id=institution,
        q=(q or "").strip()[:100] or None,
    )


Filters = Annotated[service.AlertFilters, Depends(_filters)]


def _reference(db) -> dict:
    types = list(
        db.scalars(
            select(InstitutionType)
            .where(InstitutionType.filing_template.is_not(None))
            .order_by(InstitutionType.sort_order)
        )
    )
    districts = list(db.scalars(select(Area).where(Area.valid_to.is_(None)).order_by(Area.sort_order)))
    return {"types": types, "districts": districts}


# ------------------------------------------------------------------------------------------ pages
@router.get("/early-warning")
def index_page(request: Request, db: DB, auth: Viewer, period: str | None = None):
    data, stored = service.dashboard_page(db, scope=auth.scope, period_end=_period(period))
    run = service.latest_run(db)
    heatmap = _heatmap_spec(data) if data.get("period_end") else None
    top = [{**t, "level": Level(t["level"])} for t in data.get("top", [])]
    return render(
        request,
        "earlywarning/index.html",
        data=data,
        run=run,
        heatmap=heatmap,
        top=top,
        stored=stored,
        families=list(SignalFamily),
        levels=LEVELS,
        periods=[(d, label_of(pq_of(d))) for d in service.periods(db)[:16]],
        history_spec=_history_spec(service.level_history(db, scope=auth.scope, quarters=16)),
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        default_month=_default_month(data.get("period_end")),
        district_name=area_names(db, zh=is_zh()).get(auth.scope.district_code or "", ""),
        active="earlywarning",
    )


def _default_month(period_end: date | None) -> str:
    if period_end is None:
        return date.today().strftime("%Y-%m")
    month = period_end.month + 1
    year = period_end.year + (1 if month > 12 else 0)
    return f"{year}-{(month - 1) % 12 + 1:02d}"


def _name(zh: str, en: str) -> str:
    return zh if is_zh() else en


def _heatmap_spec(data: dict) -> dict:
    types = data["types"]
    districts = data["districts"]
    tx = {c: i for i, (c, _zh, _en) in enumerate(types)}
    dx = {c: i for i, (c, _zh, _en) in enumerate(districts)}
    cells = [
        [dx[c["district_code"]], tx[c["type_code"]], c["total"], c["red"], c["orange"], c["yellow"]]
        for c in data["cells"]
        if c["district_code"] in dx and c["type_code"] in tx
    ]
    return {
        "kind": "heatmap",
        "x": [_name(zh, en) for _c, zh, en in districts],
        "y": [_name(zh, en) for _c, zh, en in types],
        "data": cells,
        "max": max([c[2] for c in cells], default=1),
        "labels": {
            "total": _("Institutions at risk"),
            "red": label(Level.RED),
            "orange": label(Level.ORANGE),
            "yellow": label(Level.YELLOW),
        },
    }


def _history_spec(history: list[dict]) -> dict:
    return {
        "kind": "levels",
        "categories": [h["label"] for h in history],
        "unit": _("institutions"),
        "series": [
            {"name": label(lv), "level": lv.value, "data": [h.get(lv.value, 0) for h in history]}
            for lv in LEVELS[:3]
        ],
    }


@router.get("/early-warning/institutions/{institution_id:int}")
def institution_page(request: Request, db: DB, auth: Viewer, institution_id: int):
    profile = service.institution_profile(db, scope=auth.scope, institution_id=institution_id)
    ratings = profile["ratings"]
    current = ratings[-1] if ratings else None
    return render(
        request,
        "earlywarning/institution.html",
        p=profile,
        visible_cases=case_service.visible_ids(db, scope=auth.scope, case_ids=profile["cases"].values()),
        inst=profile["institution"],
        current=current,
        score_spec=_score_spec(ratings) if ratings else None,
        dimension_spec=_dimension_spec(current) if current else None,
        indicator_specs=_indicator_specs(profile),
        families=list(SignalFamily),
        label_of_day=lambda d: label_of(pq_of(d)),
        fmt_value=fmt_value if is_zh() else fmt_value_en,
        reasons_shown=reasons_shown,
        message_en=message_en,
        active="earlywarning",
    )


def _score_spec(ratings: list[EwRating]) -> dict:
    card = service.rating.load_scorecard()
    cut = card.cutoffs
    return {
        "kind": "score",
        "categories": [label_of(pq_of(r.period_end)) for r in ratings],
        "data": [round(r.score, 1) for r in ratings],
        "levels": [Level(r.level).value for r in ratings],
        "name": _("Rating score"),
        "unit": _("points"),
        "bands": [
            {"from": 0, "to": cut["red"], "level": "red"},
            {"from": cut["red"], "to": cut["orange"], "level": "orange"},
            {"from": cut["orange"], "to": cut["yellow"], "level": "yellow"},
            {"from": cut["yellow"], "to": 100, "level": "green"},
        ],
        "pd": [r.challenger_pd for r in ratings]
        if any(r.challenger_pd is not None for r in ratings)
        else None,
        "pd_name": _("Challenger PD"),
    }


def _dimension_spec(current: EwRating) -> dict:
    card = service.rating.load_scorecard()
    dims = [(c, d) for c, d in card.dimensions.items() if (current.dimensions or {}).get(c) is not None]
    return {
        "kind": "bar",
        "horizontal": True,
        "categories": [f"{c} {_name(d['name_zh'], d['name_en'])}" for c, d in dims],
        "unit": _("points"),
        "series": [{"name": _("Dimension score"), "data": [current.dimensions[c] for c, _d in dims]}],
    }


def _clean(v: float | None, unit: str) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if (unit == "%" and v >= CAP_PCT) or (unit == "倍" and v >= CAP_MULT):
        return None  # not computable (non-positive denominator): a gap, not a spike
    return round(float(v), 4)


def _indicator_specs(profile: dict) -> list[dict]:
    series = profile["series"]
    if not series:
        return []
    days = sorted({d for s in series.values() for d in s})
    cats = [label_of(pq_of(d)) for d in days]
    out = []
    for code in profile["codes"]:
        ind = BY_CODE[code]
        if code.startswith("filing_") or (ind.direction == "none" and code not in profile["limits"]):
            continue
        values = [_clean(series[code].get(d), ind.unit) for d in days]
        if all(v is None for v in values):
            continue
        spec = {
            "kind": "indicator",
            "title": f"{_name(ind.name_zh, ind.name_en)}（{ind.unit}）",
            "categories": cats,
            "name": _name(ind.name_zh, ind.name_en),
            "unit": ind.unit,
            "value": values,
        }
        band = profile["bands"].get(code)
        if band:
            spec["p25"] = [_clean(band.get(d, (None, None, None))[0], ind.unit) for d in days]
            spec["median"] = [_clean(band.get(d, (None, None, None))[1], ind.unit) for d in days]
            spec["p75"] = [_clean(band.get(d, (None, None, None))[2], ind.unit) for d in days]
            spec["band_name"] = _("Peers p25–p75")
            spec["median_name"] = _("Peer median")
        limits = []
        for rule in profile["limits"].get(code, []):
            in_force = [
                rule.limit
                if (rule.effective_from is None or d >= rule.effective_from)
                and (rule.effective_to is None or d < rule.effective_to)
                else None
                for d in days
            ]
            if any(v is not None for v in in_force):
                op = "≤" if rule.comparison == "<=" else "≥"
                limits.append(
                    {"name": f"{_('Limit')} {op} {fmt_value(rule.limit, ind.unit)}", "data": in_force}
                )
        spec["limits"] = limits
        out.append({"code": code, "indicator": ind, "spec": spec, "has_limit": bool(limits)})
    out.sort(key=lambda s: (not s["has_limit"], 0))
    return out


@router.get("/early-warning/alerts")
def alerts_page(request: Request, db: DB, auth: Viewer, filters: Filters, page: int = Query(1, ge=1)):
    rows, total = service.list_alerts(
        db, scope=auth.scope, filters=filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    cases = service.cases_for_alerts(db, [a.id for a in rows])
    return render(
        request,
        "earlywarning/alerts.html",
        rows=rows,
        filters=filters,
        cases=cases,
        visible_cases=case_service.visible_ids(db, scope=auth.scope, case_ids=cases.values()),
        levels=LEVELS,
        families=list(SignalFamily),
        statuses=list(AlertStatus),
        label_of_day=lambda d: label_of(pq_of(d)) if d else "—",
        can_export=has_permission(auth.user.role, Permission.EXPORT),
        active="earlywarning",
        **pagination(request, page=page, total=total, per_page=PER_PAGE),
        **_reference(db),
    )


@router.get("/early-warning/alerts/export")
def alerts_export(request: Request, db: DB, auth: Exporter, filters: Filters):
    rows, _total = service.list_alerts(db, scope=auth.scope, filters=filters, limit=MAX_EXPORT_ROWS)
    zh = is_zh()
    cases = service.cases_for_alerts(db, [a.id for a in rows])
    headers = [
        _("Alert"),
        _("Institution"),
        _("Type"),
        _("District"),
        _("Signal family"),
        _("Level"),
        _("Status"),
        _("First quarter"),
        _("Latest quarter"),
        _("Cleared in"),
        _("Quarters raised"),
        _("Summary"),
        _("Case"),
    ]
    body = (
        [
            a.id,
            a.institution.name,
            a.institution.type.name_zh if zh else a.institution.type.name_en,
            a.institution.district.name_zh if zh else a.institution.district.name_en,
            label(SignalFamily(a.family)),
            label(Level(a.level)),
            label(AlertStatus(a.status)),
            label_of(pq_of(a.first_period)),
            label_of(pq_of(a.last_period)),
            label_of(pq_of(a.cleared_period)) if a.cleared_period else "",
            len(a.periods or []),
            a.summary,
            cases.get(a.id) or "",
        ]
        for a in rows
    )
    notes = (
        [_("Exported from Qiantang; demo data is synthetic.")] if request.app.state.is_demo(request) else []
    )
    content = build_xlsx(sheet_title=_("Alerts"), headers=headers, rows=body, notes=notes)
    record_export(
        db,
        request,
        auth,
        "ew_alerts",
        detail={"rows": len(rows), "filters": {k: v for k, v in vars(filters).items() if v}},
    )
    return xlsx_response(content, _("Alerts") + ".xlsx")


@router.get("/early-warning/report")
def report_download(
    request: Request,
    db: DB,
    auth: Exporter,
    month: str = Query(..., pattern=r"^\d{4}-\d{2}$"),
    format: str = Query("pdf", pattern="^(pdf|xlsx)$"),
):
    data = report.monthly(db, scope=auth.scope, month=month)
    demo = request.app.state.is_demo(request)
    record_export(
        db, request, auth, "ew_report", object_id=month, detail={"format": format, "period": data.label}
    )
    if format == "xlsx":
        return xlsx_response(report.report_xlsx(data, demo=demo), f"风险监测月报-{month}.xlsx")
    pdf = report.report_pdf(data, demo=demo)
    return pdf_response(pdf, f"early-warning-{month}.pdf")


# ------------------------------------------------------------------------------------------ API
def _rating_out(r: EwRating, inst: Institution) -> schemas.RatingOut:
    level = Level(r.level)
    return schemas.RatingOut(
        institution_id=inst.id,
        institution_name=inst.name,
        type_code=r.type_code,
        district_code=r.district_code,
        period_end=r.period_end,
        period=label_of(pq_of(r.period_end)),
        score=r.score,
        level=level.value,
        level_zh=level.zh,
        dimensions=r.dimensions or {},
        reasons=list(r.reasons or []),
        challenger_pd=r.challenger_pd,
        version=r.version,
    )


def _alert_out(a: Alert, case_id: int | None) -> schemas.AlertOut:
    fam, level = SignalFamily(a.family), Level(a.level)
    return schemas.AlertOut(
        id=a.id,
        institution_id=a.institution_id,
        institution_name=a.institution.name,
        type_code=a.institution.type_code,
        district_code=a.institution.district_code,
        family=fam.value,
        family_zh=fam.zh,
        level=level.value,
        level_zh=level.zh,
        status=AlertStatus(a.status).value,
        first_period=a.first_period,
        last_period=a.last_period,
        cleared_period=a.cleared_period,
        periods=list(a.periods or []),
        summary_zh=a.summary_zh,
        evidence=list(a.evidence or []),
        case_id=case_id,
        version=a.version,
    )


def _signal_out(s: EwSignal) -> schemas.SignalOut:
    fam, level = SignalFamily(s.family), Level(s.level)
    return schemas.SignalOut(
        period_end=s.period_end,
        period=label_of(pq_of(s.period_end)),
        family=fam.value,
        family_zh=fam.zh,
        code=s.code,
        level=level.value,
        level_zh=level.zh,
        value=s.value,
        threshold=s.threshold,
        message_zh=s.message_zh,
        message_en=s.message_en,
        evidence=s.evidence or {},
        version=s.version,
    )


@api_router.get(
    "/early-warning/ratings",
    response_model=Page[schemas.RatingOut],
    summary="风险评级 Ratings of one quarter (default: the latest)",
)
def ratings_api(
    db: DB,
    auth: Viewer,
    period: str | None = Query(None, description="季度，如 2025Q4；默认最近一季"),
    type: str | None = None,
    district: str | None = None,
    level: Blank[Level] = None,
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
):
    period_end = _period(period) or service.latest_period(db)
    if period_end is None:
        return Page[schemas.RatingOut](total=0, limit=limit, offset=offset, items=[])
    rows, total = service.ratings_for_period(
        db,
        scope=auth.scope,
        period_end=period_end,
        type_code=type,
        district_code=district,
        level=level.value if level else None,
        limit=limit,
        offset=offset,
    )
    return Page[schemas.RatingOut](
        total=total, limit=limit, offset=offset, items=[_rating_out(r, i) for r, i in rows]
    )


@api_router.get("/early-warning/alerts", response_model=Page[schemas.AlertOut], summary="预警 Alerts")
def alerts_api(
    db: DB,
    auth: Viewer,
    filters: Filters,
    limit: int = Query(100, ge=1, le=5000),
    offset: int = Query(0, ge=0),
):
    rows, total = service.list_alerts(db, scope=auth.scope, filters=filters, limit=limit, offset=offset)
    cases = service.cases_for_alerts(db, [a.id for a in rows])
    return Page[schemas.AlertOut](
        total=total, limit=limit, offset=offset, items=[_alert_out(a, cases.get(a.id)) for a in rows]
    )


@api_router.get(
    "/early-warning/institutions/{institution_id}",
    response_model=schemas.InstitutionRiskOut,
    summary="机构风险画像 An institution's indicators, signals and ratings",
)
def institution_api(db: DB, auth: Viewer, institution_id: int):
    p = service.institution_profile(db, scope=auth.scope, institution_id=institution_id)
    inst = p["institution"]
    indicators = []
    for code in p["codes"]:
        ind = BY_CODE[code]
        indicators.append(
            schemas.IndicatorSeriesOut(
                code=code,
                name_zh=ind.name_zh,
                name_en=ind.name_en,
                unit=ind.unit,
                direction=ind.direction,
                values=[
                    schemas.IndicatorValueOut(period_end=d, value=v)
                    for d, v in sorted(p["series"][code].items())
                ],
                limits=[
                    schemas.LimitOut(
                        rule=r.code,
                        name_zh=r.name_zh,
                        comparison=r.comparison,
                        limit=r.limit,
                        effective_from=r.effective_from,
                        effective_to=r.effective_to,
                        citation=r.citation_text,
                    )
                    for r in p["limits"].get(code, [])
                ],
            )
        )
    return schemas.InstitutionRiskOut(
        institution=schemas.InstitutionRef(
            id=inst.id,
            name=inst.name,
            type_code=inst.type_code,
            district_code=inst.district_code,
            status=inst.status.value,
        ),
        latest_period=p["current_period"],
        ratings=[_rating_out(r, inst) for r in p["ratings"]],
        signals=[_signal_out(s) for s in p["signals"]],
        alerts=[_alert_out(a, p["cases"].get(a.id)) for a in p["alerts"]],
        indicators=indicators,
    )
