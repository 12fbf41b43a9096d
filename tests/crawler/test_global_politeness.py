"""Global per-site politeness across crawl workers (crawler.distributed.politeness).

The Lua script is tested on the real Redis at 127.0.0.1:6379 (a unique key prefix per test,
deleted afterwards). The real test runs two Scrapy crawls in two processes against one local
server that logs arrival times and requests in flight.

Run as a script (``python tests/crawler/test_global_politeness.py ...``), this file is the
crawl that those processes run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import scrapy
from redis.asyncio import Redis
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.distributed.politeness import GlobalPolitenessMiddleware, Lease, PolitenessGate

REPO_ROOT = Path(__file__).resolve().parents[2]
MIDDLEWARE = "crawler.distributed.politeness.GlobalPolitenessMiddleware"
SITE = "news.example"


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return redis_prefix


def run(scenario: Any) -> Any:
    return asyncio.run(scenario)


async def gates(url: str, prefix: str, *names: str, **options: Any) -> list[PolitenessGate]:
    client = Redis.from_url(url)
    return [PolitenessGate(client, prefix, name, **options) for name in names]


# -- the script ---------------------------------------------------------------------------


def test_the_gap_holds_between_workers(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[bool, bool, float, float, float]:
        a, b = await gates(redis_url, prefix, "a", "b")
        lease = dict(concurrency=5, lease_ttl=10.0)
        first = await a.try_acquire(SITE, delay=0.3, lease_id="a1", **lease)
        second = await b.try_acquire(SITE, delay=0.3, lease_id="b1", **lease)
        started = time.monotonic()
        await b.acquire(SITE, delay=0.3, **lease)
        elapsed = time.monotonic() - started
        await a.client.aclose()
        return first.granted, second.granted, second.wait, second.gap, elapsed

    first, second, wait, gap, elapsed = run(scenario())
    assert first and not second
    assert gap == 0.3
    assert 0.2 < wait <= 0.3
    assert elapsed >= 0.2  # b went only once a's gap had passed


def test_requests_in_flight_are_capped_across_workers(redis_url: str, prefix: str) -> None:
    async def scenario() -> list[bool]:
        a, b = await gates(redis_url, prefix, "a", "b")
        lease = dict(delay=0.0, concurrency=2, lease_ttl=10.0)
        outcomes = [
            (await a.try_acquire(SITE, lease_id="a1", **lease)).granted,
            (await b.try_acquire(SITE, lease_id="b1", **lease)).granted,
            (await b.try_acquire(SITE, lease_id="b2", **lease)).granted,
            (await a.try_acquire("other.example", lease_id="a2", **lease)).granted,
        ]
        await a.release(Lease(SITE, "a1", 0.0))
        outcomes.append((await b.try_acquire(SITE, lease_id="b2", **lease)).granted)
        outcomes.append((await a.try_acquire(SITE, lease_id="a3", **lease)).granted)
        await a.client.aclose()
        return outcomes

    # two leases, the third refused; another site is not affected; a release frees one place
    assert run(scenario()) == [True, True, False, True, True, False]


def test_the_leases_of_a_dead_worker_expire(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[bool, bool, float]:
        dead, alive = await gates(redis_url, prefix, "dead", "alive")
        lease = dict(delay=0.0, concurrency=1)
        taken = await dead.try_acquire(SITE, lease_id="d1", lease_ttl=0.3, **lease)
        refused = await alive.try_acquire(SITE, lease_id="l1", lease_ttl=10.0, **lease)
        started = time.monotonic()
        await alive.acquire(SITE, lease_ttl=10.0, **lease)  # "dead" never releases
        elapsed = time.monotonic() - started
        await dead.client.aclose()
        return taken.granted, refused.granted, elapsed

    taken, refused, elapsed = run(scenario())
    assert taken and not refused
    assert 0.15 < elapsed < 2.0


def test_a_slowdown_one_worker_learns_holds_for_all(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[float, float, float, float]:
        slowed, other = await gates(redis_url, prefix, "slowed", "other", report_ttl=0.2)
        await slowed.report_delay(SITE, 0.4)  # e.g. after a 429: kept max(0.2, 2 x 0.4) s
        lease = dict(concurrency=5, lease_ttl=10.0)
        await other.try_acquire(SITE, delay=0.05, lease_id="o1", **lease)
        during = await other.try_acquire(SITE, delay=0.05, lease_id="o2", **lease)
        await asyncio.sleep(0.9)  # the slowed worker stopped reporting: its report expires
        await other.try_acquire(SITE, delay=0.05, lease_id="o3", **lease)
        after = await other.try_acquire(SITE, delay=0.05, lease_id="o4", **lease)
        await slowed.client.aclose()
        return during.gap, during.wait, after.gap, after.wait

    during_gap, during_wait, after_gap, after_wait = run(scenario())
    assert during_gap == 0.4 and 0.3 < during_wait <= 0.4
    assert after_gap == 0.05 and after_wait <= 0.05


def test_jitter_only_lengthens_the_gap(redis_url: str, prefix: str) -> None:
    async def scenario() -> list[float]:
        (gate,) = await gates(redis_url, prefix, "a")
        waits = []
        for n in range(6):
            lease = dict(delay=0.2, concurrency=5, lease_ttl=10.0, jitter=0.5)
            await gate.try_acquire(f"site{n}.example", lease_id=f"x{n}", **lease)
            waits.append((await gate.try_acquire(f"site{n}.example", lease_id="y", **lease)).wait)
        await gate.client.aclose()
        return waits

    waits = run(scenario())
    assert all(0.18 <= wait <= 0.3 for wait in waits), waits
    assert len(set(waits)) > 1, waits


def test_without_a_redis_url_the_middleware_is_off() -> None:
    with pytest.raises(NotConfigured):
        GlobalPolitenessMiddleware.from_crawler(get_crawler(settings_dict={}))


# -- two crawl processes against one server ---------------------------------------------


@dataclass
class ServerLog:
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gaps(self) -> list[float]:
        times = sorted(at for at, _ in self.arrivals)
        return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.fixture
def server() -> Iterator[tuple[str, ServerLog]]:
    """A site on 127.0.0.1 whose pages take 0.1 s; it logs arrivals and requests in flight."""
    log = ServerLog()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with log.lock:
                log.arrivals.append((time.monotonic(), self.path))
                log.in_flight += 1
                log.most_in_flight = max(log.most_in_flight, log.in_flight)
            time.sleep(0.1)
            with log.lock:
                log.in_flight -= 1
            body = b"<html><body>page</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    httpd.shutdown()
    httpd.server_close()


def crawl_in_processes(
    base: str, labels: list[str], pages: int, redis_url: str, prefix: str, tmp: Path
) -> list[dict[str, Any]]:
    """Run one crawl process per label at once; they start fetching together."""
    options = [redis_url, prefix, str(tmp)]
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, base, label, str(pages), str(len(labels)), *options],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in labels
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err[-3000:]
        stats = json.loads(out.strip().splitlines()[-1])
        results.append({"stats": stats, "log": err})
    return results


def test_two_crawl_processes_keep_one_gap_and_one_request_in_flight(
    server: tuple[str, ServerLog], redis_url: str, prefix: str, tmp_path: Path
) -> None:
    base, log = server
    results = crawl_in_processes(base, ["a", "b"], PAGES, redis_url, prefix, tmp_path)

    assert sorted(path for _, path in log.arrivals) == sorted(
        f"/{label}/{n}" for label in "ab" for n in range(PAGES)
    )
    assert log.most_in_flight == 1
    assert min(log.gaps()) >= DELAY - TOLERANCE, log.gaps()
    for result in results:
        assert result["stats"]["veille/politeness/granted"] == PAGES
        assert "veille/politeness/local_only" not in result["stats"]
    # both processes had to wait for the other at some point
    assert all(result["stats"].get("veille/politeness/waited", 0) > 0 for result in results)


def test_without_the_middleware_two_processes_crowd_the_site(
    server: tuple[str, ServerLog], tmp_path: Path
) -> None:
    base, log = server
    crawl_in_processes(base, ["a", "b"], PAGES, "", "", tmp_path)

    assert len(log.arrivals) == 2 * PAGES
    # each process alone keeps Scrapy's (jittered) delay, together they do not
    assert min(log.gaps()) < DELAY - TOLERANCE or log.most_in_flight > 1


def test_when_redis_is_unreachable_the_crawl_goes_on_with_local_limits(
    server: tuple[str, ServerLog], tmp_path: Path
) -> None:
    base, log = server
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        dead_url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        (result,) = crawl_in_processes(base, ["a"], PAGES, dead_url, "veille", tmp_path)

    assert len(log.arrivals) == PAGES
    assert log.most_in_flight == 1
    stats = result["stats"]
    assert stats["veille/politeness/local_only"] == PAGES
    assert stats["veille/politeness/redis_unavailable"] == 1  # then it waits before retrying
    assert result["log"].count("Redis unreachable at") == 1


# -- the crawl each process runs --------------------------------------------------------

PAGES = 5
DELAY = 0.6
TOLERANCE = 0.25  # from grant to arrival: ~75 ms on a loaded machine, once 230 ms in CI


class PagesSpider(scrapy.Spider):
    """Fetches ``pages`` pages under ``/label/`` once every process is ready to start."""

    name = "pages"

    def __init__(
        self, base: str, label: str, pages: int, processes: int, barrier: Path, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.base, self.label, self.pages = base, label, pages
        self.processes, self.barrier = processes, barrier

    async def start(self) -> AsyncIterator[scrapy.Request]:
        (self.barrier / f"{self.label}.ready").touch()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(list(self.barrier.glob("*.ready"))) >= self.processes:
                break
            await asyncio.sleep(0.02)
        for n in range(self.pages):
            yield scrapy.Request(f"{self.base}/{self.label}/{n}", dont_filter=True)

    def parse(self, response: Response) -> None:
        return None


def crawl_pages(
    base: str, label: str, pages: str, processes: str, redis_url: str, prefix: str, tmp: str
) -> None:
    from scrapy.crawler import CrawlerProcess

    settings = {
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "DOWNLOAD_DELAY": DELAY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawler.retry.BackoffRetryMiddleware": 550,
            **({MIDDLEWARE: 590} if redis_url else {}),
        },
        "VEILLE_REDIS_URL": redis_url or None,
        "VEILLE_REDIS_PREFIX": prefix or "veille",
    }
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(PagesSpider)
    process.crawl(
        crawler,
        base=base,
        label=label,
        pages=int(pages),
        processes=int(processes),
        barrier=Path(tmp),
    )
    process.start()
    print(json.dumps(crawler.stats.get_stats(), default=str))


if __name__ == "__main__":
    crawl_pages(*sys.argv[1:])
