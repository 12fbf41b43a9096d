"""URL canonicalization: what counts as the same article."""

from __future__ import annotations

import pytest

from storage.urls import UnusableUrl, canonicalize_url


@pytest.mark.parametrize(
    ("linked", "canonical"),
    [
        (
            "https://news.example/a.html?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://news.example/a.html",
        ),
        ("https://news.example/a.html#comments", "https://news.example/a.html"),
        ("https://NEWS.Example:443/a.html", "https://news.example/a.html"),
        ("http://news.example:80/a.html?fbclid=IwAR0", "http://news.example/a.html"),
        ("https://news.example/p?id=7&gclid=abc&page=2", "https://news.example/p?id=7&page=2"),
        ("https://news.example/p?page=2&id=7", "https://news.example/p?id=7&page=2"),
    ],
)
def test_tracking_parameters_fragments_and_case_do_not_matter(linked: str, canonical: str) -> None:
    assert canonicalize_url(linked) == canonical


def test_meaningful_query_parameters_are_kept() -> None:
    assert canonicalize_url("https://news.example/article.php?id=123") == (
        "https://news.example/article.php?id=123"
    )
    assert canonicalize_url("https://news.example/a?id=1") != canonicalize_url(
        "https://news.example/a?id=2"
    )


def test_non_ascii_paths_are_escaped_consistently() -> None:
    assert canonicalize_url("http://news.example/新闻/一.html") == canonicalize_url(
        "http://news.example/%E6%96%B0%E9%97%BB/%E4%B8%80.html"
    )


@pytest.mark.parametrize(
    "bad",
    ["file:///etc/passwd", "file://etc/passwd", "javascript:alert(1)", "mailto:a@b.c", "/relative"],
)
def test_only_http_urls_are_usable(bad: str) -> None:
    with pytest.raises(UnusableUrl):
        canonicalize_url(bad)


def test_absurdly_long_urls_are_refused() -> None:
    with pytest.raises(UnusableUrl):
        canonicalize_url("https://news.example/" + "a" * 5000)
