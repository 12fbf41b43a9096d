"""Render a :class:`~scheduler.digest_model.DailyDigest` as text, Markdown, HTML, JSON or Atom.

Every renderer is pure: a digest in, a document out. Strings from crawled pages are
untrusted: the HTML template autoescapes them, the Markdown renderer backslash-escapes
them, and links are written only for ``http(s)`` URLs (:func:`safe_url`); anything else
shows as plain text. Lone surrogates are replaced rather than allowed to crash an encoder.
The HTML is one self-contained page: inline CSS, an inline SVG bar chart of the week per
initiative (with its figures in text too, for mail clients that drop SVG), no external
request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from functools import cache
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from scheduler.digest_model import DailyDigest, DayCount, clean_text, digest_to_dict

_URL_JUNK = re.compile(r"[\x00-\x20\x7f]")
_PLAIN_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:[/?#][!-~]*)?", re.ASCII)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
BAR_WIDTH, BAR_GAP, CHART_HEIGHT = 9, 3, 24


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else None (``javascript:``...)."""
    if not url:
        return None
    if _PLAIN_HTTP_URL.fullmatch(url):  # most URLs: nothing to clean, a host, http(s)
        return url
    # Browsers ignore these inside a URL, so "java\nscript:" must be judged as "javascript:".
    candidate = _URL_JUNK.sub("", clean_text(url))
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return candidate


def _markdown(value: object) -> str:
    """Text that Markdown shows as it is: no markup, no raw HTML, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(clean_text(str(value)).split()))


def _markdown_url(url: str) -> str:
    return quote(url, safe=":/?#@!$&'*+,;=%~-._[]")


def _one_line(value: object) -> str:
    return " ".join(clean_text(str(value)).split())


def trend_chart(trend: Sequence[DayCount]) -> dict[str, object]:
    """A bar per day on a baseline, the last day's darker (numbers only: nothing to escape).

    Bars rather than a line: most days of an initiative count zero or one article, which a
    line draws flat on its axis. A day without an article keeps a sliver, so that seven
    days still read as seven.
    """
    counts = [point.count for point in trend] or [0]
    top = max(counts) or 1
    baseline = CHART_HEIGHT - 1
    bars = []
    for index, count in enumerate(counts):
        height = max(1.0, (CHART_HEIGHT - 3) * count / top)
        bars.append({
            "x": index * (BAR_WIDTH + BAR_GAP), "y": f"{baseline - height:.1f}",
            "width": BAR_WIDTH, "height": f"{height:.1f}", "last": index == len(counts) - 1,
        })  # fmt: skip
    return {
        "bars": bars,
        "width": len(counts) * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
        "height": CHART_HEIGHT,
        "baseline": baseline + 0.5,
        "total": sum(counts),
        "last": counts[-1],
        "last_day": trend[-1].day.isoformat() if trend else "",
        "label": ", ".join(f"{point.day.isoformat()}: {point.count}" for point in trend),
    }


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("scheduler", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        md=_markdown,
        mdurl=_markdown_url,
        safe_url=safe_url,
        line=_one_line,
        trend_chart=trend_chart,
    )
    return environment


def digest_title(digest: DailyDigest) -> str:
    """The heading: the day, or the range of days when the digest covers several."""
    if digest.days == 1:
        return f"Veille daily digest for {digest.day.isoformat()}"
    return (
        f"Veille digest for {digest.first_day.isoformat()} to {digest.day.isoformat()}"
        f" ({digest.days} days)"
    )


def _render(template: str, digest: DailyDigest) -> str:
    zone = ZoneInfo(digest.timezone)

    def local_time(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%H:%M")

    def local_moment(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def trend_text(trend: Sequence[DayCount]) -> str:
        return " ".join(str(point.count) for point in trend)

    rendered = (
        _environment()
        .get_template(template)
        .render(
            digest=digest,
            title=digest_title(digest),
            period="on this day" if digest.days == 1 else f"in these {digest.days} days",
            local_time=local_time,
            local_moment=local_moment,
            trend_text=trend_text,
            plural=_plural,
        )
    )
    return clean_text(rendered)


def _plural(number: int, noun: str, nouns: str | None = None) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {nouns or noun + 's'}"


def render_text(digest: DailyDigest) -> str:
    """Plain text, for the terminal and the text part of a mail."""
    return _render("digest.txt.j2", digest)


def render_markdown(digest: DailyDigest) -> str:
    return _render("digest.md.j2", digest)


def render_html(digest: DailyDigest) -> str:
    """One self-contained HTML page (inline CSS and SVG), readable on a phone and in a mail."""
    return _render("digest.html.j2", digest)


def render_json(digest: DailyDigest) -> str:
    """The digest as JSON; :func:`scheduler.digest_model.digest_from_dict` reads it back."""
    text = json.dumps(digest_to_dict(digest), ensure_ascii=False, indent=2)
    return clean_text(text) + "\n"


def render_atom(digests: Sequence[tuple[date, str]], feed_url: str) -> bytes:
    """An Atom feed of daily digests (day, HTML), newest first."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title("Veille daily digest")
    feed.link(href=feed_url, rel="self")
    feed.language("en")
    ordered = sorted(digests, key=lambda pair: pair[0])
    latest = ordered[-1][0] if ordered else date(1970, 1, 1)
    feed.updated(datetime.combine(latest, time(), tzinfo=UTC))
    for day, html in ordered:  # feedgen puts the last added entry first
        entry = feed.add_entry()
        entry.id(f"{feed_url}#{day.isoformat()}")
        entry.title(f"Veille daily digest for {day.isoformat()}")
        entry.updated(datetime.combine(day, time(), tzinfo=UTC))
        entry.content(clean_text(html), type="html")
    return feed.atom_str(pretty=True)
