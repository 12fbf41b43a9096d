"""Scrapy settings built from Veille's configuration.

Politeness lives here, in Scrapy's own settings: robots.txt, the configured
User-Agent, AutoThrottle, a per-domain concurrency limit, download timeout and
maximum size, retries with backoff on 429/5xx.

With ``[distributed] redis_url``, every crawl shares what must be shared across machines
through Redis (``VEILLE_REDIS_URL``, ``VEILLE_REDIS_PREFIX``): the near-duplicate index and
per-site politeness. An enqueue crawl and a worker also use scrapy-redis's scheduler and
dupefilter, with our schedulers (:mod:`crawler.distributed.schedulers`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from crawler.config import Config

ITEM_PIPELINES = {
    "pipelines.extraction.ExtractionPipeline": 300,
    "pipelines.tagging.TaggingPipeline": 400,
    "pipelines.dedup.DedupPipeline": 500,
    "pipelines.seed_compare.SeedComparePipeline": 600,
    "pipelines.store.StoragePipeline": 800,
}

CONCURRENT_ITEMS = 4
"""What one response yields, handled this many at a time. An article page yields one item, a
feed or sitemap requests only, so Scrapy's 100 buys nothing, and costs: Scrapy starts that many
asyncio tasks for every response (a tenth of the crawl process's time on a large crawl)."""


class CrawlMode(StrEnum):
    LOCAL = "local"
    """Crawl in this process, with Scrapy's own scheduler."""
    ENQUEUE = "enqueue"
    """Push the sources' polls to the shared frontier, fetch nothing."""
    WORKER = "worker"
    """Take requests from the shared frontier."""


def build_settings(
    config: Config,
    *,
    crawl_run_id: int | None = None,
    mode: CrawlMode = CrawlMode.LOCAL,
    until_idle: bool = False,
) -> dict[str, Any]:
    settings = _local_settings(config, crawl_run_id)
    distributed = config.distributed
    if distributed.redis_url is not None:
        settings["VEILLE_REDIS_URL"] = distributed.redis_url
        settings["VEILLE_REDIS_PREFIX"] = distributed.prefix
        settings["DOWNLOADER_MIDDLEWARES"] = {
            **settings["DOWNLOADER_MIDDLEWARES"],
            # After the retries (550), which may raise a site's delay it then shares.
            "crawler.distributed.politeness.GlobalPolitenessMiddleware": 590,
        }
    if mode is CrawlMode.LOCAL:
        return settings
    if distributed.redis_url is None:
        raise ValueError(f"a {mode.value} crawl needs [distributed] redis_url")
    prefix = distributed.prefix
    settings.update(
        {
            "SCHEDULER": (
                "crawler.distributed.schedulers.WorkerScheduler"
                if mode is CrawlMode.WORKER
                else "crawler.distributed.schedulers.EnqueueScheduler"
            ),
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
            "SCHEDULER_QUEUE_KEY": f"{prefix}:%(spider)s:requests",
            "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:%(spider)s:dupefilter",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "REDIS_URL": distributed.redis_url,
            "VEILLE_WORKER": mode is CrawlMode.WORKER,
            "VEILLE_UNTIL_IDLE": until_idle,
            "VEILLE_WORKER_HEARTBEAT": distributed.heartbeat.total_seconds(),
            "VEILLE_WORKER_DEAD_AFTER": distributed.dead_after.total_seconds(),
            "VEILLE_IDLE_EXIT": distributed.idle_exit.total_seconds(),
        }
    )
    if mode is CrawlMode.WORKER:
        settings["SPIDER_MIDDLEWARES"] = {
            # Outermost (engine side): sees everything a callback yields, after the others.
            "crawler.distributed.inflight.InFlightMiddleware": 10,
        }
    else:
        settings["ITEM_PIPELINES"] = {}  # an enqueue fetches no article
    return settings


def _local_settings(config: Config, crawl_run_id: int | None) -> dict[str, Any]:
    crawl = config.crawl
    return {
        "BOT_NAME": "veille",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "CONCURRENT_ITEMS": CONCURRENT_ITEMS,
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
