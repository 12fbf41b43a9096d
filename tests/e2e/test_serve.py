"""End to end: ``veille serve`` runs for a while against the fixture news site.

The real service, as a subprocess, with intervals of a few seconds: crawls on time and
never two of one job at once, a hung crawl killed and a crashed one recorded while the
service goes on, SIGTERM during a crawl, the missed digest after a restart, one service
per database, and ``veille status``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from storage.database import open_database
from storage.models import (
    Article,
    CrawlRun,
    Digest,
    JobRun,
    RawPage,
    ServiceInstance,
    ServiceJob,
    Source,
)
from tests.fixture_site import NewsSite

T = TypeVar("T")
SCHEDULER = """
[scheduler]
default_interval = "{interval}"
group_crawls = {group}
max_parallel_crawls = 2
jitter = "0s"
stop_grace = "{grace}"
heartbeat = "1s"

[digest]
timezone = "UTC"
"""


def veille_command(*args: str) -> list[str]:
    executable = Path(sys.executable).with_name("veille")
    if executable.exists():
        return [str(executable), *args]
    return [sys.executable, "-c", "from scheduler.cli import app; app()", *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VEILLE_CONFIG", "VEILLE_DATABASE_URL")}
    return {**env, "COLUMNS": "200"}


def veille(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        veille_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
        check=False,
    )


class Service:
    """``veille serve --config F`` in the background, its output in a file."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.log = log
        self._output: IO[str] = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            veille_command("serve", "--config", str(config), *args),
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=environment(),
        )

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit status and how long the service took to exit."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=timeout)
        return status, time.monotonic() - began

    def close(self) -> None:
        """After a failed test: a clean stop if possible, so that no crawl is left behind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8")


@pytest.fixture
def services() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(config: Path, log: Path, *args: str) -> Service:
        started.append(Service(config, log, *args))
        return started[-1]

    yield start
    for service in started:
        service.close()


def wait_for(
    engine: Engine, query: Callable[[Session], T | None], service: Service, timeout: float
) -> T:
    """Poll the database until ``query`` gives something truthy; fail if the service died."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            found = query(session)
        if found:
            return found
        assert service.process.poll() is None, f"the service exited:\n{service.output}"
        assert time.monotonic() < deadline, f"timed out waiting; service log:\n{service.output}"
        time.sleep(0.25)


def crawl_runs(session: Session, source_id: str) -> list[CrawlRun]:
    runs = session.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
    return [run for run in runs if source_id in run.source_ids]


def assert_never_two_at_once(session: Session) -> None:
    """Per job, each run ended before the next one started; the same for crawls per source."""
    runs = session.scalars(select(JobRun).order_by(JobRun.started_at)).all()
    by_job: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for run in runs:
        by_job.setdefault(run.job_id, []).append((run.started_at, run.finished_at))
    crawls = session.scalars(select(CrawlRun).order_by(CrawlRun.started_at)).all()
    for crawl in crawls:
        for source_id in crawl.source_ids:
            by_job.setdefault(source_id, []).append((crawl.started_at, crawl.finished_at))
    for job, spans in by_job.items():
        for (_start, end), (next_start, _end) in pairwise(spans):
            assert end is not None and end <= next_start, f"{job}: runs overlap"


def test_serve_crawls_each_source_on_time_one_run_at_a_time_and_status_shows_it(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path, services: Callable[..., Service]
) -> None:
    database = open_database(sqlite_url)
    config = tmp_path / "veille.toml"
    config.write_text(
        news_site.config_text(sqlite_url, timeout='"60s"', poll_min_interval='"2s"')
        + SCHEDULER.format(interval="2s", group="false", grace="3s"),
        encoding="utf-8",
    )
    service = services(config, tmp_path / "serve.log")

    def two_finished_crawls_each(session: Session) -> bool:
        return all(
            sum(run.status == "finished" for run in crawl_runs(session, source)) >= 2
            for source in ("fixture-news", "fixture-troubles")
        )

    wait_for(database, two_finished_crawls_each, service, 90)
    status = veille("status", "--config", str(config))
    assert status.returncode == 0, status.stdout + status.stderr
    for expected in (
        "Service: running",
        "crawl:fixture-news",
        "crawl:fixture-troubles",
        "fixture-troubles every 2s",
        "digest",
        "daily at 07:00 UTC",
        "maintenance",
        "finished",
        "Last crawls",
    ):
        assert expected in status.stdout, expected

    exit_status, took = service.terminate(timeout=30)
    assert exit_status == 0, service.output
    assert took < 3 + 10
    with Session(database) as session:
        assert_never_two_at_once(session)
        stored = session.scalars(select(Digest)).all()  # caught up at start, every format
        assert sorted(d.format for d in stored) == ["html", "json", "md", "text"]
        assert len({d.day for d in stored}) == 1
        digest_runs = session.scalars(select(JobRun).where(JobRun.job_id == "digest")).all()
        assert [run.status for run in digest_runs] == ["finished"]
        assert all(run.trigger == "scheduler" for run in session.scalars(select(CrawlRun)))
        assert session.scalars(select(ServiceInstance)).one().stopped_at is not None
        news = [r for r in crawl_runs(session, "fixture-news") if r.status == "finished"]
        assert news[0].articles_new > 0 and news[1].articles_new == 0  # nothing fetched twice
    output = service.output
    assert "job crawl:fixture-news started: sources=fixture-news" in output
    assert "job crawl:fixture-news finished: status=finished" in output
    assert "exit_status=0" in output and "articles_new=" in output

    after = veille("status", "--config", str(config))
    assert "Service: not running" in after.stdout
    database.dispose()


