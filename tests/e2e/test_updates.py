"""Articles that change after publication: conditional re-checks, versions with diffs."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from storage.database import make_session_factory, open_database
from storage.models import Article, ArticleVersion, Story
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import article_html, rss

PATH = "/news/2026/11/21/waico-membership.html"
FIRST = [
    "Thirty-two countries have joined the World AI Cooperation Organization, its secretariat "
    "in Shanghai said on Saturday, in a statement listing the founding members.",
    "The organization plans training centres on three continents and a shared computing "
    "platform for developing countries, according to the statement.",
]
SECOND = [
    FIRST[0].replace("Thirty-two", "Thirty-five"),
    FIRST[1],
    "Correction: an earlier version of this article gave the wrong number of members.",
]


class ChangingArticle:
    """Serves one article with an ETag, answers 304 when the client has the current one."""

    def __init__(self) -> None:
        self.paragraphs, self.etag = FIRST, '"v1"'
        self.conditional_requests: list[str | None] = []

    def __call__(self, request: Request) -> Response:
        self.conditional_requests.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == self.etag:
            return Response(status=304, headers={"ETag": self.etag})
        html = article_html(PATH, "en", "WAICO membership grows", self.paragraphs, "utf-8")
        return Response(html, content_type="text/html; charset=utf-8", headers={"ETag": self.etag})


def test_a_changed_article_becomes_a_new_version_with_a_diff(
    httpserver: HTTPServer, database_url: str, tmp_path: Path
) -> None:
    article = ChangingArticle()
    httpserver.expect_request(PATH).respond_with_handler(article)
    httpserver.expect_request("/robots.txt").respond_with_data("", content_type="text/plain")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([("WAICO membership grows", httpserver.url_for(PATH))]),
        content_type="application/rss+xml",
    )
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[crawl]\ndownload_delay = "0.05s"\nautothrottle = false\n'
        'recheck_age = "1d"\nrecheck_every = "1s"\n'
        f'[[sources]]\nid = "wire"\nfeeds = ["{httpserver.url_for("/feed.xml")}"]\n',
        encoding="utf-8",
    )

    for expected_requests in (1, 2):  # first fetch; then a conditional re-check, answered 304
        result = veille("crawl", "--config", str(config), "--quiet")
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(article.conditional_requests) == expected_requests
        time.sleep(1.1)
    assert article.conditional_requests == [None, '"v1"']

    article.paragraphs, article.etag = SECOND, '"v2"'
    result = veille("crawl", "--config", str(config), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert article.conditional_requests[-1] == '"v1"'

    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        [stored] = session.scalars(select(Article)).all()
        assert stored.version == 2
        assert "Thirty-five countries" in (stored.text or "")
        assert stored.updated_at is not None and stored.etag == '"v2"'
        [old] = session.scalars(select(ArticleVersion)).all()
        assert old.version == 1 and "Thirty-two countries" in old.text
        assert "-Thirty-two countries" in (old.diff or "")
        assert "+Thirty-five countries" in (old.diff or "")
        assert "+Correction:" in (old.diff or "")
        story = session.get(Story, stored.story_id)
        assert story is not None and story.updated_at is not None
    engine.dispose()
