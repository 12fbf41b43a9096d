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

**Several workers** (the Scrapy setting ``VEILLE_REDIS_URL``; keys under
``VEILLE_REDIS_PREFIX``, default ``veille``) share one index in Redis
(:mod:`pipelines.shared_index`) instead: the first worker of a crawl-set loads the window
from the database, later ones find it there; each worker evicts what has left the window when
it opens. A look-up and the provisional hold that follows are one step for all workers (a
Redis lock). When the best match is a provisional key whose article is not in the database
yet, the check waits (polling every :data:`POLL_SECONDS`, other items go on meanwhile) until
that article is stored (this one joins it) or released (this one is checked again); a
provisional key expires after :data:`~pipelines.shared_index.PENDING_SECONDS`, so a worker that
died holding one does not block the others for longer. (``process_item`` is a coroutine for
that wait; Scrapy awaits it. With the index in memory it never waits.)
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, Self

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import sleep
from sqlalchemy.orm import Session

from pipelines.cpu_pool import PreparedArticle
from pipelines.fingerprint import (
    DEFAULT_THRESHOLD,
    NearDuplicateIndex,
    content_fingerprint,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
)
from pipelines.shared_index import DEFAULT_PREFIX, PENDING_SECONDS, SharedNearDuplicateIndex
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.records import ArticleRecord, CopyCheck, CopyKind, FetchedPage
from storage.stories import (
    find_copy_id_by_fingerprint,
    find_id_by_canonical_url,
    iter_dated_signatures,
    iter_signatures,
)
from storage.urls import UnusableUrl, canonicalize_url

if TYPE_CHECKING:
    from datasketch import LeanMinHash

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_DAYS = 30
PENDING = "pending:"
"""Index keys of articles passed in this crawl whose article id is not known yet: this, then
the canonical URL."""
POLL_SECONDS = 0.1
"""How often a check waiting for a provisional original looks again (shared index)."""
EVICT_EVERY = timedelta(hours=1)
"""How often a long-running worker evicts what has left the window (shared index)."""


class MatchIndex(Protocol):
    """What :func:`check_copy` looks up: an index in memory, or the one shared in Redis."""

    def find_match(
        self, signature: LeanMinHash, threshold: float | None = None
    ) -> tuple[str, float] | None: ...


