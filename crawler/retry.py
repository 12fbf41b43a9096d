"""Retries on 429 and 5xx with exponential backoff, honouring ``Retry-After``.

Scrapy's RetryMiddleware retries at once; a server that says "too many requests"
deserves a pause. The retried request waits ``base * 2**attempt`` seconds (capped),
or what ``Retry-After`` asks if that is longer (within the cap), and a 429 or 503
also slows every later request to that host through its download slot.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response

logger = logging.getLogger(__name__)

_SLOW_DOWN = {429, 503}


def retry_after_seconds(value: bytes | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, base: float, cap: float, asked: float | None = None) -> float:
    """The wait before retry number ``attempt`` (0 for the first retry)."""
    delay = base * (2**attempt)
    if asked is not None:
        delay = max(delay, asked)
    return min(delay, cap)


class BackoffRetryMiddleware(RetryMiddleware):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        middleware.backoff_base = crawler.settings.getfloat("VEILLE_RETRY_BACKOFF_BASE", 2.0)
        middleware.backoff_max = crawler.settings.getfloat("VEILLE_RETRY_BACKOFF_MAX", 300.0)
        return middleware

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, f"HTTP {response.status}")
        if retry is None:
            return response
        attempt = request.meta.get("retry_times", 0)
        delay = backoff_delay(
            attempt,
            self.backoff_base,
            self.backoff_max,
            retry_after_seconds(response.headers.get("Retry-After")),
        )
        if response.status in _SLOW_DOWN:
            self._slow_down_host(request, delay)
        logger.info(
            "HTTP %d from %s: retry %d in %.1fs", response.status, request.url, attempt + 1, delay
        )
        await asyncio.sleep(delay)
        return retry

    def _slow_down_host(self, request: Request, delay: float) -> None:
        engine = self.crawler.engine
        if engine is None:
            return
        downloader = engine.downloader
        key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        if slot is not None and slot.delay < delay:
            slot.delay = delay
