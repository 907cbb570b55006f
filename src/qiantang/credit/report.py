"""What the credit pages and PDFs show: the validation report of a model version and the credit analysis
report of an enterprise. Everything is read from stored results (registry metrics, monitoring rows,
stored scores); only the enterprise's own ratios are recomputed from its stored data, by the same
``compute_features`` as the batch job.
"""

from __future__ import annotations

import io
import itertools
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from qiantang.credit import features as feats
from qiantang.credit import policy as pol
from qiantang.credit import registry
from qiantang.credit import service as credit_service
from qiantang.credit.models import CreditModel, ModelKind, segment_label
from qiantang.credit.reasons import describe_stored
from qiantang.credit.scorecard import ScorecardModel
from qiantang.enterprises.models import Enterprise, EnterpriseFinancial, Guarantee, Loan
from qiantang.registry.models import Area, Institution
from qiantang.standards.industry import section_name
from qiantang.versions import describe_version
from qiantang.web.i18n import gettext as _
from qiantang.web.i18n import is_zh

KIND_LABEL_ZH = {
    "scorecard": "评分卡（分箱 + 逻辑回归 + 分值刻度）",
    "lightgbm": "LightGBM 梯度提升（单调约束、校准）",
    "blend": "评分卡、LightGBM 与线性模型的校准融合（逻辑回归堆叠）",
}
STATUS_COLOUR = {"ok": "green", "warn": "yellow", "alert": "red"}
STATUS_ZH = {"ok": "稳定", "warn": "预警", "alert": "警报"}
STATUS_EN = {"ok": "Stable", "warn": "Warning", "alert": "Alert"}


def status_names() -> dict[str, str]:
    """Stability status → its name in the current language."""
    return STATUS_ZH if is_zh() else STATUS_EN


LIGHT_ZH = {"green": "绿灯", "yellow": "黄灯", "red": "红灯", "grey": "—"}


def pct(value: float | None, digits: int = 2) -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{value * 100:.{digits}f}%"
    )


def num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:,.{digits}f}"


