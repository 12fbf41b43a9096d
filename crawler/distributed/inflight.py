"""When is the work of a request taken from the frontier done? Only then may it be forgotten.

A request's work is done when everything it led to is safe: each request its callback
yielded is in the shared queue (or was filtered as a duplicate), each item it yielded went
through the item pipelines (stored, dropped or failed: Scrapy's ``item_scraped``,
``item_dropped``, ``item_error`` signals), and the callback's output is exhausted; or, for
a request that failed, when its errback has recorded the failure (the spiders send
:data:`crawler.spiders.articles.request_failed`).

Scrapy passes a callback's output to the scheduler and the pipelines through a buffer
(``Scraper.handle_spider_output_async``), so "output exhausted" alone is not enough: the
:class:`InFlightMiddleware`, the outermost spider middleware, counts what each response
yields, and :class:`InFlightTracker` counts it down as the scheduler and the pipelines take
it. Nothing here touches Redis: the tracker calls back the scheduler when a request is done.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Self
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

logger = logging.getLogger(__name__)

FRONTIER_ID = "veille_frontier_id"
"""Meta key: the id under which a worker recorded a request it took from the frontier."""

callback_output = object()
"""Signal (``request``, ``output``): a callback of ``request`` yielded ``output``."""
callback_finished = object()
"""Signal (``request``): the output of ``request``'s callback is exhausted (or it raised)."""


@dataclass
class _Work:
    request: Request
    answered: bool = False
    """The callback's output is exhausted, or the errback has run."""
    outputs: int = 0
    """Requests and items yielded and not yet taken by the scheduler or the pipelines."""
    failed: bool = False


class InFlightTracker:
    """Counts, per request taken, what is still pending; calls ``on_done`` when nothing is."""

    def __init__(self, on_done: Callable[[str, Request, bool], None]) -> None:
        self._on_done = on_done
        self._work: dict[str, _Work] = {}
        self._parent_of: WeakKeyDictionary[Request, str] = WeakKeyDictionary()

    def connect(self, crawler: Crawler) -> None:
        for handler, signal in (
            (self.item_left, signals.item_scraped),
            (self.item_failed, signals.item_dropped),
            (self.item_failed, signals.item_error),
            (self.spider_error, signals.spider_error),
            (self.output, callback_output),
            (self.finished, callback_finished),
        ):
            crawler.signals.connect(handler, signal=signal)

    def __len__(self) -> int:
        return len(self._work)

    def taken(self, request_id: str, request: Request) -> None:
        request.meta[FRONTIER_ID] = request_id
        self._work[request_id] = _Work(request)

    def _id_of(self, request: Request | None) -> str | None:
        if request is None:
            return None
        request_id = request.meta.get(FRONTIER_ID)
        return request_id if request_id in self._work else None

    # What a callback yields, and where it goes

    def output(self, request: Request, output: Any) -> None:
        request_id = self._id_of(request)
        if request_id is None:
            return
        self._work[request_id].outputs += 1
        if isinstance(output, Request):
            self._parent_of[output] = request_id

    def enqueued(self, request: Request) -> None:
        """The scheduler has put ``request`` in the shared queue (or filtered it)."""
        parent = self._parent_of.pop(request, None)
        if parent is not None and parent in self._work:
            self._work[parent].outputs -= 1
            self._check(parent)

    def is_child(self, request: Request) -> bool:
        return request in self._parent_of

    def item_left(self, item: Any, response: Response | None, spider: Any) -> None:
        self._item_done(response, failed=False)

    def item_failed(self, item: Any, response: Response | None, spider: Any, **_: Any) -> None:
        self._item_done(response, failed=True)

    def _item_done(self, response: Response | None, *, failed: bool) -> None:
        request_id = self._id_of(getattr(response, "request", None))
        if request_id is None:
            return
        work = self._work[request_id]
        work.outputs -= 1
        work.failed = work.failed or failed
        self._check(request_id)

    # The end of a callback or an errback

    def finished(self, request: Request) -> None:
        request_id = self._id_of(request)
        if request_id is not None:
            self._work[request_id].answered = True
            self._check(request_id)

    def failed(self, request: Request) -> None:
        """The errback of ``request`` has dealt with its failure."""
        request_id = self._id_of(request)
        if request_id is not None:
            self._work[request_id].failed = True
            self._work[request_id].answered = True
            self._check(request_id)

    def spider_error(self, failure: Any, response: Response | None, spider: Any) -> None:
        # A callback that raised before it became a generator: nothing more will come.
        self.finished(getattr(response, "request", None))  # type: ignore[arg-type]

    def replaced(self, request_id: str) -> None:
        """A retry or redirect of this request is in the queue: the original is done."""
        work = self._work.get(request_id)
        if work is not None:
            work.answered = True
            self._check(request_id)

    def _check(self, request_id: str) -> None:
        work = self._work[request_id]
        if work.answered and work.outputs <= 0:
            del self._work[request_id]
            self._on_done(request_id, work.request, work.failed)


class InFlightMiddleware:
    """Spider middleware, outermost: reports every output of a callback and its end."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("VEILLE_WORKER"):
            raise NotConfigured("not a crawl worker")
        return cls(crawler)

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        request = response.request
        send = self.crawler.signals.send_catch_log
        try:
            async for output in result:
                send(signal=callback_output, request=request, output=output)
                yield output
        finally:
            send(signal=callback_finished, request=request)
