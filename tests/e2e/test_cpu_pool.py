"""End to end, through the real ``veille crawl``: the CPU pool's workers, their crashes, no orphans.

A site of real article pages (the extraction benchmark's) is enough work for the crawl to start
its pool. While it runs, the test watches the processes descending from ``veille crawl``
through ``/proc``: the crawl process (``python -m crawler``), its pool workers and
multiprocessing's resource tracker. When ``veille crawl`` returns, none of them may be left.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.e2e.test_crawl_cli import last_run, stored_articles
from tests.fixture_site import rss

PAGES = 300
"""Enough that the pool starts, with the first page: 200 requests waiting start it (with fewer,
it starts once pages prepared in-process have taken 5 s of CPU)."""
PAGES_FOR_A_CRASH = 300
"""Enough that the pool still has work once its workers are up, however long they take to
start on a busy machine."""
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def process_table() -> dict[int, tuple[int, str]]:
    """Every live process: its parent and its command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # a process may end while it is read
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            table[int(entry.name)] = (int(parent), command.decode(errors="replace"))
    return table


def descendants(root: int, table: dict[int, tuple[int, str]]) -> dict[int, str]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _command) in table.items():
        children.setdefault(parent, []).append(pid)
    found, stack = {}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = table[child][1]
            stack.append(child)
    return found


def is_pool_worker(command: str, parent_command: str) -> bool:
    """A worker of the CPU pool: forked by the pool's fork server (which has the same command
    line), or spawned where there is none."""
    forked = "multiprocessing.forkserver" in command
    return (forked and "multiprocessing.forkserver" in parent_command) or "spawn_main" in command


@dataclass
class WatchedCrawl:
    """``veille crawl`` running, with every process seen below it and its output so far."""

    process: subprocess.Popen[str]
    seen: dict[int, str] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def workers(self) -> list[int]:
        alive = process_table()
        return [pid for pid in self.pool_workers() if pid in alive]

    def pool_workers(self) -> list[int]:
        """The pool's workers seen so far."""
        return [
            pid
            for pid, command in self.seen.items()
            if is_pool_worker(command, self.seen.get(self.parents.get(pid, 0), ""))
        ]

    def wait_for_output(self, pattern: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.output):
            assert self.process.poll() is None, "the crawl ended first:\n" + "".join(self.output)
            assert time.monotonic() < deadline, f"no {pattern!r} in the crawl's output"
            time.sleep(0.05)

    def finish(self, timeout: float = 300) -> str:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # a hung crawl: stop it and what it started
            for pid in [self.process.pid, *self.seen]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
        return "".join(self.output)


