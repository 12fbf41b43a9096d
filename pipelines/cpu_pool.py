"""The crawl's process pool: the CPU-bound work of the item pipelines, off the reactor thread.

Scrapy runs the item pipelines in its reactor thread: while trafilatura extracts a page (about
0.1 s), nothing is downloaded or parsed. :class:`CpuPool` runs that work in worker processes,
awaited as a download is, so that the reactor goes on meanwhile. With ``VEILLE_CPU_WORKERS`` = 0
it runs the same work in-process, as the pipelines did before. What the work is, for a page, is
:mod:`pipelines.page_analysis`; what comes back is a :class:`PreparedArticle`, defined here,
below the stages, so that each of them can read it.

- *Processes, forked from a fork server*: the work is Python that holds the GIL, so threads
  would not help; and a child forked from the crawl process would inherit its threads and
  database connections. A fork server is a clean process started for the pool: it imports
  the modules the pool is told to preload (:mod:`pipelines.pool_preload` warms everything a
  page needs) once, and each worker is a fork of it, ready at once. Where the system has no
  fork server (Windows), workers are spawned and each loads what it needs.
- *Started when worth it*: starting the pool costs 2 to 5 s of CPU (the fork server's imports,
  the taxonomy, the language model; each worker's, where workers are spawned), as much as
  some forty pages. The pool starts once the pages prepared in-process have taken that long
  (:data:`START_AFTER_SECONDS`), or when the caller knows that many pages are coming
  (:meth:`CpuPool.start`), so a crawl that finds a few new pages starts none. Until a worker
  is up, pages are prepared in-process, unless none was yet: those wait for a worker rather
  than load in the crawl process what the workers load. Each worker runs the pool's
  initializer once: what it loads stays loaded for every page.
- *Back-pressure*: at most :data:`IN_FLIGHT_PER_WORKER` calls per worker are in the pool; the
  others wait in the reactor, holding nothing but their page. The pages waiting are bounded by
  Scrapy itself: it takes no new response from the downloader while more than
  ``SCRAPER_SLOT_MAX_ACTIVE_SIZE`` (5 MB) of responses are still in the pipelines
  (``CONCURRENT_ITEMS`` does not help here: it bounds the items of *one* response).
- *A worker that dies* (killed, out of memory, a crash in a C extension) breaks the executor:
  the calls it held fail with :class:`WorkerCrashed`, and a new pool starts at once.
- *Logs*: what a worker logs during a call comes back with the result and goes through the
  crawl's own loggers and handlers, as if logged in-process.
- *Shutdown*: :meth:`CpuPool.shutdown` cancels the calls not started and waits for the workers
  to exit. Workers ignore SIGINT, which Ctrl-C sends to the whole process group (the crawl
  process decides, and Scrapy finishes the pages in flight), and exit on their own at once if
  the crawl process dies; their fork server follows them.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from multiprocessing.context import BaseContext
from typing import Any, Self, TypeVar

from scrapy.exceptions import DropItem
from scrapy.settings import BaseSettings

from pipelines.facts import Fact
from storage.records import ArticleRecord, CopyCheck

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

IN_FLIGHT_PER_WORKER = 2
"""One page running and one queued, so that a worker never waits for the reactor."""
START_AFTER_SECONDS = 5.0
"""In-process CPU time after which the pool starts: about what starting a worker costs (the
imports, the taxonomy and the language model), some forty article pages."""


def default_workers() -> int:
    """The number of CPUs this process may run on (its affinity, where the system tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not available on macOS and Windows
        return os.cpu_count() or 1


def cpu_workers(settings: BaseSettings) -> int:
    """``VEILLE_CPU_WORKERS``: the pool size; unset or None means :func:`default_workers`."""
    value = settings.get("VEILLE_CPU_WORKERS")
    workers = default_workers() if value is None else settings.getint("VEILLE_CPU_WORKERS")
    if workers < 0:
        raise ValueError(f"VEILLE_CPU_WORKERS must be 0 (no pool) or more, not {workers}")
    return workers


class WorkerCrashed(DropItem):
    """A worker process of the CPU pool died while it had the page."""


@dataclass(frozen=True, slots=True)
class PreparedArticle(ArticleRecord):
    """An article on which the CPU pool has done the CPU-bound work of the later stages too.

    The tagging stage's result is in ``tags`` already. The dedup and seed stages still have to
    look things up in the database and the crawl's near-duplicate index, in the crawl process;
    they find here what they would otherwise compute first.
    """

    fingerprints: CopyCheck | None = None
    """The text's fingerprints with no verdict yet (``pipelines.dedup.fingerprint_article``);
    None when the dedup stage will not check the article (a re-check)."""
    text_facts: tuple[Fact, ...] | None = None
    """The facts of the text (``pipelines.seed_compare.article_facts``); None when the article
    is not compared with seeds (not relevant, or no seed corpus)."""
    title_facts: tuple[Fact, ...] | None = None

    @classmethod
    def of(
        cls,
        record: ArticleRecord,
        fingerprints: CopyCheck | None,
        facts: tuple[Sequence[Fact], Sequence[Fact]] | None,
    ) -> Self:
        text_facts, title_facts = (tuple(facts[0]), tuple(facts[1])) if facts else (None, None)
        return cls(
            **{field.name: getattr(record, field.name) for field in fields(ArticleRecord)},
            fingerprints=fingerprints,
            text_facts=text_facts,
            title_facts=title_facts,
        )


class CpuPool:
    """Runs functions in worker processes, awaitably, once the work is worth starting them.

    A pool of ``workers`` processes is started when the calls run in-process so far have taken
    ``start_after`` seconds of CPU (:data:`START_AFTER_SECONDS`): a crawl with a few new pages
    does not pay for starting the workers (about 5 s of CPU each). While they start, calls
    still run in-process; with ``workers`` = 0 they always do.

    ``initializer(*initargs)`` runs once in each worker before its first call; the functions,
    their arguments and results cross between processes pickled.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        start_after: float = START_AFTER_SECONDS,
        preload: Sequence[str] = (),
    ) -> None:
        if workers < 0:
            raise ValueError(f"a pool of {workers} workers")
        self.workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._start_after = start_after
        self._preload = list(preload)
        self._slots = asyncio.Semaphore(max(1, IN_FLIGHT_PER_WORKER * workers))
        self._executor: ProcessPoolExecutor | None = None
        self._started: list[Future[int]] = []
        """A call per worker, sent with the pool: done when that worker is up."""
        self._announced = False
        self._unavailable = False
        self.inline_seconds = 0.0
        """CPU time of the calls run in-process."""
        self.in_flight = self.peak_in_flight = 0
        self.waiting = self.peak_waiting = 0
        """Calls waiting for room in the pool (the back-pressure at work)."""
        self.crashes = 0

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)``, in a worker if the pool is up; raises :class:`WorkerCrashed` if
        the worker dies."""
        if not self._is_up() and self.started and self.inline_seconds == 0:
            # Started before anything ran here: rather than load in this process, for one or
            # two pages, what each worker loads (a second or two of CPU), wait for a worker.
            await self.wait_started()
        if not self._is_up():
            started = time.thread_time()
            try:
                return function(*args)
            finally:
                self.inline_seconds += time.thread_time() - started
        self.waiting += 1
        self.peak_waiting = max(self.peak_waiting, self.waiting)
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            result, records = await self._call(function, args)
        finally:
            self.in_flight -= 1
            self._slots.release()
        for record in records:
            _log_here(record)
        return result

    def _is_up(self) -> bool:
        """Whether calls go to the pool, starting it when the in-process work calls for it."""
        if self.workers == 0 or self._unavailable:
            return False
        if self._executor is None:
            if self.inline_seconds < self._start_after:
                return False
            self.start()
        up = sum(future.done() and future.exception() is None for future in self._started)
        if up:
            if not self._announced:
                logger.info("CPU pool: %d worker%s up", up, "s" if up > 1 else "")
                self._announced = True
            return True
        if self._started and all(future.done() for future in self._started):
            # No worker ever came up (it could not start, or its initializer failed): the
            # same would happen to the next pool.
            error = self._started[0].exception()
            logger.error("The CPU pool cannot start (%s): pages are prepared in-process", error)
            self._unavailable = True
            self.shutdown()
        return False

    @property
    def started(self) -> bool:
        """Whether the workers are up or starting."""
        return self._executor is not None

    def start(self, why: str | None = None) -> None:
        """Start the workers now (they start on their own when the work calls for it); ``why``
        is logged."""
        if self.workers == 0 or self._executor is not None or self._unavailable:
            return
        logger.info(
            "CPU pool: starting %d workers (%s)",
            self.workers,
            why or f"pages took {self.inline_seconds:.1f} s of CPU in-process so far",
        )
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=_context(self._preload),
            initializer=_start_worker,
            initargs=(logging.getLogger().getEffectiveLevel(), self._initializer, self._initargs),
        )
        # Each call sent while no worker is idle starts one more worker.
        self._started = [executor.submit(os.getpid) for _ in range(self.workers)]
        self._executor, self._announced = executor, False

    async def wait_started(self) -> None:
        """Start the workers now, and return once one of them is up (or could not start)."""
        self.start()
        if not self._started:  # no workers
            return
        await asyncio.wait(
            [asyncio.wrap_future(future) for future in self._started],
            return_when=asyncio.FIRST_COMPLETED,
        )

    async def _call(
        self, function: Callable[..., _T], args: tuple[Any, ...]
    ) -> tuple[_T, list[logging.LogRecord]]:
        executor = self._executor
        assert executor is not None
        try:
            future = executor.submit(_call_logged, function, args)
        except BrokenProcessPool:  # a worker died between calls: this page was not in it
            self._replace(executor)
            return function(*args), []  # in-process, while a new pool starts
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as error:
            self._replace(executor)
            raise WorkerCrashed(f"the worker process died ({error})") from error

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Start a new pool in place of a broken one, once (all the calls it held fail)."""
        if self._executor is not broken:
            return
        self.crashes += 1
        logger.error("A worker process of the CPU pool died: starting a new pool")
        self._executor, self._started = None, []
        broken.shutdown(wait=True)  # its workers are being terminated already
        self.start()

    def shutdown(self) -> None:
        """Cancel the calls not started, and wait for the workers to finish theirs and exit."""
        executor, self._executor, self._started = self._executor, None, []
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _context(preload: list[str]) -> BaseContext:
    """Workers forked from a fork server that imported ``preload``; spawned where the system
    has no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Taken into account when the server starts, with the first pool of the process.
    context.set_forkserver_preload(preload)
    return context


