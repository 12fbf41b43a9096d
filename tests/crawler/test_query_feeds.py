"""Query feeds: URLs built for Google News and GDELT, their split, their errors; Google News
links decoded through a cache with a fallback; the fixture feeds read as a crawl reads them."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from crawler.feed_parser import parse_feed
from crawler.query_feeds import (
    GDELT_DOC_API,
    GOOGLE_MAX_QUERY_WORDS,
    GOOGLE_NEWS_SEARCH,
    GoogleNewsLinks,
    LinkOutcome,
    Publisher,
    QuerySpec,
    decode_with_googlenewsdecoder,
    feed_urls,
    google_edition,
    google_news_token_key,
    read_publishers,
    strip_publisher_suffix,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "query_feeds"
GOOGLE_FEED_URL = (
    "https://news.google.com/rss/search?q=%22World%20AI%20Cooperation%20Organization%22"
    "%20OR%20WAICO%20when:7d&hl=en-US&gl=US&ceid=US:en"
)
TOKEN = "https://news.google.com/rss/articles/CBMiqAFBVV95cUxNV2dLcjRf?oc=5"
TOKEN_KEY = "https://news.google.com/rss/articles/CBMiqAFBVV95cUxNV2dLcjRf"
OTHER_TOKEN = "https://news.google.com/rss/articles/CBMijAFBVV95cUxPZDNYVFNq?oc=5"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- URL building ------------------------------------------------------------------------------


def test_google_news_english_phrase_or_word_with_a_window() -> None:
    spec = QuerySpec(
        "google_news", ["World AI Cooperation Organization", "WAICO"], language="en", window="7d"
    )
    [url] = feed_urls(spec)
    assert url == GOOGLE_FEED_URL
    assert query_of(url) == {
        "q": ['"World AI Cooperation Organization" OR WAICO when:7d'],
        "hl": ["en-US"],
        "gl": ["US"],
        "ceid": ["US:en"],
    }


@pytest.mark.parametrize(
    ("language", "country", "edition"),
    [
        ("en", None, ("en-US", "US", "US:en")),
        ("en", "gb", ("en-GB", "GB", "GB:en")),
        ("fr", None, ("fr", "FR", "FR:fr")),
        ("fr", "CA", ("fr-CA", "CA", "CA:fr")),
        ("zh-CN", None, ("zh-CN", "CN", "CN:zh-Hans")),
        ("zh", None, ("zh-CN", "CN", "CN:zh-Hans")),
        ("zh-Hans", None, ("zh-CN", "CN", "CN:zh-Hans")),
        ("zh-TW", None, ("zh-TW", "TW", "TW:zh-Hant")),
        ("zh-hant", None, ("zh-TW", "TW", "TW:zh-Hant")),
        ("zh-HK", None, ("zh-HK", "HK", "HK:zh-Hant")),
    ],
)
def test_google_news_editions(
    language: str, country: str | None, edition: tuple[str, str, str]
) -> None:
    assert google_edition(language, country) == edition
    [url] = feed_urls(QuerySpec("google_news", ["intelligence"], language, country))
    hl, gl, ceid = edition
    assert url == f"{GOOGLE_NEWS_SEARCH}?q=intelligence&hl={hl}&gl={gl}&ceid={ceid}"


def test_google_news_french_and_chinese_terms_round_trip() -> None:
    [french] = feed_urls(
        QuerySpec(
            "google_news",
            ["Organisation mondiale de coopération", "intelligence artificielle"],
            language="fr",
        )
    )
    assert french == (
        f"{GOOGLE_NEWS_SEARCH}?q=%22Organisation%20mondiale%20de%20coop%C3%A9ration%22%20OR"
        "%20%22intelligence%20artificielle%22&hl=fr&gl=FR&ceid=FR:fr"
    )
    [chinese] = feed_urls(
        QuerySpec("google_news", ["世界人工智能合作组织", "人工智能能力建设"], language="zh-CN")
    )
    assert query_of(chinese)["q"] == ["世界人工智能合作组织 OR 人工智能能力建设"]
    assert chinese.isascii()


def test_google_news_site_filter_gives_one_feed_per_site() -> None:
    spec = QuerySpec(
        "google_news", ["coopération IA"], language="fr", sites=["francais.cgtn.com", "news.cn"]
    )
    assert [query_of(url)["q"] for url in feed_urls(spec)] == [
        ['"coopération IA" site:francais.cgtn.com'],
        ['"coopération IA" site:news.cn'],
    ]


def test_gdelt_single_phrase_with_source_language() -> None:
    spec = QuerySpec("gdelt", ["World AI Cooperation Organization"], language="fr")
    [url] = feed_urls(spec)
    assert url == (
        f"{GDELT_DOC_API}?query=%22World%20AI%20Cooperation%20Organization%22%20"
        "sourcelang:french&mode=ArtList&format=rss&maxrecords=75&timespan=1d&sort=DateDesc"
    )


def test_gdelt_or_group_in_parentheses_with_country_domains_and_window() -> None:
    spec = QuerySpec(
        "gdelt",
        ["artificial intelligence capacity", "WAICO council"],
        language="zh-CN",
        country="CN",
        sites=["news.cn", "cgtn.com"],
        window="2weeks",
        max_records=250,
    )
    [url] = feed_urls(spec)
    assert query_of(url) == {
        "query": [
            '("artificial intelligence capacity" OR "WAICO council") sourcelang:chinese '
            "sourcecountry:china (domain:news.cn OR domain:cgtn.com)"
        ],
        "mode": ["ArtList"],
        "format": ["rss"],
        "maxrecords": ["250"],
        "timespan": ["2weeks"],
        "sort": ["DateDesc"],
    }


@pytest.mark.parametrize(
    ("engine", "window", "expected"),
    [
        ("google_news", timedelta(days=7), "when:7d"),
        ("google_news", timedelta(hours=36), "when:36h"),
        ("google_news", timedelta(minutes=90), "when:2h"),
        ("gdelt", timedelta(minutes=90), "timespan=90min"),
        ("gdelt", timedelta(hours=6), "timespan=6h"),
        ("gdelt", timedelta(days=3), "timespan=3d"),
    ],
)
def test_windows_given_as_durations(engine: str, window: timedelta, expected: str) -> None:
    [url] = feed_urls(QuerySpec(engine, ["cooperation"], language="en", window=window))  # type: ignore[arg-type]
    assert expected in url


def test_punctuated_terms_and_operator_words_are_quoted() -> None:
    [url] = feed_urls(QuerySpec("google_news", ["Belt-and-Road", "OR", "WAICO"], "en"))
    assert query_of(url)["q"] == ['"Belt-and-Road" OR "OR" OR WAICO']


def test_terms_are_cleaned_and_deduplicated() -> None:
    spec = QuerySpec("google_news", ["  World  AI\nCooperation ", "world ai cooperation"], "en")
    assert spec.terms == ("World AI Cooperation",)


# --- splitting ---------------------------------------------------------------------------------


def _covered_terms(urls: list[str], key: str) -> list[str]:
    found = []
    for url in urls:
        query = re.sub(r" \S+:\S+", "", query_of(url)[key][0])  # operators off the end
        found += [term.strip('()"') for term in query.split(" OR ")]
    return found


def test_long_term_lists_split_into_urls_under_the_limit_covering_every_term_once() -> None:
    terms = [f"cooperation initiative number {index}" for index in range(40)]
    spec = QuerySpec("gdelt", terms, language="en", window="7d")
    urls = feed_urls(spec, max_url_length=600)
    assert len(urls) > 1
    assert all(len(url) <= 600 for url in urls)
    assert _covered_terms(urls, "query") == terms
    assert all(query_of(url)["timespan"] == ["7d"] for url in urls)


def test_gdelt_split_leaves_no_parentheses_around_a_lone_term() -> None:
    spec = QuerySpec("gdelt", ["first long phrase here", "second long phrase here"], "en")
    one_each = len(feed_urls(spec)[0]) - 1  # too short for the two together
    queries = [query_of(url)["query"][0] for url in feed_urls(spec, max_url_length=one_each)]
    assert queries == [
        '"first long phrase here" sourcelang:english',
        '"second long phrase here" sourcelang:english',
    ]


def test_google_queries_stay_within_its_word_limit() -> None:
    terms = [f"word{index}" for index in range(40)]
    spec = QuerySpec("google_news", terms, language="en", sites=["news.cn"], window="1d")
    urls = feed_urls(spec)
    assert len(urls) == 3
    for url in urls:
        assert len(query_of(url)["q"][0].split()) <= GOOGLE_MAX_QUERY_WORDS
    assert _covered_terms(urls, "q") == terms


def test_a_term_too_long_for_any_url_is_refused() -> None:
    spec = QuerySpec("gdelt", ["cooperation " * 30], language="en")
    with pytest.raises(ValueError, match="too long for one feed"):
        feed_urls(spec, max_url_length=200)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "bing", "terms": ["cooperation"]}, "unknown query engine 'bing'"),
        ({"engine": "gdelt", "terms": []}, "at least one search term"),
        ({"engine": "gdelt", "terms": "cooperation"}, "a list of search terms"),
        ({"engine": "gdelt", "terms": ["   "]}, "empty search term"),
        ({"engine": "gdelt", "terms": ['"World AI"']}, "leave out the quotes"),
        ({"engine": "google_news", "terms": ["site:news.cn"], "language": "en"}, "operator"),
        ({"engine": "gdelt", "terms": ["WAIC"]}, "too short for GDELT"),
        ({"engine": "google_news", "terms": ["WAICO"]}, "needs a language"),
        ({"engine": "google_news", "terms": ["WAICO"], "language": "xx"}, "no Google News"),
        (
            {"engine": "google_news", "terms": ["WAICO"], "language": "fr", "country": "US"},
            r"known countries for it: \['BE', 'CA', 'CH', 'FR'\]",
        ),
        (
            {"engine": "google_news", "terms": ["WAICO"], "language": "en", "window": "2weeks"},
            "write hours or days",
        ),
        ({"engine": "gdelt", "terms": ["WAICO council"], "window": "6months"}, "last 3 months"),
        ({"engine": "gdelt", "terms": ["WAICO council"], "window": "soon"}, "write e.g. 30min"),
        (
            {"engine": "gdelt", "terms": ["WAICO council"], "window": timedelta(days=120)},
            "last 3 months",
        ),
        (
            {"engine": "gdelt", "terms": ["WAICO council"], "window": timedelta(0)},
            "must be positive",
        ),
        ({"engine": "gdelt", "terms": ["WAICO council"], "max_records": 251}, "between 1 and 250"),
        ({"engine": "gdelt", "terms": ["WAICO council"], "max_records": 0}, "between 1 and 250"),
        ({"engine": "gdelt", "terms": ["WAICO council"], "language": "tlh"}, "source language"),
        ({"engine": "gdelt", "terms": ["WAICO council"], "country": "ZZ"}, "English name"),
        (
            {"engine": "gdelt", "terms": ["WAICO council"], "sites": ["https://news.cn/"]},
            "not a domain name",
        ),
        ({"engine": "gdelt", "terms": ["WAICO council"], "sites": "news.cn"}, "list of domains"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuerySpec(**kwargs)


def test_gdelt_country_names_are_accepted_as_written() -> None:
    [url] = feed_urls(QuerySpec("gdelt", ["cooperation"], country="South Africa"))
    assert "sourcecountry:southafrica" in query_of(url)["query"][0]


# --- Google News links -------------------------------------------------------------------------


class RecordingDecoder:
    """A decoder with googlenewsdecoder's call and answer shapes; it knows some tokens."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.calls: list[tuple[list[str], float | None, float | None]] = []

    def __call__(
        self, urls: list[str], *, interval: float | None, timeout: float | None
    ) -> Sequence[Mapping[str, Any]]:
        self.calls.append((list(urls), interval, timeout))
        return [
            {"success": True, "decoded_url": self.known[url]}
            if url in self.known
            else {"success": False, "message": "Failed to fetch data attributes from Google News."}
            for url in urls
        ]