def ratio_text(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if fmt == "pct":
        return f"{value * 100:.1f}%"
    if abs(value) >= feats.RATIO_CAP:
        return "≥ 99"
    return f"{value:.2f}"


# ------------------------------------------------------------------------------------- validation
def _cap_chart(roc: list, *, title: str) -> dict:
    step = max(len(roc) // 20, 1)
    points = roc[::step] + ([roc[-1]] if (len(roc) - 1) % step else [])
    return {
        "kind": "line",
        "title": title,
        "unit": "%",
        "categories": [f"{p[0] * 100:.0f}%" for p in points],
        "series": [
            {"name": _("Bads captured"), "data": [round(p[2] * 100, 1) for p in points], "style": "solid"},
            {"name": _("Goods captured"), "data": [round(p[1] * 100, 1) for p in points], "style": "dashed"},
            {"name": _("Random"), "data": [round(p[0] * 100, 1) for p in points], "style": "dotted"},
        ],
    }


def _calibration_chart(grades: list[dict]) -> dict:
    shown = [g for g in grades if g["count"]]
    return {
        "kind": "bar",
        "title": _("Observed default rate and mean PD by grade"),
        "unit": "%",
        "categories": [g["grade"] for g in shown],
        "series": [
            {"name": _("Observed"), "data": [round((g["observed"] or 0) * 100, 2) for g in shown]},
            {"name": _("Mean PD"), "data": [round((g["mean_pd"] or 0) * 100, 2) for g in shown]},
        ],
    }


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts) or 1.0
    return [round(c / total * 100, 2) for c in counts]


def _psi_chart(details: dict) -> dict:
    score = details["score"]
    edges = score["edges"]
    cats = [f"< {edges[0]:.0f}"] + [f"{a:.0f}–{b:.0f}" for a, b in itertools.pairwise(edges)]
    cats += [f"≥ {edges[-1]:.0f}", _("missing")] if edges else [_("all"), _("missing")]
    return {
        "kind": "bar",
        "title": _("Score distribution: development and current"),
        "unit": "%",
        "categories": cats,
        "series": [
            {"name": _("Development"), "data": _shares(score["expected"])},
            {"name": _("Current population"), "data": _shares(score["actual"])},
        ],
    }


def validation_context(session: Session, row: CreditModel) -> dict[str, Any]:
    """Everything the validation report shows (page and PDF)."""
    m = row.metrics or {}
    v = m.get("validation") or {}
    mon = credit_service.latest_monitoring(session, model_id=row.id)
    model = registry.load(row)
    features = []
    if isinstance(model, ScorecardModel):
        table = model.bin_table(zh=is_zh())
        for b in model.bins:
            features.append(
                {
                    "name": b.name,
                    "label": b.label or b.name,
                    "kind": b.kind,
                    "iv": b.iv,
                    "coef": b.coef,
                    "trend": b.trend,
                    "selected": b.selected,
                    "note": b.note,
                    "rows": [r for r in table if r["feature"] == b.name],
                    "psi": (mon.psi_features.get(b.name) if mon else None),
                }
            )
        features.sort(key=lambda f: (not f["selected"], -f["iv"]))
    else:
        spec = row.spec["model"].get("lightgbm", row.spec["model"])  # a blend: its LightGBM part
        imp = spec.get("importance", {})
        cons = dict(zip([f["name"] for f in spec["features"]], spec["monotone_constraints"], strict=True))
        for f in spec["features"]:
            features.append(
                {
                    "name": f["name"],
                    "label": f.get("label") or f["name"],
                    "kind": f["kind"],
                    "importance": imp.get(f["name"], 0.0),
                    "constraint": cons.get(f["name"], 0),
                    "psi": (mon.psi_features.get(f["name"]) if mon else None),
                }
            )
        features.sort(key=lambda f: -f["importance"])
    stability = None
    if mon is not None:
        details = mon.details or {}
        feature_rows = sorted(
            (
                {"name": k, "label": next((f["label"] for f in features if f["name"] == k), k), **val}
                for k, val in (details.get("features") or {}).items()
            ),
            key=lambda r: -r["psi"],
        )
        stability = {
            "row": mon,
            "status": mon.status,
            "colour": STATUS_COLOUR.get(mon.status, "grey"),
            "status_zh": STATUS_ZH.get(mon.status, mon.status),
            "score_status": details.get("score", {}).get("status", "ok"),
            "features": feature_rows,
            "chart": _psi_chart(details) if details.get("score") else None,
            "grades": details.get("grades", {}),
            "warn": details.get("warn"),
            "alert": details.get("alert"),
            "borrowers_only": details.get("population") == "borrowers",
            "scored_rows": details.get("scored_rows", mon.population_rows),
        }
    cal = v.get("calibration") or {}
    cv = m.get("cv")
    return {
        "model": row,
        "model_label": registry.model_label(row),
        "kind_zh": KIND_LABEL_ZH[row.kind.value],
        "v": v,
        "disc": [
            ("AUC", v.get("in_sample", {}).get("auc"), v.get("out_of_fold", {}).get("auc")),
            ("Gini", v.get("in_sample", {}).get("gini"), v.get("out_of_fold", {}).get("gini")),
            ("KS", v.get("in_sample", {}).get("ks"), v.get("out_of_fold", {}).get("ks")),
        ],
        "cap_chart": _cap_chart(v.get("roc", []), title=_("Cumulative accuracy (out of fold)"))
        if v.get("roc")
        else None,
        "ks_table": v.get("ks_table", []),
        "calibration": cal,
        "calibration_chart": _calibration_chart(cal.get("grades", [])) if cal else None,
        "stability": stability,
        "features": features,
        "selection": m.get("selection") or {},
        "cv": cv,
        "master_scale": pol.master_scale(),
        "spec": row.spec,
        "scaling": row.params.get("scaling", {}),
        "light_zh": LIGHT_ZH,
        "pct": pct,
        "num": num,
        "is_scorecard": row.kind == ModelKind.SCORECARD,
    }


# ----------------------------------------------------------------------------------- PDF charts
def _svg(fig) -> str:
    from qiantang.reports import _matplotlib

    plt = _matplotlib()
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float = 6.0, height: float = 2.4):
    from qiantang.reports import _matplotlib

    plt = _matplotlib()
    return plt.subplots(figsize=(width, height), dpi=100)


