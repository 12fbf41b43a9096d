"""Politeness that holds across crawl workers: global per-site limits kept in Redis.

Scrapy's own politeness (DOWNLOAD_DELAY, AutoThrottle, CONCURRENT_REQUESTS_PER_DOMAIN,
``crawler.retry``'s slowdown after 429/503) lives in each process's download slots, so N
workers would send N times what one site agreed to. Here every request first asks Redis,
atomically (one Lua script, on Redis' clock), whether its site may take it now:

- a least gap between two requests to the site, across all workers: the largest current
  delay that any worker reports for the site (its slot's delay, raised by AutoThrottle or by
  a 429/503), so a slowdown one worker learns holds for all of them;
- at most CONCURRENT_REQUESTS_PER_DOMAIN requests in flight to the site, across all workers:
  a semaphore whose leases expire, so the leases of a worker that dies free themselves.

A site is Scrapy's download slot key (the hostname). If Redis is unreachable, the worker
logs it once, counts it, and keeps crawling on its own slots' politeness until Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

logger = logging.getLogger(__name__)

LEASE_KEY = "veille_politeness_lease"
"""Request meta: the (site, lease id) this request holds."""

_REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

# KEYS: 1 leases (zset lease id -> expiry ms), 2 last grant ("ms jitter-draw"),
#       3 delays (hash worker -> "delay-ms expiry-ms")
# ARGV: 1 worker, 2 its delay ms, 3 report ttl ms, 4 concurrency, 5 lease id,
#       6 lease ttl ms, 7 poll ms, 8 jitter (fraction), 9 jitter draw in [0, 1)
# Returns {granted 0|1, wait ms, gap ms}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local report_ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. (now + report_ttl))
if redis.call('PTTL', KEYS[3]) < report_ttl then redis.call('PEXPIRE', KEYS[3], report_ttl) end
local gap = 0
local reports = redis.call('HGETALL', KEYS[3])
for i = 1, #reports, 2 do
  local d, e = string.match(reports[i + 1], '^(%d+) (%d+)$')
  if d == nil or tonumber(e) <= now then
    redis.call('HDEL', KEYS[3], reports[i])
  elseif tonumber(d) > gap then
    gap = tonumber(d)
  end
end
local last = redis.call('GET', KEYS[2])
if last then
  local at, draw = string.match(last, '^(%d+) ([%d.]+)$')
  if at then
    local due = tonumber(at) + math.ceil(gap * (1 + tonumber(ARGV[8]) * tonumber(draw)))
    if now < due then return {0, due - now, gap} end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, math.min(tonumber(first[2]) - now, tonumber(ARGV[7]))), gap}
end
local lease_ttl = tonumber(ARGV[6])
redis.call('ZADD', KEYS[1], now + lease_ttl, ARGV[5])
if redis.call('PTTL', KEYS[1]) < lease_ttl then redis.call('PEXPIRE', KEYS[1], lease_ttl) end
local keep = math.ceil(gap * (1 + tonumber(ARGV[8]))) + 1000
redis.call('SET', KEYS[2], now .. ' ' .. ARGV[9], 'PX', keep)
return {1, 0, gap}
"""