def test_a_token_is_decoded_once_then_served_from_the_cache() -> None:
    cache: dict[str, str] = {}
    decoder = RecordingDecoder({TOKEN_KEY: "https://news.cgtn.com/news/2026-11-22/a.html"})
    links = GoogleNewsLinks(cache, enabled=True, decoder=decoder, timeout=5.0, interval=0.5)

    first = links.resolve(TOKEN)
    assert (first.link, first.token, first.outcome) == (
        "https://news.cgtn.com/news/2026-11-22/a.html",
        TOKEN,
        LinkOutcome.DECODED,
    )
    assert cache == {TOKEN_KEY: "https://news.cgtn.com/news/2026-11-22/a.html"}
    assert decoder.calls == [([TOKEN_KEY], 0.5, 5.0)]

    again = links.resolve(TOKEN.replace("?oc=5", ""))
    assert (again.link, again.outcome) == (first.link, LinkOutcome.CACHED)
    assert len(decoder.calls) == 1
    assert links.counts == {LinkOutcome.DECODED: 1, LinkOutcome.CACHED: 1}


def test_a_failed_decode_falls_back_to_the_token_is_logged_and_retried_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache: dict[str, str] = {}
    decoder = RecordingDecoder({})
    links = GoogleNewsLinks(cache, enabled=True, decoder=decoder)
    with caplog.at_level(logging.WARNING, logger="crawler.query_feeds"):
        result = links.resolve(TOKEN)
    assert (result.link, result.outcome) == (TOKEN, LinkOutcome.FALLBACK)
    assert result.problem == "Failed to fetch data attributes from Google News."
    assert "1 of 1 Google News links not decoded" in caplog.text
    assert cache == {}

    decoder.known[TOKEN_KEY] = "https://www.scmp.com/news/china/article/1"
    assert links.resolve(TOKEN).outcome is LinkOutcome.DECODED
    assert len(decoder.calls) == 2
    assert links.counts[LinkOutcome.FALLBACK] == 1
    assert LinkOutcome.FALLBACK.stat_key == "veille/query_feeds/link_fallback"


