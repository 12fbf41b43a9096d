"""What Veille remembers of each feed, sitemap, list page and homepage between polls.

The crawler reads a source's targets once at the start (:func:`load_targets`, plain
snapshots) and writes one row per poll (:func:`record_poll`). Targets discovered on a
homepage or in a sitemap index are rows too; when their announcer stops listing them
they are marked gone (:func:`mark_unannounced_gone`), and revived if they come back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import PollTarget, ResolvedLink

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class TargetState:
    """A snapshot of a poll target, detached from any session."""

    url: str
    kind: str
    discovered_from: str | None
    gone: bool
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    next_poll_at: datetime | None
    interval: timedelta | None
    consecutive_failures: int
    failure_score: float


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll's outcome, as the crawler saw it."""

    outcome: str
    """``changed``, ``unchanged`` (same body), ``not_modified`` (304) or ``failed``."""
    at: datetime
    next_poll_at: datetime
    interval: timedelta
    consecutive_failures: int = 0
    failure_score: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    items_found: int | None = None
    items_new: int | None = None
    error: str | None = None


def _snapshot(row: PollTarget) -> TargetState:
    return TargetState(
        url=row.url,
        kind=row.kind,
        discovered_from=row.discovered_from,
        gone=row.gone_at is not None,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        next_poll_at=row.next_poll_at,
        interval=timedelta(seconds=row.interval_seconds) if row.interval_seconds else None,
        consecutive_failures=row.consecutive_failures,
        failure_score=row.failure_score,
    )


def load_targets(session: Session, source_ids: Iterable[str]) -> dict[tuple[str, str], TargetState]:
    """Every remembered target of these sources, by ``(source id, url)``."""
    ids = list(source_ids)
    rows = session.scalars(select(PollTarget).where(PollTarget.source_id.in_(ids))) if ids else []
    return {(row.source_id, row.url): _snapshot(row) for row in rows}


def _get_or_add(
    session: Session, source_id: str, url: str, kind: str, discovered_from: str | None
) -> PollTarget:
    row = session.scalar(
        select(PollTarget).where(PollTarget.source_id == source_id, PollTarget.url == url)
    )
    if row is None:
        row = PollTarget(
            source_id=source_id,
            url=url,
            kind=kind,
            discovered_from=discovered_from,
            consecutive_failures=0,
            failure_score=0.0,
            polls=0,
            items_found=0,
            items_new=0,
        )
        session.add(row)
    return row


def record_poll(
    session: Session,
    source_id: str,
    url: str,
    kind: str,
    result: PollResult,
    *,
    discovered_from: str | None = None,
) -> None:
    """Write one poll's outcome: validators and body hash, pace, failures, yield."""
    row = _get_or_add(session, source_id, url, kind, discovered_from)
    row.kind = kind
    if discovered_from is not None:
        row.discovered_from = discovered_from
    row.polls += 1
    row.last_polled_at = result.at
    row.last_outcome = result.outcome
    row.next_poll_at = result.next_poll_at
    row.interval_seconds = result.interval.total_seconds()
    row.consecutive_failures = result.consecutive_failures
    row.failure_score = result.failure_score
    if result.outcome == "failed":
        row.last_error = result.error
        return
    row.last_error = None
    if result.outcome in ("unchanged", "not_modified"):
        # A 304 carries no body: the remembered hash stays the authority.
        row.etag = result.etag or row.etag
        row.last_modified = result.last_modified or row.last_modified
        return
    row.etag, row.last_modified = result.etag, result.last_modified
    row.body_hash = result.body_hash
    row.last_changed_at = result.at
    if result.items_found is not None:
        row.items_found = result.items_found
    if result.items_new is not None:
        row.items_new = result.items_new
        if result.items_new:
            row.last_new_at = result.at


def announce_targets(
    session: Session,
    source_id: str,
    announcer: str,
    urls: Iterable[str],
    kind: str,
    now: datetime,
) -> None:
    """Remember what ``announcer`` (a homepage, a sitemap index) lists; the rest is gone."""
    wanted = list(dict.fromkeys(urls))
    for url in wanted:
        row = _get_or_add(session, source_id, url, kind, announcer)
        row.gone_at = None
    stale = select(PollTarget).where(
        PollTarget.source_id == source_id,
        PollTarget.discovered_from == announcer,
        PollTarget.gone_at.is_(None),
    )
    for row in session.scalars(stale):
        if row.url not in wanted:
            row.gone_at = now


def forget_body(session: Session, source_id: str, url: str, *, due_now: bool = True) -> None:
    """Make the next poll of ``url`` read and parse its body even if unchanged.

    For re-discovery when an announced feed vanished (``due_now``: at the next crawl), and
    to ask again for an article that failed (at the target's usual time).
    """
    row = session.scalar(
        select(PollTarget).where(PollTarget.source_id == source_id, PollTarget.url == url)
    )
    if row is not None:
        row.body_hash = None
        row.etag = None
        row.last_modified = None
        if due_now:
            row.next_poll_at = None


def resolved_links(session: Session, urls: Iterable[str]) -> dict[str, str]:
    """Publisher URLs already found for these redirect tokens."""
    wanted = list(dict.fromkeys(urls))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(ResolvedLink.url, ResolvedLink.resolved_url).where(ResolvedLink.url.in_(chunk))
        )
        found.update({url: resolved for url, resolved in rows})
    return found


def save_resolved_link(session: Session, url: str, resolved_url: str, at: datetime) -> None:
    row = session.get(ResolvedLink, url)
    if row is None:
        session.add(ResolvedLink(url=url, resolved_url=resolved_url, resolved_at=at))
    else:
        row.resolved_url, row.resolved_at = resolved_url, at


def targets_of_sources(session: Session, source_ids: Iterable[str]) -> list[PollTarget]:
    """The live targets of these sources, for health reports (attached rows)."""
    ids = list(source_ids)
    if not ids:
        return []
    query = (
        select(PollTarget)
        .where(PollTarget.source_id.in_(ids), PollTarget.gone_at.is_(None))
        .order_by(PollTarget.source_id, PollTarget.id)
    )
    return list(session.scalars(query))
