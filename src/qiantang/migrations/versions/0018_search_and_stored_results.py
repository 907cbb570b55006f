"""search indexes (FTS5 trigram / pg_trgm) and stored page results

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 08:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qiantang import search

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = ("enterprises", "institutions", "cases")


def upgrade() -> None:
    # Text indexes for name/code search (qiantang/search.py): FTS5 trigram tables kept in step by
    # triggers on SQLite, pg_trgm and character-pair GIN indexes on PostgreSQL.
    for table in SEARCHED:
        search.create_index(op.get_bind(), table)
    op.create_index("ix_enterprises_district_id", "enterprises", ["district_code", "id"])
    # Page summaries written by the batch jobs (qiantang/results.py); filled by their next run.
    op.create_table(
        "stored_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_results")),
        sa.UniqueConstraint("kind", "district_code", name="uq_stored_results_kind_district"),
    )


def downgrade() -> None:
    op.drop_table("stored_results")
    op.drop_index("ix_enterprises_district_id", table_name="enterprises")
    for table in SEARCHED:
        search.drop_index(op.get_bind(), table)
