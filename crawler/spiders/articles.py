"""Fetching the articles that polls find: each once, politely, and every failure counted.

Entry links are canonicalized and looked up in the database before any request: known
articles are not requested again, except young ones, rechecked now and then with
conditional requests to catch corrections. :class:`ArticleSpider` is the base of the
source spider; it holds no polling logic.

In a dry run (``veille sources check``) nothing is requested or stored: each entry's
fate is written to a report instead.

Every request carries in its meta what its callback needs (source, entry, the poll it
came from), picklable, so that another process can handle it: in distributed mode
(``veille worker``) a request is made by one process and fetched by another. What a
spider remembers "during this run" is kept per *round* (``veille_round`` in the meta: the
enqueue crawl that started the work), since a worker lives through many rounds.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Response, TextResponse
from sqlalchemy.orm import Session
from twisted.python.failure import Failure
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from crawler.config import SourceConfig
from crawler.failures import failure_reason
from crawler.feed_parser import FeedEntry
from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.models import UrlOutcome
from storage.poll_state import forget_body
from storage.records import FetchedPage
from storage.repository import find_known_urls, remember_url
from storage.urls import UnusableUrl, canonicalize_url, host_of
from storage.versions import (
    RecheckTarget,
    find_recheck_due,
    find_source_rechecks,
    mark_checked,
)

if TYPE_CHECKING:
    from crawler.targets import Target

logger = logging.getLogger(__name__)

request_failed = object()
"""Signal (``request``): an errback has dealt with the failure of ``request`` (recorded it).

Sent by every errback of the spiders; in distributed mode the worker's scheduler then
forgets the request (:mod:`crawler.distributed.inflight`)."""

ROUND = "veille_round"
"""Meta key: the round (enqueue crawl run) a request belongs to; None outside distributed mode."""
_ROUNDS_KEPT = 16


@dataclass
class RoundMemory:
    """What one crawl (one round of a worker) has done already: sources and indexes overlap."""

    handled: set[str] = field(default_factory=set)
    """Canonical URLs requested or found known."""
    polled: set[tuple[str, str]] = field(default_factory=set)
    """(source id, URL) of every target polled: indexes may list themselves."""


def is_allowed_host(url: str, allowed_domains: list[str]) -> bool:
    """True when no domains are configured, or the URL's host is one of them or below one."""
    if not allowed_domains:
        return True
    host = host_of(url)
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


