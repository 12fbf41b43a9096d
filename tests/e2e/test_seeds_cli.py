"""The seed corpus through the CLI: add seeds, crawl, then known / follow-up / new, and diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import shared_dir
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import article_html, rss

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "seeds"
ARTICLES = {  # fixture file → the status it must get
    "zh_waico_follow_up.txt": "follow-up",
    "fr_gaigap_seminar.txt": "new",
    "en_port_volumes.txt": None,
}


def read_fixture(name: str) -> tuple[str, str, list[str]]:
    header, _, body = (FIXTURES / name).read_text(encoding="utf-8").partition("\n---\n")
    fields = dict(line.split(": ", 1) for line in header.splitlines())
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    return fields["title"], fields["language"], paragraphs


def test_articles_are_compared_with_the_seed_corpus(
    httpserver: HTTPServer, sqlite_url: str, tmp_path: Path
) -> None:
    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared is not present")
    items = []
    for name in ARTICLES:
        title, language, paragraphs = read_fixture(name)
        path = f"/news/2026/11/20/{Path(name).stem}.html"
        html = article_html(path, language, title, paragraphs, "utf-8")
        httpserver.expect_request(path).respond_with_data(html, content_type="text/html")
        items.append((title, httpserver.url_for(path)))
    httpserver.expect_request("/robots.txt").respond_with_data("", content_type="text/plain")
    httpserver.expect_request("/feed.xml").respond_with_data(rss(items), content_type="text/xml")
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_url}"\n[crawl]\ndownload_delay = "0.05s"\n'
        f'autothrottle = false\n[seeds]\ndirectory = "{shared / "seeds"}"\n'
        f'[[sources]]\nid = "wire"\nfeeds = ["{httpserver.url_for("/feed.xml")}"]\n',
        encoding="utf-8",
    )

    added = veille("seeds", "add", "--config", str(config))
    assert added.returncode == 0, added.stderr
    assert "5 document(s) read, 5 new or changed" in " ".join(added.stderr.split())
    listed = veille("seeds", "list", "--config", str(config))
    assert "5 seed document(s)" in listed.stdout

    crawl = veille("crawl", "--config", str(config), "--quiet")
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    rows = [
        json.loads(line) for line in veille("export", "--config", str(config)).stdout.splitlines()
    ]
    by_name = {Path(row["url"]).stem + ".txt": row for row in rows}
    for name, status in ARTICLES.items():
        assert by_name[name]["seed_status"] == status, name
    follow_up = by_name["zh_waico_follow_up.txt"]
    assert follow_up["nearest_seed"]["seed"] == "004_e1597847312c373a"
    assert {fact["key"] for fact in follow_up["new_facts"]} == {"2025-12-12", "CNY:2e9"}

    diff = veille("diff", follow_up["url"], "--config", str(config))
    assert diff.returncode == 0, diff.stderr
    assert "follow-up" in diff.stdout and "CNY:2e9" in diff.stdout

    coverage = veille("seeds", "coverage", "--config", str(config))
    assert coverage.returncode == 0, coverage.stderr
    assert "gaigap" in coverage.stdout and "004_e1597847312c373a" in coverage.stdout

    # A seed added later: the recent articles are compared again, and the seminar is known.
    title, _language, paragraphs = read_fixture("fr_gaigap_seminar.txt")
    new_seed = tmp_path / "seminaire.txt"
    new_seed.write_text(title + "\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    again = veille("seeds", "add", str(new_seed), "--config", str(config))
    assert "3 recent article(s) compared again" in " ".join(again.stderr.split())
    rows = [
        json.loads(line) for line in veille("export", "--config", str(config)).stdout.splitlines()
    ]
    seminar = next(row for row in rows if "fr_gaigap_seminar" in row["url"])
    assert seminar["seed_status"] == "known"
    assert seminar["nearest_seed"]["seed"] == "seminaire"
