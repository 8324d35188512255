"""establishment looks (logo, accent colour)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "establishment_looks",
        sa.Column(
            "establishment_id",
            sa.Integer(),
            sa.ForeignKey("establishments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(16), nullable=True),
        sa.Column("accent", sa.String(7), nullable=True),
        sa.Column("updated_at", idp.db.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("establishment_looks")
