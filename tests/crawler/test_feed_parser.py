"""Feed parsing: our fixtures, and every real feed of the shared corpora."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.feed_parser import NotAFeed, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><language>fr</language>
<item><title>Un titre</title><link>/2026/11/20/a.html</link>
<pubDate>Fri, 20 Nov 2026 08:00:00 +0800</pubDate></item>
<item><title>Sans lien</title></item>
</channel></rss>"""


def test_rss_entries_become_records_with_absolute_links_and_utc_dates() -> None:
    feed = parse_feed(RSS, "https://wire.example/feeds/fr.xml")
    assert feed.format == "rss20"
    assert feed.is_well_formed
    assert feed.entries_without_link == 1
    [entry] = feed.entries
    assert entry.link == "https://wire.example/2026/11/20/a.html"
    assert entry.title == "Un titre"
    assert entry.published == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert entry.language == "fr"


def test_ill_formed_feed_with_entries_is_used_and_flagged() -> None:
    body = b'<rss version="2.0"><channel><title>A & B</title><item><title>x</title>'
    body += b"<link>https://wire.example/x.html</link></item></rss>"
    feed = parse_feed(body, "https://wire.example/feed.xml")
    assert not feed.is_well_formed
    assert feed.problem
    assert [entry.link for entry in feed.entries] == ["https://wire.example/x.html"]


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Moved</title></head><body><p>x</p></body></html>",
        b"",
        b"%PDF-1.4 binary",
        b'{"items": []}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
    ],
)
def test_documents_that_are_not_feeds_are_refused(body: bytes) -> None:
    with pytest.raises(NotAFeed):
        parse_feed(body, "https://wire.example/feed")


def test_json_feed() -> None:
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "de",
      "items": [{"id": "1", "url": "https://j.example/1", "title": "Eins",
                 "date_published": "2026-11-20T10:00:00+01:00"},
                {"id": "2", "content_text": "no url"}]}"""
    feed = parse_feed(body, "https://j.example/feed.json")
    assert feed.format == "json11"
    assert [(e.link, e.title, e.language) for e in feed.entries] == [
        ("https://j.example/1", "Eins", "de")
    ]
    assert feed.entries[0].published == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert feed.entries_without_link == 1


def _corpus_files(corpora: Path) -> list[Path]:
    root = corpora / "feeds"
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in ("LICENSE", "PROVENANCE.md")
    ]


def test_every_feed_of_the_corpora_parses_without_an_exception(corpora: Path) -> None:
    files = _corpus_files(corpora)
    assert len(files) > 450
    usable = 0
    for path in files:
        try:
            feed = parse_feed(path.read_bytes(), f"https://feeds.example/{path.name}")
        except NotAFeed:
            continue
        usable += 1
        for entry in feed.entries:
            assert entry.link
            assert entry.published is None or entry.published.tzinfo is not None
    assert usable > 0.85 * len(files)


@pytest.mark.parametrize(
    ("name", "kind", "count"),
    [
        ("natasha.xml", "rss20", 10),
        ("DaringFireball.rss", "atom10", None),
        ("allthis.json", "json1", 12),
        ("curt.json", "json1", 26),
        ("pxlnv.json", "json1", 20),
        ("rose.json", "json1", 84),
        ("3960.json", "json11", 20),
    ],
)
def test_real_feeds_give_the_documented_items(
    corpora: Path, name: str, kind: str, count: int | None
) -> None:
    [path] = list((corpora / "feeds" / "rsparser").rglob(name))
    feed = parse_feed(path.read_bytes(), f"https://feeds.example/{name}")
    assert feed.format == kind
    if count is not None:
        assert len(feed.entries) == count


def test_guids_that_are_not_permalinks_do_not_become_links(corpora: Path) -> None:
    [path] = list((corpora / "feeds" / "rsparser").rglob("livemint.xml"))
    feed = parse_feed(path.read_bytes(), "https://www.livemint.com/rss/news")
    assert feed.entries
    assert all(entry.link.startswith("https://www.livemint.com/") for entry in feed.entries)


@pytest.mark.parametrize(
    "name",
    ["DaringFireball.html", "inessential.html", "sixcolors.html", "allthis-partial.json",
     "ScriptingNews.json"],
)  # fmt: skip
def test_html_pages_and_broken_json_are_not_feeds(corpora: Path, name: str) -> None:
    [path] = list((corpora / "feeds" / "rsparser").rglob(name))
    with pytest.raises(NotAFeed):
        parse_feed(path.read_bytes(), f"https://feeds.example/{name}")
