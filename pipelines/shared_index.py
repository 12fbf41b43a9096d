"""The near-duplicate index in Redis, shared by the crawl workers of one crawl-set.

:class:`SharedNearDuplicateIndex` does what :class:`~pipelines.fingerprint.NearDuplicateIndex`
does in a crawl's memory, for every worker at once: the same LSH bands (:data:`LSH_BANDS` of
:data:`LSH_ROWS` values, keyed as ``datasketch.MinHashLSH`` keys them), the same check of the
candidates with all 128 values (:func:`~pipelines.fingerprint.best_match`). Keys under
``<prefix>:dedup:``:

- ``band:<i>:<hex>``: a set per band value: the keys of the signatures that have it;
- ``signatures``: a hash, key to serialised signature (:func:`signature_to_bytes`, 513 bytes);
- ``stored``: a sorted set, key of a stored article to the time it was stored (eviction);
- ``pending``: a sorted set, provisional key to the Redis server time it expires at;
- ``lock``: held around a worker's look-up and provisional hold (:meth:`locked`);
- ``loaded`` and ``load-lock``: the database window was loaded, and who is loading it.

*Why not datasketch's Redis storage.* ``MinHashLSH(storage_config={"type": "redis"})`` reads
one band per command: a query costs 20 round trips (``add_to_query_buffer`` pipelines each band
on its own, so 20 too), an insert 46, a removal 124 (counted by ``bench/dedup.py --redis``); it
opens a connection pool per band, keeps per band a hash naming every bucket (12 KB of Redis
memory per article, against 3.5 KB here), and its members cannot expire, so a provisional key of
a worker that died would stay forever. Here a look-up is one round trip (a Lua script: the union
of the 20 bands, then the signatures of the candidates that have not expired), a hold one (a
script that holds a key only if nobody holds it), adding, promoting or releasing a key one
pipeline, and loading the database window 500 articles per round trip (a script that names the
band sets itself). The bench, with 100,000 articles stored: a look-up 0.3-0.4 ms (median), a
worker's whole check and hold (lock, look-up, hold, unlock: 4 round trips) 1-2 ms on a loaded
2-core machine, loading the window 15 s.

Times that decide between workers (a provisional key's expiry) are the Redis server's
(``TIME`` in the scripts), so the clocks of the workers' machines do not matter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

import numpy as np
import redis

from pipelines.fingerprint import (
    DEFAULT_THRESHOLD,
    LSH_BANDS,
    LSH_ROWS,
    best_match,
    signature_from_bytes,
    signature_to_bytes,
)

if TYPE_CHECKING:
    from datasketch import LeanMinHash

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "veille"
PENDING_SECONDS = 30.0
"""How long a provisional key holds without being promoted or released: a worker that dies
holding keys blocks other workers' copies that long at most."""
LOAD_LOCK_SECONDS = 120
"""How long the load lock lasts unless renewed: a worker loading the database window renews it
after each batch, so a worker that dies loading keeps the others waiting this long at most."""
_BATCH = 1000

