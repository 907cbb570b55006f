"""tamper-evident audit chain; accounts that must change a temporary password

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-05 08:00:00

The audit events get a sequence number, the previous event's hash and their own hash (SM3), the
existing events are hashed in id order, and triggers make the table append-only on both backends
(even for the table's owner; on PostgreSQL TRUNCATE too). The one UPDATE still allowed is the
foreign key's ON DELETE SET NULL of ``user_id``, which the hash does not cover.

NOTE for later migrations: SQLite's batch_alter_table recreates a table and drops its triggers;
a migration that batch-alters ``audit_events`` must call ``create_triggers`` again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The hash must be computed exactly as the application computes it, so the one definition is used.
from qiantang.audit.chain import GENESIS, canonical, digest

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HASHED = ("username", "action", "object_type", "object_id", "detail", "ip")

SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    WHEN NOT (NEW.user_id IS NULL AND NEW.id IS OLD.id AND NEW.at IS OLD.at
              AND NEW.username IS OLD.username AND NEW.action IS OLD.action
              AND NEW.object_type IS OLD.object_type AND NEW.object_id IS OLD.object_id
              AND NEW.detail IS OLD.detail AND NEW.ip IS OLD.ip AND NEW.seq IS OLD.seq
              AND NEW.prev_hash IS OLD.prev_hash AND NEW.row_hash IS OLD.row_hash)
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
    """,
)

PG_TRIGGERS = (
    """
    CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
         AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
        RETURN NEW;  -- ON DELETE SET NULL of the user
      END IF;
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
    # Nobody but the owner gets to change audit rows by grant; the triggers stop the owner too.
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC",
)


def create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for statement in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")


def _hash_existing_events() -> None:
    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", sa.DateTime),
        *(sa.column(name, sa.JSON if name == "detail" else sa.String) for name in _HASHED),
        sa.column("seq", sa.Integer),
        sa.column("prev_hash", sa.String),
        sa.column("row_hash", sa.String),
    )
    prev, seq, last_id = GENESIS, 0, 0
    while True:
        rows = bind.execute(
            sa.select(events).where(events.c.id > last_id).order_by(events.c.id).limit(5000)
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            seq += 1
            own = digest(
                canonical(seq=seq, at=row.at, **{k: getattr(row, k) for k in _HASHED}, prev_hash=prev)
            )
            updates.append({"b_id": row.id, "seq": seq, "prev_hash": prev, "row_hash": own})
            prev = own
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")),
            updates,
        )
        last_id = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    _hash_existing_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])
    create_triggers()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    drop_triggers()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
