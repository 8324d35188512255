"""school register: SIECLE identifiers, leavers, classes apart from groups, initial
passwords that expire

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("eleve_id", sa.String(20), nullable=True))
        batch.add_column(sa.Column("ine", sa.String(11), nullable=True))
        batch.add_column(sa.Column("left_at", idp.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("password_expires_at", idp.db.UTCDateTime(), nullable=True))
        batch.create_unique_constraint(
            "uq_users_establishment_id_eleve_id", ["establishment_id", "eleve_id"]
        )
        batch.create_unique_constraint("uq_users_establishment_id_ine", ["establishment_id", "ine"])
    # What imports wrote until now came from the file's `Classe` column: classes.
    with op.batch_alter_table("user_groups") as batch:
        batch.add_column(
            sa.Column("is_class", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("user_groups") as batch:
        batch.drop_column("is_class")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_establishment_id_ine", type_="unique")
        batch.drop_constraint("uq_users_establishment_id_eleve_id", type_="unique")
        batch.drop_column("password_expires_at")
        batch.drop_column("left_at")
        batch.drop_column("ine")
        batch.drop_column("eleve_id")
