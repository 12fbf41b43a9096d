"""``veille serve`` and ``veille status``, registered on the ``veille`` command line.

``serve`` is an entry point: it configures logging (text or JSON lines, on stdout), takes
the one-service-per-database lock, and runs :class:`scheduler.service.VeilleService`
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli import (
    ConfigOption,
    _database_errors,
    _fail,
    _load,
    _load_file,
    app,
    console,
)
from scheduler.service import VeilleService, stop_on_signals
from scheduler.service_lock import ServiceAlreadyRunning, ServiceLock
from scheduler.status import ServiceStatus, gather_status
from storage.database import make_session_factory, open_database
from storage.models import ServiceInstance
from storage.service_repository import latest_service_instance

EXIT_ALREADY_RUNNING = 3

# The attributes every LogRecord has; anything else was passed as ``extra=``.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_service_logging(log_format: LogFormat) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if log_format is LogFormat.JSON:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler's INFO lines repeat ours; its warnings (a skipped or missed run) stay.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@app.command()
def serve(
    config_path: ConfigOption = None,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json (one object per line).")
    ] = LogFormat.TEXT,
) -> None:
    """Run the scheduler service: crawls on time, the daily digest, maintenance."""
    stop = threading.Event()
    stop_on_signals(stop)  # from the start: a SIGTERM while starting up is a clean stop too
    config = _load_file(config_path)
    configure_service_logging(log_format)
    lock = ServiceLock(config.database.url)
    with _database_errors(config.database.url):
        try:
            lock.acquire()
        except ServiceAlreadyRunning as error:
            _fail(
                "veille: another veille serve is running on this database"
                f"{_describe_holder(config.database.url)}: {error}. Stop it first."
            )
            raise typer.Exit(EXIT_ALREADY_RUNNING) from None
        try:
            service = VeilleService(config, lock=lock, stop=stop)
        except BaseException:
            lock.release()
            raise
    try:
        exit_status = service.serve()
    finally:
        lock.release()
    raise typer.Exit(exit_status)


def _describe_holder(database_url: str) -> str:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        instance = latest_service_instance(session)
    engine.dispose()
    if instance is None or instance.stopped_at is not None:
        return ""
    return f" (pid {instance.pid} on {instance.host}, started {_when(instance.started_at)})"


@app.command()
def status(config_path: ConfigOption = None) -> None:
    """Show the service's jobs and next runs, the last runs, and failing or silent sources."""
    config = _load(config_path)
    now = datetime.now(UTC)
    with _database_errors(config.database.url):
        engine = open_database(config.database.url)
    with make_session_factory(engine)() as session:
        report = gather_status(session, config, now)
    engine.dispose()
    _print_service(report, now)
    _print_jobs(report, now)
    _print_job_runs(report)
    _print_crawl_runs(report)
    _print_sources(report)


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _ago(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration(started: datetime, finished: datetime | None) -> str:
    return f"{(finished - started).total_seconds():.1f}s" if finished else "running"


def _print_service(report: ServiceStatus, now: datetime) -> None:
    instance: ServiceInstance | None = report.instance
    if instance is None:
        console.print("Service: [yellow]never started on this database[/yellow]")
    elif report.running:
        console.print(
            f"Service: [green]running[/green] (pid {instance.pid} on {instance.host}, "
            f"since {_when(instance.started_at)}, "
            f"last heartbeat {_ago(now - instance.heartbeat_at)} ago)",
            highlight=False,
        )
    elif instance.stopped_at is not None:
        console.print(
            f"Service: [yellow]not running[/yellow] (pid {instance.pid} on {instance.host} "
            f"stopped at {_when(instance.stopped_at)})",
            highlight=False,
        )
    else:
        console.print(
            f"Service: [red]not running[/red] (pid {instance.pid} on {instance.host} "
            f"went silent at {_when(instance.heartbeat_at)}, without a clean stop)",
            highlight=False,
        )


def _print_jobs(report: ServiceStatus, now: datetime) -> None:
    table = Table(title="Jobs" if report.running else "Jobs (when the service last ran)")
    for column in ("job", "kind", "what", "next run"):
        table.add_column(column, overflow="fold")
    for job in report.jobs:
        if job.next_run_at is None:
            next_run = "paused"
        elif not report.running:
            next_run = _when(job.next_run_at)
        elif job.next_run_at <= now:
            next_run = f"{_when(job.next_run_at)} (due)"
        else:
            next_run = f"{_when(job.next_run_at)} (in {_ago(job.next_run_at - now)})"
        table.add_row(job.job_id, job.kind, job.description or "", next_run)
    console.print(table)


def _print_job_runs(report: ServiceStatus) -> None:
    table = Table(title="Last job runs")
    for column in ("run", "job", "status", "started", "duration", "exit", "details"):
        table.add_column(column, overflow="fold")
    for run in report.job_runs:
        details = run.details or {}
        if run.kind == "crawl" and "articles_new" in details:
            summary = (
                f"crawl run {run.crawl_run_id}: {details['feeds_polled']} feeds polled, "
                f"{details['feeds_failed']} failed; {details['articles_new']} new articles"
            )
        else:
            summary = ", ".join(
                f"{key} {value}" for key, value in details.items() if key != "sources"
            )
        style = "green" if run.status == "finished" else "red" if run.status != "running" else ""
        table.add_row(
            str(run.id),
            run.job_id,
            f"[{style}]{run.status}[/{style}]" if style else run.status,
            _when(run.started_at),
            _duration(run.started_at, run.finished_at),
            "" if run.exit_code is None else str(run.exit_code),
            summary,
        )
    console.print(table)


def _print_crawl_runs(report: ServiceStatus) -> None:
    table = Table(title="Last crawls")
    for column in ("run", "trigger", "sources", "status", "started", "duration", "exit", "new"):
        table.add_column(column, overflow="fold")
    for run in report.crawl_runs:
        table.add_row(
            str(run.id),
            run.trigger,
            ", ".join(run.source_ids or []),
            run.status,
            _when(run.started_at),
            _duration(run.started_at, run.finished_at),
            "" if run.exit_code is None else str(run.exit_code),
            str(run.articles_new),
        )
    console.print(table)


def _print_sources(report: ServiceStatus) -> None:
    troubled = report.troubled_sources
    if not troubled:
        console.print(f"No failing or silent source among {len(report.sources)} enabled.")
        return
    table = Table(title="Failing or silent sources")
    for column in ("source", "state", "last crawl", "why"):
        table.add_column(column, overflow="fold")
    for health in troubled:
        table.add_row(
            health.source_id, f"[red]{health.state}[/red]", _when(health.last_crawl), health.detail
        )
    console.print(table)