def wire_config(database_url: str, feed: str) -> str:
    return f"""
[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.05s"
autothrottle = false
download_timeout = "10m"
retry_times = 0
timeout = "20s"
poll_min_interval = "2s"

[[sources]]
id = "wire"
feeds = ["{feed}"]
""" + SCHEDULER.format(interval="2s", group="false", grace="1s")


def replace_file(path: Path, text: str) -> None:
    """Write atomically: a crawl starting now reads the old file or the new one, whole."""
    draft = path.with_suffix(".draft")
    draft.write_text(text, encoding="utf-8")
    draft.replace(path)


def test_a_hung_crawl_is_killed_a_crashed_one_recorded_and_the_service_goes_on(
    news_site: NewsSite,
    silent_server: str,
    sqlite_url: str,
    tmp_path: Path,
    services: Callable[..., Service],
) -> None:
    engine = open_database(sqlite_url)
    config = tmp_path / "veille.toml"
    good = wire_config(sqlite_url, news_site.url("/feeds/news.atom"))
    config.write_text(wire_config(sqlite_url, f"{silent_server}/feed.xml"), encoding="utf-8")
    service = services(config, tmp_path / "serve.log")

    def first_run_with(status: str, after: int, exit_code: int | None = None) -> Any:
        def query(session: Session) -> CrawlRun | None:
            for run in crawl_runs(session, "wire"):
                wanted_exit = exit_code is None or run.exit_code == exit_code
                if run.id > after and run.status == status and wanted_exit:
                    return run
            return None

        return query

    # The feed never answers: the crawl is stopped at its time limit (20 s) and recorded.
    hung = wait_for(engine, first_run_with("timed_out", 0), service, 60)
    assert hung.exit_code != 0 and hung.finished_at is not None
    assert (hung.finished_at - hung.started_at).total_seconds() < 20 + 10

    # The service goes on; the site answers again: the next crawl succeeds.
    replace_file(config, good)
    recovered = wait_for(engine, first_run_with("finished", hung.id, 0), service, 60)
    assert recovered.articles_new == 2

    # The configuration file breaks under the service's feet: the child exits with status 2.
    replace_file(config, "[database\nurl = ")
    crashed = wait_for(engine, first_run_with("failed", recovered.id, 2), service, 60)
    assert "not valid TOML" in (crashed.error or "")

    replace_file(config, good)
    wait_for(engine, first_run_with("finished", crashed.id, 0), service, 60)

    exit_status, _took = service.terminate(timeout=30)
    assert exit_status == 0, service.output
    with Session(engine) as session:
        assert_never_two_at_once(session)
        by_crawl = {
            run.crawl_run_id: run
            for run in session.scalars(select(JobRun).where(JobRun.kind == "crawl"))
        }
        assert by_crawl[hung.id].status == "timed_out"
        assert by_crawl[crashed.id].status == "failed" and by_crawl[crashed.id].exit_code == 2
    engine.dispose()
    assert "job crawl:wire finished: status=timed_out" in service.output


