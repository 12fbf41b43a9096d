"""Feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed) to our own records, via feedparser.

This is the boundary: feedparser's dictionaries do not travel further. An ill-formed
feed that still yields entries is used (``is_well_formed`` is False and ``problem``
says why); a document that yields no feed at all raises :class:`NotAFeed`.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser


class NotAFeed(ValueError):
    """The document is not a feed (an HTML page, an error page, garbage)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    link: str
    """Absolute URL of the entry, as published (scheme not checked here)."""
    title: str | None = None
    published: datetime | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    url: str
    format: str
    """feedparser's version string, e.g. ``rss20``, ``atom10``, ``json11``."""
    title: str | None
    entries: tuple[FeedEntry, ...]
    is_well_formed: bool
    problem: str | None = None
    entries_without_link: int = 0


def parse_feed(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse a downloaded feed. ``headers`` (lower-case names) help encoding detection."""
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _parse_json_feed(body, url)
    response_headers = {key.lower(): value for key, value in (headers or {}).items()}
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=False)
    problem = _describe_problem(parsed)
    if not parsed.get("version") and not parsed.entries:
        raise NotAFeed(problem or "no feed element found")
    feed_language = parsed.feed.get("language")
    entries = []
    without_link = 0
    for raw in parsed.entries:
        link = _entry_link(raw, url)
        if link is None:
            without_link += 1
            continue
        entries.append(
            FeedEntry(
                link=link,
                title=_clean(raw.get("title")),
                published=_entry_date(raw),
                language=raw.get("language") or feed_language,
            )
        )
    return ParsedFeed(
        url=url,
        format=parsed.get("version") or "unknown",
        title=_clean(parsed.feed.get("title")),
        entries=tuple(entries),
        is_well_formed=problem is None,
        problem=problem,
        entries_without_link=without_link,
    )


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1); feedparser 6 does not read it."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotAFeed(f"JSON document that does not parse: {error}") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise NotAFeed("JSON document that is not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise NotAFeed("JSON Feed without an 'items' list")
    feed_language = document.get("language")
    entries = []
    without_link = 0
    for item in items:
        if not isinstance(item, dict):
            without_link += 1
            continue
        link = item.get("url") or item.get("external_url")
        if not isinstance(link, str) or not link.strip():
            without_link += 1
            continue
        entries.append(
            FeedEntry(
                link=urljoin(url, link.strip()),
                title=_clean(item.get("title")),
                published=_iso_date(item.get("date_published") or item.get("date_modified")),
                language=item.get("language") or feed_language,
            )
        )
    return ParsedFeed(
        url=url,
        format="json" + version.rstrip("/").rsplit("/", 1)[-1].replace(".", ""),
        title=_clean(document.get("title")),
        entries=tuple(entries),
        is_well_formed=True,
        entries_without_link=without_link,
    )


def _iso_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe_problem(parsed: feedparser.FeedParserDict) -> str | None:
    error = parsed.get("bozo_exception")
    if not parsed.get("bozo") or isinstance(error, feedparser.NonXMLContentType):
        # A feed served as text/html or text/plain is common and harmless.
        return None
    return f"{type(error).__name__}: {error}" if error else "ill-formed feed"


def _entry_link(entry: feedparser.FeedParserDict, feed_url: str) -> str | None:
    link = entry.get("link")
    if not link:
        for candidate in entry.get("links") or []:
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    if not link or not isinstance(link, str):
        return None
    return urljoin(feed_url, link.strip())


def _entry_date(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None
