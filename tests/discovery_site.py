"""Fixture sites on 127.0.0.1 for every kind of source but plain feeds.

- ``/sitemap_index.xml`` (named in robots.txt): a sitemap index listing a fresh news
  sitemap, a sitemap from 2019 that must be skipped, and itself;
- ``/world/``: a section page whose article links only a heuristic can find among
  section, tag and author links, with pagination (``/world/page/2/``, ``/page/3/``);
- ``/home/``: a homepage that only announces its feed with ``<link rel="alternate">``;
- ``/gdelt/api/v2/doc/doc``: a GDELT-like query feed, and ``/gnews/rss/search`` a Google
  News-like one whose titles end with `` - Publisher``.

The sitemaps and the query feeds answer conditional requests (ETag, 304); the list pages
and the homepage ignore validators and send the same body again, as many servers do.
Every article's date is relative to now, so that the sitemap's window keeps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.fixture_site import article_html, rss

_FRESH = datetime.now(UTC) - timedelta(hours=3)


def _article(path: str, title: str, topic: str) -> str:
    paragraphs = [
        f"{title}. Officials and experts met on {topic}, and the organisers published a "
        "statement setting out the next steps for international cooperation on artificial "
        "intelligence and capacity-building for developing countries.",
        "Delegations from Asia, Africa and Latin America took part in the sessions, which "
        "covered computing infrastructure, data governance, safety testing and the training "
        "of engineers and civil servants in the years ahead.",
        f"A follow-up meeting on {topic} is planned for next year, the statement said, with a "
        "progress report to be presented to all participating countries beforehand.",
    ]
    return article_html(path, "en", title, paragraphs, "utf-8")


SITEMAP_ARTICLES = {
    "/sm/2026/11/21/wuzhen-summit-opens.html": "World Internet Conference summit opens",
    "/sm/2026/11/22/apec-ai-initiative.html": "APEC members review the APEC AI Initiative",
    "/sm/2026/11/22/digital-silk-road.html": "Digital Silk Road projects reach new countries",
}
OLD_SITEMAP_ARTICLE = "/sm/2019/05/01/old-story.html"
OLD_SITEMAP_ONLY = "/sm/2019/04/01/archived.html"
LIST_ARTICLES = {
    "/world/2026/11/21/ai-capacity-building-workshop.html": "AI capacity-building workshop",
    "/world/2026/11/22/global-ai-governance-forum.html": "Global AI Governance forum meets",
}
SECOND_PAGE_ARTICLES = {
    "/world/2026/11/20/un-resolution-anniversary.html": "UN resolution on AI turns one",
}
THIRD_PAGE_ARTICLE = "/world/2026/11/19/beyond-the-depth.html"
SECTION_LINKS = ["/world/", "/tech/", "/tag/ai/", "/author/jane-doe/", "/about/", "/world/page/2/"]
HOMEPAGE_ARTICLES = {
    "/home/news/2026/11/22/waico-secretariat.html": "WAICO secretariat opens in Shanghai",
    "/home/news/2026/11/22/ai-plus-action.html": "The AI+ action plan one year on",
}
QUERY_ARTICLES = {
    "/q/2026/11/22/gdelt-story-one.html": "AI capacity-building plan enters second phase",
    "/q/2026/11/22/gdelt-story-two.html": "Friends group for AI capacity-building meets",
}
GNEWS_ARTICLE = "/pub/2026/11/22/waico-charter-signed.html"
GNEWS_TITLE = "WAICO charter signed by founding members"


def _w3c(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def news_sitemap(urls: dict[str, tuple[str, datetime]]) -> str:
    entries = "".join(
        f"<url><loc>{escape(url)}</loc><news:news><news:publication>"
        "<news:name>Fixture</news:name><news:language>en</news:language></news:publication>"
        f"<news:publication_date>{_w3c(when)}</news:publication_date>"
        f"<news:title>{escape(title)}</news:title></news:news></url>"
        for url, (title, when) in urls.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{entries}</urlset>"
    )


def sitemap_index(children: dict[str, datetime]) -> str:
    entries = "".join(
        f"<sitemap><loc>{escape(url)}</loc><lastmod>{_w3c(when)}</lastmod></sitemap>"
        for url, when in children.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}'
        "</sitemapindex>"
    )


def list_page(articles: dict[str, str], *, next_page: str | None) -> str:
    items = "".join(
        f'<li><a href="{path}">{escape(title)}</a> <a href="/tag/ai/">AI</a></li>'
        for path, title in articles.items()
    )
    sections = "".join(f'<a href="{path}">{path.strip("/")}</a> ' for path in SECTION_LINKS)
    pager = f'<a rel="next" href="{next_page}">Next page</a>' if next_page else ""
    return (
        "<!DOCTYPE html><html><head><title>World | Fixture</title></head><body>"
        f"<nav>{sections}</nav><main><h1>World</h1><ul>{items}</ul>"
        f'<p>By <a href="/author/jane-doe/">Jane Doe</a></p>{pager}</main>'
        '<footer><a href="/about/">About</a> <a href="mailto:desk@example.org">Mail</a>'
        "</footer></body></html>"
    )


def _conditional(body: str | bytes, content_type: str) -> object:
    """A handler that honours If-None-Match with a 304, as a careful server does."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'

    def handle(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(data, content_type=content_type, headers={"ETag": etag})

    return handle


@dataclass
class DiscoverySite:
    server: HTTPServer

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    @property
    def requests(self) -> list[tuple[str, int, dict[str, str]]]:
        """(path, status, request headers) of every request, in order."""
        return [
            (request.path, response.status_code, dict(request.headers))
            for request, response in self.server.log
        ]

    def requests_for(self, path: str) -> int:
        return sum(1 for logged, _status, _headers in self.requests if logged == path)

    def config_text(self, database_url: str) -> str:
        return f"""
[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.01s"
autothrottle = false
retry_times = 0
pagination_depth = 1

[[sources]]
id = "sitemap-only"
sitemaps = ["{self.url("/robots.txt")}"]

[[sources]]
id = "list-only"
pages = ["{self.url("/world/")}"]

[[sources]]
id = "homepage-only"
homepage = "{self.url("/home/")}"

[[sources]]
id = "gdelt-query"
language = "en"
[sources.query]
engine = "gdelt"
terms = ["AI capacity-building"]
endpoint = "{self.url("/gdelt/api/v2/doc/doc")}"

[[sources]]
id = "gnews-query"
language = "en"
[sources.query]
engine = "google_news"
terms = ["World AI Cooperation Organization"]
endpoint = "{self.url("/gnews/rss/search")}"
"""

    @property
    def expected_articles(self) -> set[str]:
        return {
            *SITEMAP_ARTICLES,
            *LIST_ARTICLES,
            *SECOND_PAGE_ARTICLES,
            *HOMEPAGE_ARTICLES,
            *QUERY_ARTICLES,
            GNEWS_ARTICLE,
        }


@pytest.fixture
def discovery_site(httpserver: HTTPServer) -> Iterator[DiscoverySite]:
    site = DiscoverySite(httpserver)
    serve = httpserver.expect_request
    serve("/robots.txt").respond_with_data(
        f"User-agent: *\nDisallow: /private/\nSitemap: {site.url('/sitemap_index.xml')}\n",
        content_type="text/plain",
    )
    articles = {
        **SITEMAP_ARTICLES,
        **LIST_ARTICLES,
        **SECOND_PAGE_ARTICLES,
        **HOMEPAGE_ARTICLES,
        **QUERY_ARTICLES,
        THIRD_PAGE_ARTICLE: "Too deep to be followed",
        OLD_SITEMAP_ARTICLE: "An old story",
        OLD_SITEMAP_ONLY: "An archived story",
        GNEWS_ARTICLE: GNEWS_TITLE,
    }
    for path, title in articles.items():
        serve(path).respond_with_data(
            _article(path, title, title.lower()), content_type="text/html"
        )

    old = datetime(2019, 5, 1, tzinfo=UTC)
    index = sitemap_index(
        {
            site.url("/sitemaps/news.xml"): _FRESH,
            site.url("/sitemaps/2019.xml"): old,
            site.url("/sitemap_index.xml"): _FRESH,
        }
    )
    serve("/sitemap_index.xml").respond_with_handler(_conditional(index, "application/xml"))
    news = {site.url(path): (title, _FRESH) for path, title in SITEMAP_ARTICLES.items()}
    news[site.url(OLD_SITEMAP_ARTICLE)] = ("An old story", old)
    serve("/sitemaps/news.xml").respond_with_handler(
        _conditional(news_sitemap(news), "application/xml")
    )
    serve("/sitemaps/2019.xml").respond_with_handler(
        _conditional(news_sitemap({site.url(OLD_SITEMAP_ONLY): ("Archived", old)}), "text/xml")
    )

    serve("/world/").respond_with_data(
        list_page(LIST_ARTICLES, next_page="/world/page/2/"), content_type="text/html"
    )
    serve("/world/page/2/").respond_with_data(
        list_page(SECOND_PAGE_ARTICLES, next_page="/world/page/3/"), content_type="text/html"
    )
    serve("/world/page/3/").respond_with_data(
        list_page({THIRD_PAGE_ARTICLE: "Too deep"}, next_page=None), content_type="text/html"
    )

    serve("/home/").respond_with_data(
        "<!DOCTYPE html><html><head><title>Home</title>"
        '<link rel="alternate" type="application/rss+xml" title="Latest" href="/home/feed.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/home/comments/feed">'
        '</head><body><a href="/home/about/">About us</a></body></html>',
        content_type="text/html",
    )
    serve("/home/feed.xml").respond_with_data(
        rss([(title, site.url(path)) for path, title in HOMEPAGE_ARTICLES.items()]),
        content_type="application/rss+xml",
    )

    gdelt = rss([(title, site.url(path)) for path, title in QUERY_ARTICLES.items()])
    serve("/gdelt/api/v2/doc/doc").respond_with_handler(_conditional(gdelt, "application/rss+xml"))
    gnews = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Google News search</title><link>https://news.google.com/</link>"
        f"<item><title>{GNEWS_TITLE} - Fixture Post</title>"
        f"<link>{escape(site.url(GNEWS_ARTICLE))}</link>"
        "<pubDate>Sun, 22 Nov 2026 06:00:00 GMT</pubDate>"
        '<source url="https://post.example">Fixture Post</source></item>'
        "</channel></rss>"
    )
    serve("/gnews/rss/search").respond_with_handler(_conditional(gnews, "application/rss+xml"))
    yield site
