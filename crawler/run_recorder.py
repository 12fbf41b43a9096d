"""CrawlRunRecorder: writes the crawl's counts to its crawl-run row when the spider closes."""

from __future__ import annotations

import logging
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from storage.crawl_stats import summarize_stats
from storage.database import create_database_engine, make_session_factory
from storage.repository import record_crawl_counts

logger = logging.getLogger(__name__)


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, int | float | str | bool) else str(value)
        for key, value in stats.items()
    }


class CrawlRunRecorder:
    def __init__(self, crawler: Crawler, database_url: str, run_id: int) -> None:
        self.crawler = crawler
        self.run_id = run_id
        self._sessions = make_session_factory(create_database_engine(database_url))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        run_id = crawler.settings.get("VEILLE_CRAWL_RUN_ID")
        if run_id is None:
            raise NotConfigured("no crawl run to record into")
        recorder = cls(crawler, crawler.settings["VEILLE_DATABASE_URL"], int(run_id))
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        counts = summarize_stats(stats)
        per_source = counts.pop("per_source")
        for health_only in ("articles_dated", "extraction_failed"):  # per source, in stats
            counts.pop(health_only)
        with self._sessions.begin() as session:
            record_crawl_counts(
                session,
                self.run_id,
                **counts,
                stats={**_jsonable(stats), "close_reason": reason, "per_source": per_source},
            )
        logger.info(
            "Crawl run %d: %d feeds polled, %d failed; %d entries; "
            "articles: %d new, %d already known, %d failed",
            self.run_id,
            counts["feeds_polled"],
            counts["feeds_failed"],
            counts["entries_seen"],
            counts["articles_new"],
            counts["articles_known"],
            counts["articles_failed"],
        )
