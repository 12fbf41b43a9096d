"""End to end, through the real ``veille`` command: copies of one story filed together.

A small news day on fixture sites, each its own pytest-httpserver on loopback. A story's
``site_count`` counts host names, so the republishers are on ``127.0.0.1`` and the
publishers of the originals on ``localhost``:

- *Global Wire* (``localhost``) publishes the originals: an English, a French and a
  Chinese story, and a fourth that a spam site mirrors;
- *Tech Ledger* (``localhost``, another port) publishes two different stories on the same
  topic, in a template that puts one newsletter sentence into every article;
- *Daily Courier* and a spam mirror (one server on ``127.0.0.1``) republish them a day later: an
  exact copy, a near-copy, a traditional-character copy, a spam mirror, and a digest that
  names Tech Ledger's article as its ``rel=canonical``.

The originals are crawled first and the republishers in a second ``veille crawl``, as they
would be when the copies appear a day later; that crawl is a new process, which finds the
first one's stories in the database. The texts are in ``tests/data/stories/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from storage.database import make_session_factory, open_database
from storage.models import Article, Story
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import rss

DATA = Path(__file__).resolve().parents[1] / "data" / "stories"
NEWSLETTER = (
    "Subscribe to our newsletter: every weekday morning, the Tech Ledger team sends you the "
    "stories that matter in technology policy, free of charge."
)


@dataclass(frozen=True)
class FixtureText:
    language: str
    title: str
    paragraphs: list[str]


def fixture_text(name: str) -> FixtureText:
    """``tests/data/stories/<language>/<name>.txt``: a title line, then paragraphs."""
    language, _slash, _file = name.partition("/")
    title, *paragraphs = (DATA / f"{name}.txt").read_text(encoding="utf-8").strip().split("\n\n")
    return FixtureText(language, title, paragraphs)


def with_typographic_quotes(text: FixtureText) -> FixtureText:
    """The same text as a site whose CMS curls quotes and apostrophes would publish it."""
    curled = [
        re.sub(r'"([^"]*)"', "\u201c\\1\u201d", paragraph).replace("'", "\u2019")
        for paragraph in text.paragraphs
    ]
    return FixtureText(text.language, text.title, curled)


@dataclass
class Site:
    """A fixture news site: its server, and a page template of its own."""

    name: str
    server: HTTPServer
    template_sentence: str | None = None
    """A sentence the template adds at the end of every article, inside ``<article>``."""

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def publish(
        self,
        path: str,
        text: FixtureText,
        *,
        published: str,
        lang: str | None = None,
        canonical: str | None = None,
    ) -> str:
        """Serve an article page at ``path``; its URL. The page names itself as canonical
        unless ``canonical`` names another page."""
        paragraphs = list(text.paragraphs)
        if self.template_sentence:
            paragraphs.append(self.template_sentence)
        body = "\n".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
        html = f"""<!DOCTYPE html>
