"""Credit scoring: registered model versions, stored scores and stability monitoring."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qiantang.audit import service as audit
from qiantang.db import Base, JSONType, utcnow
from qiantang.enums import str_enum
from qiantang.standards.sme_size import SizeClass
from qiantang.web.i18n import gettext, label


class ModelKind(StrEnum):
    SCORECARD = "scorecard"  # binning + logistic regression + points (the explainable champion)
    LIGHTGBM = "lightgbm"  # gradient boosting with monotone constraints (the challenger)
    BLEND = "blend"  # calibrated logistic stack of the scorecard and the challenger (credit/blend.py)

    @property
    def zh(self) -> str:
        return {"scorecard": "评分卡", "lightgbm": "LightGBM 梯度提升"}[self.value]

    @property
    def en(self) -> str:
        return {"scorecard": "Scorecard", "lightgbm": "LightGBM gradient boosting"}[self.value]


class ModelStatus(StrEnum):
    CANDIDATE = "candidate"
    CHAMPION = "champion"  # at most one per segment
    RETIRED = "retired"

    @property
    def zh(self) -> str:
        return {"candidate": "候选", "champion": "冠军（在用）", "retired": "已停用"}[self.value]


def segment_label(segment: str) -> str:
    """A segment in words: "all" is every enterprise, a size class its name; other segments as named."""
    if segment == "all":
        return gettext("All enterprises")
    if segment in {s.value for s in SizeClass}:
        return label(SizeClass(segment))
    return segment


class CreditModel(Base):
    """One version of a model: what it uses, how it was built, how good it was, who made it and when."""

    __tablename__ = "credit_models"
    __label_zh__ = "评分模型"
    __table_args__ = (Index("ix_credit_models_segment_status", "segment", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(64), default="all")
    kind: Mapped[ModelKind] = mapped_column(str_enum(ModelKind, 16))
    status: Mapped[ModelStatus] = mapped_column(str_enum(ModelStatus, 16), default=ModelStatus.CANDIDATE)
    target: Mapped[str] = mapped_column(Text)  # what "bad" means, in words
    features: Mapped[list] = mapped_column(JSONType, default=list)
    params: Mapped[dict] = mapped_column(JSONType, default=dict)  # settings (scaling, constraints, tuning)
    spec: Mapped[dict] = mapped_column(
        JSONType, default=dict
    )  # bins, WOE, coefficients, points, master scale
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)  # e.g. a LightGBM model string
    training_rows: Mapped[int] = mapped_column(Integer, default=0)
    training_bad_rate: Mapped[float | None] = mapped_column(Float)
    training_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the training table
    metrics: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    notes: Mapped[str] = mapped_column(Text, default="")


class CreditScore(Base):
    """An enterprise's score from one model version as of a date, with the reasons behind it."""

    __tablename__ = "credit_scores"
    __table_args__ = (
        Index("ix_credit_scores_enterprise_asof", "enterprise_id", "as_of"),
        # A run's rows by grade (the enterprise list's grade filter) without touching the table.
        Index("ix_credit_scores_model_asof_grade", "model_id", "as_of", "grade", "enterprise_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(ForeignKey("credit_models.id", ondelete="CASCADE"))
    as_of: Mapped[date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    pd: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CreditMonitoring(Base):
    """Population stability of a model's score and features: warn at PSI > 0.1, alert above 0.25."""

    __tablename__ = "credit_monitoring"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("credit_models.id", ondelete="CASCADE"), index=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    as_of: Mapped[date | None] = mapped_column(Date)
    population_rows: Mapped[int] = mapped_column(Integer)
    psi_score: Mapped[float] = mapped_column(Float)
    psi_features: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(8))  # ok | warn | alert
    details: Mapped[dict] = mapped_column(JSONType, default=dict)


# The audit log names these codes in event details.
audit.register_detail_values(ModelKind, "kind")
audit.register_detail_values(ModelStatus, "status")
audit.register_detail_values(segment_label, "segment")
