"""The source spider's callbacks, fed responses built from fixture bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.test import get_crawler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twisted.python.failure import Failure

from crawler.config import SourceConfig
from crawler.spiders.articles import is_allowed_host
from crawler.spiders.sources import SourceSpider
from crawler.targets import Target, configured_targets
from storage.database import make_session_factory, open_database
from storage.models import KnownUrl, PollKind, PollTarget, UrlOutcome
from storage.poll_state import load_targets
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
def spider(sqlite_url: str, sessions: sessionmaker[Session], source: SourceConfig) -> SourceSpider:
    crawler = get_crawler(SourceSpider, {"VEILLE_DATABASE_URL": sqlite_url})
    spider = SourceSpider.from_crawler(crawler, sources=[source])
    crawler.spider = spider
    return spider


def feed_response(source: SourceConfig, body: bytes = FEED) -> TextResponse:
    target = Target(source, FEED_URL, PollKind.FEED)
    request = Request(FEED_URL, meta={"veille_source": source, "veille_target": target})
    return TextResponse(
        FEED_URL, body=body, headers={"Content-Type": "application/rss+xml"}, request=request
    )


def poll(spider: SourceSpider, response: Response) -> list[Any]:
    """Everything the spider's poll callback yields for ``response``."""

    async def collect(results: AsyncIterator[Any]) -> list[Any]:
        return [result async for result in results]

    return asyncio.run(collect(spider.parse_target(response)))


def stat(spider: SourceSpider, key: str) -> int:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_value(f"veille/{key}", 0)


def test_only_new_http_links_on_allowed_hosts_are_requested(
    spider: SourceSpider, sessions: sessionmaker[Session], source: SourceConfig
) -> None:
    with sessions.begin() as session:
        remember_url(session, "https://wire.example/known.html", UrlOutcome.ARTICLE)
    requests = poll(spider, feed_response(source))
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
    spider: SourceSpider, source: SourceConfig
) -> None:
    first = poll(spider, feed_response(source))
    second = poll(spider, feed_response(source))
    assert len(first) == 3  # new.html (once, despite two links), known.html, the mirror
    assert second == []


def test_a_feed_that_is_html_is_counted_not_followed(
    spider: SourceSpider, source: SourceConfig, caplog: pytest.LogCaptureFixture
) -> None:
    html = b"<!DOCTYPE html><html><body><h1>Feeds have moved</h1></body></html>"
    assert (poll(spider, feed_response(source, html))) == []
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
    spider: SourceSpider, source: SourceConfig
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
    spider: SourceSpider, source: SourceConfig, sessions: sessionmaker[Session]
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


def test_five_failures_in_a_row_make_a_feed_failing_in_veille_sources(
    sqlite_url: str, sessions: sessionmaker[Session], source: SourceConfig
) -> None:
    from crawler.config import Config
    from scheduler.source_report import source_reports

    config = Config(sources=[source], database={"url": sqlite_url})
    states = []
    for attempt in range(6):
        crawler = get_crawler(SourceSpider, {"VEILLE_DATABASE_URL": sqlite_url})
        spider = SourceSpider.from_crawler(crawler, sources=[source])
        crawler.spider = spider
        with sessions() as session:
            spider._states = load_targets(session, [source.id])
        failure = Failure(TimeoutError("no answer in 30 s"))
        failure.request = Request(  # type: ignore[attr-defined]
            FEED_URL, meta={"veille_target": Target(source, FEED_URL, PollKind.FEED)}
        )
        spider.target_failed(failure)
        with sessions() as session:
            [report] = source_reports(session, config, datetime.now(UTC))
            target = session.scalars(select(PollTarget)).one()
        states.append(report.state)
        assert target.consecutive_failures == attempt + 1
        assert target.next_poll_at is not None
        assert stat(spider, "feeds/failed/timeout") == 1
    # A timeout weighs half a 404: the default failing score, 2.5, takes five in a row.
    assert "failing" not in states[:4] and states[4:] == ["failing"] * 2
    assert "5 failures in a row" not in report.detail and "6 failures in a row" in report.detail


def test_a_success_clears_the_failures(
    spider: SourceSpider, sessions: sessionmaker[Session], source: SourceConfig
) -> None:
    failure = Failure(TimeoutError("no answer"))
    failure.request = Request(  # type: ignore[attr-defined]
        FEED_URL, meta={"veille_target": Target(source, FEED_URL, PollKind.FEED)}
    )
    spider.target_failed(failure)
    poll(spider, feed_response(source))
    with sessions() as session:
        target = session.scalars(select(PollTarget)).one()
    assert (target.consecutive_failures, target.failure_score) == (0, 0.0)
    assert target.last_outcome == "changed" and target.items_found == 7


HOME = "https://site.example/"


def homepage_response(source: SourceConfig, feeds: list[str]) -> HtmlResponse:
    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="{feed}">' for feed in feeds
    )
    target = Target(source, HOME, PollKind.HOMEPAGE)
    request = Request(HOME, meta={"veille_source": source, "veille_target": target})
    body = f"<html><head>{links}</head><body>Home</body></html>".encode()
    return HtmlResponse(HOME, body=body, request=request, headers={"Content-Type": "text/html"})


