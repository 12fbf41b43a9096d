"""What ``veille status`` reports: the service, its jobs, the last runs, sources in trouble.

The running service writes its jobs and next run times into ``service_jobs`` and a
heartbeat into ``service_instances``; runs are in ``job_runs`` and ``crawl_runs``. Sources
are judged from ``crawl_runs.stats["per_source"]``:

- **failing**: all its feeds failed (or its crawl failed or timed out) in each of its
  last ``failing_after_runs`` runs;
- **silent**: watched for at least ``silent_after_intervals`` of its intervals, crawled in
  that time, and not one new article from those crawls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from crawler.config import Config, SourceConfig
from scheduler.service import format_duration
from storage.models import CrawlRun, JobRun, RunStatus, ServiceInstance, ServiceJob
from storage.service_repository import (
    latest_service_instance,
    list_service_jobs,
    recent_crawl_runs,
    recent_job_runs,
)

HEARTBEATS_MISSED = 3
"""The service counts as running while its last heartbeat is younger than this many periods."""


class SourceState(StrEnum):
    OK = "ok"
    FAILING = "failing"
    SILENT = "silent"
    NEVER_CRAWLED = "never crawled"


@dataclass(frozen=True)
class SourceHealth:
    source_id: str
    state: SourceState
    last_crawl: datetime | None
    detail: str


@dataclass(frozen=True)
class ServiceStatus:
    instance: ServiceInstance | None
    running: bool
    jobs: list[ServiceJob]
    job_runs: list[JobRun]
    crawl_runs: list[CrawlRun]
    sources: list[SourceHealth]

    @property
    def troubled_sources(self) -> list[SourceHealth]:
        return [s for s in self.sources if s.state in (SourceState.FAILING, SourceState.SILENT)]


def is_service_running(
    instance: ServiceInstance | None, now: datetime, heartbeat: timedelta
) -> bool:
    if instance is None or instance.stopped_at is not None:
        return False
    return now - instance.heartbeat_at <= heartbeat * HEARTBEATS_MISSED


def _all_feeds_failed(run: CrawlRun, source_id: str) -> bool:
    if run.status in (RunStatus.FAILED.value, RunStatus.TIMED_OUT.value):
        return True
    per_source = (run.stats or {}).get("per_source")
    if per_source is None:  # recorded before per-source counts existed
        return False
    counts = per_source.get(source_id) or {}
    return counts.get("feeds_polled", 0) == 0


def assess_source(
    source: SourceConfig,
    runs: Sequence[CrawlRun],
    *,
    now: datetime,
    interval: timedelta,
    failing_after_runs: int,
    silent_after_intervals: int,
) -> SourceHealth:
    """Judge one source from crawl runs (newest first; runs of other sources are ignored)."""
    own = [
        run
        for run in runs
        if source.id in (run.source_ids or [])
        and run.status not in (RunStatus.RUNNING.value, RunStatus.CANCELLED.value)
    ]
    if not own:
        return SourceHealth(source.id, SourceState.NEVER_CRAWLED, None, "")
    last = own[0].started_at
    recent = own[:failing_after_runs]
    if len(recent) == failing_after_runs and all(_all_feeds_failed(r, source.id) for r in recent):
        return SourceHealth(
            source.id,
            SourceState.FAILING,
            last,
            f"every feed failed in its last {failing_after_runs} runs",
        )
    window = interval * silent_after_intervals
    watched_since = own[-1].started_at
    if now - watched_since >= window:
        in_window = [run for run in own if run.started_at >= now - window]
        new = sum(_new_articles(run, source.id) for run in in_window)
        if in_window and new == 0:
            return SourceHealth(
                source.id,
                SourceState.SILENT,
                last,
                f"no new article in {len(in_window)} run(s) in {format_duration(window)}",
            )
    return SourceHealth(source.id, SourceState.OK, last, "")


def _new_articles(run: CrawlRun, source_id: str) -> int:
    per_source = (run.stats or {}).get("per_source")
    if per_source is None:
        return run.articles_new if run.source_ids == [source_id] else 0
    return int((per_source.get(source_id) or {}).get("articles_new", 0))


def gather_status(
    session: Session, config: Config, now: datetime, *, last_runs: int = 10
) -> ServiceStatus:
    settings = config.scheduler
    instance = latest_service_instance(session)
    sources = config.select_sources()
    intervals = {s.id: s.interval or settings.default_interval for s in sources}
    longest = max(intervals.values(), default=settings.default_interval)
    lookback = longest * max(settings.silent_after_intervals, settings.failing_after_runs) * 2
    runs = recent_crawl_runs(session, since=now - lookback)
    health = [
        assess_source(
            source,
            runs,
            now=now,
            interval=intervals[source.id],
            failing_after_runs=settings.failing_after_runs,
            silent_after_intervals=settings.silent_after_intervals,
        )
        for source in sources
    ]
    return ServiceStatus(
        instance=instance,
        running=is_service_running(instance, now, settings.heartbeat),
        jobs=list_service_jobs(session),
        job_runs=recent_job_runs(session, limit=last_runs),
        crawl_runs=recent_crawl_runs(session, limit=last_runs),
        sources=health,
    )
