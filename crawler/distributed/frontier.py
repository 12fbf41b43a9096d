"""The shared frontier in Redis: scrapy-redis's queue and dupefilter, plus requests in flight.

scrapy-redis pops a request from the shared queue and forgets it: a worker killed while it
holds requests would lose them. Here a worker takes a request and records it in its own
in-flight hash in one atomic step (a Lua script), and deletes the record once the request's
work is done (:mod:`crawler.distributed.inflight` decides when). Each worker refreshes a
heartbeat key with a time to live; any worker, or an enqueue, that finds a worker whose
heartbeat has expired moves that worker's in-flight requests back to the queue, again in one
script, so that two workers never both put them back.

Keys, under the configured prefix (``veille`` by default)::

    <prefix>:<spider>:requests          scrapy-redis's priority queue (sorted set)
    <prefix>:<spider>:dupefilter        scrapy-redis's request fingerprints (set)
    <prefix>:workers                    ids of the workers that took requests (set)
    <prefix>:worker:<id>:alive          heartbeat, expires after ``dead_after``
    <prefix>:worker:<id>:inflight       requests taken: id -> "<score>\\n<serialized request>"

A request in flight is stored exactly as the queue stores it (scrapy-redis's pickled
``Request.to_dict``), with its queue score, so putting it back is a plain ``ZADD``; it goes
back to the queue without passing the dupefilter, which has seen it already.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# KEYS: queue, inflight. ARGV: request id. The popped member, or nil when the queue is empty.
_TAKE = """
local popped = redis.call('ZPOPMIN', KEYS[1], 1)
if #popped == 0 then return false end
redis.call('HSET', KEYS[2], ARGV[1], popped[2] .. '\\n' .. popped[1])
return popped[1]
"""

# KEYS: workers, alive, inflight, queue. ARGV: worker id, "1" to requeue even if alive.
# -1 when the worker is alive, else how many requests went back to the queue.
_REQUEUE = """
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local entries = redis.call('HGETALL', KEYS[3])
local moved = 0
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local cut = string.find(value, '\\n', 1, true)
  redis.call('ZADD', KEYS[4], string.sub(value, 1, cut - 1), string.sub(value, cut + 1))
  moved = moved + 1
end
redis.call('DEL', KEYS[3])
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[1], ARGV[1])
return moved
"""

# KEYS: queue, dupefilter, then every worker's inflight hash. ARGV: "1" to clear the
# dupefilter when quiet. 1 when the queue is empty and nothing is in flight anywhere.
_QUIET = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for i = 3, #KEYS do
  if redis.call('HLEN', KEYS[i]) > 0 then return 0 end
end
if ARGV[1] == '1' then redis.call('DEL', KEYS[2]) end
return 1
"""


@dataclass(frozen=True)
class FrontierKeys:
    """The Redis keys of one deployment (``prefix``) and spider."""

    prefix: str
    spider: str = "sources"

    @property
    def queue(self) -> str:
        return f"{self.prefix}:{self.spider}:requests"

    @property
    def dupefilter(self) -> str:
        return f"{self.prefix}:{self.spider}:dupefilter"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def alive(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}:alive"

    def inflight(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}:inflight"


def redis_problem(url: str) -> str | None:
    """None if Redis answers at ``url``, else why not, in one line."""
    try:
        client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        client.ping()
        client.close()
    except (RedisError, ValueError) as error:
        return f"cannot reach Redis at {url}: {error}"
    return None


def new_worker_id() -> str:
    """Host, process id and a random part: unique across machines and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Frontier:
    """The Redis operations of the frontier that scrapy-redis does not have: taking a request
    into flight, finishing it, heartbeats, and recovering the requests of dead workers."""

    def __init__(self, server: Redis, keys: FrontierKeys) -> None:
        self.server = server
        self.keys = keys
        self._take = server.register_script(_TAKE)
        self._requeue = server.register_script(_REQUEUE)
        self._quiet = server.register_script(_QUIET)

    def take(self, worker_id: str, request_id: str) -> bytes | None:
        """Pop the best request and record it as in flight for this worker, atomically."""
        popped = self._take(
            keys=[self.keys.queue, self.keys.inflight(worker_id)], args=[request_id]
        )
        return bytes(popped) if popped else None

    def finish(self, worker_id: str, request_id: str) -> bool:
        """The request's work is done: forget it. False if it was not (or no longer) recorded."""
        return bool(self.server.hdel(self.keys.inflight(worker_id), request_id))

    def in_flight(self, worker_id: str) -> int:
        return int(self.server.hlen(self.keys.inflight(worker_id)))

    def queued(self) -> int:
        return int(self.server.zcard(self.keys.queue))

    def beat(self, worker_id: str, dead_after_seconds: float) -> None:
        """Say this worker is alive for the next ``dead_after_seconds``."""
        pipe = self.server.pipeline()
        pipe.sadd(self.keys.workers, worker_id)
        pipe.set(self.keys.alive(worker_id), "1", px=max(1, int(dead_after_seconds * 1000)))
        pipe.execute()

    def workers(self) -> list[str]:
        return sorted(member.decode() for member in self.server.smembers(self.keys.workers))

    def requeue(self, worker_id: str, *, even_if_alive: bool = False) -> int:
        """Move a dead worker's requests in flight back to the queue; -1 if it is alive.

        With ``even_if_alive``, a worker that is stopping hands its own requests back and
        unregisters.
        """
        return int(
            self._requeue(
                keys=[
                    self.keys.workers,
                    self.keys.alive(worker_id),
                    self.keys.inflight(worker_id),
                    self.keys.queue,
                ],
                args=[worker_id, "1" if even_if_alive else "0"],
            )
        )

    def recover_dead_workers(self, except_id: str | None = None) -> dict[str, int]:
        """Requeue the requests of every worker whose heartbeat expired: {worker id: count}."""
        recovered = {}
        for worker_id in self.workers():
            if worker_id == except_id:
                continue
            moved = self.requeue(worker_id)
            if moved >= 0:
                recovered[worker_id] = moved
                logger.warning(
                    "Worker %s stopped answering: %d request(s) it held went back to the frontier",
                    worker_id,
                    moved,
                )
        return recovered

    def is_quiet(self, *, clear_dupefilter: bool = False) -> bool:
        """True when the queue is empty and no registered worker has a request in flight.

        Then no request exists outside a process's memory, the database knows every article,
        and the dupefilter (which only keeps two workers from fetching one page at once) can
        be emptied safely with ``clear_dupefilter``: it does not grow forever.
        """
        inflight = [self.keys.inflight(worker_id) for worker_id in self.workers()]
        keys = [self.keys.queue, self.keys.dupefilter, *inflight]
        return bool(self._quiet(keys=keys, args=["1" if clear_dupefilter else "0"]))