# KEYS: 1 delays hash. ARGV: 1 worker, 2 delay ms, 3 report ttl ms.
_REPORT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local report_ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + report_ttl))
if redis.call('PTTL', KEYS[1]) < report_ttl then redis.call('PEXPIRE', KEYS[1], report_ttl) end
return 1
"""


def _ms(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1000))


@dataclass(frozen=True, slots=True)
class Decision:
    """What Redis answered: a lease, or how long to wait before asking again."""

    granted: bool
    wait: float
    """Seconds before asking again (0 when granted)."""
    gap: float
    """The least gap between two requests to the site now in force, in seconds."""


@dataclass(frozen=True, slots=True)
class Lease:
    site: str
    lease_id: str
    waited: float
    """Seconds spent waiting for it."""


class PolitenessGate:
    """The Redis side: per-site gap and in-flight cap shared by every worker.

    ``worker_id`` names this worker's delay report; reports expire ``report_ttl`` seconds
    after they were last renewed (at least twice the delay reported), so the slowdown of a
    worker that stopped asking does not hold forever.
    """

    def __init__(
        self,
        client: Redis,
        prefix: str,
        worker_id: str,
        *,
        report_ttl: float = 60.0,
        poll: float = 0.1,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.worker_id = worker_id
        self.report_ttl = report_ttl
        self.poll = poll
        self._acquire = client.register_script(_ACQUIRE)
        self._report = client.register_script(_REPORT)

    def keys(self, site: str) -> list[str]:
        base = f"{self.prefix}:politeness:{site}"
        return [f"{base}:leases", f"{base}:last", f"{base}:delays"]

    def _report_ttl_ms(self, delay: float) -> int:
        return _ms(max(self.report_ttl, 2 * delay))

    async def try_acquire(
        self,
        site: str,
        *,
        delay: float,
        concurrency: int,
        lease_id: str,
        lease_ttl: float,
        jitter: float = 0.0,
    ) -> Decision:
        """One atomic attempt: report ``delay`` for this worker, then take a lease if allowed."""
        granted, wait_ms, gap_ms = await self._acquire(
            keys=self.keys(site),
            args=[
                self.worker_id,
                _ms(delay),
                self._report_ttl_ms(delay),
                max(1, concurrency),
                lease_id,
                _ms(lease_ttl),
                _ms(self.poll),
                max(0.0, jitter),
                f"{random.random():.4f}",  # spacing, not security
            ],
        )
        return Decision(bool(granted), int(wait_ms) / 1000, int(gap_ms) / 1000)

    async def acquire(
        self,
        site: str,
        *,
        delay: float,
        concurrency: int,
        lease_ttl: float,
        jitter: float = 0.0,
    ) -> Lease:
        """Wait (asyncio.sleep, never blocking the loop) until the site may take a request."""
        lease_id = f"{self.worker_id}:{uuid.uuid4().hex[:12]}"
        waited = 0.0
        while True:
            decision = await self.try_acquire(
                site,
                delay=delay,
                concurrency=concurrency,
                lease_id=lease_id,
                lease_ttl=lease_ttl,
                jitter=jitter,
            )
            if decision.granted:
                return Lease(site, lease_id, waited)
            await asyncio.sleep(decision.wait)
            waited += decision.wait

    async def release(self, lease: Lease) -> None:
        await self.client.zrem(self.keys(lease.site)[0], lease.lease_id)

    async def report_delay(self, site: str, delay: float) -> None:
        """Share this worker's delay for ``site`` now, without asking for a lease."""
        await self._report(
            keys=[self.keys(site)[2]],
            args=[self.worker_id, _ms(delay), self._report_ttl_ms(delay)],
        )


