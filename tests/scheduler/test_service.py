"""The service in-process: job outcomes recorded at the job boundary, start, heartbeat, stop.

``launch_crawl`` is replaced by a stand-in here; the real child process is exercised by
``tests/scheduler/test_launch.py`` and end to end by ``tests/e2e/test_serve.py``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crawler.config import Config, load_config
from scheduler import service as service_module
from scheduler.launch import CrawlOutcome
from scheduler.service import EXIT_LOCK_LOST, CrawlGroup, VeilleService
from scheduler.service_cli import JsonLogFormatter
from storage.models import CrawlRun, Digest, JobRun, ServiceInstance, ServiceJob
from storage.repository import start_crawl_run


def make_config(tmp_path: Path, database_url: str, sources: str = "") -> Config:
    path = tmp_path / "veille.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[scheduler]\nheartbeat = "0.2s"\njitter = "0s"\n'
        '[digest]\ntimezone = "UTC"\n' + sources,
        encoding="utf-8",
    )
    return load_config(path, environ={})


WIRE = '[[sources]]\nid = "wire"\nfeeds = ["https://wire.example/feed.xml"]\ninterval = "1h"\n'
GROUP = CrawlGroup("crawl:wire", timedelta(hours=1), ("wire",))


def fake_outcome(
    service: VeilleService, status: str, exit_code: int, error: str | None = None
) -> CrawlOutcome:
    with service.sessions.begin() as session:  # the row launch_crawl would have made
        run_id = start_crawl_run(session, trigger="scheduler", source_ids=["wire"]).id
    now = datetime.now(UTC)
    run = CrawlRun(
        id=run_id,
        trigger="scheduler",
        source_ids=["wire"],
        status=status,
        started_at=now - timedelta(seconds=3),
        finished_at=now,
        pid=4242,
        exit_code=exit_code,
        feeds_polled=1,
        feeds_failed=0,
        entries_seen=5,
        articles_new=2,
        articles_known=3,
        articles_failed=0,
        error=error,
    )
    return CrawlOutcome(run=run, exit_code=exit_code, log_tail=[])


@pytest.mark.parametrize(
    ("status", "exit_code", "error"),
    [
        ("finished", 0, None),
        ("failed", 2, "veille: veille.toml: not valid TOML"),
        ("timed_out", -9, "last lines"),
        ("cancelled", -15, None),
    ],
)
def test_each_crawl_outcome_is_recorded_as_the_job_run(
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    status: str,
    exit_code: int,
    error: str | None,
) -> None:
    service = VeilleService(make_config(tmp_path, sqlite_url, WIRE))
    calls: list[dict[str, Any]] = []

    def launch(config: Config, source_ids: list[str], **options: Any) -> CrawlOutcome:
        calls.append({"source_ids": source_ids, **options})
        return fake_outcome(service, status, exit_code, error)

    monkeypatch.setattr(service_module, "launch_crawl", launch)
    with caplog.at_level(logging.INFO, logger="scheduler.service"):
        service.run_crawl(GROUP)

    assert calls[0]["source_ids"] == ["wire"]
    assert calls[0]["trigger"] == "scheduler"
    assert calls[0]["stop"] is service.stop
    assert calls[0]["kill_grace"] == 30.0
    with service.sessions() as session:
        run = session.scalars(select(JobRun)).one()
    assert (run.job_id, run.kind, run.status) == ("crawl:wire", "crawl", status)
    assert (run.crawl_run_id, run.pid, run.exit_code) == (1, 4242, exit_code)
    assert run.details["articles_new"] == 2 and run.details["sources"] == ["wire"]
    assert run.error == (error if status != "finished" else None)
    assert run.finished_at is not None
    lines = [r for r in caplog.records if getattr(r, "job", None) == "crawl:wire"]
    assert [r.event for r in lines] == ["started", "finished"]  # type: ignore[attr-defined]
    end = lines[-1].getMessage()
    for expected in (f"status={status}", "crawl_run=1", "pid=4242", f"exit_status={exit_code}"):
        assert expected in end
    assert "articles_new=2" in end and "duration=" in end
    service.engine.dispose()


def test_a_crawl_that_cannot_even_start_is_a_failed_run_and_the_service_goes_on(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = VeilleService(make_config(tmp_path, sqlite_url, WIRE))

    def launch(*_args: Any, **_options: Any) -> CrawlOutcome:
        raise OSError("no more processes")

    monkeypatch.setattr(service_module, "launch_crawl", launch)
    service.run_crawl(GROUP)
    with service.sessions() as session:
        run = session.scalars(select(JobRun)).one()
    assert run.status == "failed"
    assert "no more processes" in (run.error or "")
    service.engine.dispose()


def test_no_job_starts_once_the_service_is_stopping(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = VeilleService(make_config(tmp_path, sqlite_url, WIRE))
    monkeypatch.setattr(service_module, "launch_crawl", lambda *a, **k: pytest.fail("launched"))
    service.stop.set()
    service.run_crawl(GROUP)
    service.run_digest()
    service.run_maintenance()
    with service.sessions() as session:
        assert session.scalars(select(JobRun)).all() == []
    service.engine.dispose()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_serve_catches_up_beats_publishes_its_jobs_and_stops(
    tmp_path: Path, database_url: str
) -> None:
    service = VeilleService(make_config(tmp_path, database_url))
    with service.sessions.begin() as session:  # left running by a service that was killed
        session.add(JobRun(job_id="digest", kind="digest", status="running", details={}))
        orphan = start_crawl_run(session, trigger="scheduler", source_ids=["wire"]).id
        by_hand = start_crawl_run(session, trigger="cli", source_ids=["wire"]).id
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(service.serve()))
    thread.start()
    try:

        def beating() -> bool:
            with service.sessions() as session:
                instance = session.scalars(select(ServiceInstance)).first()
                return instance is not None and instance.heartbeat_at > instance.started_at

        wait_for(beating)
        with service.sessions() as session:
            wait_for(lambda: session.scalars(select(Digest)).first() is not None)
            jobs = {job.job_id: job for job in session.scalars(select(ServiceJob))}
        assert set(jobs) == {"digest", "maintenance"}
        assert jobs["digest"].next_run_at is not None
        assert jobs["digest"].next_run_at > datetime.now(UTC)
        assert jobs["digest"].description == "daily at 07:00 UTC"
    finally:
        service.request_stop("test")
        thread.join(timeout=20)
    assert outcome == [0]
    with service.sessions() as session:
        runs = session.scalars(select(JobRun).order_by(JobRun.id)).all()
        assert runs[0].status == "failed" and "without a clean shutdown" in (runs[0].error or "")
        assert {run.job_id for run in runs[1:]} == {"digest", "maintenance"}
        assert all(run.status == "finished" for run in runs[1:])
        instance = session.scalars(select(ServiceInstance)).one()
        assert instance.stopped_at is not None
        assert session.get(CrawlRun, orphan).status == "failed"  # type: ignore[union-attr]
        assert session.get(CrawlRun, by_hand).status == "running"  # type: ignore[union-attr]
    service.engine.dispose()


class LostLock:
    def verify(self) -> bool:
        return False


def test_a_service_that_loses_its_lock_stops_with_status_3(tmp_path: Path, sqlite_url: str) -> None:
    lock: Any = LostLock()
    service = VeilleService(make_config(tmp_path, sqlite_url), lock=lock)
    service.heartbeat()
    assert service.stop.is_set()
    assert service.exit_status == EXIT_LOCK_LOST
    service.engine.dispose()


def test_json_log_lines_carry_the_job_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "scheduler.service",
            "levelname": "INFO",
            "levelno": logging.INFO,
            "msg": "job %s finished",
            "args": ("crawl:wire",),
            "job": "crawl:wire",
            "exit_status": 0,
            "sources": ["wire"],
        }
    )
    line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "job crawl:wire finished"
    assert line["job"] == "crawl:wire" and line["exit_status"] == 0
    assert line["sources"] == ["wire"] and line["level"] == "INFO"
    assert "time" in line and "args" not in line


def test_the_crawl_log_is_relayed_at_its_own_level(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = VeilleService(make_config(tmp_path, sqlite_url, WIRE))
    echo = service._crawl_echo("crawl:wire")
    with caplog.at_level(logging.INFO, logger="scheduler.crawl"):
        echo("11:54:04 [crawler.spiders.feeds] WARNING: Refused entry link")
        echo("veille: veille.toml: not valid TOML")
    assert [(r.levelno, r.job) for r in caplog.records] == [  # type: ignore[attr-defined]
        (logging.WARNING, "crawl:wire"),
        (logging.INFO, "crawl:wire"),
    ]
    assert caplog.records[0].getMessage().startswith("[crawl:wire] 11:54:04")
    service.engine.dispose()
