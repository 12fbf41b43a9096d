"""index on articles.declared_canonical_url; (content_fingerprint, id)

Storing an article looks up the pages that declared it as their canonical page; without
an index that look-up read the whole articles table for every article stored. A hash
index on PostgreSQL: the look-up is by equality, and a btree refuses entries over 2,704
bytes, which a declared URL may be.

The dedup stage looks up the first article with a text's fingerprint (ORDER BY id LIMIT 1);
with the id in the fingerprint's index that is one index look-up, where PostgreSQL, its
statistics stale after a bulk load, would walk the primary key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_articles_declared_canonical_url"),
            ["declared_canonical_url"],
            unique=False,
            postgresql_using="hash",  # no size limit per entry, unlike a btree
        )
        batch_op.create_index(
            "ix_articles_content_fingerprint_id", ["content_fingerprint", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_articles_content_fingerprint"))


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_articles_content_fingerprint"), ["content_fingerprint"], unique=False
        )
        batch_op.drop_index("ix_articles_content_fingerprint_id")
        batch_op.drop_index(batch_op.f("ix_articles_declared_canonical_url"))
