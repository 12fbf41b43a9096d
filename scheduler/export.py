"""Export stored articles as JSON Lines or CSV, with people's review decisions applied.

Decisions made with ``veille review`` are read through the articles' own session, in one
query per batch of articles: articles of stories marked irrelevant are left out (unless asked
for), and tags are corrected (a removed tag is dropped, an added one appears with
``reviewed``).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator
from enum import StrEnum
from itertools import islice
from typing import Any, TextIO

from sqlalchemy.orm import object_session

from storage.models import Article
from storage.reviews import StoryReview, story_reviews

logger = logging.getLogger(__name__)

REVIEW_BATCH = 500

EXPORT_FIELDS = (
    "id",
    "url",
    "canonical_url",
    "final_url",
    "declared_canonical_url",
    "source",
    "feed_url",
    "title",
    "author",
    "sitename",
    "language",
    "language_detected",
    "published",
    "published_from",
    "fetched_at",
    "relevant",
    "tags",
    "review",
    "story_id",
    "duplicate_of",
    "similarity",
    "version",
    "updated_at",
    "seed_status",
    "nearest_seed",
    "new_facts",
    "text",
)


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def article_row(article: Article, review: StoryReview | None = None) -> dict[str, Any]:
    """One exported row; ``review`` is what people decided about the article's story."""
    tags = _tags(article, review)
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "final_url": article.final_url,
        "declared_canonical_url": article.declared_canonical_url,
        "source": article.source_id,
        "feed_url": article.feed_url,
        "title": article.title,
        "author": article.author,
        "sitename": article.sitename,
        "language": article.language,
        "language_detected": article.language_detected,
        "published": article.published.isoformat(),
        "published_from": article.published_from,
        "fetched_at": article.fetched_at.isoformat(),
        "relevant": _relevant(article, review, tags),
        "tags": tags,
        "review": _review_fields(review),
        "story_id": article.story_id,
        "duplicate_of": article.duplicate_of,
        "similarity": article.similarity,
        "version": article.version,
        **_comparison_fields(article),
        "updated_at": article.updated_at.isoformat() if article.updated_at else None,
        "text": article.text if article.text is not None else _original_text(article),
    }


def _tags(article: Article, review: StoryReview | None) -> list[dict[str, Any]]:
    """The tagger's tags with people's corrections: removed ones dropped, added ones relevant
    and ``reviewed``, with no score when the tagger had not found the initiative at all."""
    removed = set(review.tags_removed) if review else set()
    added = set(review.tags_added) if review else set()
    tags = [
        {
            "initiative": tag.initiative,
            "score": round(tag.score, 3),
            "relevant": tag.relevant or tag.initiative in added,
            "reviewed": tag.initiative in added,
        }
        for tag in article.tags
        if tag.initiative not in removed
    ]
    found = {tag.initiative for tag in article.tags}
    tags += [
        {"initiative": initiative, "score": None, "relevant": True, "reviewed": True}
        for initiative in sorted(added - found)
    ]
    return tags


def _relevant(
    article: Article, review: StoryReview | None, tags: list[dict[str, Any]]
) -> bool | None:
    """A person's verdict wins; corrected tags decide next; else the tagger's verdict."""
    if review is None:
        return article.relevant
    if review.relevant is not None:
        return review.relevant
    if review.tags_added or review.tags_removed:
        return any(tag["relevant"] for tag in tags)
    return article.relevant


def _review_fields(review: StoryReview | None) -> dict[str, Any] | None:
    if review is None:
        return None
    return {
        "relevant": review.relevant,
        "tags_added": list(review.tags_added),
        "tags_removed": list(review.tags_removed),
        "by": review.reviewer,
        "at": review.reviewed_at.isoformat(),
        "note": review.note,
    }


def _review_text(review: dict[str, Any] | None) -> str:
    """The review field for CSV: ``irrelevant -waico +gaigi by alice``."""
    if review is None:
        return ""
    words = [] if review["relevant"] is None else [
        "relevant" if review["relevant"] else "irrelevant"
    ]  # fmt: skip
    words += [f"-{initiative}" for initiative in review["tags_removed"]]
    words += [f"+{initiative}" for initiative in review["tags_added"]]
    return " ".join([*words, "by", review["by"]])


def _comparison_fields(article: Article) -> dict[str, Any]:
    comparison = article.comparison
    if comparison is None:
        return {"seed_status": None, "nearest_seed": None, "new_facts": []}
    nearest = comparison.nearest[0] if comparison.nearest else None
    return {
        "seed_status": comparison.status,
        "nearest_seed": (
            {"seed": nearest["seed_id"], "score": nearest["score"], "reasons": nearest["reasons"]}
            if nearest
            else None
        ),
        "new_facts": [{"key": f["key"], "phrase": f["phrase"]} for f in comparison.new_facts],
    }


def _original_text(article: Article) -> str | None:
    """An exact copy's text is its original's: it is stored once."""
    original = article.original
    return original.text if original is not None else None


def with_reviews(articles: Iterable[Article]) -> Iterator[tuple[Article, StoryReview | None]]:
    """Each article with its story's review, read in one query per batch of articles through
    the session the articles come from (detached articles have no review)."""
    iterator = iter(articles)
    while batch := list(islice(iterator, REVIEW_BATCH)):
        session = object_session(batch[0])
        story_ids = {article.story_id for article in batch if article.story_id is not None}
        reviews = story_reviews(session, story_ids) if session is not None and story_ids else {}
        for article in batch:
            yield article, reviews.get(article.story_id) if article.story_id else None


def write_export(
    articles: Iterable[Article],
    output: TextIO,
    export_format: ExportFormat,
    *,
    include_irrelevant: bool = False,
) -> int:
    """Write the articles to ``output``; returns how many were written.

    Articles of stories people marked irrelevant are left out unless ``include_irrelevant``
    (they are then written with ``relevant`` false).
    """
    count = left_out = 0
    writer = None
    if export_format is ExportFormat.CSV:
        writer = csv.DictWriter(output, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
    for article, review in with_reviews(articles):
        if review is not None and review.relevant is False and not include_irrelevant:
            left_out += 1
            continue
        row = article_row(article, review)
        if writer is None:
            output.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer.writerow(_csv_row(row))
        count += 1
    if left_out:
        logger.info("%d article(s) of stories marked irrelevant left out", left_out)
    return count


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    tags = [f"{t['initiative']}:{'reviewed' if t['score'] is None else t['score']}"
            for t in row["tags"]]  # fmt: skip
    nearest = row["nearest_seed"]
    return {
        **row,
        "tags": " ".join(tags),
        "review": _review_text(row["review"]),
        "nearest_seed": f"{nearest['seed']}:{nearest['score']}" if nearest else "",
        "new_facts": "; ".join(fact["key"] for fact in row["new_facts"]),
    }
