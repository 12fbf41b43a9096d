"""digest delivery: what a digest covers and who produced it, one row per delivery

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("days", sa.Integer(), server_default="1", nullable=False))
        # Before this revision only the service stored digests.
        batch_op.add_column(
            sa.Column("trigger", sa.String(length=32), server_default="scheduler", nullable=False)
        )
    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["digests.id"], name=op.f("fk_digest_deliveries_digest_id_digests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_deliveries")),
    )
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_digest_deliveries_digest_id"), ["digest_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_digest_deliveries_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digest_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_digest_deliveries_digest_id"))

    op.drop_table("digest_deliveries")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_column("trigger")
        batch_op.drop_column("days")
