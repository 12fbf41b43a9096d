"""The service's records: job runs, service jobs and instances, digests and their deliveries.

Like :mod:`storage.repository`, every function takes a session and never commits: the
caller frames the transaction. The one exception is :func:`vacuum_database`, which takes
an engine because VACUUM cannot run inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.models import (
    Article,
    CrawlRun,
    DeliveryStatus,
    Digest,
    DigestDelivery,
    JobRun,
    JobStatus,
    RawPage,
    RunStatus,
    ServiceInstance,
    ServiceJob,
    Source,
    utcnow,
)

ENDED_STATUSES = (JobStatus.FINISHED.value, JobStatus.FAILED.value, JobStatus.TIMED_OUT.value)
"""Runs that count as having happened (a cancelled run was cut short by a stop)."""


def start_job_run(
    session: Session,
    *,
    job_id: str,
    kind: str,
    scheduled_for: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> JobRun:
    run = JobRun(
        job_id=job_id,
        kind=kind,
        status=JobStatus.RUNNING.value,
        scheduled_for=scheduled_for,
        started_at=utcnow(),
        details=details or {},
    )
    session.add(run)
    session.flush()
    return run


def finish_job_run(
    session: Session,
    run_id: int,
    *,
    status: JobStatus,
    crawl_run_id: int | None = None,
    pid: int | None = None,
    exit_code: int | None = None,
    details: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "finished_at": utcnow(),
        "crawl_run_id": crawl_run_id,
        "pid": pid,
        "exit_code": exit_code,
        "error": error,
    }
    if details is not None:
        values["details"] = details
    session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


def abandon_running_job_runs(session: Session, *, error: str) -> int:
    """Runs left ``running`` by a service that did not stop cleanly become ``failed``."""
    result = session.execute(
        update(JobRun)
        .where(JobRun.status == JobStatus.RUNNING.value)
        .values(status=JobStatus.FAILED.value, finished_at=utcnow(), error=error)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def abandon_running_crawl_runs(session: Session, *, trigger: str, error: str) -> int:
    """Crawl runs of ``trigger`` left ``running`` by a service that died become ``failed``."""
    result = session.execute(
        update(CrawlRun)
        .where(CrawlRun.status == RunStatus.RUNNING.value, CrawlRun.trigger == trigger)
        .values(status=RunStatus.FAILED.value, finished_at=utcnow(), error=error)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def last_job_starts(session: Session) -> dict[str, datetime]:
    """For each job id, when its latest run that was not cut short started."""
    rows = session.execute(
        select(JobRun.job_id, func.max(JobRun.started_at))
        .where(JobRun.status.in_(ENDED_STATUSES))
        .group_by(JobRun.job_id)
    )
    return {job_id: started.astimezone(UTC) for job_id, started in rows if started is not None}


def recent_job_runs(session: Session, *, limit: int = 15) -> list[JobRun]:
    return list(session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(limit)))


def recent_crawl_runs(
    session: Session, *, since: datetime | None = None, limit: int = 2000
) -> list[CrawlRun]:
    """The newest crawl runs first."""
    query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
    if since is not None:
        query = query.where(CrawlRun.started_at >= since)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ServiceJobRow:
    job_id: str
    kind: str
    description: str
    next_run_at: datetime | None


def replace_service_jobs(session: Session, jobs: Iterable[ServiceJobRow]) -> None:
    """The running service's jobs, replacing whatever an earlier service wrote."""
    session.execute(delete(ServiceJob))
    now = utcnow()
    session.add_all(
        ServiceJob(
            job_id=job.job_id,
            kind=job.kind,
            description=job.description,
            next_run_at=job.next_run_at,
            updated_at=now,
        )
        for job in jobs
    )
    session.flush()


def list_service_jobs(session: Session) -> list[ServiceJob]:
    return list(session.scalars(select(ServiceJob).order_by(ServiceJob.kind, ServiceJob.job_id)))


def start_service_instance(session: Session, *, host: str, pid: int) -> ServiceInstance:
    now = utcnow()
    instance = ServiceInstance(host=host, pid=pid, started_at=now, heartbeat_at=now)
    session.add(instance)
    session.flush()
    return instance


def record_heartbeat(session: Session, instance_id: int) -> None:
    session.execute(
        update(ServiceInstance)
        .where(ServiceInstance.id == instance_id)
        .values(heartbeat_at=utcnow())
    )


def stop_service_instance(session: Session, instance_id: int) -> None:
    now = utcnow()
    session.execute(
        update(ServiceInstance)
        .where(ServiceInstance.id == instance_id)
        .values(heartbeat_at=now, stopped_at=now)
    )