# KEYS: signatures hash, pending sorted set, then the band sets. Returns key, signature, key,
# signature... of the candidates that are stored or held and not expired.
_LOOKUP = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
local out = {}
for _, member in ipairs(redis.call('SUNION', unpack(KEYS, 3))) do
  local expires = redis.call('ZSCORE', KEYS[2], member)
  if not expires or tonumber(expires) > now then
    local signature = redis.call('HGET', KEYS[1], member)
    if signature then
      out[#out + 1] = member
      out[#out + 1] = signature
    end
  end
end
return out
"""

# KEYS: signatures hash, pending sorted set, then the band sets. ARGV: key, signature, seconds.
# Holds the key unless it is stored or held (a held key that expired counts as free).
_HOLD = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1e6
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local expires = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not expires or tonumber(expires) > now then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[1])
end
return 1
"""

# KEYS: signatures hash, stored sorted set. ARGV: namespace, bands, rows, then key, serialised
# signature, time stored, for each article. The band sets are named as band_keys() names them:
# the values of a band as big-endian hex (serialised, they are little-endian after a format
# byte). Computing them here spares the client 20 commands per article.
_LOAD = """
local namespace, bands, rows = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV, 3 do
  local key, signature = ARGV[i], ARGV[i + 1]
  redis.call('HSET', KEYS[1], key, signature)
  redis.call('ZADD', KEYS[2], 'NX', ARGV[i + 2], key)
  for band = 0, bands - 1 do
    local hex = {}
    for value = band * rows, (band + 1) * rows - 1 do
      local b1, b2, b3, b4 = string.byte(signature, 2 + 4 * value, 5 + 4 * value)
      hex[#hex + 1] = string.format('%02x%02x%02x%02x', b4, b3, b2, b1)
    end
    redis.call('SADD', namespace .. ':band:' .. band .. ':' .. table.concat(hex), key)
  end
end
return (#ARGV - 3) / 3
"""
_LOAD_BATCH = 500
"""Articles per call of the load script (Redis runs nothing else meanwhile: a few ms)."""


class SharedNearDuplicateIndex:
    """Signatures by key in Redis, with LSH bands to find the candidates; see the module."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = DEFAULT_PREFIX,
        threshold: float = DEFAULT_THRESHOLD,
        bands: tuple[int, int] = (LSH_BANDS, LSH_ROWS),
        pending_seconds: float = PENDING_SECONDS,
    ) -> None:
        self.client = client
        self.threshold = threshold
        self.pending_seconds = pending_seconds
        self.namespace = f"{prefix}:dedup"
        self._bands, self._rows = bands
        self._signatures = f"{self.namespace}:signatures"
        self._stored = f"{self.namespace}:stored"
        self._pending = f"{self.namespace}:pending"
        self._lookup = client.register_script(_LOOKUP)
        self._hold = client.register_script(_HOLD)
        self._load = client.register_script(_LOAD)
        self._load_lock: redis.lock.Lock | None = None

    @classmethod
    def from_url(
        cls, url: str, prefix: str = DEFAULT_PREFIX, threshold: float = DEFAULT_THRESHOLD
    ) -> Self:
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        return cls(client, prefix, threshold)

    # --- keys -------------------------------------------------------------------------------

    def band_keys(self, signature: LeanMinHash) -> list[str]:
        """The set of each band value, as ``MinHashLSH`` hashes a band (big-endian values)."""
        values = np.asarray(signature.hashvalues, dtype=np.uint32)
        if len(values) < self._bands * self._rows:
            raise ValueError(f"a signature of {len(values)} values for {self._bands} bands")
        return [
            f"{self.namespace}:band:{band}:"
            + values[band * self._rows : (band + 1) * self._rows].astype(">u4").tobytes().hex()
            for band in range(self._bands)
        ]

    def _bands_of(self, data: bytes) -> list[str]:
        return self.band_keys(signature_from_bytes(data))

    # --- look-up and provisional keys ---------------------------------------------------------

    def candidates(self, signature: LeanMinHash) -> dict[str, LeanMinHash]:
        """Stored and held keys that share a band with ``signature`` (one round trip)."""
        reply = self._lookup(keys=[self._signatures, self._pending, *self.band_keys(signature)])
        found: dict[str, LeanMinHash] = {}
        for key, data in zip(reply[::2], reply[1::2], strict=True):
            try:
                found[key.decode()] = signature_from_bytes(data)
            except ValueError:  # another format: not comparable
                continue
        return dict(sorted(found.items()))

    def find_match(
        self, signature: LeanMinHash, threshold: float | None = None
    ) -> tuple[str, float] | None:
        """The key most similar to ``signature``, with its similarity, if at least the
        threshold (the index's unless given)."""
        found = self.candidates(signature)
        return best_match(signature, found, self.threshold if threshold is None else threshold)

    @contextmanager
    def locked(self, timeout: float = 10.0) -> Iterator[None]:
        """Other workers neither look up nor hold while this runs: a look-up and the hold that
        follows it are one step for all workers. Held ``timeout`` seconds at most."""
        lock = self.client.lock(
            f"{self.namespace}:lock", timeout=timeout, sleep=0.002, blocking_timeout=timeout
        )
        if not lock.acquire():
            raise TimeoutError(f"{self.namespace}:lock not acquired within {timeout} s")
        try:
            yield
        finally:
            lock.release()

    def hold(self, key: str, signature: LeanMinHash) -> bool:
        """Hold ``key`` provisionally (for :attr:`pending_seconds`); False if the key is
        stored, or held by anyone, already."""
        data = signature_to_bytes(signature)
        held = self._hold(
            keys=[self._signatures, self._pending, *self.band_keys(signature)],
            args=[key, data, self.pending_seconds],
        )
        return bool(held)

    def promote(self, held: str, key: str, signature: LeanMinHash, stored_at: datetime) -> None:
        """Replace the provisional key ``held`` with ``key``, stored at ``stored_at``; other
        workers see one or the other, never neither."""
        bands = self.band_keys(signature)
        with self.client.pipeline(transaction=True) as pipe:
            self._remove_commands(pipe, held, bands)
            self._add_commands(pipe, key, signature_to_bytes(signature), bands, stored_at)
            pipe.execute()

    # --- stored keys ------------------------------------------------------------------------

    def add(self, key: str, signature: LeanMinHash, stored_at: datetime | None = None) -> None:
        """Store ``signature`` under ``key`` (a stored article); adding it again changes
        nothing."""
        with self.client.pipeline(transaction=True) as pipe:
            self._add_commands(
                pipe,
                key,
                signature_to_bytes(signature),
                self.band_keys(signature),
                stored_at or datetime.now(UTC),
            )
            pipe.execute()

    def add_many(self, entries: Iterable[tuple[str, bytes, datetime]]) -> tuple[int, int]:
        """Store serialised signatures, hundreds per round trip; (added, refused for another
        format)."""
        added = refused = 0
        batch: list[str | bytes | float] = []
        for key, data, stored_at in entries:
            try:
                signature_from_bytes(data)
            except ValueError:
                refused += 1
                continue
            batch += [key, data, stored_at.timestamp()]
            added += 1
            if added % _LOAD_BATCH == 0:
                self._load_batch(batch)
                batch = []
        if batch:
            self._load_batch(batch)
        return added, refused

    def _load_batch(self, batch: list[str | bytes | float]) -> None:
        self._load(
            keys=[self._signatures, self._stored],
            args=[self.namespace, self._bands, self._rows, *batch],
        )
        if self._load_lock is not None:  # loading goes on: keep other workers waiting
            self._load_lock.reacquire()

    def remove(self, key: str) -> None:
        """Forget ``key``, stored or held; raises KeyError if it is not there."""
        data = self.client.hget(self._signatures, key)
        if data is None:
            raise KeyError(key)
        with self.client.pipeline(transaction=True) as pipe:
            self._remove_commands(pipe, key, self._bands_of(data))
            pipe.execute()

    def release(self, key: str, signature: LeanMinHash) -> None:
        """Forget the provisional key ``key`` whose signature is ``signature``."""
        with self.client.pipeline(transaction=True) as pipe:
            self._remove_commands(pipe, key, self.band_keys(signature))
            pipe.execute()

    def _add_commands(
        self, pipe: redis.client.Pipeline, key: str, data: bytes, bands: list[str], at: datetime
    ) -> None:
        pipe.hset(self._signatures, key, data)
        pipe.zadd(self._stored, {key: at.timestamp()}, nx=True)
        for band in bands:
            pipe.sadd(band, key)

    def _remove_commands(self, pipe: redis.client.Pipeline, key: str, bands: list[str]) -> None:
        pipe.hdel(self._signatures, key)
        pipe.zrem(self._stored, key)
        pipe.zrem(self._pending, key)
        for band in bands:
            pipe.srem(band, key)

    # --- the window ---------------------------------------------------------------------------

    @contextmanager
    def loading(self) -> Iterator[bool]:
        """While the body runs, no other worker loads or evicts; yields whether the database
        window still has to be loaded (the first worker of a crawl-set loads it; call
        :meth:`mark_loaded` once done)."""
        lock = self.client.lock(f"{self.namespace}:load-lock", timeout=LOAD_LOCK_SECONDS, sleep=0.2)
        lock.acquire()
        self._load_lock = lock
        try:
            yield not self.client.exists(f"{self.namespace}:loaded")
        finally:
            self._load_lock = None
            lock.release()

    def mark_loaded(self, at: datetime) -> None:
        self.client.set(f"{self.namespace}:loaded", at.isoformat())

    def evict(self, before: datetime) -> int:
        """Forget the stored keys stored before ``before``, and the provisional keys that
        expired (their workers died); how many keys were forgotten."""
        seconds, microseconds = self.client.time()
        forgotten = self._forget(self._stored, before.timestamp())
        return forgotten + self._forget(self._pending, seconds + microseconds / 1e6)

    def _forget(self, sorted_set: str, until: float) -> int:
        forgotten = 0
        while keys := self.client.zrangebyscore(sorted_set, "-inf", until, start=0, num=_BATCH):
            signatures = self.client.hmget(self._signatures, keys)
            with self.client.pipeline(transaction=True) as pipe:
                for key, data in zip(keys, signatures, strict=True):
                    try:
                        bands = self._bands_of(data) if data is not None else []
                    except ValueError:
                        bands = []
                    self._remove_commands(pipe, key.decode(), bands)
                pipe.execute()
            forgotten += len(keys)
        return forgotten

    # --- sizes --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.client.hlen(self._signatures))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.client.hexists(self._signatures, key))

    def is_held(self, key: str) -> bool:
        """Whether ``key`` is a provisional key that has not expired."""
        expires = self.client.zscore(self._pending, key)
        seconds, microseconds = self.client.time()
        return expires is not None and expires > seconds + microseconds / 1e6

    def delete_all(self) -> int:
        """Delete every key of this index (tests, and a reset by hand); how many."""
        deleted = 0
        for batch in _batched(self.client.scan_iter(f"{self.namespace}:*", count=1000)):
            deleted += int(self.client.delete(*batch))
        return deleted


def _batched(keys: Iterable[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
