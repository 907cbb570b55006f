"""notifications keep their English wording beside the Chinese

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 13:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("title_en", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("body_en", sa.String(4000), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("body_en")
        batch.drop_column("title_en")