def latest_service_instance(session: Session) -> ServiceInstance | None:
    return session.scalars(
        select(ServiceInstance).order_by(ServiceInstance.id.desc()).limit(1)
    ).first()


def find_digest(
    session: Session, day: date, timezone: str, *, trigger: str = "scheduler"
) -> Digest | None:
    """The latest digest of ``day`` stored by ``trigger`` (by default: the daily job's)."""
    return session.scalars(
        select(Digest)
        .where(Digest.day == day, Digest.timezone == timezone, Digest.trigger == trigger)
        .order_by(Digest.id.desc())
        .limit(1)
    ).first()


def add_digest(
    session: Session,
    *,
    day: date,
    timezone: str,
    content: str,
    format: str = "text",
    days: int = 1,
    trigger: str = "scheduler",
    job_run_id: int | None = None,
) -> Digest:
    """One rendering of a digest; a digest stored in several formats is several rows."""
    digest = Digest(
        day=day,
        timezone=timezone,
        format=format,
        content=content,
        days=days,
        trigger=trigger,
        created_at=utcnow(),
        job_run_id=job_run_id,
    )
    session.add(digest)
    session.flush()
    return digest


def start_delivery(session: Session, *, digest_id: int, target: str) -> DigestDelivery:
    """A delivery about to be tried: ``sending``, no attempt yet."""
    delivery = DigestDelivery(
        digest_id=digest_id,
        target=target,
        status=DeliveryStatus.SENDING.value,
        attempts=0,
        started_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def record_delivery_attempt(
    session: Session,
    delivery_id: int,
    *,
    attempts: int,
    status: DeliveryStatus,
    error: str | None = None,
) -> None:
    """After each try: how many so far, the outcome once there is one, the last error."""
    values: dict[str, Any] = {"attempts": attempts, "status": status.value}
    if error is not None:
        values["last_error"] = error
    if status is not DeliveryStatus.SENDING:
        values["finished_at"] = utcnow()
    session.execute(update(DigestDelivery).where(DigestDelivery.id == delivery_id).values(**values))


def digest_deliveries(session: Session, digest_ids: Iterable[int]) -> list[DigestDelivery]:
    """The deliveries of these stored digests, oldest first."""
    return list(
        session.scalars(
            select(DigestDelivery)
            .where(DigestDelivery.digest_id.in_(list(digest_ids)))
            .order_by(DigestDelivery.id)
        )
    )


def articles_fetched_between(
    session: Session, start: datetime, end: datetime, *, include_irrelevant: bool = False
) -> Sequence[tuple[Article, str | None]]:
    """Articles stored in ``[start, end)``, with their source's name, oldest first.

    Articles tagged as about no followed initiative are left out unless asked for;
    articles never tagged (stored before tagging existed) are kept.
    """
    query = (
        select(Article, Source.name)
        .join(Source, Source.id == Article.source_id)
        .where(Article.fetched_at >= start, Article.fetched_at < end)
        .order_by(Article.fetched_at, Article.id)
    )
    if not include_irrelevant:
        query = query.where(or_(Article.relevant.is_(None), Article.relevant.is_(True)))
    return [(article, name) for article, name in session.execute(query).all()]


def delete_raw_pages_before(session: Session, cutoff: datetime) -> int:
    """Forget the downloaded HTML fetched before ``cutoff``; the articles stay."""
    result = session.execute(delete(RawPage).where(RawPage.fetched_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def vacuum_database(engine: Engine, *, full: bool = True) -> list[str]:
    """Reclaim space and refresh the planner's statistics; the statements run, in order.

    SQLite: ``PRAGMA optimize``, then ``VACUUM`` when ``full`` and a tenth of the file is
    free pages (rewriting the whole file blocks writers, so only when it pays).
    PostgreSQL: ``VACUUM ANALYZE``, or ``ANALYZE`` alone. Both outside any transaction.
    """
    done: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "sqlite":
            # ANALYZE writes: in a transaction that takes the write lock first, waiting for
            # a crawl or digest writing meanwhile. Begun as a read, it would fail at once
            # ("database is locked") when another connection wrote since it began.
            connection.execute(text("BEGIN IMMEDIATE"))
            connection.execute(text("PRAGMA optimize"))
            connection.execute(text("COMMIT"))
            done.append("PRAGMA optimize")
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()
            free = connection.execute(text("PRAGMA freelist_count")).scalar_one()
            if full and pages and free * 10 >= pages:
                connection.execute(text("VACUUM"))
                done.append("VACUUM")
        else:
            statement = "VACUUM ANALYZE" if full else "ANALYZE"
            connection.execute(text(statement))
            done.append(statement)
    return done
