"""The source spider: polls feeds, sitemaps, list pages, homepages and query feeds, politely.

Every poll is conditional: the ETag and Last-Modified of the last poll are sent, and a
304, or a body whose hash has not changed (some servers ignore validators), ends the
poll there. A changed body is parsed into entries (links with a title and a date when
known); each poll's yield sets when the target is polled next (:mod:`crawler.polling`).

Articles already in the database are never requested again: entry links are
canonicalized and looked up before any request is made (:mod:`crawler.spiders.articles`).
Every refusal and failure is logged once and counted under ``veille/...`` stats, and the
crawl goes on.

In distributed mode the polls that ``start()`` makes are fetched by other processes
(``veille worker``): a worker's spider makes no request of its own (``worker=True``),
reads each target's state from the database when its poll comes back (another worker
may have polled it since), and learns everything else from the request's meta.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self, TypeVar

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from crawler.config import CrawlConfig, SourceConfig
from crawler.discovery import discover_feeds
from crawler.failures import failure_reason
from crawler.feed_parser import FeedEntry, NotAFeed, parse_feed
from crawler.link_picker import pick_links
from crawler.polling import PollBounds, after_failure, after_success, failure_weight, is_due
from crawler.query_feeds import (
    GoogleNewsLinks,
    LinkDecoder,
    decode_with_googlenewsdecoder,
    google_news_token_key,
    read_publishers,
    strip_publisher_suffix,
)
from crawler.sitemaps import (
    NotASitemap,
    SitemapTooLarge,
    iter_robots_sitemaps,
    parse_sitemap,
)
from crawler.spiders.articles import (
    ROUND,
    ArticleSpider,
    declared_encoding,
    is_html,
    request_failed,
    size_of,
)
from crawler.targets import Target, configured_targets, pagination_depth, sitemap_max_age
from storage.models import PollKind
from storage.poll_state import (
    PollResult,
    TargetState,
    announce_targets,
    forget_body,
    load_targets,
    record_poll,
    resolved_links,
    save_resolved_link,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

_DISCOVERED_KINDS = (PollKind.FEED.value, PollKind.SITEMAP.value)


class PollFailed(Exception):
    """A poll got an answer that cannot be used; ``reason`` is counted."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SourceSpider(ArticleSpider):
    name = "sources"
    link_decoder: LinkDecoder = staticmethod(decode_with_googlenewsdecoder)
    """Decodes Google News links (replaced in tests: the real one asks Google)."""

    def __init__(
        self,
        sources: list[SourceConfig],
        crawl_config: CrawlConfig | None = None,
        *,
        due_only: bool = False,
        dry_run: bool = False,
        worker: bool = False,
        round_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(sources, dry_run=dry_run, **kwargs)
        self.crawl_config = crawl_config or CrawlConfig()
        self.due_only = due_only
        self.worker = worker
        """Makes no request of its own: takes them from the shared frontier."""
        self.round_id = round_id
        """Set by an enqueue crawl: the round its requests belong to."""
        self.bounds = PollBounds(
            self.crawl_config.poll_min_interval, self.crawl_config.poll_max_interval
        )
        self._states: dict[tuple[str, str], TargetState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        initial = crawler.settings.getfloat("VEILLE_INITIAL_INTERVAL", 3600)
        spider.initial_interval = timedelta(seconds=initial)
        return spider

    # Polling

    async def start(self) -> AsyncIterator[Request]:
        if self.worker:
            return
        with self._sessions() as session:
            self._states = load_targets(session, [source.id for source in self.sources])
        now = datetime.now(UTC)
        for source in self.sources:
            targets = configured_targets(source)
            for (source_id, url), state in self._states.items():
                if (
                    source_id == source.id
                    and state.discovered_from is not None
                    and not state.gone
                    and state.kind in _DISCOVERED_KINDS
                ):
                    kind = PollKind(state.kind)
                    targets.append(Target(source, url, kind, discovered_from=state.discovered_from))
            for target in targets:
                state = self._states.get((source.id, target.url))
                if self.due_only and state is not None and not is_due(state.next_poll_at, now):
                    self._count("feeds/not_due", source)
                    continue
                request = self._poll_request(target, self.round_id)
                if request is not None:
                    yield request
        for source in self.sources:
            for request in self.source_rechecks(source, self.round_id):
                yield request

    def _poll_request(self, target: Target, round_id: str | None) -> Request | None:
        key = (target.source.id, target.url)
        polled = self.round_memory(round_id).polled
        if key in polled:
            return None
        polled.add(key)
        state = self._states.get(key)
        headers = {}
        known_hash = None
        if state is not None and target.remembered and not self.dry_run:
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
            known_hash = state.body_hash
        self._count("feeds/requested", target.source)
        return Request(
            target.url,
            headers=headers,
            callback=self.parse_target,
            errback=self.target_failed,
            meta={
                "veille_source": target.source,
                "veille_target": target,
                "handle_httpstatus_list": [304],
                ROUND: round_id,
                # The body this poll is compared with: the one known when it was asked for.
                # A worker that died after remembering a newer body, but before its articles
                # were safe in the frontier, must not make the poll that replaces it skip them.
                "veille_known_hash": known_hash,
            },
            dont_filter=True,
        )

    def _state_of(self, target: Target, round_id: str | None) -> TargetState | None:
        """What is remembered of ``target``; a worker reads it from the database every time,
        since the poll was asked for by another process and other workers poll too."""
        key = (target.source.id, target.url)
        if self.worker:
            self.round_memory(round_id).polled.add(key)
            with self._sessions() as session:
                self._states.update(load_targets(session, [target.source.id]))
        return self._states.get(key)

    async def parse_target(self, response: Response) -> AsyncIterator[Request]:
        target: Target = response.meta["veille_target"]
        round_id: str | None = response.meta.get(ROUND)
        source = target.source
        state = self._state_of(target, round_id)
        if response.status == 304:
            self._count("feeds/polled", source)
            self._count("feeds/not_modified", source)
            self._record_unchanged(target, state, response, "not_modified")
            return
        body_hash = hashlib.sha256(response.body).hexdigest()
        known_hash = response.meta.get("veille_known_hash", state.body_hash if state else None)
        if not self.dry_run and state is not None and target.remembered and known_hash == body_hash:
            self._count("feeds/polled", source)
            self._count("feeds/unchanged", source)
            logger.debug("%s %s unchanged (same body)", target.kind.value, target.url)
            self._record_unchanged(target, state, response, "unchanged")
            return
        try:
            entries, follow = self._parse_body(target, response, round_id)
        except PollFailed as error:
            logger.warning(
                "%s %s of source %s %s",
                target.kind.value.capitalize(),
                response.url,
                source.id,
                error,
            )
            self._poll_failed(target, state, error.reason, str(error))
            return
        self._count("feeds/polled", source)
        if target.kind is PollKind.QUERY:
            entries = await self._resolve_query_links(entries, source, response)
        poll = (source.id, target.url) if target.remembered else None
        requests, new, seen = self._follow_entries(entries, source, response.url, poll, round_id)
        if self.dry_run:
            self.report_poll(target, response.status, len(entries))
        # Remembered before any article is requested: an article that fails makes the next
        # poll read this body again (see ArticleSpider.article_failed).
        self._record_changed(target, state, response, body_hash, len(entries), new, seen)
        for request in [*follow, *requests]:
            yield request

    def _parse_body(
        self, target: Target, response: Response, round_id: str | None
    ) -> tuple[list[FeedEntry], list[Request]]:
        if target.kind in (PollKind.FEED, PollKind.QUERY):
            return self._feed_entries(target, response), []
        if target.kind is PollKind.SITEMAP:
            return self._sitemap_entries(target, response, round_id)
        if target.kind is PollKind.PAGE:
            return self._page_entries(target, response, round_id)
        return [], self._discovered_feeds(target, response, round_id)

    def _feed_entries(self, target: Target, response: Response) -> list[FeedEntry]:
        source = target.source
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in ((k, response.headers.get(k) or b"") for k in response.headers)
        }
        try:
            feed = parse_feed(response.body, response.url, headers)
        except NotAFeed as error:
            content_type = headers.get("content-type", "no content-type")
            raise PollFailed(
                "not_a_feed", f"is not a feed ({content_type}, {size_of(response.body)}): {error}"
            ) from None
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
        if self.max_entries is not None:
            entries = entries[: self.max_entries]
        return entries

    async def _resolve_query_links(
        self, entries: list[FeedEntry], source: SourceConfig, response: Response
    ) -> list[FeedEntry]:
        """Query-feed entries with publisher URLs for Google News tokens, and clean titles.

        Decoding makes blocking HTTP requests to Google: it runs in a thread. Decoded links
        are remembered in the database, so each token is decoded once.
        """
        publishers = read_publishers(response.body, response.url)
        keys = [key for entry in entries if (key := google_news_token_key(entry.link))]
        with self._sessions() as session:
            cache = resolved_links(session, keys)
        known = dict(cache)
        links = GoogleNewsLinks(
            cache=cache, enabled=self.crawl_config.decode_google_news, decoder=self.link_decoder
        )
        results = await self.in_thread(links.resolve_many, [entry.link for entry in entries])
        for outcome, count in links.counts.items():
            self._count(f"entries/google_news/{outcome.value}", source, count)
        learned = {key: url for key, url in cache.items() if known.get(key) != url}
        if learned:
            with self._sessions.begin() as session:
                for key, url in learned.items():
                    save_resolved_link(session, key, url, _now())
        resolved = []
        for entry, result in zip(entries, results, strict=True):
            title = strip_publisher_suffix(entry.title, publishers.get(entry.link))
            resolved.append(replace(entry, link=result.link, title=title or entry.title))
        return resolved

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in Twisted's thread pool, awaited without blocking the crawl."""
        return await maybe_deferred_to_future(deferToThread(function, *args))

    def _sitemap_entries(
        self, target: Target, response: Response, round_id: str | None
    ) -> tuple[list[FeedEntry], list[Request]]:
        source = target.source
        crawl = self.crawl_config
        if target.is_robots_txt:
            children = list(iter_robots_sitemaps(response.body, response.url))
            if not children:
                raise PollFailed("not_a_sitemap", "names no sitemap")
            return [], self._child_sitemaps(target, children, round_id)
        not_before = datetime.now(UTC) - sitemap_max_age(source, crawl)
        try:
            sitemap = parse_sitemap(
                response.body, max_size=crawl.max_sitemap_size, not_before=not_before
            )
        except SitemapTooLarge as error:
            raise PollFailed("too_large", f"is refused: {error}") from None
        except NotASitemap as error:
            raise PollFailed("not_a_sitemap", f"is not a sitemap: {error}") from None
        if sitemap.too_old:
            self._count("sitemaps/too_old", source, sitemap.too_old)
        if sitemap.is_index:
            children = [child.url for child in sitemap.children]
            return [], self._child_sitemaps(target, children, round_id)
        return sitemap.entries, []

    def _child_sitemaps(
        self, target: Target, urls: list[str], round_id: str | None
    ) -> list[Request]:
        """Requests for the sitemaps an index (or robots.txt) lists, within the depth limit."""
        source = target.source
        if not self.dry_run:
            with self._sessions.begin() as session:
                announce_targets(
                    session, source.id, target.url, urls, PollKind.SITEMAP.value, _now()
                )
        if target.depth >= self.crawl_config.max_sitemap_depth:
            logger.warning(
                "Sitemap index %s of source %s is %d levels deep: not followed further",
                target.url,
                source.id,
                target.depth,
            )
            self._count("sitemaps/too_deep", source)
            return []
        requests = []
        polled = self.round_memory(round_id).polled
        for url in urls:
            if (source.id, url) in polled:
                self._count("sitemaps/repeated", source)
                continue
            child = Target(source, url, PollKind.SITEMAP, target.url, depth=target.depth + 1)
            request = self._poll_request(child, round_id)
            if request is not None:
                requests.append(request)
        return requests

    def _page_entries(
        self, target: Target, response: Response, round_id: str | None
    ) -> tuple[list[FeedEntry], list[Request]]:
        source = target.source
        if not is_html(response):
            raise PollFailed("not_html", f"is not HTML ({size_of(response.body)})")
        picked = pick_links(
            response.body,
            response.url,
            pattern=source.link_pattern,
            max_links=self.crawl_config.max_links_per_page,
            encoding=declared_encoding(response),
            allowed_domains=source.allowed_domains,
        )
        for reason, count in picked.refused.items():
            if count:
                self._count(f"pages/links_refused/{reason}", source, count)
        if picked.refused.get("over_limit"):
            logger.warning(
                "List page %s of source %s has more article links than the %d taken",
                response.url,
                source.id,
                self.crawl_config.max_links_per_page,
            )
        entries = [FeedEntry(link=link.url, title=link.text or None) for link in picked.articles]
        follow = []
        if target.depth < pagination_depth(source, self.crawl_config):
            for url in picked.next_pages[:1]:
                page = Target(source, url, PollKind.PAGE, target.url, target.depth + 1, False)
                request = self._poll_request(page, round_id)
                if request is not None:
                    follow.append(request)
        return entries, follow

    def _discovered_feeds(
        self, target: Target, response: Response, round_id: str | None
    ) -> list[Request]:
        source = target.source
        if not is_html(response):
            raise PollFailed("not_html", f"is not HTML ({size_of(response.body)})")
        feeds = discover_feeds(
            response.text, response.url, allow_offsite=bool(source.allowed_domains)
        )
        if not feeds:
            raise PollFailed("no_feed_announced", "announces no feed")
        logger.info("Homepage %s announces %d feed(s)", response.url, len(feeds))
        self._count("feeds/discovered", source, len(feeds))
        if not self.dry_run:
            with self._sessions.begin() as session:
                announce_targets(session, source.id, target.url, feeds, PollKind.FEED.value, _now())
        requests = []
        for url in feeds:
            request = self._poll_request(Target(source, url, PollKind.FEED, target.url), round_id)
            if request is not None:
                requests.append(request)
        return requests

    def target_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._target_failed(request, failure)
        self.crawler.signals.send_catch_log(signal=request_failed, request=request)

    def _target_failed(self, request: Request, failure: Failure) -> None:
        target: Target = request.meta["veille_target"]
        reason = failure_reason(failure)
        logger.warning(
            "%s %s of source %s failed: %s (%s)",
            target.kind.value.capitalize(),
            request.url,
            target.source.id,
            reason,
            failure.getErrorMessage(),
        )
        state = self._state_of(target, request.meta.get(ROUND))
        self._poll_failed(target, state, reason, failure.getErrorMessage())

    # Remembering each poll

    def _pace_args(self, target: Target, state: TargetState | None) -> dict[str, Any]:
        return {
            "now": _now(),
            "bounds": self.bounds,
            "fixed": target.source.interval,
            "initial": self.initial_interval,
        }

    def _record_unchanged(
        self, target: Target, state: TargetState | None, response: Response, outcome: str
    ) -> None:
        if self.dry_run:
            self.report_poll(target, response.status, 0, outcome)
            return
        if not target.remembered:
            return
        pace = after_success(
            state.interval if state else None,
            new_items=0,
            seen_items=0,
            **self._pace_args(target, state),
        )
        self._save(
            target,
            PollResult(
                outcome=outcome,
                at=_now(),
                next_poll_at=pace.next_poll_at,
                interval=pace.interval,
                etag=_header(response, b"ETag"),
                last_modified=_header(response, b"Last-Modified"),
            ),
        )

    def _record_changed(
        self,
        target: Target,
        state: TargetState | None,
        response: Response,
        body_hash: str,
        found: int,
        new: int,
        seen: int,
    ) -> None:
        if self.dry_run or not target.remembered:
            return
        pace = after_success(
            state.interval if state else None,
            new_items=new,
            seen_items=seen,
            **self._pace_args(target, state),
        )
        self._save(
            target,
            PollResult(
                outcome="changed",
                at=_now(),
                next_poll_at=pace.next_poll_at,
                interval=pace.interval,
                etag=_header(response, b"ETag"),
                last_modified=_header(response, b"Last-Modified"),
                body_hash=body_hash,
                items_found=found,
                items_new=new,
            ),
        )

    def _poll_failed(
        self, target: Target, state: TargetState | None, reason: str, message: str
    ) -> None:
        self._count(f"feeds/failed/{reason}", target.source)
        if self.dry_run:
            self.report_poll(target, None, 0, f"failed: {reason}")
            return
        if not target.remembered:
            return
        pace = after_failure(
            state.interval if state else None,
            reason=reason,
            consecutive_failures=state.consecutive_failures if state else 0,
            failure_score=state.failure_score if state else 0.0,
            **self._pace_args(target, state),
        )
        self._save(
            target,
            PollResult(
                outcome="failed",
                at=_now(),
                next_poll_at=pace.next_poll_at,
                interval=pace.interval,
                consecutive_failures=pace.consecutive_failures,
                failure_score=pace.failure_score,
                error=f"{reason}: {message}"[:1000],
            ),
        )
        if target.discovered_from is not None and failure_weight(reason) >= 1.0:
            # The announcer may have moved its feed: read it again next time.
            logger.info(
                "Discovered %s %s failed (%s): %s will be read again for its links",
                target.kind.value,
                target.url,
                reason,
                target.discovered_from,
            )
            with self._sessions.begin() as session:
                forget_body(session, target.source.id, target.discovered_from)

    def _save(self, target: Target, result: PollResult) -> None:
        with self._sessions.begin() as session:
            record_poll(
                session,
                target.source.id,
                target.url,
                target.kind.value,
                result,
                discovered_from=target.discovered_from,
            )
        key = (target.source.id, target.url)
        previous = self._states.get(key)
        self._states[key] = TargetState(
            url=target.url,
            kind=target.kind.value,
            discovered_from=target.discovered_from,
            gone=False,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=result.body_hash or (previous.body_hash if previous else None),
            next_poll_at=result.next_poll_at,
            interval=result.interval,
            consecutive_failures=result.consecutive_failures,
            failure_score=result.failure_score,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
