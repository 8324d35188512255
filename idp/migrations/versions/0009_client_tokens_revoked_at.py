"""client tokens_revoked_at

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # client_credentials tokens are no longer stored: disabling a module revokes them by
    # this moment instead of by their rows.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("tokens_revoked_at", idp.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("tokens_revoked_at")