def test_a_decoder_that_raises_costs_fallbacks_not_the_crawl(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(urls: list[str], *, interval: float | None, timeout: float | None) -> list[Any]:
        raise ValueError("Google changed its page")

    links = GoogleNewsLinks({}, enabled=True, decoder=broken)
    with caplog.at_level(logging.WARNING, logger="crawler.query_feeds"):
        results = links.resolve_many([TOKEN, OTHER_TOKEN])
    assert [result.outcome for result in results] == [LinkOutcome.FALLBACK] * 2
    assert [result.link for result in results] == [TOKEN, OTHER_TOKEN]
    assert "Google changed its page" in (results[0].problem or "")
    assert "Traceback" in caplog.text


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        ([], "decoder returned 0 results for 1 links"),
        ([{"success": True, "decoded_url": "javascript:alert(1)"}], "not http(s)"),
        ([{"success": True, "decoded_url": TOKEN}], "another Google News URL"),
        (["garbage"], "decoder reported a failure"),
    ],
)
def test_answers_that_are_not_a_publisher_url_fall_back(answers: list[Any], problem: str) -> None:
    cache: dict[str, str] = {}
    links = GoogleNewsLinks(cache, enabled=True, decoder=lambda urls, **_: answers)
    result = links.resolve(TOKEN)
    assert result.outcome is LinkOutcome.FALLBACK
    assert problem in (result.problem or "")
    assert cache == {}


