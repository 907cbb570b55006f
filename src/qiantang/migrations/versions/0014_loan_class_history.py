"""loan classification history, statement filing dates, blended credit models

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOAN_CLASSES = ("normal", "special_mention", "substandard", "doubtful", "loss")


def _model_kind(*kinds: str) -> sa.Enum:
    return sa.Enum(*kinds, name="modelkind", native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "loan_classifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column(
            "classification",
            sa.Enum(*LOAN_CLASSES, name="loanclass", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("balance", sa.Numeric(precision=20, scale=2, asdecimal=False), nullable=True),
        sa.Column("days_past_due", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "balance IS NULL OR balance >= 0", name=op.f("ck_loan_classifications_balance_nonneg")
        ),
        sa.CheckConstraint(
            "days_past_due IS NULL OR days_past_due >= 0", name=op.f("ck_loan_classifications_dpd_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_classifications_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_classifications")),
        sa.UniqueConstraint("loan_id", "as_of", name="uq_loan_classifications_loan_date"),
    )
    op.create_index("ix_loan_classifications_as_of", "loan_classifications", ["as_of"])
    with op.batch_alter_table("enterprise_financials") as batch_op:
        batch_op.add_column(sa.Column("filed_on", sa.Date(), nullable=True))
    # A third model kind: the calibrated blend of scorecard and LightGBM.
    with op.batch_alter_table("credit_models") as batch_op:
        batch_op.alter_column(
            "kind",
            type_=_model_kind("scorecard", "lightgbm", "blend"),
            existing_type=_model_kind("scorecard", "lightgbm"),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_models") as batch_op:
        batch_op.alter_column(
            "kind",
            type_=_model_kind("scorecard", "lightgbm"),
            existing_type=_model_kind("scorecard", "lightgbm", "blend"),
            existing_nullable=False,
        )
    with op.batch_alter_table("enterprise_financials") as batch_op:
        batch_op.drop_column("filed_on")
    op.drop_index("ix_loan_classifications_as_of", table_name="loan_classifications")
    op.drop_table("loan_classifications")
