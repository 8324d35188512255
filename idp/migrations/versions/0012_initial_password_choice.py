"""the establishment's choice of initial passwords: the birth date (the help page's rule) or
random ones handed out on slips

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("establishments") as batch:
        batch.add_column(
            sa.Column(
                "initial_passwords",
                sa.String(16),
                nullable=False,
                server_default="birth_date",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("establishments") as batch:
        batch.drop_column("initial_passwords")
