"""Sitemaps and sitemap indexes to entries, with Scrapy's parser and its gzip limits.

Scrapy's :class:`~scrapy.utils.sitemap.Sitemap` reads ``<url>`` and ``<sitemap>``
elements safely (no entities, recovering from bad XML) but flattens the Google News
extension (``<news:news>``), whose title and publication date we need: the subclass
keeps them. Only entries inside the recent window are returned; an entry without any
date is kept (a news sitemap lists recent articles by definition).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lxml.etree
from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from w3lib.url import safe_url_string

from crawler.feed_parser import FeedEntry

__all__ = [
    "NotASitemap",
    "ParsedSitemap",
    "SitemapTooLarge",
    "parse_sitemap",
    "sitemap_urls_from_robots",
]


class NotASitemap(ValueError):
    """The document is neither a urlset nor a sitemap index."""


class SitemapTooLarge(ValueError):
    """The sitemap is larger than allowed once decompressed (a gzip bomb, or just huge)."""


@dataclass(frozen=True, slots=True)
class ChildSitemap:
    url: str
    lastmod: datetime | None


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    is_index: bool
    entries: list[FeedEntry] = field(default_factory=list)
    children: list[ChildSitemap] = field(default_factory=list)
    too_old: int = 0
    """Entries or child sitemaps left out because they are older than the window."""


class NewsSitemap(Sitemap):
    """Scrapy's sitemap parser, keeping ``news:title``, ``news:publication_date`` and language."""

    __slots__ = ()

    def _process_sitemap_element(self, elem: lxml.etree._Element) -> dict[str, Any] | None:
        news: dict[str, str] = {}
        for child in elem:
            if self._get_tag_name(child) == "news":
                for part in child.iter():
                    name = self._get_tag_name(part)
                    if name in ("title", "publication_date", "language") and part.text:
                        news[name] = part.text.strip()
        entry = super()._process_sitemap_element(elem)
        if entry is not None and news:
            entry.pop("news", None)
            entry["news"] = news
        return entry


def sitemap_body(body: bytes, max_size: int) -> bytes:
    """The XML of a sitemap, decompressed if it is a ``.gz`` file; at most ``max_size`` bytes."""
    if body[:2] == b"\x1f\x8b":
        try:
            return gunzip(body, max_size=max_size)
        except _DecompressionMaxSizeExceeded:
            raise SitemapTooLarge(f"more than {max_size} bytes once decompressed") from None
        except (OSError, EOFError, zlib.error) as error:
            raise NotASitemap(f"broken gzip data: {error}") from None
    if len(body) > max_size:
        raise SitemapTooLarge(f"{len(body)} bytes, more than {max_size}")
    return body


def parse_sitemap(body: bytes, *, max_size: int, not_before: datetime) -> ParsedSitemap:
    """Entries (or child sitemaps) of a sitemap, without those dated before ``not_before``."""
    xml = sitemap_body(body, max_size)
    try:
        sitemap = NewsSitemap(xml)
    except lxml.etree.XMLSyntaxError as error:
        raise NotASitemap(f"not XML: {error}") from None
    except StopIteration:
        raise NotASitemap("not XML: no element found") from None
    if sitemap.type not in ("urlset", "sitemapindex"):
        raise NotASitemap(f"root element is <{sitemap.type}>, not <urlset> or <sitemapindex>")
    is_index = sitemap.type == "sitemapindex"
    parsed = ParsedSitemap(is_index=is_index)
    too_old = 0
    try:
        for raw in sitemap:
            loc = _absolute(raw.get("loc", ""))
            if loc is None:
                continue
            news = raw.get("news") or {}
            when = parse_w3c_date(news.get("publication_date") or raw.get("lastmod"))
            if when is not None and when < not_before:
                too_old += 1
                continue
            if is_index:
                parsed.children.append(ChildSitemap(loc, when))
            else:
                parsed.entries.append(
                    FeedEntry(
                        link=loc,
                        title=news.get("title") or None,
                        published=when,
                        language=news.get("language") or None,
                    )
                )
    except lxml.etree.XMLSyntaxError as error:
        if not (parsed.entries or parsed.children):
            raise NotASitemap(f"not XML: {error}") from None
    return ParsedSitemap(is_index, parsed.entries, parsed.children, too_old)


def _absolute(loc: str) -> str | None:
    loc = loc.strip()
    if not loc.lower().startswith(("http://", "https://")):
        return None
    return safe_url_string(loc)


def parse_w3c_date(value: str | None) -> datetime | None:
    """``2026-11-20``, ``2026-11-20T08:00:00+08:00``, ``...Z``: an aware datetime, or None."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iter_robots_sitemaps(body: bytes, robots_url: str) -> Iterator[str]:
    """The ``Sitemap:`` lines of a robots.txt, absolute."""
    for url in sitemap_urls_from_robots(body, base_url=robots_url):
        if url.lower().startswith(("http://", "https://")):
            yield url
