"""Export stored articles as JSON Lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TextIO

from storage.models import Article

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


def article_row(article: Article) -> dict[str, Any]:
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
        "relevant": article.relevant,
        "tags": [
            {"initiative": tag.initiative, "score": round(tag.score, 3), "relevant": tag.relevant}
            for tag in article.tags
        ],
        "story_id": article.story_id,
        "duplicate_of": article.duplicate_of,
        "similarity": article.similarity,
        "version": article.version,
        **_comparison_fields(article),
        "updated_at": article.updated_at.isoformat() if article.updated_at else None,
        "text": article.text if article.text is not None else _original_text(article),
    }


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


def write_export(articles: Iterable[Article], output: TextIO, export_format: ExportFormat) -> int:
    """Write the articles to ``output``; returns how many were written."""
    count = 0
    if export_format is ExportFormat.CSV:
        writer = csv.DictWriter(output, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for article in articles:
            row = article_row(article)
            row["tags"] = " ".join(f"{t['initiative']}:{t['score']}" for t in row["tags"])
            nearest = row["nearest_seed"]
            row["nearest_seed"] = f"{nearest['seed']}:{nearest['score']}" if nearest else ""
            row["new_facts"] = "; ".join(fact["key"] for fact in row["new_facts"])
            writer.writerow(row)
            count += 1
    else:
        for article in articles:
            output.write(json.dumps(article_row(article), ensure_ascii=False) + "\n")
            count += 1
    return count
