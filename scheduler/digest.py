"""The days a digest covers, and the first, minimal digest: articles by source, as text.

A day is a calendar day in the configured time zone (:func:`day_bounds`). The digest
produced at 07:00 on the 21st covers the 20th (:func:`digest_day`).

The digest people read is :mod:`scheduler.digest_model` with :mod:`scheduler.digest_render`,
stored and delivered by :mod:`scheduler.digest_delivery`; the service and ``veille digest``
use only that. :func:`render_daily_digest` and :func:`produce_digest`, the first plain-text
digest, remain for the callers that still use them; nothing of the service does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from storage.models import Digest
from storage.service_repository import add_digest, articles_fetched_between

DIGEST_FORMAT = "text"


@dataclass(frozen=True)
class DigestEntry:
    source_id: str
    source_name: str
    title: str | None
    url: str
    language: str | None
    published: datetime


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The day's first instant and the next day's, in UTC (23 or 25 hours on DST days)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def digest_day(produced_for: datetime, timezone: str) -> date:
    """The day covered by the digest due at ``produced_for``: the day before, locally."""
    return produced_for.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def render_daily_digest(day: date, timezone: str, entries: Sequence[DigestEntry]) -> str:
    """Plain text: a heading, then each source with its articles, newest first."""
    zone = ZoneInfo(timezone)
    sources = len({entry.source_id for entry in entries})
    lines = [f"Veille daily digest for {day.isoformat()} ({timezone})"]
    if not entries:
        lines += ["", "No article was stored on this day."]
        return "\n".join(lines) + "\n"
    lines.append(f"{_count(len(entries), 'article')} from {_count(sources, 'source')}.")

    def by_source(entry: DigestEntry) -> tuple[str, str]:
        return entry.source_name.casefold(), entry.source_id

    for (_name, source_id), group in groupby(sorted(entries, key=by_source), key=by_source):
        articles = sorted(group, key=lambda entry: (-entry.published.timestamp(), entry.url))
        heading = f"{articles[0].source_name} ({source_id}), {_count(len(articles), 'article')}"
        lines += ["", heading]
        for entry in articles:
            published = entry.published.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            lines.append(f"- {entry.title or '(no title)'}")
            lines.append(f"  {entry.url}")
            lines.append(f"  {entry.language or '?'}, published {published}")
    return "\n".join(lines) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def produce_digest(
    session: Session, day: date, timezone: str, *, job_run_id: int | None = None
) -> Digest:
    """Render the digest of ``day`` from the database and store it (flushed, not committed)."""
    start, end = day_bounds(day, timezone)
    entries = [
        DigestEntry(
            source_id=article.source_id,
            source_name=source_name or article.source_id,
            title=article.title,
            url=article.canonical_url,
            language=article.language,
            published=article.published,
        )
        for article, source_name in articles_fetched_between(session, start, end)
    ]
    content = render_daily_digest(day, timezone, entries)
    return add_digest(
        session,
        day=day,
        timezone=timezone,
        content=content,
        format=DIGEST_FORMAT,
        job_run_id=job_run_id,
    )
