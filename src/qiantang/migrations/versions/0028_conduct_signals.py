"""early-warning signals and alerts of a new family, conduct (the dispute register)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("limit", "peer", "trend", "filing", "rating")
NEW = (*OLD, "conduct")


def _families(values: tuple[str, ...]) -> None:
    # The family column's CHECK lists the families (enums are VARCHAR + CHECK on both backends).
    for table in ("ew_signals", "ew_alerts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"ck_{table}_signalfamily"), type_="check")
            batch_op.create_check_constraint(
                batch_op.f(f"ck_{table}_signalfamily"),
                "family IN (" + ", ".join(f"'{v}'" for v in values) + ")",
            )


def upgrade() -> None:
    _families(NEW)


def downgrade() -> None:
    # The conduct alerts' cases go with them, children first: foreign keys are not enforced while
    # migrating on SQLite (migrations/env.py), so ON DELETE CASCADE would not remove them.
    conduct_cases = (
        "SELECT c.id FROM cases c JOIN ew_alerts a ON a.id = c.alert_id WHERE a.family = 'conduct'"
    )
    for child in ("case_events", "case_attachments"):
        op.execute(f"DELETE FROM {child} WHERE case_id IN ({conduct_cases})")
    op.execute(f"DELETE FROM cases WHERE id IN ({conduct_cases})")
    op.execute("DELETE FROM ew_signals WHERE family = 'conduct'")
    op.execute("DELETE FROM ew_alerts WHERE family = 'conduct'")
    _families(OLD)
