"""text index over the tips inbox (the firm as typed and what happened)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from qiantang import search

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # FTS5 trigram table kept in step by triggers on SQLite; pg_trgm and character-pair GIN indexes on
    # PostgreSQL (qiantang/search.py). Existing tips are indexed here.
    search.create_index(op.get_bind(), "fundraising_tips")


def downgrade() -> None:
    search.drop_index(op.get_bind(), "fundraising_tips")
