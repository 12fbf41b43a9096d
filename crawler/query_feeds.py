"""Query feeds: search terms to Google News RSS and GDELT DOC 2.0 feed URLs, and their links.

Most state-media RSS feeds for our topics are stale, so search engines that answer with a feed
are the main multilingual recall layer. This module is self-contained: it builds the feed URLs
from a typed :class:`QuerySpec` (validated when it is made, so a bad config fails at start-up),
reads the real publisher of Google News items, and turns Google News redirect tokens into
publisher URLs with the ``googlenewsdecoder`` package behind a cache and a fallback.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode, urljoin, urlsplit

import feedparser

logger = logging.getLogger(__name__)

Engine = Literal["google_news", "gdelt"]
ENGINES: tuple[Engine, ...] = ("google_news", "gdelt")

GOOGLE_NEWS_SEARCH = "https://news.google.com/rss/search"
GDELT_DOC_API = "https://api.gdeltproject.org/api/v2/doc/doc"

MAX_URL_LENGTH = 2000
"""Longer URLs are split: 2,000 characters passes every server, proxy and log we know of."""
GOOGLE_MAX_QUERY_WORDS = 32
"""Google ignores the words of a query past the 32nd, so a longer query is split instead."""
GDELT_MIN_TERM_LENGTH = 5
"""GDELT refuses short terms as "too short" (a four-letter one was, in a 2026 test)."""
GDELT_MAX_RECORDS = 250
GDELT_MAX_WINDOW = timedelta(days=92)
"""GDELT searches a rolling window of the last three months."""
GDELT_DEFAULT_WINDOW = "1d"
"""A poller wants what is new; the API's own default is the whole three months."""

# (language, country) -> (hl, gl, ceid). Google does not document its editions; these are the
# standard edition codes, the first of each language being its default edition.
_GOOGLE_EDITIONS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("en", "US"): ("en-US", "US", "US:en"),
    ("en", "GB"): ("en-GB", "GB", "GB:en"),
    ("en", "IN"): ("en-IN", "IN", "IN:en"),
    ("en", "AU"): ("en-AU", "AU", "AU:en"),
    ("en", "CA"): ("en-CA", "CA", "CA:en"),
    ("en", "SG"): ("en-SG", "SG", "SG:en"),
    ("fr", "FR"): ("fr", "FR", "FR:fr"),
    ("fr", "CA"): ("fr-CA", "CA", "CA:fr"),
    ("fr", "BE"): ("fr", "BE", "BE:fr"),
    ("fr", "CH"): ("fr", "CH", "CH:fr"),
    ("zh-CN", "CN"): ("zh-CN", "CN", "CN:zh-Hans"),
    ("zh-TW", "TW"): ("zh-TW", "TW", "TW:zh-Hant"),
    ("zh-HK", "HK"): ("zh-HK", "HK", "HK:zh-Hant"),
    ("de", "DE"): ("de", "DE", "DE:de"),
    ("es", "ES"): ("es", "ES", "ES:es"),
    ("it", "IT"): ("it", "IT", "IT:it"),
    ("ja", "JP"): ("ja", "JP", "JP:ja"),
}
_LANGUAGE_ALIASES = {
    "zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN", "zh-sg": "zh-CN",
    "zh-tw": "zh-TW", "zh-hant": "zh-TW", "zh-hk": "zh-HK", "zh-mo": "zh-HK",
}  # fmt: skip
_GDELT_LANGUAGES = {
    "en": "english", "fr": "french", "zh": "chinese", "de": "german", "es": "spanish",
    "it": "italian", "ja": "japanese", "ru": "russian", "ar": "arabic", "pt": "portuguese",
    "ko": "korean",
}  # fmt: skip
# GDELT's ``sourcecountry:`` takes FIPS codes, which differ from ISO 3166 (FIPS "CH" is China);
# country names are unambiguous, so ISO codes are turned into the names GDELT knows.
_GDELT_COUNTRIES = {
    "CN": "china", "TW": "taiwan", "HK": "hongkong", "MO": "macau", "FR": "france",
    "BE": "belgium", "CH": "switzerland", "CA": "canada", "US": "unitedstates",
    "GB": "unitedkingdom", "DE": "germany", "IN": "india", "SG": "singapore",
    "AU": "australia", "JP": "japan", "KR": "southkorea", "RU": "russia", "SN": "senegal",
    "CI": "ivorycoast", "MA": "morocco", "DZ": "algeria", "TN": "tunisia",
}  # fmt: skip

