"""The feed spider: polls RSS/Atom/JSON feeds and fetches the articles they link to.

Articles already in the database are never requested again: entry links are
canonicalized and looked up before any request is made. Every refusal and failure
is logged once and counted under ``veille/...`` stats, and the crawl goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Response, TextResponse
from sqlalchemy.orm import Session
from twisted.python.failure import Failure

from crawler.config import SourceConfig
from crawler.failures import failure_reason
from crawler.feed_parser import FeedEntry, NotAFeed, parse_feed
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.models import UrlOutcome
from storage.records import FetchedPage
from storage.repository import find_known_urls, remember_url
from storage.urls import UnusableUrl, canonicalize_url, host_of
from storage.versions import RecheckTarget, find_recheck_due, mark_checked

logger = logging.getLogger(__name__)


def is_allowed_host(url: str, allowed_domains: list[str]) -> bool:
    """True when no domains are configured, or the URL's host is one of them or below one."""
    if not allowed_domains:
        return True
    host = host_of(url)
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


class FeedSpider(Spider):
    name = "feeds"

    def __init__(self, sources: list[SourceConfig], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources
        self._handled: set[str] = set()
        """Canonical URLs requested or found known during this run: feeds overlap."""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        engine = create_database_engine(crawler.settings["VEILLE_DATABASE_URL"])
        spider._sessions = make_session_factory(engine)
        spider._max_entries = crawler.settings.getint("VEILLE_MAX_ENTRIES_PER_FEED") or None
        recheck_age = crawler.settings.getfloat("VEILLE_RECHECK_AGE")
        spider._recheck_age = timedelta(seconds=recheck_age) if recheck_age > 0 else None
        spider._recheck_every = timedelta(
            seconds=crawler.settings.getfloat("VEILLE_RECHECK_EVERY", 6 * 3600)
        )
        return spider

    def _count(self, event: str, source: SourceConfig, count: int = 1) -> None:
        assert self.crawler.stats is not None
        count_event(self.crawler.stats, event, source.id, count)

    async def start(self) -> AsyncIterator[Request]:
        for source in self.sources:
            for feed_url in source.feeds:
                self._count("feeds/requested", source)
                yield Request(
                    feed_url,
                    callback=self.parse_feed,
                    errback=self.feed_failed,
                    meta={"veille_source": source},
                    dont_filter=True,
                )

    def parse_feed(self, response: Response) -> Iterator[Request]:
        source: SourceConfig = response.meta["veille_source"]
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in ((k, response.headers.get(k) or b"") for k in response.headers)
        }
        try:
            feed = parse_feed(response.body, response.url, headers)
        except NotAFeed as error:
            logger.warning(
                "Feed %s of source %s is not a feed (%s, %s): %s",
                response.url,
                source.id,
                headers.get("content-type", "no content-type"),
                _size(response.body),
                error,
            )
            self._count("feeds/failed/not_a_feed", source)
            return
        self._count("feeds/polled", source)
        if not feed.is_well_formed:
            logger.warning(
                "Feed %s of source %s is ill-formed but usable (%d entries): %s",
                response.url,
                source.id,
                len(feed.entries),
                feed.problem,
            )
            self._count("feeds/ill_formed", source)
        if feed.entries_without_link:
            self._count("entries/refused/no_link", source, feed.entries_without_link)
        entries = list(feed.entries)
        if self._max_entries is not None:
            entries = entries[: self._max_entries]
        yield from self._follow_entries(entries, source, response.url)

    def _follow_entries(
        self, entries: list[FeedEntry], source: SourceConfig, feed_url: str
    ) -> Iterator[Request]:
        self._count("entries/seen", source, len(entries))
        candidates: dict[str, FeedEntry] = {}
        for entry in entries:
            try:
                canonical = canonicalize_url(entry.link)
            except UnusableUrl as error:
                logger.warning("Refused entry link in feed %s: %s", feed_url, error)
                self._count("entries/refused/bad_url", source)
                continue
            if not is_allowed_host(entry.link, source.allowed_domains):
                logger.info(
                    "Skipped %s from feed %s: host not in allowed_domains of source %s",
                    entry.link,
                    feed_url,
                    source.id,
                )
                self._count("entries/refused/offsite", source)
                continue
            candidates.setdefault(canonical, entry)
        with self._sessions() as session:
            known = find_known_urls(session, candidates)
            due = self._recheck_due(session, [url for url in candidates if url in known])
        for canonical, entry in candidates.items():
            if canonical in self._handled:
                continue
            self._handled.add(canonical)
            meta = {
                "veille_source": source,
                "veille_entry": entry,
                "veille_feed_url": feed_url,
                "veille_canonical": canonical,
            }
            if canonical in due:
                self._count("articles/rechecked", source)
                yield self._recheck_request(entry.link.split("#", 1)[0], due[canonical], meta)
                continue
            if canonical in known:
                self._count("articles/already_known", source)
                continue
            self._count("articles/requested", source)
            yield Request(
                entry.link.split("#", 1)[0],
                callback=self.parse_article,
                errback=self.article_failed,
                meta=meta,
            )

    def _recheck_due(self, session: Session, known: list[str]) -> dict[str, RecheckTarget]:
        """Known articles young enough to be fetched again for changes, and not seen lately."""
        if self._recheck_age is None or not known:
            return {}
        now = datetime.now(UTC)
        return find_recheck_due(
            session,
            known,
            fetched_after=now - self._recheck_age,
            checked_before=now - self._recheck_every,
        )

    def _recheck_request(self, url: str, target: RecheckTarget, meta: dict[str, Any]) -> Request:
        headers = {}
        if target.etag:
            headers["If-None-Match"] = target.etag
        if target.last_modified:
            headers["If-Modified-Since"] = target.last_modified
        return Request(
            url,
            headers=headers,
            callback=self.parse_article,
            errback=self.article_failed,
            meta={**meta, "veille_recheck": target.article_id, "handle_httpstatus_list": [304]},
            dont_filter=True,
        )

    def parse_article(self, response: Response) -> Iterator[FetchedPage]:
        source: SourceConfig = response.meta["veille_source"]
        entry: FeedEntry = response.meta["veille_entry"]
        recheck_of: int | None = response.meta.get("veille_recheck")
        if response.status == 304 and recheck_of is not None:
            self._count("articles/unchanged", source)
            with self._sessions.begin() as session:
                mark_checked(session, recheck_of, datetime.now(UTC))
            return
        content_type = response.headers.get("Content-Type")
        if not is_html(response):
            logger.warning(
                "Article %s is not HTML (%s, %s): remembered, not fetched again",
                response.url,
                content_type.decode("latin-1") if content_type else "no content-type",
                _size(response.body),
            )
            self._count("articles/failed/not_html", source)
            self._remember(response.meta["veille_canonical"], UrlOutcome.NOT_HTML, source.id)
            return
        yield FetchedPage(
            url=response.request.url if response.request else response.url,
            final_url=response.url,
            source_id=source.id,
            body=response.body,
            content_type=content_type.decode("latin-1") if content_type else None,
            encoding=getattr(response, "encoding", None),
            fetched_at=datetime.now(UTC),
            feed_url=response.meta["veille_feed_url"],
            feed_title=entry.title,
            feed_published=entry.published,
            language_hint=source.language or entry.language,
            etag=_header(response, b"ETag"),
            last_modified=_header(response, b"Last-Modified"),
            recheck_of=recheck_of,
        )

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure)
        source: SourceConfig = request.meta["veille_source"]
        logger.warning(
            "Feed %s of source %s failed: %s (%s)",
            request.url,
            source.id,
            reason,
            failure.getErrorMessage(),
        )
        self._count(f"feeds/failed/{reason}", source)

    def article_failed(self, failure: Failure) -> Iterator[FetchedPage]:
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure)
        source: SourceConfig = request.meta["veille_source"]
        if reason == "robots_txt":
            logger.info("Article %s not fetched: disallowed by robots.txt", request.url)
            self._count("entries/refused/robots_txt", source)
            return iter(())
        logger.warning(
            "Article %s not fetched: %s (%s)", request.url, reason, failure.getErrorMessage()
        )
        self._count(f"articles/failed/{reason}", source)
        if reason == "too_large":
            self._remember(request.meta["veille_canonical"], UrlOutcome.TOO_LARGE, source.id)
        return iter(())

    def _remember(self, canonical_url: str, outcome: UrlOutcome, source_id: str) -> None:
        with self._sessions.begin() as session:
            remember_url(session, canonical_url, outcome, source_id=source_id)


def is_html(response: Response) -> bool:
    if isinstance(response, HtmlResponse):
        return True
    return isinstance(response, TextResponse) and b"<html" in response.body[:4096].lower()


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _size(body: bytes) -> str:
    return f"{len(body)} bytes"
