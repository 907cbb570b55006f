"""product versions carry their review: state, who decided, when, the reason of a rejection

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-05 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matching_product_versions", schema=None) as batch_op:
        # versions stored before review existed were the approved ones
        batch_op.add_column(
            sa.Column("state", sa.String(length=12), server_default="approved", nullable=False)
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("matching_product_versions", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("state")
