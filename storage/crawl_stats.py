"""The crawl counters: one naming scheme for spiders, pipelines and the run recorder.

Each event is counted twice in Scrapy's stats: ``veille/<event>`` for the whole crawl and
``veille/source/<source id>/<event>`` for its source, so that run history can say which
source is failing or silent. Events are paths such as ``feeds/polled`` or
``articles/failed/not_html``.
"""

from __future__ import annotations

from typing import Any, Protocol

PREFIX = "veille/"
SOURCE_PREFIX = "veille/source/"


class StatsCollector(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...


def count_event(stats: StatsCollector, event: str, source_id: str, count: int = 1) -> None:
    stats.inc_value(PREFIX + event, count)
    stats.inc_value(f"{SOURCE_PREFIX}{source_id}/{event}", count)


def _counts(events: dict[str, int]) -> dict[str, Any]:
    failures = {
        key: value
        for key, value in sorted(events.items())
        if key.startswith(("feeds/failed/", "articles/failed/", "entries/refused/"))
    }
    return {
        "feeds_polled": events.get("feeds/polled", 0),
        "feeds_failed": sum(v for k, v in failures.items() if k.startswith("feeds/failed/")),
        "entries_seen": events.get("entries/seen", 0),
        "articles_new": events.get("articles/stored", 0),
        "articles_known": events.get("articles/already_known", 0)
        + events.get("articles/duplicate", 0),
        "articles_failed": sum(v for k, v in failures.items() if k.startswith("articles/failed/")),
        "articles_dated": events.get("articles/dated", 0),
        "extraction_failed": events.get("articles/failed/empty_extraction", 0),
        "failures": failures,
    }


def summarize_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """Counts for the crawl-run row, with ``per_source`` counts of the same shape."""
    crawl: dict[str, int] = {}
    per_source: dict[str, dict[str, int]] = {}
    for key, value in stats.items():
        if not isinstance(value, int) or not key.startswith(PREFIX):
            continue
        if key.startswith(SOURCE_PREFIX):
            source_id, _, event = key.removeprefix(SOURCE_PREFIX).partition("/")
            per_source.setdefault(source_id, {})[event] = value
        else:
            crawl[key.removeprefix(PREFIX)] = value
    summary = _counts(crawl)
    summary["per_source"] = {
        source_id: _counts(events) for source_id, events in sorted(per_source.items())
    }
    return summary
