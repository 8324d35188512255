"""back-channel logout outbox, used private_key_jwt assertions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import idp.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backchannel_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", idp.db.UTCDateTime(), nullable=True),
        sa.Column("claimed_until", idp.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.Column("created_at", idp.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", idp.db.UTCDateTime(), nullable=True),
        sa.Column("abandoned_at", idp.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["clients.id"],
            name=op.f("fk_backchannel_notices_client_pk_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_backchannel_notices_establishment_id_establishments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backchannel_notices")),
        sa.UniqueConstraint("jti", name=op.f("uq_backchannel_notices_jti")),
    )
    with op.batch_alter_table("backchannel_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_backchannel_notices_next_attempt_at", ["next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_backchannel_notices_establishment_id", ["establishment_id"], unique=False
        )
    op.create_table(
        "used_assertions",
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", idp.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_used_assertions_establishment_id_establishments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "establishment_id", "client_id", "jti_hash", name=op.f("pk_used_assertions")
        ),
    )
    with op.batch_alter_table("used_assertions", schema=None) as batch_op:
        batch_op.create_index("ix_used_assertions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("used_assertions", schema=None) as batch_op:
        batch_op.drop_index("ix_used_assertions_expires_at")
    op.drop_table("used_assertions")
    with op.batch_alter_table("backchannel_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_backchannel_notices_establishment_id")
        batch_op.drop_index("ix_backchannel_notices_next_attempt_at")
    op.drop_table("backchannel_notices")
