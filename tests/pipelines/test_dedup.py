"""The dedup pipeline in a crawl: copies found among the articles of the same crawl."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from pipelines.dedup import DedupPipeline, check_copy, fingerprint_article
from pipelines.fingerprint import NearDuplicateIndex, signature_from_bytes
from pipelines.store import DuplicateArticle, StoragePipeline
from storage.database import make_session_factory, open_database
from storage.records import ArticleRecord, CopyKind, Extracted, FetchedPage, PublishedFrom
from storage.repository import upsert_source
from tests.conftest import run_python

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup" / "en"
FETCHED_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def article(name: str, url: str) -> ArticleRecord:
    text = (DATA / f"{name}.txt").read_text(encoding="utf-8")
    page = FetchedPage(url, url, "wire", text.encode(), "text/html", "utf-8", FETCHED_AT)
    return ArticleRecord(
        page=page,
        extracted=Extracted(text=text, title=name, language="en"),
        canonical_url=url,
        published=FETCHED_AT,
        published_from=PublishedFrom.FIRST_SEEN,
    )


@pytest.fixture
def crawler(database_url: str) -> Crawler:
    engine = open_database(database_url)
    with make_session_factory(engine).begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")
    engine.dispose()
    return get_crawler(settings_dict={"VEILLE_DATABASE_URL": database_url})


@pytest.fixture
def stages(crawler: Crawler) -> Iterator[tuple[DedupPipeline, StoragePipeline]]:
    dedup, store = DedupPipeline.from_crawler(crawler), StoragePipeline.from_crawler(crawler)
    dedup.load_index()
    yield dedup, store
    dedup.close_spider()
    store.close_spider()


def checked(dedup: DedupPipeline, item: ArticleRecord) -> ArticleRecord:
    """The item as the dedup stage passes it on (its ``process_item`` is a coroutine)."""
    return asyncio.run(dedup.process_item(item))


def scraped(crawler: Crawler, item: ArticleRecord) -> None:
    crawler.signals.send_catch_log(signals.item_scraped, item=item, response=None, spider=None)


def test_a_copy_checked_before_its_original_is_announced_stored_still_joins_it(
    crawler: Crawler, stages: tuple[DedupPipeline, StoragePipeline]
) -> None:
    # With the CPU pool, a second article's turn can come between the storage of the first
    # and Scrapy's item_scraped signal for it (sent at the next turn of the event loop).
    dedup, store = stages
    original = store.process_item(checked(dedup, article("original", "https://wire.example/a")))
    copy = store.process_item(checked(dedup, article("near_copy", "https://daily.example/b")))
    assert copy.copy_check is not None
    assert copy.copy_check.kind is CopyKind.NEAR
    assert copy.copy_check.copy_of == original.article_id
    other = checked(dedup, article("other_story", "https://wire.example/c"))
    assert other.copy_check is not None and other.copy_check.kind is None

    for item in (original, copy):
        scraped(crawler, item)
    # Once announced, they are in the index under their ids, and nothing provisional remains.
    assert str(original.article_id) in dedup.index
    assert str(copy.article_id) in dedup.index
    assert len(dedup.index) == 3  # and the unannounced other story, provisionally


def test_an_article_dropped_after_dedup_leaves_the_index(
    crawler: Crawler, stages: tuple[DedupPipeline, StoragePipeline]
) -> None:
    dedup, store = stages
    first = store.process_item(checked(dedup, article("original", "https://wire.example/a")))
    scraped(crawler, first)
    again = checked(dedup, article("near_copy", "https://wire.example/a"))  # same page
    with pytest.raises(DuplicateArticle) as dropped:
        store.process_item(again)
    crawler.signals.send_catch_log(
        signals.item_dropped, item=again, exception=dropped.value, response=None, spider=None
    )
    assert len(dedup.index) == 1


def test_precomputed_fingerprints_give_the_same_verdict() -> None:
    original, copy = article("original", "https://a.example/1"), article("near_copy", "https://b/2")
    index = NearDuplicateIndex()
    check = fingerprint_article(original)
    assert check.fingerprint and check.signature and check.kind is None
    index.add("7", signature_from_bytes(check.signature))
    verdicts = [
        check_copy(copy, index, lambda _f: None, lambda _u: None, fingerprints)
        for fingerprints in (None, fingerprint_article(copy))
    ]
    assert verdicts[0] == verdicts[1]
    assert verdicts[0].kind is CopyKind.NEAR and verdicts[0].copy_of == 7


def test_a_crawl_that_checks_no_article_loads_no_index(tmp_path: Path) -> None:
    # A re-crawl that finds nothing new should start fast: neither the window's signatures
    # nor datasketch (which imports SciPy, half a second) are loaded until an article comes.
    script = textwrap.dedent(
        f"""
        import sys
        from scrapy.utils.test import get_crawler
        from crawler.settings import ITEM_PIPELINES
        from scrapy.utils.misc import load_object
        from storage.database import open_database

        url = "sqlite:///{tmp_path / "veille.db"}"
        open_database(url).dispose()
        crawler = get_crawler(settings_dict={{"VEILLE_DATABASE_URL": url}})
        stages = [load_object(path).from_crawler(crawler) for path in ITEM_PIPELINES]
        dedup = next(stage for stage in stages if type(stage).__name__ == "DedupPipeline")
        dedup.close_spider()
        print("datasketch" in sys.modules)
        dedup.load_index()
        print("datasketch" in sys.modules)
        """
    )
    assert run_python(script).split() == ["False", "True"]