_GOOGLE_WINDOW = re.compile(r"^(\d+)([hd])$")
_GDELT_WINDOW = re.compile(r"^(\d+)(min|h|hours|d|days|w|weeks|m|months)$")
_GDELT_UNIT_MINUTES = {
    "min": 1, "h": 60, "hours": 60, "d": 1440, "days": 1440,
    "w": 10080, "weeks": 10080, "m": 43200, "months": 43200,
}  # fmt: skip
_OPERATOR = re.compile(r"^[a-z]+:\S", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$")
_NEEDS_QUOTES = re.compile(r"[^\w]")


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """One query, validated when it is made: every mistake is a ``ValueError`` that says why.

    ``terms`` are alternatives (OR-joined); a term of several words is searched as a phrase.
    ``language`` picks the Google News edition (with ``country``, e.g. ``fr`` + ``CA``) or the
    GDELT ``sourcelang:``; ``sites`` restricts to publishers (``site:`` / ``domain:``).
    ``window`` is ``"7d"``-style text in the engine's own syntax or a timedelta; GDELT
    polls default to the last day. ``max_records`` is GDELT's only (Google returns what it does).
    """

    engine: Engine
    terms: Sequence[str]
    language: str | None = None
    country: str | None = None
    sites: Sequence[str] = ()
    window: str | timedelta | None = None
    max_records: int = 75

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown query engine {self.engine!r} (use one of {ENGINES})")
        if isinstance(self.terms, str):
            raise ValueError("'terms' is a list of search terms, not one string")
        object.__setattr__(self, "terms", _clean_terms(self.terms, self.engine))
        if isinstance(self.sites, str):
            raise ValueError("'sites' is a list of domains, not one string")
        object.__setattr__(self, "sites", tuple(_check_site(site) for site in self.sites))
        object.__setattr__(self, "window", _check_window(self.window, self.engine))
        if isinstance(self.max_records, bool) or not 1 <= self.max_records <= GDELT_MAX_RECORDS:
            raise ValueError(f"'max_records' must be between 1 and {GDELT_MAX_RECORDS}")
        if self.engine == "google_news":
            google_edition(self.language, self.country)  # raises on an unknown edition
        else:
            _gdelt_language(self.language)
            _gdelt_country(self.country)


def feed_urls(spec: QuerySpec, *, max_url_length: int = MAX_URL_LENGTH) -> list[str]:
    """The feed URLs that together cover ``spec``: terms are split over several feeds when
    one URL would be too long (or, for Google, the query too many words)."""
    if spec.engine == "google_news":
        # One feed per site: Google News has no documented grouping for "(site:a OR site:b)".
        site_groups: list[tuple[str, ...]] = [(site,) for site in spec.sites] or [()]
        build: Callable[[Sequence[str], tuple[str, ...]], str] = _google_news_url(spec)
    else:
        site_groups = [tuple(spec.sites)]
        build = _gdelt_url(spec)
    return [
        build(group, sites)
        for sites in site_groups
        for group in _pack(spec, build, sites, max_url_length)
    ]


def google_edition(language: str | None, country: str | None = None) -> tuple[str, str, str]:
    """``(hl, gl, ceid)`` of the Google News edition for a language (and country)."""
    if not language:
        raise ValueError(
            "a google_news query needs a language (en, fr, zh-CN, zh-TW...): without one, "
            "Google picks the edition from the crawler's IP address"
        )
    key = _LANGUAGE_ALIASES.get(language.strip().lower(), language.strip().lower())
    editions = {gl: codes for (lang, gl), codes in _GOOGLE_EDITIONS.items() if lang == key}
    if not editions:
        known = sorted({lang for lang, _ in _GOOGLE_EDITIONS})
        raise ValueError(f"no Google News edition for language {language!r} (known: {known})")
    if country is None:
        return next(iter(editions.values()))
    codes = editions.get(country.strip().upper())
    if codes is None:
        raise ValueError(
            f"no Google News edition for language {language!r} in country {country!r} "
            f"(known countries for it: {sorted(editions)})"
        )
    return codes


def _google_news_url(spec: QuerySpec) -> Callable[[Sequence[str], tuple[str, ...]], str]:
    hl, gl, ceid = google_edition(spec.language, spec.country)

    def build(terms: Sequence[str], sites: tuple[str, ...]) -> str:
        parts = [" OR ".join(_quoted(term) for term in terms)]
        parts += [f"site:{site}" for site in sites]
        if spec.window:
            parts.append(f"when:{spec.window}")
        query = {"q": " ".join(parts), "hl": hl, "gl": gl, "ceid": ceid}
        return f"{GOOGLE_NEWS_SEARCH}?{_encode(query)}"

    return build


def _gdelt_url(spec: QuerySpec) -> Callable[[Sequence[str], tuple[str, ...]], str]:
    filters = []
    if spec.language:
        filters.append(f"sourcelang:{_gdelt_language(spec.language)}")
    if spec.country:
        filters.append(f"sourcecountry:{_gdelt_country(spec.country)}")

    def build(terms: Sequence[str], sites: tuple[str, ...]) -> str:
        # GDELT wants OR groups in parentheses and refuses parentheses around a single term.
        parts = [_or_group([_quoted(term) for term in terms]), *filters]
        if sites:
            parts.append(_or_group([f"domain:{site}" for site in sites]))
        query = {
            "query": " ".join(parts),
            "mode": "ArtList",
            "format": "rss",
            "maxrecords": str(spec.max_records),
            "timespan": str(spec.window or GDELT_DEFAULT_WINDOW),
            "sort": "DateDesc",
        }
        return f"{GDELT_DOC_API}?{_encode(query)}"

    return build


def _pack(
    spec: QuerySpec,
    build: Callable[[Sequence[str], tuple[str, ...]], str],
    sites: tuple[str, ...],
    max_url_length: int,
) -> list[list[str]]:
    """Greedy split of the terms into groups whose URL (and Google query) stays in bounds."""

    def fits(group: Sequence[str]) -> bool:
        if len(build(group, sites)) > max_url_length:
            return False
        return spec.engine != "google_news" or _google_words(group, spec) <= GOOGLE_MAX_QUERY_WORDS

    groups: list[list[str]] = []
    current: list[str] = []
    for term in spec.terms:
        if fits([*current, term]):
            current.append(term)
            continue
        if not current or not fits([term]):
            raise ValueError(
                f"search term {term!r} alone makes a query too long for one feed "
                f"(URL over {max_url_length} characters or over {GOOGLE_MAX_QUERY_WORDS} words)"
            )
        groups.append(current)
        current = [term]
    groups.append(current)
    return groups


def _google_words(terms: Sequence[str], spec: QuerySpec) -> int:
    words = sum(len(term.split()) for term in terms) + len(terms) - 1  # the ORs
    return words + (1 if spec.sites else 0) + (1 if spec.window else 0)


def _encode(query: Mapping[str, str]) -> str:
    # Spaces as %20 and ':' kept: the URLs read like the ones people paste from a browser.
    return urlencode(query, quote_via=quote, safe=":")


def _quoted(term: str) -> str:
    if _NEEDS_QUOTES.search(term) or term in ("OR", "AND"):
        return f'"{term}"'
    return term


def _or_group(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"({' OR '.join(items)})"


def _clean_terms(terms: Sequence[str], engine: Engine) -> tuple[str, ...]:
    cleaned: list[str] = []
    seen: set[str] = set()
    for raw in terms:
        if not isinstance(raw, str):
            raise ValueError(f"a search term must be text, not {raw!r}")
        term = " ".join(raw.split())
        if not term:
            raise ValueError("empty search term")
        if '"' in term:
            raise ValueError(f"search term {raw!r}: leave out the quotes, phrases are quoted")
        if _OPERATOR.match(term):
            raise ValueError(
                f"search term {raw!r} looks like an operator: use 'sites', 'language', "
                "'country' or 'window' for those"
            )
        if engine == "gdelt" and len(term) < GDELT_MIN_TERM_LENGTH:
            raise ValueError(
                f"search term {raw!r} is too short for GDELT (at least "
                f"{GDELT_MIN_TERM_LENGTH} characters): use a longer phrase"
            )
        if term.casefold() not in seen:
            seen.add(term.casefold())
            cleaned.append(term)
    if not cleaned:
        raise ValueError("a query needs at least one search term")
    return tuple(cleaned)


def _check_site(site: str) -> str:
    domain = site.strip().lower() if isinstance(site, str) else ""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a domain name: {site!r} (write 'news.cn', no scheme or path)")
    return domain


def _check_window(window: str | timedelta | None, engine: Engine) -> str | None:
    """The window in the engine's syntax: Google ``when:`` takes hours or days, GDELT
    ``timespan`` minutes to months (at most three)."""
    if window is None:
        return None
    if isinstance(window, timedelta):
        return _window_from_timedelta(window, engine)
    text = str(window).strip().lower()
    if engine == "google_news":
        if not _GOOGLE_WINDOW.match(text) or int(text[:-1]) == 0:
            raise ValueError(f"Google News window {window!r}: write hours or days, e.g. 12h, 7d")
        return text
    match = _GDELT_WINDOW.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"GDELT window {window!r}: write e.g. 30min, 24h, 7d, 2weeks or 3months")
    minutes = int(match.group(1)) * _GDELT_UNIT_MINUTES[match.group(2)]
    if timedelta(minutes=minutes) > GDELT_MAX_WINDOW:
        raise ValueError(f"GDELT window {window!r}: GDELT searches only the last 3 months")
    return text


def _window_from_timedelta(window: timedelta, engine: Engine) -> str:
    if window <= timedelta(0):
        raise ValueError("a query window must be positive")
    if engine == "google_news":
        # Rounded up: a slightly wider window loses nothing; a narrower one could.
        hours = math.ceil(window / timedelta(hours=1))
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
    if window > GDELT_MAX_WINDOW:
        raise ValueError("GDELT window: GDELT searches only the last 3 months")
    minutes = math.ceil(window / timedelta(minutes=1))
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}min"