def test_disabled_decoding_makes_no_call_but_still_reads_the_cache() -> None:
    decoder = RecordingDecoder({OTHER_TOKEN: "unused"})
    cache = {TOKEN_KEY: "https://news.cgtn.com/a.html"}
    links = GoogleNewsLinks(cache, enabled=False, decoder=decoder)
    results = links.resolve_many([TOKEN, OTHER_TOKEN])
    assert [(result.link, result.outcome) for result in results] == [
        ("https://news.cgtn.com/a.html", LinkOutcome.CACHED),
        (OTHER_TOKEN, LinkOutcome.DISABLED),
    ]
    assert decoder.calls == []


def test_publisher_links_pass_through_untouched() -> None:
    decoder = RecordingDecoder({})
    links = GoogleNewsLinks({}, enabled=True, decoder=decoder)
    url = "https://francais.cgtn.com/news/2026-11-22/1/index.html"
    result = links.resolve(url)
    assert (result.link, result.outcome) == (url, LinkOutcome.NOT_A_TOKEN)
    assert decoder.calls == []


def test_one_batch_per_call_with_duplicates_decoded_once_and_a_bounded_batch() -> None:
    third = "https://news.google.com/rss/articles/CBMigwFBVV95cUxPX2Jl?oc=5"
    decoder = RecordingDecoder(
        {
            TOKEN_KEY: "https://a.example/1",
            google_news_token_key(OTHER_TOKEN) or "": "https://b.example/2",
            google_news_token_key(third) or "": "https://c.example/3",
        }
    )
    links = GoogleNewsLinks({}, enabled=True, decoder=decoder, max_per_call=2)
    results = links.resolve_many([TOKEN, OTHER_TOKEN, TOKEN, third])
    assert len(decoder.calls) == 1
    assert len(decoder.calls[0][0]) == 2
    assert [result.outcome for result in results] == [
        LinkOutcome.DECODED,
        LinkOutcome.DECODED,
        LinkOutcome.DECODED,
        LinkOutcome.FALLBACK,
    ]
    assert results[2].link == "https://a.example/1"
    assert "over the limit of 2" in (results[3].problem or "")


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (TOKEN, TOKEN_KEY),
        ("https://news.google.com/articles/CBMiqAFBVV95cUxNV2dLcjRf?hl=fr", TOKEN_KEY),
        ("https://news.google.com/read/CBMiqAFBVV95cUxNV2dLcjRf", TOKEN_KEY),
        ("https://news.google.com/rss/search?q=x", None),
        ("https://news.google.com/rss/articles/", None),
        ("https://example.org/rss/articles/CBMi", None),
    ],
)
def test_token_keys(url: str, key: str | None) -> None:
    assert google_news_token_key(url) == key


