"""A fixture news site on 127.0.0.1 (pytest-httpserver): feeds, robots.txt, articles, traps.

Every trap the crawler must survive is here: tracking parameters, a robots-disallowed
page, a PDF, a 20 MB page, a 404, a ``file://`` link, an empty page, a feed that is
HTML, a feed that is ill-formed, a page that fails once with 503, a GBK-encoded page.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROBOTS = "User-agent: *\nDisallow: /private/\n"

ARTICLES: dict[str, tuple[str, str, list[str]]] = {
    "/news/2026/11/20/waico-founded.html": (
        "en",
        "Founding members sign charter of the World AI Cooperation Organization",
        [
            "Representatives of more than thirty countries signed the founding charter of the "
            "World AI Cooperation Organization in Shanghai on Thursday, the host city confirmed.",
            "The organization, first proposed at the World Artificial Intelligence Conference, "
            "will focus on capacity-building for developing countries, shared computing "
            "infrastructure and common safety standards, according to the charter text.",
            "Delegates said the first work programme would be adopted within six months, with "
            "training centres planned in Africa, Southeast Asia and Latin America.",
        ],
    ),
    "/news/2026/11/20/plan-capacites.html": (
        "fr",
        "Le plan d'action pour le renforcement des capacités en IA entre en deuxième phase",
        [
            "Le plan d'action pour le renforcement des capacités en intelligence artificielle, "
            "présenté en septembre 2024 à New York, entre dans une deuxième phase, ont indiqué "
            "jeudi des diplomates réunis à Genève.",
            "Le Groupe des amis pour la coopération internationale en matière de renforcement "
            "des capacités en IA doit tenir sa prochaine réunion au printemps, avec des "
            "ateliers consacrés aux données, au calcul et à la formation des enseignants.",
            "Plusieurs pays africains ont demandé que les ateliers soient organisés en français "
            "et que les supports de formation soient publiés sous licence libre.",
        ],
    ),
    "/news/2026/11/21/zhili-xingdong.html": (
        "zh",
        "全球人工智能治理行动计划发布一周年 多国专家共商合作",
        [
            "在全球人工智能治理行动计划发布一周年之际，来自二十多个国家的专家在上海举行研讨会，"
            "围绕人工智能能力建设、数据跨境流动和安全评估标准展开讨论。",
            "与会专家认为，行动计划提出的十三项具体举措为发展中国家参与全球人工智能治理提供了"
            "重要平台，各方应加强政策沟通，推动形成广泛共识。",
            "研讨会还发布了人工智能能力建设案例集，收录了非洲、东南亚和拉丁美洲的四十个项目。",
        ],
    ),
    "/news/2026/11/21/wic-wuzhen.html": (
        "en",
        "World Internet Conference opens Wuzhen summit with focus on AI governance",
        [
            "The World Internet Conference opened its annual Wuzhen summit on Friday, with "
            "sessions on artificial intelligence governance, data security and digital trade.",
            "Organisers said more than 1,500 guests from over 130 countries and regions had "
            "registered, and that a report on the Digital Silk Road would be released.",
            "A forum on AI capacity-building for the Global South is scheduled for Saturday.",
        ],
    ),
    "/news/2026/11/22/broken-feed-story.html": (
        "en",
        "Story listed in an ill-formed feed is still collected",
        [
            "This article is linked only from a feed whose XML is broken: an unescaped ampersand "
            "and a missing closing tag. A tolerant parser still finds the entry and its link.",
            "Monitoring tools must not lose coverage because a publisher's feed generator is "
            "sloppy; they should log the problem, count it, and carry on with the crawl.",
        ],
    ),
    "/news/flaky.html": (
        "en",
        "A page that fails once before it loads",
        [
            "The first request for this page gets a 503 Service Unavailable answer; the retry, "
            "after a short backoff, gets the article itself and it is stored as usual.",
            "Transient server errors are common on busy news sites during major events, so a "
            "crawler retries politely instead of giving up at the first failure.",
        ],
    ),
}
GBK_PATH = "/news/2026/11/21/zhili-xingdong.html"
EMPTY_PAGE = (
    "<html><head><title>Empty</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
)


def article_html(path: str, language: str, title: str, paragraphs: list[str], charset: str) -> str:
    body = "\n".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    date = "2026-11-" + path.split("/")[4] if path.count("/") >= 5 else "2026-11-20"
    return f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="{charset}"><title>{title} | Fixture News</title>
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{date}T08:00:00+00:00">
<link rel="canonical" href="{path}"></head>
<body><header><nav><a href="/">Home</a> <a href="/world/">World</a> <a href="/tech/">Tech</a>
<a href="/opinion/">Opinion</a> <a href="/subscribe/">Subscribe to our newsletter</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By Fixture Reporter</p>
{body}
</article>
<aside><h2>Most read</h2><ul><li><a href="/a">Markets close higher on tech rally</a></li>
<li><a href="/b">Weather: storms expected across the region this weekend</a></li></ul>
</aside></main>
<footer><p>Copyright 2026 Fixture News. All rights reserved. Privacy policy. Terms of use.</p>
</footer></body></html>"""


