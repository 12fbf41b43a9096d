"""End to end, through the real ``veille`` command, against the fixture news site."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.database import make_session_factory, open_database
from storage.models import Article, CrawlRun
from tests.fixture_site import ARTICLES, GBK_PATH, NewsSite

USER_AGENT = "VeilleTest/1.0 (+https://example.org/veille-tests)"
STORED_PATHS = {path for path in ARTICLES}
ONE_SHOT_PATHS = STORED_PATHS | {"/files/report.pdf", "/news/huge.html", "/news/empty.html"}


def veille(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("veille")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "scheduler.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
        env={**os.environ, **env} if env else None,
    )


def stored_articles(database_url: str) -> dict[str, Article]:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        articles = {article.url: article for article in session.scalars(select(Article))}
        count = session.scalar(select(func.count()).select_from(Article))
        assert count == len(articles)
    engine.dispose()
    return articles


def last_run(database_url: str) -> CrawlRun:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
    engine.dispose()
    assert run is not None
    return run


def token_recall(gold: str, text: str) -> float:
    gold_tokens, found = Counter(re.findall(r"\w+", gold)), Counter(re.findall(r"\w+", text))
    return sum((gold_tokens & found).values()) / max(1, sum(gold_tokens.values()))


def test_crawl_stores_clean_articles_once_and_politely(
    news_site: NewsSite, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(news_site.config_text(database_url), encoding="utf-8")

    first = veille("crawl", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr

    articles = stored_articles(database_url)
    by_path = {"/" + a.canonical_url.split("/", 3)[3]: a for a in articles.values()}
    assert set(by_path) == STORED_PATHS | set(news_site.corpus_pages)
    for path, (language, title, paragraphs) in ARTICLES.items():
        article = by_path[path]
        assert article.title == title
        assert article.language == language
        for paragraph in paragraphs:
            assert paragraph[:40] in article.text
        assert "Copyright 2026 Fixture News" not in article.text
        assert "Markets close higher" not in article.text
        assert article.published_from == "page"
        assert article.canonical_url == news_site.url(path)
    assert "全球人工智能治理行动计划" in by_path[GBK_PATH].text  # decoded from GBK
    for path, gold in news_site.corpus_pages.items():
        assert token_recall(gold, by_path[path].text) > 0.8

    run = last_run(database_url)
    assert run.status == "finished"
    assert run.articles_new == len(STORED_PATHS) + len(news_site.corpus_pages)
    assert run.failures["articles/failed/not_html"] == 1
    assert run.failures["articles/failed/too_large"] == 1
    assert run.failures["articles/failed/empty_extraction"] == 1
    assert run.failures["articles/failed/http_404"] == 1
    assert run.failures["feeds/failed/not_a_feed"] == 1
    assert run.failures["feeds/failed/http_404"] == 1
    assert run.failures["entries/refused/bad_url"] == 1
    assert run.failures["entries/refused/robots_txt"] == 1
    assert run.stats["veille/feeds/ill_formed"] == 1
    troubles = run.stats["per_source"]["fixture-troubles"]
    assert [troubles[k] for k in ("feeds_polled", "feeds_failed", "articles_new")] == [1, 2, 1]
    assert run.stats["per_source"]["fixture-news"]["feeds_failed"] == 0
    log = first.stderr
    for expected in (
        "is not HTML",
        "too_large",
        "is not a feed",
        "ill-formed but usable",
        "http_404",
        "No article text",
        "not an http(s) URL: 'file://",
    ):
        assert expected in log, expected
    assert re.search(r"articles new\s+" + str(run.articles_new), first.stdout)

    # Politeness: robots.txt read, disallowed page never requested, our User-Agent only,
    # the tracked and the clean link to one article fetched once, file:// never followed.
    assert news_site.requests_for("/robots.txt") >= 1
    assert news_site.requests_for("/private/secret.html") == 0
    assert news_site.user_agents == {USER_AGENT}
    assert news_site.requests_for("/news/2026/11/20/plan-capacites.html") == 1
    assert news_site.requests_for("/news/flaky.html") == 2  # a 503, then the retry

    second = veille("crawl", "--config", str(config))
    assert second.returncode == 0, second.stdout + second.stderr
    assert stored_articles(database_url).keys() == articles.keys()
    for path in ONE_SHOT_PATHS:
        expected = 2 if path == "/news/flaky.html" else 1
        assert news_site.requests_for(path) == expected, path
    # The feeds did not change: the Atom feed is not parsed again. The RSS feed is, because
    # one of its articles failed (a 404 may be a page announced early): it is tried again.
    assert news_site.requests_for("/news/missing.html") == 2
    again = last_run(database_url)
    assert again.articles_new == 0
    assert again.stats["veille/feeds/unchanged"] == 2  # the Atom feed, the ill-formed one
    # All but the Atom-only and the ill-formed feed's stories, + the PDF, huge and empty pages.
    main_feed_known = len(articles) - 2 + 3
    assert again.articles_known == main_feed_known

    export = veille("export", "--config", str(config), "--format", "jsonl")
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert {row["canonical_url"] for row in rows} == {a.canonical_url for a in articles.values()}
    for field in ("url", "canonical_url", "source", "title", "text", "language", "published",
                  "published_from", "fetched_at"):  # fmt: skip
        assert all(field in row for row in rows)


def test_bad_config_stops_with_status_2_and_writes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{database}"\n'
        '[[sources]]\nid = "wire"\nfeeds = ["https://wire.example/feed.xml"]\nlanguge = "en"\n',
        encoding="utf-8",
    )
    result = veille("crawl", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: source 'wire': languge: unknown key" in " ".join(result.stderr.split())
    assert not database.exists()


@pytest.mark.parametrize("command", ["crawl", "export", "sources", "db"])
def test_every_command_answers_help(command: str) -> None:
    result = veille(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
