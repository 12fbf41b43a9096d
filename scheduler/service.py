"""The scheduler service behind ``veille serve``: crawls on time, the digest, maintenance.

An APScheduler 3 ``BackgroundScheduler`` runs the jobs; the main thread only waits for a
stop request. Each crawl is its own process, started by :func:`scheduler.launch.launch_crawl`
with a hard timeout, so this module never imports Scrapy or Twisted: a crawl that hangs is
killed and recorded as ``timed_out``, one that crashes is recorded with its exit status,
and the next run goes ahead.

- Every job has ``max_instances=1`` and ``coalesce=True``: a run that comes due while the
  previous one is still going is skipped, never queued or doubled. The misfire grace time
  is generous (APScheduler's default of one second silently drops late runs).
- Crawls run in their own thread pool (``max_parallel_crawls`` workers), the digest and
  maintenance in another, so a long crawl never delays the digest.
- Crawl jobs get a random delay (``jitter``, at most a tenth of the interval) so that a
  hundred sources do not start in the same second.
- On start, the service catches up from its run history: an overdue crawl job runs once
  (not once per missed interval), a digest missed while it was down is produced once.
- Setting the stop event (SIGTERM, SIGINT) starts no new job; the running crawl child gets
  ``stop_grace`` seconds to finish, then it is killed and the crawl recorded as cancelled.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket
import threading
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.config import Config
from crawler.targets import configured_targets
from scheduler.digest import digest_day
from scheduler.digest_delivery import (
    StoredDigest,
    deliver_digest,
    initiative_labels,
    store_digest,
)
from scheduler.digest_model import build_daily_digest
from scheduler.digest_sources import SourceWatch
from scheduler.launch import launch_crawl
from scheduler.service_lock import ServiceLock
from storage.database import make_session_factory, open_database
from storage.models import JobStatus, RunStatus, utcnow
from storage.poll_state import load_targets
from storage.service_repository import (
    ServiceJobRow,
    abandon_running_crawl_runs,
    abandon_running_job_runs,
    delete_raw_pages_before,
    find_digest,
    finish_job_run,
    last_job_starts,
    record_heartbeat,
    replace_service_jobs,
    start_job_run,
    start_service_instance,
    stop_service_instance,
    vacuum_database,
)

logger = logging.getLogger(__name__)
crawl_log = logging.getLogger("scheduler.crawl")

CRAWL_EXECUTOR = "crawls"
DEFAULT_EXECUTOR = "default"
DIGEST_JOB_ID = "digest"
DIGEST_TRIGGER = "scheduler"
MAINTENANCE_JOB_ID = "maintenance"
HEARTBEAT_JOB_ID = "heartbeat"
CRAWL_TRIGGER = "scheduler"
ABANDONED = "the service stopped during this run, without a clean shutdown"
EXIT_OK = 0
EXIT_LOCK_LOST = 3
JITTER_SHARE = 0.1
"""A crawl job's jitter is at most this share of its interval."""
_CHILD_LEVEL = re.compile(r"^\S+ \[[\w.]+\] (DEBUG|INFO|WARNING|ERROR|CRITICAL): ")
"""The level of a line of the crawl's own log (``time [logger] LEVEL: message``)."""


@dataclass(frozen=True)
class CrawlGroup:
    """Sources crawled together, in one child process, every ``interval``.

    With ``due_only`` (sources polled at an adaptive pace), each crawl polls only the feeds,
    sitemaps and pages whose own next poll is due; ``interval`` is then the shortest pace.
    """

    job_id: str
    interval: timedelta
    source_ids: tuple[str, ...]
    due_only: bool = False