def rss(items: list[tuple[str, str]], *, broken: bool = False) -> str:
    entries = "\n".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<pubDate>Fri, 20 Nov 2026 08:00:00 GMT</pubDate></item>"
        for title, link in items
    )
    if broken:  # an unescaped ampersand and a channel that is never closed
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & sloppy</title>'
            f"{entries}</rss>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Fixture News</title><link>http://example.org/</link>{entries}</channel></rss>"
    )


def atom(items: list[tuple[str, str]]) -> str:
    entries = "\n".join(
        f'<entry><title>{escape(title)}</title><link rel="alternate" href={quoteattr(link)}/>'
        f"<id>{escape(link)}</id><updated>2026-11-21T06:00:00Z</updated></entry>"
        for title, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Fixture News Atom</title><id>urn:fixture</id>"
        f"<updated>2026-11-21T06:00:00Z</updated>{entries}</feed>"
    )


@dataclass
class NewsSite:
    server: HTTPServer
    corpus_pages: dict[str, str]
    """Paths of real benchmark pages served, with their gold article text."""

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    @property
    def requested_paths(self) -> list[str]:
        return [request.path for request, _response in self.server.log]

    def requests_for(self, path: str) -> int:
        return self.requested_paths.count(path)

    @property
    def user_agents(self) -> set[str]:
        return {request.headers.get("User-Agent", "") for request, _ in self.server.log}

    def config_text(self, database_url: str, **crawl: str) -> str:
        crawl_lines = "\n".join(f"{key} = {value}" for key, value in crawl.items())
        return f"""
[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.05s"
autothrottle = false
retry_times = 2
retry_backoff_base = "0.2s"
{crawl_lines}

[[sources]]
id = "fixture-news"
name = "Fixture News"
feeds = ["{self.url("/feeds/news.xml")}", "{self.url("/feeds/news.atom")}"]

[[sources]]
id = "fixture-troubles"
name = "Feeds in trouble"
feeds = ["{self.url("/feeds/broken.xml")}", "{self.url("/feeds/page.xml")}",
         "{self.url("/feeds/gone.xml")}"]
"""


def _flaky_handler() -> object:
    calls = {"count": 0}
    language, title, paragraphs = ARTICLES["/news/flaky.html"]

    def handle(request: Request) -> Response:
        calls["count"] += 1
        if calls["count"] == 1:
            return Response("busy", status=503, headers={"Retry-After": "0"})
        html = article_html("/news/flaky.html", language, title, paragraphs, "utf-8")
        return Response(html, content_type="text/html; charset=utf-8")

    return handle


