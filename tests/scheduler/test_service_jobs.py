"""The service's jobs, checked under frozen time without starting the scheduler.

Triggers, ids, executors, max instances, misfire grace and jitter; first run times from
the run history (catch-up); the digest; how ``veille status`` judges sources; the lock.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from freezegun import freeze_time
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crawler.config import Config, SourceConfig, load_config
from scheduler.digest import DigestEntry, day_bounds, produce_digest, render_daily_digest
from scheduler.digest_model import digest_from_dict
from scheduler.service import (
    CRAWL_EXECUTOR,
    DEFAULT_EXECUTOR,
    VeilleService,
    format_duration,
    last_daily_time,
)
from scheduler.service_lock import ServiceAlreadyRunning, ServiceLock
from scheduler.status import SourceState, assess_source
from storage.models import (
    Article,
    ArticleTag,
    CrawlRun,
    Digest,
    DigestDelivery,
    JobRun,
    RawPage,
    Source,
)
from storage.service_repository import add_digest, find_digest

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # 11:00 in Paris


def write_config(
    tmp_path: Path, database_url: str, extra: str = "", jitter: str = "2m", digest: str = ""
) -> Config:
    path = tmp_path / "veille.toml"
    path.write_text(
        textwrap.dedent(f"""
        [database]
        url = "{database_url}"

        [digest]
        {digest}

        [scheduler]
        default_interval = "1h"
        jitter = "{jitter}"
        misfire_grace_time = "30m"
        max_parallel_crawls = 3
        {extra}

        [[sources]]
        id = "alpha"
        feeds = ["https://alpha.example/feed.xml"]
        interval = "30m"

        [[sources]]
        id = "beta"
        feeds = ["https://beta.example/feed.xml"]
        interval = "30m"

        [[sources]]
        id = "gamma"
        feeds = ["https://gamma.example/feed.xml"]
        interval = "6h"

        [[sources]]
        id = "delta"
        feeds = ["https://delta.example/feed.xml"]

        [[sources]]
        id = "off"
        feeds = ["https://off.example/feed.xml"]
        enabled = false
        """),
        encoding="utf-8",
    )
    return load_config(path, environ={})


def add_job_run(
    sessions: sessionmaker[Session], job_id: str, started: datetime, status: str = "finished"
) -> None:
    with sessions.begin() as session:
        session.add(
            JobRun(
                job_id=job_id,
                kind=job_id.split(":")[0],
                status=status,
                started_at=started,
                finished_at=started + timedelta(minutes=1),
                details={},
            )
        )


def test_crawl_jobs_are_grouped_by_interval_one_instance_each_with_grace_and_jitter(
    tmp_path: Path, sqlite_url: str
) -> None:
    service = VeilleService(write_config(tmp_path, sqlite_url))
    with freeze_time(NOW):
        scheduler = service.build_scheduler()
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "crawl:every-30m",
        "crawl:adaptive",
        "crawl:every-6h",
        "digest",
        "maintenance",
        "heartbeat",
    }
    assert jobs["crawl:every-30m"].args[0].source_ids == ("alpha", "beta")
    # A source without an interval: polled at its own pace, the job looks for what is due.
    assert jobs["crawl:adaptive"].args[0].source_ids == ("delta",)
    assert jobs["crawl:adaptive"].args[0].due_only
    assert not jobs["crawl:every-30m"].args[0].due_only
    assert all("off" not in job.args[0].source_ids for job in jobs.values() if job.args)
    for job_id, interval, jitter in (
        ("crawl:every-30m", timedelta(minutes=30), 120),
        ("crawl:adaptive", timedelta(minutes=10), 60),
        ("crawl:every-6h", timedelta(hours=6), 120),
    ):
        job = jobs[job_id]
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == interval
        assert job.trigger.jitter == jitter
        assert job.executor == CRAWL_EXECUTOR
        # Nothing in the history: every crawl job is due now, spread over the jitter.
        assert NOW <= job.next_run_time <= NOW + timedelta(seconds=jitter)
    for job in jobs.values():
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time == 30 * 60
    for job_id in ("digest", "maintenance", "heartbeat"):
        assert jobs[job_id].executor == DEFAULT_EXECUTOR
    assert scheduler._executors[CRAWL_EXECUTOR]._pool._max_workers == 3
    service.engine.dispose()


def test_jitter_is_at_most_a_tenth_of_the_interval_and_can_be_off(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = write_config(tmp_path, sqlite_url, "group_crawls = false", jitter="10m")
    service = VeilleService(config)
    with freeze_time(NOW):
        jobs = {job.id: job for job in service.build_scheduler().get_jobs()}
    assert set(jobs) >= {"crawl:alpha", "crawl:beta", "crawl:gamma", "crawl:delta"}
    assert jobs["crawl:alpha"].trigger.jitter == 180
    assert jobs["crawl:gamma"].trigger.jitter == 600
    service.engine.dispose()

    config = write_config(tmp_path, sqlite_url, jitter="0s")
    service = VeilleService(config)
    with freeze_time(NOW):
        jobs = {job.id: job for job in service.build_scheduler().get_jobs()}
    assert jobs["crawl:every-30m"].trigger.jitter is None
    assert jobs["crawl:every-30m"].next_run_time == NOW
    service.engine.dispose()


def test_daily_jobs_run_at_their_time_in_their_time_zone(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    assert (config.digest.time.isoformat(), config.digest.timezone) == ("07:00:00", "Europe/Paris")
    service = VeilleService(config)
    with freeze_time(NOW):
        jobs = {job.id: job for job in service.build_scheduler().get_jobs()}
    digest = jobs["digest"].trigger
    assert isinstance(digest, CronTrigger)
    assert str(digest.timezone) == "Europe/Paris"
    fields = {field.name: str(field) for field in digest.fields}
    assert (fields["hour"], fields["minute"], fields["second"]) == ("7", "0", "0")
    assert {field.name: str(field) for field in jobs["maintenance"].trigger.fields}["hour"] == "3"
    assert isinstance(jobs["heartbeat"].trigger, IntervalTrigger)
    service.engine.dispose()


def test_catch_up_from_the_run_history(tmp_path: Path, sqlite_url: str) -> None:
    """An overdue job runs now, once; a job run recently resumes its interval; the digest of
    yesterday, produced already, is not produced again."""
    service = VeilleService(write_config(tmp_path, sqlite_url, jitter="0s"))
    add_job_run(service.sessions, "crawl:every-30m", NOW - timedelta(minutes=10))
    add_job_run(service.sessions, "crawl:every-6h", NOW - timedelta(hours=9))
    add_job_run(service.sessions, "crawl:every-6h", NOW - timedelta(minutes=5), "cancelled")
    add_job_run(service.sessions, "maintenance", NOW - timedelta(hours=7))  # 04:00 Paris
    with service.sessions.begin() as session:
        add_digest(session, day=date(2026, 11, 21), timezone="Europe/Paris", content="x")

    with freeze_time(NOW):
        jobs = {job.id: job for job in service.build_scheduler().get_jobs()}
    assert jobs["crawl:every-30m"].next_run_time == NOW + timedelta(minutes=20)
    assert jobs["crawl:adaptive"].next_run_time == NOW  # never ran
    # A run cut short by a stop does not count: the last full run was 9 hours ago.
    assert jobs["crawl:every-6h"].next_run_time == NOW
    assert service._catch_up["crawl:every-6h"] == NOW - timedelta(hours=3)
    assert jobs["digest"].next_run_time == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert jobs["maintenance"].next_run_time == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)

    with service.sessions.begin() as session:
        session.execute(Digest.__table__.delete())
        # One sent by hand with ``veille digest --send`` does not stand for the daily one.
        add_digest(session, day=date(2026, 11, 21), timezone="Europe/Paris", content="x",
                   trigger="cli")  # fmt: skip
    with freeze_time(NOW):
        jobs = {job.id: job for job in service.build_scheduler().get_jobs()}
    assert jobs["digest"].next_run_time == NOW  # missed while the service was down
    service.engine.dispose()


def test_the_missed_digest_is_the_one_of_the_day_before_the_last_digest_time() -> None:
    assert last_daily_time(NOW, datetime(2000, 1, 1, 7).time(), "Europe/Paris") == datetime(
        2026, 11, 22, 6, tzinfo=UTC
    )
    early = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # 06:00 in Paris: before today's digest
    assert last_daily_time(early, datetime(2000, 1, 1, 7).time(), "Europe/Paris") == datetime(
        2026, 11, 21, 6, tzinfo=UTC
    )
    assert format_duration(timedelta(hours=1)) == "1h"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(seconds=2.5)) == "2.5s"


def test_building_the_scheduler_imports_neither_scrapy_nor_twisted(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = write_config(tmp_path, sqlite_url)
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from crawler.config import load_config
        import scheduler.cli
        from scheduler.service import VeilleService
        service = VeilleService(load_config(Path({str(config.path)!r})))
        service.build_scheduler()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("scrapy", "twisted"))
        print(loaded)
        sys.exit(1 if loaded else 0)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The digest


def entry(source: str, title: str, published: datetime, name: str | None = None) -> DigestEntry:
    return DigestEntry(
        source_id=source,
        source_name=name or source.title(),
        title=title,
        url=f"https://{source}.example/{title.lower().replace(' ', '-')}",
        language="en",
        published=published,
    )


def test_render_daily_digest_groups_by_source_newest_first() -> None:
    entries = [
        entry("wire", "Older story", datetime(2026, 11, 20, 7, 0, tzinfo=UTC)),
        entry("agency", "Only story", datetime(2026, 11, 20, 12, 30, tzinfo=UTC), "Agency"),
        entry("wire", "Newer story", datetime(2026, 11, 20, 9, 15, tzinfo=UTC)),
    ]
    text = render_daily_digest(date(2026, 11, 20), "Europe/Paris", entries)
    assert text == textwrap.dedent("""\
        Veille daily digest for 2026-11-20 (Europe/Paris)
        3 articles from 2 sources.

        Agency (agency), 1 article
        - Only story
          https://agency.example/only-story
          en, published 2026-11-20 13:30

        Wire (wire), 2 articles
        - Newer story
          https://wire.example/newer-story
          en, published 2026-11-20 10:15
        - Older story
          https://wire.example/older-story
          en, published 2026-11-20 08:00
        """)
    empty = render_daily_digest(date(2026, 11, 20), "UTC", [])
    assert "No article was stored on this day." in empty


def add_article(session: Session, source: str, title: str, fetched: datetime) -> Article:
    if session.get(Source, source) is None:
        session.add(Source(id=source, name=source.title()))
        session.flush()
    article = Article(
        source_id=source,
        url=f"https://{source}.example/{title}",
        canonical_url=f"https://{source}.example/{title}",
        final_url=f"https://{source}.example/{title}",
        title=title,
        text="Some text.",
        language="fr",
        published=fetched - timedelta(hours=1),
        published_from="page",
        fetched_at=fetched,
    )
    session.add(article)
    session.flush()
    session.add(RawPage(article_id=article.id, size=10, body_zlib=b"x", fetched_at=fetched))
    session.flush()
    return article


def test_produce_digest_takes_the_day_in_the_configured_time_zone(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        add_article(session, "wire", "late-on-the-20th", datetime(2026, 11, 20, 22, 30, tzinfo=UTC))
        add_article(
            session, "wire", "early-on-the-21st", datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
        )
        add_article(session, "wire", "start-of-the-20th", datetime(2026, 11, 19, 23, 0, tzinfo=UTC))
        add_article(session, "wire", "the-19th", datetime(2026, 11, 19, 22, 59, tzinfo=UTC))
        digest = produce_digest(session, date(2026, 11, 20), "Europe/Paris")
        digest_id = digest.id
    with sessions() as session:
        stored = session.get(Digest, digest_id)
        assert stored is not None
        assert (stored.day, stored.timezone, stored.format) == (
            date(2026, 11, 20),
            "Europe/Paris",
            "text",
        )
        assert "late-on-the-20th" in stored.content and "start-of-the-20th" in stored.content
        assert "early-on-the-21st" not in stored.content and "the-19th" not in stored.content
        assert "2 articles from 1 source." in stored.content
    assert day_bounds(date(2026, 3, 29), "Europe/Paris")[1] - day_bounds(
        date(2026, 3, 29), "Europe/Paris"
    )[0] == timedelta(hours=23)  # the spring DST day


def add_relevant_article(session: Session, title: str, fetched: datetime) -> Article:
    article = add_article(session, "wire", title, fetched)
    article.relevant = True
    evidence = [{"phrase": "WAICO", "zone": "title"}]
    session.add(
        ArticleTag(
            article_id=article.id, initiative="waico", score=2.0, relevant=True, evidence=evidence
        )
    )
    session.flush()
    return article


def test_the_digest_job_stores_every_format_then_delivers_it_once(
    tmp_path: Path, database_url: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook = f"json://127.0.0.1:{httpserver.port}/hook"
    config = write_config(tmp_path, database_url, digest=f'deliver_to = ["{hook}"]')
    service = VeilleService(config)
    with service.sessions.begin() as session:
        add_relevant_article(session, "waico-budget", datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
        add_relevant_article(session, "waico-late", datetime(2026, 11, 21, 23, 30, tzinfo=UTC))

    with freeze_time(NOW):  # 11:00 in Paris on the 22nd: the digest of the 21st is due
        service.run_digest()

    with service.sessions() as session:
        run = session.scalars(select(JobRun).where(JobRun.job_id == "digest")).one()
        rows = {row.format: row for row in session.scalars(select(Digest))}
        [delivery] = session.scalars(select(DigestDelivery)).all()
    assert run.status == "finished" and run.error is None
    assert run.details == {
        "day": "2026-11-21",
        "stories": 1,
        "formats": "text,md,html,json",
        "delivered": "1 of 1",
    }
    assert set(rows) == {"text", "md", "html", "json"}
    for row in rows.values():
        assert (row.day, row.days, row.timezone) == (date(2026, 11, 21), 1, "Europe/Paris")
        assert (row.trigger, row.job_run_id) == ("scheduler", run.id)
    stored = digest_from_dict(json.loads(rows["json"].content))
    assert [story.title for section in stored.sections for story in section.stories] == [
        "waico-budget"  # 00:30 on the 22nd in Paris: tomorrow's digest
    ]
    assert "waico-budget" in rows["html"].content and "<svg" in rows["html"].content
    assert rows["md"].content.startswith("# Veille daily digest for 2026-11-21")
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.digest_id == rows["md"].id  # a webhook gets the Markdown digest
    [(request, _response)] = httpserver.log
    assert json.loads(request.get_data())["title"] == "Veille daily digest for 2026-11-21"

    with freeze_time(NOW + timedelta(hours=1)):  # the same digest is due: not produced again
        service.run_digest()
    with service.sessions() as session:
        runs = session.scalars(select(JobRun).order_by(JobRun.id)).all()
        assert session.scalar(select(func.count()).select_from(Digest)) == 4
    assert runs[-1].details == {"day": "2026-11-21", "skipped": "produced already"}
    assert len(httpserver.log) == 1
    service.engine.dispose()


def test_a_delivery_that_finally_fails_fails_the_job_but_the_digest_stays(
    tmp_path: Path, database_url: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"json://127.0.0.1:{probe.getsockname()[1]}/hook"
    digest = f'deliver_to = ["{dead}"]\ndelivery_attempts = 2\ndelivery_backoff = "10ms"'
    service = VeilleService(write_config(tmp_path, database_url, digest=digest))

    with freeze_time(NOW):
        service.run_digest()

    with service.sessions() as session:
        run = session.scalars(select(JobRun).where(JobRun.job_id == "digest")).one()
        formats = set(session.scalars(select(Digest.format)))
        [delivery] = session.scalars(select(DigestDelivery)).all()
    assert run.status == "failed"
    assert run.error == f"delivery failed: {dead}"
    assert run.details["not_delivered"] == dead and run.details["delivered"] == "0 of 1"
    assert formats == {"text", "md", "html", "json"}  # stored before the delivery was tried
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    with service.sessions() as session:  # the service will not produce it again on restart
        assert find_digest(session, date(2026, 11, 21), "Europe/Paris") is not None
    service.engine.dispose()


# Maintenance


def test_maintenance_forgets_old_raw_html_keeps_articles_and_vacuums(
    tmp_path: Path, database_url: str
) -> None:
    service = VeilleService(write_config(tmp_path, database_url))
    now = datetime.now(UTC)
    with service.sessions.begin() as session:
        old = add_article(session, "wire", "old", now - timedelta(days=91)).id
        recent = add_article(session, "wire", "recent", now - timedelta(days=89)).id
    service.run_maintenance()
    with service.sessions() as session:
        assert session.get(RawPage, old) is None
        assert session.get(RawPage, recent) is not None
        assert session.get(Article, old) is not None
        run = session.scalars(select(JobRun).where(JobRun.job_id == "maintenance")).one()
        assert run.status == "finished"
        assert run.details["raw_pages_deleted"] == 1
        expected = "PRAGMA optimize" if database_url.startswith("sqlite") else "VACUUM ANALYZE"
        assert expected in run.details["database"]
    service.engine.dispose()


# How ``veille status`` judges sources


def crawl_run(
    run_id: int,
    started: datetime,
    per_source: dict[str, tuple[int, int, int]],
    status: str = "finished",
) -> CrawlRun:
    """``per_source``: source id -> (feeds polled, feeds failed, articles new)."""
    return CrawlRun(
        id=run_id,
        trigger="scheduler",
        source_ids=list(per_source),
        status=status,
        started_at=started,
        finished_at=started + timedelta(minutes=1),
        articles_new=sum(counts[2] for counts in per_source.values()),
        stats={
            "per_source": {
                source: {"feeds_polled": polled, "feeds_failed": failed, "articles_new": new}
                for source, (polled, failed, new) in per_source.items()
            }
        },
    )


SOURCE = SourceConfig(id="wire", feeds=["https://wire.example/feed.xml"])


def judge(runs: list[CrawlRun]) -> SourceState:
    return assess_source(
        SOURCE,
        sorted(runs, key=lambda run: run.started_at, reverse=True),
        now=NOW,
        interval=timedelta(hours=1),
        failing_after_runs=3,
        silent_after_intervals=4,
    ).state


def test_a_source_whose_feeds_all_failed_in_its_last_runs_is_failing() -> None:
    hours = [NOW - timedelta(hours=h) for h in range(6)]
    failed = (0, 2, 0)
    assert judge([crawl_run(i, hours[i], {"wire": failed}) for i in range(3)]) == "failing"
    # A crawl that timed out or crashed counts as failed too.
    runs = [crawl_run(0, hours[0], {"wire": failed}), crawl_run(1, hours[1], {"wire": failed})]
    runs.append(crawl_run(2, hours[2], {}, status="timed_out"))
    runs[-1].source_ids = ["wire"]
    assert judge(runs) == "failing"
    # One good run among the last three: not failing.
    runs = [crawl_run(i, hours[i], {"wire": failed if i != 1 else (1, 1, 0)}) for i in range(3)]
    assert judge(runs) != "failing"
    # Not enough runs yet to say.
    assert judge([crawl_run(0, hours[0], {"wire": failed})]) != "failing"


def test_a_source_without_a_new_article_over_several_intervals_is_silent() -> None:
    ok = (1, 0, 0)
    runs = [crawl_run(i, NOW - timedelta(hours=i), {"wire": ok}) for i in range(6)]
    assert judge(runs) == "silent"
    runs[2] = crawl_run(2, NOW - timedelta(hours=2), {"wire": (1, 0, 3)})
    assert judge(runs) == "ok"
    # Watched for less than four intervals: too early to say.
    assert judge([crawl_run(i, NOW - timedelta(hours=i), {"wire": ok}) for i in range(3)]) == "ok"
    assert judge([crawl_run(0, NOW, {"other": ok})]) == "never crawled"


# One service per database


def test_a_second_lock_on_the_same_database_is_refused_until_the_first_is_released(
    database_url: str,
) -> None:
    first = ServiceLock(database_url)
    first.acquire()
    try:
        with pytest.raises(ServiceAlreadyRunning):
            ServiceLock(database_url).acquire()
        assert first.verify()
    finally:
        first.release()
    with ServiceLock(database_url) as again:
        assert again.verify()


def test_an_adaptive_crawl_starts_only_when_something_is_due(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.poll_state import PollResult, record_poll

    service = VeilleService(write_config(tmp_path, sqlite_url, jitter="0s"))
    group = next(g for g in service.groups if g.due_only)
    launched: list[dict[str, object]] = []

    def launch(config: object, sources: list[str], **options: object) -> object:
        launched.append({"sources": sources, **options})
        raise RuntimeError("not crawling in this test")

    monkeypatch.setattr("scheduler.service.launch_crawl", launch)
    service.run_crawl(group)  # delta's feed was never polled: due
    assert launched[-1]["sources"] == ["delta"] and launched[-1]["due_only"] is True

    now = datetime.now(UTC)
    with service.sessions.begin() as session:
        record_poll(
            session, "delta", "https://delta.example/feed.xml", "feed",
            PollResult("changed", now, now + timedelta(hours=2), timedelta(hours=2)),
        )  # fmt: skip
    service.run_crawl(group)
    assert len(launched) == 1  # nothing due: no crawl process, no job run

    with service.sessions.begin() as session:
        record_poll(
            session, "delta", "https://delta.example/feed.xml", "feed",
            PollResult("unchanged", now, now - timedelta(seconds=1), timedelta(hours=2)),
        )  # fmt: skip
    service.run_crawl(group)
    assert len(launched) == 2
    service.engine.dispose()