def format_duration(value: timedelta) -> str:
    """``3600s`` as ``1h``, ``90s`` as ``90s``: the largest unit that divides it exactly."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def plan_crawl_groups(config: Config) -> list[CrawlGroup]:
    """Crawl jobs: sources with an ``interval`` by interval, the adaptive ones together.

    Without ``group_crawls``, one job per source. A source without an ``interval`` is polled
    at an adaptive pace: its job runs every ``[crawl] poll_min_interval`` and polls only what
    is due.
    """
    tick = config.crawl.poll_min_interval
    sources = config.select_sources()
    if not config.scheduler.group_crawls:
        return [
            CrawlGroup(
                f"crawl:{source.id}", source.interval or tick, (source.id,), source.interval is None
            )
            for source in sources
        ]
    by_interval: dict[timedelta, list[str]] = {}
    adaptive: list[str] = []
    for source in sources:
        if source.interval is None:
            adaptive.append(source.id)
        else:
            by_interval.setdefault(source.interval, []).append(source.id)
    groups = [
        CrawlGroup(f"crawl:every-{format_duration(interval)}", interval, tuple(ids))
        for interval, ids in sorted(by_interval.items())
    ]
    if adaptive:
        groups.append(CrawlGroup("crawl:adaptive", tick, tuple(adaptive), due_only=True))
    return groups


def crawl_jitter(config: Config, interval: timedelta) -> float:
    """Seconds of random delay for a crawl job: ``jitter``, but at most a tenth of the interval."""
    return min(config.scheduler.jitter.total_seconds(), interval.total_seconds() * JITTER_SHARE)


def last_daily_time(now: datetime, at: time, timezone: str) -> datetime:
    """The latest moment at or before ``now`` when the clock in ``timezone`` read ``at`` (UTC)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    candidate = datetime.combine(today, at, tzinfo=zone)
    if candidate > now:
        candidate = datetime.combine(today - timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)


def daily_trigger(at: time, timezone: str) -> CronTrigger:
    return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=timezone)


