"""What a source asks Veille to poll: its feeds, sitemaps, list pages, homepage, query feeds.

A :class:`Target` is one URL polled for links to articles. Configured targets come from
the source; the others are found while polling (feeds a homepage announces, sitemaps
an index lists, the next pages of a list page) and carry how deep they were found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from crawler.config import CrawlConfig, SourceConfig
from crawler.query_feeds import feed_urls
from storage.models import PollKind


@dataclass(frozen=True, slots=True)
class Target:
    source: SourceConfig
    url: str
    kind: PollKind
    discovered_from: str | None = None
    depth: int = 0
    """Sitemap-index levels or pagination steps from the configured target."""
    remembered: bool = True
    """False for the next pages of a list page: polled when their first page changes."""

    @property
    def is_robots_txt(self) -> bool:
        return self.kind is PollKind.SITEMAP and urlsplit(self.url).path == "/robots.txt"


def configured_targets(source: SourceConfig) -> list[Target]:
    """The targets a source's configuration names, in a stable order, without repeats."""
    targets = [
        Target(source, url, PollKind.QUERY if _is_search_feed(url) else PollKind.FEED)
        for url in source.feeds
    ]
    targets += [Target(source, url, PollKind.SITEMAP) for url in source.sitemaps]
    targets += [Target(source, url, PollKind.PAGE) for url in source.pages]
    if source.homepage:
        targets.append(Target(source, source.homepage, PollKind.HOMEPAGE))
    if source.query is not None:
        targets += [Target(source, url, PollKind.QUERY) for url in query_feed_urls(source)]
    seen: set[str] = set()
    unique = []
    for target in targets:
        if target.url not in seen:
            seen.add(target.url)
            unique.append(target)
    return unique


def query_feed_urls(source: SourceConfig) -> list[str]:
    """The feed URLs of a source's query (Google News or GDELT search)."""
    assert source.query is not None
    urls = feed_urls(source.query_spec())
    if source.query.endpoint is None:
        return urls
    endpoint = urlsplit(source.query.endpoint)
    return [
        urlunsplit((endpoint.scheme, endpoint.netloc, endpoint.path, urlsplit(url).query, ""))
        for url in urls
    ]


def sitemap_max_age(source: SourceConfig, crawl: CrawlConfig) -> timedelta:
    days = source.sitemap_max_age_days or crawl.sitemap_max_age_days
    return timedelta(days=days)


def pagination_depth(source: SourceConfig, crawl: CrawlConfig) -> int:
    if source.pagination_depth is not None:
        return source.pagination_depth
    return crawl.pagination_depth


def _is_search_feed(url: str) -> bool:
    """A Google News search feed written out in ``feeds``: its links need decoding too."""
    parts = urlsplit(url)
    return parts.hostname == "news.google.com" and parts.path.startswith("/rss")