class OriginalPending(Exception):
    """The best match is a provisional key whose article is not in the database yet."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


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
    index: MatchIndex,
    find_exact: Callable[[str], int | None],
    find_canonical: Callable[[str], int | None],
    fingerprints: CopyCheck | None = None,
) -> CopyCheck:
    """The verdict on one article, given lookups of stored ids by fingerprint and by URL, and
    its :func:`fingerprint_article` if computed already."""
    check = check_stored_copy(record, find_exact, find_canonical, fingerprints)
    if check.kind is not None or check.signature is None:
        return check
    return check_near_copy(check, index, find_canonical)


def check_stored_copy(
    record: ArticleRecord,
    find_exact: Callable[[str], int | None],
    find_canonical: Callable[[str], int | None],
    fingerprints: CopyCheck | None = None,
) -> CopyCheck:
    """The verdict that needs the database only: an exact copy, or a page that names a stored
    page as canonical; else the fingerprints with no verdict."""
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
    return CopyCheck(fingerprint, signature_bytes)


def check_near_copy(
    check: CopyCheck, index: MatchIndex, find_canonical: Callable[[str], int | None]
) -> CopyCheck:
    """The verdict of the index on an article that :func:`check_stored_copy` left open.

    ``find_canonical`` finds the article of a provisional key; it may raise
    :class:`OriginalPending` when that article is not stored yet.
    """
    fingerprint, signature_bytes = check.fingerprint, check.signature
    assert signature_bytes is not None
    match = index.find_match(signature_from_bytes(signature_bytes))
    if match is not None:
        key, similarity = match
        # In one process, a pending article was stored when its turn came, before this one's
        # (or dropped as a page stored already: then that stored page is the original).
        pending = key.startswith(PENDING)
        original = find_canonical(key.removeprefix(PENDING)) if pending else int(key)
        if original is not None:
            return CopyCheck(fingerprint, signature_bytes, original, CopyKind.NEAR, similarity)
    return CopyCheck(fingerprint, signature_bytes)


class DedupPipeline:
    def __init__(
        self,
        crawler: Crawler,
        database_url: str,
        threshold: float,
        window: timedelta,
        redis_url: str | None = None,
        redis_prefix: str = DEFAULT_PREFIX,
    ):
        self.crawler = crawler
        self.window = window
        self.threshold = threshold
        self.shared: SharedNearDuplicateIndex | None = None
        """The index in Redis that every worker shares, if ``VEILLE_REDIS_URL`` is set."""
        if redis_url:
            self.shared = SharedNearDuplicateIndex.from_url(redis_url, redis_prefix, threshold)
        self._index: NearDuplicateIndex | SharedNearDuplicateIndex | None = None
        self.wait_seconds = PENDING_SECONDS + 5
        """How long a check waits for a provisional original at most (shared index)."""
        self._pending: dict[str, FetchedPage] = {}
        """Provisional index keys, with the page of the article that holds each."""
        self._evicted_at = 0.0
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
            settings.get("VEILLE_REDIS_URL") or None,
            settings.get("VEILLE_REDIS_PREFIX") or DEFAULT_PREFIX,
        )
        crawler.signals.connect(pipeline.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(pipeline.item_left, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.item_left, signal=signals.item_error)
        return pipeline

    @property
    def index(self) -> NearDuplicateIndex | SharedNearDuplicateIndex:
        """The near-duplicate index, with the signatures of the window (:meth:`load_index`)."""
        return self.load_index()

    def load_index(self) -> NearDuplicateIndex | SharedNearDuplicateIndex:
        """The index, loaded the first time: when the first article is checked, so that a
        crawl that finds no new article does not load it (nor import datasketch)."""
        if self._index is None:
            since = datetime.now(UTC) - self.window
            if self.shared is not None:
                self._open_shared(self.shared, since)
                self._index = self.shared
            else:
                self._index = self._load_local(since)
        return self._index

    def _load_local(self, since: datetime) -> NearDuplicateIndex:
        index = NearDuplicateIndex(threshold=self.threshold)
        loaded = skipped = 0
        with self._sessions() as session:
            for article_id, data in iter_signatures(session, since):
                try:
                    index.add(str(article_id), signature_from_bytes(data))
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
        return index

    def _open_shared(self, shared: SharedNearDuplicateIndex, since: datetime) -> None:
        """The first worker of a crawl-set loads the window; every worker evicts."""
        with shared.loading() as first:
            if first:
                with self._sessions() as session:
                    rows = iter_dated_signatures(session, since)
                    loaded, skipped = shared.add_many(
                        (str(article_id), data, _aware(at)) for article_id, data, at in rows
                    )
                shared.mark_loaded(datetime.now(UTC))
                logger.info(
                    "Shared near-duplicate index %s: loaded %d signatures of the last %d days "
                    "(%d of an older format)",
                    shared.namespace,
                    loaded,
                    self.window.days,
                    skipped,
                )
            evicted = shared.evict(since)
        self._evicted_at = time.monotonic()
        logger.info(
            "Shared near-duplicate index %s: %d signatures (%d evicted: older than %d days, or "
            "provisional and expired)",
            shared.namespace,
            len(shared),
            evicted,
            self.window.days,
        )

    async def process_item(self, item: ArticleRecord) -> ArticleRecord:
        if item.page.recheck_of is not None:  # a stored article: its story is known
            return item
        fingerprints = item.fingerprints if isinstance(item, PreparedArticle) else None
        self.load_index()
        if self.shared is None:
            check = self._check(item, fingerprints)
        else:
            check = await self._check_shared(self.shared, item, fingerprints)
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

    def _check(self, item: ArticleRecord, fingerprints: CopyCheck | None) -> CopyCheck:
        with self._sessions() as session:
            find_exact, find_canonical = _lookups(session)
            check = check_copy(item, self.index, find_exact, find_canonical, fingerprints)
        self._hold(item, check)
        return check

    async def _check_shared(
        self,
        shared: SharedNearDuplicateIndex,
        item: ArticleRecord,
        fingerprints: CopyCheck | None,
    ) -> CopyCheck:
        """As :meth:`_check`, waiting while the best match is a provisional key whose article
        is not stored yet (held by this worker or another)."""
        self._evict_now_and_then(shared)
        started: float | None = None
        while True:
            with self._sessions() as session:
                find_exact, find_canonical = _lookups(session)
                check = check_stored_copy(item, find_exact, find_canonical, fingerprints)
                if check.kind is not None or check.signature is None:
                    return check
                try:
                    with shared.locked():
                        verdict = check_near_copy(check, shared, _or_wait(find_canonical))
                        self._hold(item, verdict)
                    return verdict
                except OriginalPending as pending:
                    if started is None:
                        started = time.monotonic()
                        self._count("dedup/waited", item)
                        logger.debug(
                            "%s waits for %s, a likely original not stored yet",
                            item.canonical_url,
                            pending.url,
                        )
                    elif time.monotonic() - started > self.wait_seconds:
                        self._count("dedup/wait_timeout", item)
                        logger.warning(
                            "%s: %s, its likely original, was not stored within %.0f s; "
                            "checked as a new article",
                            item.canonical_url,
                            pending.url,
                            self.wait_seconds,
                        )
                        with shared.locked():
                            self._hold(item, check)
                        return check
            await sleep(POLL_SECONDS)

    def _evict_now_and_then(self, shared: SharedNearDuplicateIndex) -> None:
        """A long-running worker evicts what has left the window about every hour."""
        if time.monotonic() - self._evicted_at < EVICT_EVERY.total_seconds():
            return
        self._evicted_at = time.monotonic()
        evicted = shared.evict(datetime.now(UTC) - self.window)
        logger.info("Shared near-duplicate index %s: %d evicted", shared.namespace, evicted)

    def _count(self, event: str, item: ArticleRecord) -> None:
        assert self.crawler.stats is not None
        count_event(self.crawler.stats, event, item.page.source_id)

    def _hold(self, item: ArticleRecord, check: CopyCheck) -> None:
        """The article joins the index under a provisional key until it is announced stored."""
        if check.signature is None or check.kind is CopyKind.EXACT:
            return
        key = PENDING + item.canonical_url
        signature = signature_from_bytes(check.signature)
        if self.shared is not None:
            if self.shared.hold(key, signature):  # else held or stored by another already
                self._pending[key] = item.page
        elif key not in self.index:  # else the same page twice: the second is not stored
            self.index.add(key, signature)
            self._pending[key] = item.page

    def _release(self, item: ArticleRecord) -> bool:
        """The article's provisional key leaves the index; whether it held one."""
        key = PENDING + item.canonical_url
        if self._pending.get(key) is not item.page:
            return False
        del self._pending[key]
        if self.shared is None:
            self.index.remove(key)
        elif item.copy_check is not None and item.copy_check.signature is not None:
            self.shared.release(key, signature_from_bytes(item.copy_check.signature))
        return True

    def item_scraped(self, item: object) -> None:
        """Once stored, an article's signature joins the index for the rest of the crawl."""
        if not isinstance(item, ArticleRecord):
            return
        check = item.copy_check
        if (
            item.article_id is None
            or check is None
            or check.signature is None
            or check.kind is CopyKind.EXACT
        ):
            self._release(item)
            return
        if self.shared is not None:
            self._promote(self.shared, item)
            return
        self._release(item)
        key = str(item.article_id)
        if key not in self.index:
            self.index.add(key, signature_from_bytes(check.signature))

    def _promote(self, shared: SharedNearDuplicateIndex, item: ArticleRecord) -> None:
        """The provisional key becomes the article id in one step, as other workers see it."""
        assert item.copy_check is not None and item.copy_check.signature is not None
        signature = signature_from_bytes(item.copy_check.signature)
        key, held = str(item.article_id), PENDING + item.canonical_url
        if self._pending.get(held) is item.page:
            del self._pending[held]
            shared.promote(held, key, signature, datetime.now(UTC))
        else:
            shared.add(key, signature)

    def item_left(self, item: object) -> None:
        """A dropped or failed article leaves the index (a page stored already, an error)."""
        if isinstance(item, ArticleRecord):
            self._release(item)

    def close_spider(self) -> None:
        if self.shared is not None:
            for key in list(self._pending):  # items that never finished: others need not wait
                try:
                    self.shared.remove(key)
                except KeyError:  # expired and taken over, or evicted
                    continue
            self._pending.clear()
            self.shared.client.close()
        self._engine.dispose()


def _lookups(
    session: Session,
) -> tuple[Callable[[str], int | None], Callable[[str], int | None]]:
    """Stored article ids by content fingerprint, and by canonical URL."""

    def find_exact(fingerprint: str) -> int | None:
        return find_copy_id_by_fingerprint(session, fingerprint)

    def find_canonical(url: str) -> int | None:
        return find_id_by_canonical_url(session, url)

    return find_exact, find_canonical


def _or_wait(find_canonical: Callable[[str], int | None]) -> Callable[[str], int]:
    """``find_canonical`` for a provisional key: its article, or :class:`OriginalPending`."""

    def find_held(url: str) -> int:
        found = find_canonical(url)
        if found is None:
            raise OriginalPending(url)
        return found

    return find_held


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes: they are UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