class VeilleService:
    """The jobs, their run history and the stop request; :meth:`serve` runs it all."""

    def __init__(
        self,
        config: Config,
        *,
        lock: ServiceLock | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if config.path is None:
            raise ValueError("the service needs a configuration loaded from a file")
        self.config = config
        self.lock = lock
        self.stop = stop or threading.Event()
        self.groups = plan_crawl_groups(config)
        self.engine = open_database(config.database.url)
        self.sessions = make_session_factory(self.engine)
        self.scheduler: BackgroundScheduler | None = None
        self.instance_id: int | None = None
        self.exit_status = EXIT_OK
        self._catch_up: dict[str, datetime] = {}
        self._publishing = threading.Lock()

    # Building the schedule

    def build_scheduler(self, now: datetime | None = None) -> BackgroundScheduler:
        """The scheduler with every job and its first run time, not started.

        First run times come from the run history: an overdue job runs now, once.
        """
        now = now or datetime.now(UTC)
        settings = self.config.scheduler
        digest, maintenance = self.config.digest, self.config.maintenance
        digest_due = last_daily_time(now, digest.time, digest.timezone)
        maintenance_due = last_daily_time(now, maintenance.time, maintenance.timezone)
        with self.sessions() as session:
            last_starts = last_job_starts(session)
            digest_done = (
                find_digest(session, digest_day(digest_due, digest.timezone), digest.timezone)
                is not None
            )

        scheduler = BackgroundScheduler(
            executors={
                CRAWL_EXECUTOR: ThreadPoolExecutor(settings.max_parallel_crawls),
                DEFAULT_EXECUTOR: ThreadPoolExecutor(3),
            },
            timezone=UTC,
        )
        # Given to each job rather than as job_defaults, which APScheduler applies only at start.
        options: dict[str, Any] = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": max(1, int(settings.misfire_grace_time.total_seconds())),
        }
        self._catch_up.clear()
        for group in self.groups:
            jitter = crawl_jitter(self.config, group.interval)
            last = last_starts.get(group.job_id)
            if last is None or last + group.interval <= now:
                first = now + timedelta(seconds=random.uniform(0, jitter))
                self._catch_up[group.job_id] = last + group.interval if last else now
            else:
                first = last + group.interval
            scheduler.add_job(
                self.run_crawl,
                IntervalTrigger(
                    seconds=group.interval.total_seconds(),
                    start_date=first,
                    jitter=jitter or None,
                    timezone=UTC,
                ),
                args=[group],
                id=group.job_id,
                name=f"crawl {', '.join(group.source_ids)}",
                executor=CRAWL_EXECUTOR,
                **options,
                next_run_time=first,
            )

        digest_trigger = daily_trigger(digest.time, digest.timezone)
        scheduler.add_job(
            self.run_digest,
            digest_trigger,
            id=DIGEST_JOB_ID,
            name="daily digest",
            executor=DEFAULT_EXECUTOR,
            **options,
            next_run_time=now if not digest_done else digest_trigger.get_next_fire_time(None, now),
        )
        maintenance_trigger = daily_trigger(maintenance.time, maintenance.timezone)
        last_maintenance = last_starts.get(MAINTENANCE_JOB_ID)
        maintenance_missed = last_maintenance is None or last_maintenance < maintenance_due
        scheduler.add_job(
            self.run_maintenance,
            maintenance_trigger,
            id=MAINTENANCE_JOB_ID,
            name="maintenance",
            executor=DEFAULT_EXECUTOR,
            **options,
            next_run_time=(
                now if maintenance_missed else maintenance_trigger.get_next_fire_time(None, now)
            ),
        )
        scheduler.add_job(
            self.heartbeat,
            IntervalTrigger(
                seconds=settings.heartbeat.total_seconds(), start_date=now, timezone=UTC
            ),
            id=HEARTBEAT_JOB_ID,
            name="heartbeat",
            executor=DEFAULT_EXECUTOR,
            **options,
            next_run_time=now + settings.heartbeat,
        )
        self.scheduler = scheduler
        return scheduler

    # Running

    def serve(self) -> int:
        """Run the jobs until :attr:`stop` is set; the exit status."""
        with self.sessions.begin() as session:
            # We hold the lock: whatever an earlier service left running is not running.
            abandoned = abandon_running_job_runs(session, error=ABANDONED)
            abandon_running_crawl_runs(session, trigger=CRAWL_TRIGGER, error=ABANDONED)
            self.instance_id = start_service_instance(
                session, host=socket.gethostname(), pid=os.getpid()
            ).id
        if abandoned:
            logger.warning("%d job run(s) left running by an earlier service: failed", abandoned)
        try:
            scheduler = self.build_scheduler()
            if not self.groups:
                logger.warning("No enabled source: only the digest and maintenance will run")
            scheduler.start()
            try:
                self.publish_jobs()
                logger.info(
                    "Service started (pid %d): %d crawl job(s) for %d source(s), "
                    "digest daily at %s %s",
                    os.getpid(),
                    len(self.groups),
                    sum(len(group.source_ids) for group in self.groups),
                    self.config.digest.time.strftime("%H:%M"),
                    self.config.digest.timezone,
                )
                self.stop.wait()
            finally:
                self.stop.set()  # also when something above failed: running crawls end
                logger.info(
                    "Stopping: no new job starts; a running crawl gets %s to finish",
                    format_duration(self.config.scheduler.stop_grace),
                )
                scheduler.shutdown(wait=True)
        finally:
            with self.sessions.begin() as session:
                stop_service_instance(session, self.instance_id)
            self.engine.dispose()
        logger.info("Service stopped")
        return self.exit_status

    def request_stop(self, reason: str) -> None:
        request_stop(self.stop, reason)

    # Jobs

    def _anything_due(self, source_ids: list[str]) -> bool:
        """Whether a crawl of these adaptive sources would poll anything now."""
        sources = self.config.select_sources(source_ids)
        with self.sessions() as session:
            states = load_targets(session, source_ids)
        now = datetime.now(UTC)
        for source in sources:
            for target in configured_targets(source):
                state = states.get((source.id, target.url))
                if state is None or state.next_poll_at is None or state.next_poll_at <= now:
                    return True
        return any(
            not state.gone and (state.next_poll_at is None or state.next_poll_at <= now)
            for state in states.values()
        )

    def run_crawl(self, group: CrawlGroup) -> None:
        """One crawl of the group's sources in a child process; always a recorded outcome."""
        if self.stop.is_set():
            return
        scheduled_for = self._catch_up.pop(group.job_id, None)
        sources = list(group.source_ids)
        if group.due_only and not self._anything_due(sources):
            logger.debug("Job %s: no feed, sitemap or page is due yet", group.job_id)
            return
        run_id = self._start_job(group.job_id, "crawl", scheduled_for, {"sources": sources})
        _log_job(group.job_id, "crawl", "started", sources=sources)
        began = clock.monotonic()
        try:
            outcome = launch_crawl(
                self.config,
                sources,
                trigger=CRAWL_TRIGGER,
                echo=self._crawl_echo(group.job_id) if self.config.scheduler.crawl_logs else None,
                kill_grace=self.config.scheduler.stop_grace.total_seconds(),
                stop=self.stop,
                due_only=group.due_only,
                enqueue=self.config.distributed.redis_url is not None,
            )
        except Exception as error:  # the job boundary: a failure becomes a recorded outcome
            logger.exception("Job %s could not run its crawl", group.job_id)
            self._end_job(run_id, group.job_id, "crawl", began, JobStatus.FAILED, error=repr(error))
            return
        run = outcome.run
        counts = {
            name: getattr(run, name)
            for name in (
                "feeds_polled",
                "feeds_failed",
                "entries_seen",
                "articles_new",
                "articles_known",
                "articles_failed",
            )
        }
        status = JobStatus(run.status) if run.status != RunStatus.RUNNING else JobStatus.FAILED
        self._end_job(
            run_id,
            group.job_id,
            "crawl",
            began,
            status,
            crawl_run_id=run.id,
            pid=run.pid,
            exit_code=outcome.exit_code,
            details={"sources": sources, **counts},
            error=run.error if status is not JobStatus.FINISHED else None,
        )

    def run_digest(self) -> None:
        """The digest of the day before the latest digest time (the one missed, on catch-up).

        Stored in every format and committed first, then delivered: a delivery that finally
        fails makes the run ``failed`` (the digest stays stored) and names the target.
        """
        if self.stop.is_set():
            return
        settings = self.config.digest
        due = last_daily_time(datetime.now(UTC), settings.time, settings.timezone)
        day = digest_day(due, settings.timezone)
        run_id = self._start_job(DIGEST_JOB_ID, "digest", due, {"day": day.isoformat()})
        _log_job(DIGEST_JOB_ID, "digest", "started", day=day.isoformat())
        began = clock.monotonic()
        details: dict[str, Any] = {"day": day.isoformat()}
        try:
            stored = self._store_digest(day, run_id, details)
            outcomes = (
                deliver_digest(
                    self.sessions,
                    stored,
                    settings.deliver_to,
                    attempts=settings.delivery_attempts,
                    backoff=settings.delivery_backoff,
                    stop=self.stop,
                )
                if stored is not None
                else []
            )
        except Exception as error:  # the job boundary
            logger.exception("The digest of %s failed", day)
            self._end_job(
                run_id, DIGEST_JOB_ID, "digest", began, JobStatus.FAILED, repr(error),
                details=details,
            )  # fmt: skip
            return
        failed = [outcome.target for outcome in outcomes if not outcome.delivered]
        if outcomes:
            details["delivered"] = f"{len(outcomes) - len(failed)} of {len(outcomes)}"
        if failed:
            details["not_delivered"] = ", ".join(failed)
        self._end_job(
            run_id,
            DIGEST_JOB_ID,
            "digest",
            began,
            JobStatus.FAILED if failed else JobStatus.FINISHED,
            f"delivery failed: {', '.join(failed)}" if failed else None,
            details=details,
        )

    def _store_digest(self, day: date, run_id: int, details: dict[str, Any]) -> StoredDigest | None:
        """The digest of ``day`` in every format, committed; None if it was produced already."""
        settings = self.config.digest
        labels = initiative_labels(self.config.tagging.taxonomy)
        with self.sessions.begin() as session:
            if find_digest(session, day, settings.timezone) is not None:
                details["skipped"] = "produced already"
                return None
            digest = build_daily_digest(
                session, day, settings.timezone, labels=labels,
                watch=SourceWatch.from_config(self.config),
            )  # fmt: skip
            stored = store_digest(session, digest, trigger=DIGEST_TRIGGER, job_run_id=run_id)
        details["stories"] = digest.story_count
        details["formats"] = ",".join(stored.ids)
        return stored

    def run_maintenance(self) -> None:
        """Forget raw HTML older than the retention, then VACUUM / ANALYZE."""
        if self.stop.is_set():
            return
        settings = self.config.maintenance
        due = last_daily_time(datetime.now(UTC), settings.time, settings.timezone)
        run_id = self._start_job(MAINTENANCE_JOB_ID, "maintenance", due, {})
        _log_job(MAINTENANCE_JOB_ID, "maintenance", "started")
        began = clock.monotonic()
        try:
            cutoff = utcnow() - settings.raw_html_retention
            with self.sessions.begin() as session:
                deleted = delete_raw_pages_before(session, cutoff)
            statements = vacuum_database(self.engine, full=settings.vacuum)
        except Exception as error:  # the job boundary
            logger.exception("Maintenance failed")
            self._end_job(
                run_id, MAINTENANCE_JOB_ID, "maintenance", began, JobStatus.FAILED, repr(error)
            )
            return
        self._end_job(
            run_id,
            MAINTENANCE_JOB_ID,
            "maintenance",
            began,
            JobStatus.FINISHED,
            details={"raw_pages_deleted": deleted, "database": statements},
        )

    def heartbeat(self) -> None:
        """Tell ``veille status`` the service is alive, and check it still holds its lock."""
        if self.lock is not None and not self.lock.verify():
            logger.error("Another service has taken this database's lock: stopping")
            self.exit_status = EXIT_LOCK_LOST
            self.request_stop("lock lost")
            return
        if self.instance_id is not None:
            with self.sessions.begin() as session:
                record_heartbeat(session, self.instance_id)
        self.publish_jobs()

    def publish_jobs(self) -> None:
        """Write the jobs and their next run times into ``service_jobs`` for ``veille status``."""
        if self.scheduler is None or self.stop.is_set():
            return  # once stopping, the last schedule written stays for ``veille status``
        rows = [
            ServiceJobRow(job.id, *self._describe(job), next_run_at=job.next_run_time)
            for job in self.scheduler.get_jobs()
            if job.id != HEARTBEAT_JOB_ID
        ]
        with self._publishing, self.sessions.begin() as session:
            replace_service_jobs(session, rows)

    def _describe(self, job: Job) -> tuple[str, str]:
        if job.id == DIGEST_JOB_ID:
            digest = self.config.digest
            return "digest", f"daily at {digest.time:%H:%M} {digest.timezone}"
        if job.id == MAINTENANCE_JOB_ID:
            maintenance = self.config.maintenance
            return "maintenance", (
                f"daily at {maintenance.time:%H:%M} {maintenance.timezone}: raw HTML older "
                f"than {format_duration(maintenance.raw_html_retention)} removed"
            )
        group: CrawlGroup = job.args[0]
        every = format_duration(group.interval)
        return "crawl", f"{', '.join(group.source_ids)} every {every}"

    # Recording

    def _start_job(
        self, job_id: str, kind: str, scheduled_for: datetime | None, details: dict[str, Any]
    ) -> int:
        with self.sessions.begin() as session:
            return start_job_run(
                session, job_id=job_id, kind=kind, scheduled_for=scheduled_for, details=details
            ).id

    def _end_job(
        self,
        run_id: int,
        job_id: str,
        kind: str,
        began: float,
        status: JobStatus,
        error: str | None = None,
        *,
        crawl_run_id: int | None = None,
        pid: int | None = None,
        exit_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        with self.sessions.begin() as session:
            finish_job_run(
                session,
                run_id,
                status=status,
                crawl_run_id=crawl_run_id,
                pid=pid,
                exit_code=exit_code,
                details=details,
                error=error,
            )
        fields: dict[str, Any] = {"status": status.value, "duration": _since(began)}
        if crawl_run_id is not None:
            fields["crawl_run"] = crawl_run_id
            if pid is not None:
                fields["pid"] = pid
            fields["exit_status"] = exit_code
        _log_job(job_id, kind, "finished", level=_level(status), **fields, **(details or {}))
        self.publish_jobs()

    def _crawl_echo(self, job_id: str) -> Callable[[str], None]:
        def echo(line: str) -> None:
            found = _CHILD_LEVEL.match(line)
            level = logging.getLevelName(found.group(1)) if found else logging.INFO
            crawl_log.log(level, "[%s] %s", job_id, line, extra={"job": job_id})

        return echo


def request_stop(stop: threading.Event, reason: str) -> None:
    if stop.is_set():
        logger.info("%s: already stopping", reason)
        return
    logger.info("%s: stopping the service", reason)
    stop.set()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (call from the main thread, as early as possible)."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        # Event.set takes a lock the interrupted main thread may hold: set it from elsewhere.
        name = signal.Signals(signum).name
        threading.Thread(target=request_stop, args=(stop, name), daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _since(began: float) -> float:
    return round(clock.monotonic() - began, 2)


def _level(status: JobStatus) -> int:
    return logging.INFO if status in (JobStatus.FINISHED, JobStatus.CANCELLED) else logging.WARNING


def _log_job(
    job_id: str, kind: str, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """One line per job start and end: ``job=... event=... key=value ...``, or JSON fields."""
    shown = " ".join(f"{key}={_show(value)}" for key, value in fields.items())
    logger.log(
        level,
        "job %s %s%s",
        job_id,
        event,
        f": {shown}" if shown else "",
        extra={"job": job_id, "kind": kind, "event": event, **fields},
    )


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:.2f}s"
    return str(value)
