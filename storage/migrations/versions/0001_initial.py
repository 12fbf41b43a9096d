"""initial schema: sources, articles, raw pages, known urls, crawl runs

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("source_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("feeds_polled", sa.Integer(), nullable=False),
        sa.Column("feeds_failed", sa.Integer(), nullable=False),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("articles_new", sa.Integer(), nullable=False),
        sa.Column("articles_known", sa.Integer(), nullable=False),
        sa.Column("articles_failed", sa.Integer(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_runs")),
    )
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crawl_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_crawl_runs_status"), ["status"], unique=False)

    op.create_table(
        "sources",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("crawl_run_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=False),
        sa.Column("declared_canonical_url", sa.Text(), nullable=True),
        sa.Column("feed_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("sitename", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_detected", sa.Boolean(), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_from", sa.String(length=16), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["crawl_run_id"], ["crawl_runs.id"], name=op.f("fk_articles_crawl_run_id_crawl_runs")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_articles_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("canonical_url", name=op.f("uq_articles_canonical_url")),
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_articles_crawl_run_id"), ["crawl_run_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_articles_fetched_at"), ["fetched_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_articles_language"), ["language"], unique=False)
        batch_op.create_index(batch_op.f("ix_articles_published"), ["published"], unique=False)
        batch_op.create_index(batch_op.f("ix_articles_source_id"), ["source_id"], unique=False)

    op.create_table(
        "known_urls",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_known_urls_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_known_urls")),
    )
    with op.batch_alter_table("known_urls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_known_urls_article_id"), ["article_id"], unique=False)

    op.create_table(
        "raw_pages",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("encoding", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body_zlib", sa.LargeBinary(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_raw_pages_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_raw_pages")),
    )


def downgrade() -> None:
    op.drop_table("raw_pages")
    with op.batch_alter_table("known_urls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_urls_article_id"))

    op.drop_table("known_urls")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_source_id"))
        batch_op.drop_index(batch_op.f("ix_articles_published"))
        batch_op.drop_index(batch_op.f("ix_articles_language"))
        batch_op.drop_index(batch_op.f("ix_articles_fetched_at"))
        batch_op.drop_index(batch_op.f("ix_articles_crawl_run_id"))

    op.drop_table("articles")
    op.drop_table("sources")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crawl_runs_status"))
        batch_op.drop_index(batch_op.f("ix_crawl_runs_started_at"))

    op.drop_table("crawl_runs")