def _log_here(record: logging.LogRecord) -> None:
    local = logging.getLogger(record.name)
    if local.isEnabledFor(record.levelno):
        local.handle(record)


# --- In the worker processes --------------------------------------------------------------------


class _LogCapture(logging.Handler):
    """Keeps what a worker logs during a call, in a form that pickles, to send it back."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # As logging.handlers.QueueHandler.prepare does: arguments and traceback become text.
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records


def _start_worker(
    level: int, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
) -> None:
    # Ctrl-C reaches the whole process group: the crawl process decides (Scrapy finishes the
    # pages in flight on the first). SIGTERM is left alone: it is how the executor ends the
    # workers of a broken pool, and how a timed-out crawl is stopped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers[:] = [_LogCapture()]
    root.setLevel(level)
    threading.Thread(target=_exit_with_crawl, name="exit-with-crawl", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _exit_with_crawl() -> None:
    """A worker whose crawl process died (SIGKILL, a crash) would otherwise wait forever for
    work, an orphan, and keep its fork server alive: it leaves as soon as the crawl process's
    end of the pipe multiprocessing keeps to it closes (its parent process, in
    multiprocessing's terms, even when forked by the fork server)."""
    crawl = multiprocessing.parent_process()
    if crawl is None:  # not started by multiprocessing: nothing to watch
        return
    crawl.join()
    os._exit(1)


def _call_logged(
    function: Callable[..., _T], args: tuple[Any, ...]
) -> tuple[_T, list[logging.LogRecord]]:
    capture = next(h for h in logging.getLogger().handlers if isinstance(h, _LogCapture))
    try:
        result = function(*args)
    except BaseException:
        capture.take()  # the error travels back on its own, with its traceback
        raise
    return result, capture.take()
