"""End to end through ``veille crawl``: sitemaps, list pages, a homepage and query feeds.

The second crawl of the unchanged sites must send conditional requests, get 304s (or,
from servers that ignore validators, the same body) and request no article at all.
"""

from __future__ import annotations

from pathlib import Path

from storage.database import make_session_factory, open_database
from storage.models import PollTarget
from tests.discovery_site import (
    GNEWS_ARTICLE,
    GNEWS_TITLE,
    OLD_SITEMAP_ARTICLE,
    OLD_SITEMAP_ONLY,
    SECTION_LINKS,
    THIRD_PAGE_ARTICLE,
    DiscoverySite,
)
from tests.e2e.test_crawl_cli import last_run, stored_articles, veille


def _paths(database_url: str) -> dict[str, str]:
    """Stored articles by path, with their source id."""
    return {
        "/" + article.canonical_url.split("/", 3)[3]: article.source_id
        for article in stored_articles(database_url).values()
    }


def test_every_kind_of_source_is_crawled_then_repolled_conditionally(
    discovery_site: DiscoverySite, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(discovery_site.config_text(database_url), encoding="utf-8")

    first = veille("crawl", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr

    stored = _paths(database_url)
    assert set(stored) == discovery_site.expected_articles
    assert stored["/sm/2026/11/22/apec-ai-initiative.html"] == "sitemap-only"
    assert stored["/world/2026/11/20/un-resolution-anniversary.html"] == "list-only"
    assert stored["/home/news/2026/11/22/waico-secretariat.html"] == "homepage-only"
    assert stored["/q/2026/11/22/gdelt-story-one.html"] == "gdelt-query"
    assert stored[GNEWS_ARTICLE] == "gnews-query"
    # Old sitemap entries and the old sitemap are skipped; pagination stops at depth 1;
    # section, tag and author links are not articles; the comment feed is not polled.
    for path in (OLD_SITEMAP_ARTICLE, OLD_SITEMAP_ONLY, "/sitemaps/2019.xml", THIRD_PAGE_ARTICLE,
                 "/world/page/3/", "/tech/", "/tag/ai/", "/author/jane-doe/", "/about/",
                 "/home/comments/feed", "/home/about/"):  # fmt: skip
        assert discovery_site.requests_for(path) == 0, path
    assert discovery_site.requests_for("/sitemap_index.xml") == 1  # it lists itself
    assert SECTION_LINKS[0] == "/world/" and discovery_site.requests_for("/world/") == 1

    articles = stored_articles(database_url)
    gnews = next(a for a in articles.values() if a.canonical_url.endswith(GNEWS_ARTICLE))
    assert gnews.title == GNEWS_TITLE  # the " - Fixture Post" suffix is not the title

    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        targets = {(t.source_id, t.url.split("/", 3)[3]): t for t in session.query(PollTarget)}
    engine.dispose()
    feed = targets[("homepage-only", "home/feed.xml")]
    assert feed.kind == "feed" and feed.discovered_from == discovery_site.url("/home/")
    assert targets[("sitemap-only", "sitemaps/news.xml")].items_new == 3
    assert ("sitemap-only", "sitemaps/2019.xml") not in targets
    assert all(t.next_poll_at is not None and t.last_outcome == "changed" for t in targets.values())

    before = len(discovery_site.requests)
    second = veille("crawl", "--config", str(config))
    assert second.returncode == 0, second.stdout + second.stderr
    again = discovery_site.requests[before:]
    polled = {path for path, _status, _headers in again} - {"/robots.txt"}
    assert polled == {
        "/sitemap_index.xml",
        "/sitemaps/news.xml",
        "/world/",
        "/home/",
        "/home/feed.xml",
        "/gdelt/api/v2/doc/doc",
        "/gnews/rss/search",
    }  # fmt: skip  -- no article page, no second list page
    for path, status, headers in again:
        if path in ("/sitemap_index.xml", "/sitemaps/news.xml", "/gdelt/api/v2/doc/doc"):
            assert headers.get("If-None-Match") and status == 304, path
    run = last_run(database_url)
    assert run.articles_new == 0
    assert run.stats["veille/feeds/not_modified"] == 4
    assert run.stats["veille/feeds/unchanged"] == 4  # robots.txt, list page, homepage, feed
    assert _paths(database_url) == stored
