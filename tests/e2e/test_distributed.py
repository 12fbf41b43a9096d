"""End to end, through the real ``veille`` command: two workers share one Redis frontier.

A fixture news site on ``127.0.0.1`` publishes 32 articles in four feeds (some articles are
in two feeds), each page answered after a short delay so that the crawl lasts a few
seconds; a republisher on ``localhost`` (another host: another site) serves word-for-word
copies of three of them. Two ``veille worker --until-idle`` processes take the work that one
``veille crawl --distributed`` enqueues, into one PostgreSQL database and one Redis prefix.

Needs PostgreSQL and Redis on 127.0.0.1 (skipped otherwise).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from redis import Redis
from sqlalchemy import select
from werkzeug import Request, Response

from storage.database import make_session_factory, open_database
from storage.models import Article, CrawlRun
from tests.e2e.test_crawl_cli import veille
from tests.fixture_site import rss

pytestmark = pytest.mark.postgres

ARTICLES = 32
FEEDS = 4
SYNDICATED = (3, 17, 26)
DELAY = 0.3
_VOCABULARY = (
    "minister summit agreement treaty delegation council harbour railway budget parliament "
    "election farmers drought vaccine laboratory satellite festival museum orchestra league "
    "striker goalkeeper verdict tribunal refinery pipeline tariff exporter currency inflation "
    "glacier wildfire earthquake volcano monsoon harvest fishermen bridge tunnel airport "
    "hospital nurses teachers students university library novelist painter sculptor bakery"
)
WORDS = _VOCABULARY.split()


def article_text(number: int) -> tuple[str, list[str]]:
    """A title and four paragraphs of words drawn at random: no two articles alike."""
    chance = random.Random(number)
    title = f"Report {number}: the " + " ".join(chance.sample(WORDS, 4))
    paragraphs = [
        " ".join(chance.choice(WORDS) for _ in range(45)).capitalize() + "." for _ in range(4)
    ]
    return title, paragraphs


def page(title: str, paragraphs: list[str], canonical: str) -> str:
    body = "\n".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><meta property="og:title" content="{title}">
<meta property="article:published_time" content="2026-11-20T08:00:00+00:00">
<link rel="canonical" href="{canonical}"></head>
<body><main><article><h1>{title}</h1>{body}</article></main></body></html>"""


def slowly(html: str) -> object:
    def handle(request: Request) -> Response:
        time.sleep(DELAY)
        return Response(html, content_type="text/html; charset=utf-8")

    return handle


@dataclass
class Newsroom:
    wire: HTTPServer
    republisher: HTTPServer

    def article_requests(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for server in (self.wire, self.republisher):
            for request, _response in list(server.log):
                if "/news/" in request.path:
                    counts[f"{server.host}{request.path}"] += 1
        return counts

    @property
    def expected(self) -> set[str]:
        wire = {f"127.0.0.1/news/{n}.html" for n in range(ARTICLES)}
        return wire | {f"localhost/news/copy-{n}.html" for n in SYNDICATED}


@pytest.fixture
def newsroom() -> Iterator[Newsroom]:
    wire = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    republisher = HTTPServer(host="localhost", port=0, threaded=True)
    wire.start()
    republisher.start()
    try:
        links = []
        for number in range(ARTICLES):
            path = f"/news/{number}.html"
            title, paragraphs = article_text(number)
            html = page(title, paragraphs, wire.url_for(path))
            wire.expect_request(path).respond_with_handler(slowly(html))
            links.append((title, wire.url_for(path)))
        for feed in range(FEEDS):
            # Each feed lists its eight articles and the first two of the next feed.
            items = links[feed * 8 : feed * 8 + 10] + links[: 2 if feed == FEEDS - 1 else 0]
            wire.expect_request(f"/feeds/{feed}.xml").respond_with_data(
                rss(items), content_type="application/rss+xml"
            )
        copies = []
        for number in SYNDICATED:
            path = f"/news/copy-{number}.html"
            title, paragraphs = article_text(number)
            html = page(title, paragraphs, republisher.url_for(path))
            republisher.expect_request(path).respond_with_handler(slowly(html))
            copies.append((title, republisher.url_for(path)))
        republisher.expect_request("/feed.xml").respond_with_data(
            rss(copies), content_type="application/rss+xml"
        )
        for server in (wire, republisher):
            server.expect_request("/robots.txt").respond_with_data("", content_type="text/plain")
        yield Newsroom(wire, republisher)
    finally:
        for server in (wire, republisher):
            server.clear()
            server.stop()


def write_config(
    path: Path, newsroom: Newsroom, database_url: str, redis_url: str, prefix: str
) -> Path:
    wire_feeds = ", ".join(f'"{newsroom.wire.url_for(f"/feeds/{n}.xml")}"' for n in range(FEEDS))
    path.write_text(
        f"""
[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.02s"
autothrottle = false
concurrent_requests_per_domain = 2
# A worker takes at most this many requests ahead: the others get their share.
concurrent_requests = 4
retry_times = 1
retry_backoff_base = "0.2s"
workers = 0
recheck_age = "0s"
# Per-site leases of global politeness outlive a download: a killed worker's free them then.
download_timeout = "4s"

[distributed]
redis_url = "{redis_url}"
prefix = "{prefix}"
heartbeat = "1s"
dead_after = "6s"
idle_exit = "1s"

[[sources]]
id = "wire"
feeds = [{wire_feeds}]

[[sources]]
id = "republisher"
feeds = ["{newsroom.republisher.url_for("/feed.xml")}"]
""",
        encoding="utf-8",
    )
    upgrade = veille("db", "upgrade", "--config", str(path))  # once, before the workers start
    assert upgrade.returncode == 0, upgrade.stderr
    return path


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    executable = Path(sys.executable).with_name("veille")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "scheduler.cli"]
    with log.open("wb") as handle:
        return subprocess.Popen(
            [*command, "worker", "--until-idle", "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VEILLE_REDIS_URL": ""},
        )


