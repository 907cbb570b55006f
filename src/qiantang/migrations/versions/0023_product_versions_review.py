"""product versions carry their review (state, who decided, when, why); name lists pushed to lenders

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-05 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matching_namelist_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_code", sa.String(length=32), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("pushed_by", sa.String(length=64), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_namelist_pushes")),
    )
    op.create_table(
        "matching_namelist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("push_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("responded_by", sa.String(length=64), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_matching_namelist_entries_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_matching_namelist_entries_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["push_id"],
            ["matching_namelist_pushes.id"],
            name=op.f("fk_matching_namelist_entries_push_id_matching_namelist_pushes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_namelist_entries")),
        sa.UniqueConstraint(
            "push_id", "institution_id", "enterprise_id", name="uq_matching_namelist_entries"
        ),
    )
    with op.batch_alter_table("matching_namelist_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matching_namelist_entries_institution_id"), ["institution_id"])
        batch_op.create_index(batch_op.f("ix_matching_namelist_entries_push_id"), ["push_id"])
    with op.batch_alter_table("matching_product_versions", schema=None) as batch_op:
        # versions stored before review existed were the approved ones
        batch_op.add_column(
            sa.Column("state", sa.String(length=12), server_default="approved", nullable=False)
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_table("matching_namelist_entries")
    op.drop_table("matching_namelist_pushes")
    with op.batch_alter_table("matching_product_versions", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("state")