class ArticleSpider(Spider):
    def __init__(self, sources: list[SourceConfig], *, dry_run: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.sources = sources
        self.dry_run = dry_run
        self.report: list[dict[str, Any]] = []
        self._rounds: OrderedDict[str | None, RoundMemory] = OrderedDict()

    def round_memory(self, round_id: str | None) -> RoundMemory:
        """What this round has done already (a crawl has one round, a worker many)."""
        memory = self._rounds.get(round_id)
        if memory is None:
            memory = self._rounds[round_id] = RoundMemory()
            while len(self._rounds) > _ROUNDS_KEPT:
                self._rounds.popitem(last=False)
        else:
            self._rounds.move_to_end(round_id)
        return memory

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        engine = create_database_engine(crawler.settings["VEILLE_DATABASE_URL"])
        spider._sessions = make_session_factory(engine)
        spider.max_entries = crawler.settings.getint("VEILLE_MAX_ENTRIES_PER_FEED") or None
        recheck_age = crawler.settings.getfloat("VEILLE_RECHECK_AGE")
        spider._recheck_age = timedelta(seconds=recheck_age) if recheck_age > 0 else None
        spider._recheck_every = timedelta(
            seconds=crawler.settings.getfloat("VEILLE_RECHECK_EVERY", 6 * 3600)
        )
        spider._report_path = crawler.settings.get("VEILLE_CHECK_REPORT")
        crawler.signals.connect(spider._write_report, signal=signals.spider_closed)
        return spider

    def _count(self, event: str, source: SourceConfig, count: int = 1) -> None:
        assert self.crawler.stats is not None
        count_event(self.crawler.stats, event, source.id, count)

    def _follow_entries(
        self,
        entries: list[FeedEntry],
        source: SourceConfig,
        from_url: str,
        poll: tuple[str, str] | None = None,
        round_id: str | None = None,
    ) -> tuple[list[Request], int, int]:
        """Requests for the entries' articles, and how many entries were new and seen.

        ``poll`` is the (source id, URL) of the remembered feed, sitemap or page they come from.
        """
        handled = self.round_memory(round_id).handled
        self._count("entries/seen", source, len(entries))
        candidates: dict[str, FeedEntry] = {}
        decisions: dict[str, str] = {}
        for entry in entries:
            try:
                canonical = canonicalize_url(entry.link)
            except UnusableUrl as error:
                logger.warning("Refused entry link in %s: %s", from_url, error)
                self._count("entries/refused/bad_url", source)
                decisions[entry.link] = "refused: bad URL"
                continue
            if not is_allowed_host(entry.link, source.allowed_domains):
                logger.info(
                    "Skipped %s from %s: host not in allowed_domains of source %s",
                    entry.link,
                    from_url,
                    source.id,
                )
                self._count("entries/refused/offsite", source)
                decisions[entry.link] = "refused: not in allowed_domains"
                continue
            candidates.setdefault(canonical, entry)
        with self._sessions() as session:
            known = find_known_urls(session, candidates)
            due = self._recheck_due(session, [url for url in candidates if url in known])
        requests: list[Request] = []
        new = seen = 0
        for canonical, entry in candidates.items():
            if canonical in known:
                seen += 1
            else:
                new += 1
            if canonical in handled:
                decisions[entry.link] = "already handled in this run"
                continue
            handled.add(canonical)
            meta = {
                "veille_source": source,
                "veille_entry": entry,
                "veille_feed_url": from_url,
                "veille_canonical": canonical,
                "veille_poll": poll,
                ROUND: round_id,
            }
            url = entry.link.split("#", 1)[0]
            if canonical in due:
                self._count("articles/rechecked", source)
                decisions[entry.link] = "known: would be rechecked for changes"
                if not self.dry_run:
                    requests.append(self._recheck_request(url, due[canonical], meta))
                continue
            if canonical in known:
                self._count("articles/already_known", source)
                decisions[entry.link] = "known: not fetched again"
                continue
            self._count("articles/requested", source)
            decisions[entry.link] = "new: would be fetched"
            if not self.dry_run:
                requests.append(
                    Request(
                        url, callback=self.parse_article, errback=self.article_failed, meta=meta
                    )
                )
        if self.dry_run:
            self.report.append(
                {
                    "source": source.id,
                    "from": from_url,
                    "entries": [
                        {
                            "url": entry.link,
                            "title": entry.title,
                            "published": entry.published.isoformat() if entry.published else None,
                            "decision": decisions.get(entry.link, "skipped"),
                        }
                        for entry in entries
                    ],
                }
            )
        return requests, new, seen

    def report_poll(
        self, target: Target, status: int | None, entries: int, outcome: str = "parsed"
    ) -> None:
        self.report.append(
            {
                "source": target.source.id,
                "poll": target.url,
                "kind": target.kind.value,
                "status": status,
                "outcome": outcome,
                "entries_found": entries,
            }
        )

    def _write_report(self, spider: Spider) -> None:
        if spider is self and self._report_path:
            Path(self._report_path).write_text(
                json.dumps(self.report, ensure_ascii=False, indent=1), encoding="utf-8"
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

    def source_rechecks(self, source: SourceConfig, round_id: str | None = None) -> list[Request]:
        """Requests re-checking the source's young articles that are due, feeds or not."""
        if self._recheck_age is None or self.dry_run:
            return []
        now = datetime.now(UTC)
        with self._sessions() as session:
            due = find_source_rechecks(
                session,
                source.id,
                fetched_after=now - self._recheck_age,
                checked_before=now - self._recheck_every,
            )
        requests = []
        handled = self.round_memory(round_id).handled
        for item in due:
            if item.canonical_url in handled:
                continue
            handled.add(item.canonical_url)
            self._count("articles/rechecked", source)
            meta = {
                "veille_source": source,
                "veille_entry": FeedEntry(link=item.url, title=item.title),
                "veille_feed_url": None,
                "veille_canonical": item.canonical_url,
                "veille_poll": None,
                ROUND: round_id,
            }
            requests.append(self._recheck_request(item.url, item.target, meta))
        return requests

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
                size_of(response.body),
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
            encoding=declared_encoding(response),
            fetched_at=datetime.now(UTC),
            feed_url=response.meta["veille_feed_url"],
            feed_title=entry.title,
            feed_published=entry.published,
            language_hint=source.language or entry.language,
            etag=_header(response, b"ETag"),
            last_modified=_header(response, b"Last-Modified"),
            recheck_of=recheck_of,
        )

    def article_failed(self, failure: Failure) -> Iterator[FetchedPage]:
        request = failure.request  # type: ignore[attr-defined]
        self._article_failed(request, failure_reason(failure), failure.getErrorMessage())
        self.crawler.signals.send_catch_log(signal=request_failed, request=request)
        return iter(())

    def _article_failed(self, request: Request, reason: str, message: str) -> None:
        source: SourceConfig = request.meta["veille_source"]
        if reason == "robots_txt":
            logger.info("Article %s not fetched: disallowed by robots.txt", request.url)
            self._count("entries/refused/robots_txt", source)
            return
        logger.warning("Article %s not fetched: %s (%s)", request.url, reason, message)
        self._count(f"articles/failed/{reason}", source)
        if reason == "too_large":
            self._remember(request.meta["veille_canonical"], UrlOutcome.TOO_LARGE, source.id)
        elif (poll := request.meta.get("veille_poll")) and not self.dry_run:
            # Not remembered as done: the next poll reads its feed (or page) again, whole,
            # and asks for this article again. A feed soon drops a page that never comes.
            with self._sessions.begin() as session:
                forget_body(session, *poll, due_now=False)

    def _remember(self, canonical_url: str, outcome: UrlOutcome, source_id: str) -> None:
        with self._sessions.begin() as session:
            remember_url(session, canonical_url, outcome, source_id=source_id)


def is_html(response: Response) -> bool:
    if isinstance(response, HtmlResponse):
        return True
    return isinstance(response, TextResponse) and b"<html" in response.body[:4096].lower()


def declared_encoding(response: Response) -> str | None:
    """The charset the page states (byte-order mark, HTTP header, ``<meta>``, in Scrapy's
    order), without guessing: ``response.encoding`` would run a detector over the whole body
    of every page that states none (a millisecond or more), and extraction decodes the page
    itself anyway (:func:`pipelines.extraction.extract`)."""
    bom_encoding, _ = read_bom(response.body)
    if bom_encoding:
        return bom_encoding
    content_type = response.headers.get(b"Content-Type")
    header_encoding = http_content_type_encoding(
        content_type.decode("latin-1") if content_type else None
    )
    return header_encoding or html_body_declared_encoding(response.body)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def size_of(body: bytes) -> str:
    return f"{len(body)} bytes"
