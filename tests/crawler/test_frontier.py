"""The shared frontier on the real Redis: requests in flight, dead workers, serialization.

Each test uses its own key prefix and deletes its keys afterwards. Without a Redis server
at 127.0.0.1:6379 (``$VEILLE_TEST_REDIS_URL``) the tests are skipped (they fail under CI).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from scrapy import Request
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler
from scrapy_redis.queue import PriorityQueue
from twisted.python.failure import Failure

from crawler.config import Config, DistributedConfig, SourceConfig
from crawler.distributed.frontier import Frontier, FrontierKeys
from crawler.distributed.inflight import FRONTIER_ID, InFlightTracker
from crawler.feed_parser import FeedEntry
from crawler.settings import CrawlMode, build_settings
from crawler.spiders.articles import ROUND, request_failed
from crawler.spiders.sources import SourceSpider
from crawler.targets import Target
from storage.database import open_database
from storage.models import PollKind
from storage.versions import RecheckTarget


@pytest.fixture
def frontier(redis_client: Redis, redis_prefix: str) -> Frontier:
    client, prefix = redis_client, redis_prefix
    return Frontier(client, FrontierKeys(prefix))


def push(frontier: Frontier, member: bytes, score: float = 0) -> None:
    frontier.server.zadd(frontier.keys.queue, {member: score})


def test_a_request_taken_is_recorded_in_flight_until_it_is_finished(frontier: Frontier) -> None:
    push(frontier, b"article-1", 0)
    push(frontier, b"poll-1", -1)  # priority 1: taken first

    assert frontier.take("w1", "r1") == b"poll-1"
    assert frontier.queued() == 1
    assert frontier.in_flight("w1") == 1
    assert frontier.server.hget(frontier.keys.inflight("w1"), "r1") == b"-1\npoll-1"

    assert frontier.finish("w1", "r1") is True
    assert frontier.in_flight("w1") == 0
    assert frontier.finish("w1", "r1") is False
    assert frontier.take("w1", "r2") == b"article-1"
    assert frontier.take("w1", "r3") is None


def test_the_requests_of_a_dead_worker_go_back_to_the_queue_once(frontier: Frontier) -> None:
    for number in range(3):
        push(frontier, f"request-{number}".encode(), -number)
    frontier.beat("dying", 0.3)
    frontier.beat("alive", 30)
    taken = [frontier.take("dying", f"d{number}") for number in range(2)]
    assert taken == [b"request-2", b"request-1"]
    assert frontier.take("alive", "a1") == b"request-0"

    assert frontier.recover_dead_workers() == {}  # the heartbeat has not expired yet
    assert frontier.queued() == 0
    time.sleep(0.4)
    # Two workers notice at once: the script runs once for both, nothing is doubled.
    first = frontier.recover_dead_workers(except_id="alive")
    second = frontier.recover_dead_workers(except_id="alive")
    assert first == {"dying": 2}
    assert second == {}
    queued = frontier.server.zrange(frontier.keys.queue, 0, -1, withscores=True)
    assert queued == [(b"request-2", -2.0), (b"request-1", -1.0)]  # their priorities kept
    assert frontier.in_flight("dying") == 0
    assert frontier.workers() == ["alive"]
    assert frontier.in_flight("alive") == 1


def test_a_stopping_worker_hands_back_what_it_holds(frontier: Frontier) -> None:
    push(frontier, b"request", 0)
    frontier.beat("stopping", 30)
    frontier.take("stopping", "r1")
    assert frontier.requeue("stopping") == -1  # alive: nobody else may take its requests
    assert frontier.requeue("stopping", even_if_alive=True) == 1
    assert frontier.queued() == 1
    assert frontier.workers() == []
    assert not frontier.server.exists(frontier.keys.alive("stopping"))


def test_the_dupefilter_is_emptied_only_when_nothing_is_queued_or_in_flight(
    frontier: Frontier,
) -> None:
    frontier.server.sadd(frontier.keys.dupefilter, "fingerprint")
    push(frontier, b"request", 0)
    frontier.beat("w1", 30)
    assert not frontier.is_quiet(clear_dupefilter=True)
    frontier.take("w1", "r1")
    assert frontier.queued() == 0
    assert not frontier.is_quiet(clear_dupefilter=True)  # w1 still works on it
    assert frontier.server.scard(frontier.keys.dupefilter) == 1
    frontier.finish("w1", "r1")
    assert frontier.is_quiet(clear_dupefilter=True)
    assert frontier.server.scard(frontier.keys.dupefilter) == 0


# What a worker's tracker counts before a request is forgotten


def test_a_poll_is_done_only_once_every_request_it_yielded_is_queued() -> None:
    done: list[tuple[str, bool]] = []
    tracker = InFlightTracker(lambda request_id, request, failed: done.append((request_id, failed)))
    poll = Request("http://site.example/feed.xml")
    tracker.taken("p1", poll)
    assert poll.meta[FRONTIER_ID] == "p1"
    children = [Request(f"http://site.example/{n}.html") for n in range(2)]
    for child in children:
        tracker.output(poll, child)
    tracker.finished(poll)  # the callback's output is exhausted, its requests are buffered
    assert done == []
    tracker.enqueued(children[0])
    assert done == []
    tracker.enqueued(children[1])
    assert done == [("p1", False)]
    assert len(tracker) == 0


def test_an_article_is_done_when_its_item_leaves_the_pipelines_and_failures_are_marked() -> None:
    done: list[tuple[str, bool]] = []
    tracker = InFlightTracker(lambda request_id, request, failed: done.append((request_id, failed)))
    article = Request("http://site.example/a.html")
    tracker.taken("a1", article)
    response = TextResponse(article.url, body=b"<html></html>", request=article)
    item = object()
    tracker.output(article, item)
    tracker.finished(article)
    assert done == []
    tracker.item_failed(item, response, None, exception=Exception("dropped"))
    assert done == [("a1", True)]

    missing = Request("http://site.example/404.html")
    tracker.taken("a2", missing)
    tracker.failed(missing)  # its errback ran
    tracker.finished(missing)  # and its (empty) output went through the middlewares: no-op
    assert done == [("a1", True), ("a2", True)]


# Requests cross processes: every kind the spiders make survives scrapy-redis's queue


@pytest.fixture
def spider(sqlite_url: str) -> Iterator[SourceSpider]:
    open_database(sqlite_url).dispose()  # the schema
    source = SourceConfig(id="wire", feeds=["https://wire.example/feed.xml"])
    crawler = get_crawler(SourceSpider, {"VEILLE_DATABASE_URL": sqlite_url})
    spider = SourceSpider.from_crawler(crawler, sources=[source], round_id="7")
    crawler.spider = spider
    yield spider


def round_trip(client: Redis, spider: SourceSpider, request: Request) -> Request:
    queue = PriorityQueue(client, spider, f"unused-{uuid.uuid4().hex}")
    return queue._decode_request(queue._encode_request(request))


def assert_same(request: Request, copy: Request) -> None:
    assert copy.url == request.url
    assert copy.callback == request.callback and copy.errback == request.errback
    assert copy.dont_filter == request.dont_filter
    assert dict(copy.headers) == dict(request.headers)
    assert copy.meta == request.meta


@pytest.mark.parametrize("kind", list(PollKind))
def test_every_poll_request_survives_the_queue(
    redis_client: Redis, spider: SourceSpider, kind: PollKind
) -> None:
    source = spider.sources[0]
    target = Target(source, f"https://wire.example/{kind.value}", kind, "https://wire.example/")
    request = spider._poll_request(target, "7")
    assert request is not None and request.dont_filter  # polled again every round
    copy = round_trip(redis_client, spider, request)
    assert_same(request, copy)
    assert copy.meta["veille_target"] == target and copy.meta[ROUND] == "7"
    assert copy.callback == spider.parse_target


def test_article_and_recheck_requests_survive_the_queue(
    redis_client: Redis, spider: SourceSpider
) -> None:
    source = spider.sources[0]
    entry = FeedEntry(link="https://wire.example/a.html?utm_source=x", title="A")
    requests, new, seen = spider._follow_entries(
        [entry], source, "https://wire.example/feed.xml", (source.id, "feed"), "7"
    )
    assert (len(requests), new, seen) == (1, 1, 0)
    article = requests[0]
    assert not article.dont_filter  # through the shared dupefilter: fetched once anywhere
    copy = round_trip(redis_client, spider, article)
    assert_same(article, copy)
    assert copy.meta["veille_entry"] == entry and copy.meta["veille_poll"] == ("wire", "feed")

    recheck = spider._recheck_request(
        "https://wire.example/a.html",
        RecheckTarget(article_id=3, etag='"v1"', last_modified=None),
        dict(article.meta),
    )
    copy = round_trip(redis_client, spider, recheck)
    assert_same(recheck, copy)
    assert copy.meta["veille_recheck"] == 3 and copy.dont_filter


def test_a_failed_request_tells_the_worker_its_errback_ran(spider: SourceSpider) -> None:
    failed: list[Request] = []

    def record(request: Request) -> None:
        failed.append(request)

    spider.crawler.signals.connect(record, signal=request_failed)
    source = spider.sources[0]
    target = Target(source, "https://wire.example/feed.xml", PollKind.FEED)
    request = spider._poll_request(target, None)
    assert request is not None
    failure = Failure(TimeoutError("took too long"))
    failure.request = request  # type: ignore[attr-defined]
    spider.target_failed(failure)
    assert failed == [request]


# Settings


def distributed_config(**distributed: Any) -> Config:
    return Config(
        database={"url": "postgresql+psycopg://veille@db.example/veille"},
        distributed=DistributedConfig(redis_url="redis://redis.example:6379/0", **distributed),
    )


def test_worker_and_enqueue_settings_use_scrapy_redis_under_the_prefix() -> None:
    config = distributed_config(prefix="newsroom")
    worker = build_settings(config, mode=CrawlMode.WORKER, until_idle=True)
    assert worker["SCHEDULER"] == "crawler.distributed.schedulers.WorkerScheduler"
    assert worker["SCHEDULER_PERSIST"] is True
    assert worker["DUPEFILTER_CLASS"] == "scrapy_redis.dupefilter.RFPDupeFilter"
    assert worker["SCHEDULER_QUEUE_KEY"] % {"spider": "sources"} == FrontierKeys("newsroom").queue
    assert (
        worker["SCHEDULER_DUPEFILTER_KEY"] % {"spider": "sources"}
        == FrontierKeys("newsroom").dupefilter
    )
    assert worker["VEILLE_REDIS_PREFIX"] == "newsroom" and worker["VEILLE_UNTIL_IDLE"]
    assert "crawler.distributed.inflight.InFlightMiddleware" in worker["SPIDER_MIDDLEWARES"]
    middlewares = worker["DOWNLOADER_MIDDLEWARES"]
    politeness = middlewares["crawler.distributed.politeness.GlobalPolitenessMiddleware"]
    assert middlewares["crawler.retry.BackoffRetryMiddleware"] < politeness
    enqueue = build_settings(config, mode=CrawlMode.ENQUEUE)
    assert enqueue["SCHEDULER"] == "crawler.distributed.schedulers.EnqueueScheduler"
    assert enqueue["ITEM_PIPELINES"] == {}
    local = build_settings(Config())
    assert "SCHEDULER" not in local and "VEILLE_REDIS_URL" not in local


def test_distributed_mode_refuses_a_sqlite_database_or_no_redis() -> None:
    assert distributed_config().distributed_problem() is None
    sqlite = Config(distributed=DistributedConfig(redis_url="redis://127.0.0.1:6379/0"))
    assert "SQLite" in (sqlite.distributed_problem() or "")
    assert "redis_url" in (Config().distributed_problem() or "")
    with pytest.raises(ValueError, match="twice"):
        DistributedConfig(heartbeat="10s", dead_after="15s")
    with pytest.raises(ValueError, match="Redis URL"):
        DistributedConfig(redis_url="http://redis.example")
