"""Sitemaps through Scrapy's parser: news fields kept, old entries skipped, bad input refused."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.discovery import discover_feeds
from crawler.sitemaps import NotASitemap, SitemapTooLarge, iter_robots_sitemaps, parse_sitemap
from tests.discovery_site import news_sitemap, sitemap_index

RECENT = datetime(2026, 11, 21, 12, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 19, tzinfo=UTC)
MAX = 10_000_000


def test_news_title_date_and_language_are_kept_and_old_entries_skipped() -> None:
    xml = news_sitemap(
        {
            "https://news.example/2026/11/21/a.html": ("Fresh & new", RECENT),
            "https://news.example/2019/05/01/b.html": ("Old", datetime(2019, 5, 1, tzinfo=UTC)),
        }
    ).encode()
    parsed = parse_sitemap(xml, max_size=MAX, not_before=CUTOFF)
    assert not parsed.is_index and parsed.too_old == 1
    [entry] = parsed.entries
    assert entry.link == "https://news.example/2026/11/21/a.html"
    assert (entry.title, entry.published, entry.language) == ("Fresh & new", RECENT, "en")


def test_an_index_lists_recent_children_and_a_gzipped_sitemap_is_read() -> None:
    index = sitemap_index(
        {"https://n.example/news.xml": RECENT, "https://n.example/2019.xml": CUTOFF.replace(2019)}
    ).encode()
    parsed = parse_sitemap(gzip.compress(index), max_size=MAX, not_before=CUTOFF)
    assert parsed.is_index and [c.url for c in parsed.children] == ["https://n.example/news.xml"]


def test_real_sitemaps_parse(corpora: Path) -> None:
    folder = corpora / "sitemaps/advertools/tests/data/sitemap_testing"
    old = datetime(2000, 1, 1, tzinfo=UTC)
    news = parse_sitemap((folder / "news_sitemap.xml").read_bytes(), max_size=MAX, not_before=old)
    assert len(news.entries) == 6 and all(e.title and e.published for e in news.entries)
    zipped = parse_sitemap(
        (folder / "zipped_sitemap.xml.gz").read_bytes(), max_size=MAX, not_before=old
    )
    assert len(zipped.entries) == 5
    robots = list(iter_robots_sitemaps((folder / "robots.txt").read_bytes(), "https://x.example/"))
    assert robots and all(url.startswith("http") for url in robots)


def test_html_is_not_a_sitemap() -> None:
    with pytest.raises(NotASitemap, match="root element is <html>"):
        parse_sitemap(b"<html><body>moved</body></html>", max_size=MAX, not_before=CUTOFF)
    with pytest.raises(NotASitemap, match="not XML"):
        parse_sitemap(b"", max_size=MAX, not_before=CUTOFF)


def test_a_gzip_bomb_is_refused_with_bounded_work(corpora: Path) -> None:
    bomb = (corpora / "feeds/scrapy/tests/sample_data/compressed/bomb-gzip.bin").read_bytes()
    with pytest.raises(SitemapTooLarge, match="more than 1000000 bytes once decompressed"):
        parse_sitemap(bomb, max_size=1_000_000, not_before=CUTOFF)


def test_truncated_gzip_is_not_a_sitemap(corpora: Path) -> None:
    broken = corpora / "feeds/scrapy/tests/sample_data/compressed/unexpected-eof.gz"
    with pytest.raises(NotASitemap):
        parse_sitemap(broken.read_bytes()[:50], max_size=MAX, not_before=CUTOFF)


def test_homepage_feeds_are_discovered_without_comment_feeds_or_other_sites() -> None:
    html = (
        '<html><head><link rel="alternate" type="application/rss+xml" href="/rss/latest.xml">'
        '<link rel="alternate" type="application/atom+xml" href="https://www.site.example/a.atom">'
        '<link rel="alternate" type="application/rss+xml" href="/comments/feed">'
        '<link rel="alternate" type="application/rss+xml" href="https://ads.example/feed.xml">'
        "</head><body></body></html>"
    )
    assert discover_feeds(html, "https://site.example/") == [
        "https://site.example/rss/latest.xml",
        "https://www.site.example/a.atom",
    ]
    assert discover_feeds("<html><body>no feed</body></html>", "https://site.example/") == []
