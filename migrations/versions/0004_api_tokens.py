"""api tokens

The HTTP API's tokens: a name recorded with every write, the secret's SHA-256 (never the
secret), scopes, and when it was last used or revoked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("hint", sa.String(length=12), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=40), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_tokens_secret_sha256")),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
