"""poll targets (validators, adaptive pace, health) and resolved redirect links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("discovered_from", sa.Text(), nullable=True),
        sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_hash", sa.String(length=64), nullable=True),
        sa.Column("first_polled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_new_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failure_score", sa.Float(), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("items_found", sa.Integer(), nullable=False),
        sa.Column("items_new", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_targets")),
        sa.UniqueConstraint("source_id", "url", name=op.f("uq_poll_targets_source_id")),
    )
    with op.batch_alter_table("poll_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_poll_targets_source_id"), ["source_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_poll_targets_next_poll_at"), ["next_poll_at"], unique=False
        )
    op.create_table(
        "resolved_links",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("resolved_url", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_resolved_links")),
    )


def downgrade() -> None:
    op.drop_table("resolved_links")
    with op.batch_alter_table("poll_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_poll_targets_next_poll_at"))
        batch_op.drop_index(batch_op.f("ix_poll_targets_source_id"))
    op.drop_table("poll_targets")
