"""Render a :class:`~scheduler.digest_model.DailyDigest` as text, Markdown, HTML, JSON or Atom.

Every renderer is pure: a digest in, a document out. Strings from crawled pages are
untrusted: the HTML template autoescapes them, the Markdown renderer backslash-escapes
them, and links are written only for ``http(s)`` URLs (:func:`safe_url`); anything else
shows as plain text. Lone surrogates are replaced rather than allowed to crash an encoder.
The HTML is one self-contained page: inline CSS, an inline SVG sparkline per initiative,
no external request.
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
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
SPARK_WIDTH, SPARK_HEIGHT = 84, 20


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else None (``javascript:``...)."""
    if not url:
        return None
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


def sparkline(trend: Sequence[DayCount]) -> dict[str, object]:
    """The polyline of a trend, scaled to the sparkline's box (numbers only: nothing to escape)."""
    counts = [point.count for point in trend] or [0]
    top = max(counts) or 1
    step = (SPARK_WIDTH - 4) / max(len(counts) - 1, 1)
    points = [
        (2 + index * step, SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * count / top)
        for index, count in enumerate(counts)
    ]
    last_x, last_y = points[-1]
    return {
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        "last_x": f"{last_x:.1f}",
        "last_y": f"{last_y:.1f}",
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
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
        md=_markdown, mdurl=_markdown_url, safe_url=safe_url, line=_one_line, spark=sparkline
    )
    return environment


def _render(template: str, digest: DailyDigest) -> str:
    zone = ZoneInfo(digest.timezone)

    def local_time(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%H:%M")

    def trend_text(trend: Sequence[DayCount]) -> str:
        return " ".join(str(point.count) for point in trend)

    rendered = (
        _environment()
        .get_template(template)
        .render(digest=digest, local_time=local_time, trend_text=trend_text, plural=_plural)
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