def _gdelt_language(language: str | None) -> str | None:
    if language is None:
        return None
    text = language.strip().lower()
    if text in _GDELT_LANGUAGES.values():
        return text
    name = _GDELT_LANGUAGES.get(text.split("-")[0])
    if name is None:
        raise ValueError(
            f"no GDELT source language for {language!r} (known: {sorted(_GDELT_LANGUAGES)})"
        )
    return name


def _gdelt_country(country: str | None) -> str | None:
    if country is None:
        return None
    text = country.strip()
    if len(text) == 2:
        name = _GDELT_COUNTRIES.get(text.upper())
        if name is None:
            raise ValueError(
                f"country code {country!r} is not in Veille's table for GDELT; write the "
                "country's English name instead (e.g. 'south africa')"
            )
        return name
    name = re.sub(r"[\s'-]+", "", text.lower())
    if not name.isalpha():
        raise ValueError(f"not a country name for GDELT: {country!r}")
    return name


# --- Publishers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who published a query-feed item, as the feed says (Google News ``<source>``)."""

    name: str | None
    home_page: str | None

    @property
    def site(self) -> str | None:
        """The publisher's host without ``www.``: the article's site before its link is known."""
        if not self.home_page:
            return None
        host = (urlsplit(self.home_page).hostname or "").lower()
        return host.removeprefix("www.") or None