def wait(worker: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    try:
        code = worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        pytest.fail(f"worker did not finish:\n{log.read_text(errors='replace')[-3000:]}")
    assert code == 0, log.read_text(errors="replace")[-3000:]


def enqueue(config: Path) -> subprocess.CompletedProcess[str]:
    result = veille("crawl", "--distributed", "--config", str(config), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def stored(database_url: str) -> tuple[list[Article], list[CrawlRun]]:
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        articles = list(session.scalars(select(Article)))
        runs = list(session.scalars(select(CrawlRun).where(CrawlRun.trigger == "worker")))
    engine.dispose()
    return articles, runs


def worker_id(log: Path, wait: float = 0) -> str | None:
    """The id of the worker writing ``log``, once it takes requests (waiting up to ``wait`` s)."""
    deadline = time.monotonic() + wait
    while True:
        started = re.search(r"Worker (\S+) takes requests", log.read_text(errors="replace"))
        if started:
            return started[1]
        if time.monotonic() >= deadline:
            assert not wait, f"the worker did not start:\n{log.read_text(errors='replace')}"
            return None
        time.sleep(0.1)


def held(client: Redis, prefix: str, log: Path) -> int:
    """How many requests the worker writing ``log`` has in flight."""
    worker = worker_id(log)
    return int(client.hlen(f"{prefix}:worker:{worker}:inflight")) if worker else 0


def assert_frontier_empty(client: Redis, prefix: str) -> None:
    assert client.zcard(f"{prefix}:sources:requests") == 0
    leftovers = [key for key in client.scan_iter(match=f"{prefix}:worker:*:inflight")]
    assert leftovers == []


def test_two_workers_fetch_every_article_once_and_fold_copies_into_one_story(
    newsroom: Newsroom,
    postgres_url: str,
    redis_url: str,
    redis_client: Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    client, prefix = redis_client, redis_prefix
    config = write_config(tmp_path / "veille.toml", newsroom, postgres_url, redis_url, prefix)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(config, log) for log in logs]
    for log in logs:
        worker_id(log, wait=30)  # both ready: each may take a share

    result = enqueue(config)
    assert f"{FEEDS + 1} request(s) enqueued" in result.stdout, result.stdout
    for worker, log in zip(workers, logs, strict=True):
        wait(worker, log)

    requests = newsroom.article_requests()
    assert set(requests) == newsroom.expected
    assert [path for path, count in requests.items() if count != 1] == []
    articles, runs = stored(postgres_url)
    assert sorted(a.url for a in articles) == sorted(set(a.url for a in articles))
    assert len(articles) == len(newsroom.expected)
    assert len(runs) == 2 and all(run.status == "finished" for run in runs)
    taken = [(run.stats or {}).get("veille/frontier/taken", 0) for run in runs]
    assert all(count > 0 for count in taken), taken  # both workers did some of the work
    assert sum(run.articles_new for run in runs) == len(newsroom.expected)
    assert_frontier_empty(client, prefix)

    by_path = {a.url.split("/", 3)[3]: a for a in articles}
    for number in SYNDICATED:
        original, copy = by_path[f"news/{number}.html"], by_path[f"news/copy-{number}.html"]
        assert copy.story_id is not None and copy.story_id == original.story_id, number
    assert len({a.story_id for a in articles}) == ARTICLES


def test_a_worker_killed_mid_crawl_loses_nothing(
    newsroom: Newsroom,
    postgres_url: str,
    redis_url: str,
    redis_client: Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    client, prefix = redis_client, redis_prefix
    config = write_config(tmp_path / "veille.toml", newsroom, postgres_url, redis_url, prefix)
    logs = [tmp_path / "victim.log", tmp_path / "survivor.log"]
    victim, survivor = (start_worker(config, log) for log in logs)
    enqueue(config)

    # Killed once it holds requests, with articles already coming in.
    deadline = time.monotonic() + 40
    while not (newsroom.article_requests() and held(client, prefix, logs[0])):
        assert time.monotonic() < deadline, "the victim never held a request"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait(survivor, logs[1])

    articles, _runs = stored(postgres_url)
    urls = [a.url for a in articles]
    assert len(urls) == len(set(urls)) == len(newsroom.expected)
    assert set(newsroom.article_requests()) == newsroom.expected
    assert "went back to the frontier" in logs[1].read_text(errors="replace")
    assert_frontier_empty(client, prefix)