def test_sigterm_during_a_crawl_stops_cleanly_with_nothing_half_written(
    news_site: NewsSite, sqlite_url: str, tmp_path: Path, services: Callable[..., Service]
) -> None:
    engine = open_database(sqlite_url)
    config = tmp_path / "veille.toml"
    slow = news_site.config_text(sqlite_url).replace(
        'download_delay = "0.05s"', 'download_delay = "1s"'
    )
    config.write_text(
        slow + SCHEDULER.format(interval="1h", group="true", grace="3s"), encoding="utf-8"
    )
    service = services(config, tmp_path / "serve.log", "--log-format", "json")

    def crawling_with_an_article_stored(session: Session) -> bool:
        running = session.scalars(select(CrawlRun).where(CrawlRun.status == "running")).first()
        return running is not None and (session.scalar(select(func.count(Article.id))) or 0) > 0

    wait_for(engine, crawling_with_an_article_stored, service, 60)
    exit_status, took = service.terminate(timeout=30)
    assert exit_status == 0, service.output
    assert took < 3 + 8, f"took {took:.1f}s to stop"

    with Session(engine) as session:
        run = session.scalars(select(CrawlRun)).one()
        assert run.status == "cancelled"
        assert run.source_ids == ["fixture-news", "fixture-troubles"]
        job = session.scalars(select(JobRun).where(JobRun.kind == "crawl")).one()
        assert (job.job_id, job.status, job.crawl_run_id) == ("crawl:adaptive", "cancelled", run.id)
        assert session.scalars(select(JobRun).where(JobRun.status == "running")).all() == []
        articles = session.scalar(select(func.count(Article.id)))
        assert articles and articles > 0
        without_raw_page = session.scalar(
            select(func.count(Article.id))
            .outerjoin(RawPage, RawPage.article_id == Article.id)
            .where(RawPage.article_id.is_(None))
        )
        assert without_raw_page == 0
        assert session.scalars(select(ServiceInstance)).one().stopped_at is not None
    engine.dispose()

    lines = [json.loads(line) for line in service.output.splitlines() if line.strip()]
    ends = [line for line in lines if line.get("event") == "finished" and line["kind"] == "crawl"]
    assert ends and ends[-1]["status"] == "cancelled" and ends[-1]["job"] == "crawl:adaptive"
    assert ends[-1]["sources"] == ["fixture-news", "fixture-troubles"]
    assert any(line["message"] == "Service stopped" for line in lines)


def test_a_restart_after_the_digest_time_produces_the_missed_digest_once(
    database_url: str, tmp_path: Path, services: Callable[..., Service]
) -> None:
    """And a second service on the same database refuses to start (SQLite and PostgreSQL)."""
    now = datetime.now(UTC)
    due = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
    missed: date = due.date() - timedelta(days=1)
    engine = open_database(database_url)
    with Session(engine) as session, session.begin():
        # Yesterday's service produced the digest before that, then stopped.
        session.add(Source(id="wire", name="Wire"))
        session.add(
            Digest(day=missed - timedelta(days=1), timezone="UTC", format="text", content="x")
        )
        session.add(
            ServiceInstance(
                host="old",
                pid=1,
                started_at=due - timedelta(days=2),
                heartbeat_at=due - timedelta(hours=20),
                stopped_at=due - timedelta(hours=20),
            )
        )
        session.flush()
        fetched = datetime.combine(missed, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        session.add(
            Article(
                source_id="wire",
                url="https://wire.example/a",
                canonical_url="https://wire.example/a",
                final_url="https://wire.example/a",
                title="Stored on the missed day",
                text="Text.",
                published=fetched,
                published_from="page",
                fetched_at=fetched,
                relevant=True,
            )
        )
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        + SCHEDULER.format(interval="1h", group="true", grace="1s")
        + f'time = "{due:%H:%M}"\n',
        encoding="utf-8",
    )

    for attempt in range(2):
        service = services(config, tmp_path / f"serve-{attempt}.log")

        def published_and_beating(session: Session, pid: int = service.process.pid) -> bool:
            instance = session.scalars(
                select(ServiceInstance).where(ServiceInstance.pid == pid)
            ).first()
            jobs = session.scalars(select(ServiceJob).where(ServiceJob.job_id == "digest")).all()
            return (
                instance is not None
                and instance.heartbeat_at > instance.started_at
                and bool(jobs)
                and jobs[0].next_run_at is not None
                and jobs[0].next_run_at > now
            )

        wait_for(engine, published_and_beating, service, 30)
        if attempt == 0:
            second = veille("serve", "--config", str(config))
            assert second.returncode == 3, second.stdout + second.stderr
            refusal = " ".join(second.stderr.split())
            assert "another veille serve is running on this database" in refusal
            assert f"pid {service.process.pid}" in refusal
        exit_status, _took = service.terminate(timeout=30)
        assert exit_status == 0, service.output

    with Session(engine) as session:
        digests = session.scalars(select(Digest).where(Digest.day == missed)).all()
        assert sorted(d.format for d in digests) == ["html", "json", "md", "text"]
        text = next(d for d in digests if d.format == "text")
        assert "Stored on the missed day" in text.content
        runs = session.scalars(select(JobRun).where(JobRun.job_id == "digest")).all()
        assert len(runs) == 1
        assert runs[0].scheduled_for == due
        assert runs[0].details["day"] == missed.isoformat()
    engine.dispose()
