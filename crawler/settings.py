"""Scrapy settings built from Veille's configuration.

Politeness lives here, in Scrapy's own settings: robots.txt, the configured
User-Agent, AutoThrottle, a per-domain concurrency limit, download timeout and
maximum size, retries with backoff on 429/5xx.
"""

from __future__ import annotations

from typing import Any

from crawler.config import Config

ITEM_PIPELINES = {
    "pipelines.extraction.ExtractionPipeline": 300,
    "pipelines.tagging.TaggingPipeline": 400,
    "pipelines.dedup.DedupPipeline": 500,
    "pipelines.seed_compare.SeedComparePipeline": 600,
    "pipelines.store.StoragePipeline": 800,
}


def build_settings(config: Config, *, crawl_run_id: int | None = None) -> dict[str, Any]:
    crawl = config.crawl
    return {
        "BOT_NAME": "veille",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay.total_seconds(),
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay.total_seconds(), 1.0),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": crawl.autothrottle_target_concurrency,
        "AUTOTHROTTLE_MAX_DELAY": crawl.autothrottle_max_delay.total_seconds(),
        "DOWNLOAD_TIMEOUT": crawl.download_timeout.total_seconds(),
        "DOWNLOAD_MAXSIZE": crawl.max_page_size,
        "DOWNLOAD_WARNSIZE": crawl.max_page_size // 2,
        "RETRY_ENABLED": crawl.retry_times > 0,
        "RETRY_TIMES": crawl.retry_times,
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
        "VEILLE_RETRY_BACKOFF_BASE": crawl.retry_backoff_base.total_seconds(),
        "VEILLE_RETRY_BACKOFF_MAX": crawl.retry_backoff_max.total_seconds(),
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawler.retry.BackoffRetryMiddleware": 550,
        },
        "ITEM_PIPELINES": ITEM_PIPELINES,
        "EXTENSIONS": {
            "scrapy.extensions.telnet.TelnetConsole": None,
            "crawler.run_recorder.CrawlRunRecorder": 500,
        },
        "LOG_LEVEL": crawl.log_level,
        "LOG_INSTALL_ROOT_HANDLER": False,  # python -m crawler installs its own
        "VEILLE_DATABASE_URL": config.database.url,
        "VEILLE_CRAWL_RUN_ID": crawl_run_id,
        "VEILLE_MAX_ENTRIES_PER_FEED": crawl.max_entries_per_feed,
        "VEILLE_INITIAL_INTERVAL": config.scheduler.default_interval.total_seconds(),
        "VEILLE_RECHECK_AGE": crawl.recheck_age.total_seconds() if crawl.recheck_age else 0,
        "VEILLE_RECHECK_EVERY": crawl.recheck_every.total_seconds(),
        "VEILLE_TAXONOMY_PATH": str(config.tagging.taxonomy) if config.tagging.taxonomy else None,
        "VEILLE_DEDUP_THRESHOLD": config.dedup.threshold,
        "VEILLE_CPU_WORKERS": crawl.workers,
        "VEILLE_NEW_FACTS_LIMIT": config.seeds.new_facts_limit,
        "VEILLE_DEDUP_WINDOW_DAYS": config.dedup.window.total_seconds() / 86400,
    }