def read_publishers(body: bytes, feed_url: str) -> dict[str, Publisher]:
    """Publisher of each entry that names one, keyed by the entry's link as
    :func:`crawler.feed_parser.parse_feed` gives it."""
    parsed = feedparser.parse(body, sanitize_html=False)
    publishers: dict[str, Publisher] = {}
    for entry in parsed.entries:
        link, source = entry.get("link"), entry.get("source")
        if not isinstance(link, str) or not link.strip() or not isinstance(source, Mapping):
            continue
        name = " ".join(str(source.get("title") or "").split()) or None
        home = str(source.get("href") or "").strip()
        if urlsplit(home).scheme not in ("http", "https"):
            home = ""
        if name or home:
            publishers[urljoin(feed_url, link.strip())] = Publisher(name, home or None)
    return publishers


def strip_publisher_suffix(title: str, publisher: Publisher | None) -> str:
    """Google News titles end with `` - Publisher``; the article's own title does not."""
    if publisher is None or not publisher.name:
        return title
    suffix = f" - {publisher.name}"
    stripped = title.removesuffix(suffix).rstrip()
    return stripped or title


# --- Google News links -------------------------------------------------------------------------


class LinkDecoder(Protocol):
    """Decodes Google News token URLs, one result per URL in order, in googlenewsdecoder's
    shape: ``{"success": True, "decoded_url": ...}`` or ``{"success": False, "message": ...}``."""

    def __call__(
        self, urls: list[str], *, interval: float | None, timeout: float | None
    ) -> Sequence[Mapping[str, Any]]: ...


