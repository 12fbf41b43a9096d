"""The feed spider's callbacks, fed responses built from fixture bytes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.test import get_crawler
from sqlalchemy.orm import Session, sessionmaker

from crawler.config import SourceConfig
from crawler.spiders.feeds import FeedSpider, is_allowed_host
from storage.database import make_session_factory, open_database
from storage.models import KnownUrl, UrlOutcome
from storage.records import FetchedPage
from storage.repository import remember_url

FEED_URL = "https://wire.example/feed.xml"
FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>New</title><link>https://wire.example/new.html?utm_source=rss#c</link>
<pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>New again</title><link>https://wire.example/new.html</link></item>
<item><title>Known</title><link>https://wire.example/known.html</link></item>
<item><title>Local</title><link>file:///etc/passwd</link></item>
<item><title>Script</title><link>javascript:alert(1)</link></item>
<item><title>Elsewhere</title><link>https://other.example/story.html</link></item>
<item><title>Mirror</title><link>https://m.wire.example/story.html</link></item>
</channel></rss>"""


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = open_database(sqlite_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def source() -> SourceConfig:
    return SourceConfig(
        id="wire", feeds=[FEED_URL], allowed_domains=["wire.example"], language="en"
    )


@pytest.fixture
def spider(sqlite_url: str, sessions: sessionmaker[Session], source: SourceConfig) -> FeedSpider:
    crawler = get_crawler(FeedSpider, {"VEILLE_DATABASE_URL": sqlite_url})
    spider = FeedSpider.from_crawler(crawler, sources=[source])
    crawler.spider = spider
    return spider


def feed_response(source: SourceConfig, body: bytes = FEED) -> TextResponse:
    request = Request(FEED_URL, meta={"veille_source": source})
    return TextResponse(
        FEED_URL, body=body, headers={"Content-Type": "application/rss+xml"}, request=request
    )


def stat(spider: FeedSpider, key: str) -> int:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_value(f"veille/{key}", 0)


def test_only_new_http_links_on_allowed_hosts_are_requested(
    spider: FeedSpider, sessions: sessionmaker[Session], source: SourceConfig
) -> None:
    with sessions.begin() as session:
        remember_url(session, "https://wire.example/known.html", UrlOutcome.ARTICLE)
    requests = list(spider.parse_feed(feed_response(source)))
    assert [r.url for r in requests] == [
        "https://wire.example/new.html?utm_source=rss",
        "https://m.wire.example/story.html",
    ]
    assert requests[0].meta["veille_canonical"] == "https://wire.example/new.html"
    assert requests[0].meta["veille_entry"].title == "New"
    assert stat(spider, "feeds/polled") == 1
    assert stat(spider, "entries/seen") == 7
    assert stat(spider, "articles/already_known") == 1
    assert stat(spider, "entries/refused/bad_url") == 2
    assert stat(spider, "entries/refused/offsite") == 1
    assert stat(spider, "articles/requested") == 2


def test_the_same_article_in_two_feeds_is_requested_once_per_run(
    spider: FeedSpider, source: SourceConfig
) -> None:
    first = list(spider.parse_feed(feed_response(source)))
    second = list(spider.parse_feed(feed_response(source)))
    assert len(first) == 3  # new.html (once, despite two links), known.html, the mirror
    assert second == []


def test_a_feed_that_is_html_is_counted_not_followed(
    spider: FeedSpider, source: SourceConfig, caplog: pytest.LogCaptureFixture
) -> None:
    html = b"<!DOCTYPE html><html><body><h1>Feeds have moved</h1></body></html>"
    assert list(spider.parse_feed(feed_response(source, html))) == []
    assert stat(spider, "feeds/failed/not_a_feed") == 1
    assert "is not a feed" in caplog.text and FEED_URL in caplog.text


def article_response(source: SourceConfig, url: str, body: bytes, content_type: str) -> Response:
    from crawler.feed_parser import FeedEntry

    request = Request(
        url,
        meta={
            "veille_source": source,
            "veille_entry": FeedEntry(link=url, title="Hint"),
            "veille_feed_url": FEED_URL,
            "veille_canonical": url,
        },
    )
    cls = HtmlResponse if "html" in content_type else Response
    return cls(url, body=body, headers={"Content-Type": content_type}, request=request)


def test_an_html_article_becomes_a_fetched_page_with_its_feed_hints(
    spider: FeedSpider, source: SourceConfig
) -> None:
    url = "https://wire.example/new.html"
    response = article_response(source, url, b"<html><body><p>Hi</p></body></html>", "text/html")
    [page] = list(spider.parse_article(response))
    assert isinstance(page, FetchedPage)
    assert (page.url, page.source_id, page.feed_url, page.feed_title) == (
        url,
        "wire",
        FEED_URL,
        "Hint",
    )
    assert page.language_hint == "en"
    assert page.fetched_at.tzinfo is not None


def test_a_pdf_is_remembered_and_counted_not_extracted(
    spider: FeedSpider, source: SourceConfig, sessions: sessionmaker[Session]
) -> None:
    url = "https://wire.example/report.pdf"
    response = article_response(source, url, b"%PDF-1.4 ...", "application/pdf")
    assert list(spider.parse_article(response)) == []
    assert stat(spider, "articles/failed/not_html") == 1
    with sessions() as session:
        known = session.get(KnownUrl, url)
        assert known is not None and known.outcome == "not_html"


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("https://www.news.cn/a.html", ["news.cn"], True),
        ("https://news.cn/a.html", ["news.cn"], True),
        ("https://fakenews.cn/a.html", ["news.cn"], False),
        ("https://anything.example/a.html", [], True),
    ],
)
def test_allowed_domains_cover_subdomains_only(
    url: str, allowed: list[str], expected: bool
) -> None:
    assert is_allowed_host(url, allowed) is expected
