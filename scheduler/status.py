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

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from crawler.config import Config, SourceConfig
from scheduler.service import format_duration
from storage.models import CrawlRun, JobRun, PollTarget, RunStatus, ServiceInstance, ServiceJob
from storage.poll_state import targets_of_sources
from storage.service_repository import (
    latest_service_instance,
    list_service_jobs,
    recent_crawl_runs,
    recent_job_runs,
)
from storage.source_health import TargetFailures, ended_runs_of, silence, target_failures

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
    targets: TargetFailures | None = None,
) -> SourceHealth:
    """Judge one source from crawl runs (newest first; runs of other sources are ignored).

    With ``targets`` (what its polled URLs' failure scores say), a source is failing when
    all of them fail; otherwise when every poll failed in its last ``failing_after_runs``.
    """
    own = ended_runs_of(runs, source.id)
    last = own[0].started_at if own else None
    if targets is not None and targets.all_failing:
        return SourceHealth(source.id, SourceState.FAILING, last, targets.detail)
    if not own:
        return SourceHealth(source.id, SourceState.NEVER_CRAWLED, None, "")
    recent = own[:failing_after_runs]
    judged_by_runs = targets is None or targets.targets == 0
    if (
        judged_by_runs
        and len(recent) == failing_after_runs
        and all(_all_feeds_failed(r, source.id) for r in recent)
    ):
        return SourceHealth(
            source.id,
            SourceState.FAILING,
            last,
            f"every feed failed in its last {failing_after_runs} runs",
        )
    silent = silence(
        own, source.id, now=now, interval=interval, silent_after_intervals=silent_after_intervals
    )
    if silent is not None:
        return SourceHealth(
            source.id,
            SourceState.SILENT,
            last,
            f"no new article in {silent.runs} run(s) in {format_duration(silent.window)}",
        )
    return SourceHealth(source.id, SourceState.OK, last, targets.detail if targets else "")


@dataclass(frozen=True)
class JudgedSource:
    """A source's health, with what it was judged on."""

    source: SourceConfig
    health: SourceHealth
    targets: list[PollTarget]
    failures: TargetFailures
    interval: timedelta
    """Its usual interval: the configured one, else its polled URLs' median adaptive pace."""
    runs: list[CrawlRun]
    """Its ended crawl runs in the lookback window, newest first."""


def usual_interval(
    source: SourceConfig, targets: Sequence[PollTarget], default: timedelta
) -> timedelta:
    if source.interval is not None:
        return source.interval
    paces = [target.interval_seconds for target in targets if target.interval_seconds]
    return timedelta(seconds=statistics.median(paces)) if paces else default


def judge_sources(
    session: Session, config: Config, sources: Sequence[SourceConfig], now: datetime
) -> list[JudgedSource]:
    """Each source judged from its crawl runs and its polled URLs' failure scores."""
    settings = config.scheduler
    targets: dict[str, list[PollTarget]] = {source.id: [] for source in sources}
    for target in targets_of_sources(session, targets):
        targets[target.source_id].append(target)
    intervals = {
        source.id: usual_interval(source, targets[source.id], settings.default_interval)
        for source in sources
    }
    longest = max(intervals.values(), default=settings.default_interval)
    lookback = longest * max(settings.silent_after_intervals, settings.failing_after_runs) * 2
    runs = recent_crawl_runs(session, since=now - lookback)
    judged = []
    for source in sources:
        failures = target_failures(targets[source.id], config.crawl.failing_score)
        health = assess_source(
            source,
            runs,
            now=now,
            interval=intervals[source.id],
            failing_after_runs=settings.failing_after_runs,
            silent_after_intervals=settings.silent_after_intervals,
            targets=failures,
        )
        own = ended_runs_of(runs, source.id)
        judged.append(
            JudgedSource(source, health, targets[source.id], failures, intervals[source.id], own)
        )
    return judged


def gather_status(
    session: Session, config: Config, now: datetime, *, last_runs: int = 10
) -> ServiceStatus:
    settings = config.scheduler
    instance = latest_service_instance(session)
    judged = judge_sources(session, config, config.select_sources(), now)
    health = [source.health for source in judged]
    return ServiceStatus(
        instance=instance,
        running=is_service_running(instance, now, settings.heartbeat),
        jobs=list_service_jobs(session),
        job_runs=recent_job_runs(session, limit=last_runs),
        crawl_runs=recent_crawl_runs(session, limit=last_runs),
        sources=health,
    )