def decode_with_googlenewsdecoder(
    urls: list[str], *, interval: float | None, timeout: float | None
) -> Sequence[Mapping[str, Any]]:
    """The real decoder: one article-page GET per URL (``interval`` apart, ``timeout`` per
    HTTP request), then one batch POST to Google."""
    from googlenewsdecoder import gnewsdecoder  # requests and more: only when decoding

    result = gnewsdecoder(urls, interval=interval, timeout=timeout)
    return result if isinstance(result, list) else [result]


class LinkOutcome(StrEnum):
    DECODED = "decoded"
    """Decoded now, and remembered in the cache."""
    CACHED = "cached"
    """Found in the cache: no request."""
    FALLBACK = "fallback"
    """Decoding failed: the token URL is used, and the next poll tries again."""
    DISABLED = "disabled"
    """Decoding is off and the cache did not know it: the token URL is used."""
    NOT_A_TOKEN = "not_a_token"
    """Not a Google News token (a GDELT item, a publisher URL): used as it is."""

    @property
    def stat_key(self) -> str:
        return f"veille/query_feeds/link_{self.value}"


@dataclass(frozen=True, slots=True)
class ResolvedLink:
    link: str
    """What to fetch: the publisher's URL, or the token URL when that is all there is."""
    token: str
    """The link as the feed gave it."""
    outcome: LinkOutcome
    problem: str | None = None


