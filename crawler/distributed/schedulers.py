"""Scrapy schedulers of the distributed mode, built on scrapy-redis's ``Scheduler``.

- :class:`EnqueueScheduler` (``veille crawl --distributed``, the service): every request the
  source spider's ``start()`` makes goes to the shared queue, none is taken, so the crawl
  ends as soon as its sources are enqueued.
- :class:`WorkerScheduler` (``veille worker``): takes requests from the shared queue into
  flight (:class:`crawler.distributed.frontier.Frontier`), forgets them once their work is
  done (:mod:`crawler.distributed.inflight`), beats, recovers dead workers' requests, keeps
  the spider open when idle, or lets it close with ``--until-idle`` once the whole frontier
  is quiet.

Both keep scrapy-redis's queue and dupefilter as they are (``SCHEDULER_PERSIST``).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Self

from redis.exceptions import RedisError
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from crawler.distributed.frontier import Frontier, FrontierKeys, new_worker_id
from crawler.distributed.inflight import FRONTIER_ID, InFlightTracker
from crawler.spiders.articles import request_failed

logger = logging.getLogger(__name__)


def _frontier(scheduler: Scheduler, crawler: Crawler, spider: Spider) -> Frontier:
    keys = FrontierKeys(crawler.settings.get("VEILLE_REDIS_PREFIX", "veille"), spider.name)
    if keys.queue != scheduler.queue.key or keys.dupefilter != scheduler.df.key:
        raise RuntimeError(
            f"scrapy-redis keys {scheduler.queue.key!r}, {scheduler.df.key!r} do not match "
            f"the frontier's {keys.queue!r}, {keys.dupefilter!r}"
        )
    return Frontier(scheduler.server, keys)


class EnqueueScheduler(Scheduler):
    """Pushes every request to the shared frontier and never takes one."""

    crawler: Crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = super().from_crawler(crawler)
        scheduler.crawler = crawler
        return scheduler

    def open(self, spider: Spider) -> None:
        super().open(spider)
        # Whoever enqueues also rescues the requests of workers that died since.
        _frontier(self, self.crawler, spider).recover_dead_workers()

    def enqueue_request(self, request: Request) -> bool:
        queued = super().enqueue_request(request)
        if queued:
            self.stats.inc_value("veille/frontier/enqueued")
        return queued

    def next_request(self) -> None:
        return None

    def has_pending_requests(self) -> bool:
        return False


class WorkerScheduler(Scheduler):
    """Takes requests from the shared frontier, and never loses one a worker held."""

    crawler: Crawler
    frontier: Frontier

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = super().from_crawler(crawler)
        scheduler._configure(crawler)
        return scheduler

    def _configure(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.worker_id = new_worker_id()
        self.heartbeat = settings.getfloat("VEILLE_WORKER_HEARTBEAT", 10.0)
        self.dead_after = settings.getfloat("VEILLE_WORKER_DEAD_AFTER", 60.0)
        self.until_idle = settings.getbool("VEILLE_UNTIL_IDLE")
        self.idle_exit = settings.getfloat("VEILLE_IDLE_EXIT", 10.0)
        self.tracker = InFlightTracker(self._done)
        self.tracker.connect(crawler)
        crawler.signals.connect(self.tracker.failed, signal=request_failed)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        self._idle_since: float | None = None
        self._beats: LoopingCall | None = None
        self._redis_trouble = False

    def open(self, spider: Spider) -> None:
        super().open(spider)
        self.frontier = _frontier(self, self.crawler, spider)
        self.frontier.beat(self.worker_id, self.dead_after)
        self.frontier.recover_dead_workers(except_id=self.worker_id)
        self._beats = LoopingCall(self._beat)
        self._beats.start(self.heartbeat, now=False)
        self.stats.set_value("veille/frontier/worker_id", self.worker_id)
        logger.info(
            "Worker %s takes requests from %s (%d queued)",
            self.worker_id,
            self.frontier.keys.queue,
            self.frontier.queued(),
        )

    def close(self, reason: str) -> None:
        if self._beats is not None and self._beats.running:
            self._beats.stop()
        if not hasattr(self, "frontier"):  # it never opened
            return
        returned = self.frontier.requeue(self.worker_id, even_if_alive=True)
        if returned:
            self.stats.inc_value("veille/frontier/returned", returned)
            logger.warning(
                "Worker %s stops (%s): %d request(s) it held went back to the frontier",
                self.worker_id,
                reason,
                returned,
            )
        super().close(reason)

    def _beat(self) -> None:
        try:
            self.frontier.beat(self.worker_id, self.dead_after)
            recovered = self.frontier.recover_dead_workers(except_id=self.worker_id)
        except RedisError as error:
            # Keep crawling what is in hand; the next beat tries again.
            if not self._redis_trouble:
                logger.error("Worker %s cannot reach Redis: %s", self.worker_id, error)
            self._redis_trouble = True
            self.stats.inc_value("veille/frontier/redis_errors")
            return
        if self._redis_trouble:
            logger.info("Worker %s reaches Redis again", self.worker_id)
            self._redis_trouble = False
        if recovered:
            self.stats.inc_value("veille/frontier/recovered", sum(recovered.values()))

    # Taking and giving back

    def next_request(self) -> Request | None:
        request_id = uuid.uuid4().hex
        data = self.frontier.take(self.worker_id, request_id)
        if data is None:
            return None
        try:
            request = self.queue._decode_request(data)
        except (ValueError, AttributeError, TypeError) as error:
            # A request from another version of Veille (a callback that no longer exists).
            logger.error("Dropped a request of the frontier that cannot be read: %s", error)
            self.stats.inc_value("veille/frontier/unreadable")
            self.frontier.finish(self.worker_id, request_id)
            return None
        self.tracker.taken(request_id, request)
        self.stats.inc_value("veille/frontier/taken")
        return request

    def enqueue_request(self, request: Request) -> bool:
        is_child = self.tracker.is_child(request)
        replaced: str | None = request.meta.pop(FRONTIER_ID, None)
        queued = super().enqueue_request(request)
        if queued:
            self.stats.inc_value("veille/frontier/enqueued")
        if is_child:
            self.tracker.enqueued(request)
        elif replaced is not None:
            self.tracker.replaced(replaced)  # a retry, or a redirect, of a request taken here
        return queued

    def _done(self, request_id: str, request: Request, failed: bool) -> None:
        self.frontier.finish(self.worker_id, request_id)
        self.stats.inc_value("veille/frontier/done")
        if failed and not request.dont_filter:
            # The database does not know this page: let the next poll ask for it again.
            self.server.srem(self.df.key, self.df.request_fingerprint(request))

    def spider_idle(self, spider: Spider, **_: Any) -> None:
        quiet = not len(self.tracker) and self.frontier.is_quiet(clear_dupefilter=True)
        if not self.until_idle or not quiet:
            self._idle_since = None
            raise DontCloseSpider
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.idle_exit:
            raise DontCloseSpider
        logger.info(
            "Worker %s: the frontier has been empty for %.0fs, nothing in flight: done",
            self.worker_id,
            now - self._idle_since,
        )
