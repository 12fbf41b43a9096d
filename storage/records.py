"""Plain records that cross the crawl → pipeline → storage boundary.

Spiders build a :class:`FetchedPage`; the extraction pipeline turns it into an
:class:`ArticleRecord`; the storage pipeline persists that. They are frozen dataclasses
with timezone-aware UTC datetimes, so nothing past the edge touches raw library
structures (Scrapy responses, feedparser dicts, trafilatura documents).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class PublishedFrom(StrEnum):
    """Where an article's publication date came from, most trusted first."""

    PAGE = "page"
    FEED = "feed"
    FIRST_SEEN = "first_seen"


def compress_body(body: bytes) -> bytes:
    """A downloaded page as the raw-page table keeps it: zlib, level 3.

    On the benchmark's 1,000 news pages level 3 takes 1.4 ms a page where level 6 takes 2.9
    (once per stored article, in the CPU pool), for 10 % more bytes (4.4:1 rather than 4.9:1).
    """
    return zlib.compress(body, 3)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """An article page as downloaded, with the hints its feed entry carried."""

    url: str
    """The URL as linked from the feed (before redirects)."""
    final_url: str
    """The URL of the response, after redirects."""
    source_id: str
    body: bytes
    content_type: str | None
    encoding: str | None
    fetched_at: datetime
    feed_url: str | None = None
    feed_title: str | None = None
    feed_published: datetime | None = None
    language_hint: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    recheck_of: int | None = None
    """The stored article this fetch re-checks for changes, if any."""


@dataclass(frozen=True, slots=True)
class Extracted:
    """What trafilatura found in a page: clean text and metadata."""

    text: str
    title: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    published: datetime | None = None
    """Publication date stated by the page, if any and plausible."""
    language: str | None = None
    language_detected: bool = False
    """True when the page did not declare its language and it was detected from the text."""
    declared_canonical_url: str | None = None
    """The page's own ``<link rel="canonical">`` (or og:url), if any."""


@dataclass(frozen=True, slots=True)
class TagRecord:
    """An initiative an article is about: score, whether it passes its threshold, evidence."""

    initiative: str
    score: float
    relevant: bool
    evidence: tuple[dict[str, Any], ...]
    """Each: ``phrase`` (as in the article), ``term``, ``zone`` (title, lead, body),
    ``start`` and ``end`` (character offsets in that zone of the original text)."""


class CopyKind(StrEnum):
    """Why an article belongs to another article's story."""

    EXACT = "exact"
    """The same normalised text: it is not stored twice."""
    NEAR = "near"
    """A near-copy: trimmed, a byline added, another script, spam injected..."""
    CANONICAL = "canonical"
    """The page declares the other article as its canonical page."""


@dataclass(frozen=True, slots=True)
class CopyCheck:
    """The deduplication stage's verdict on an article."""

    fingerprint: str | None
    """None for a text with no letters or digits: nothing to compare."""
    signature: bytes | None
    copy_of: int | None = None
    """The stored article this one copies, if any."""
    kind: CopyKind | None = None
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class ComparisonRecord:
    """How an article compares with the seed corpus (see ``pipelines.seed_compare``)."""

    status: str | None
    status_seed_id: str | None
    status_reason: str
    nearest: tuple[dict[str, Any], ...]
    """Each: ``seed_id``, ``score``, ``reasons``."""
    new_facts: tuple[dict[str, Any], ...]
    """Each: ``kind``, ``key``, ``phrase``, ``start``, ``end`` (offsets in the article text)."""
    novel_sentences: tuple[dict[str, Any], ...]
    """Each: ``text``, ``start``, ``end``."""
    seed_count: int


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """An extracted article ready to be stored."""

    page: FetchedPage
    extracted: Extracted
    canonical_url: str
    published: datetime
    published_from: PublishedFrom
    tags: tuple[TagRecord, ...] | None = None
    """None until the tagging stage has run."""
    copy_check: CopyCheck | None = None
    """None until the deduplication stage has run."""
    comparison: ComparisonRecord | None = None
    """None until compared with the seed corpus (or when there is no seed corpus)."""
    article_id: int | None = None
    """Set once stored."""
    compressed_body: bytes | None = None
    """The page's body as stored (:func:`compress_body`), when compressed already (by the
    crawl's CPU pool, off the crawl process)."""

    def stored_body(self) -> bytes:
        """The page's body compressed for storage."""
        if self.compressed_body is not None:
            return self.compressed_body
        return compress_body(self.page.body)

    @property
    def relevant(self) -> bool | None:
        return None if self.tags is None else any(tag.relevant for tag in self.tags)