def new_spider(sqlite_url: str, source: SourceConfig) -> SourceSpider:
    crawler = get_crawler(SourceSpider, {"VEILLE_DATABASE_URL": sqlite_url})
    spider = SourceSpider.from_crawler(crawler, sources=[source])
    crawler.spider = spider
    return spider


def start_urls(spider: SourceSpider) -> list[str]:
    async def collect() -> list[str]:
        return [request.url async for request in spider.start()]

    return asyncio.run(collect())


def test_discovered_feeds_are_remembered_dropped_and_rediscovered(
    sqlite_url: str, sessions: sessionmaker[Session]
) -> None:
    from scrapy.spidermiddlewares.httperror import HttpError

    source = SourceConfig(id="site", homepage=HOME)
    feed_a, feed_b = HOME + "feed-a.xml", HOME + "feed-b.xml"
    spider = new_spider(sqlite_url, source)
    assert start_urls(spider) == [HOME]
    assert [r.url for r in poll(spider, homepage_response(source, ["/feed-a.xml"]))] == [feed_a]

    # The next crawl polls the remembered feed with the homepage; the homepage is unchanged.
    spider = new_spider(sqlite_url, source)
    assert start_urls(spider) == [HOME, feed_a]
    assert poll(spider, homepage_response(source, ["/feed-a.xml"])) == []
    assert stat(spider, "feeds/unchanged") == 1
    # The feed vanishes: the homepage will be read again, though its body has not changed.
    gone = HtmlResponse(feed_a, status=404, body=b"gone", request=Request(feed_a))
    failure = Failure(HttpError(gone))
    failure.request = Request(  # type: ignore[attr-defined]
        feed_a, meta={"veille_target": Target(source, feed_a, PollKind.FEED, discovered_from=HOME)}
    )
    spider.target_failed(failure)
    spider = new_spider(sqlite_url, source)
    assert start_urls(spider) == [HOME, feed_a]  # still polled: it may come back
    assert poll(spider, homepage_response(source, ["/feed-a.xml"])) == []  # requested already
    assert stat(spider, "feeds/discovered") == 1  # the homepage was read again, same body

    spider = new_spider(sqlite_url, source)
    start_urls(spider)
    assert [r.url for r in poll(spider, homepage_response(source, ["/feed-b.xml"]))] == [feed_b]
    assert stat(spider, "feeds/discovered") == 1

    # feed-a is no longer announced: it is not polled any more; feed-b is.
    spider = new_spider(sqlite_url, source)
    assert start_urls(spider) == [HOME, feed_b]
    with sessions() as session:
        rows = {row.url: row for row in session.scalars(select(PollTarget))}
    assert rows[feed_a].gone_at is not None and rows[feed_b].gone_at is None
    assert rows[feed_a].last_error.startswith("http_404")


def test_google_news_links_are_decoded_once_and_remembered(
    sqlite_url: str, sessions: sessionmaker[Session]
) -> None:
    from storage.models import ResolvedLink

    source = SourceConfig(
        id="gnews", language="en", query={"engine": "google_news", "terms": ["WAICO"]}
    )
    [query_url] = [target.url for target in configured_targets(source)]
    token = "https://news.google.com/rss/articles/CBMiTOKEN1?oc=5"
    broken = "https://news.google.com/rss/articles/CBMiTOKEN2?oc=5"
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Search</title>'
        f"<item><title>Charter signed - The Post</title><link>{token}</link>"
        '<source url="https://post.example">The Post</source></item>'
        f"<item><title>Other</title><link>{broken}</link></item></channel></rss>"
    ).encode()
    asked: list[list[str]] = []

    def decoder(urls: list[str], *, interval: float | None, timeout: float | None) -> list[Any]:
        asked.append(urls)
        return [
            {"success": True, "decoded_url": "https://post.example/2026/11/22/charter.html"}
            if "TOKEN1" in url
            else {"success": False, "message": "rate limited"}
            for url in urls
        ]

    async def synchronously(function: Any, *args: Any) -> Any:
        return function(*args)

    def run_poll() -> list[str]:
        spider = new_spider(sqlite_url, source)
        spider.link_decoder = decoder  # type: ignore[method-assign]
        spider.in_thread = synchronously  # type: ignore[method-assign]
        assert start_urls(spider) == [query_url]
        target = Target(source, query_url, PollKind.QUERY)
        request = Request(query_url, meta={"veille_source": source, "veille_target": target})
        response = TextResponse(query_url, body=feed, request=request)
        requests = poll(spider, response)
        if requests:
            assert requests[0].meta["veille_entry"].title == "Charter signed"
        return [r.url for r in requests]

    assert run_poll() == ["https://post.example/2026/11/22/charter.html", broken.split("?")[0]
                          + "?oc=5"]  # fmt: skip
    assert len(asked) == 1 and len(asked[0]) == 2
    with sessions() as session:
        [remembered] = session.scalars(select(ResolvedLink)).all()
    assert remembered.resolved_url == "https://post.example/2026/11/22/charter.html"

    assert run_poll() == []  # the feed is the same: nothing is parsed, nothing decoded
    assert len(asked) == 1
