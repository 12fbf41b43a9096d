"""The sources part of the digest: failing and silent sources, extraction failures, runs.

:func:`report_sources` reads the crawl runs of the digest's period (and, for silent
sources, of the window before its end) and says which sources failed all period, which
have gone silent, which articles could not be extracted and which runs there were. A
source is silent by the same rule as in ``veille status`` (:mod:`storage.source_health`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Article, CrawlRun, RunStatus
from storage.source_health import ended_runs_of, silence

if TYPE_CHECKING:
    from crawler.config import Config


@dataclass(frozen=True, slots=True)
class FailingSource:
    source_id: str
    name: str
    runs: int
    reason: str


@dataclass(frozen=True, slots=True)
class SilentSource:
    """An enabled source crawled for several of its intervals without one new article."""

    source_id: str
    name: str
    runs: int
    """Its crawls since ``since``, none of which stored a new article from it."""
    since: datetime
    last_article: datetime | None
    """When its latest article was stored; None if never."""


@dataclass(frozen=True, slots=True)
class RunLine:
    run_id: int
    status: str
    trigger: str
    started_at: datetime
    feeds_polled: int
    feeds_failed: int
    articles_new: int
    articles_known: int
    articles_failed: int


@dataclass(frozen=True, slots=True)
class SourceWatch:
    """The enabled sources to judge as silent, each with its usual interval between crawls.

    The digest does not read the configuration: its caller says what to watch
    (:meth:`from_config` for the usual case).
    """

    intervals: Mapping[str, timedelta]
    silent_after_intervals: int

    @classmethod
    def from_config(cls, config: Config) -> SourceWatch:
        """The enabled sources and thresholds that ``veille status`` judges too."""
        settings = config.scheduler
        return cls(
            intervals={s.id: s.interval or settings.default_interval
                       for s in config.select_sources()},
            silent_after_intervals=settings.silent_after_intervals,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourcesReport:
    failing_sources: tuple[FailingSource, ...]
    silent_sources: tuple[SilentSource, ...]
    extraction_failures: tuple[tuple[str, int], ...]
    runs: tuple[RunLine, ...]


def report_sources(
    session: Session,
    start: datetime,
    end: datetime,
    name_of: Callable[[str], str],
    *,
    watch: SourceWatch | None,
    as_of: datetime,
) -> SourcesReport:
    """The state of the sources over ``[start, end)``; silent ones judged at ``as_of``."""
    runs = list(
        session.scalars(
            select(CrawlRun)
            .where(CrawlRun.started_at >= start, CrawlRun.started_at < end)
            .order_by(CrawlRun.started_at, CrawlRun.id)
        )
    )
    failing = _failing_sources(runs, name_of)
    silent: tuple[SilentSource, ...] = ()
    if watch is not None:
        silent = _silent_sources(session, watch, as_of, name_of, {f.source_id for f in failing})
    return SourcesReport(
        failing_sources=failing,
        silent_sources=silent,
        extraction_failures=_extraction_failures(runs),
        runs=tuple(_run_line(run) for run in runs),
    )


def _run_sources(run: CrawlRun) -> set[str]:
    return set(run.source_ids or []) | set((run.stats or {}).get("per_source") or {})


def _all_feeds_failed(run: CrawlRun, source_id: str) -> bool:
    if run.status in (RunStatus.FAILED.value, RunStatus.TIMED_OUT.value):
        return True
    per_source = (run.stats or {}).get("per_source")
    if per_source is None:  # recorded before per-source counts existed: unknown
        return False
    counts = per_source.get(source_id) or {}
    return counts.get("feeds_polled", 0) == 0 and counts.get("feeds_failed", 0) > 0


def _failing_sources(
    runs: Sequence[CrawlRun], name_of: Callable[[str], str]
) -> tuple[FailingSource, ...]:
    """Sources whose every feed failed in each of the period's runs that covered them."""
    ended = [(run, _run_sources(run)) for run in runs if run.status != RunStatus.RUNNING.value]
    failing = []
    for source_id in sorted(set().union(*(sources for _run, sources in ended))):
        covering = [run for run, sources in ended if source_id in sources]
        if covering and all(_all_feeds_failed(run, source_id) for run in covering):
            reasons = Counter(
                key.removeprefix("feeds/failed/")
                for run in covering
                for key in ((run.stats or {}).get("per_source", {}).get(source_id, {})
                            .get("failures", {}))
                if key.startswith("feeds/failed/")
            )  # fmt: skip
            reason = ", ".join(sorted(reasons)) or "every feed failed"
            name = name_of(source_id)
            failing.append(FailingSource(source_id, name, len(covering), reason))
    return tuple(failing)


def _silent_sources(
    session: Session,
    watch: SourceWatch,
    as_of: datetime,
    name_of: Callable[[str], str],
    failing: Iterable[str],
) -> tuple[SilentSource, ...]:
    """The watched sources silent at ``as_of`` (those already failing are listed as such)."""
    if not watch.intervals:
        return ()
    longest = max(watch.intervals.values()) * watch.silent_after_intervals
    runs = list(
        session.scalars(
            select(CrawlRun)
            .where(CrawlRun.started_at >= as_of - 2 * longest, CrawlRun.started_at <= as_of)
            .order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
        )
    )
    found = {}
    for source_id in sorted(set(watch.intervals) - set(failing)):
        judged = silence(
            ended_runs_of(runs, source_id), source_id, now=as_of,
            interval=watch.intervals[source_id],
            silent_after_intervals=watch.silent_after_intervals,
        )  # fmt: skip
        if judged is not None:
            found[source_id] = judged
    if not found:
        return ()
    last_stored = {
        source_id: stored
        for source_id, stored in session.execute(
            select(Article.source_id, func.max(Article.fetched_at))
            .where(Article.source_id.in_(list(found)), Article.fetched_at <= as_of)
            .group_by(Article.source_id)
        )
    }
    return tuple(
        SilentSource(source_id, name_of(source_id), judged.runs,
                     judged.since, last_stored.get(source_id))
        for source_id, judged in found.items()
    )  # fmt: skip


def _extraction_failures(runs: Sequence[CrawlRun]) -> tuple[tuple[str, int], ...]:
    totals: Counter[str] = Counter()
    for run in runs:
        for key, value in (run.failures or {}).items():
            if key.startswith("articles/failed/") and isinstance(value, int):
                totals[key.removeprefix("articles/failed/")] += value
    return tuple(sorted(totals.items()))


def _run_line(run: CrawlRun) -> RunLine:
    return RunLine(
        run_id=run.id, status=run.status, trigger=run.trigger, started_at=run.started_at,
        feeds_polled=run.feeds_polled, feeds_failed=run.feeds_failed,
        articles_new=run.articles_new, articles_known=run.articles_known,
        articles_failed=run.articles_failed,
    )  # fmt: skip
