"""A local news web for ``bench/crawl.py``: corpus pages served from memory on 127.0.0.x hosts.

The article pages are real ones from ``../shared/corpora`` (the extraction benchmark, the
trafilatura evaluation set and cache, newspaper4k's and GNE's test pages), taken in turn from
each corpus. Every host (127.0.0.2 to 127.0.0.9) is one threaded HTTP/1.1 server with a
``robots.txt``, an RSS 2.0 feed and a Google News sitemap that both list all its articles, dated
now, and the articles themselves, sent gzip-compressed when the client accepts it (the corpora
store them compressed, so that costs the server nothing). Every answer carries an ETag and a
Last-Modified date, and a conditional request for an unchanged resource gets a 304, as from a
well-behaved news site.

Every request is counted by kind (robots, feed, sitemap, article, other) and status, and each
article path separately, so that a benchmark can check what a crawler asked for.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import lxml.html
from feedgen.feed import FeedGenerator
from lxml import etree
from scrapy.settings.default_settings import METAREFRESH_IGNORE_TAGS, METAREFRESH_MAXDELAY
from w3lib.encoding import html_to_unicode
from w3lib.html import get_meta_refresh

HOSTS = tuple(f"127.0.0.{number}" for number in range(2, 10))
FEED_PATH = "/feed.xml"
SITEMAP_PATH = "/sitemap-news.xml"
ROBOTS_PATH = "/robots.txt"

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"

# (corpus name, globs under the corpora folder). Only article pages: newspaper4k's pages without
# an expected text are home pages, meta-refresh stubs and an RSS file saved as .html, and GNE's
# list pages live outside tests/.
CORPUS_GLOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("extraction-benchmark", ("extraction-benchmark/html/*.html.gz",)),
    ("trafilatura", ("pages/trafilatura/tests/eval/*.html.gz",
                     "pages/trafilatura/tests/cache/*.html.gz")),
    ("newspaper4k", ("pages/newspaper4k/tests/data/html/*.html.gz",)),
    ("gne", ("pages/gne/tests/*/*.html.gz",)),
)  # fmt: skip

_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TITLE_MAX_CHARS = 200
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_UTF8_PARSER = lxml.html.HTMLParser(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class CorpusPage:
    corpus: str
    name: str
    """The file's path under the corpora folder."""
    compressed: bytes
    """The page as stored in the corpora: gzip, level 9."""
    body: bytes
    title: str
    language: str | None
    """The primary subtag of ``<html lang>``, if any."""

    @property
    def path(self) -> str:
        """Where the page is served: ``/news/<corpus>/<folder>-<file name>``."""
        folder, file_name = self.name.removesuffix(".gz").split("/")[-2:]
        return f"/news/{self.corpus}/{_UNSAFE_PATH_CHARS.sub('-', f'{folder}-{file_name}')}"


def load_corpus_pages(corpora: Path, limit: int) -> tuple[list[CorpusPage], Counter[str]]:
    """Up to ``limit`` article pages, one from each corpus in turn, and why others were left out.

    Pages that a browser (and Scrapy, within ``METAREFRESH_MAXDELAY``) leaves at once for
    another address through ``<meta http-equiv="refresh">`` are not articles of this web.
    """
    queues = [_corpus_files(corpora, name, globs) for name, globs in CORPUS_GLOBS]
    pages: list[CorpusPage] = []
    skipped: Counter[str] = Counter()
    seen_paths: set[str] = set()
    while len(pages) < limit and any(queues):
        for corpus, queue in zip(CORPUS_GLOBS, queues, strict=True):
            if not queue or len(pages) >= limit:
                continue
            file = queue.pop(0)
            page = _read_page(corpora, corpus[0], file, skipped)
            if page is not None and page.path not in seen_paths:
                seen_paths.add(page.path)
                pages.append(page)
    return pages, skipped


def _corpus_files(corpora: Path, corpus: str, globs: tuple[str, ...]) -> list[Path]:
    files = sorted(file for pattern in globs for file in corpora.glob(pattern))
    if corpus == "newspaper4k":
        expected = corpora / "pages/newspaper4k/tests/data/txt"
        files = [
            file for file in files if (expected / f"{file.name.split('.html')[0]}.txt").exists()
        ]
    return files


def _read_page(corpora: Path, corpus: str, file: Path, skipped: Counter[str]) -> CorpusPage | None:
    compressed = file.read_bytes()
    body = gzip.decompress(compressed)
    delay, _ = get_meta_refresh(
        body.decode("utf-8", errors="replace"),
        "http://127.0.0.1/",
        ignore_tags=METAREFRESH_IGNORE_TAGS,
    )
    if delay is not None and delay < METAREFRESH_MAXDELAY:
        skipped["meta refresh"] += 1
        return None
    title, language = _head_facts(body)
    return CorpusPage(
        corpus=corpus,
        name=file.relative_to(corpora).as_posix(),
        compressed=compressed,
        body=body,
        title=title or file.name.split(".html")[0],
        language=language,
    )


