"""seed corpus and comparisons

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seeds",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("content_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seeds")),
    )
    op.create_table(
        "seed_comparisons",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("status_seed_id", sa.String(length=200), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("nearest", sa.JSON(), nullable=False),
        sa.Column("new_facts", sa.JSON(), nullable=False),
        sa.Column("novel_sentences", sa.JSON(), nullable=False),
        sa.Column("compared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seed_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_seed_comparisons_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_seed_comparisons")),
    )
    with op.batch_alter_table("seed_comparisons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seed_comparisons_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seed_comparisons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seed_comparisons_status"))

    op.drop_table("seed_comparisons")
    op.drop_table("seeds")
