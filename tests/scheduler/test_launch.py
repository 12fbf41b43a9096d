"""launch_crawl: a hung crawl is stopped at its time limit and recorded, the next one runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import load_config
from scheduler.launch import launch_crawl


def test_a_hung_crawl_is_killed_and_recorded_as_timed_out(
    silent_server: str, sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "veille.toml"
    path.write_text(
        f'[database]\nurl = "{sqlite_url}"\n[crawl]\nobey_robots_txt = false\n'
        f'download_timeout = "10m"\n[[sources]]\nid = "silent"\n'
        f'feeds = ["{silent_server}/feed.xml"]\n',
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    outcome = launch_crawl(config, timeout=timedelta(seconds=3), kill_grace=1)
    assert outcome.run.status == "timed_out"
    assert outcome.exit_code != 0
    assert outcome.run.finished_at is not None
    assert outcome.run.duration_seconds is not None and outcome.run.duration_seconds < 30

    again = launch_crawl(config, timeout=timedelta(seconds=3), kill_grace=1)
    assert again.run.id == outcome.run.id + 1
    assert again.run.status == "timed_out"


def test_launch_needs_a_config_file() -> None:
    from crawler.config import Config

    with pytest.raises(ValueError, match="loaded from a file"):
        launch_crawl(Config())


def test_a_stop_request_ends_the_crawl_and_records_it_cancelled(
    silent_server: str, sqlite_url: str, tmp_path: Path
) -> None:
    import threading

    path = tmp_path / "veille.toml"
    path.write_text(
        f'[database]\nurl = "{sqlite_url}"\n[crawl]\nobey_robots_txt = false\n'
        f'[[sources]]\nid = "silent"\nfeeds = ["{silent_server}/feed.xml"]\n',
        encoding="utf-8",
    )
    stop = threading.Event()
    threading.Timer(2.0, stop.set).start()
    outcome = launch_crawl(load_config(path, environ={}), stop=stop, kill_grace=1)
    assert outcome.run.status == "cancelled"
    assert outcome.run.duration_seconds is not None and outcome.run.duration_seconds < 20
