"""The model registry: every trained version stored whole, one champion per segment.

A version keeps its features, settings, the full model (bins, WOE, coefficients and points for a
scorecard; the LightGBM model text, calibration and monotone constraints for the challenger; both and
the stacking weights for a blend), the
SHA-256 of its training table, its validation metrics, who registered it and when. Nothing about a
registered version changes afterwards except its status (candidate → champion → retired).
"""

from __future__ import annotations

import platform
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qiantang.audit import service as audit
from qiantang.credit import policy as pol
from qiantang.credit.blend import BlendModel
from qiantang.credit.challenger import LightGBMModel
from qiantang.credit.models import CreditModel, ModelKind, ModelStatus
from qiantang.credit.pipeline import CVReport, Trained
from qiantang.credit.scorecard import ScorecardModel
from qiantang.credit.tabular import Dataset
from qiantang.db import get_or_404
from qiantang.errors import Conflict

INPUT_ENTERPRISE = "enterprise"  # features computed from the enterprise tables (credit/features.py)
INPUT_TABLE = "table"  # features are the columns of an uploaded table


def _versions() -> dict[str, str]:
    import lightgbm
    import optbinning
    import sklearn

    return {
        "python": platform.python_version(),
        "optbinning": optbinning.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
    }


def next_version(session: Session, name: str) -> int:
    return int(session.scalar(select(func.max(CreditModel.version)).where(CreditModel.name == name)) or 0) + 1


def register(
    session: Session,
    *,
    trained: Trained,
    data: Dataset,
    name: str,
    target_text: str,
    segment: str = "all",
    input_kind: str = INPUT_TABLE,
    feature_set: str | None = None,
    created_by: str | None = None,
    cv: CVReport | None = None,
    notes: str = "",
    champion: bool = False,
) -> CreditModel:
    """Store a trained model as a new version (a candidate, or the segment's champion)."""
    model = trained.model
    spec = {
        "model": model.to_spec(),
        "input": input_kind,
        "feature_set": feature_set,
        "dataset": data.name,
        "target_column": data.target,
        "bad_value": data.bad_value,
        "dropped": data.dropped,
        "coerced": data.coerced,
        "population": trained.population,
        "master_scale": [vars(g) for g in pol.master_scale()],
        "versions": _versions(),
    }
    used = [
        f
        for f in model.features
        if model.kind != "scorecard" or any(b.name == f.name and b.selected for b in model.bins)
    ]
    row = CreditModel(
        name=name,
        version=next_version(session, name),
        segment=segment,
        kind=ModelKind(model.kind),
        status=ModelStatus.CANDIDATE,
        target=target_text,
        features=[f.as_dict() for f in used],
        params=model.params.as_dict(),
        spec=spec,
        artifact=model.artifact() if isinstance(model, LightGBMModel | BlendModel) else None,
        training_rows=data.n,
        training_bad_rate=data.bad_rate,
        training_hash=data.fingerprint(),
        metrics={
            "validation": trained.validation,
            "selection": trained.selection,
            "cv": cv.as_dict() if cv is not None else None,
            "training_seconds": round(trained.seconds, 2),
        },
        created_by=created_by,
        notes=notes,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action="create",
        username=created_by,
        object_type="credit_model",
        object_id=row.id,
        detail={"name": name, "version": row.version, "kind": row.kind.value, "segment": segment},
    )
    if champion:
        promote(session, model_id=row.id, by=created_by)
    return row


def promote(session: Session, *, model_id: int, by: str | None = None) -> CreditModel:
    """Make a version its segment's champion; the previous champion is retired (one per segment)."""
    row = get_or_404(session, CreditModel, model_id)
    if row.status == ModelStatus.RETIRED:
        raise Conflict(
            "已停用的模型版本不能再设为冠军，请重新训练", message_en="A retired version cannot be promoted"
        )
    session.execute(
        update(CreditModel)
        .where(
            CreditModel.segment == row.segment,
            CreditModel.status == ModelStatus.CHAMPION,
            CreditModel.id != row.id,
        )
        .values(status=ModelStatus.RETIRED)
    )
    row.status = ModelStatus.CHAMPION
    session.flush()
    audit.record(
        session,
        action="update",
        username=by,
        object_type="credit_model",
        object_id=row.id,
        detail={"status": "champion", "segment": row.segment},
    )
    return row


def retire(session: Session, *, model_id: int, by: str | None = None) -> CreditModel:
    row = get_or_404(session, CreditModel, model_id)
    row.status = ModelStatus.RETIRED
    audit.record(
        session,
        action="update",
        username=by,
        object_type="credit_model",
        object_id=row.id,
        detail={"status": "retired"},
    )
    return row


def champion(session: Session, segment: str = "all", *, input_kind: str | None = None) -> CreditModel | None:
    """The segment's champion (optionally only one that scores from a given input kind)."""
    rows = session.scalars(
        select(CreditModel).where(CreditModel.segment == segment, CreditModel.status == ModelStatus.CHAMPION)
    ).all()
    rows = [r for r in rows if input_kind is None or r.spec.get("input") == input_kind]
    return rows[0] if rows else None


def champions(session: Session) -> list[CreditModel]:
    return list(
        session.scalars(
            select(CreditModel)
            .where(CreditModel.status == ModelStatus.CHAMPION)
            .order_by(CreditModel.segment)
        ).all()
    )


def list_models(session: Session) -> list[CreditModel]:
    return list(
        session.scalars(select(CreditModel).order_by(CreditModel.name, CreditModel.version.desc())).all()
    )


def get(session: Session, model_id: int) -> CreditModel:
    return get_or_404(session, CreditModel, model_id, what="评分模型")


_CACHE: dict[tuple, Any] = {}


def load(row: CreditModel) -> ScorecardModel | LightGBMModel | BlendModel:
    """The scoring object of a registered version (cached per id, hash and creation time)."""
    key = (row.id, row.name, row.version, row.training_hash, str(row.created_at))
    model = _CACHE.get(key)
    if model is None:
        if row.kind == ModelKind.SCORECARD:
            model = ScorecardModel.from_spec(row.spec["model"])
        elif row.kind == ModelKind.BLEND:
            model = BlendModel.from_spec(row.spec["model"], row.artifact or b"")
        else:
            model = LightGBMModel.from_spec(row.spec["model"], row.artifact or b"")
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = model
    return model


def model_label(row: CreditModel) -> str:
    return f"{row.name} v{row.version}"


__all__ = [
    "INPUT_ENTERPRISE",
    "INPUT_TABLE",
    "champion",
    "champions",
    "get",
    "list_models",
    "load",
    "model_label",
    "next_version",
    "promote",
    "register",
    "retire",
]
