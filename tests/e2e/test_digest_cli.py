"""``veille digest`` through the CLI, on a crawled fixture site."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser

from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import NewsSite


def test_digest_of_the_day_in_every_format(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(news_site.config_text(sqlite_url), encoding="utf-8")
    assert veille("crawl", "--config", str(config), "--quiet").returncode == 0
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Paris")).date().isoformat()

    markdown = veille("digest", "--config", str(config), "--date", today, "--format", "md")
    assert markdown.returncode == 0, markdown.stderr
    assert f"# Veille daily digest for {today}" in markdown.stdout
    assert "## World AI Cooperation Organization" in markdown.stdout
    assert "Founding members sign charter" in markdown.stdout
    assert "A page that fails once" not in markdown.stdout  # about no initiative: hidden

    page = tmp_path / "digest.html"
    html = veille("digest", "--config", str(config), "--date", today, "--format", "html",
                  "--output", str(page))  # fmt: skip
    assert html.returncode == 0, html.stderr
    content = page.read_text(encoding="utf-8")
    assert "<svg" in content and "<script" not in content

    atom = veille("digest", "--config", str(config), "--date", today, "--format", "atom")
    feed = feedparser.parse(atom.stdout.encode())
    assert not feed.bozo and len(feed.entries) == 7

    bad = veille("digest", "--config", str(config), "--date", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
