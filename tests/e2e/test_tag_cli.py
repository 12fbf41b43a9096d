"""``veille tag`` and ``veille retag`` through the real CLI; tags in the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_dir
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import NewsSite


def test_tag_explains_a_seed_document(tmp_path: Path) -> None:
    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared is not present")
    seed = shared / "seeds" / "004_e1597847312c373a.txt"
    result = veille("tag", str(seed), "--explain")
    assert result.returncode == 0, result.stderr
    assert "waico" in result.stdout and "waic" in result.stdout
    assert "世界人工智能合作組織" in result.stdout  # evidence quoted as written, traditional
    assert "title" in result.stdout


def test_tag_refuses_what_is_neither_file_nor_url() -> None:
    result = veille("tag", "no-such-file.txt")
    assert result.returncode == 2
    assert "neither a file nor an http(s) URL" in result.stderr


def test_crawled_articles_are_tagged_exported_and_retagged(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "veille.toml"
    config.write_text(news_site.config_text(sqlite_url), encoding="utf-8")
    assert veille("crawl", "--config", str(config), "--quiet").returncode == 0

    rows = {
        row["canonical_url"]: row
        for row in map(json.loads, veille("export", "--config", str(config)).stdout.splitlines())
    }
    waico = rows[news_site.url("/news/2026/11/20/waico-founded.html")]
    assert waico["relevant"] is True
    assert "waico" in {tag["initiative"] for tag in waico["tags"] if tag["relevant"]}
    flaky = rows[news_site.url("/news/flaky.html")]
    assert flaky["relevant"] is False and flaky["tags"] == []  # stored, flagged, not dropped

    stored = veille("tag", news_site.url("/news/2026/11/20/waico-founded.html"), "--config",
                    str(config))  # fmt: skip
    assert stored.returncode == 0 and "waico" in stored.stdout

    taxonomy = tmp_path / "taxonomy.toml"
    packaged = Path(__file__).resolve().parents[2] / "pipelines" / "taxonomy.toml"
    taxonomy.write_text(packaged.read_text(encoding="utf-8"), encoding="utf-8")
    retag = veille("retag", "--config", str(config), "--taxonomy", str(taxonomy))
    assert retag.returncode == 0, retag.stderr
    assert f"{len(rows)} article(s) re-tagged" in " ".join(retag.stderr.split())
    assert "0 changed relevance" in " ".join(retag.stderr.split())