def _head_facts(body: bytes) -> tuple[str, str | None]:
    """The page's title (for its feed entry) and the primary subtag of its ``<html lang>``.

    Both are in the head: parsing only that keeps loading a thousand pages quick.
    """
    head_end = _HEAD_END.search(body)
    head = _decode(body[: head_end.end()] if head_end else body)
    try:
        tree = lxml.html.document_fromstring(head.encode("utf-8"), parser=_UTF8_PARSER)
    except etree.ParserError:  # nothing but whitespace or comments
        return "", None
    title = " ".join(_NOT_XML_CHARS.sub("", tree.findtext(".//title") or "").split())
    language = (tree.get("lang") or "").split("-", 1)[0].strip().lower() or None
    return title[:_TITLE_MAX_CHARS], language


def _decode(html: bytes) -> str:
    """UTF-8 if the bytes are, else what the page declares (as browsers read it)."""
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        return html_to_unicode(None, html)[1]


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    """robots, feed, sitemap or article: what the request log counts it as."""
    content_type: str
    body: bytes
    gzipped: bytes | None
    """The body gzip-compressed, sent to clients that accept it."""
    etag: str


@dataclass(frozen=True, slots=True)
class RequestCounts:
    by_kind: Counter[tuple[str, int]]
    """(kind, status) to number of requests."""
    article_paths: Counter[str]
    user_agents: Counter[str]

    def count(self, kind: str, status: int | None = None) -> int:
        return sum(n for (k, s), n in self.by_kind.items() if k == kind and status in (None, s))


@dataclass
class RequestLog:
    """What every host was asked, shared by all hosts; safe across server threads."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _by_kind: Counter[tuple[str, int]] = field(default_factory=Counter)
    _article_paths: Counter[str] = field(default_factory=Counter)
    _user_agents: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, status: int, host_path: str, user_agent: str) -> None:
        with self._lock:
            self._by_kind[(kind, status)] += 1
            self._user_agents[user_agent] += 1
            if kind == "article":
                self._article_paths[host_path] += 1

    def take(self) -> RequestCounts:
        """The counts since the last call, and start counting afresh."""
        with self._lock:
            counts = RequestCounts(self._by_kind, self._article_paths, self._user_agents)
            self._by_kind, self._article_paths, self._user_agents = Counter(), Counter(), Counter()
        return counts


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True
    resources: dict[str, Resource]
    log: RequestLog
    last_modified: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as crawlers expect from news sites
    server: _HostServer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        resource = self.server.resources.get(path)
        user_agent = self.headers.get("User-Agent", "")
        host_path = f"{self.server.server_address[0]}{path}"
        if resource is None:
            self.server.log.record("other", 404, host_path, user_agent)
            self.send_error(404)
            return
        status = 304 if self._is_fresh(resource) else 200
        self.server.log.record(resource.kind, status, host_path, user_agent)
        self.send_response(status)
        self.send_header("ETag", resource.etag)
        self.send_header("Last-Modified", self.server.last_modified)
        if status == 304:
            self.end_headers()
            return
        body = resource.body
        if resource.gzipped is not None and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = resource.gzipped
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _is_fresh(self, resource: Resource) -> bool:
        """Whether the client's cached copy, named by its validators, is still current."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            return resource.etag in {tag.strip() for tag in if_none_match.split(",")}
        return self.headers.get("If-Modified-Since") == self.server.last_modified

    def log_message(self, format: str, *args: object) -> None:
        """Silent: every request is counted in the request log instead."""


@dataclass
class NewsHost:
    address: str
    server: _HostServer
    articles: list[tuple[str, CorpusPage]]
    """(URL, page) of each article, newest first."""

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.server.server_address[1]}"

    @property
    def source_id(self) -> str:
        return "local-" + self.address.replace(".", "-")


