"""Pages, Excel export and API of comprehensive statistics. Every number is read from stored cells."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from qiantang.auth.permissions import Permission
from qiantang.auth.scope import Scope
from qiantang.errors import QiantangError
from qiantang.exports import xlsx_response
from qiantang.statistics import measures as M
from qiantang.statistics import report, schemas, service
from qiantang.statistics.service import Dimension, Filters
from qiantang.web.deps import DB, Auth, record_export, require
from qiantang.web.i18n import get_locale
from qiantang.web.i18n import gettext as _
from qiantang.web.params import Blank
from qiantang.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["综合统计 Statistics"])
Viewer = Annotated[Auth, require(Permission.VIEW_CITY_DATA)]
Exporter = Annotated[Auth, require(Permission.EXPORT)]

TREND_SPLITS = ("total", "type", "category", "district", "level")


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def get_filters(
    type_: Annotated[str | None, Query(alias="type", description="Institution type code")] = None,
    district: Annotated[str | None, Query(description="GB/T 2260 district code")] = None,
    cluster: Annotated[
        str | None, Query(description="Cluster code, or 'none' for outside every cluster")
    ] = None,
    level: Annotated[str | None, Query(description="hq | regional_hq | provincial_branch | branch")] = None,
    category: Annotated[str | None, Query(description="licensed | registered | local")] = None,
) -> Filters:
    return Filters(
        type=_blank(type_),
        district=_blank(district),
        cluster=_blank(cluster),
        level=_blank(level),
        category=_blank(category),
    )


FiltersQ = Annotated[Filters, Depends(get_filters)]


def split_codes(values: list[str] | None) -> list[str]:
    """``?measures=open,entries`` and ``?measures=open&measures=entries`` alike."""
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


@dataclass
class PivotQuery:
    period: date | None
    rows: Dimension
    measures: list[str]


def get_pivot_query(
    period: Annotated[
        Blank[date], Query(description="Quarter end, e.g. 2025-12-31 (default: latest)")
    ] = None,
    rows: Annotated[Dimension, Query(description="Rows dimension")] = Dimension.TYPE,
    measures: Annotated[list[str] | None, Query(description="Measure codes, comma-separated")] = None,
) -> PivotQuery:
    return PivotQuery(period, rows, split_codes(measures))


PivotQ = Annotated[PivotQuery, Depends(get_pivot_query)]


def _pivot(db, scope: Scope, q: PivotQuery, filters: Filters, lab: service.Labels) -> service.Pivot:
    return service.pivot(
        db,
        scope=scope,
        period_end=q.period,
        rows=q.rows,
        measures=q.measures or None,
        filters=filters,
        lab=lab,
    )


def _scope_text(lab: service.Labels, scope: Scope) -> str:
    if scope.is_citywide:
        return _("Whole city")
    item = lab.get(Dimension.DISTRICT, scope.district_code or "")
    return item.name(get_locale())


def _filters_text(lab: service.Labels, filters: Filters) -> str:
    locale = get_locale()
    parts = []
    for dim, code in filters.as_dict().items():
        d = Dimension(dim)
        parts.append(f"{d.zh if locale == 'zh_CN' else d.en}: {lab.get(d, code).name(locale)}")
    return "; ".join(parts)


def _shown(db, period: date | None) -> service.ShownPeriod | None:
    """The quarter a page shows and why (None before the first statistics refresh)."""
    return service.shown_period(db, period) if service.latest_period(db) else None


# ---------------------------------------------------------------------------------------------- pages


@router.get("/statistics")
def statistics_page(
    request: Request,
    db: DB,
    auth: Viewer,
    q: PivotQ,
    filters: FiltersQ,
    trend: Annotated[str, Query(description="Measure of the trend chart")] = "open",
    split: Annotated[str, Query(description="total or a dimension")] = "type",
):
    scope = auth.scope
    locale = get_locale()
    lab = service.labels(db)
    shown = _shown(db, q.period)
    q.period = shown.period_end if shown else None
    if split not in TREND_SPLITS:
        raise QiantangError(f"无效的拆分维度：{split}", message_en=f"Unknown split: {split}")
    split_dim = None if split == "total" else Dimension(split)

    def figures():
        pivot = _pivot(db, scope, q, filters, lab)
        trend_data = service.trend(db, scope=scope, measure=trend, split=split_dim, filters=filters, lab=lab)
        flows = service.flows_by_year(db, scope=scope, filters=filters, lab=lab)
        districts = service.by_district(
            db, scope=scope, period_end=pivot.period_end, filters=filters, lab=lab
        )
        return pivot, trend_data, flows, districts

    # Derived from the stored cells only: computed once per refresh of the cells, scope and query.
    key = (
        scope.role,
        scope.district_code,
        scope.institution_id,
        str(request.url.query),
        str(q.period),
        locale,
    )
    pivot, trend_data, flows, districts = service.page_figures(db, key=key, compute=figures)
    chosen = {m.code for m in pivot.measures}
    return render(
        request,
        "statistics/index.html",
        active="statistics",
        pivot=pivot,
        shown=shown,
        trend=trend_data,
        trend_measure=trend,
        split=split,
        splits=TREND_SPLITS,
        flows=flows,
        districts=districts,
        charts={
            "trend": report.trend_spec(trend_data),
            "flows": report.flows_spec(flows),
            "districts": report.district_spec(districts),
            "districts_title": M.get("open").header(locale),
        },
        periods=service.available_periods(db),
        dimensions=list(Dimension),
        measures=M.MEASURES,
        chosen=chosen,
        filters=filters,
        lab=lab,
        scope_text=_scope_text(lab, scope),
        export_query=request.url.query,
        quarter_label=service.quarter_label,
        locale=locale,
    )


@router.get("/statistics/export")
def statistics_export(request: Request, db: DB, auth: Exporter, q: PivotQ, filters: FiltersQ):
    scope = auth.scope
    service.check_scope(scope)
    lab = service.labels(db)
    pivot = _pivot(db, scope, q, filters, lab)
    content = report.pivot_xlsx(
        pivot,
        scope_text=_scope_text(lab, scope),
        filters_text=_filters_text(lab, filters),
        demo=request.app.state.is_demo(request),
    )
    record_export(
        db,
        request,
        auth,
        "statistics_pivot",
        detail={"period": str(pivot.period_end), "rows": pivot.rows_dim.value, **filters.as_dict()},
    )
    label = service.quarter_label(pivot.period_end) if pivot.period_end else ""
    name = _("Statistics")
    return xlsx_response(content, f"{name}-{label}-{pivot.rows_dim.value}.xlsx")


@router.get("/statistics/clusters")
def clusters_page(request: Request, db: DB, auth: Viewer, period: Blank[date] = None):
    lab = service.labels(db)
    shown = _shown(db, period)
    period_end, groups = service.clusters_overview_cached(
        db, scope=auth.scope, period_end=shown.period_end if shown else None, lab=lab
    )
    return render(
        request,
        "statistics/clusters.html",
        active="statistics",
        period_end=period_end,
        shown=shown,
        periods=service.available_periods(db),
        groups=groups,
        scope_text=_scope_text(lab, auth.scope),
        quarter_label=service.quarter_label,
        wan_per_yi=M.WAN_PER_YI,
    )


@router.get("/statistics/clusters/{code}")
def cluster_page(request: Request, db: DB, auth: Viewer, code: str, period: date | None = None):
    lab = service.labels(db)
    profile = service.cluster_profile(db, scope=auth.scope, code=code, period_end=period, lab=lab)
    charts = {}
    if profile.aum_trend is not None:
        charts["aum"] = report.trend_spec(profile.aum_trend)
    if profile.hq_trend or profile.core_hq_trend:
        target = next(
            (t.progress.target for t in profile.targets if t.progress.indicator.code == "core_hq_count"), None
        )
        charts["hq"] = report.hq_spec(
            profile.hq_trend,
            profile.core_hq_trend,
            target_value=target.target_value if target else None,
            target_year=target.target_year if target else None,
        )
    return render(
        request,
        "statistics/cluster.html",
        active="statistics",
        profile=profile,
        charts=charts,
        districts=[lab.get(Dimension.DISTRICT, c) for c in profile.cluster.area_codes],
        scope_text=_scope_text(lab, auth.scope),
        quarter_label=service.quarter_label,
        wan_per_yi=M.WAN_PER_YI,
    )


# ---------------------------------------------------------------------------------------------- API


def measure_out(m: M.Measure) -> schemas.MeasureOut:
    return schemas.MeasureOut(display_unit=m.display_unit, **m.as_dict())


def row_out(r: service.Row) -> schemas.RowOut:
    return schemas.RowOut(code=r.code, name_zh=r.name_zh, name_en=r.name_en, values=r.values)


def trend_out(t: service.Trend) -> schemas.TrendOut:
    return schemas.TrendOut(
        measure=measure_out(t.measure),
        split=t.split.value if t.split else None,
        filters=t.filters.as_dict(),
        periods=t.periods,
        series=[
            schemas.SeriesOut(code=s.code, name_zh=s.name_zh, name_en=s.name_en, values=s.values)
            for s in t.series
        ],
    )


def figures_out(f: service.ClusterFigures) -> schemas.ClusterFiguresOut:
    return schemas.ClusterFiguresOut(
        code=f.cluster.code,
        name_zh=f.cluster.name_zh,
        name_en=f.cluster.name_en,
        group=f.group,
        open=f.open,
        hq_licensed=f.hq_licensed,
        fund_managers=f.fund_managers,
        aum=f.aum,
        fund_count=f.fund_count,
        total_assets=f.total_assets,
    )


def target_out(t: service.ClusterTarget) -> schemas.TargetOut:
    p = t.progress
    a = p.assessment
    return schemas.TargetOut(
        indicator_code=p.indicator.code,
        name_zh=p.indicator.name_zh,
        name_en=p.indicator.name_en,
        unit=p.indicator.unit,
        target_year=p.target.target_year,
        target_value=p.target.target_value,
        comparison=p.target.comparison,
        status=a.status.value,
        status_zh=a.status.zh,
        assessed_year=a.assessed_year,
        assessed_value=a.assessed_value,
        reasons=list(a.reasons),
        reasons_en=list(a.reasons_en),
        note_zh=t.note_zh,
        note_en=t.note_en,
        url=f"/plan/indicators/{p.indicator.code}?plan={t.plan_id}",
    )


@api_router.get(
    "/statistics/measures",
    response_model=list[schemas.MeasureOut],
    summary="统计指标 Measures and how they are computed",
)
def measures_api(auth: Viewer):
    return [measure_out(m) for m in M.MEASURES]


@api_router.get(
    "/statistics/pivot", response_model=schemas.PivotOut, summary="透视表 One quarter by a dimension"
)
def pivot_api(db: DB, auth: Viewer, q: PivotQ, filters: FiltersQ):
    p = _pivot(db, auth.scope, q, filters, service.labels(db))
    return schemas.PivotOut(
        period_end=p.period_end,
        rows_dimension=p.rows_dim.value,
        filters=p.filters.as_dict(),
        measures=[measure_out(m) for m in p.measures],
        rows=[row_out(r) for r in p.rows],
        total=row_out(p.total),
    )


@api_router.get("/statistics/trend", response_model=schemas.TrendOut, summary="趋势 A measure over quarters")
def trend_api(
    db: DB,
    auth: Viewer,
    filters: FiltersQ,
    measure: Annotated[str, Query(description="Measure code")] = "open",
    split: Annotated[Dimension | None, Query(description="Split by a dimension (default: total)")] = None,
):
    return trend_out(service.trend(db, scope=auth.scope, measure=measure, split=split, filters=filters))


@api_router.get("/statistics/clusters", response_model=schemas.ClustersOut, summary="金融集聚区 Clusters")
def clusters_api(db: DB, auth: Viewer, period: date | None = None):
    period_end, groups = service.clusters_overview(db, scope=auth.scope, period_end=period)
    return schemas.ClustersOut(
        period_end=period_end,
        groups=[
            schemas.ClusterGroupOut(
                group=g.group.value, name_zh=g.group.zh, clusters=[figures_out(f) for f in g.clusters]
            )
            for g in groups
        ],
    )


@api_router.get(
    "/statistics/clusters/{code}",
    response_model=schemas.ClusterProfileOut,
    summary="金融集聚区概况 Cluster profile",
)
def cluster_api(db: DB, auth: Viewer, code: str, period: date | None = None):
    p = service.cluster_profile(db, scope=auth.scope, code=code, period_end=period)
    return schemas.ClusterProfileOut(
        code=p.cluster.code,
        name_zh=p.cluster.name_zh,
        name_en=p.cluster.name_en,
        group=p.figures.group,
        positioning=p.cluster.positioning,
        plan_section=p.cluster.plan_section,
        area_codes=list(p.cluster.area_codes),
        period_end=p.period_end,
        figures=figures_out(p.figures),
        by_type_level=[row_out(r) for r in p.by_type_level],
        aum_trend=trend_out(p.aum_trend) if p.aum_trend else None,
        hq_count_by_year=[schemas.YearCountOut(period_end=d, value=v) for d, v in p.hq_trend],
        targets=[target_out(t) for t in p.targets],
    )
