"""The seed corpus and the comparisons of articles with it.

Seeds are stored apart from crawled articles. A comparison is kept per article and replaced
when the corpus changes. Functions take a session and never commit.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, cast, delete, select
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
_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's limits on parameters."""


def story_comparison(session: Session, story_id: int) -> dict[str, Any]:
    """How a story compares with the seed corpus, from its members' comparisons.

    Status: ``follow-up`` if any member is one, else ``new`` if any is, else ``known`` (None
    when no member was compared); the nearest seed is the best match of any member; the new
    facts are those of the follow-up members (or of all members of a new story), by key.
    """
    return story_comparisons(session, [story_id])[story_id]


def story_comparisons(session: Session, story_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """:func:`story_comparison` of each of ``story_ids``, in one query per 500 stories."""
    wanted = sorted(set(story_ids))
    by_story: dict[int, list[Row[Any]]] = defaultdict(list)
    for offset in range(0, len(wanted), _IN_CHUNK):
        rows = session.execute(
            select(
                Article.story_id,
                SeedComparison.status,
                # Nearest seeds are stored best first (the comparison ranks them): the first
                # is all a story needs, read by the database rather than decoded here.
                SeedComparison.nearest[(0, "seed_id")].as_string().label("best_seed"),
                SeedComparison.nearest[(0, "score")].as_float().label("best_score"),
                # As text, for json.loads, and decoded only for the members that count.
                cast(SeedComparison.new_facts, Text).label("new_facts"),
            )
            .join(Article, Article.id == SeedComparison.article_id)
            .where(Article.story_id.in_(wanted[offset : offset + _IN_CHUNK]))
            .order_by(SeedComparison.article_id)
        )
        for row in rows:
            by_story[row.story_id].append(row)
    return {story_id: _combine(by_story[story_id]) for story_id in wanted}


def _combine(rows: Sequence[Row[Any]]) -> dict[str, Any]:
    """One story's comparison from its members' (status, best seed, new facts; article order)."""
    comparisons = [row for row in rows if row.status is not None]
    if not comparisons:
        return {"status": None, "nearest_seed": None, "new_facts": [], "members_compared": 0}
    status = next(s for s in _STATUS_ORDER if any(c.status == s for c in comparisons))
    matched = [c for c in comparisons if c.best_seed is not None]
    nearest = max(matched, key=lambda c: c.best_score or 0.0) if matched else None
    facts: dict[str, dict[str, Any]] = {}
    for comparison in comparisons:
        if comparison.status == status:
            for fact in _json_list(comparison.new_facts):
                facts.setdefault(fact["key"], {"key": fact["key"], "phrase": fact["phrase"]})
    return {
        "status": status,
        "nearest_seed": nearest.best_seed if nearest else None,
        "new_facts": list(facts.values()),
        "members_compared": len(comparisons),
    }


def _json_list(value: str | None) -> list[dict[str, Any]]:
    return [] if value in (None, "[]") else json.loads(value) or []
