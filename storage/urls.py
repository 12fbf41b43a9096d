"""URL canonicalization: the identity of an article in the database.

Two links to the same page must give the same key: tracking parameters
(``utm_*``, ``fbclid`` and the like) and fragments are dropped, the host is
lower-cased, default ports are removed and query arguments are sorted. The rules
come from courlan (trackers, normalisation) and w3lib (query sorting, escaping),
not from hand-written patterns.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from courlan import normalize_url
from w3lib.url import canonicalize_url as w3lib_canonicalize

MAX_URL_LENGTH = 2048


class UnusableUrl(ValueError):
    """A link Veille will not follow: not http(s), no host, or absurdly long."""


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def canonicalize_url(url: str) -> str:
    """The key under which a page is stored and looked up."""
    url = url.strip()
    if not is_http_url(url):
        raise UnusableUrl(f"not an http(s) URL: {url[:200]!r}")
    if len(url) > MAX_URL_LENGTH:
        raise UnusableUrl(f"URL longer than {MAX_URL_LENGTH} characters: {url[:200]!r}...")
    without_trackers = normalize_url(url, strict=False, trailing_slash=True)
    canonical = w3lib_canonicalize(without_trackers, keep_fragments=False)
    if len(canonical) > MAX_URL_LENGTH:  # percent-escaping can lengthen it
        raise UnusableUrl(f"URL longer than {MAX_URL_LENGTH} characters: {url[:200]!r}...")
    return canonical


def host_of(url: str) -> str:
    """The lower-cased host name of a URL, without port."""
    return (urlsplit(url).hostname or "").lower()
