"""tasks looked up by entity and status

An upload's gate asks for the waiting tasks of one order (and the trips carrying it). With
an index on `entity_id` alone, SQLite (which keeps no statistics unless asked) prefers the
index on `status` and reads every waiting task of the carrier for each upload; with
`(entity_id, status)` it reads the order's own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 00:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_entity_id_status", ["entity_id", "status"], unique=False)
        batch_op.drop_index("ix_tasks_entity_id")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_entity_id", ["entity_id"], unique=False)
        batch_op.drop_index("ix_tasks_entity_id_status")