def _corpus_pages(corpora: Path | None, count: int = 2) -> dict[str, tuple[bytes, str]]:
    """A few real pages of the extraction benchmark, with their gold text."""
    if corpora is None:
        return {}
    benchmark = corpora / "extraction-benchmark"
    gold = json.loads((benchmark / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {}
    for page_id in sorted(gold)[:count]:
        html = gzip.decompress((benchmark / "html" / f"{page_id}.html.gz").read_bytes())
        pages[f"/corpus/{page_id}.html"] = (html, gold[page_id]["articleBody"])
    return pages


@pytest.fixture
def news_site(httpserver: HTTPServer) -> Iterator[NewsSite]:
    from tests.conftest import shared_dir

    found = shared_dir()
    corpus = _corpus_pages(found / "corpora" if found else None)
    site = NewsSite(httpserver, {path: gold for path, (_html, gold) in corpus.items()})
    httpserver.expect_request("/robots.txt").respond_with_data(ROBOTS, content_type="text/plain")
    for path, (language, title, paragraphs) in ARTICLES.items():
        if path == "/news/flaky.html":
            continue
        charset = "gbk" if path == GBK_PATH else "utf-8"
        html = article_html(path, language, title, paragraphs, charset).encode(charset)
        httpserver.expect_request(path).respond_with_data(
            html, content_type=f"text/html; charset={charset}"
        )
    httpserver.expect_request("/news/flaky.html").respond_with_handler(_flaky_handler())
    for path, (html, _gold) in corpus.items():
        httpserver.expect_request(path).respond_with_data(html, content_type="text/html")
    httpserver.expect_request("/private/secret.html").respond_with_data(
        "<html><body>secret</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/files/report.pdf").respond_with_data(
        b"%PDF-1.4\n" + b"0" * 5000, content_type="application/pdf"
    )
    httpserver.expect_request("/news/huge.html").respond_with_data(
        b"<html><body>" + b"<p>padding</p>" * (20 * 1024 * 1024 // 14) + b"</body></html>",
        content_type="text/html",
    )
    httpserver.expect_request("/news/missing.html").respond_with_data("gone", status=404)
    httpserver.expect_request("/news/empty.html").respond_with_data(
        EMPTY_PAGE, content_type="text/html"
    )
    main_items = [
        ("WAICO founded", site.url("/news/2026/11/20/waico-founded.html")),
        (
            "Plan (tracked link)",
            site.url("/news/2026/11/20/plan-capacites.html")
            + "?utm_source=rss&utm_medium=feed&utm_campaign=ai#comments",
        ),
        ("Plan", site.url("/news/2026/11/20/plan-capacites.html")),
        ("治理行动计划", site.url(GBK_PATH)),
        ("Secret", site.url("/private/secret.html")),
        ("Report (PDF)", site.url("/files/report.pdf")),
        ("Huge page", site.url("/news/huge.html")),
        ("Gone article", site.url("/news/missing.html")),
        ("Local file", "file:///etc/passwd"),
        ("Empty page", site.url("/news/empty.html")),
        ("Flaky page", site.url("/news/flaky.html")),
        *((f"Benchmark page {path}", site.url(path)) for path in corpus),
    ]
    httpserver.expect_request("/feeds/news.xml").respond_with_data(
        rss(main_items), content_type="application/rss+xml"
    )
    atom_items = [
        ("WIC Wuzhen", site.url("/news/2026/11/21/wic-wuzhen.html")),
        ("WAICO again", site.url("/news/2026/11/20/waico-founded.html") + "?utm_source=atom"),
    ]
    httpserver.expect_request("/feeds/news.atom").respond_with_data(
        atom(atom_items), content_type="application/atom+xml"
    )
    httpserver.expect_request("/feeds/broken.xml").respond_with_data(
        rss([("Broken", site.url("/news/2026/11/22/broken-feed-story.html"))], broken=True),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/feeds/page.xml").respond_with_data(
        "<!DOCTYPE html><html><body><h1>Our feeds have moved</h1></body></html>",
        content_type="text/html",
    )
    httpserver.expect_request("/feeds/gone.xml").respond_with_data("gone", status=404)
    yield site