def validation_svgs(ctx: dict[str, Any]) -> dict[str, str]:
    """Matplotlib versions of the page's charts for the PDF (text as paths: no font needed)."""
    out: dict[str, str] = {}
    roc = ctx["v"].get("roc") or []
    if roc:
        fig, ax = _figure(3.2, 2.6)
        share = [p[0] * 100 for p in roc]
        ax.plot(share, [p[2] * 100 for p in roc], label="坏样本累计占比", color="#0b5394")
        ax.plot(share, [p[1] * 100 for p in roc], label="好样本累计占比", color="#e69138", linestyle="--")
        ax.plot([0, 100], [0, 100], color="#999999", linestyle=":", linewidth=0.8)
        ax.set_xlabel("按风险由高到低的累计样本占比（%）")
        ax.set_ylabel("%")
        ax.set_title("累计捕获曲线（样本外）", loc="left", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        out["cap"] = _svg(fig)
    grades = [g for g in (ctx["calibration"].get("grades") or []) if g["count"]]
    if grades:
        fig, ax = _figure(3.4, 2.6)
        x = np.arange(len(grades))
        ax.bar(
            x - 0.2, [(g["observed"] or 0) * 100 for g in grades], 0.4, label="实际违约率", color="#0b5394"
        )
        ax.bar(x + 0.2, [(g["mean_pd"] or 0) * 100 for g in grades], 0.4, label="平均 PD", color="#e69138")
        ax.set_xticks(x, [g["grade"] for g in grades])
        ax.set_ylabel("%")
        ax.set_title("分等级校准（样本外）", loc="left", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        out["calibration"] = _svg(fig)
    st = ctx["stability"]
    if st and st["chart"]:
        spec = st["chart"]
        fig, ax = _figure(6.6, 2.3)
        x = np.arange(len(spec["categories"]))
        ax.bar(x - 0.2, spec["series"][0]["data"], 0.4, label="开发样本", color="#6fa8dc")
        ax.bar(x + 0.2, spec["series"][1]["data"], 0.4, label="当前人群", color="#0b5394")
        ax.set_xticks(x, spec["categories"], fontsize=6, rotation=30)
        ax.set_ylabel("%")
        ax.set_title("评分分布：开发样本与当前人群", loc="left", fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        out["psi"] = _svg(fig)
    return out


def _render_pdf(template: str, **context: Any) -> bytes:
    from qiantang.reports import render_pdf
    from qiantang.web.i18n import _current, set_locale
    from qiantang.web.templating import environment

    token = set_locale("zh_CN")
    try:
        html = environment().get_template(template).render(**context)
    finally:
        _current.reset(token)
    return render_pdf(html)


def validation_pdf(session: Session, row: CreditModel, *, demo: bool) -> bytes:
    from qiantang.web.i18n import _current, set_locale

    token = set_locale("zh_CN")
    try:
        ctx = validation_context(session, row)
    finally:
        _current.reset(token)
    return _render_pdf(
        "credit/validation_pdf.html",
        **ctx,
        segment_label=segment_label,
        charts=validation_svgs(ctx),
        demo=demo,
        today=date.today(),
    )


# ------------------------------------------------------------------------------ enterprise report
def enterprise_credit(session: Session, ent: Enterprise) -> dict[str, Any]:
    """Score, grade, PD, reasons, history and the model of an enterprise (profile and report)."""
    history = credit_service.score_history(session, enterprise_id=ent.id)
    latest = credit_service.latest_of(history)
    out: dict[str, Any] = {"latest": None, "history": history, "chart": None}
    if latest is not None:
        score, model = latest
        out["latest"] = {
            "score": score,
            "model": model,
            "label": registry.model_label(model),
            "grade": pol.grade_info(score.grade),
            "reasons": describe_stored(score.reasons, registry.load(model)),
        }
    if len(history) > 1:
        out["chart"] = {
            "kind": "line",
            "title": _("Score history"),
            "unit": _("points"),
            "categories": [
                f"{s.as_of.isoformat()} · {m.name} · {describe_version(m.version)}" for s, m in history
            ],
            "series": [
                {
                    "name": _("Score"),
                    "data": [round(s.score) for s, _m in history],
                    "style": "solid",
                    "symbol": True,
                }
            ],
        }
    return out


def financials_chart(rows: list[EnterpriseFinancial]) -> dict | None:
    if not rows:
        return None
    wan = lambda v: None if v is None else round(v / 1e4, 2)  # noqa: E731
    return {
        "kind": "line",  # no title: the panel's heading names it
        "unit": _("CNY 10k"),
        "categories": [str(r.year) for r in rows],
        "series": [
            {"name": _("Revenue"), "data": [wan(r.revenue) for r in rows], "style": "solid", "symbol": True},
            {
                "name": _("Net profit"),
                "data": [wan(r.net_profit) for r in rows],
                "style": "solid",
                "symbol": True,
            },
            {
                "name": _("Total liabilities"),
                "data": [wan(r.total_liabilities) for r in rows],
                "style": "dashed",
            },
        ],
    }


def key_ratios(
    session: Session, ent: Enterprise, *, as_of: date, model_id: int | None
) -> list[dict[str, Any]]:
    """The enterprise's key ratios beside its industry's quartiles (from the scoring run's monitoring)."""
    raw = feats.read_raw(session.connection(), as_of=as_of, enterprise_ids=[ent.id])
    own = feats.compute_features(raw.frame, as_of) if len(raw.frame) else None
    peers: dict[str, Any] = {}
    peer_scope = ""
    if model_id is not None:
        mon = credit_service.latest_monitoring(session, model_id=model_id)
        all_peers = (mon.details or {}).get("peers", {}) if mon else {}
        peers = all_peers.get(ent.industry_section) or all_peers.get("*") or {}
        peer_scope = ent.industry_section if ent.industry_section in all_peers else "*"
    rows = []
    for name, fmt in feats.KEY_RATIOS:
        value = None if own is None else own[name].iloc[0]
        q = peers.get(name)
        position = None
        if q and value is not None and not np.isnan(value) and q[0] is not None:
            position = "low" if value < q[0] else ("high" if value > q[2] else "mid")
        rows.append(
            {
                "name": name,
                "label": feats.feature(name).label if is_zh() else feats.FEATURE_EN.get(name, name),
                "value": ratio_text(value, fmt),
                "p25": ratio_text(q[0], fmt) if q else "—",
                "p50": ratio_text(q[1], fmt) if q else "—",
                "p75": ratio_text(q[2], fmt) if q else "—",
                "peers": q[3] if q and len(q) > 3 else None,
                "position": position,
            }
        )
    return rows, peer_scope


def guarantee_exposure(session: Session, *, enterprise_id: int, as_of: date) -> dict[str, Any]:
    """Guarantees in force at ``as_of``: given (contingent liabilities) and received, sums and counts."""
    from qiantang.enterprises import service as ent_service

    def live(stmt):
        return stmt.where(Guarantee.start_date <= as_of).where(
            (Guarantee.end_date.is_(None)) | (Guarantee.end_date >= as_of)
        )

    given = session.scalars(
        live(select(Guarantee).where(Guarantee.guarantor_enterprise_id == enterprise_id))
    ).all()
    received = session.scalars(live(select(Guarantee).where(Guarantee.borrower_id == enterprise_id))).all()
    borrower = aliased(Enterprise)
    npl_backed = session.execute(
        live(
            select(Guarantee.amount, borrower.name, Loan.classification)
            .join(Loan, Loan.id == Guarantee.loan_id)
            .join(borrower, borrower.id == Guarantee.borrower_id)
            .where(Guarantee.guarantor_enterprise_id == enterprise_id)
        )
    ).all()
    bad = [r for r in npl_backed if r[2].is_npl]
    return {
        "given_amount": float(sum(g.amount for g in given)),
        "given_count": len(given),
        "given_counterparties": len({g.borrower_id for g in given}),
        "received_amount": float(sum(g.amount for g in received)),
        "received_count": len(received),
        # 联保 as recorded; 互保 only while the reverse guarantee is in force too (as the network counts it).
        "mutual": any(g.kind.value == "joint" for g in [*given, *received])
        or bool(ent_service.reciprocal_pairs(session, enterprise_id=enterprise_id, as_of=as_of)),
        "given_npl_amount": float(sum(r[0] for r in bad)),
        "given_npl": [(r[1], float(r[0]), r[2]) for r in bad],
    }


def credit_report_context(session: Session, ent: Enterprise) -> dict[str, Any]:
    """The enterprise credit analysis report: score, reasons, ratios against peers, loans, guarantees."""
    from qiantang.enterprises import service as ent_service

    credit = enterprise_credit(session, ent)
    latest = credit["latest"]
    as_of = latest["score"].as_of if latest else credit_service.default_as_of(session)
    ratios, peer_scope = key_ratios(
        session, ent, as_of=as_of, model_id=latest["model"].id if latest else None
    )
    loans = ent_service.enterprise_loans(session, enterprise_id=ent.id)
    live_loans = [(loan, lender) for loan, lender in loans if loan.balance > 0]
    area = session.get(Area, ent.district_code)
    return {
        "ent": ent,
        "area": area,
        "credit": credit,
        "as_of": as_of,
        "ratios": ratios,
        "peer_scope": peer_scope,
        "peer_scope_name": section_name(peer_scope, zh=is_zh()) or peer_scope,
        "loans": loans,
        "live_balance": float(sum(loan.balance for loan, _ in live_loans)),
        "npl_balance": float(sum(loan.balance for loan, _ in live_loans if loan.classification.is_npl)),
        "live_count": len(live_loans),
        "exposure": guarantee_exposure(session, enterprise_id=ent.id, as_of=as_of),
        "financials": ent_service.enterprise_financials(session, enterprise_id=ent.id),
        "age_years": ent_service.age_years(ent, as_of),
        "pct": pct,
        "master_scale": pol.master_scale(),
    }


def credit_report_pdf(session: Session, ent: Enterprise, *, demo: bool) -> bytes:
    from qiantang.web.i18n import _current, set_locale

    token = set_locale("zh_CN")
    try:
        ctx = credit_report_context(session, ent)
    finally:
        _current.reset(token)
    return _render_pdf("credit/credit_report_pdf.html", **ctx, demo=demo, today=date.today())


def institution_name(session: Session, institution_id: int) -> str:
    return session.scalar(select(Institution.name).where(Institution.id == institution_id)) or ""


__all__ = [
    "credit_report_context",
    "credit_report_pdf",
    "enterprise_credit",
    "financials_chart",
    "key_ratios",
    "validation_context",
    "validation_pdf",
    "validation_svgs",
]