class LocalWeb:
    """The hosts, started on entry and stopped on exit; ``log`` counts what they were asked."""

    def __init__(
        self,
        pages: list[CorpusPage],
        hosts: tuple[str, ...] = HOSTS,
        *,
        now: datetime | None = None,
    ) -> None:
        self.log = RequestLog()
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.hosts: list[NewsHost] = []
        self._threads: list[threading.Thread] = []
        self._pages = pages
        self._addresses = hosts

    def __enter__(self) -> Self:
        try:
            for index, address in enumerate(self._addresses):
                self.hosts.append(
                    self._start_host(address, self._pages[index :: len(self._addresses)])
                )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for host in self.hosts:
            host.server.shutdown()
            host.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def article_urls(self) -> list[str]:
        return [url for host in self.hosts for url, _ in host.articles]

    def _start_host(self, address: str, pages: list[CorpusPage]) -> NewsHost:
        try:
            server = _HostServer((address, 0), _Handler)
        except OSError as error:
            raise OSError(
                f"cannot serve on {address}: {error} (is 127.0.0.0/8 routed here?)"
            ) from None
        host = NewsHost(address, server, [])
        host.articles = [(host.base_url + page.path, page) for page in pages]
        server.log = self.log
        server.last_modified = format_datetime(self.now, usegmt=True)
        server.resources = self._resources(host)
        thread = threading.Thread(target=server.serve_forever, name=f"web-{address}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return host

    def _resources(self, host: NewsHost) -> dict[str, Resource]:
        resources = {
            ROBOTS_PATH: _resource("robots", "text/plain; charset=utf-8", _robots(host).encode()),
            FEED_PATH: _resource("feed", "application/rss+xml", self._feed(host)),
            SITEMAP_PATH: _resource("sitemap", "application/xml", self._sitemap(host)),
        }
        for _, page in host.articles:
            resources[page.path] = Resource(
                "article", "text/html", page.body, page.compressed, _etag(page.compressed)
            )
        return resources

    def published(self, index: int) -> datetime:
        """The publication time of a host's ``index``-th article: a second apart, newest first."""
        return self.now - timedelta(seconds=index)

    def _feed(self, host: NewsHost) -> bytes:
        feed = FeedGenerator()
        feed.title(f"Local news on {host.address}")
        feed.link(href=host.base_url + "/", rel="alternate")
        feed.description(f"Every article of {host.address}, newest first")
        feed.lastBuildDate(self.now)
        for index, (url, page) in enumerate(host.articles):
            entry = feed.add_entry(order="append")
            entry.title(page.title)
            entry.link(href=url)
            entry.guid(url, permalink=True)
            entry.pubDate(self.published(index))
        return feed.rss_str(pretty=False)

    def _sitemap(self, host: NewsHost) -> bytes:
        urlset = etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS, "news": NEWS_NS})
        for index, (url, page) in enumerate(host.articles):
            entry = etree.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
            etree.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = url
            news = etree.SubElement(entry, f"{{{NEWS_NS}}}news")
            publication = etree.SubElement(news, f"{{{NEWS_NS}}}publication")
            etree.SubElement(publication, f"{{{NEWS_NS}}}name").text = f"Local news {host.address}"
            etree.SubElement(publication, f"{{{NEWS_NS}}}language").text = page.language or "und"
            published = self.published(index).isoformat()
            etree.SubElement(news, f"{{{NEWS_NS}}}publication_date").text = published
            etree.SubElement(news, f"{{{NEWS_NS}}}title").text = page.title
        return etree.tostring(urlset, xml_declaration=True, encoding="UTF-8")

    def veille_config(self, database_url: str, *, user_agent: str, download_delay: float) -> str:
        """A ``veille.toml`` with one source per host: its feed and its news sitemap."""
        lines = [
            "# Generated by bench/crawl.py for its local news web.",
            "[database]",
            f"url = {_toml_string(database_url)}",
            "",
            "[crawl]",
            f"user_agent = {_toml_string(user_agent)}",
            f'download_delay = "{download_delay * 1000:g}ms"',
            "autothrottle = false",
            "concurrent_requests = 16",
            "concurrent_requests_per_domain = 2",
            'timeout = "30m"',
        ]
        for host in self.hosts:
            lines += [
                "",
                "[[sources]]",
                f'id = "{host.source_id}"',
                f'name = "Local news {host.address}"',
                f"feeds = [{_toml_string(host.base_url + FEED_PATH)}]",
                f"sitemaps = [{_toml_string(host.base_url + SITEMAP_PATH)}]",
            ]
        return "\n".join(lines) + "\n"


def _robots(host: NewsHost) -> str:
    return f"User-agent: *\nDisallow: /private/\n\nSitemap: {host.base_url}{SITEMAP_PATH}\n"


def _resource(kind: str, content_type: str, body: bytes) -> Resource:
    return Resource(kind, content_type, body, gzip.compress(body, mtime=0), _etag(body))


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _toml_string(value: str) -> str:
    """A TOML basic string (the URLs and names here have no quotes or backslashes)."""
    if '"' in value or "\\" in value or "\n" in value:
        raise ValueError(f"cannot write {value!r} as a simple TOML string")
    return f'"{value}"'