def google_news_token_key(url: str) -> str | None:
    """``https://news.google.com/rss/articles/<id>`` for a Google News article link (any of
    its ``/rss/articles/``, ``/articles/``, ``/read/`` forms, any query), else None."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or parts.hostname != "news.google.com":
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) < 2 or segments[-2] not in ("articles", "read") or not segments[-1]:
        return None
    return f"https://news.google.com/rss/articles/{segments[-1]}"


@dataclass
class GoogleNewsLinks:
    """Google News item links to publisher URLs, with a cache and a fallback to the token.

    ``cache`` maps the token (:func:`google_news_token_key`) to the decoded URL; pass a mapping
    backed by the database to keep it across crawls. Only successes are cached, so a failure is
    retried at the next poll. ``enabled`` is the setting: off, only the cache is read. At most
    ``max_per_call`` links are decoded per call (the rest fall back), which bounds the time
    one feed spends on Google. The decoder makes blocking HTTP requests: call this from a
    thread, not from the reactor.
    """

    cache: MutableMapping[str, str]
    enabled: bool
    decoder: LinkDecoder = decode_with_googlenewsdecoder
    timeout: float | None = 10.0
    interval: float | None = 1.0
    max_per_call: int = 25
    counts: Counter[LinkOutcome] = field(default_factory=Counter)

    def resolve(self, link: str) -> ResolvedLink:
        return self.resolve_many([link])[0]

    def resolve_many(self, links: Sequence[str]) -> list[ResolvedLink]:
        """One result per link, in order; Google is asked once for all links not cached."""
        results: dict[int, ResolvedLink] = {}
        to_decode: dict[str, list[int]] = {}
        for index, link in enumerate(links):
            key = google_news_token_key(link)
            if key is None:
                results[index] = ResolvedLink(link, link, LinkOutcome.NOT_A_TOKEN)
            elif (cached := self.cache.get(key)) is not None:
                results[index] = ResolvedLink(cached, link, LinkOutcome.CACHED)
            elif not self.enabled:
                results[index] = ResolvedLink(link, link, LinkOutcome.DISABLED)
            else:
                to_decode.setdefault(key, []).append(index)
        if to_decode:
            decoded = self._decode(list(to_decode))
            for key, indexes in to_decode.items():
                url, problem = decoded[key]
                for index in indexes:
                    if url is not None:
                        results[index] = ResolvedLink(url, links[index], LinkOutcome.DECODED)
                    else:
                        results[index] = ResolvedLink(
                            links[index], links[index], LinkOutcome.FALLBACK, problem
                        )
        ordered = [results[index] for index in range(len(links))]
        self.counts.update(result.outcome for result in ordered)
        self._log_fallbacks(ordered)
        return ordered

    def _decode(self, keys: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """``key -> (url, None)`` for a success, ``(None, problem)`` for a failure."""
        batch, over = keys[: self.max_per_call], keys[self.max_per_call :]
        outcome: dict[str, tuple[str | None, str | None]] = {
            key: (None, f"over the limit of {self.max_per_call} decodes per call") for key in over
        }
        try:
            answers = list(self.decoder(batch, interval=self.interval, timeout=self.timeout))
        except Exception as error:
            # The decoder scrapes an undocumented Google page and breaks when Google changes
            # it: that must cost fallbacks (logged with the traceback), never the crawl.
            logger.warning("Google News decoder failed on %d links", len(batch), exc_info=True)
            return outcome | {key: (None, f"decoder error: {error!r}") for key in batch}
        if len(answers) != len(batch):
            problem = f"decoder returned {len(answers)} results for {len(batch)} links"
            return outcome | {key: (None, problem) for key in batch}
        for key, answer in zip(batch, answers, strict=True):
            outcome[key] = _read_answer(answer)
            url = outcome[key][0]
            if url is not None:
                self.cache[key] = url
        return outcome

    def _log_fallbacks(self, results: Sequence[ResolvedLink]) -> None:
        failed = [result for result in results if result.outcome is LinkOutcome.FALLBACK]
        for result in failed:
            logger.debug("Google News link not decoded: %s (%s)", result.token, result.problem)
        if failed:
            problems = Counter(result.problem for result in failed)
            logger.warning(
                "%d of %d Google News links not decoded, token URLs used: %s",
                len(failed),
                len(results),
                "; ".join(f"{problem} ({count})" for problem, count in problems.most_common(3)),
            )


def _read_answer(answer: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if not isinstance(answer, Mapping) or not answer.get("success"):
        message = answer.get("message") if isinstance(answer, Mapping) else None
        return None, str(message or "decoder reported a failure")
    url = str(answer.get("decoded_url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, f"decoder returned a URL that is not http(s): {url!r}"
    if parts.hostname == "news.google.com":
        return None, "decoder returned another Google News URL"
    return url, None
