"""The seed corpus and the comparisons of articles with it.

Seeds are stored apart from crawled articles. A comparison is kept per article and replaced
when the corpus changes. Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Article, Seed, SeedComparison, utcnow
from storage.records import ComparisonRecord


def upsert_seed(
    session: Session,
    *,
    seed_id: str,
    path: str | None,
    title: str | None,
    text: str,
    language: str | None,
    tags: Sequence[str],
    fingerprint: str | None,
) -> bool:
    """Add or replace a seed; True when it is new or its text changed."""
    seed = session.get(Seed, seed_id)
    if seed is None:
        session.add(
            Seed(
                id=seed_id, path=path, title=title, text=text, language=language,
                tags=list(tags), content_fingerprint=fingerprint,
            )
        )  # fmt: skip
        session.flush()
        return True
    changed = seed.text != text
    seed.path, seed.title, seed.text, seed.language = path, title, text, language
    seed.tags, seed.content_fingerprint, seed.updated_at = list(tags), fingerprint, utcnow()
    session.flush()
    return changed


def list_seeds(session: Session) -> list[Seed]:
    return list(session.scalars(select(Seed).order_by(Seed.id)))


def save_comparison(session: Session, article_id: int, comparison: ComparisonRecord) -> None:
    """Store (or replace) an article's comparison with the seed corpus."""
    session.execute(delete(SeedComparison).where(SeedComparison.article_id == article_id))
    session.add(
        SeedComparison(
            article_id=article_id,
            status=comparison.status,
            status_seed_id=comparison.status_seed_id,
            status_reason=comparison.status_reason,
            nearest=list(comparison.nearest),
            new_facts=list(comparison.new_facts),
            novel_sentences=list(comparison.novel_sentences),
            compared_at=utcnow(),
            seed_count=comparison.seed_count,
        )
    )


def articles_stored_since(session: Session, since: datetime) -> list[Article]:
    """Articles to compare again after the corpus changed, oldest first."""
    return list(
        session.scalars(select(Article).where(Article.fetched_at >= since).order_by(Article.id))
    )


_STATUS_ORDER = ("follow-up", "new", "known")
"""A story is a follow-up if any member adds something; else new; else known."""


def story_comparison(session: Session, story_id: int) -> dict[str, Any]:
    """How a story compares with the seed corpus, from its members' comparisons.

    Status: ``follow-up`` if any member is one, else ``new`` if any is, else ``known`` (None
    when no member was compared); the nearest seed is the best match of any member; the new
    facts are those of the follow-up members (or of all members of a new story), by key.
    """
    rows = session.execute(
        select(SeedComparison)
        .join(Article, Article.id == SeedComparison.article_id)
        .where(Article.story_id == story_id)
        .order_by(SeedComparison.article_id)
    ).scalars()
    comparisons = [row for row in rows if row.status is not None]
    if not comparisons:
        return {"status": None, "nearest_seed": None, "new_facts": [], "members_compared": 0}
    status = next(s for s in _STATUS_ORDER if any(c.status == s for c in comparisons))
    matches = [match for c in comparisons for match in c.nearest]
    nearest = max(matches, key=lambda match: match["score"]) if matches else None
    facts: dict[str, dict[str, Any]] = {}
    for comparison in comparisons:
        if comparison.status == status:
            for fact in comparison.new_facts:
                facts.setdefault(fact["key"], {"key": fact["key"], "phrase": fact["phrase"]})
    return {
        "status": status,
        "nearest_seed": nearest["seed_id"] if nearest else None,
        "new_facts": list(facts.values()),
        "members_compared": len(comparisons),
    }
