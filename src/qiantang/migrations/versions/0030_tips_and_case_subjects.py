"""cases whose subject is an enterprise (fundraising, tips) with the 移送公安 clock; public tips; watch list

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qiantang import search

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    # SQLite's batch mode copies the table anew, which drops the search index's triggers: rebuild it.
    search.drop_index(op.get_bind(), "cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("institution_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("enterprise_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="early_warning")
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_cases_casesource"), "source IN ('early_warning', 'fundraising', 'tip')"
        )
        batch_op.add_column(sa.Column("index_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("index_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("opened_evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("handoff_due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("handed_off_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("handed_off_by", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_enterprise_id_enterprises"), "enterprises", ["enterprise_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_cases_enterprise_id"), ["enterprise_id"], unique=False)
    search.create_index(op.get_bind(), "cases")

    op.create_table(
        "fundraising_tips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_text", sa.String(length=200), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("match_confidence", sa.Float(), nullable=True),
        sa.Column("match_method", sa.String(length=8), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("amount_yuan", sa.Float(), nullable=True),
        sa.Column("people", sa.Integer(), nullable=True),
        sa.Column("status", _enum("tipstatus", 12, "new", "handled", "forwarded"), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.Column("handling_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_fundraising_tips_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_fundraising_tips_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fundraising_tips")),
    )
    with op.batch_alter_table("fundraising_tips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fundraising_tips_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(
            "ix_fundraising_tips_district_status", ["district_code", "status"], unique=False
        )

    op.create_table(
        "fundraising_tip_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tip_id", sa.Integer(), nullable=False),
        sa.Column("receipt_code", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("what_happened", sa.Text(), nullable=False),
        sa.Column("amount_yuan", sa.Float(), nullable=True),
        sa.Column("people", sa.Integer(), nullable=True),
        sa.Column("contact", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["tip_id"],
            ["fundraising_tips.id"],
            name=op.f("fk_fundraising_tip_reports_tip_id_fundraising_tips"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fundraising_tip_reports")),
        sa.UniqueConstraint("receipt_code", name=op.f("uq_fundraising_tip_reports_receipt_code")),
    )
    with op.batch_alter_table("fundraising_tip_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fundraising_tip_reports_tip_id"), ["tip_id"], unique=False)
        batch_op.create_index("ix_fundraising_tip_reports_client_at", ["client_key", "at"], unique=False)

    op.create_table(
        "fundraising_watchlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("index_version", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_fundraising_watchlist_enterprise_id_enterprises"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fundraising_watchlist")),
        sa.UniqueConstraint("enterprise_id", name=op.f("uq_fundraising_watchlist_enterprise_id")),
    )


def downgrade() -> None:
    op.drop_table("fundraising_watchlist")
    with op.batch_alter_table("fundraising_tip_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_fundraising_tip_reports_client_at")
        batch_op.drop_index(batch_op.f("ix_fundraising_tip_reports_tip_id"))
    op.drop_table("fundraising_tip_reports")
    with op.batch_alter_table("fundraising_tips", schema=None) as batch_op:
        batch_op.drop_index("ix_fundraising_tips_district_status")
        batch_op.drop_index(batch_op.f("ix_fundraising_tips_enterprise_id"))
    op.drop_table("fundraising_tips")
    # Cases without an alert (an enterprise subject) cannot exist in the old schema: children first
    # (foreign keys are not enforced while migrating on SQLite, see migrations/env.py).
    subjectless = "SELECT id FROM cases WHERE alert_id IS NULL OR institution_id IS NULL"
    for child in ("case_events", "case_attachments"):
        op.execute(f"DELETE FROM {child} WHERE case_id IN ({subjectless})")
    op.execute("DELETE FROM cases WHERE alert_id IS NULL OR institution_id IS NULL")
    search.drop_index(op.get_bind(), "cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_enterprise_id"))
        batch_op.drop_constraint(batch_op.f("fk_cases_enterprise_id_enterprises"), type_="foreignkey")
        batch_op.drop_column("handed_off_by")
        batch_op.drop_column("handed_off_at")
        batch_op.drop_column("handoff_due_on")
        batch_op.drop_column("opened_evidence")
        batch_op.drop_column("index_score")
        batch_op.drop_column("index_version")
        batch_op.drop_constraint(batch_op.f("ck_cases_casesource"), type_="check")
        batch_op.drop_column("source")
        batch_op.drop_column("enterprise_id")
        batch_op.alter_column("institution_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=False)
    search.create_index(op.get_bind(), "cases")
