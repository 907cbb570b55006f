"""the sector's supervisor a fundraising case is copied to (抄送行业主管部门)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qiantang import search

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite), so the cases table's search triggers stay as they are.
    op.add_column("cases", sa.Column("supervisor_code", sa.String(length=32), nullable=True))
    op.add_column("cases", sa.Column("supervisor_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table, which loses the search index's triggers: rebuild it.
    search.drop_index(op.get_bind(), "cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("supervisor_name")
        batch_op.drop_column("supervisor_code")
    search.create_index(op.get_bind(), "cases")
