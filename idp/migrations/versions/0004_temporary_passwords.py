"""temporary passwords

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("temp_password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("temp_password_expires_at", idp.db.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("temp_password_expires_at")
        batch_op.drop_column("temp_password_hash")
