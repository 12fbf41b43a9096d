"""DedupPipeline: which story an article belongs to.

In order: an exact copy of a stored text (same :func:`content_fingerprint`); a page whose
``<link rel="canonical">`` names another stored article; a near-copy found by MinHash LSH
(:mod:`pipelines.fingerprint`). Otherwise the article starts a story of its own. The verdict
travels on the item as a :class:`~storage.records.CopyCheck`; the storage pipeline files the
article in its story and persists its signature.

The LSH index holds the signatures of the articles stored in the last ``VEILLE_DEDUP_WINDOW_DAYS``
days: it is loaded from the database when the crawl opens, so a copy found tomorrow, after a
restart, still joins today's story, and memory stays bounded by the window.

The fingerprints are computed ahead, in the crawl's CPU pool (:func:`fingerprint_article`); the
lookups run here, in the crawl process, one article after the other. An article that passes
joins the index at once, under a provisional key (:data:`PENDING`, then its canonical URL):
Scrapy announces a stored item (``item_scraped``, when it gets its article id as a key) only
after other articles may have been checked, and a copy among those must still find it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Self

from scrapy import signals
from scrapy.crawler import Crawler

from pipelines.cpu_pool import PreparedArticle
from pipelines.fingerprint import (
    DEFAULT_THRESHOLD,
    NearDuplicateIndex,
    content_fingerprint,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
)
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.records import ArticleRecord, CopyCheck, CopyKind, FetchedPage
from storage.stories import find_by_canonical_url, find_copy_by_fingerprint, iter_signatures
from storage.urls import UnusableUrl, canonicalize_url

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_DAYS = 30
PENDING = "pending:"
"""Index keys of articles passed in this crawl whose article id is not known yet: this, then
the canonical URL."""


def fingerprint_article(record: ArticleRecord) -> CopyCheck:
    """The article's fingerprints and no verdict yet: what :func:`check_copy` looks up, and all
    of its CPU-bound work. Both are None for a text with no letters or digits."""
    text = record.extracted.text
    try:
        fingerprint = content_fingerprint(text)
        signature = minhash_signature(text, record.extracted.language)
    except ValueError:  # no letters or digits: nothing to compare
        return CopyCheck(None, None)
    return CopyCheck(fingerprint, signature_to_bytes(signature))


def check_copy(
    record: ArticleRecord,
    index: NearDuplicateIndex,
    find_exact: Callable[[str], int | None],
    find_canonical: Callable[[str], int | None],
    fingerprints: CopyCheck | None = None,
) -> CopyCheck:
    """The verdict on one article, given lookups of stored ids by fingerprint and by URL, and
    its :func:`fingerprint_article` if computed already."""
    check = fingerprints if fingerprints is not None else fingerprint_article(record)
    fingerprint, signature_bytes = check.fingerprint, check.signature
    if fingerprint is None or signature_bytes is None:
        return CopyCheck(None, None)
    exact = find_exact(fingerprint)
    if exact is not None:
        return CopyCheck(fingerprint, signature_bytes, exact, CopyKind.EXACT, 1.0)
    declared = record.extracted.declared_canonical_url
    if declared:
        try:
            target = canonicalize_url(declared)
        except UnusableUrl:
            target = None
        if target is not None and target != record.canonical_url:
            original = find_canonical(target)
            if original is not None:
                return CopyCheck(fingerprint, signature_bytes, original, CopyKind.CANONICAL)
    match = index.find_match(signature_from_bytes(signature_bytes))
    if match is not None:
        key, similarity = match
        # A pending article was stored when its turn came, before this one's (or dropped as a
        # page stored already: then that stored page is the original).
        pending = key.startswith(PENDING)
        original = find_canonical(key.removeprefix(PENDING)) if pending else int(key)
        if original is not None:
            return CopyCheck(fingerprint, signature_bytes, original, CopyKind.NEAR, similarity)
    return CopyCheck(fingerprint, signature_bytes)


class DedupPipeline:
    def __init__(self, crawler: Crawler, database_url: str, threshold: float, window: timedelta):
        self.crawler = crawler
        self.window = window
        self.index = NearDuplicateIndex(threshold=threshold)
        self._pending: dict[str, FetchedPage] = {}
        """Provisional index keys, with the page of the article that holds each."""
        self._engine = create_database_engine(database_url)
        self._sessions = make_session_factory(self._engine)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        pipeline = cls(
            crawler,
            settings["VEILLE_DATABASE_URL"],
            settings.getfloat("VEILLE_DEDUP_THRESHOLD", DEFAULT_THRESHOLD),
            timedelta(days=settings.getfloat("VEILLE_DEDUP_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)),
        )
        crawler.signals.connect(pipeline.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(pipeline.item_left, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.item_left, signal=signals.item_error)
        return pipeline

    def open_spider(self) -> None:
        since = datetime.now(UTC) - self.window
        loaded = skipped = 0
        with self._sessions() as session:
            for article_id, data in iter_signatures(session, since):
                try:
                    self.index.add(str(article_id), signature_from_bytes(data))
                    loaded += 1
                except ValueError:  # an older signature format: not comparable
                    skipped += 1
        gc.freeze()  # the index is long-lived: keep it out of every garbage collection
        logger.info(
            "Near-duplicate index: %d signatures of the last %d days (%d of an older format)",
            loaded,
            self.window.days,
            skipped,
        )

    def process_item(self, item: ArticleRecord) -> ArticleRecord:
        if item.page.recheck_of is not None:  # a stored article: its story is known
            return item
        with self._sessions() as session:

            def find_exact(fingerprint: str) -> int | None:
                found = find_copy_by_fingerprint(session, fingerprint)
                return found.id if found is not None else None

            def find_canonical(url: str) -> int | None:
                found = find_by_canonical_url(session, url)
                return found.id if found is not None else None

            fingerprints = item.fingerprints if isinstance(item, PreparedArticle) else None
            check = check_copy(item, self.index, find_exact, find_canonical, fingerprints)
        self._hold(item, check)
        assert self.crawler.stats is not None
        event = f"stories/{check.kind.value}_copy" if check.kind else "stories/new"
        count_event(self.crawler.stats, event, item.page.source_id)
        if check.kind is not None:
            logger.info(
                "%s is a%s copy of article %d%s",
                item.canonical_url,
                "n exact" if check.kind is CopyKind.EXACT else f" {check.kind.value}",
                check.copy_of,
                f" (similarity {check.similarity:.2f})" if check.similarity else "",
            )
        return replace(item, copy_check=check)

    def _hold(self, item: ArticleRecord, check: CopyCheck) -> None:
        """The article joins the index under a provisional key until it is announced stored."""
        if check.signature is None or check.kind is CopyKind.EXACT:
            return
        key = PENDING + item.canonical_url
        if key not in self.index:  # else the same page twice: the second is not stored
            self.index.add(key, signature_from_bytes(check.signature))
            self._pending[key] = item.page

    def _release(self, item: ArticleRecord) -> None:
        key = PENDING + item.canonical_url
        if self._pending.get(key) is item.page:
            del self._pending[key]
            self.index.remove(key)

    def item_scraped(self, item: object) -> None:
        """Once stored, an article's signature joins the index for the rest of the crawl."""
        if not isinstance(item, ArticleRecord):
            return
        self._release(item)
        check = item.copy_check
        if item.article_id is None or check is None or check.signature is None:
            return
        if check.kind is CopyKind.EXACT:
            return
        key = str(item.article_id)
        if key not in self.index:
            self.index.add(key, signature_from_bytes(check.signature))

    def item_left(self, item: object) -> None:
        """A dropped or failed article leaves the index (a page stored already, an error)."""
        if isinstance(item, ArticleRecord):
            self._release(item)

    def close_spider(self) -> None:
        self._engine.dispose()