def watch_crawl(config: Path) -> WatchedCrawl:
    executable = Path(sys.executable).with_name("veille")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "scheduler.cli"]
    process = subprocess.Popen(
        [*command, "crawl", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    crawl = WatchedCrawl(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            crawl.output.append(line)

    def look() -> None:
        while process.poll() is None:
            table = process_table()
            for pid, command in descendants(process.pid, table).items():
                if command.strip():  # empty while a process exits
                    crawl.seen[pid] = command
                    crawl.parents[pid] = table[pid][0]
            time.sleep(0.02)

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=look, daemon=True).start()
    return crawl


def left_behind(crawl: WatchedCrawl, grace: float = 3.0) -> dict[int, str]:
    """The processes seen below the crawl that are still alive (multiprocessing's resource
    tracker may need a moment: it leaves when the last process holding its pipe has gone)."""
    deadline = time.monotonic() + grace
    while True:
        alive = process_table()
        left = {pid: command for pid, command in crawl.seen.items() if pid in alive}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def serve_articles(httpserver: HTTPServer, corpora: Path, count: int) -> list[str]:
    """A feed of ``count`` article pages, the extraction benchmark's, then copies of them with
    a line of their own (each is a near-copy, extracted and stored all the same); their paths."""
    benchmark = sorted((corpora / "extraction-benchmark" / "html").glob("*.html.gz"))
    pages = [gzip.decompress(path.read_bytes()) for path in benchmark]
    paths = []
    for number in range(count):
        html = pages[number % len(pages)]
        if number >= len(pages):
            html = html.replace(b"</body>", f"<p>Republished ({number}).</p></body>".encode(), 1)
        path = f"/articles/{number}.html"
        httpserver.expect_request(path).respond_with_data(html, content_type="text/html")
        paths.append(path)
    items = [(f"Article {n}", httpserver.url_for(path)) for n, path in enumerate(paths)]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(items), content_type="application/rss+xml"
    )
    httpserver.expect_request("/robots.txt").respond_with_data("", content_type="text/plain")
    return paths


def write_config(tmp_path: Path, database_url: str, httpserver: HTTPServer) -> Path:
    config = tmp_path / "veille.toml"
    config.write_text(
        f"""
[database]
url = "{database_url}"

[crawl]
user_agent = "VeilleTest/1.0 (+https://example.org/veille-tests)"
download_delay = "0.02s"
autothrottle = false
concurrent_requests_per_domain = 4

[[sources]]
id = "articles"
name = "Article pages"
feeds = ["{httpserver.url_for("/feed.xml")}"]
""",
        encoding="utf-8",
    )
    return config


def requests_for(httpserver: HTTPServer, path: str) -> int:
    return sum(1 for request, _response in httpserver.log if request.path == path)


def test_the_pool_prepares_pages_and_leaves_nothing_behind(
    httpserver: HTTPServer, corpora: Path, database_url: str, tmp_path: Path
) -> None:
    serve_articles(httpserver, corpora, PAGES)
    crawl = watch_crawl(write_config(tmp_path, database_url, httpserver))
    output = crawl.finish()
    assert crawl.process.returncode == 0, output

    workers = crawl.pool_workers()
    assert workers, "the crawl did not start its CPU pool:\n" + output
    assert "CPU pool: starting" in output
    assert left_behind(crawl) == {}
    run = last_run(database_url)
    assert run.stats["veille/cpu_pool/workers"] >= 1
    stored = stored_articles(database_url)
    assert run.articles_new == len(stored) >= PAGES - 5  # a few benchmark pages are not articles
    assert run.articles_new + run.failures.get("articles/failed/empty_extraction", 0) == PAGES
    assert "worker_crashed" not in str(run.failures)


def test_a_worker_killed_mid_crawl_costs_its_pages_and_they_come_at_the_next_crawl(
    httpserver: HTTPServer, corpora: Path, database_url: str, tmp_path: Path
) -> None:
    paths = serve_articles(httpserver, corpora, PAGES_FOR_A_CRASH)
    config = write_config(tmp_path, database_url, httpserver)
    crawl = watch_crawl(config)
    crawl.wait_for_output(r"CPU pool: \d+ workers? up")
    served, deadline = len(httpserver.log), time.monotonic() + 10
    while len(httpserver.log) < served + 3 and time.monotonic() < deadline:
        time.sleep(0.02)  # pages go to the workers now
    victim = crawl.workers()[0]
    os.kill(victim, signal.SIGKILL)
    output = crawl.finish()
    assert crawl.process.returncode == 0, output
    assert left_behind(crawl) == {}

    run = last_run(database_url)
    lost = run.failures.get("articles/failed/worker_crashed", 0)
    # The pages the broken pool held: at most two per worker.
    assert 1 <= lost <= 2 * run.stats["veille/cpu_pool/workers"]
    assert "A worker process of the CPU pool died" in output
    assert len(re.findall(r"Page \S+ lost: the worker process preparing it died", output)) == lost
    empty = run.failures.get("articles/failed/empty_extraction", 0)
    assert run.articles_new + empty + lost == PAGES_FOR_A_CRASH  # the crawl went on with a new pool

    again = watch_crawl(config)
    output = again.finish()
    assert again.process.returncode == 0, output
    assert left_behind(again) == {}
    assert last_run(database_url).articles_new == lost
    assert len(stored_articles(database_url)) == PAGES_FOR_A_CRASH - empty
    fetched_twice = [path for path in paths if requests_for(httpserver, path) == 2]
    assert len(fetched_twice) == lost
    assert all(requests_for(httpserver, path) in (1, 2) for path in paths)
