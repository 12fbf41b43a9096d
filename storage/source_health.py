"""Whether a source has gone silent: crawled, yet no new article for several of its intervals.

Judged from the crawl runs' per-source counts (``crawl_runs.stats["per_source"]``), by pure
functions over :class:`~storage.models.CrawlRun` rows, so that ``veille status`` and the
daily digest say the same thing about a source. Nothing here queries the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.models import CrawlRun, PollTarget, RunStatus


def ended_runs_of(runs: Iterable[CrawlRun], source_id: str) -> list[CrawlRun]:
    """The runs that crawled ``source_id`` and ended (a cancelled run was cut short), in order."""
    return [
        run
        for run in runs
        if source_id in (run.source_ids or [])
        and run.status not in (RunStatus.RUNNING.value, RunStatus.CANCELLED.value)
    ]


def new_articles(run: CrawlRun, source_id: str) -> int:
    """The articles ``run`` stored from ``source_id``."""
    per_source = (run.stats or {}).get("per_source")
    if per_source is None:  # recorded before per-source counts: only a one-source run says
        return run.articles_new if run.source_ids == [source_id] else 0
    return int((per_source.get(source_id) or {}).get("articles_new", 0))


@dataclass(frozen=True)
class Silence:
    runs: int
    """The runs in the window, none of which stored a new article from the source."""
    since: datetime
    """The start of the window: ``silent_after_intervals`` intervals before the judgement."""
    window: timedelta


def silence(
    own_runs: Sequence[CrawlRun],
    source_id: str,
    *,
    now: datetime,
    interval: timedelta,
    silent_after_intervals: int,
) -> Silence | None:
    """How ``source_id`` is silent at ``now``, or None if it is not (or it is too early to say).

    ``own_runs`` are its ended runs (:func:`ended_runs_of`); runs started after ``now`` are
    ignored. Silent: watched for at least ``silent_after_intervals`` intervals, crawled in
    that window, and not one new article from those crawls.
    """
    window = interval * silent_after_intervals
    since = now - window
    past = [run for run in own_runs if run.started_at <= now]
    if not past or min(run.started_at for run in past) > since:
        return None
    in_window = [run for run in past if run.started_at >= since]
    if not in_window or any(new_articles(run, source_id) for run in in_window):
        return None
    return Silence(runs=len(in_window), since=since, window=window)


@dataclass(frozen=True)
class TargetFailures:
    """How a source's feeds, sitemaps and pages fail, judged by their failure scores."""

    targets: int
    failing: int
    detail: str

    @property
    def all_failing(self) -> bool:
        return self.targets > 0 and self.failing == self.targets


def target_failures(targets: Sequence[PollTarget], failing_score: float) -> TargetFailures:
    """Which live targets have a failure score at or above ``failing_score``, and the worst."""
    failing = [target for target in targets if target.failure_score >= failing_score]
    if not failing:
        return TargetFailures(len(targets), 0, "")
    worst = max(failing, key=lambda target: (target.consecutive_failures, target.failure_score))
    runs = worst.consecutive_failures
    detail = (
        f"{len(failing)} of {len(targets)} polled URLs failing; {worst.kind} {worst.url}: "
        f"{runs} failure{'' if runs == 1 else 's'} in a row"
        + (f" ({worst.last_error})" if worst.last_error else "")
    )
    return TargetFailures(len(targets), len(failing), detail)
