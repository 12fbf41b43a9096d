"""Feed autodiscovery: the feeds a homepage announces, with trafilatura's feed finder.

``<link rel="alternate" type="application/rss+xml" href="...">`` (and Atom, JSON Feed)
in the page's head; failing those, links that look like feeds. Comment feeds are left
out. Only feeds on the homepage's own site are kept unless the source allows others.
"""

from __future__ import annotations

from storage.urls import host_of

MAX_FEEDS = 10
"""At most this many feeds are taken from one homepage (the first announced ones)."""


def discover_feeds(html: str, homepage_url: str, *, allow_offsite: bool = False) -> list[str]:
    """Absolute URLs of the feeds ``html`` (the page at ``homepage_url``) announces."""
    # Imported here: trafilatura (and the language model it imports) is for the pages, which
    # the crawl's CPU pool prepares; a crawl process need not load it to poll feeds.
    from trafilatura.feeds import FeedParameters, determine_feed

    host = host_of(homepage_url)
    params = FeedParameters(homepage_url, host, homepage_url)
    feeds = []
    for url in determine_feed(html, params):
        if not allow_offsite and not _same_site(host_of(url), host):
            continue
        feeds.append(url)
    return feeds[:MAX_FEEDS]


def _same_site(host: str, home: str) -> bool:
    bare, bare_home = host.removeprefix("www."), home.removeprefix("www.")
    return bare == bare_home or bare.endswith("." + bare_home) or bare_home.endswith("." + bare)