class GlobalPolitenessMiddleware:
    """Downloader middleware: each request waits for its site's global gap and cap.

    Enabled in distributed crawls at priority 590 (after retries, so a retried request asks
    again). ``VEILLE_REDIS_URL`` unset means a single-process crawl: NotConfigured.
    """

    LEASE_MARGIN = 30.0
    """Seconds a lease outlives the download timeout before Redis frees it."""
    REDIS_RETRY = 30.0
    """Seconds between attempts to reach Redis again after it failed."""
    PUBLISH_EVERY = 1.0
    """Seconds between checks for slot delays raised by AutoThrottle or a 429/503."""

    def __init__(self, crawler: Crawler, client: Redis, prefix: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.client = client
        self.redis_url = settings["VEILLE_REDIS_URL"]
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.gate = PolitenessGate(client, prefix, worker_id)
        self.download_delay = settings.getfloat("DOWNLOAD_DELAY")
        self.download_timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.concurrency = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        self.jitter = settings.getfloat("DOWNLOAD_DELAY_JITTER")
        self._leases: dict[str, Lease] = {}
        self._site_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._published: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._publisher: asyncio.Task[None] | None = None
        self._redis_down_until: float | None = None
        crawler.signals.connect(self._reached_downloader, signal=signals.request_reached_downloader)
        crawler.signals.connect(self._left_downloader, signal=signals.request_left_downloader)
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("VEILLE_REDIS_URL")
        if not url:
            raise NotConfigured("VEILLE_REDIS_URL is not set: politeness stays per worker")
        prefix = crawler.settings.get("VEILLE_REDIS_PREFIX") or "veille"
        # Short timeouts: a Redis that stops answering must not stall the crawl.
        client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(crawler, client, prefix)

    # -- the request path ---------------------------------------------------------------

    async def process_request(self, request: Request) -> None:
        if self._is_redis_down():
            self._count("local_only")
            return None
        site = self._site(request)
        timeout = float(request.meta.get("download_timeout") or self.download_timeout)
        try:
            async with self._one_waiter_per_site(site):
                lease = await self.gate.acquire(
                    site,
                    delay=self._local_delay(site),
                    concurrency=self.concurrency,
                    lease_ttl=timeout + self.LEASE_MARGIN,
                    jitter=self.jitter,
                )
        except _REDIS_DOWN as error:
            self._redis_failed(error)
            self._count("local_only")
            return None
        self._redis_answered()
        self._leases[lease.lease_id] = lease
        request.meta[LEASE_KEY] = lease.lease_id
        self._count("granted")
        if lease.waited:
            self._count("waited")
            self._count("wait_seconds", round(lease.waited, 3))
        return None

    async def process_response(self, request: Request, response: Response) -> Response:
        # Downloaded requests were released when they left the downloader; this catches
        # responses that never reached it (a cache hit from a later middleware).
        await self._release(request.meta.get(LEASE_KEY))
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        await self._release(request.meta.get(LEASE_KEY))
        return None

    # -- signals ------------------------------------------------------------------------

    def _reached_downloader(self, request: Request, spider: Spider) -> None:
        lease_id = request.meta.get(LEASE_KEY)
        if lease_id not in self._leases:
            return
        slot = self._downloader().slots.get(request.meta.get("download_slot", ""))
        if slot is not None:
            # The global gap already spaced this request; the slot's own (jittered) delay
            # would send it later than granted, next to another worker's request.
            slot.lastseen = 0.0

    def _left_downloader(self, request: Request, spider: Spider) -> None:
        # Released here, not in process_response: a redirect returned by a middleware
        # nearer the downloader ends the process_response chain before it reaches us.
        lease_id = request.meta.get(LEASE_KEY)
        if lease_id in self._leases:
            self._spawn(self._release(lease_id))

    def _spider_opened(self, spider: Spider) -> None:
        self._publisher = asyncio.get_running_loop().create_task(self._publish_slowdowns())
        self._publisher.add_done_callback(self._publisher_stopped)

    def _publisher_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "Sharing slot slowdowns stopped: %r", task.exception(), exc_info=task.exception()
            )

    async def _spider_closed(self, spider: Spider) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for lease_id in list(self._leases):
            await self._release(lease_id)
        await self.client.aclose()

    # -- helpers ------------------------------------------------------------------------

    def _downloader(self) -> Any:
        engine = self.crawler.engine
        assert engine is not None, "downloader middleware runs inside an engine"
        return engine.downloader

    def _site(self, request: Request) -> str:
        return str(self._downloader().get_slot_key(request))

    def _local_delay(self, site: str) -> float:
        """The site's delay as this worker knows it: its slot's (AutoThrottle, backoff) or
        the delay a new slot would get (DOWNLOAD_SLOTS, AutoThrottle's start delay)."""
        downloader = self._downloader()
        slot = downloader.slots.get(site)
        if slot is not None:
            return float(slot.delay)
        default = float(getattr(downloader, "_delay", self.download_delay))
        return float(downloader.per_slot_settings.get(site, {}).get("delay", default))

    @asynccontextmanager
    async def _one_waiter_per_site(self, site: str) -> AsyncIterator[None]:
        """Requests of this worker for one site queue here, so one of them polls Redis."""
        lock, users = self._site_locks.setdefault(site, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._site_locks[site]

    async def _release(self, lease_id: str | None) -> None:
        lease = self._leases.pop(lease_id, None) if lease_id else None
        if lease is None or self._is_redis_down():
            return
        try:
            await self.gate.release(lease)
        except _REDIS_DOWN as error:
            self._redis_failed(error)  # the lease expires on its own

    async def _publish_slowdowns(self) -> None:
        """Share at once a slot delay raised above what this worker last told Redis."""
        while True:
            await asyncio.sleep(self.PUBLISH_EVERY)
            if self._is_redis_down():
                continue
            for site, slot in list(self._downloader().slots.items()):
                delay = float(slot.delay)
                if delay <= self._published.get(site, self.download_delay):
                    self._published[site] = delay
                    continue
                try:
                    await self.gate.report_delay(site, delay)
                except _REDIS_DOWN as error:
                    self._redis_failed(error)
                    break
                self._published[site] = delay
                self._count("slowdowns_shared")
            for site in set(self._published) - set(self._downloader().slots):
                del self._published[site]

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _is_redis_down(self) -> bool:
        if self._redis_down_until is None:
            return False
        return asyncio.get_running_loop().time() < self._redis_down_until

    def _redis_failed(self, error: BaseException) -> None:
        self._count("redis_unavailable")
        if self._redis_down_until is None:
            logger.warning(
                "Redis unreachable at %s (%s): politeness falls back to this worker's own "
                "limits; trying again every %.0fs",
                self.redis_url,
                error,
                self.REDIS_RETRY,
            )
        self._redis_down_until = asyncio.get_running_loop().time() + self.REDIS_RETRY

    def _redis_answered(self) -> None:
        if self._redis_down_until is not None:
            logger.info("Redis reachable again: per-site limits are global again")
            self._redis_down_until = None

    def _count(self, event: str, value: float = 1) -> None:
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value(f"veille/politeness/{event}", value)