def test_the_real_decoder_adapter_answers_in_the_expected_shape_without_network() -> None:
    # A URL that is not a Google News article is refused before any request is made.
    [answer] = decode_with_googlenewsdecoder(
        ["https://example.org/not-google"], interval=None, timeout=1.0
    )
    assert answer == {"success": False, "message": "Invalid Google News URL format."}


# --- the fixture feeds -------------------------------------------------------------------------


def test_google_news_fixture_parses_to_token_links_with_titles_and_publishers() -> None:
    body = (DATA / "google_news_search.xml").read_bytes()
    feed = parse_feed(body, GOOGLE_FEED_URL)
    assert feed.format == "rss20" and feed.is_well_formed
    assert len(feed.entries) == 4
    assert all(google_news_token_key(entry.link) for entry in feed.entries)
    assert feed.entries[0].title == (
        "Shanghai hosts first council of World AI Cooperation Organization - CGTN"
    )
    assert feed.entries[0].published == datetime(2026, 11, 22, 14, 5, tzinfo=UTC)

    publishers = read_publishers(body, GOOGLE_FEED_URL)
    assert set(publishers) == {entry.link for entry in feed.entries}
    by_title = {
        strip_publisher_suffix(entry.title or "", publishers[entry.link]): publishers[entry.link]
        for entry in feed.entries
    }
    assert by_title == {
        "Shanghai hosts first council of World AI Cooperation Organization": Publisher(
            "CGTN", "https://news.cgtn.com"
        ),
        "UN members discuss AI capacity-building plan": Publisher("UN News", "https://news.un.org"),
        "WAICO: what the new body means for global AI governance": Publisher(
            "South China Morning Post", "https://www.scmp.com"
        ),
        "世界人工智能合作组织理事会首次会议在沪举行": Publisher("新华网", "http://www.news.cn"),
    }
    assert [publishers[entry.link].site for entry in feed.entries] == [
        "news.cgtn.com",
        "news.un.org",
        "scmp.com",
        "news.cn",
    ]


def test_google_news_fixture_links_resolve_through_the_decoder() -> None:
    body = (DATA / "google_news_search.xml").read_bytes()
    entries = parse_feed(body, GOOGLE_FEED_URL).entries
    publishers = read_publishers(body, GOOGLE_FEED_URL)
    known = {
        google_news_token_key(entry.link) or "": f"{publishers[entry.link].home_page}/article"
        for entry in entries[:3]
    }
    links = GoogleNewsLinks({}, enabled=True, decoder=RecordingDecoder(known))
    results = links.resolve_many([entry.link for entry in entries])
    assert [result.link for result in results] == [
        "https://news.cgtn.com/article",
        "https://news.un.org/article",
        "https://www.scmp.com/article",
        entries[3].link,
    ]
    assert links.counts == {LinkOutcome.DECODED: 3, LinkOutcome.FALLBACK: 1}


def test_gdelt_fixture_parses_to_publisher_links_with_titles() -> None:
    body = (DATA / "gdelt_artlist.xml").read_bytes()
    [url] = feed_urls(QuerySpec("gdelt", ["World AI Cooperation Organization"], language="fr"))
    feed = parse_feed(body, url)
    assert feed.is_well_formed
    assert [(entry.link, entry.title) for entry in feed.entries] == [
        (
            "https://francais.cgtn.com/news/2026-11-22/1234567890123456789/index.html",
            "Intelligence artificielle : Shanghai accueille le premier conseil de "
            "l'Organisation mondiale de coopération",
        ),
        (
            "http://french.news.cn/20261121/3f6c1e2a9b8d4c7e8a1b2c3d4e5f6a7b/c.html",
            "L'ONU salue le plan chinois de renforcement des capacités en IA",
        ),
        (
            "https://www.lesechos.fr/tech-medias/intelligence-artificielle/"
            "gouvernance-mondiale-de-lia-ce-que-propose-la-chine-2201234",
            "Gouvernance mondiale de l'IA : ce que propose la Chine",
        ),
    ]
    assert feed.entries[0].published == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    assert not any(google_news_token_key(entry.link) for entry in feed.entries)
    assert read_publishers(body, url) == {}


def test_strip_publisher_suffix_only_removes_the_named_publisher() -> None:
    publisher = Publisher("Reuters", "https://www.reuters.com")
    assert strip_publisher_suffix("China and France sign - Reuters", publisher) == (
        "China and France sign"
    )
    assert strip_publisher_suffix("Pros - and cons", publisher) == "Pros - and cons"
    assert strip_publisher_suffix("- Reuters", publisher) == "- Reuters"
    assert strip_publisher_suffix("Title - Reuters", None) == "Title - Reuters"
