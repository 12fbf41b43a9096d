"""The near-duplicate index in Redis, shared by crawl workers: two dedup pipelines on one
database and one Redis act as two workers of a crawl-set.

Needs the Redis server at $VEILLE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); each test
uses keys under a prefix of its own and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from pipelines.dedup import DedupPipeline, fingerprint_article
from pipelines.fingerprint import NearDuplicateIndex, signature_from_bytes
from pipelines.shared_index import SharedNearDuplicateIndex
from pipelines.store import DuplicateArticle, StoragePipeline
from storage.database import make_session_factory, open_database
from storage.models import Article
from storage.records import ArticleRecord, CopyKind
from storage.repository import upsert_source
from tests.conftest import REDIS_URL
from tests.pipelines.test_dedup import FETCHED_AT, article


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return redis_prefix


@pytest.fixture
def database(database_url: str) -> str:
    engine = open_database(database_url)
    with make_session_factory(engine).begin() as session:
        upsert_source(session, source_id="wire", name="Wire", language="en")
    engine.dispose()
    return database_url


class Worker:
    """The dedup and storage stages of one crawl worker, with its own crawler and signals."""

    def __init__(self, database_url: str, prefix: str | None, window_days: float = 30) -> None:
        settings: dict[str, object] = {
            "VEILLE_DATABASE_URL": database_url,
            "VEILLE_DEDUP_WINDOW_DAYS": window_days,
        }
        if prefix is not None:
            settings |= {"VEILLE_REDIS_URL": REDIS_URL, "VEILLE_REDIS_PREFIX": prefix}
        self.crawler: Crawler = get_crawler(settings_dict=settings)
        self.dedup = DedupPipeline.from_crawler(self.crawler)
        self.store = StoragePipeline.from_crawler(self.crawler)
        self.dedup.load_index()

    async def check(self, item: ArticleRecord) -> ArticleRecord:
        return await self.dedup.process_item(item)

    def store_and_announce(self, item: ArticleRecord) -> ArticleRecord:
        stored = self.store.process_item(item)
        self.crawler.signals.send_catch_log(
            signals.item_scraped, item=stored, response=None, spider=None
        )
        return stored

    def drop(self, item: ArticleRecord, reason: Exception) -> None:
        self.crawler.signals.send_catch_log(
            signals.item_dropped, item=item, exception=reason, response=None, spider=None
        )

    def stat(self, name: str) -> int:
        assert self.crawler.stats is not None
        return int(self.crawler.stats.get_value(f"veille/{name}", 0))

    def close(self) -> None:
        self.dedup.close_spider()
        self.store.close_spider()


@pytest.fixture
def workers(database: str, prefix: str) -> Iterator[tuple[Worker, Worker]]:
    a, b = Worker(database, prefix), Worker(database, prefix)
    yield a, b
    a.close()
    b.close()


def story_of(database_url: str, article_id: int | None) -> int:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        found = session.get(Article, article_id)
        assert found is not None and found.story_id is not None
        story = found.story_id
    engine.dispose()
    return story


def test_a_copy_checked_by_b_after_a_stored_the_original_joins_it(
    database: str, workers: tuple[Worker, Worker]
) -> None:
    a, b = workers
    original = a.store_and_announce(
        asyncio.run(a.check(article("original", "https://wire.example/a")))
    )
    copy = asyncio.run(b.check(article("near_copy", "https://daily.example/b")))

    assert copy.copy_check is not None and copy.copy_check.kind is CopyKind.NEAR
    assert copy.copy_check.copy_of == original.article_id
    stored = b.store_and_announce(copy)
    assert story_of(database, stored.article_id) == story_of(database, original.article_id)
    # Both are in the index under their ids, for both workers, and nothing provisional remains.
    assert str(original.article_id) in a.dedup.index
    assert str(stored.article_id) in a.dedup.index
    assert len(b.dedup.index) == 2
    assert b.stat("stories/new") == 0 and b.stat("dedup/waited") == 0


def test_a_copy_checked_while_the_original_is_pending_waits_and_joins_it(
    database: str, workers: tuple[Worker, Worker]
) -> None:
    a, b = workers

    async def crawl() -> tuple[ArticleRecord, ArticleRecord]:
        passed = await a.check(article("original", "https://wire.example/a"))  # held by A
        waiting = asyncio.create_task(b.check(article("near_copy", "https://daily.example/b")))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # B waits for A's original, as long as A holds it
        assert b.stat("dedup/waited") == 1
        original = a.store_and_announce(passed)
        return original, await asyncio.wait_for(waiting, 5)

    original, copy = asyncio.run(crawl())
    assert copy.copy_check is not None and copy.copy_check.kind is CopyKind.NEAR
    assert copy.copy_check.copy_of == original.article_id
    stored = b.store_and_announce(copy)
    assert story_of(database, stored.article_id) == story_of(database, original.article_id)


def test_a_copy_of_an_original_that_a_dropped_is_new(
    database: str, workers: tuple[Worker, Worker]
) -> None:
    a, b = workers

    async def crawl() -> tuple[ArticleRecord, ArticleRecord]:
        passed = await a.check(article("original", "https://wire.example/a"))
        waiting = asyncio.create_task(b.check(article("near_copy", "https://daily.example/b")))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        a.drop(passed, DuplicateArticle("https://wire.example/a is stored already"))
        copy = await asyncio.wait_for(waiting, 5)
        # The copy now holds a provisional key of its own: a third article waits for it.
        third = asyncio.create_task(a.check(article("spam_mirror", "https://mirror.example/c")))
        await asyncio.sleep(0.3)
        assert not third.done()
        return b.store_and_announce(copy), await asyncio.wait_for(third, 5)

    copy, third = asyncio.run(crawl())
    assert copy.copy_check is not None and copy.copy_check.kind is None
    assert b.stat("stories/new") == 1
    assert third.copy_check is not None and third.copy_check.kind is CopyKind.NEAR
    assert third.copy_check.copy_of == copy.article_id


def test_a_worker_that_dies_holding_a_key_blocks_the_others_only_until_it_expires(
    database: str, prefix: str, workers: tuple[Worker, Worker]
) -> None:
    a, b = workers
    assert a.dedup.shared is not None
    a.dedup.shared.pending_seconds = 1
    asyncio.run(a.check(article("original", "https://wire.example/a")))  # and A dies
    started = time.monotonic()
    copy = asyncio.run(b.check(article("near_copy", "https://daily.example/b")))
    waited = time.monotonic() - started

    assert copy.copy_check is not None and copy.copy_check.kind is None
    assert b.stat("dedup/waited") == 1 and b.stat("dedup/wait_timeout") == 0
    assert 0.5 < waited < b.dedup.wait_seconds
    # The next worker to open forgets the dead worker's key.
    restarted = Worker(database, prefix)
    assert "pending:https://wire.example/a" not in restarted.dedup.index
    assert "pending:https://daily.example/b" in restarted.dedup.index  # B's, still held
    restarted.close()


def test_the_first_worker_loads_the_window_later_and_restarted_ones_reuse_it(
    database: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Articles stored before the crawl-set started: a crawl without Redis.
    alone = Worker(database, None)
    original = alone.store_and_announce(
        asyncio.run(alone.check(article("original", "https://wire.example/a")))
    )
    alone.close()

    with caplog.at_level(logging.INFO, logger="pipelines.dedup"):
        first, second = Worker(database, prefix), Worker(database, prefix)
    loads = [r.getMessage() for r in caplog.records if "loaded" in r.getMessage()]
    assert len(loads) == 1 and "loaded 1 signatures" in loads[0]
    assert str(original.article_id) in second.dedup.index

    other = first.store_and_announce(
        asyncio.run(first.check(article("other_story", "https://wire.example/c")))
    )
    first.close()
    second.close()

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipelines.dedup"):
        restarted = Worker(database, prefix)
    assert not [r for r in caplog.records if "loaded" in r.getMessage()]
    copy = asyncio.run(restarted.check(article("near_copy", "https://daily.example/b")))
    assert copy.copy_check is not None and copy.copy_check.copy_of == original.article_id
    assert str(other.article_id) in restarted.dedup.index
    restarted.close()


def test_entries_older_than_the_window_are_evicted_when_a_worker_opens(
    database: str, prefix: str, redis_client: redis.Redis
) -> None:
    index = SharedNearDuplicateIndex(redis_client, prefix)
    now = datetime.now(UTC)
    signatures = {
        name: signature_from_bytes(
            fingerprint_article(article(name, f"https://x/{name}")).signature or b""
        )
        for name in ("original", "other_story")
    }
    index.add("101", signatures["original"], stored_at=now - timedelta(days=12))
    index.add("102", signatures["other_story"], stored_at=now - timedelta(days=2))
    index.mark_loaded(now)

    worker = Worker(database, prefix, window_days=7)
    assert "101" not in worker.dedup.index and "102" in worker.dedup.index
    assert len(worker.dedup.index) == 1
    copy = asyncio.run(worker.check(article("near_copy", "https://daily.example/b")))
    assert copy.copy_check is not None and copy.copy_check.kind is None  # its original left
    worker.close()
    # Nothing of the evicted article is left in Redis: no band, no signature, no time.
    leftovers = [
        key
        for key in redis_client.scan_iter(f"{prefix}:dedup:band:*", count=1000)
        if redis_client.sismember(key, "101")
    ]
    assert leftovers == []
    assert redis_client.zscore(f"{prefix}:dedup:stored", "101") is None


def test_two_workers_checking_copies_at_once_make_one_story(
    database: str, workers: tuple[Worker, Worker]
) -> None:
    # Each worker in a thread of its own: without the lock around look-up and hold, both could
    # find nothing and both start a story.
    a, b = workers
    start = threading.Barrier(2)
    results: dict[str, ArticleRecord] = {}

    def crawl(worker: Worker, name: str, url: str) -> None:
        item = article(name, url)
        start.wait()
        results[name] = worker.store_and_announce(asyncio.run(worker.check(item)))

    threads = [
        threading.Thread(target=crawl, args=(a, "original", "https://wire.example/a")),
        threading.Thread(target=crawl, args=(b, "near_copy", "https://daily.example/b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    kinds = sorted(str(r.copy_check.kind) for r in results.values() if r.copy_check)
    assert kinds == ["None", "near"]
    stories = {story_of(database, r.article_id) for r in results.values()}
    assert len(stories) == 1


def test_the_shared_index_finds_what_the_memory_index_finds_in_one_round_trip(
    prefix: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, memory = SharedNearDuplicateIndex(redis_client, prefix), NearDuplicateIndex()
    names = ("original", "other_story", "spam_mirror")
    for number, name in enumerate(names):
        data = fingerprint_article(article(name, f"https://x/{name}")).signature
        assert data is not None
        shared.add(str(number), signature_from_bytes(data))
        memory.add(str(number), signature_from_bytes(data))
    query = fingerprint_article(article("near_copy", "https://y/near_copy")).signature
    assert query is not None
    signature = signature_from_bytes(query)
    shared.find_match(signature)  # loads the script once

    sent: list[object] = []
    connection_class = redis_client.connection_pool.connection_class
    original_send = connection_class.send_packed_command

    def counting_send(self: object, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original_send(self, command, check_health)  # type: ignore[arg-type]

    monkeypatch.setattr(connection_class, "send_packed_command", counting_send)
    match = shared.find_match(signature)
    monkeypatch.undo()

    assert match == memory.find_match(signature)
    assert match is not None and match[0] == "0"
    assert len(sent) == 1
    assert sorted(shared.candidates(signature)) == memory.candidates(signature)
    shared.remove("0")
    assert "0" not in shared and len(shared) == 2
    with pytest.raises(KeyError):
        shared.remove("0")


def test_without_a_redis_url_the_index_is_in_the_worker_memory(database: str) -> None:
    worker = Worker(database, None)
    assert worker.dedup.shared is None
    assert isinstance(worker.dedup.index, NearDuplicateIndex)
    worker.close()


def test_a_bulk_load_files_a_signature_as_one_add_does(
    prefix: str, redis_client: redis.Redis
) -> None:
    # The load script names the band sets itself (in Lua): they must be the ones look-ups read.
    index = SharedNearDuplicateIndex(redis_client, prefix)
    data = fingerprint_article(article("original", "https://x/original")).signature
    assert data is not None
    added = index.add_many([("7", data, FETCHED_AT), ("8", b"\x00" + data[1:], FETCHED_AT)])
    assert added == (1, 1)  # the second is of another format
    signature = signature_from_bytes(data)
    assert all(redis_client.smembers(key) == {b"7"} for key in index.band_keys(signature))
    assert len(list(redis_client.scan_iter(f"{prefix}:dedup:band:*", count=1000))) == 20
    assert index.find_match(signature) == ("7", 1.0)
    assert redis_client.zscore(f"{prefix}:dedup:stored", "7") == FETCHED_AT.timestamp()


def test_a_worker_that_closes_with_items_unfinished_releases_their_keys(
    database: str, prefix: str
) -> None:
    a, b = Worker(database, prefix), Worker(database, prefix)
    asyncio.run(a.check(article("original", "https://wire.example/a")))
    assert "pending:https://wire.example/a" in b.dedup.index
    a.close()  # the crawl stopped before the article was stored
    copy = asyncio.run(b.check(article("near_copy", "https://daily.example/b")))
    assert copy.copy_check is not None and copy.copy_check.kind is None
    assert b.stat("dedup/waited") == 0
    b.close()
