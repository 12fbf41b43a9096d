"""Scrapy settings built from the configuration, and the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime

from crawler.config import Config
from crawler.retry import backoff_delay, retry_after_seconds
from crawler.settings import build_settings


def test_politeness_is_on_by_default() -> None:
    settings = build_settings(Config(), crawl_run_id=7)
    assert settings["ROBOTSTXT_OBEY"] is True
    assert settings["AUTOTHROTTLE_ENABLED"] is True
    assert settings["USER_AGENT"].startswith("Veille/")
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 2
    assert settings["DOWNLOAD_TIMEOUT"] == 30
    assert settings["DOWNLOAD_MAXSIZE"] == 10_000_000
    assert 429 in settings["RETRY_HTTP_CODES"] and 503 in settings["RETRY_HTTP_CODES"]
    assert settings["DOWNLOADER_MIDDLEWARES"]["crawler.retry.BackoffRetryMiddleware"]
    assert settings["VEILLE_CRAWL_RUN_ID"] == 7


def test_configured_values_reach_scrapy() -> None:
    config = Config.model_validate(
        {"crawl": {"user_agent": "Me/1 (+https://me.example)", "max_page_size": "2MB",
                   "download_timeout": "10s", "obey_robots_txt": False}}
    )  # fmt: skip
    settings = build_settings(config)
    assert settings["USER_AGENT"] == "Me/1 (+https://me.example)"
    assert settings["DOWNLOAD_MAXSIZE"] == 2_000_000
    assert settings["DOWNLOAD_TIMEOUT"] == 10
    assert settings["ROBOTSTXT_OBEY"] is False


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    assert [backoff_delay(n, 2, 60) for n in range(6)] == [2, 4, 8, 16, 32, 60]
    assert backoff_delay(0, 2, 60, asked=30) == 30
    assert backoff_delay(0, 2, 60, asked=3600) == 60


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(b"120") == 120
    assert retry_after_seconds(b"Sun, 22 Nov 2026 12:01:30 GMT", now=now) == 90
    assert retry_after_seconds(b"soon") is None
    assert retry_after_seconds(None) is None
