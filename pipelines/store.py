"""StoragePipeline: persists extracted articles; one transaction per article.

A page whose canonical URL is stored already (two links to one page, found only
after a redirect) is dropped as :class:`DuplicateArticle`; its URLs are remembered
so they are not requested again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from storage.crawl_stats import count_event
from storage.database import create_database_engine, make_session_factory
from storage.records import ArticleRecord, PublishedFrom
from storage.repository import store_article
from storage.versions import record_recheck

logger = logging.getLogger(__name__)


class DuplicateArticle(DropItem):
    """The article's canonical URL is in the database already."""


class StoragePipeline:
    def __init__(self, crawler: Crawler, database_url: str, crawl_run_id: int | None) -> None:
        self.crawler = crawler
        self.crawl_run_id = crawl_run_id
        self._engine = create_database_engine(database_url)
        self._sessions = make_session_factory(self._engine)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        run_id = crawler.settings.get("VEILLE_CRAWL_RUN_ID")
        return cls(
            crawler,
            crawler.settings["VEILLE_DATABASE_URL"],
            int(run_id) if run_id is not None else None,
        )

    def process_item(self, item: ArticleRecord) -> ArticleRecord:
        assert self.crawler.stats is not None
        if item.page.recheck_of is not None:
            return self._store_recheck(item, item.page.recheck_of)
        with self._sessions.begin() as session:
            article_id = store_article(session, item, crawl_run_id=self.crawl_run_id)
        if article_id is None:
            count_event(self.crawler.stats, "articles/duplicate", item.page.source_id)
            raise DuplicateArticle(f"{item.canonical_url} is stored already")
        count_event(self.crawler.stats, "articles/stored", item.page.source_id)
        if item.published_from is not PublishedFrom.FIRST_SEEN:
            count_event(self.crawler.stats, "articles/dated", item.page.source_id)
        logger.debug("Stored article %d: %s", article_id, item.canonical_url)
        return replace(item, article_id=article_id)

    def _store_recheck(self, item: ArticleRecord, article_id: int) -> ArticleRecord:
        assert self.crawler.stats is not None
        with self._sessions.begin() as session:
            changed = record_recheck(session, article_id, item)
        event = "articles/updated" if changed else "articles/unchanged"
        count_event(self.crawler.stats, event, item.page.source_id)
        if changed:
            logger.info("Article %d changed: new version stored (%s)", article_id, item.page.url)
        return replace(item, article_id=article_id)

    def close_spider(self) -> None:
        self._engine.dispose()