<html lang="{lang or text.language}"><head><meta charset="utf-8">
<title>{escape(text.title)} | {self.name}</title>
<meta property="og:title" content="{escape(text.title)}">
<meta property="article:published_time" content="{published}">
<link rel="canonical" href="{escape(canonical or self.url(path))}"></head>
<body><header><a href="/">{self.name}</a>
<nav><a href="/world/">World</a> <a href="/tech/">Technology</a> <a href="/business/">Business</a>
<a href="/newsletters/">Newsletters</a></nav></header>
<main><article><h1>{escape(text.title)}</h1>
{body}
</article>
<aside><h2>Most read on {self.name}</h2><ul>
<li><a href="/markets">Markets end the week higher on chip orders</a></li>
<li><a href="/weather">Storms expected across the region on Sunday</a></li></ul></aside></main>
<footer><p>&copy; 2026 {self.name}. All rights reserved. Privacy. Terms of use.</p></footer>
</body></html>"""
        self.server.expect_request(path).respond_with_data(
            html, content_type="text/html; charset=utf-8"
        )
        return self.url(path)

    def serve_feed(self, path: str, links: list[str]) -> str:
        """Serve an RSS feed listing ``links``; its URL."""
        items = [(f"Article {number}", link) for number, link in enumerate(links, 1)]
        self.server.expect_request(path).respond_with_data(
            rss(items), content_type="application/rss+xml"
        )
        return self.url(path)


@contextmanager
def serving(host: str) -> Iterator[HTTPServer]:
    server = HTTPServer(host=host, port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def write_config(path: Path, database_url: str, feeds: dict[str, str]) -> Path:
    """A configuration with one source per feed (``{source id: feed URL}``)."""
    sources = "".join(
        f'\n[[sources]]\nid = "{id_}"\nfeeds = ["{feed}"]\n' for id_, feed in feeds.items()
    )
    path.write_text(
        f"""[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.05s"
autothrottle = false
obey_robots_txt = false
{sources}""",
        encoding="utf-8",
    )
    return path


def crawl(config: Path, *source_ids: str) -> None:
    selection = [argument for id_ in source_ids for argument in ("--source", id_)]
    result = veille("crawl", "--config", str(config), *selection)
    assert result.returncode == 0, result.stdout + result.stderr


def export_rows(config: Path) -> dict[str, dict[str, Any]]:
    """``veille export --format jsonl``, by article URL."""
    result = veille("export", "--config", str(config), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["url"]: row for row in rows}


@dataclass(frozen=True)
class StoryRow:
    article_count: int
    site_count: int
    languages: list[str]
    representative_id: int | None


@dataclass(frozen=True)
class Stored:
    """What the database holds after a crawl: stored texts by URL, and the stories."""

    texts: dict[str, str | None]
    stories: dict[int, StoryRow]


def read_database(database_url: str) -> Stored:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        texts = {article.url: article.text for article in session.scalars(select(Article))}
        stories = {
            story.id: StoryRow(
                story.article_count,
                story.site_count,
                list(story.languages),
                story.representative_id,
            )
            for story in session.scalars(select(Story))
        }
    engine.dispose()
    return Stored(texts, stories)


# One news day, crawled once per database for the tests of each kind of copy


@dataclass(frozen=True)
class NewsDay:
    urls: dict[str, str]
    """Article URL by role: ``charter`` (the original), ``charter_copy`` ..."""
    rows: dict[str, dict[str, Any]]
    """Exported rows by article URL."""
    first_crawl: Stored
    """The database after the first crawl, of the originals."""
    stored: Stored
    """The database after the second crawl, of the republishers."""

    def row(self, role: str) -> dict[str, Any]:
        return self.rows[self.urls[role]]

    def story(self, role: str) -> StoryRow:
        return self.stored.stories[self.row(role)["story_id"]]

    def members(self, role: str) -> set[str]:
        """The roles of the articles in the same story as ``role``."""
        story_id = self.row(role)["story_id"]
        by_url = {url: name for name, url in self.urls.items()}
        return {by_url[url] for url, row in self.rows.items() if row["story_id"] == story_id}


def publish_news_day(wire: Site, ledger: Site, courier: Site, mirror: Site) -> dict[str, str]:
    """Serve the originals and their copies; article URL by role."""
    charter = fixture_text("en/waico_charter")
    resolution = fixture_text("fr/resolution_onu")
    silk_road_zh = fixture_text("zh/digital_silk_road")
    silk_road = fixture_text("en/digital_silk_road")
    day1, day2 = "2026-11-20T07:30:00+00:00", "2026-11-21T09:15:00+00:00"
    return {
        "charter": wire.publish("/world/2026/11/20/waico-charter.html", charter, published=day1),
        "resolution": wire.publish(
            "/fr/2026/11/20/resolution-capacites-ia.html", resolution, published=day1
        ),
        "silk_road_zh": wire.publish(
            "/zh/2026/11/20/shuzi-sichou-luntan.html", silk_road_zh, published=day1
        ),
        "silk_road": wire.publish(
            "/tech/2026/11/20/almaty-data-centre.html", silk_road, published=day1
        ),
        "secretariat": ledger.publish(
            "/policy/waico-secretariat-campus",
            fixture_text("en/waico_secretariat"),
            published=day1,
        ),
        "training": ledger.publish(
            "/policy/waico-university-network",
            fixture_text("en/waico_training_network"),
            published=day1,
        ),
        "charter_copy": courier.publish(
            "/news/ai-charter-agreed", with_typographic_quotes(charter), published=day2
        ),
        "resolution_copy": courier.publish(
            "/fr/bilan-onu-capacites-ia",
            fixture_text("fr/resolution_onu_near_copy"),
            published=day2,
        ),
        "silk_road_zh_tw": courier.publish(
            "/zh-tw/shuwei-sichou-luntan",
            fixture_text("zh/digital_silk_road_traditional"),
            published=day2,
            lang="zh-TW",
        ),
        "secretariat_digest": courier.publish(
            "/briefs/ai-secretariat-home",
            fixture_text("en/waico_secretariat_digest"),
            published=day2,
            canonical=ledger.url("/policy/waico-secretariat-campus"),
        ),
        "silk_road_spam": mirror.publish(
            "/mirror/almaty-data-centre-best-deals.html",
            fixture_text("en/digital_silk_road_spam_mirror"),
            published=day2,
        ),
    }


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def news_day(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NewsDay]:
    """The news day crawled into a fresh database, SQLite then PostgreSQL.

    Module-scoped, like ``database_url`` but shared: each kind of copy has a test of its own,
    and all of them read one pair of crawls per database (a crawl process takes seconds).
    """
    directory = tmp_path_factory.mktemp("news-day")
    if request.param == "sqlite":
        yield crawl_news_day(directory, f"sqlite:///{directory / 'veille.db'}")
        return
    admin_url = request.getfixturevalue("postgres_server")
    name, database_url = _create_postgres_database(admin_url)
    try:
        yield crawl_news_day(directory, database_url)
    finally:
        _drop_postgres_database(admin_url, name)


def crawl_news_day(directory: Path, database_url: str) -> NewsDay:
    """Serve the sites, crawl the originals, then (a new process) the republishers."""
    with (
        serving("localhost") as wire_server,
        serving("localhost") as ledger_server,
        serving("127.0.0.1") as courier_server,
    ):
        wire = Site("Global Wire", wire_server)
        ledger = Site("Tech Ledger", ledger_server, template_sentence=NEWSLETTER)
        courier = Site("Daily Courier", courier_server)
        mirror = Site("Best Deals News", courier_server)
        urls = publish_news_day(wire, ledger, courier, mirror)
        roles_of = {
            "wire": ["charter", "resolution", "silk_road_zh", "silk_road"],
            "ledger": ["secretariat", "training"],
            "courier": ["charter_copy", "resolution_copy", "silk_road_zh_tw", "secretariat_digest"],
            "mirror": ["silk_road_spam"],
        }
        sites = {"wire": wire, "ledger": ledger, "courier": courier, "mirror": mirror}
        feeds = {
            source: sites[source].serve_feed(f"/feeds/{source}.xml", [urls[r] for r in roles])
            for source, roles in roles_of.items()
        }
        config = write_config(directory / "veille.toml", database_url, feeds)
        crawl(config, "wire", "ledger")
        first_crawl = read_database(database_url)
        crawl(config, "courier", "mirror")
        rows = export_rows(config)
    return NewsDay(urls, rows, first_crawl, read_database(database_url))


def test_every_article_is_stored_and_filed_in_a_story(news_day: NewsDay) -> None:
    assert set(news_day.rows) == set(news_day.urls.values())
    assert all(row["story_id"] is not None for row in news_day.rows.values())


def test_copies_crawled_after_a_restart_join_the_stories_of_the_first_crawl(
    news_day: NewsDay,
) -> None:
    # The first crawl filed the four wire stories and the two Tech Ledger ones...
    first = news_day.first_crawl.stories
    assert len(first) == 6
    assert all(story.article_count == 1 for story in first.values())
    # ...and the second, a new process, found them in the database: every copy joined one
    # of them, the near-copies through the signatures stored by the first crawl.
    assert news_day.stored.stories.keys() == first.keys()
    for original, copy in [
        ("charter", "charter_copy"),
        ("resolution", "resolution_copy"),
        ("silk_road_zh", "silk_road_zh_tw"),
        ("silk_road", "silk_road_spam"),
        ("secretariat", "secretariat_digest"),
    ]:
        story_id = news_day.row(original)["story_id"]
        assert story_id in first
        assert news_day.row(copy)["story_id"] == story_id, copy
        assert news_day.story(original).article_count == 2


def test_exact_copy_on_another_site_is_stored_once_and_exported_with_the_original_text(
    news_day: NewsDay,
) -> None:
    original, copy = news_day.row("charter"), news_day.row("charter_copy")
    assert news_day.members("charter") == {"charter", "charter_copy"}
    assert copy["story_id"] == original["story_id"]
    assert copy["duplicate_of"] == original["id"]
    assert copy["similarity"] == 1.0
    assert original["duplicate_of"] is None
    # The copy curls its quotes: the text is the same once normalised, and stored once.
    assert news_day.stored.texts[news_day.urls["charter_copy"]] is None
    assert news_day.stored.texts[news_day.urls["charter"]] == original["text"]
    assert copy["text"] == original["text"]
    assert "thirty-eight countries" in copy["text"]
    story = news_day.story("charter")
    assert (story.article_count, story.site_count) == (2, 2)
    assert story.representative_id == original["id"]


def test_near_copy_with_a_paragraph_cut_and_a_byline_added_joins_the_story(
    news_day: NewsDay,
) -> None:
    original, copy = news_day.row("resolution"), news_day.row("resolution_copy")
    assert news_day.members("resolution") == {"resolution", "resolution_copy"}
    assert copy["duplicate_of"] == original["id"]
    assert 0.3 <= copy["similarity"] < 1.0
    assert "Par Claire Dumas" in copy["text"]  # its own text is kept
    assert "quatre mille ingénieurs" not in copy["text"]
    story = news_day.story("resolution")
    assert (story.article_count, story.site_count, story.languages) == (2, 2, ["fr"])


def test_traditional_character_copy_joins_the_simplified_chinese_story(news_day: NewsDay) -> None:
    original, copy = news_day.row("silk_road_zh"), news_day.row("silk_road_zh_tw")
    assert news_day.members("silk_road_zh") == {"silk_road_zh", "silk_road_zh_tw"}
    assert copy["duplicate_of"] == original["id"]
    assert 0.3 <= copy["similarity"] < 1.0
    assert "人工智慧" in copy["text"] and "中國(guó)" in copy["text"]
    assert "人工智能" in original["text"]
    assert news_day.story("silk_road_zh").article_count == 2


def test_spam_mirror_joins_the_story_and_does_not_represent_it(news_day: NewsDay) -> None:
    original, mirror = news_day.row("silk_road"), news_day.row("silk_road_spam")
    assert news_day.members("silk_road") == {"silk_road", "silk_road_spam"}
    assert mirror["duplicate_of"] == original["id"]
    assert 0.3 <= mirror["similarity"] < 1.0
    assert "casino" in mirror["text"]
    assert news_day.story("silk_road").representative_id == original["id"]


def test_two_stories_on_one_topic_from_one_site_stay_apart(news_day: NewsDay) -> None:
    secretariat, training = news_day.row("secretariat"), news_day.row("training")
    # Both texts carry the template's sentence, as well as the same nav and footer around them.
    assert NEWSLETTER in secretariat["text"] and NEWSLETTER in training["text"]
    assert secretariat["story_id"] != training["story_id"]
    assert training["duplicate_of"] is None and secretariat["duplicate_of"] is None
    assert news_day.members("training") == {"training"}
    assert news_day.story("training").article_count == 1


def test_page_naming_another_sites_article_as_canonical_joins_its_story(
    news_day: NewsDay,
) -> None:
    target, digest = news_day.row("secretariat"), news_day.row("secretariat_digest")
    assert digest["declared_canonical_url"] == news_day.urls["secretariat"]
    assert digest["story_id"] == target["story_id"]
    assert digest["duplicate_of"] == target["id"]
    # A rewritten summary, joined by its declaration and not by its text.
    assert digest["similarity"] is None
    assert digest["text"] != target["text"]
    assert news_day.stored.texts[news_day.urls["secretariat_digest"]] == digest["text"]
    assert news_day.members("secretariat") == {"secretariat", "secretariat_digest"}
    story = news_day.story("secretariat")
    assert (story.article_count, story.site_count) == (2, 2)
    assert story.representative_id == target["id"]
