"""an index on loans.as_of: the book's as-of date without reading every loan

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_loans_as_of", "loans", ["as_of"])


def downgrade() -> None:
    op.drop_index("ix_loans_as_of", table_name="loans")
