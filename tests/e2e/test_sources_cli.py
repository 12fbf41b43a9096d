"""``veille sources`` (health), ``veille sources check ID`` (dry run), and sources in trouble."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from storage.database import make_session_factory, open_database
from storage.models import Article, PollTarget
from tests.discovery_site import LIST_ARTICLES, SECOND_PAGE_ARTICLES, DiscoverySite
from tests.e2e.test_crawl_cli import last_run, veille

CRAWL = """
[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.01s"
autothrottle = false
retry_times = 0
"""


def _count(database_url: str, model: type) -> int:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(model)) or 0
    engine.dispose()
    return count


def test_check_shows_what_would_be_fetched_and_stores_nothing(
    discovery_site: DiscoverySite, sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(discovery_site.config_text(sqlite_url), encoding="utf-8")

    result = veille("sources", "check", "list-only", "--config", str(config), "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    decisions = {
        entry["url"]: entry["decision"] for item in report for entry in item.get("entries", [])
    }
    expected = {discovery_site.url(path) for path in {**LIST_ARTICLES, **SECOND_PAGE_ARTICLES}}
    assert set(decisions) == expected
    assert all(decision.startswith("new") for decision in decisions.values())
    polled = {item["poll"] for item in report if "poll" in item}
    assert polled == {discovery_site.url("/world/"), discovery_site.url("/world/page/2/")}
    for path in LIST_ARTICLES:
        assert discovery_site.requests_for(path) == 0
    assert _count(sqlite_url, Article) == 0
    assert _count(sqlite_url, PollTarget) == 0

    table = veille("sources", "check", "list-only", "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert "3 new article(s) would be fetched; nothing was stored." in table.stdout

    unknown = veille("sources", "check", "nope", "--config", str(config))
    assert unknown.returncode == 2
    assert "unknown source 'nope'" in unknown.stderr


def test_a_failing_feed_is_counted_and_shown_by_veille_sources(
    httpserver: HTTPServer, sqlite_url: str, tmp_path: Path
) -> None:
    """Five failures in a row make a feed failing (the progression is unit-tested)."""
    httpserver.expect_request("/robots.txt").respond_with_data("", content_type="text/plain")
    httpserver.expect_request("/feed.xml").respond_with_data("busy", status=503)
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_url}"\n{CRAWL}failing_score = 0.5\n'
        f'[[sources]]\nid = "overloaded"\nfeeds = ["{httpserver.url_for("/feed.xml")}"]\n',
        encoding="utf-8",
    )
    crawl = veille("crawl", "--config", str(config))
    assert crawl.returncode == 3, crawl.stdout + crawl.stderr  # nothing could be polled
    assert last_run(sqlite_url).failures["feeds/failed/http_503"] == 1

    listing = veille("sources", "--config", str(config), "--json")
    assert listing.returncode == 0, listing.stderr
    [health] = json.loads(listing.stdout)
    assert health["state"] == "failing"
    assert "1 failure in a row (http_503" in health["detail"]
    table = veille("sources", "--config", str(config), env={"COLUMNS": "250"})
    row = next(line for line in table.stdout.splitlines() if "overloaded" in line)
    assert re.search(r"\bfailing\b", row) and "1 feed (1 failing)" in row
    assert "1 failure in a row" in table.stdout


def test_bad_sitemaps_and_huge_list_pages_end_with_a_counted_reason(
    httpserver: HTTPServer, corpora: Path, sqlite_url: str, tmp_path: Path
) -> None:
    serve = httpserver.expect_request
    serve("/robots.txt").respond_with_data("", content_type="text/plain")
    serve("/not-xml.xml").respond_with_data(
        "<!DOCTYPE html><html><body>Sitemap moved</body></html>", content_type="text/html"
    )
    bomb = corpora / "feeds/scrapy/tests/sample_data/compressed/bomb-gzip.bin"
    serve("/bomb.xml.gz").respond_with_data(bomb.read_bytes(), content_type="application/gzip")
    links = "".join(
        f'<li><a href="/2026/11/22/story-{n:05d}.html">Story number {n}</a></li>'
        for n in range(10_000)
    )
    serve("/latest/").respond_with_data(
        f"<html><body><ul>{links}</ul></body></html>", content_type="text/html"
    )
    serve(re.compile(r"/2026/11/22/story-\d+\.html")).respond_with_data(
        "<html><body><p>Short.</p></body></html>", content_type="text/html"
    )
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_url}"\n{CRAWL}max_sitemap_size = "1MB"\n'
        "max_links_per_page = 5\n"
        f'[[sources]]\nid = "bad-sitemaps"\nsitemaps = ["{httpserver.url_for("/not-xml.xml")}",'
        f' "{httpserver.url_for("/bomb.xml.gz")}"]\n'
        f'[[sources]]\nid = "huge-list"\npages = ["{httpserver.url_for("/latest/")}"]\n',
        encoding="utf-8",
    )

    crawl = veille("crawl", "--config", str(config))

    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    run = last_run(sqlite_url)
    assert run.failures["feeds/failed/not_a_sitemap"] == 1
    assert run.failures["feeds/failed/too_large"] == 1
    assert run.stats["veille/pages/links_refused/over_limit"] > 0
    stories = [r for r, _ in httpserver.log if r.path.startswith("/2026/11/22/story-")]
    assert len(stories) == 5  # bounded: max_links_per_page
    log = " ".join(crawl.stderr.split())
    assert "is not a sitemap" in log
    assert "more than 1000000 bytes once decompressed" in log
    assert "more article links than the 5 taken" in log
